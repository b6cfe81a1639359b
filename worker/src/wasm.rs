//! User kernels on the native worker: module bytes kept by hash, each module compiled once
//! (`ostrich_wasm::Cache`), and every task run in a fresh wasmtime instance under its time
//! limit and the memory limit. The connection stores the bytes it fetched; the pool's
//! threads compile and run.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use ostrich_protocol::{ModuleHash, TaskOutput};
use ostrich_wasm::{Cache, Host};

/// Module bytes kept, most recent last; older ones are fetched again if needed.
const KEPT_MODULES: usize = 16;

/// The worker's user kernels.
#[derive(Default)]
pub struct WasmKernels {
    host: OnceLock<Result<Host, String>>,
    bytes: Mutex<VecDeque<(ModuleHash, Arc<[u8]>)>>,
    compiled: Cache,
}

impl WasmKernels {
    /// Whether the worker holds module `hash`.
    pub fn holds(&self, hash: ModuleHash) -> bool {
        self.lock().iter().any(|(h, _)| *h == hash)
    }

    /// Keeps a module's bytes, as the coordinator sent them.
    pub fn insert(&self, hash: ModuleHash, bytes: Vec<u8>) {
        let mut kept = self.lock();
        kept.retain(|(h, _)| *h != hash);
        kept.push_back((hash, bytes.into()));
        while kept.len() > KEPT_MODULES {
            kept.pop_front();
        }
    }

    /// Runs a task of module `hash` on `input`. A trap, a time-out, a broken ABI or an
    /// output over `max_output` is an `Err` naming the cause.
    pub fn run(
        &self,
        hash: ModuleHash,
        input: &[u8],
        time_limit_ms: u32,
        max_output: u32,
    ) -> Result<TaskOutput, String> {
        let host = self.host.get_or_init(|| Host::worker().map_err(|e| e.to_string())).as_ref()?;
        let bytes = || self.lock().iter().find(|(h, _)| *h == hash).map(|(_, b)| Arc::clone(b));
        let compiled =
            self.compiled.get_or_compile(host, hash, bytes).ok_or_else(|| format!("module {hash} is not held"))?;
        let kernel = compiled.as_ref().as_ref().map_err(ToString::to_string)?;
        host.run(kernel, input, time_limit_ms, max_output)
            .map(|output| TaskOutput::Wasm { output })
            .map_err(|e| e.to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(ModuleHash, Arc<[u8]>)>> {
        self.bytes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
