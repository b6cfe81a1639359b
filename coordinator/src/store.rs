//! The job store: every job, its inputs and its verified outputs, behind one module. Jobs
//! live in memory; with a data directory or a cluster every change is also written to a
//! [`Backend`]: the embedded store ([`crate::durable`]) or the cluster's swarm logs
//! ([`crate::cluster`]). Swarms, master keys and submissions are written at once; resume
//! credentials, job counters and verified tiles in one commit per progress tick (every
//! 250 ms).

use std::{collections::BTreeMap, ops::Range};

use ostrich_protocol::{DeviceId, JobId, JobSpec, ModuleHash, Record, SwarmId, TaskOutput};

use crate::{
    durable::{Batch, Durable, JobRecord, StoreError, SwarmControls},
    jobs::Job,
    modules::{Modules, StoredModule},
};

/// Where the store's writes go: the scheduler's actors do not know which.
pub trait Backend {
    /// Writes what `batch` holds and takes it out. A swarm's writes that could not be made
    /// for now (the cluster's store unreachable) stay in `batch`, to go with the next
    /// commit; a swarm this node may no longer write (another node owns it) is answered, and
    /// its writes are dropped.
    fn commit(&mut self, batch: &mut Batch) -> Result<Vec<SwarmId>, StoreError>;

    /// Swarms found lost between commits (a lease that could not be renewed).
    fn lost(&mut self) -> Vec<SwarmId> {
        Vec::new()
    }

    /// Cluster mode: a block of job ids that no other node will give out. `None`: this
    /// store leaves job ids to the scheduler's own counter.
    fn reserve_job_ids(&mut self) -> Result<Option<Range<JobId>>, StoreError> {
        Ok(None)
    }
}

impl Backend for Durable {
    fn commit(&mut self, batch: &mut Batch) -> Result<Vec<SwarmId>, StoreError> {
        Durable::commit(self, std::mem::take(batch)).map(|()| Vec::new())
    }
}

/// Jobs by id, the swarms' modules, and the writes not yet committed.
#[derive(Default)]
pub struct Store {
    jobs: BTreeMap<JobId, Job>,
    /// Every swarm's wasm modules.
    pub modules: Modules,
    durable: Option<Box<dyn Backend>>,
    pending: Batch,
    /// Swarms whose writes were refused: this node no longer owns them (cluster mode).
    lost: Vec<SwarmId>,
}

impl Store {
    /// A store that also writes to `backend`.
    pub fn durable(backend: impl Backend + 'static) -> Self {
        Self { durable: Some(Box::new(backend)), ..Self::default() }
    }

    /// Swarms found lost since the last call: another node owns them now.
    pub fn take_lost(&mut self) -> Vec<SwarmId> {
        if let Some(backend) = &mut self.durable {
            self.lost.extend(backend.lost());
        }
        std::mem::take(&mut self.lost)
    }

    /// The swarm of a job in memory.
    fn swarm_of(&self, id: JobId) -> Option<SwarmId> {
        self.jobs.get(&id).map(|job| job.swarm)
    }

    /// Cluster mode: a block of job ids no other node gives out (`None` outside cluster
    /// mode); an error when the cluster's store cannot be reached.
    pub fn reserve_job_ids(&mut self) -> Result<Option<Range<JobId>>, String> {
        match &mut self.durable {
            Some(durable) => durable
                .reserve_job_ids()
                .map_err(|e| format!("the cluster store is unreachable ({e}); submit again in a moment")),
            None => Ok(None),
        }
    }

    /// Adds a job.
    pub fn insert(&mut self, job: Job) {
        self.jobs.insert(job.id, job);
    }

    /// A job by id.
    pub fn get(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(&id)
    }

    /// A job by id, for recording results.
    pub fn get_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.jobs.get_mut(&id)
    }

    /// A job by id, only if it belongs to `swarm`.
    pub fn get_in(&self, swarm: SwarmId, id: JobId) -> Option<&Job> {
        self.jobs.get(&id).filter(|job| job.swarm == swarm)
    }

    /// Removes a job and its result, on disk too.
    pub fn remove(&mut self, id: JobId) -> Option<Job> {
        if let (Some(_), Some(swarm)) = (&self.durable, self.swarm_of(id)) {
            self.pending.delete(swarm, id);
            self.commit();
        }
        self.jobs.remove(&id)
    }

    /// The jobs of one swarm, oldest first.
    pub fn jobs_of(&self, swarm: SwarmId) -> impl Iterator<Item = &Job> {
        self.jobs.values().filter(move |job| job.swarm == swarm)
    }

    /// Records a new swarm and its master key, committed at once.
    pub fn put_swarm(&mut self, swarm: SwarmId, key: &str) {
        if self.durable.is_some() {
            self.pending.swarm(swarm, key);
            self.commit();
        }
    }

    /// Records when a swarm was last active (Unix ms), with the next commit.
    pub fn put_activity(&mut self, swarm: SwarmId, at_ms: u64) {
        if self.durable.is_some() {
            self.pending.activity(swarm, at_ms);
        }
    }

    /// Keeps a swarm's controls (run state, throttle, power policy) as they are now.
    pub fn put_controls(&mut self, swarm: SwarmId, controls: SwarmControls) {
        if self.durable.is_some() {
            self.pending.controls(swarm, controls);
        }
    }

    /// Adds a module to a swarm, committed at once; false when the swarm had it already.
    pub fn put_module(&mut self, swarm: SwarmId, module: StoredModule) -> bool {
        let (hash, bytes) = (module.hash, module.bytes.clone());
        if !self.modules.insert(swarm, module) {
            return false;
        }
        if self.durable.is_some() {
            self.pending.module(swarm, hash, &bytes);
            self.commit();
        }
        true
    }

    /// Removes a module from a swarm, committed at once.
    pub fn remove_module(&mut self, swarm: SwarmId, hash: ModuleHash) -> bool {
        if self.modules.remove(swarm, hash).is_none() {
            return false;
        }
        if self.durable.is_some() {
            self.pending.remove_module(swarm, hash);
            self.commit();
        }
        true
    }

    /// Records appended to a wasm job, committed at once: accepted input survives a
    /// restart.
    pub fn put_records(&mut self, job: JobId, records: &[Record]) {
        if let (Some(_), Some(swarm)) = (&self.durable, self.swarm_of(job)) {
            self.pending.records(swarm, job, records);
            self.commit();
        }
    }

    /// A records job closed to more records, committed at once.
    pub fn put_closed(&mut self, job: JobId) {
        if let (Some(_), Some(swarm)) = (&self.durable, self.swarm_of(job)) {
            self.pending.close(swarm, job);
            self.commit();
        }
    }

    /// Removes an abandoned swarm and its jobs, committed at once: its key, resume
    /// credentials, activity time, modules, jobs and their results.
    pub fn forget_swarm(&mut self, swarm: SwarmId, jobs: &[JobId]) {
        for job in jobs {
            self.jobs.remove(job);
        }
        self.modules.forget_swarm(swarm);
        if self.durable.is_some() {
            for &job in jobs {
                self.pending.delete(swarm, job);
            }
            self.pending.forget(swarm);
            self.commit();
        }
    }

    /// Drops a swarm's jobs and modules from memory only, with the writes not yet made for
    /// it: another node owns the swarm now, and its log is that node's to write.
    pub fn drop_swarm(&mut self, swarm: SwarmId, jobs: &[JobId]) {
        for job in jobs {
            self.jobs.remove(job);
        }
        self.modules.forget_swarm(swarm);
        self.pending.swarms.remove(&swarm);
    }

    /// Records a worker's resume credential with the next commit (within 250 ms). Not at
    /// once: a room of devices joining would cost one disk sync each, and a credential lost
    /// to a crash in between only sends that worker back to its invite.
    pub fn put_resume(&mut self, credential: &str, swarm: SwarmId, device: DeviceId) {
        if self.durable.is_some() {
            self.pending.resume(credential, swarm, device);
        }
    }

    /// Removes a forgotten device's resume credential, with the next commit.
    pub fn forget_resume(&mut self, swarm: SwarmId, credential: &str) {
        if self.durable.is_some() {
            self.pending.revoke(swarm, credential);
        }
    }

    /// Records a new job's spec and state, committed at once: an accepted job survives a
    /// restart. When the commit cannot be made (cluster mode: NATS unreachable, or another
    /// node owns the swarm now) the job leaves memory and the store's queue, and the answer
    /// says why: a job is accepted only once it is durable.
    pub fn put_submission(&mut self, job: JobId, spec: &JobSpec) -> Result<(), String> {
        let (Some(_), Some(swarm)) = (&self.durable, self.swarm_of(job)) else {
            return Ok(());
        };
        self.pending.spec(swarm, job, spec);
        self.put_job(job);
        self.commit();
        let refused = if self.lost.contains(&swarm) {
            Some("the swarm moved to another node of the cluster; reconnect and submit again")
        } else if let Some(waiting) = self.pending.swarms.get_mut(&swarm)
            && waiting.specs.iter().any(|(id, _)| *id == job)
        {
            waiting.specs.retain(|(id, _)| *id != job);
            waiting.jobs.retain(|(id, _)| *id != job);
            Some("the cluster store is unreachable; submit again in a moment")
        } else {
            None
        };
        match refused {
            Some(reason) => {
                self.jobs.remove(&job);
                Err(reason.to_string())
            }
            None => Ok(()),
        }
    }

    /// Records a job's state and counters with the next commit.
    pub fn put_job(&mut self, id: JobId) {
        if let (Some(_), Some(job)) = (&self.durable, self.jobs.get(&id)) {
            let record = JobRecord {
                swarm: job.swarm,
                state: job.state.clone(),
                verification_failures: job.verification_failures,
                redispatched: job.redispatched,
            };
            self.pending.job(id, &record);
        }
    }

    /// Stores a verified output of task `index` of a job, and on disk with the next commit.
    /// False when the job is gone or the task was done.
    pub fn accept(&mut self, id: JobId, index: u32, output: TaskOutput) -> bool {
        let Some(job) = self.jobs.get_mut(&id) else {
            return false;
        };
        if job.is_done(index) {
            return false;
        }
        if self.durable.is_some() {
            self.pending.tile(job.swarm, id, index, &output);
        }
        job.accept(index, output)
    }

    /// Records that a verified output was forgotten (to be computed again), committed at
    /// once: a restart must not bring it back.
    pub fn put_revoked(&mut self, id: JobId, index: u32) {
        if let (Some(_), Some(swarm)) = (&self.durable, self.swarm_of(id)) {
            self.pending.revoke_tile(swarm, id, index);
            self.commit();
        }
    }

    /// Commits what was recorded since the last commit.
    pub fn commit(&mut self) {
        if let Some(backend) = &mut self.durable {
            match backend.commit(&mut self.pending) {
                Ok(lost) => self.lost.extend(lost),
                Err(error) => log::error!("cannot write the store: {error}"),
            }
        }
    }
}
