//! Unit tests of the pool's decisions, driven through the messages real workers send.

use ostrich_protocol::{GpuInfo, GpuPath, KernelReport, MandelbrotView, MatmulPath, Task, TaskKind, TaskOutput};

use super::{Effect, Scheduler, SlotId};
use crate::compute::messages::{FromWorker, ToWorker};
use crate::compute::{KernelPreference, PoolEvent};

/// CPU workers at full throttle in these tests.
const FULL_THREADS: u32 = 2;

/// A scheduler and everything it asked for so far, sorted by kind.
struct Harness {
    pool: Scheduler,
    spawned: Vec<SlotId>,
    sent: Vec<(SlotId, ToWorker)>,
    terminated: Vec<SlotId>,
    events: Vec<PoolEvent>,
    deadlines: Vec<(SlotId, u64, u32)>,
}

impl Harness {
    fn new(prefer_gpu: bool) -> Self {
        let preference = if prefer_gpu { KernelPreference::Auto } else { KernelPreference::Cpu };
        Self::with(preference)
    }

    fn with(preference: KernelPreference) -> Self {
        let mut harness = Self {
            pool: Scheduler::new(preference, FULL_THREADS),
            spawned: vec![],
            sent: vec![],
            terminated: vec![],
            events: vec![],
            deadlines: vec![],
        };
        harness.drain();
        harness
    }

    fn drain(&mut self) {
        for effect in self.pool.take_effects() {
            match effect {
                Effect::Spawn(id) => self.spawned.push(id),
                Effect::Send(id, message) => self.sent.push((id, message)),
                Effect::Terminate(id) => self.terminated.push(id),
                Effect::Emit(event) => self.events.push(event),
                Effect::Log(_) => {}
                Effect::Deadline(id, task, ms) => self.deadlines.push((id, task, ms)),
            }
        }
    }

    fn message(&mut self, id: SlotId, message: FromWorker) {
        self.pool.on_message(id, message);
        self.drain();
    }

    /// Answers `Ready` for every spawned worker still alive.
    fn all_ready(&mut self) {
        let live: Vec<SlotId> = self.spawned.iter().copied().filter(|id| !self.terminated.contains(id)).collect();
        for id in live {
            self.message(id, FromWorker::Ready);
        }
    }

    /// The tasks sent to workers, as (slot, task id, on the GPU).
    fn runs(&self) -> Vec<(SlotId, u64, bool)> {
        self.sent
            .iter()
            .filter_map(|(id, m)| match m {
                ToWorker::Run { task, gpu } => Some((*id, task.id, *gpu)),
                _ => None,
            })
            .collect()
    }

    fn done(&mut self, id: SlotId, task_id: u64) {
        self.message(id, FromWorker::Done { task_id, output: TaskOutput::MatmulTile { c: vec![] } });
    }

    fn reports(&self) -> Vec<KernelReport> {
        self.events.iter().filter_map(|e| if let PoolEvent::Kernels(r) = e { Some(r.clone()) } else { None }).collect()
    }

    fn threads_events(&self) -> Vec<u32> {
        self.events
            .iter()
            .filter_map(|e| if let PoolEvent::Threads { running } = e { Some(*running) } else { None })
            .collect()
    }
}

fn matmul(id: u64) -> Task {
    Task {
        id,
        job_id: 1,
        lease_ms: 1000,
        kind: TaskKind::MatmulTile { rows: 1, k: 1, cols: 1, a: vec![1.0], b: vec![2.0] },
    }
}

fn mandelbrot(id: u64) -> Task {
    let view = MandelbrotView { width: 8, height: 8, center_re: 0.0, center_im: 0.0, zoom: 1.0, max_iter: 10 };
    Task { id, job_id: 2, lease_ms: 1000, kind: TaskKind::MandelbrotTile { view, x: 0, y: 0, w: 8, h: 8 } }
}

fn wasm(id: u64, module: u8) -> Task {
    let kind = TaskKind::Wasm {
        module: ostrich_protocol::ModuleHash([module; 32]),
        input: vec![id as u8],
        time_limit_ms: 250,
        max_output_bytes: 16,
    };
    Task { id, job_id: 3, lease_ms: 1000, kind }
}

fn swiftshader() -> GpuInfo {
    GpuInfo { vendor: "google".into(), description: "swiftshader".into(), fallback: true }
}

fn hardware() -> GpuInfo {
    GpuInfo { vendor: "nvidia".into(), description: "rtx".into(), fallback: false }
}

/// One thread's CPU matmul figure in these tests: the CPU path is twice this.
const CPU_THREAD_MFLOPS: u32 = 500;

fn benchmarked() -> FromWorker {
    FromWorker::Benchmarked { ops_score: 900, matmul_mflops: CPU_THREAD_MFLOPS }
}

/// A CPU-only pool with `n` ready workers; slot 0 is the benchmark worker.
fn cpu_pool(n: u32) -> Harness {
    let mut h = Harness::new(false);
    h.pool.set_threads(n);
    h.drain();
    h.all_ready();
    h
}

#[test]
fn a_cpu_pool_benchmarks_once_and_reports_its_forced_kernel() {
    let mut h = Harness::new(false);
    assert!(h.events.is_empty(), "nothing is reported before the benchmark");
    assert_eq!(h.spawned, vec![0], "only the benchmark worker until threads are set");
    h.message(0, FromWorker::Ready);
    assert_eq!(h.sent, vec![(0, ToWorker::Benchmark { rounds: super::BENCHMARK_ROUNDS })]);
    h.message(0, benchmarked());
    assert!(h.events.contains(&PoolEvent::Benchmark { ops_score: 900 }));
    let report = KernelReport { threads: 0, cpu_mflops: 1_000, gpu: None, matmul: MatmulPath::Cpu, forced: true };
    assert_eq!(h.reports(), vec![report]);
    assert_eq!(h.terminated, vec![0]);
}

/// A pool that prefers the GPU with `n` ready CPU workers, its benchmark done and its GPU
/// probed: slot 0 is the benchmark worker, slot 1 the GPU worker.
fn gpu_pool(n: u32) -> Harness {
    measured_pool(KernelPreference::Auto, n, swiftshader(), 10_000)
}

/// A pool whose GPU worker (slot 1) opened `info` and timed it at `gpu_mflops`.
fn measured_pool(preference: KernelPreference, n: u32, info: GpuInfo, gpu_mflops: u32) -> Harness {
    let mut h = Harness::with(preference);
    h.pool.set_threads(n);
    h.drain();
    h.all_ready();
    h.message(0, benchmarked());
    h.message(1, FromWorker::GpuReady { info });
    assert_eq!(h.sent.last(), Some(&(1, ToWorker::BenchmarkGpu)), "an opened adapter is timed");
    h.message(1, FromWorker::GpuBenchmarked { mflops: gpu_mflops });
    h
}

#[test]
fn the_gpu_is_probed_after_the_benchmark_so_it_cannot_skew_the_score() {
    let mut h = Harness::new(true);
    h.all_ready();
    assert_eq!(h.sent, vec![(0, ToWorker::Benchmark { rounds: super::BENCHMARK_ROUNDS })]);
    h.message(0, benchmarked());
    assert_eq!(h.sent.last(), Some(&(1, ToWorker::ProbeGpu)));

    let mut h = Harness::new(true);
    h.message(0, FromWorker::Ready);
    h.message(0, benchmarked());
    assert!(!h.sent.contains(&(1, ToWorker::ProbeGpu)), "not before the GPU worker is loaded");
    h.message(1, FromWorker::Ready);
    assert_eq!(h.sent.last(), Some(&(1, ToWorker::ProbeGpu)));

    let mut h = Harness::new(true);
    h.all_ready();
    h.pool.on_error(0, "the benchmark crashed");
    h.drain();
    assert_eq!(h.sent.last(), Some(&(1, ToWorker::ProbeGpu)), "a failed benchmark does not block the probe");
}

#[test]
fn nothing_is_reported_until_every_path_is_measured_and_no_adapter_means_the_cpu() {
    let mut h = Harness::new(true);
    h.all_ready();
    h.message(0, benchmarked());
    h.message(1, FromWorker::GpuReady { info: swiftshader() });
    assert!(h.reports().is_empty(), "the GPU is not timed yet");

    let mut h = Harness::new(true);
    h.all_ready();
    h.message(0, benchmarked());
    h.message(1, FromWorker::GpuUnavailable { reason: "no adapter".into() });
    let report = KernelReport { threads: 0, cpu_mflops: 1_000, gpu: None, matmul: MatmulPath::Cpu, forced: false };
    assert_eq!(h.reports(), vec![report]);
    assert_eq!(h.terminated, vec![0, 1]);
}

#[test]
fn a_software_adapter_slower_than_the_cpu_is_let_go_and_matmul_runs_on_the_cpu() {
    let mut h = measured_pool(KernelPreference::Auto, 2, swiftshader(), 150);
    let report = h.reports().pop().expect("a report");
    assert_eq!((report.matmul, report.forced, report.cpu_mflops), (MatmulPath::Cpu, false, 1_000));
    assert_eq!(report.gpu, Some(GpuPath { info: swiftshader(), mflops: 150 }), "its figure is still shown");
    assert!(h.terminated.contains(&1), "the unused GPU worker is let go");
    h.pool.submit(matmul(1));
    h.pool.submit(matmul(2));
    h.drain();
    assert_eq!(h.runs(), vec![(2, 1, false), (3, 2, false)], "both CPU workers take matmul");
}

#[test]
fn forcing_webgpu_uses_even_a_slower_software_adapter() {
    let mut h = measured_pool(KernelPreference::Gpu, 1, swiftshader(), 150);
    let report = h.reports().pop().expect("a report");
    assert_eq!((report.matmul, report.forced), (MatmulPath::Gpu, true));
    h.pool.submit(matmul(1));
    h.pool.submit(matmul(2));
    h.drain();
    assert_eq!(h.runs(), vec![(1, 1, true)], "the CPU worker leaves matmul to the GPU");
}

#[test]
fn a_hardware_adapter_and_the_cpu_both_take_matmul_when_both_help() {
    let mut h = measured_pool(KernelPreference::Auto, 1, hardware(), 4_000);
    assert_eq!(h.reports().pop().map(|r| r.matmul), Some(MatmulPath::Both));
    h.pool.submit(matmul(1));
    h.pool.submit(matmul(2));
    h.drain();
    assert_eq!(h.runs(), vec![(1, 1, true), (2, 2, false)], "one tile on the GPU, one on the CPU worker");
}

#[test]
fn tasks_wait_for_ready_workers_and_go_one_per_worker() {
    let mut h = Harness::new(false);
    h.pool.set_threads(2);
    h.drain();
    assert_eq!(h.threads_events(), vec![2]);
    for id in 10..13 {
        h.pool.submit(mandelbrot(id));
    }
    h.drain();
    assert!(h.runs().is_empty(), "nothing is sent before Ready");
    h.all_ready();
    assert_eq!(h.runs(), vec![(1, 10, false), (2, 11, false)]);
    assert_eq!(h.pool.queued(), 1);
    h.done(2, 11);
    assert_eq!(h.runs().last(), Some(&(2, 12, false)), "the freed worker takes the next task");
    assert!(h.events.contains(&PoolEvent::Done { task_id: 11, output: TaskOutput::MatmulTile { c: vec![] } }));
}

#[test]
fn shrinking_terminates_idle_workers_now_and_busy_ones_after_their_task() {
    let mut h = cpu_pool(3);
    h.pool.submit(mandelbrot(1));
    h.pool.submit(mandelbrot(2));
    h.drain();
    h.pool.set_threads(1);
    h.drain();
    assert_eq!(h.terminated, vec![3], "the idle worker goes at once");
    assert_eq!(h.threads_events(), vec![3, 1]);
    h.pool.submit(mandelbrot(3));
    h.drain();
    h.done(1, 1);
    assert!(h.terminated.contains(&1), "the retiring worker leaves after its task");
    assert!(h.events.iter().any(|e| matches!(e, PoolEvent::Done { task_id: 1, .. })));
    h.done(2, 2);
    assert_eq!(h.runs().last(), Some(&(2, 3, false)), "the one kept worker carries on");
}

#[test]
fn growing_keeps_retiring_workers_before_starting_new_ones() {
    let mut h = cpu_pool(2);
    h.pool.submit(mandelbrot(1));
    h.pool.submit(mandelbrot(2));
    h.pool.set_threads(0);
    h.pool.set_threads(2);
    h.drain();
    assert_eq!(h.spawned, vec![0, 1, 2], "no new worker: both busy ones were kept");
    assert_eq!(h.threads_events(), vec![2]);
}

#[test]
fn pause_takes_no_new_tasks_and_resume_restarts_workers() {
    let mut h = cpu_pool(2);
    h.pool.submit(mandelbrot(1));
    h.pool.set_threads(0);
    h.pool.submit(mandelbrot(2));
    h.drain();
    assert_eq!(h.runs(), vec![(1, 1, false)]);
    assert_eq!(h.threads_events(), vec![2, 0]);
    h.done(1, 1);
    assert_eq!(h.runs().len(), 1, "a paused pool starts nothing");
    assert!(h.terminated.contains(&1) && h.terminated.contains(&2));
    h.pool.set_threads(1);
    h.drain();
    h.all_ready();
    assert_eq!(h.runs().last(), Some(&(3, 2, false)));
}

#[test]
fn matmul_goes_to_the_gpu_and_everything_else_to_the_cpu() {
    let mut h = gpu_pool(2);
    for task in [matmul(1), matmul(2), mandelbrot(3)] {
        h.pool.submit(task);
    }
    h.drain();
    assert_eq!(h.runs(), vec![(1, 1, true), (2, 3, false)], "CPU workers leave matmul to the GPU");
    h.done(1, 1);
    assert_eq!(h.runs().last(), Some(&(1, 2, true)));
}

#[test]
fn a_gpu_failure_mid_task_switches_to_the_cpu_for_good() {
    let mut h = gpu_pool(1);
    h.pool.submit(matmul(1));
    h.pool.submit(matmul(2));
    h.drain();
    h.message(1, FromWorker::GpuLost { reason: "device lost".into() });
    assert_eq!(h.reports().pop().map(|r| (r.matmul, r.gpu)), Some((MatmulPath::Cpu, None)));
    assert_eq!(h.runs().last(), Some(&(2, 2, false)), "queued matmul now runs on the CPU");
    h.done(1, 1);
    assert!(h.events.iter().any(|e| matches!(e, PoolEvent::Done { task_id: 1, .. })), "the GPU worker's CPU result");
    assert!(h.terminated.contains(&1));
    h.pool.stop();
    h.drain();
    assert_eq!(h.spawned.len(), 4, "bench, gpu, cpu, and the stopped cpu's replacement: no new GPU worker");
}

#[test]
fn cancel_drops_queued_tasks_and_replaces_workers_running_them() {
    let mut h = cpu_pool(1);
    h.pool.submit(mandelbrot(1));
    h.pool.submit(mandelbrot(2));
    h.pool.submit(mandelbrot(3));
    h.pool.cancel(&[1, 2]);
    h.drain();
    assert!(h.terminated.contains(&1));
    assert_eq!(h.spawned.last(), Some(&2));
    assert_eq!(h.pool.queued(), 1);
    h.done(1, 1);
    assert!(!h.events.iter().any(|e| matches!(e, PoolEvent::Done { .. })), "a terminated worker is not heard");
    h.message(2, FromWorker::Ready);
    assert_eq!(h.runs().last(), Some(&(2, 3, false)));
}

#[test]
fn stop_clears_the_queue_and_refills_the_pool_to_the_thread_count() {
    let mut h = cpu_pool(2);
    for id in 1..5 {
        h.pool.submit(mandelbrot(id));
    }
    h.pool.set_threads(1);
    h.pool.stop();
    h.drain();
    assert_eq!(h.pool.queued(), 0);
    assert!(h.terminated.contains(&1) && h.terminated.contains(&2));
    assert_eq!(h.spawned.len(), 4, "bench, two workers, one replacement");
    assert_eq!(h.threads_events().last(), Some(&1));
}

#[test]
fn a_crashed_worker_fails_its_task_and_is_replaced_but_a_broken_start_is_not() {
    let mut h = cpu_pool(1);
    h.pool.submit(mandelbrot(7));
    h.pool.on_error(1, "RuntimeError: unreachable");
    h.drain();
    assert!(matches!(h.events.last(), Some(PoolEvent::Failed { task_id: 7, .. })));
    assert_eq!(h.spawned.last(), Some(&2));
    h.pool.on_error(2, "cannot load /worker.js");
    h.drain();
    assert_eq!(h.spawned.last(), Some(&2), "no respawn loop");
    assert_eq!(h.threads_events().last(), Some(&0));
}

#[test]
fn stray_messages_are_ignored() {
    let mut h = cpu_pool(1);
    h.pool.submit(mandelbrot(1));
    h.drain();
    let before = h.events.len();
    h.done(1, 99);
    h.done(42, 1);
    h.message(1, FromWorker::GpuReady { info: swiftshader() });
    h.message(1, FromWorker::GpuBenchmarked { mflops: 1 });
    h.message(1, benchmarked());
    assert_eq!(h.events.len(), before);
    assert_eq!(h.pool.matmul_path(), MatmulPath::Cpu);
}

#[test]
fn a_gpu_that_never_answers_is_given_up_at_the_deadline() {
    let mut h = Harness::new(true);
    h.pool.set_threads(1);
    h.drain();
    h.all_ready();
    h.message(0, benchmarked());
    assert!(h.reports().is_empty(), "waiting for the GPU");
    h.pool.gpu_deadline();
    h.drain();
    assert!(h.terminated.contains(&1), "the silent GPU worker is terminated");
    assert_eq!(h.reports().pop().map(|r| (r.matmul, r.gpu)), Some((MatmulPath::Cpu, None)));
    let reports = h.reports().len();
    h.pool.gpu_deadline();
    h.drain();
    assert_eq!(h.reports().len(), reports, "a second deadline changes nothing");
    h.message(1, FromWorker::GpuReady { info: swiftshader() });
    assert_eq!(h.pool.matmul_path(), MatmulPath::Cpu, "a late answer from the terminated worker is ignored");
}

/// User kernels: tasks wait for their module, which is asked for once; each worker gets
/// the bytes with its first task of the module only; a task past its time limit loses its
/// worker, which is replaced, and fails with the reason.
#[test]
fn wasm_tasks_wait_for_their_module_and_a_task_past_its_limit_loses_its_worker() {
    use ostrich_protocol::{ModuleBytes, ModuleHash};
    let mut h = cpu_pool(2);
    h.pool.submit(wasm(1, 7));
    h.pool.submit(wasm(2, 7));
    h.pool.submit(wasm(3, 7));
    h.drain();
    let asked: Vec<&PoolEvent> = h.events.iter().filter(|e| matches!(e, PoolEvent::NeedModule(_))).collect();
    assert_eq!(asked, vec![&PoolEvent::NeedModule(ModuleHash([7; 32]))], "asked once");
    assert!(h.sent.iter().all(|(_, m)| !matches!(m, ToWorker::RunWasm { .. })), "nothing runs without the module");

    h.pool.module_arrived(ModuleHash([7; 32]), Ok(vec![0, 97, 115, 109]));
    h.drain();
    let runs: Vec<(SlotId, u64, bool)> = h
        .sent
        .iter()
        .filter_map(|(id, m)| match m {
            ToWorker::RunWasm { task, module } => Some((*id, task.id, module.is_some())),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 2, "two workers, two tasks");
    assert!(runs.iter().all(|(_, _, with_bytes)| *with_bytes), "each worker's first task carries the bytes");
    assert_eq!(h.deadlines.len(), 2);
    let (slot, task, ms) = h.deadlines[0];
    assert_eq!(ms, 250);

    // The other worker finishes; its next task of the same module comes without the bytes.
    let (other, other_task, _) = runs.iter().copied().find(|(id, _, _)| *id != slot).expect("two workers");
    h.message(other, FromWorker::Done { task_id: other_task, output: TaskOutput::Wasm { output: vec![1] } });
    let last = h.sent.last().cloned();
    assert!(matches!(last, Some((id, ToWorker::RunWasm { module: None, .. })) if id == other), "{last:?}");
    // A late deadline of a finished task changes nothing.
    h.pool.time_limit(other, other_task, 250);
    h.drain();
    assert!(!h.terminated.contains(&other));

    let live = |h: &Harness| h.spawned.iter().filter(|id| !h.terminated.contains(id)).count();
    let before = live(&h);
    h.pool.time_limit(slot, task, ms);
    h.drain();
    assert!(h.terminated.contains(&slot), "the worker past its limit is terminated");
    assert!(h.events.iter().any(
        |e| matches!(e, PoolEvent::Failed { task_id, reason } if *task_id == task && reason.contains("time limit"))
    ));
    assert_eq!(live(&h), before, "and replaced");

    // A module the coordinator cannot give fails its waiting tasks.
    h.pool.submit(wasm(9, 8));
    h.pool.module_arrived(ModuleHash([8; 32]), Err("deleted".into()));
    h.drain();
    assert!(
        h.events.iter().any(|e| matches!(e, PoolEvent::Failed { task_id: 9, reason } if reason.contains("deleted")))
    );
    let _ = ModuleBytes(Vec::new());
}
