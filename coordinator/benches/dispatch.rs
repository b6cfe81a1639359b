//! Micro-benchmark of the scheduler's hot path through its public API: a swarm of 1000
//! worker devices, each with its 4 slots full, and one verified result (a 4×4 matmul tile
//! with k = 4) that frees a slot and triggers the dispatch of the next task. This is what
//! the scheduler actor does for every task a swarm computes. The same again with a user
//! kernel's job checked by adaptive replication: results of devices not yet trusted wait
//! for a replica, which is dispatched and compared, so the figure per result includes the
//! replication bookkeeping. `cargo xtask bench micro` runs both.

// `criterion_group!` defines a public function without a doc comment.
#![allow(missing_docs)]

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use ostrich_coordinator::{
    modules::StoredModule,
    scheduler::{Admission, Core, Effect, SessionId, Settings},
};
use ostrich_protocol::{
    Capabilities, JobSpec, MatmulSpec, MatrixSource, ModuleHash, SwarmId, Task, TaskKind, TaskLimits, TaskOutput,
    ToDevice, Verification, WasmInput, WasmSpec,
};
use uuid::Uuid;

/// The user kernel of the wasm jobs (its bytes are never run).
const MODULE: ModuleHash = ModuleHash([7; 32]);

/// Worker devices in the swarm.
const WORKERS: u64 = 1000;

/// Slots each worker offers: one core's worth.
const SLOTS: u32 = 4;

/// The job's edge: 1024² tiles of 4×4, so a job holds a million tasks.
const EDGE: u32 = 4096;

/// Tasks left in the job below which another job is submitted, outside the timing.
const LOW_WATER: u64 = 10 * WORKERS * SLOTS as u64;

/// Iterations between flushes of the job progress, outside the timing (the actor flushes
/// every tick; without it the list of changed jobs would grow without bound).
const FLUSH_EVERY: u64 = 1000;

/// The scheduler with its swarm, the tasks each session holds and the tasks left queued.
struct Bench {
    /// Whether the jobs are user-kernel jobs (else matmul).
    wasm: bool,
    core: Core,
    swarm: SwarmId,
    held: HashMap<SessionId, VecDeque<Task>>,
    queued: u64,
    next_session: SessionId,
}

fn caps() -> Capabilities {
    Capabilities {
        logical_cores: 1,
        memory_mb: 0,
        gpu: None,
        ops_score: 0,
        platform: "bench".into(),
        runtime: ostrich_protocol::WasmRuntime::Native,
    }
}

impl Bench {
    /// A master, `WORKERS` workers that offered their slots, and one big job dispatched to them.
    fn new(wasm: bool) -> Self {
        let settings = Settings {
            lease: Duration::from_secs(3600),
            quarantine_after: 3,
            max_task_attempts: 10,
            tls_fingerprint: None,
            ..Settings::default()
        };
        let mut core = Core::new(settings);
        let welcome = core.register(1, Uuid::from_u128(1), "master", caps(), Admission::NewSwarm).expect("master");
        let swarm = welcome.swarm_id;
        for session in 2..2 + WORKERS {
            let id = Uuid::from_u128(u128::from(session));
            core.register(session, id, "worker", caps(), Admission::Invited(swarm)).expect("worker");
            core.work_request(session, SLOTS, Instant::now());
        }
        let module = StoredModule { hash: MODULE, bytes: vec![0; 8].into(), verifier: None };
        core.put_module(swarm, module).expect("a module");
        let mut bench = Self { wasm, core, swarm, held: HashMap::new(), queued: 0, next_session: 2 };
        bench.submit();
        assert_eq!(bench.held.values().map(VecDeque::len).sum::<usize>(), (WORKERS * u64::from(SLOTS)) as usize);
        bench
    }

    /// Submits a job of a million tiny tasks and records what was dispatched.
    fn submit(&mut self) {
        let spec = if self.wasm {
            JobSpec::Wasm(WasmSpec {
                module: MODULE,
                name: "bench".into(),
                input: WasmInput::Range { count: (EDGE / 4) * (EDGE / 4), args: Vec::new() },
                limits: TaskLimits { time_limit_ms: 60_000, max_output_bytes: 16 },
                verification: Verification::default(),
            })
        } else {
            JobSpec::Matmul(MatmulSpec { m: EDGE, k: 4, n: EDGE, tile: 4, source: MatrixSource::Seeded { seed: 5 } })
        };
        self.core.submit_job(self.swarm, spec, Instant::now()).expect("job accepted");
        self.queued += u64::from(EDGE / 4) * u64::from(EDGE / 4);
        self.record_effects();
    }

    /// Files the tasks of every `Assign` among the effects under their session.
    fn record_effects(&mut self) {
        for effect in self.core.take_effects() {
            if let Effect::Send(session, ToDevice::Assign { tasks }) = effect {
                self.queued -= tasks.len() as u64;
                self.held.entry(session).or_default().extend(tasks);
            }
        }
    }

    /// The next worker, round robin, and the oldest task it holds with its honest output.
    fn next_result(&mut self) -> (SessionId, u64, TaskOutput) {
        loop {
            let session = self.next_session;
            self.next_session = if session > WORKERS { 2 } else { session + 1 };
            if let Some(task) = self.held.get_mut(&session).and_then(VecDeque::pop_front) {
                let output = match &task.kind {
                    // The coordinator never runs a user kernel; any fixed function will do.
                    TaskKind::Wasm { input, .. } => TaskOutput::Wasm { output: input.iter().rev().copied().collect() },
                    kind => ostrich_kernels::run_task(kind).expect("a valid task"),
                };
                return (session, task.id, output);
            }
        }
    }
}

fn dispatch(c: &mut Criterion) {
    measure(c, "scheduler/result_and_dispatch/1000x4", false);
    measure(c, "scheduler/wasm_result_and_dispatch/1000x4", true);
}

/// One result and the dispatch it triggers, `wasm` or matmul.
fn measure(c: &mut Criterion, name: &str, wasm: bool) {
    let mut bench = Bench::new(wasm);
    let mut done = 0u64;
    c.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                if bench.queued < LOW_WATER {
                    bench.submit();
                }
                let (session, task_id, output) = bench.next_result();
                let start = Instant::now();
                bench.core.task_result(session, task_id, output, start, done);
                let effects = bench.core.take_effects();
                elapsed += start.elapsed();
                for effect in effects {
                    if let Effect::Send(session, ToDevice::Assign { tasks }) = effect {
                        bench.queued -= tasks.len() as u64;
                        bench.held.entry(session).or_default().extend(tasks);
                    }
                }
                done += 1;
                if done.is_multiple_of(FLUSH_EVERY) {
                    bench.core.flush_progress();
                    bench.core.take_effects();
                }
            }
            elapsed
        })
    });
    assert_eq!(bench.core.ignored_results, 0, "every result came from its lease holder");
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
