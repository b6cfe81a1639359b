//! Start-up from the embedded store: swarms, master keys, resume credentials and jobs come
//! back; a job that was running carries on from its verified tiles. In cluster mode the same
//! happens one swarm at a time ([`Core::adopt`]) when this node takes a swarm over, and
//! [`Core::release_swarm`] lets a swarm go when another node took it.

use std::time::{SystemTime, UNIX_EPOCH};

use ostrich_protocol::{JobSpec, JobState, RunState, WasmInput};
use ostrich_wasm::{Host, prepare};

use ostrich_protocol::{JobId, SwarmId};

use super::{
    SessionId,
    core::{Core, Effect, Settings},
    swarm::{Fresh, Swarm},
};
use crate::{
    durable::Restored,
    jobs::Job,
    modules::{StoredModule, Verifier},
    store::Store,
};

impl Core {
    /// A scheduler holding what `restored` read back, writing on to `store`. Devices come
    /// back by reconnecting with their credentials; tasks in flight at the stop are
    /// dispatched again, and verified tiles are never computed or counted twice.
    pub fn restore(settings: Settings, store: Store, restored: Restored) -> Self {
        let mut core = Self::new(settings);
        core.store = store;
        core.adopt(restored);
        core
    }

    /// Writes on to `store` from now on (cluster mode: the swarms come later, one by one).
    pub fn set_store(&mut self, store: Store) {
        self.store = store;
    }

    /// Takes over what `restored` holds, besides the swarms this scheduler has: swarms,
    /// keys, credentials, modules and jobs. A swarm it has already is left as it is.
    pub fn adopt(&mut self, mut restored: Restored) {
        let core = self;
        let known: Vec<SwarmId> =
            restored.swarms.iter().map(|(s, _)| *s).filter(|s| core.swarms.contains_key(s)).collect();
        if !known.is_empty() {
            log::error!("swarms {known:?} are here already; not adopted again");
            restored.swarms.retain(|(s, _)| !known.contains(s));
            restored.resume.retain(|(_, s, _)| !known.contains(s));
            restored.modules.retain(|(s, _, _)| !known.contains(s));
            restored.jobs.retain(|job| !known.contains(&job.record.swarm));
        }
        // Task ids of the last run (or of the node before) may still arrive from devices;
        // start far past them.
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        core.next_task = core.next_task.max((now_ms as u64) << 16);
        // A swarm of an older store, with no activity time, starts its clock now.
        let now_ms = now_ms as u64;
        for (swarm, key) in restored.swarms {
            core.swarms.insert(swarm, Swarm::new(swarm, &core.metrics, now_ms));
            core.master_keys.insert(key, swarm);
        }
        for (swarm_id, at_ms) in restored.activity {
            if let Some(swarm) = core.swarms.get_mut(&swarm_id) {
                (swarm.last_active_ms, swarm.stored_active_ms) = (at_ms, at_ms);
            }
        }
        for (credential, swarm, device) in restored.resume {
            core.resume.insert(credential, (swarm, device));
        }
        let verifier = Host::verifier();
        for (swarm, hash, bytes) in restored.modules {
            // Stored modules were validated at upload; checking again costs little and
            // tells whether this build still accepts them, and whether they verify.
            let has_verify = prepare(&bytes).map(|p| p.has_verify).unwrap_or(false);
            let verifier = match (&verifier, has_verify) {
                (Ok(host), true) => match Verifier::compile(host, &bytes) {
                    Ok(verifier) => Some(verifier),
                    Err(error) => {
                        log::error!("module {hash} no longer compiles ({error}); its results will be replicated");
                        None
                    }
                },
                _ => None,
            };
            core.store.modules.insert(swarm, StoredModule { hash, bytes: bytes.into(), verifier });
        }
        for stored in restored.jobs {
            let mut spec = stored.spec;
            if let JobSpec::Wasm(wasm) = &mut spec
                && let WasmInput::Records { records, open } = &mut wasm.input
            {
                records.extend(stored.records);
                *open = *open && !stored.closed;
            }
            let job = Job::new(stored.id, stored.record.swarm, spec, &core.store.modules);
            let Ok(mut job) =
                job.inspect_err(|e| log::error!("job {} in the store no longer validates ({e}); dropped", stored.id))
            else {
                continue;
            };
            for (index, output) in stored.tiles {
                job.accept(index, output);
            }
            job.state = stored.record.state;
            job.verification_failures = stored.record.verification_failures;
            job.redispatched = stored.record.redispatched;
            let running = job.state == JobState::Running && !job.is_complete();
            let (id, swarm_id, count) = (job.id, job.swarm, job.task_count());
            core.next_job = core.next_job.max(id + 1);
            core.store.insert(job);
            let Some(swarm) = core.swarms.get_mut(&swarm_id) else { continue };
            if running {
                if count > 0 {
                    swarm.fresh.push_back(Fresh { job: id, next: 0, end: count });
                }
                swarm.run_state = RunState::Running;
            }
        }
        // The master's controls come back as they were set; a paused or stopped swarm stays
        // so (running or idle follows from its jobs, as above).
        for (swarm_id, controls) in restored.controls {
            let Some(swarm) = core.swarms.get_mut(&swarm_id) else { continue };
            (swarm.throttle, swarm.power_policy) = (controls.throttle, controls.power_policy);
            if matches!(controls.run_state, RunState::Paused | RunState::Stopped) {
                swarm.run_state = controls.run_state;
            }
        }
    }

    /// Lets a swarm go without touching the store: another node owns it now. Its sessions
    /// are told to reconnect (close code 1012), which brings them to the new owner; its
    /// leases, jobs, keys and credentials leave this scheduler.
    pub fn release_swarm(&mut self, swarm_id: SwarmId) {
        let Some(swarm) = self.swarms.remove(&swarm_id) else {
            return;
        };
        let sessions: Vec<SessionId> =
            self.sessions.iter().filter(|(_, (s, _))| *s == swarm_id).map(|(session, _)| *session).collect();
        for session in &sessions {
            self.sessions.remove(session);
            self.out.push(Effect::Shutdown(*session));
        }
        self.master_keys.retain(|_, s| *s != swarm_id);
        self.resume.retain(|_, (s, _)| *s != swarm_id);
        self.tasks.retain(|_, t| t.swarm != swarm_id);
        let jobs: Vec<JobId> = self.store.jobs_of(swarm_id).map(|j| j.id).collect();
        for job in &jobs {
            self.dirty_jobs.remove(job);
        }
        self.store.drop_swarm(swarm_id, &jobs);
        self.metrics.forget(&swarm.label);
        log::warn!("swarm {swarm_id} released: another node owns it ({} sessions told to reconnect)", sessions.len());
    }

    /// Lets go of the swarms the store found lost.
    pub fn release_lost(&mut self) {
        for swarm in self.store.take_lost() {
            self.release_swarm(swarm);
        }
    }
}
