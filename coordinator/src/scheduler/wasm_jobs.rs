//! A swarm's wasm modules and what only wasm jobs do: storing and deleting modules,
//! sending one to a device that asks, appending records to an open job, closing it, and
//! serving one task's output. Each is checked against the caller's swarm first.

use std::time::Instant;

use ostrich_protocol::{
    CommandErrorCode, JobId, JobState, LogLevel, ModuleBytes, ModuleHash, Record, SwarmId, ToDevice,
};
use serde::Serialize;

use super::core::{CommandError, Core, Effect, tasks};
use super::swarm::{Fresh, SessionId};
use crate::modules::StoredModule;

/// The most modules one swarm may hold.
pub const MAX_MODULES: usize = 32;

/// A module as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleInfo {
    /// Its name, 64 hex digits.
    pub module: String,
    /// Its size as stored.
    pub bytes: usize,
    /// Whether it exports `verify`.
    pub verify: bool,
}

impl ModuleInfo {
    fn of(module: &StoredModule) -> Self {
        Self { module: module.hash.to_hex(), bytes: module.bytes.len(), verify: module.verifier.is_some() }
    }
}

fn not_found(what: String) -> CommandError {
    (CommandErrorCode::NotFound, what)
}

impl Core {
    /// Stores a validated module for a swarm; answers its listing and whether it is new.
    /// Its bytes count against the swarm's stored bytes.
    pub fn put_module(&mut self, swarm_id: SwarmId, module: StoredModule) -> Result<(ModuleInfo, bool), CommandError> {
        self.swarm_mut(swarm_id)?;
        self.touch(swarm_id, super::quotas::unix_ms());
        if let Some(existing) = self.store.modules.get(swarm_id, module.hash) {
            return Ok((ModuleInfo::of(existing), false));
        }
        if self.store.modules.of(swarm_id).count() >= MAX_MODULES {
            let message = format!("the swarm already holds {MAX_MODULES} modules, its limit; delete one first");
            return Err((CommandErrorCode::QuotaExceeded, message));
        }
        self.check_stored_bytes(swarm_id, module.bytes.len() as u64, "this module")?;
        let info = ModuleInfo::of(&module);
        self.store.put_module(swarm_id, module);
        self.log(swarm_id, LogLevel::Info, format!("module {} uploaded ({} bytes)", &info.module[..12], info.bytes));
        Ok((info, true))
    }

    /// The swarm's modules.
    pub fn modules(&self, swarm_id: SwarmId) -> Vec<ModuleInfo> {
        let mut list: Vec<ModuleInfo> = self.store.modules.of(swarm_id).map(|m| ModuleInfo::of(m)).collect();
        list.sort_by(|a, b| a.module.cmp(&b.module));
        list
    }

    /// Deletes a module; refused while an unfinished job runs it.
    pub fn delete_module(&mut self, swarm_id: SwarmId, hash: ModuleHash) -> Result<(), CommandError> {
        if self.store.modules.get(swarm_id, hash).is_none() {
            return Err(not_found(format!("the swarm has no module {hash}")));
        }
        let user = self
            .store
            .jobs_of(swarm_id)
            .find(|job| job.state == JobState::Running && job.wasm().is_some_and(|wasm| wasm.module() == hash));
        if let Some(job) = user {
            let message = format!("job {} still runs this module; cancel it first", job.id);
            return Err((CommandErrorCode::InvalidValue, message));
        }
        self.store.remove_module(swarm_id, hash);
        self.log(swarm_id, LogLevel::Info, format!("module {} deleted", &hash.to_hex()[..12]));
        Ok(())
    }

    /// A device asks for a module of its swarm; it gets the bytes, or why not.
    pub fn fetch_module(&mut self, session: SessionId, hash: ModuleHash) {
        let Some((swarm_id, _)) = self.session(session) else { return };
        let bytes = match self.store.modules.get(swarm_id, hash) {
            Some(module) => Ok(ModuleBytes(module.bytes.to_vec())),
            None => Err(format!("the swarm has no module {hash} (it was deleted)")),
        };
        self.out.push(Effect::Send(session, ToDevice::Module { module: hash, bytes }));
    }

    /// Appends records to an open wasm job of the swarm, committed before this answers, and
    /// dispatches them; with `close`, no more may follow. Answers the job's task count.
    pub fn append_records(
        &mut self,
        swarm_id: SwarmId,
        job_id: JobId,
        records: Vec<Record>,
        close: bool,
        now: Instant,
    ) -> Result<u32, CommandError> {
        let job = self.store.get_in(swarm_id, job_id).ok_or_else(|| not_found(format!("no job {job_id}")))?;
        if job.state != JobState::Running {
            return Err((CommandErrorCode::InvalidValue, format!("job {job_id} has ended")));
        }
        let wasm = job.wasm().ok_or((CommandErrorCode::InvalidValue, format!("job {job_id} is not a wasm job")))?;
        if !wasm.is_open() {
            return Err((CommandErrorCode::InvalidValue, format!("job {job_id} is closed: it takes no more records")));
        }
        wasm.check_append(&records).map_err(|e| (CommandErrorCode::InvalidValue, e.to_string()))?;
        let adds = wasm.bytes_to_append(&records);
        self.check_stored_bytes(swarm_id, adds, "these records")?;
        self.touch(swarm_id, super::quotas::unix_ms());
        let count = records.len();
        // Committed first, then moved into the job (no second copy of a large upload);
        // the checks above are the ones `append` makes, so it cannot refuse them now.
        self.store.put_records(job_id, &records);
        let new = match self.store.get_mut(job_id) {
            Some(job) => job.append(records).map_err(|e| (CommandErrorCode::InvalidValue, e.to_string()))?,
            None => return Err(not_found(format!("no job {job_id}"))),
        };
        if let Some(swarm) = self.swarms.get_mut(&swarm_id)
            && !new.is_empty()
        {
            swarm.fresh.push_back(Fresh { job: job_id, next: new.start, end: new.end });
        }
        self.dirty_jobs.insert(job_id);
        self.log(swarm_id, LogLevel::Info, format!("job {job_id}: {} appended", tasks(count as u64)));
        if close {
            self.close_records(swarm_id, job_id)?;
        }
        self.dispatch(swarm_id, now);
        Ok(new.end)
    }

    /// Closes an open records job: no more records; it completes once every record has a
    /// verified output.
    pub fn close_records(&mut self, swarm_id: SwarmId, job_id: JobId) -> Result<(), CommandError> {
        let job = self.store.get_in(swarm_id, job_id).ok_or_else(|| not_found(format!("no job {job_id}")))?;
        if !job.wasm().is_some_and(|wasm| wasm.is_open()) {
            return Err((CommandErrorCode::InvalidValue, format!("job {job_id} is not an open records job")));
        }
        let Some(job) = self.store.get_mut(job_id) else { return Err(not_found(format!("no job {job_id}"))) };
        if let Some(wasm) = job.wasm_mut() {
            wasm.close();
        }
        let complete = job.is_complete() && job.state == JobState::Running;
        self.store.put_closed(job_id);
        self.dirty_jobs.insert(job_id);
        self.log(swarm_id, LogLevel::Info, format!("job {job_id} closed to more records"));
        if complete {
            self.end_job(job_id, JobState::Completed);
        }
        Ok(())
    }

    /// The verified output of one task of a wasm job; `None` while it has none.
    pub fn task_output(&self, swarm_id: SwarmId, job_id: JobId, index: u32) -> Result<Option<Vec<u8>>, CommandError> {
        let job = self.store.get_in(swarm_id, job_id).ok_or_else(|| not_found(format!("no job {job_id}")))?;
        let wasm = job.wasm().ok_or((CommandErrorCode::InvalidValue, format!("job {job_id} is not a wasm job")))?;
        if index >= job.task_count() {
            return Err(not_found(format!("job {job_id} has {} tasks; there is no task {index}", job.task_count())));
        }
        Ok(wasm.output(index).map(<[u8]>::to_vec))
    }
}
