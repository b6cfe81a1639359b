//! A driver that fuzzes the scheduler's [`Core`]: it decodes bytes into a sequence of
//! [`Op`]s (devices joining with every kind of admission, work requests, benchmarks, master
//! commands over the socket and the HTTP API, honest, wrong and misdirected results from
//! holders and non-holders, reported failures, disconnects, clock steps with lease expiry,
//! progress ticks, drain), applies them to one core, and after every step checks
//! [`Core::check_invariants`], [`Core::check_work_conserving`] and that every `Assign` it
//! sent names tasks leased to that session. A broken invariant panics with the step and the
//! whole decoded sequence.
//!
//! The libFuzzer target `scheduler_core` (in `fuzz/`, see FUZZING.md) and the seeded test
//! below run the same [`run`]. Jobs are tiny (edges up to 12, tiles of 3 to 8, at most 16
//! tiles) so that one execution takes microseconds. Public only for the fuzz crate, and
//! hidden from the docs.

use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use ostrich_protocol::{
    Capabilities, DeviceId, GpuInfo, GpuPath, JobId, JobState, KernelReport, MasterCommand, MatmulPath, SwarmId, Task,
    TaskId, TaskOutput, ToDevice,
};
use uuid::Uuid;

pub use self::ops::{Command, Http, Join, Op, Output, Sender, Spec, State, setup};
use self::ops::{claim, job_spec, run_state};
use super::{Admission, Core, Effect, SessionId, Settings};

mod ops;

/// Operations decoded from one input at most (after the optional [`setup`]), so that one
/// execution stays short (FUZZING.md has the rate).
pub const MAX_OPS: usize = 20;

/// Distinct device ids the ops choose from: few, so that ids collide (replaced sessions,
/// invite joins refused for an id in use, resume credentials of another device).
const DEVICES: u8 = 6;

/// Assigned tasks remembered for results and failures.
const REMEMBERED_TASKS: usize = 256;

/// Results one `Results` op sends in one frame, at most.
const MAX_BATCH: usize = 8;

/// One clock step of a `Tick` op; with the lease below, a tick of up to 255 steps may or may
/// not expire a lease.
const TICK: Duration = Duration::from_millis(50);

/// The settings of the fuzzed core: short leases, quick quarantine and job failure, so
/// that few ops reach those paths.
fn settings() -> Settings {
    Settings {
        lease: Duration::from_secs(2),
        quarantine_after: 2,
        max_task_attempts: 3,
        tls_fingerprint: None,
        // Small enough that random sequences meet every refusal: a fourth unfinished job, a
        // few jobs' results, a fifth device online.
        quotas: super::quotas::Quotas { jobs: 3, result_bytes: 2_048, devices: 4 },
        ..Settings::default()
    }
}

/// How far one run got, so that a test can tell that the driver reaches the states it is
/// meant to (a driver that never completes a job would check nothing).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// Ops applied.
    pub steps: usize,
    /// Tasks assigned to devices.
    pub assigned: usize,
    /// Tiles verified, over every job.
    pub verified: u64,
    /// Jobs completed.
    pub completed: usize,
    /// Jobs failed (a task failed too often).
    pub failed: usize,
    /// Jobs cancelled.
    pub cancelled: usize,
}

impl std::ops::AddAssign for Reached {
    fn add_assign(&mut self, other: Self) {
        self.steps += other.steps;
        self.assigned += other.assigned;
        self.verified += other.verified;
        self.completed += other.completed;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
    }
}

/// Decodes `data` into ops and applies them to a fresh core, checking the invariants
/// after every step; panics with the broken invariant and the decoded sequence.
pub fn run(data: &[u8]) -> Reached {
    let mut input = Unstructured::new(data);
    let mut driver = Driver::new(bool::arbitrary(&mut input).unwrap_or(false));
    for step in 0..MAX_OPS {
        let Ok(op) = Op::arbitrary(&mut input) else { break };
        let last = input.is_empty() || step + 1 == MAX_OPS;
        if let Err(broken) = driver.apply(&op, last) {
            panic!("step {step} ({op:?}): {broken}\nthe sequence: {:#?}", decode(data));
        }
        if last {
            break;
        }
    }
    driver.reached()
}

/// Applies `ops` to a fresh core like [`run`], after the [`setup`] ops when `setup` is
/// true; for regression tests written as op lists.
pub fn run_ops(setup: bool, ops: &[Op]) -> Reached {
    let mut driver = Driver::new(setup);
    for (step, op) in ops.iter().enumerate() {
        if let Err(broken) = driver.apply(op, step + 1 == ops.len()) {
            panic!("step {step} ({op:?}): {broken}");
        }
    }
    driver.reached()
}

/// Whether [`run`] starts with the [`setup`] ops, and the ops it decodes from `data`.
pub fn decode(data: &[u8]) -> (bool, Vec<Op>) {
    let mut input = Unstructured::new(data);
    let setup = bool::arbitrary(&mut input).unwrap_or(false);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        let Ok(op) = Op::arbitrary(&mut input) else { break };
        ops.push(op);
        if input.is_empty() {
            break;
        }
    }
    (setup, ops)
}

/// The core under test and what the devices have seen of it.
struct Driver {
    core: Core,
    now: Instant,
    swarms: Vec<SwarmId>,
    keys: Vec<String>,
    credentials: Vec<String>,
    sessions: Vec<SessionId>,
    next_session: SessionId,
    jobs: Vec<(SwarmId, JobId)>,
    assigned: Vec<(SessionId, Task)>,
    reached: Reached,
}

impl Driver {
    /// A fresh core, after the [`setup`] ops when `setup` is true.
    fn new(setup: bool) -> Self {
        let core = Core::new(settings());
        let mut driver = Self {
            core,
            now: Instant::now(),
            swarms: Vec::new(),
            keys: Vec::new(),
            credentials: Vec::new(),
            sessions: Vec::new(),
            next_session: 1,
            jobs: Vec::new(),
            assigned: Vec::new(),
            reached: Reached::default(),
        };
        if setup {
            // Checked once at the end: the same state every time, so checking every step
            // would only slow each execution down.
            for op in self::setup() {
                driver.step(&op, false);
                driver.effects().unwrap_or_else(|broken| panic!("setup ({op:?}): {broken}"));
            }
            driver.core.check_invariants().unwrap_or_else(|broken| panic!("setup: {broken}"));
        }
        driver
    }

    /// What the run reached, read from the jobs at its end.
    fn reached(&self) -> Reached {
        let mut reached = self.reached;
        for &(swarm, job) in &self.jobs {
            let Some(progress) = self.core.job_progress(swarm, job) else { continue };
            reached.verified += u64::from(progress.tasks_verified);
            match progress.state {
                JobState::Completed => reached.completed += 1,
                JobState::Failed { .. } => reached.failed += 1,
                JobState::Cancelled => reached.cancelled += 1,
                JobState::Running => {}
            }
        }
        reached
    }

    /// Applies one op and checks the invariants; `last` says whether it ends the sequence.
    fn apply(&mut self, op: &Op, last: bool) -> Result<(), String> {
        let drained = self.step(op, last);
        self.effects()?;
        self.core.check_invariants()?;
        if drained { Ok(()) } else { self.core.check_work_conserving() }
    }

    /// Applies one op; answers whether it drained the core.
    fn step(&mut self, op: &Op, last: bool) -> bool {
        self.reached.steps += 1;
        let now = self.now;
        match op {
            Op::Join { device, cores, gpu, admission } => self.join(*device, *cores, *gpu, admission),
            Op::WorkRequest { session, slots } => self.core.work_request(self.session(*session), (*slots).into(), now),
            Op::Benchmark { session, score, refresh } => {
                self.core.benchmark(self.session(*session), *score);
                if *refresh {
                    self.core.refresh_weights();
                }
            }
            Op::Command { session, command } => self.command(*session, command),
            Op::Http { swarm, request } => self.http(*swarm, request),
            Op::Result { task, from, lie, seed } => {
                let session = self.sender(*task, *from);
                let (id, output) = self.result(*task, *lie);
                self.core.task_result(session, id, output, now, (*seed).into());
            }
            Op::Results { first, count, from, lie } => {
                let session = self.sender(*first, *from);
                let count = usize::from(*count) % MAX_BATCH + 1;
                let batch: Vec<_> = (0..count)
                    .map(|i| {
                        let task = first.wrapping_add(i as u8);
                        self.result(task, if i + 1 == count { *lie } else { None })
                    })
                    .collect();
                let mut seed = 0;
                self.core.task_results(session, batch, now, || {
                    seed += 1;
                    seed
                });
            }
            Op::Failed { task, from } => {
                let (session, id) = (self.sender(*task, *from), self.task(*task).map_or(TaskId::MAX, |t| t.id));
                self.core.task_failed(session, id, "fuzzed failure", now);
            }
            Op::Disconnect { session } => self.core.disconnect(self.session(*session)),
            Op::Tick { steps } => {
                self.now += TICK * u32::from(*steps);
                self.core.expire_leases(self.now);
            }
            Op::Kernels { session, gpu, used } => {
                let info = GpuInfo { vendor: "fuzz".into(), description: "adapter".into(), fallback: !used };
                let gpu = gpu.then(|| GpuPath { info, mflops: 1_000 });
                let matmul = if *used && gpu.is_some() { MatmulPath::Gpu } else { MatmulPath::Cpu };
                let report = KernelReport { threads: 1, cpu_mflops: 1_000, gpu, matmul, forced: false };
                self.core.kernels(self.session(*session), report);
                self.core.refresh_weights();
            }
            Op::Expire => {
                self.core.expire_swarms(u64::MAX, Duration::ZERO);
            }
            Op::Drain if last => {
                self.core.drain();
                return true;
            }
            Op::Flush | Op::Drain => self.flush(),
        }
        false
    }

    fn join(&mut self, device: u8, cores: u8, gpu: bool, admission: &Join) {
        let admission = match admission {
            Join::NewSwarm => Admission::NewSwarm,
            Join::MasterKey(i) => Admission::MasterKey(pick(&self.keys, *i).unwrap_or_default()),
            Join::WrongKey => Admission::MasterKey("0".repeat(64)),
            Join::Invited(i) => Admission::Invited(pick(&self.swarms, *i).unwrap_or_else(SwarmId::nil)),
            Join::GoneSwarm => Admission::Invited(SwarmId::nil()),
            Join::Resume(i) => Admission::Resume(pick(&self.credentials, *i).unwrap_or_default()),
            Join::WrongCredential => Admission::Resume("1".repeat(64)),
        };
        let caps = Capabilities {
            logical_cores: cores.into(),
            memory_mb: 0,
            gpu: gpu.then(|| GpuInfo { vendor: "v".into(), description: "d".into(), fallback: true }),
            ops_score: 0,
            platform: "fuzz".into(),
            runtime: ostrich_protocol::WasmRuntime::Native,
        };
        let session = self.next_session;
        self.next_session += 1;
        let Ok(welcome) = self.core.register(session, device_id(device), "fuzz", caps, admission) else {
            return;
        };
        self.sessions.push(session);
        if !self.swarms.contains(&welcome.swarm_id) {
            self.swarms.push(welcome.swarm_id);
            let module =
                crate::modules::StoredModule { hash: ops::FUZZ_MODULE, bytes: vec![0; 8].into(), verifier: None };
            let _ = self.core.put_module(welcome.swarm_id, module);
        }
        for secret in [welcome.master_key, welcome.resume_credential].into_iter().flatten() {
            let known =
                if welcome.role == ostrich_protocol::Role::Master { &mut self.keys } else { &mut self.credentials };
            if !known.contains(&secret) {
                known.push(secret);
            }
        }
    }

    fn command(&mut self, session: u8, command: &Command) {
        let command = match command {
            Command::Throttle(percent) => MasterCommand::SetThrottle { percent: *percent },
            Command::RunState(state) => MasterCommand::SetRunState { state: run_state(*state) },
            Command::Enable { device, enabled } => {
                MasterCommand::SetDeviceEnabled { device_id: device_id(*device), enabled: *enabled }
            }
            Command::Submit(spec) => MasterCommand::SubmitJob { spec: job_spec(spec) },
            Command::Cancel(job) => MasterCommand::CancelJob { job_id: self.job(*job).1 },
            Command::Delete(job) => MasterCommand::DeleteJob { job_id: self.job(*job).1 },
            Command::Preview(job) => MasterCommand::SendPreview { job_id: self.job(*job).1 },
            Command::Invite => MasterCommand::CreateInvite,
            Command::Forget { device } => MasterCommand::ForgetDevice { device_id: device_id(*device) },
        };
        let session = self.session(session);
        if let Ok(ToDevice::CommandOk { job_id: Some(job), .. }) = self.core.command(session, command, self.now)
            && let Some((swarm, _)) = self.core.session(session)
        {
            self.jobs.push((swarm, job));
        }
    }

    fn http(&mut self, swarm: u8, request: &Http) {
        let swarm = pick(&self.swarms, swarm).unwrap_or_else(SwarmId::nil);
        match request {
            Http::Submit(spec) => {
                if let Ok(job) = self.core.submit_job(swarm, job_spec(spec), self.now) {
                    self.jobs.push((swarm, job));
                }
            }
            Http::Cancel(job) => {
                let _ = self.core.cancel_job(swarm, self.job(*job).1);
            }
            Http::Delete(job) => {
                let _ = self.core.delete_job(swarm, self.job(*job).1);
            }
            Http::Status(job) => {
                let _ = self.core.job_progress(swarm, self.job(*job).1);
            }
            Http::Result(job) => {
                let _ = self.core.result_file(swarm, self.job(*job).1);
            }
            Http::List => {
                let _ = self.core.jobs_progress(swarm);
            }
            Http::Append { job, count, close } => {
                let records = (0..count % 5).map(|i| ostrich_protocol::Record(vec![i, *count])).collect();
                let _ = self.core.append_records(swarm, self.job(*job).1, records, *close, self.now);
            }
        }
    }

    /// The periodic work of the actor's ticks.
    fn flush(&mut self) {
        self.core.flush_progress();
        self.core.refresh_metrics(self.now);
        for swarm in self.core.live_swarms() {
            let _ = self.core.snapshots(swarm, self.now);
        }
    }

    /// Takes the effects and checks that every task assigned is leased to that session.
    fn effects(&mut self) -> Result<(), String> {
        for effect in self.core.take_effects() {
            let Effect::Send(session, ToDevice::Assign { tasks }) = effect else { continue };
            for task in tasks {
                self.reached.assigned += 1;
                let lease = self.core.tasks.get(&task.id).and_then(|t| t.lease);
                if lease.is_none_or(|l| l.session != session) {
                    return Err(format!(
                        "task {} was assigned to session {session} but is leased to {lease:?}",
                        task.id
                    ));
                }
                if self.assigned.len() < REMEMBERED_TASKS {
                    self.assigned.push((session, task));
                } else {
                    let slot = task.id as usize % REMEMBERED_TASKS;
                    self.assigned[slot] = (session, task);
                }
            }
        }
        Ok(())
    }

    /// A session seen so far, or one that never existed.
    fn session(&self, i: u8) -> SessionId {
        if i == u8::MAX { SessionId::MAX } else { pick(&self.sessions, i).unwrap_or(SessionId::MAX) }
    }

    /// A job seen so far (with its swarm), or one that never existed.
    fn job(&self, i: u8) -> (SwarmId, JobId) {
        if i == u8::MAX { (SwarmId::nil(), JobId::MAX) } else { pick(&self.jobs, i).unwrap_or((SwarmId::nil(), 0)) }
    }

    /// A remembered task; `None` stands for one that never existed.
    fn task(&self, i: u8) -> Option<&Task> {
        if i == u8::MAX { None } else { pick_ref(&self.assigned, i).map(|(_, task)| task) }
    }

    /// The session that sends a result or failure for remembered task `i`.
    fn sender(&self, i: u8, from: Sender) -> SessionId {
        match from {
            Sender::Holder => {
                if i == u8::MAX {
                    SessionId::MAX
                } else {
                    pick_ref(&self.assigned, i).map_or(SessionId::MAX, |(s, _)| *s)
                }
            }
            Sender::Session(session) => self.session(session),
        }
    }

    /// The task id and the claimed output of a result for remembered task `i`.
    fn result(&self, i: u8, lie: Option<Output>) -> (TaskId, TaskOutput) {
        match self.task(i) {
            Some(task) => (task.id, claim(&task.kind, lie)),
            None => (TaskId::MAX, TaskOutput::MatmulTile { c: vec![0.0; 4] }),
        }
    }
}

fn device_id(i: u8) -> DeviceId {
    Uuid::from_u128(1 + u128::from(i % DEVICES))
}

fn pick<T: Clone>(items: &[T], i: u8) -> Option<T> {
    pick_ref(items, i).cloned()
}

fn pick_ref<T>(items: &[T], i: u8) -> Option<&T> {
    if items.is_empty() { None } else { items.get(usize::from(i) % items.len()) }
}

#[cfg(test)]
mod tests;
