//! The compute pool: `cores` OS threads that take tasks from a shared queue and hand outcomes
//! to the connection task through a Tokio channel.
//!
//! Only the first `active` threads take work, where `active` follows the swarm's throttle, so
//! the pool grows and shrinks live without starting or stopping threads. Every submitted task
//! gets a ticket; the task is live while the pool holds its ticket. Cancelling or clearing
//! removes tickets, and an outcome whose ticket is gone is dropped: a thread checks before it
//! starts a task and before it sends the outcome, and the connection task checks once more
//! through [`Pool::finish`] before anything goes on the wire.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

use ostrich_protocol::{Task, TaskId, TaskOutput};
use tokio::sync::mpsc;

use crate::compute::{self, ComputeFn};
use crate::wasm::WasmKernels;

/// Tasks a worker keeps per active thread: the one it computes and the next.
pub const TASKS_PER_THREAD: u32 = 2;

/// A finished task on its way from a pool thread to the connection task.
#[derive(Debug)]
pub struct Completed {
    /// The task.
    pub task_id: TaskId,
    /// The submission it answers; an outcome for a stale submission is dropped.
    pub ticket: u64,
    /// The output, or why the kernel failed.
    pub outcome: Result<TaskOutput, String>,
}

/// Threads allowed to compute: `cores × throttle / 100`, rounded, and at least one unless the
/// throttle is 0.
pub fn active_limit(cores: u32, throttle: u8) -> u32 {
    let throttle = u32::from(throttle.min(100));
    if throttle == 0 || cores == 0 {
        return 0;
    }
    ((cores * throttle + 50) / 100).max(1)
}

/// The pool's queue and counters, behind one lock.
struct State {
    queue: VecDeque<(Task, u64)>,
    /// Live tasks (queued, running, or finished but not yet forwarded) and their tickets.
    live: HashMap<TaskId, u64>,
    next_ticket: u64,
    throttle: u8,
    active: u32,
    busy: u32,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    results: mpsc::UnboundedSender<Completed>,
    compute: ComputeFn,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the queue half-edited, so carry on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The compute pool; dropping it stops its threads after their current kernel.
pub struct Pool {
    shared: Arc<Shared>,
    cores: u32,
    wasm: Arc<WasmKernels>,
}

/// Stops a pool from another owner (the worker handle's `kill`): nothing it computes is
/// forwarded afterwards.
#[derive(Clone)]
pub struct PoolStopper(Arc<Shared>);

impl PoolStopper {
    /// Stops the pool: queued tasks are dropped and running ones are never reported.
    pub fn stop(&self) {
        stop(&self.0);
    }
}

fn stop(shared: &Shared) {
    let mut state = shared.lock();
    state.shutdown = true;
    state.queue.clear();
    state.live.clear();
    drop(state);
    shared.wake.notify_all();
}

impl Pool {
    /// Starts `cores` threads running the real kernels, at full throttle.
    pub fn new(cores: u32) -> (Self, mpsc::UnboundedReceiver<Completed>) {
        let wasm = Arc::new(WasmKernels::default());
        let (mut pool, results) = Self::with_compute(cores, compute::kernels(Arc::clone(&wasm)));
        pool.wasm = wasm;
        (pool, results)
    }

    /// The user kernels the pool's threads run: the connection stores fetched modules here.
    pub fn wasm(&self) -> &WasmKernels {
        &self.wasm
    }

    /// Starts `cores` threads running `compute`; tests and simulators pass their own.
    pub fn with_compute(cores: u32, compute: ComputeFn) -> (Self, mpsc::UnboundedReceiver<Completed>) {
        let (results, receiver) = mpsc::unbounded_channel();
        let state = State {
            queue: VecDeque::new(),
            live: HashMap::new(),
            next_ticket: 0,
            throttle: 100,
            active: active_limit(cores, 100),
            busy: 0,
            shutdown: false,
        };
        let shared = Arc::new(Shared { state: Mutex::new(state), wake: Condvar::new(), results, compute });
        for index in 0..cores {
            let shared = Arc::clone(&shared);
            let spawned = thread::Builder::new()
                .name(format!("ostrich-compute-{index}"))
                .spawn(move || thread_main(&shared, index));
            if let Err(err) = spawned {
                log::error!("cannot start compute thread {index}: {err}");
            }
        }
        (Self { shared, cores, wasm: Arc::default() }, receiver)
    }

    /// Threads in the pool, the figure at 100 % throttle.
    pub fn cores(&self) -> u32 {
        self.cores
    }

    /// Applies a new throttle (clamped to 100) and wakes threads that may now compute.
    pub fn set_throttle(&self, percent: u8) {
        let mut state = self.shared.lock();
        state.throttle = percent.min(100);
        state.active = active_limit(self.cores, state.throttle);
        drop(state);
        self.shared.wake.notify_all();
    }

    /// The throttle in force.
    pub fn throttle(&self) -> u8 {
        self.shared.lock().throttle
    }

    /// Threads allowed to compute under the throttle.
    pub fn active_threads(&self) -> u32 {
        self.shared.lock().active
    }

    /// Task slots to offer the coordinator when the worker accepts work, else 0: one task
    /// per active thread plus one waiting behind each, so a thread that finishes starts its
    /// next task at once instead of waiting a round trip (with big tiles, the transfer).
    pub fn slots(&self, accepting: bool) -> u32 {
        if accepting { self.active_threads() * TASKS_PER_THREAD } else { 0 }
    }

    /// Threads computing a task right now.
    pub fn busy_threads(&self) -> u32 {
        self.shared.lock().busy
    }

    /// Tasks waiting for a thread.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Tasks the pool holds: queued, running, or done but not yet forwarded.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().live.len()
    }

    /// Queues a task. A task id that is already live is replaced: only the new submission's
    /// outcome will be forwarded.
    pub fn submit(&self, task: Task) {
        let mut state = self.shared.lock();
        if state.shutdown {
            return;
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.live.insert(task.id, ticket);
        state.queue.push_back((task, ticket));
        drop(state);
        self.shared.wake.notify_all();
    }

    /// Cancels tasks: queued ones are removed, running ones will not be reported. Returns how
    /// many of the ids were live; unknown ids (already finished) are ignored.
    pub fn cancel(&self, ids: &[TaskId]) -> u32 {
        let mut state = self.shared.lock();
        let mut cancelled = 0;
        for id in ids {
            if state.live.remove(id).is_some() {
                cancelled += 1;
            }
        }
        if cancelled > 0 {
            let State { queue, live, .. } = &mut *state;
            queue.retain(|(task, ticket)| live.get(&task.id) == Some(ticket));
        }
        cancelled
    }

    /// Drops every task (a stop, a disable, a lost connection). Returns how many were live.
    pub fn clear(&self) -> u32 {
        let mut state = self.shared.lock();
        let dropped = state.live.len() as u32;
        state.live.clear();
        state.queue.clear();
        dropped
    }

    /// Claims a completed task for sending. True when it is still live, and then it is no
    /// longer; false when it was cancelled or cleared after it was computed.
    pub fn finish(&self, done: &Completed) -> bool {
        let mut state = self.shared.lock();
        if !state.shutdown && state.live.get(&done.task_id) == Some(&done.ticket) {
            state.live.remove(&done.task_id);
            true
        } else {
            false
        }
    }

    /// A stopper that another owner can use to halt this pool.
    pub fn stopper(&self) -> PoolStopper {
        PoolStopper(Arc::clone(&self.shared))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        stop(&self.shared);
    }
}

fn thread_main(shared: &Shared, index: u32) {
    loop {
        let (task, ticket) = {
            let mut state = shared.lock();
            loop {
                if state.shutdown {
                    return;
                }
                if index < state.active
                    && let Some((task, ticket)) = state.queue.pop_front()
                {
                    if state.live.get(&task.id) == Some(&ticket) {
                        state.busy += 1;
                        break (task, ticket);
                    }
                    continue;
                }
                state = shared.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let outcome = (shared.compute)(&task.kind);
        let mut state = shared.lock();
        state.busy -= 1;
        if state.shutdown {
            return;
        }
        if state.live.get(&task.id) == Some(&ticket) {
            // The receiver is gone only when the worker is being torn down.
            let _ = shared.results.send(Completed { task_id: task.id, ticket, outcome });
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
