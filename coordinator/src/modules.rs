//! User kernels stored for their swarms: the module's bytes as devices get them (validated
//! and with the memory limit written in, see `ostrich_wasm::prepare`), named by the SHA-256
//! of the upload, scoped to one swarm, and, for a module that exports `verify`, compiled
//! once for the coordinator's checks.

use std::{collections::HashMap, sync::Arc};

use ostrich_protocol::{ModuleHash, SwarmId};
use ostrich_wasm::{Host, Kernel, KernelError};

/// A module's `verify`, compiled on the coordinator's fuel-limited host.
#[derive(Clone)]
pub struct Verifier {
    host: Host,
    kernel: Kernel,
}

impl Verifier {
    /// Compiles `bytes` for `verify` calls on `host` (a verifier host).
    pub fn compile(host: &Host, bytes: &[u8]) -> Result<Self, KernelError> {
        Ok(Self { host: host.clone(), kernel: host.compile(bytes)? })
    }

    /// Whether the module accepts `output` as the answer to `input`; a call that traps or
    /// runs out of fuel rejects it, with the reason.
    pub fn check(&self, input: &[u8], output: &[u8]) -> Result<(), String> {
        match self.host.verify(&self.kernel, input, output) {
            Ok(true) => Ok(()),
            Ok(false) => Err("the module's verify rejected the output".into()),
            Err(error) => Err(format!("the module's verify failed: {error}")),
        }
    }
}

/// One stored module.
pub struct StoredModule {
    /// Its name.
    pub hash: ModuleHash,
    /// The bytes devices get.
    pub bytes: Arc<[u8]>,
    /// Its `verify`, when it exports one.
    pub verifier: Option<Verifier>,
}

/// Every swarm's modules.
#[derive(Default)]
pub struct Modules {
    by_swarm: HashMap<(SwarmId, ModuleHash), Arc<StoredModule>>,
}

impl Modules {
    /// Adds a module to a swarm; answers false when the swarm already had it.
    pub fn insert(&mut self, swarm: SwarmId, module: StoredModule) -> bool {
        let key = (swarm, module.hash);
        if self.by_swarm.contains_key(&key) {
            return false;
        }
        self.by_swarm.insert(key, Arc::new(module));
        true
    }

    /// A module of a swarm.
    pub fn get(&self, swarm: SwarmId, hash: ModuleHash) -> Option<&Arc<StoredModule>> {
        self.by_swarm.get(&(swarm, hash))
    }

    /// Removes a module of a swarm.
    pub fn remove(&mut self, swarm: SwarmId, hash: ModuleHash) -> Option<Arc<StoredModule>> {
        self.by_swarm.remove(&(swarm, hash))
    }

    /// The modules of a swarm.
    pub fn of(&self, swarm: SwarmId) -> impl Iterator<Item = &Arc<StoredModule>> {
        self.by_swarm.iter().filter(move |((s, _), _)| *s == swarm).map(|(_, module)| module)
    }

    /// Removes every module of a swarm; answers their names.
    pub fn forget_swarm(&mut self, swarm: SwarmId) -> Vec<ModuleHash> {
        let hashes: Vec<ModuleHash> = self.of(swarm).map(|m| m.hash).collect();
        for hash in &hashes {
            self.by_swarm.remove(&(swarm, *hash));
        }
        hashes
    }
}
