//! The pool's decisions as a plain struct: which worker gets which task, and when a worker
//! is started, retired or replaced. It touches no browser API; it answers every call with
//! [`Effect`]s that `pool.rs` carries out on real Web Workers, so the unit tests drive it
//! natively.
//!
//! Workers come in three roles. CPU workers (as many as [`Scheduler::set_threads`] asks for)
//! run every task, except matmul tiles when the chosen path is the GPU alone; the one GPU
//! worker runs matmul tiles on its WebGPU device; the benchmark worker times the kernels once
//! and is terminated. Every worker gets one task at a time, and only after it said `Ready`.
//!
//! The matmul path is chosen by measurement: the benchmark worker times one thread's CPU
//! product on the reference tile, then the GPU worker (if the user did not force the CPU)
//! opens its adapter and times the WebGPU product on the same tile, and
//! [`ostrich_protocol::choose_matmul_path`] decides, unless the user forced a path. A GPU that is not used is
//! let go.

use std::collections::{HashMap, VecDeque};
use std::mem;

use ostrich_protocol::{GpuPath, KernelReport, MatmulPath, ModuleHash, Task, TaskId, TaskKind};

use super::messages::{FromWorker, ToWorker};
use super::{KernelPreference, PoolEvent};

/// A worker's number in the pool; never reused, so a late message from a terminated worker
/// cannot be mistaken for one from its replacement.
pub type SlotId = u32;

/// Benchmark rounds run on creation; the best one counts.
pub const BENCHMARK_ROUNDS: u32 = 3;

/// How long after the pool starts the GPU may take to open and be timed; past it the GPU is
/// given up and matrix products run on the CPU (a browser without a usable adapter can
/// leave `requestAdapter` unanswered).
pub const GPU_DEADLINE_MS: u32 = 15_000;

/// What a worker is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Cpu,
    Gpu,
    Benchmark,
}

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Spawned; its wasm module is loading.
    Starting,
    /// Loaded, and waiting for the benchmark to end before probing the GPU, so that the
    /// probe (a software adapter compiles the shader on the CPU) cannot skew the score.
    Loaded,
    /// Probing the GPU, or running a benchmark.
    Setup,
    /// Waiting for a task.
    Idle,
    /// Computing a task.
    Busy(TaskId),
}

#[derive(Debug)]
struct Slot {
    id: SlotId,
    role: Role,
    phase: Phase,
    /// Set on a busy CPU worker above the thread count (or a GPU worker whose device
    /// failed): it finishes its task and is then terminated.
    retiring: bool,
    /// The user kernels this worker was given (and compiled).
    modules: Vec<ModuleHash>,
}

/// Something the pool must do on the real workers, or tell the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start a worker for this slot; it answers `Ready` once its wasm module is loaded.
    Spawn(SlotId),
    /// Post a message to a slot's worker.
    Send(SlotId, ToWorker),
    /// Terminate a slot's worker at once, dropping whatever it computes.
    Terminate(SlotId),
    /// Tell the app.
    Emit(PoolEvent),
    /// Write a line to the browser console.
    Log(String),
    /// Call [`Scheduler::time_limit`] for this slot and task after this many milliseconds:
    /// a user kernel still running then is stopped.
    Deadline(SlotId, TaskId, u32),
}

/// The pool's state and decisions.
#[derive(Debug)]
pub struct Scheduler {
    /// CPU workers asked for; 0 pauses the pool.
    threads: u32,
    preference: KernelPreference,
    /// CPU workers at full throttle: the CPU path's figure is one thread's × this.
    full_threads: u32,
    /// One thread's CPU matmul figure, once the benchmark ended (0 if it failed).
    cpu_thread_mflops: Option<u32>,
    /// The adapter and its figure, once opened.
    gpu: Option<GpuPath>,
    /// The GPU worker answered its benchmark.
    gpu_timed: bool,
    /// False once the GPU failed or was let go: it is not tried again.
    gpu_wanted: bool,
    /// Where matrix products run now.
    path: MatmulPath,
    /// The last report emitted.
    reported: Option<KernelReport>,
    queue: VecDeque<Task>,
    slots: Vec<Slot>,
    next_slot: SlotId,
    effects: Vec<Effect>,
    reported_running: u32,
    /// User kernels held, by name (see `scheduler/modules.rs`).
    modules: HashMap<ModuleHash, Vec<u8>>,
    /// Tasks waiting for their module, which was asked for once.
    parked: HashMap<ModuleHash, Vec<Task>>,
}

impl Scheduler {
    /// A pool with no CPU workers yet: it starts the benchmark worker and, unless the user
    /// forced the CPU, the GPU worker that probes WebGPU. `full_threads` is the CPU worker
    /// count at full throttle.
    pub fn new(preference: KernelPreference, full_threads: u32) -> Self {
        let gpu_wanted = preference != KernelPreference::Cpu;
        let mut scheduler = Self {
            threads: 0,
            preference,
            full_threads: full_threads.max(1),
            cpu_thread_mflops: None,
            gpu: None,
            gpu_timed: false,
            gpu_wanted,
            path: MatmulPath::Cpu,
            reported: None,
            queue: VecDeque::new(),
            slots: Vec::new(),
            next_slot: 0,
            effects: Vec::new(),
            reported_running: 0,
            modules: HashMap::new(),
            parked: HashMap::new(),
        };
        scheduler.spawn(Role::Benchmark);
        if gpu_wanted {
            scheduler.spawn(Role::Gpu);
        }
        scheduler
    }

    /// The CPU worker count last asked for.
    pub fn threads(&self) -> u32 {
        self.threads
    }

    /// Where matrix products run now.
    pub fn matmul_path(&self) -> MatmulPath {
        self.path
    }

    /// Tasks waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Takes the effects of the calls so far, ending with a `Threads` event when the live
    /// CPU worker count changed.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        let running = self.running();
        if running != self.reported_running {
            self.reported_running = running;
            self.effects.push(Effect::Emit(PoolEvent::Threads { running }));
        }
        mem::take(&mut self.effects)
    }

    /// Grows or shrinks the CPU workers to `n`. Idle and starting workers above `n` are
    /// terminated at once; busy ones finish their task first. At 0 nothing new is started.
    pub fn set_threads(&mut self, n: u32) {
        self.threads = n;
        let mut live = self.running();
        while live > n {
            let spare = self.slots.iter().find(|s| s.role == Role::Cpu && !s.retiring && !s.is_busy());
            if let Some(id) = spare.map(|s| s.id) {
                self.terminate(id);
            } else if let Some(slot) = self.slots.iter_mut().find(|s| s.role == Role::Cpu && !s.retiring) {
                slot.retiring = true;
            }
            live -= 1;
        }
        while live < n {
            if let Some(slot) = self.slots.iter_mut().find(|s| s.role == Role::Cpu && s.retiring) {
                slot.retiring = false;
            } else {
                self.spawn(Role::Cpu);
            }
            live += 1;
        }
        self.pump();
    }

    /// Queues a task; it starts as soon as a suitable worker is idle and the pool is not
    /// paused.
    pub fn submit(&mut self, task: Task) {
        if let Some(task) = self.park_without_module(task) {
            self.queue.push_back(task);
        }
        self.pump();
    }

    /// Drops the given tasks: queued ones leave the queue, running ones lose their worker,
    /// which is replaced by a fresh one.
    pub fn cancel(&mut self, task_ids: &[TaskId]) {
        self.queue.retain(|task| !task_ids.contains(&task.id));
        self.parked.values_mut().for_each(|waiting| waiting.retain(|task| !task_ids.contains(&task.id)));
        let running: Vec<SlotId> = self
            .slots
            .iter()
            .filter(|s| matches!(s.phase, Phase::Busy(id) if task_ids.contains(&id)))
            .map(|s| s.id)
            .collect();
        for id in running {
            self.replace(id);
        }
        self.pump();
    }

    /// Drops every task: the queue is cleared and every busy worker is terminated and,
    /// up to the thread count, replaced.
    pub fn stop(&mut self) {
        self.queue.clear();
        self.parked.values_mut().for_each(Vec::clear);
        let busy: Vec<SlotId> = self.slots.iter().filter(|s| s.is_busy()).map(|s| s.id).collect();
        for id in busy {
            self.replace(id);
        }
    }

    /// Handles a message from a slot's worker. Messages from terminated workers, and
    /// answers that do not fit the worker's state, are ignored.
    pub fn on_message(&mut self, id: SlotId, message: FromWorker) {
        let Some(index) = self.slots.iter().position(|s| s.id == id) else {
            return;
        };
        let (role, phase) = (self.slots[index].role, self.slots[index].phase);
        match message {
            FromWorker::Ready if phase == Phase::Starting => match role {
                Role::Cpu => self.slots[index].phase = Phase::Idle,
                Role::Gpu => {
                    self.slots[index].phase = Phase::Loaded;
                    self.probe_gpu();
                }
                Role::Benchmark => {
                    self.slots[index].phase = Phase::Setup;
                    self.effects.push(Effect::Send(id, ToWorker::Benchmark { rounds: BENCHMARK_ROUNDS }));
                }
            },
            FromWorker::GpuReady { info } if role == Role::Gpu && phase == Phase::Setup => {
                self.gpu = Some(GpuPath { info, mflops: 0 });
                self.effects.push(Effect::Send(id, ToWorker::BenchmarkGpu));
            }
            FromWorker::GpuBenchmarked { mflops } if role == Role::Gpu && phase == Phase::Setup => {
                self.slots[index].phase = Phase::Idle;
                self.gpu_timed = true;
                if let Some(gpu) = &mut self.gpu {
                    gpu.mflops = mflops;
                }
                self.choose();
            }
            FromWorker::GpuUnavailable { reason } if role == Role::Gpu => {
                self.gpu_failed(&format!("no usable WebGPU ({reason}); matrix products run on the CPU"));
                self.terminate(id);
            }
            FromWorker::GpuLost { reason } if role == Role::Gpu => {
                self.gpu_failed(&format!("WebGPU failed ({reason}); falling back to the CPU"));
                if self.slots[index].is_busy() {
                    self.slots[index].retiring = true;
                } else {
                    self.terminate(id);
                }
            }
            FromWorker::Benchmarked { ops_score, matmul_mflops } if role == Role::Benchmark => {
                self.effects.push(Effect::Emit(PoolEvent::Benchmark { ops_score }));
                self.cpu_thread_mflops = Some(matmul_mflops);
                self.terminate(id);
                self.probe_gpu();
                self.choose();
            }
            FromWorker::Done { task_id, output } if phase == Phase::Busy(task_id) => {
                self.effects.push(Effect::Emit(PoolEvent::Done { task_id, output }));
                self.finished(index);
            }
            FromWorker::Failed { task_id, reason } if phase == Phase::Busy(task_id) => {
                self.effects.push(Effect::Emit(PoolEvent::Failed { task_id, reason }));
                self.finished(index);
            }
            _ => {}
        }
        self.pump();
    }

    /// Handles a worker that crashed, failed to load or could not be messaged: its task
    /// fails, and a CPU worker that had been running is replaced. One that never started
    /// is not, so a broken script cannot make the pool spawn workers in a loop.
    pub fn on_error(&mut self, id: SlotId, reason: &str) {
        let Some(slot) = self.slots.iter().find(|s| s.id == id) else {
            return;
        };
        let (role, phase, retiring) = (slot.role, slot.phase, slot.retiring);
        if let Phase::Busy(task_id) = phase {
            let reason = format!("browser worker failed: {reason}");
            self.effects.push(Effect::Emit(PoolEvent::Failed { task_id, reason }));
        }
        self.terminate(id);
        match role {
            Role::Cpu if phase == Phase::Starting => self.log(format!("a compute worker failed to start: {reason}")),
            Role::Cpu if !retiring => self.spawn(Role::Cpu),
            Role::Cpu => {}
            Role::Gpu => self.gpu_failed(&format!("the WebGPU worker failed ({reason}); using the CPU")),
            Role::Benchmark => {
                self.log(format!("the benchmark worker failed: {reason}"));
                self.cpu_thread_mflops = Some(0);
                self.probe_gpu();
                self.choose();
            }
        }
        self.pump();
    }

    /// [`GPU_DEADLINE_MS`] have passed since the pool started: a GPU not yet opened and
    /// timed is given up.
    pub fn gpu_deadline(&mut self) {
        if !self.gpu_wanted || self.gpu_timed {
            return;
        }
        let waiting: Vec<SlotId> = self.slots.iter().filter(|s| s.role == Role::Gpu).map(|s| s.id).collect();
        for id in waiting {
            self.terminate(id);
        }
        self.gpu_failed(&format!(
            "WebGPU did not answer within {} s; matrix products run on the CPU",
            GPU_DEADLINE_MS / 1000
        ));
        self.pump();
    }

    /// Hands queued tasks to idle workers, unless the pool is paused.
    fn pump(&mut self) {
        if self.threads == 0 {
            return;
        }
        let gpu_takes_matmul =
            self.path == MatmulPath::Gpu && self.slots.iter().any(|s| s.role == Role::Gpu && !s.retiring);
        for slot in self.slots.iter_mut().filter(|s| s.phase == Phase::Idle && !s.retiring) {
            let fits = |task: &Task| {
                let matmul = matches!(task.kind, TaskKind::MatmulTile { .. });
                let wasm = matches!(task.kind, TaskKind::Wasm { .. });
                match slot.role {
                    Role::Gpu => matmul,
                    Role::Cpu => wasm || !(matmul && gpu_takes_matmul),
                    Role::Benchmark => false,
                }
            };
            let Some(task) = self.queue.iter().position(fits).and_then(|at| self.queue.remove(at)) else {
                continue;
            };
            slot.phase = Phase::Busy(task.id);
            let message = match &task.kind {
                TaskKind::Wasm { module, time_limit_ms, .. } => {
                    self.effects.push(Effect::Deadline(slot.id, task.id, *time_limit_ms));
                    let bytes = (!slot.modules.contains(module))
                        .then(|| self.modules.get(module).cloned().map(ostrich_protocol::ModuleBytes))
                        .flatten();
                    if bytes.is_some() {
                        slot.modules.push(*module);
                    }
                    ToWorker::RunWasm { task, module: bytes }
                }
                _ => ToWorker::Run { task, gpu: slot.role == Role::Gpu },
            };
            self.effects.push(Effect::Send(slot.id, message));
        }
    }
}

mod modules;
mod slots;

#[cfg(test)]
mod tests;
