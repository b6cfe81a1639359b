//! Compiled modules by hash, so a device compiles each module once however many tasks use
//! it. Bounded: past [`Cache::CAPACITY`] modules the least recently used goes.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError},
};

use ostrich_protocol::ModuleHash;

use crate::{Host, Kernel, KernelError};

/// A module compiled, or why it does not compile.
pub type Compiled = Arc<Result<Kernel, KernelError>>;

/// Compiled modules, most recently used last.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<VecDeque<(ModuleHash, Compiled)>>,
}

impl Cache {
    /// Modules kept compiled.
    pub const CAPACITY: usize = 16;

    /// The compiled module `hash`, compiling `bytes` on first use. A module that does not
    /// compile is remembered too, so its tasks fail at once.
    pub fn get_or_compile(
        &self,
        host: &Host,
        hash: ModuleHash,
        bytes: impl FnOnce() -> Option<Arc<[u8]>>,
    ) -> Option<Compiled> {
        if let Some(found) = self.get(hash) {
            return Some(found);
        }
        // Compiled outside the lock: another thread may compile the same module meanwhile,
        // which costs time once and is harmless.
        let compiled = Arc::new(host.compile(&bytes()?));
        let mut entries = self.lock();
        entries.retain(|(h, _)| *h != hash);
        entries.push_back((hash, Arc::clone(&compiled)));
        while entries.len() > Self::CAPACITY {
            entries.pop_front();
        }
        Some(compiled)
    }

    /// The compiled module `hash`, if it is cached.
    pub fn get(&self, hash: ModuleHash) -> Option<Compiled> {
        let mut entries = self.lock();
        let position = entries.iter().position(|(h, _)| *h == hash)?;
        let entry = entries.remove(position)?;
        let found = Arc::clone(&entry.1);
        entries.push_back(entry);
        Some(found)
    }

    /// Whether `hash` is compiled.
    pub fn contains(&self, hash: ModuleHash) -> bool {
        self.lock().iter().any(|(h, _)| *h == hash)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(ModuleHash, Compiled)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
