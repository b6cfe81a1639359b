//! What one swarm may hold, and how long an abandoned one is kept. Each quota is checked
//! where the thing is asked for (a device joining, a job submitted) and refused with its
//! own code; invites are counted by the token authority and only shown here. A swarm with
//! no unfinished job, no device online and no API call for the configured time is removed
//! with everything it owns, from memory and from the store; nothing else expires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ostrich_protocol::{CommandErrorCode, DeviceId, JobState, Quota, RejectCode, SwarmId, SwarmUsage};

use super::core::{CommandError, Core};
use crate::jobs::Job;

/// Last-activity times are written to the store when they moved this much since the last
/// write, so a busy swarm does not cost a write per API call.
const ACTIVITY_WRITE_STEP_MS: u64 = 60_000;

/// What one swarm may hold.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    /// Unfinished jobs.
    pub jobs: u32,
    /// Bytes of results: every job's whole result counts from its submission until it is
    /// deleted; a wasm job's inputs and the swarm's modules count too.
    pub result_bytes: u64,
    /// Devices online at once, the master included.
    pub devices: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self { jobs: 32, result_bytes: 1 << 30, devices: 10_000 }
    }
}

/// Milliseconds since the Unix epoch: activity times survive a restart.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Core {
    /// Refuses a worker that would take its swarm past its device quota. A device already
    /// online (a reconnect replacing its session) does not count twice.
    pub(super) fn check_device_quota(
        &self,
        swarm_id: SwarmId,
        device_id: DeviceId,
    ) -> Result<(), (RejectCode, String)> {
        let Some(swarm) = self.swarms.get(&swarm_id) else {
            return Ok(());
        };
        let limit = self.settings.quotas.devices;
        let online = swarm.devices.values().filter(|d| d.session.is_some() && d.id != device_id).count();
        if online >= limit as usize {
            let message = format!("the swarm already has {limit} devices online, its limit");
            return Err((RejectCode::SwarmFull, message));
        }
        Ok(())
    }

    /// Refuses a job that would take its swarm past its quota of unfinished jobs or of
    /// stored result bytes.
    pub(super) fn check_job_quota(&self, swarm_id: SwarmId, job: &Job) -> Result<(), CommandError> {
        let quotas = self.settings.quotas;
        let usage = self.usage(swarm_id);
        if usage.jobs.used >= u64::from(quotas.jobs) {
            let message = format!(
                "the swarm already has {} unfinished jobs, its limit; wait for one to finish or cancel one",
                quotas.jobs
            );
            return Err((CommandErrorCode::QuotaExceeded, message));
        }
        self.check_stored_bytes(swarm_id, job.result_bytes(), "this job's result")
    }

    /// Refuses `wanted` more bytes (a job's result, a wasm job's records, a module) that
    /// would take the swarm past its quota of stored bytes.
    pub(super) fn check_stored_bytes(&self, swarm_id: SwarmId, wanted: u64, what: &str) -> Result<(), CommandError> {
        let limit = self.settings.quotas.result_bytes;
        let used = self.usage(swarm_id).result_bytes.used;
        if used + wanted > limit {
            let message = format!(
                "{what} ({wanted} bytes) would take the swarm past its limit of {limit} bytes of results \
                 ({used} held); delete finished jobs to make room"
            );
            return Err((CommandErrorCode::TooLarge, message));
        }
        Ok(())
    }

    /// A swarm's use of its quotas.
    pub fn usage(&self, swarm_id: SwarmId) -> SwarmUsage {
        let quotas = self.settings.quotas;
        let jobs = self.store.jobs_of(swarm_id);
        let (mut unfinished, mut result_bytes) = (0, 0);
        for job in jobs {
            unfinished += u64::from(job.state == JobState::Running);
            result_bytes += job.result_bytes();
        }
        result_bytes += self.store.modules.of(swarm_id).map(|m| m.bytes.len() as u64).sum::<u64>();
        let swarm = self.swarms.get(&swarm_id);
        let online = swarm.map_or(0, |s| s.sessions(false).count() as u64);
        SwarmUsage {
            jobs: Quota { used: unfinished, limit: u64::from(quotas.jobs) },
            result_bytes: Quota { used: result_bytes, limit: quotas.result_bytes },
            devices: Quota { used: online, limit: u64::from(quotas.devices) },
            invites: swarm.map_or_else(Quota::default, |s| s.invites),
        }
    }

    /// Records the token authority's count of a swarm's unexpired invites.
    pub fn set_invite_usage(&mut self, swarm_id: SwarmId, invites: Quota) {
        if let Some(swarm) = self.swarms.get_mut(&swarm_id) {
            swarm.invites = invites;
        }
    }

    /// Something happened in a swarm (a join, a disconnect, a command, an API call): its
    /// abandonment clock starts again.
    pub fn touch(&mut self, swarm_id: SwarmId, now_ms: u64) {
        if let Some(swarm) = self.swarms.get_mut(&swarm_id) {
            swarm.last_active_ms = swarm.last_active_ms.max(now_ms);
        }
    }

    /// Writes the activity times that moved since they were last stored (with the next
    /// commit).
    pub(super) fn store_activity(&mut self) {
        for swarm in self.swarms.values_mut() {
            if swarm.last_active_ms >= swarm.stored_active_ms + ACTIVITY_WRITE_STEP_MS {
                swarm.stored_active_ms = swarm.last_active_ms;
                self.store.put_activity(swarm.id, swarm.last_active_ms);
            }
        }
    }

    /// Removes every swarm abandoned for `ttl`: no unfinished job, no device online and no
    /// activity. Its jobs and results, master key and resume credentials go from memory and
    /// from the store. Answers the swarms removed.
    pub fn expire_swarms(&mut self, now_ms: u64, ttl: Duration) -> Vec<SwarmId> {
        let ttl_ms = ttl.as_millis().min(u128::from(u64::MAX)) as u64;
        let abandoned: Vec<SwarmId> = self
            .swarms
            .values()
            .filter(|s| now_ms.saturating_sub(s.last_active_ms) >= ttl_ms && s.sessions(false).next().is_none())
            .map(|s| s.id)
            .filter(|&id| !self.store.jobs_of(id).any(|j| j.state == JobState::Running))
            .collect();
        for &swarm_id in &abandoned {
            self.forget_swarm(swarm_id);
        }
        abandoned
    }

    fn forget_swarm(&mut self, swarm_id: SwarmId) {
        let Some(swarm) = self.swarms.remove(&swarm_id) else {
            return;
        };
        self.master_keys.retain(|_, s| *s != swarm_id);
        self.resume.retain(|_, (s, _)| *s != swarm_id);
        self.tasks.retain(|_, t| t.swarm != swarm_id);
        let jobs: Vec<_> = self.store.jobs_of(swarm_id).map(|j| j.id).collect();
        self.store.forget_swarm(swarm_id, &jobs);
        self.metrics.forget(&swarm.label);
        log::info!("swarm {swarm_id} removed: abandoned ({} jobs, {} devices)", jobs.len(), swarm.devices.len());
    }
}
