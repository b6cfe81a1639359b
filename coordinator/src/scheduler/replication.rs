//! Adaptive replication of wasm results (BOINC's scheme). A user kernel has no exact check
//! unless it exports `verify`, but core wasm is deterministic, so two honest devices give
//! byte-identical outputs:
//!
//! - a result from an untrusted device (fewer than [`TRUST_THRESHOLD`] consecutive
//!   agreeing results on its runtime) waits while the same task runs on another device;
//!   two equal outputs are accepted and both devices gain trust;
//! - when they differ, further devices break the tie; the devices on the losing side are
//!   struck (trust reset, a failure towards quarantine);
//! - a trusted device's result is audited the same way with probability
//!   max(1/trust, the job's floor), and otherwise accepted at once.
//!
//! The replica is dispatched when the first result arrives, not beside it: whether to
//! audit depends on who answered, and no work is spent replicating a task whose first
//! device never returns it. It is the same task entry, requeued at the front with the
//! devices that already answered excluded, so a task never runs twice on one device and
//! every task still has exactly one entry.

use std::time::Instant;

use ostrich_protocol::{DeviceId, JobId, JobState, LogLevel, SwarmId, TRUST_THRESHOLD, TaskId, TaskOutput};

use super::{core::Core, swarm::Fresh};
use crate::jobs::{
    Job,
    wasm::{Candidate, MAX_CANDIDATES, Vouchers},
};

/// One in a million: audit probabilities are in parts per million.
const PPM: u32 = 1_000_000;

/// The probability, in parts per million, that a result from a device with `trust`
/// agreeing results is replicated: always below the threshold, then max(1/trust, floor).
pub fn audit_ppm(trust: u32, floor_ppm: u32) -> u32 {
    if trust < TRUST_THRESHOLD { PPM } else { (PPM / trust).max(floor_ppm).min(PPM) }
}

/// Whether a result must be replicated, given a uniform random `coin`.
pub fn must_replicate(trust: u32, floor_ppm: u32, coin: u64) -> bool {
    coin % u64::from(PPM) < u64::from(audit_ppm(trust, floor_ppm))
}

impl Core {
    /// Settles a result of a replicated wasm job (its size and kind already checked).
    pub(super) fn replicate(
        &mut self,
        swarm_id: SwarmId,
        device_id: DeviceId,
        task_id: TaskId,
        output: TaskOutput,
        now: Instant,
        coin: u64,
    ) {
        let TaskOutput::Wasm { output: bytes } = &output else {
            return self.accept(swarm_id, device_id, task_id, output, now);
        };
        let Some(entry) = self.tasks.get(&task_id) else { return };
        let (job_id, index) = (entry.job, entry.index);
        let Some(device) = self.swarms.get(&swarm_id).and_then(|s| s.devices.get(&device_id)) else { return };
        let (runtime, trust) = (device.caps.runtime, device.trust);
        let Some(wasm) = self.store.get_mut(job_id).and_then(Job::wasm_mut) else { return };
        let candidate = Candidate { device: device_id, runtime, output: bytes.clone() };
        let Some(earlier) = wasm.candidates.get_mut(&index) else {
            if !must_replicate(trust, wasm.audit_floor_ppm(), coin) {
                wasm.vouched.insert(index, Vouchers(device_id, None));
                return self.accept(swarm_id, device_id, task_id, output, now);
            }
            wasm.candidates.insert(index, vec![candidate]);
            return self.await_replica(task_id, device_id);
        };
        wasm.stats.replicas += 1;
        if !earlier.iter().any(|c| c.output == *bytes) {
            earlier.push(candidate);
            let answers = earlier.len();
            if answers >= MAX_CANDIDATES {
                let reason = format!(
                    "task {index}: {answers} devices gave {answers} different outputs; the kernel is not deterministic"
                );
                return self.end_job(job_id, JobState::Failed { reason });
            }
            return self.await_replica(task_id, device_id);
        }
        let answers = wasm.candidates.remove(&index).unwrap_or_default();
        let (agreeing, losing): (Vec<Candidate>, Vec<Candidate>) =
            answers.into_iter().partition(|c| c.output == *bytes);
        wasm.stats.agreed += 1;
        wasm.stats.disagreed += losing.len() as u32;
        wasm.vouched.insert(index, Vouchers(device_id, agreeing.first().map(|c| c.device)));
        let swarm = self.swarms.get_mut(&swarm_id);
        for device in swarm.into_iter().flat_map(|s| s.devices.values_mut()) {
            if device.id == device_id || agreeing.iter().any(|c| c.device == device.id) {
                device.trust = device.trust.saturating_add(1);
            }
        }
        for loser in losing {
            let what = format!("task {task_id} (job {job_id}, index {index})");
            self.strike(swarm_id, loser.device, Some(job_id), &what, "its output disagreed with two other devices'");
        }
        self.accept(swarm_id, device_id, task_id, output, now);
    }

    /// A device was quarantined: in every running wasm job, each result that rests on its
    /// word (accepted on its trust alone, or because it agreed with another device) is
    /// forgotten and computed again, and its outputs waiting for a replica are dropped.
    /// So a liar caught late, or two liars that agreed, leave nothing behind in a job
    /// still running. (A job that completed before has delivered its result; the log of
    /// the strikes says whose it was.)
    pub(super) fn recheck(&mut self, swarm_id: SwarmId, device_id: DeviceId) {
        let jobs: Vec<JobId> = self
            .store
            .jobs_of(swarm_id)
            .filter(|job| job.state == JobState::Running && job.wasm().is_some())
            .map(|job| job.id)
            .collect();
        for job_id in jobs {
            let Some(job) = self.store.get_mut(job_id) else { continue };
            let Some(wasm) = job.wasm_mut() else { continue };
            wasm.candidates.retain(|_, answers| {
                answers.retain(|c| c.device != device_id);
                !answers.is_empty()
            });
            let indices: Vec<u32> =
                wasm.vouched.iter().filter(|(_, v)| v.include(device_id)).map(|(i, _)| *i).collect();
            let mut again = Vec::new();
            for index in indices {
                if job.revoke(index) {
                    again.push(index);
                }
            }
            if again.is_empty() {
                continue;
            }
            for &index in &again {
                self.store.put_revoked(job_id, index);
            }
            if let Some(swarm) = self.swarms.get_mut(&swarm_id) {
                swarm.fresh.extend(again.iter().map(|&index| Fresh { job: job_id, next: index, end: index + 1 }));
            }
            self.dirty_jobs.insert(job_id);
            let count = again.len() as u64;
            self.log(
                swarm_id,
                LogLevel::Warn,
                format!(
                    "job {job_id}: {} accepted on the quarantined device's word computed again",
                    super::core::tasks(count)
                ),
            );
        }
    }

    /// Puts a task whose result waits for agreement back at the front of its swarm's
    /// queue, never to go to `answered` again.
    fn await_replica(&mut self, task_id: TaskId, answered: DeviceId) {
        let Some(entry) = self.tasks.get_mut(&task_id) else { return };
        entry.lease = None;
        entry.excluded.push(answered);
        let (swarm_id, job_id) = (entry.swarm, entry.job);
        self.dirty_jobs.insert(job_id);
        if let Some(swarm) = self.swarms.get_mut(&swarm_id) {
            swarm.queue.push_front(task_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_devices_are_always_replicated_and_trusted_ones_at_the_audit_rate() {
        for trust in 0..TRUST_THRESHOLD {
            assert_eq!(audit_ppm(trust, 50_000), PPM, "trust {trust} is below the threshold");
        }
        assert_eq!(audit_ppm(TRUST_THRESHOLD, 50_000), PPM / TRUST_THRESHOLD);
        assert_eq!(audit_ppm(100, 50_000), 50_000, "past 1/floor the floor holds");
        assert_eq!(audit_ppm(100, 0), 10_000);
        assert_eq!(audit_ppm(u32::MAX, PPM), PPM, "a floor of 100 % audits everything");

        // The share of results replicated falls to the floor as trust grows: simulate one
        // honest device whose audits all agree, with an even spread of coins.
        let (mut trust, mut replicated) = (0u32, 0u32);
        let results = 10_000u32;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut late = 0;
        for result in 0..results {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if must_replicate(trust, 50_000, rng) {
                replicated += 1;
                trust += 1;
                if result >= results / 2 {
                    late += 1;
                }
            }
        }
        assert!(replicated < results / 10, "{replicated} of {results} replicated");
        let late_share = f64::from(late) / f64::from(results / 2);
        assert!((0.04..0.06).contains(&late_share), "once trusted, {late_share} of results are audited");
    }
}
