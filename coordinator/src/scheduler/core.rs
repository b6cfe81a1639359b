//! The scheduler's decisions as a plain struct: registration, commands, results, dispatch
//! and leases. It never touches a socket or an actor; it records what must be sent as
//! [`Effect`]s, which the actor delivers. Unit tests drive it directly.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use ostrich_protocol::{
    Capabilities, CommandErrorCode, DeviceId, HEARTBEAT_INTERVAL_MS, JobId, JobState, KernelReport, LogLevel, LogLine,
    RejectCode, Role, RunState, SwarmId, TaskId, TaskOutput, ToDevice, Welcome,
};
use rand::{RngCore, TryRngCore, rngs::OsRng};

use super::{
    quotas::{Quotas, unix_ms},
    swarm::{Device, SessionId, Swarm, clamp_capabilities, clamp_kernels, slot_limit, trim, weight, weight_with},
};
use crate::{jobs::Job, limits::frame_limit, metrics::Metrics, store::Store};

/// Something the actor must deliver.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a message to one session.
    Send(SessionId, ToDevice),
    /// Close a session with a reason (it was replaced by a newer one).
    Close(SessionId, String),
    /// Close a session because the coordinator is shutting down; the device reconnects.
    Shutdown(SessionId),
    /// The largest frame a session may send from now on (see [`crate::limits`]).
    FrameLimit(SessionId, usize),
}

/// How a hello proved where it belongs, after the token authority redeemed any invite.
#[derive(Debug, Clone)]
pub enum Admission {
    /// No key: create a swarm.
    NewSwarm,
    /// A master key.
    MasterKey(String),
    /// A redeemed invite for this swarm.
    Invited(SwarmId),
    /// A worker's resume credential.
    Resume(String),
}

/// A command refused, with its code.
pub type CommandError = (CommandErrorCode, String);

/// The settings the scheduler's decisions depend on.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lease lifetime.
    pub lease: Duration,
    /// Verification failures before quarantine.
    pub quarantine_after: u32,
    /// Failed attempts of one task before its job fails.
    pub max_task_attempts: u32,
    /// The TLS certificate's fingerprint, told to every device in its welcome.
    pub tls_fingerprint: Option<String>,
    /// What one swarm may hold.
    pub quotas: Quotas,
    /// Time after which an abandoned swarm is removed.
    pub swarm_ttl: Duration,
    /// Cluster mode: job ids come in blocks from the cluster's counter, since swarms move
    /// between nodes and a counter per node would collide.
    pub cluster: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(120),
            quarantine_after: 3,
            max_task_attempts: 8,
            tls_fingerprint: None,
            quotas: Quotas::default(),
            swarm_ttl: Duration::from_secs(30 * 86_400),
            cluster: false,
        }
    }
}

/// A task the scheduler tracks until it is verified or its job ends.
pub(super) struct TaskEntry {
    pub job: JobId,
    pub index: u32,
    pub swarm: SwarmId,
    pub lease: Option<Lease>,
    /// Dispatches so far; also tags lease-expiry entries so stale ones are ignored.
    pub dispatches: u32,
    /// Failed attempts (bad result, reported failure, expired lease).
    pub failures: u32,
    /// Devices whose result for this task failed verification; it is not sent to them again.
    pub excluded: Vec<DeviceId>,
    /// The most bytes a result of this task takes on the wire; its holder may send that
    /// much more (see [`crate::limits::frame_limit`]).
    pub result_bytes: u64,
}

impl TaskEntry {
    /// Whether `session` holds the task's lease now.
    fn held_by(&self, session: SessionId) -> bool {
        self.lease.is_some_and(|lease| lease.session == session)
    }
}

/// Who holds a task.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lease {
    pub device: DeviceId,
    pub session: SessionId,
}

/// The scheduler's whole state.
pub struct Core {
    pub(super) settings: Settings,
    pub(super) started: Instant,
    pub(super) swarms: HashMap<SwarmId, Swarm>,
    pub(super) master_keys: HashMap<String, SwarmId>,
    pub(super) resume: HashMap<String, (SwarmId, DeviceId)>,
    pub(super) sessions: HashMap<SessionId, (SwarmId, DeviceId)>,
    pub(super) tasks: HashMap<TaskId, TaskEntry>,
    /// Lease deadlines, earliest first, tagged with the dispatch count they belong to (a
    /// wasm job's leases are longer than the others', so dispatch order is not deadline
    /// order). Entries of leases that ended are skipped when reached, and compacted away
    /// when they pile up.
    pub(super) deadlines: BinaryHeap<Reverse<(Instant, TaskId, u32)>>,
    /// Jobs whose progress changed since the last flush.
    pub(super) dirty_jobs: HashSet<JobId>,
    pub(super) store: Store,
    pub(super) next_task: TaskId,
    pub(super) next_job: JobId,
    /// Cluster mode: the rest of the block of job ids reserved from the cluster.
    pub(super) job_ids: std::ops::Range<JobId>,
    /// Results ignored: unknown task, not the lease holder, or already verified.
    pub ignored_results: u64,
    /// The figures `/metrics` exports; settled results count here as they happen.
    pub metrics: Arc<Metrics>,
    pub(super) out: Vec<Effect>,
}

impl Core {
    /// An empty scheduler.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            started: Instant::now(),
            swarms: HashMap::new(),
            master_keys: HashMap::new(),
            resume: HashMap::new(),
            sessions: HashMap::new(),
            tasks: HashMap::new(),
            deadlines: BinaryHeap::new(),
            dirty_jobs: HashSet::new(),
            store: Store::default(),
            next_task: 1,
            next_job: 1,
            job_ids: 0..0,
            ignored_results: 0,
            metrics: Arc::new(Metrics::new()),
            out: Vec::new(),
        }
    }

    /// Takes the effects recorded since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.out)
    }

    pub(super) fn second(&self, now: Instant) -> u64 {
        now.duration_since(self.started).as_secs()
    }

    /// The swarm and device behind a session.
    pub fn session(&self, session: SessionId) -> Option<(SwarmId, DeviceId)> {
        self.sessions.get(&session).copied()
    }

    /// The swarm a master key opens.
    pub fn authenticate(&self, key: &str) -> Option<SwarmId> {
        self.master_keys.get(key).copied()
    }

    /// Admits a device, replacing any older session of the same device.
    pub fn register(
        &mut self,
        session: SessionId,
        device_id: DeviceId,
        name: &str,
        caps: Capabilities,
        admission: Admission,
    ) -> Result<Welcome, (RejectCode, String)> {
        let bad_credential = || (RejectCode::InvalidCredential, "unknown master key or resume credential".to_string());
        let mut presented = None;
        let (swarm_id, role, master_key) = match admission {
            Admission::NewSwarm => {
                let key = secret();
                let swarm = SwarmId::new_v4();
                self.swarms.insert(swarm, Swarm::new(swarm, &self.metrics, unix_ms()));
                self.master_keys.insert(key.clone(), swarm);
                self.store.put_swarm(swarm, &key);
                (swarm, Role::Master, Some(key))
            }
            Admission::MasterKey(key) => (self.authenticate(&key).ok_or_else(bad_credential)?, Role::Master, Some(key)),
            Admission::Invited(swarm) => {
                let online = self
                    .swarms
                    .get(&swarm)
                    .ok_or((RejectCode::InvalidCode, "the swarm is gone".into()))?
                    .devices
                    .get(&device_id)
                    .is_some_and(|d| d.session.is_some());
                if online {
                    return Err((RejectCode::DeviceIdInUse, "an online device of this swarm uses this id".into()));
                }
                (swarm, Role::Worker, None)
            }
            Admission::Resume(credential) => match self.resume.get(&credential) {
                Some(&(swarm, device)) if device == device_id => {
                    presented = Some(credential);
                    (swarm, Role::Worker, None)
                }
                _ => return Err(bad_credential()),
            },
        };
        if role == Role::Worker {
            self.check_device_quota(swarm_id, device_id)?;
        }
        self.touch(swarm_id, unix_ms());
        let replaced = self.swarms.get(&swarm_id).and_then(|s| s.devices.get(&device_id)).and_then(|d| d.session);
        if let Some(old) = replaced {
            self.out.push(Effect::Close(old, "replaced by a newer session of this device".into()));
            self.disconnect(old);
        }
        let resume_credential =
            (role == Role::Worker).then(|| presented.unwrap_or_else(|| self.resume_credential(swarm_id, device_id)));
        let caps = clamp_capabilities(caps);
        let Some(swarm) = self.swarms.get_mut(&swarm_id) else {
            return Err(bad_credential());
        };
        let virtual_time = swarm.virtual_time;
        let device = swarm.devices.entry(device_id).or_insert_with(|| Device {
            id: device_id,
            name: String::new(),
            caps: caps.clone(),
            role,
            session: None,
            enabled: true,
            quarantine: None,
            slots: 0,
            leases: Default::default(),
            pass: 0.0,
            weight: 0,
            tasks_done: 0,
            rate: Default::default(),
            failures: 0,
            resume_credential: None,
            offered: None,
            owed: 0,
            kernels: None,
            trust: 0,
        });
        device.name = match trim(name) {
            n if n.is_empty() => format!("device-{}", &device_id.simple().to_string()[..6]),
            n => n,
        };
        device.weight = weight(&caps);
        if device.caps.runtime != caps.runtime {
            device.trust = 0;
        }
        device.caps = caps;
        device.kernels = None;
        device.role = role;
        device.session = Some(session);
        device.slots = 0;
        device.pass = device.pass.max(virtual_time);
        if resume_credential.is_some() {
            device.resume_credential.clone_from(&resume_credential);
        }
        let mut welcome = Welcome {
            swarm_id,
            device_id,
            role,
            master_key,
            resume_credential,
            throttle: swarm.throttle,
            run_state: swarm.run_state,
            power_policy: swarm.power_policy,
            enabled: device.enabled,
            heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
            tls_fingerprint: self.settings.tls_fingerprint.clone(),
            log: Vec::new(),
        };
        let name = device.name.clone();
        self.out.push(Effect::FrameLimit(session, frame_limit(role, 0)));
        self.sessions.insert(session, (swarm_id, device_id));
        self.log(swarm_id, LogLevel::Info, format!("{name} joined as {role:?}"));
        // The history ends with that line; the page drops the live copy it also receives.
        if role == Role::Master
            && let Some(swarm) = self.swarms.get(&swarm_id)
        {
            welcome.log = swarm.log.iter().cloned().collect();
        }
        Ok(welcome)
    }

    /// Keeps a worker's credential across reconnects; a new invite join replaces it.
    fn resume_credential(&mut self, swarm: SwarmId, device: DeviceId) -> String {
        let existing =
            self.swarms.get(&swarm).and_then(|s| s.devices.get(&device)).and_then(|d| d.resume_credential.clone());
        if let Some(credential) = existing.filter(|c| self.resume.contains_key(c)) {
            return credential;
        }
        let credential = secret();
        self.resume.insert(credential.clone(), (swarm, device));
        self.store.put_resume(&credential, swarm, device);
        credential
    }

    /// The coordinator is shutting down: every lease goes back to its job's queue and every
    /// session is told to reconnect later. Answers how many sessions were told.
    pub fn drain(&mut self) -> usize {
        let swarms: Vec<SwarmId> = self.swarms.keys().copied().collect();
        for swarm_id in swarms {
            self.cancel_leases(swarm_id, |_| true);
            self.log(swarm_id, LogLevel::Warn, "the coordinator is shutting down; devices will reconnect".into());
        }
        let sessions: Vec<SessionId> = self.sessions.keys().copied().collect();
        self.out.extend(sessions.iter().map(|&s| Effect::Shutdown(s)));
        let dirty: Vec<JobId> = self.dirty_jobs.iter().copied().collect();
        for job in dirty {
            self.store.put_job(job);
        }
        self.store.commit();
        sessions.len()
    }

    /// A session ended: the device goes offline and its leases go back to the queue at once.
    pub fn disconnect(&mut self, session: SessionId) {
        let Some((swarm_id, device_id)) = self.sessions.remove(&session) else {
            return;
        };
        let Some(device) = self.swarms.get_mut(&swarm_id).and_then(|s| s.devices.get_mut(&device_id)) else {
            return;
        };
        if device.session != Some(session) {
            return;
        }
        device.session = None;
        device.slots = 0;
        device.owed = 0;
        let name = device.name.clone();
        let leases: Vec<TaskId> = device.leases.drain().collect();
        let count = leases.len();
        self.touch(swarm_id, unix_ms());
        for task in leases {
            self.requeue(task, false);
        }
        self.log(swarm_id, LogLevel::Info, format!("{name} left; {} requeued", tasks(count as u64)));
        self.dispatch(swarm_id, Instant::now());
    }

    /// A device offers `slots` task slots.
    pub fn work_request(&mut self, session: SessionId, slots: u32, now: Instant) {
        let Some((swarm_id, device_id)) = self.session(session) else {
            return;
        };
        let Some(swarm) = self.swarms.get_mut(&swarm_id) else {
            return;
        };
        let virtual_time = swarm.virtual_time;
        if let Some(device) = swarm.devices.get_mut(&device_id) {
            if device.room() == 0 {
                device.pass = device.pass.max(virtual_time);
            }
            device.slots = slots.min(slot_limit(&device.caps));
        }
        swarm.offer(device_id);
        self.dispatch(swarm_id, now);
    }

    /// A fresh benchmark score; it counts at the next weight refresh.
    pub fn benchmark(&mut self, session: SessionId, ops_score: u32) {
        let Some((swarm_id, device_id)) = self.session(session) else {
            return;
        };
        if let Some(device) = self.swarms.get_mut(&swarm_id).and_then(|s| s.devices.get_mut(&device_id)) {
            device.caps.ops_score = ops_score.min(super::swarm::limits::MAX_OPS_SCORE);
        }
    }

    /// A device's kernel report, kept (clamped) for the device table. Its GPU counts (in
    /// the totals and, from the next refresh, its weight) only while matrix products run on
    /// it; see [`Device::gpu_in_use`].
    pub fn kernels(&mut self, session: SessionId, report: KernelReport) {
        let Some((swarm_id, device_id)) = self.session(session) else {
            return;
        };
        if let Some(device) = self.swarms.get_mut(&swarm_id).and_then(|s| s.devices.get_mut(&device_id)) {
            device.kernels = Some(clamp_kernels(report));
        }
    }

    /// Recomputes every device's weight from its latest benchmark score.
    pub fn refresh_weights(&mut self) {
        for device in self.swarms.values_mut().flat_map(|s| s.devices.values_mut()) {
            device.weight = weight_with(&device.caps, device.gpu_in_use().is_some());
        }
    }

    /// Sends a line to the swarm's masters' terminals and keeps it for their next welcome.
    pub(super) fn log(&mut self, swarm_id: SwarmId, level: LogLevel, message: String) {
        log::info!("swarm {}: {message}", &swarm_id.simple().to_string()[..8]);
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let line = LogLine { at_ms, level, message };
        if let Some(swarm) = self.swarms.get_mut(&swarm_id) {
            swarm.keep_log(line.clone());
            let line = ToDevice::Log(line);
            self.out.extend(swarm.sessions(true).map(|s| Effect::Send(s, line.clone())));
        }
    }

    pub(super) fn swarm_mut(&mut self, swarm_id: SwarmId) -> Result<&mut Swarm, CommandError> {
        self.swarms.get_mut(&swarm_id).ok_or((CommandErrorCode::NotFound, "no such swarm".into()))
    }

    /// Marks a job ended, drops its remaining tasks and cancels its leases.
    pub(super) fn end_job(&mut self, job_id: JobId, state: JobState) {
        let Some(job) = self.store.get_mut(job_id) else {
            return;
        };
        job.state = state.clone();
        if let Some(wasm) = job.wasm_mut() {
            wasm.candidates.clear();
        }
        let swarm_id = job.swarm;
        let leased: Vec<(TaskId, Option<Lease>)> =
            self.tasks.iter().filter(|(_, t)| t.job == job_id).map(|(id, t)| (*id, t.lease)).collect();
        let mut cancels: HashMap<SessionId, Vec<TaskId>> = HashMap::new();
        for (task_id, lease) in leased {
            let entry = self.tasks.remove(&task_id);
            if let Some(lease) = lease {
                if let Some(swarm) = self.swarms.get_mut(&swarm_id)
                    && let Some(device) = swarm.devices.get_mut(&lease.device)
                {
                    device.leases.remove(&task_id);
                    device.owed = device.owed.saturating_sub(entry.map_or(0, |e| e.result_bytes));
                    swarm.offer(lease.device);
                }
                cancels.entry(lease.session).or_default().push(task_id);
            }
        }

        if let Some(swarm) = self.swarms.get_mut(&swarm_id) {
            swarm.fresh.retain(|fresh| fresh.job != job_id);
            // Its requeued tasks leave the queue too, or snapshots and /metrics would count
            // them as queued until a dispatch happened to reach them.
            let tasks = &self.tasks;
            swarm.queue.retain(|id| tasks.contains_key(id));
        }
        self.out.extend(cancels.into_iter().map(|(s, task_ids)| Effect::Send(s, ToDevice::Cancel { task_ids })));
        self.dirty_jobs.insert(job_id);
        self.store.put_job(job_id);
        self.store.commit();
        let level = if matches!(state, JobState::Failed { .. }) { LogLevel::Error } else { LogLevel::Info };
        self.log(swarm_id, level, format!("job {job_id} {state:?}"));
        self.idle_if_done(swarm_id);
    }

    /// A running swarm with no running job left becomes idle.
    fn idle_if_done(&mut self, swarm_id: SwarmId) {
        let busy = self.store.jobs_of(swarm_id).any(|j| j.state == JobState::Running);
        let Some(swarm) = self.swarms.get_mut(&swarm_id) else {
            return;
        };
        if !busy && swarm.run_state == RunState::Running {
            swarm.run_state = RunState::Idle;
            swarm.queue.clear();
            swarm.fresh.clear();
            self.broadcast(swarm_id, &ToDevice::RunState { state: RunState::Idle });
        }
    }

    /// Accepts or rejects a task result from a session.
    pub fn task_result(&mut self, session: SessionId, task_id: TaskId, output: TaskOutput, now: Instant, seed: u64) {
        if let Some(swarm_id) = self.settle(session, task_id, output, now, seed) {
            self.dispatch(swarm_id, now);
        }
    }

    /// Accepts or rejects several results of one session, then refills the freed slots in
    /// one dispatch; `seed` draws each verification's probe.
    pub fn task_results(
        &mut self,
        session: SessionId,
        results: Vec<(TaskId, TaskOutput)>,
        now: Instant,
        mut seed: impl FnMut() -> u64,
    ) {
        let mut swarm = None;
        for (task_id, output) in results {
            swarm = self.settle(session, task_id, output, now, seed()).or(swarm);
        }
        if let Some(swarm_id) = swarm {
            self.dispatch(swarm_id, now);
        }
    }

    /// Verifies a result and accepts or rejects it; answers the swarm to dispatch in, or
    /// `None` when the result was ignored.
    fn settle(
        &mut self,
        session: SessionId,
        task_id: TaskId,
        output: TaskOutput,
        now: Instant,
        seed: u64,
    ) -> Option<SwarmId> {
        let (swarm_id, device_id) = self.session(session)?;
        let Some(entry) = self.tasks.get(&task_id).filter(|t| t.held_by(session)) else {
            self.ignored_results += 1;
            self.metrics.ignored();
            return None;
        };
        let (job_id, index) = (entry.job, entry.index);
        let verdict = match self.store.get(job_id) {
            Some(job) => job.verify(index, &output, seed),
            None => Err("job is gone".into()),
        };
        self.release_answered(swarm_id, device_id, task_id);
        let wasm = self.store.get_mut(job_id).and_then(Job::wasm_mut);
        let replicates = wasm.is_some_and(|wasm| {
            wasm.stats.results += 1;
            verdict.is_ok() && wasm.replicates()
        });
        match verdict {
            Ok(()) if replicates => self.replicate(swarm_id, device_id, task_id, output, now, seed),
            Ok(()) => self.accept(swarm_id, device_id, task_id, output, now),
            Err(reason) => self.reject(swarm_id, device_id, task_id, reason),
        }
        Some(swarm_id)
    }

    /// A device reports it could not compute a task.
    pub fn task_failed(&mut self, session: SessionId, task_id: TaskId, reason: &str, now: Instant) {
        let Some((swarm_id, device_id)) = self.session(session) else {
            return;
        };
        if !self.tasks.get(&task_id).is_some_and(|t| t.held_by(session)) {
            self.ignored_results += 1;
            self.metrics.ignored();
            return;
        }
        self.release_answered(swarm_id, device_id, task_id);
        self.log(swarm_id, LogLevel::Warn, format!("task {task_id} failed on a device: {}", trim(reason)));
        self.fail_attempt(task_id);
        self.dispatch(swarm_id, now);
    }

    /// Clears a lease on both sides.
    pub(super) fn release(&mut self, swarm_id: SwarmId, device_id: DeviceId, task_id: TaskId) {
        let mut result_bytes = 0;
        if let Some(entry) = self.tasks.get_mut(&task_id) {
            entry.lease = None;
            result_bytes = entry.result_bytes;
        }
        if let Some(swarm) = self.swarms.get_mut(&swarm_id)
            && let Some(device) = swarm.devices.get_mut(&device_id)
        {
            device.leases.remove(&task_id);
            device.owed = device.owed.saturating_sub(result_bytes);
            swarm.offer(device_id);
        }
    }

    /// Clears a lease whose holder answered it (a result or a reported failure): the
    /// holder's frame limit comes down by that result. Leases ended by the coordinator
    /// (cancel, stop, expiry) leave the limit where it was until the holder's next result or
    /// assignment, since their results may already be on the wire.
    fn release_answered(&mut self, swarm_id: SwarmId, device_id: DeviceId, task_id: TaskId) {
        self.release(swarm_id, device_id, task_id);
        if let Some(swarm) = self.swarms.get(&swarm_id) {
            self.out.extend(swarm.frame_limit(device_id));
        }
    }

    pub(super) fn accept(
        &mut self,
        swarm_id: SwarmId,
        device_id: DeviceId,
        task_id: TaskId,
        output: TaskOutput,
        now: Instant,
    ) {
        let Some(entry) = self.tasks.remove(&task_id) else {
            return;
        };
        let second = self.second(now);
        if let Some(swarm) = self.swarms.get_mut(&swarm_id) {
            swarm.rate.record(second);
            self.metrics.verified(&swarm.counters);
            if let Some(device) = swarm.devices.get_mut(&device_id) {
                device.tasks_done += 1;
                device.rate.record(second);
            }
        }
        let tile = match &output {
            TaskOutput::MandelbrotTile { iterations } => Some(iterations.clone()),
            TaskOutput::MatmulTile { .. } | TaskOutput::Wasm { .. } => None,
        };
        let accepted = self.store.accept(entry.job, entry.index, output);
        let job = self.store.get(entry.job);
        let complete = job.is_some_and(Job::is_complete);
        let rect = job.and_then(|job| job.tile(entry.index)).filter(|_| accepted);
        if let (Some(rect), Some(iterations)) = (rect, tile) {
            let message = ToDevice::MandelbrotTile { job_id: entry.job, rect, iterations };
            if let Some(swarm) = self.swarms.get(&swarm_id) {
                self.out.extend(swarm.sessions(true).map(|s| Effect::Send(s, message.clone())));
            }
        }
        self.dirty_jobs.insert(entry.job);
        if complete {
            self.end_job(entry.job, JobState::Completed);
        }
    }

    fn reject(&mut self, swarm_id: SwarmId, device_id: DeviceId, task_id: TaskId, reason: String) {
        let job = self.tasks.get_mut(&task_id).map(|entry| {
            entry.excluded.push(device_id);
            entry.job
        });
        self.strike(swarm_id, device_id, job, &format!("task {task_id}"), &reason);
        self.fail_attempt(task_id);
    }

    /// A result of `device_id` was wrong: it counts against the device (its trust is reset;
    /// after `quarantine_after` strikes it is quarantined) and against the job's figures.
    pub(super) fn strike(
        &mut self,
        swarm_id: SwarmId,
        device_id: DeviceId,
        job: Option<JobId>,
        what: &str,
        reason: &str,
    ) {
        if let Some(job) = job.and_then(|job| self.store.get_mut(job)) {
            job.verification_failures += 1;
        }
        let quarantine_after = self.settings.quarantine_after;
        if let Some(swarm) = self.swarms.get(&swarm_id) {
            self.metrics.failed(&swarm.counters);
        }
        let Some(device) = self.swarms.get_mut(&swarm_id).and_then(|s| s.devices.get_mut(&device_id)) else {
            return;
        };
        device.failures += 1;
        device.trust = 0;
        let (name, failures) = (device.name.clone(), device.failures);
        self.log(swarm_id, LogLevel::Warn, format!("result of {what} from {name} failed verification: {reason}"));
        if failures >= quarantine_after {
            let why = format!("{failures} results failed verification; last: {reason}");
            if let Some(device) = self.swarms.get_mut(&swarm_id).and_then(|s| s.devices.get_mut(&device_id)) {
                device.quarantine = Some(why);
            }
            self.cancel_leases(swarm_id, |d| d == device_id);
            self.log(swarm_id, LogLevel::Error, format!("{name} quarantined after {failures} failed checks"));
            self.recheck(swarm_id, device_id);
        }
    }
}

/// 256 bits from the OS CSPRNG, as 64 hex digits: master keys and resume credentials.
pub fn secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.unwrap_err().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// "1 task", "16 tasks": for log lines a person reads.
pub(super) fn tasks(count: u64) -> String {
    match count {
        1 => "1 task".into(),
        n => format!("{n} tasks"),
    }
}
