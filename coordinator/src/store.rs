//! The job store: every job, its inputs and its verified outputs, behind one module.
//! It is in memory for now; a persistent embedded store can replace it without touching
//! the actors, which see only this interface.

use std::collections::BTreeMap;

use ostrich_protocol::{JobId, SwarmId};

use crate::jobs::Job;

/// Jobs by id.
#[derive(Default)]
pub struct Store {
    jobs: BTreeMap<JobId, Job>,
}

impl Store {
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

    /// Removes a job and its result.
    pub fn remove(&mut self, id: JobId) -> Option<Job> {
        self.jobs.remove(&id)
    }

    /// The jobs of one swarm, oldest first.
    pub fn jobs_of(&self, swarm: SwarmId) -> impl Iterator<Item = &Job> {
        self.jobs.values().filter(move |job| job.swarm == swarm)
    }
}
