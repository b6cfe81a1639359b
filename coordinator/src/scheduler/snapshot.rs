//! Snapshots: the master's device table and the workers' constant-size view.

use std::time::Instant;

use ostrich_protocol::{DeviceRow, JobProgress, JobState, Role, Snapshot, SwarmId, SwarmTotals};

use super::{core::Core, swarm::SessionId};
use crate::metrics::SwarmGauges;

/// One tick's snapshots of one swarm, ready to encode.
pub struct SwarmSnapshots {
    /// One per online master session: the full table.
    pub masters: Vec<(SessionId, Snapshot)>,
    /// One per online worker session: totals and its own figures.
    pub workers: Vec<(SessionId, Snapshot)>,
}

impl Core {
    /// Every swarm with at least one online device.
    pub fn live_swarms(&self) -> Vec<SwarmId> {
        self.swarms.values().filter(|s| s.sessions(false).next().is_some()).map(|s| s.id).collect()
    }

    /// Sets the metrics' gauges from every swarm with an online device, and the number of
    /// swarms held.
    pub fn refresh_metrics(&mut self, now: Instant) {
        self.metrics.set_swarms(self.swarms.len());
        let second = self.second(now);
        let store = &self.store;
        let gauges: Vec<_> = self
            .swarms
            .values_mut()
            .filter(|s| s.devices.values().any(|d| d.session.is_some()))
            .map(|swarm| {
                let figures = SwarmGauges {
                    online: swarm.devices.values().filter(|d| d.session.is_some()).count() as u64,
                    queued: swarm.queued(),
                    in_flight: swarm.devices.values().map(|d| d.leases.len() as u64).sum(),
                    tasks_per_second: f64::from(swarm.rate.rate(second)),
                    jobs_running: store.jobs_of(swarm.id).filter(|j| j.state == JobState::Running).count() as u64,
                };
                (swarm.label.clone(), figures)
            })
            .collect();
        self.metrics.refresh(&gauges);
        if self.settings.cluster {
            let owned: Vec<_> = self.swarms.values().map(|s| s.label.clone()).collect();
            self.metrics.set_owned(&owned);
        }
    }

    /// The snapshots of one swarm.
    pub fn snapshots(&mut self, swarm_id: SwarmId, now: Instant) -> Option<SwarmSnapshots> {
        let second = self.second(now);
        let jobs = self.jobs_progress(swarm_id);
        let usage = self.usage(swarm_id);
        let swarm = self.swarms.get_mut(&swarm_id)?;
        let queued = swarm.queued().min(u64::from(u32::MAX)) as u32;
        let online: Vec<_> = swarm.devices.values().filter(|d| d.session.is_some()).collect();
        let totals = SwarmTotals {
            online: online.len() as u32,
            cores: online.iter().map(|d| d.caps.logical_cores).sum(),
            gpus: online.iter().filter(|d| d.gpu_in_use().is_some()).count() as u32,
            tasks_per_sec: swarm.rate.rate(second),
            queued,
            in_flight: swarm.devices.values().map(|d| d.leases.len() as u32).sum(),
            throttle: swarm.throttle,
            run_state: swarm.run_state,
        };
        let mut rows = Vec::new();
        let mut workers = Vec::new();
        let mut master_sessions = Vec::new();
        for device in swarm.devices.values_mut() {
            let stats = device.stats(second);
            match (device.session, device.role) {
                (Some(session), Role::Master) => master_sessions.push(session),
                (Some(session), Role::Worker) => {
                    workers.push((session, Snapshot::Worker { totals: totals.clone(), me: stats.clone() }))
                }
                (None, _) => {}
            }
            rows.push(DeviceRow {
                device_id: device.id,
                name: device.name.clone(),
                platform: device.caps.platform.clone(),
                cores: device.caps.logical_cores,
                gpu: device.gpu_in_use().map(|g| g.description.clone()),
                ops_score: device.caps.ops_score,
                role: device.role,
                stats,
                kernels: device.kernels.clone(),
            });
        }
        rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.device_id.cmp(&b.device_id)));
        let master = Snapshot::Master { totals, devices: rows, jobs, usage };
        let masters = master_sessions.into_iter().map(|s| (s, master.clone())).collect();
        Some(SwarmSnapshots { masters, workers })
    }

    /// Progress of every job of a swarm, oldest first.
    pub fn jobs_progress(&self, swarm_id: SwarmId) -> Vec<JobProgress> {
        let in_flight = self.in_flight_by_job(swarm_id);
        self.store.jobs_of(swarm_id).map(|job| job.progress(in_flight.get(&job.id).copied().unwrap_or(0))).collect()
    }
}

impl Core {
    /// One job's progress, if it belongs to the swarm.
    pub fn job_progress(&self, swarm_id: SwarmId, job_id: ostrich_protocol::JobId) -> Option<JobProgress> {
        let in_flight = self.in_flight_by_job(swarm_id);
        self.store.get_in(swarm_id, job_id).map(|job| job.progress(in_flight.get(&job_id).copied().unwrap_or(0)))
    }

    /// A job's result file (`None` inside while it is not complete), if it belongs to the swarm.
    pub fn result_file(
        &self,
        swarm_id: SwarmId,
        job_id: ostrich_protocol::JobId,
    ) -> Option<Option<crate::jobs::ResultFile>> {
        self.store.get_in(swarm_id, job_id).map(|job| job.result_file())
    }
}
