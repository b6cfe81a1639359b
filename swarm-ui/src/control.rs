//! The browser worker's decisions, as a plain struct: given what the coordinator and the
//! user said, how many pool threads to run, how many task slots to ask for, and what to do
//! with tasks and results. [`crate::session`] carries the [`Effect`]s out on the real pool
//! and socket; the unit tests drive this struct alone.

use std::collections::BTreeSet;

use ostrich_protocol::{RunState, Task, TaskId, TaskOutput, ToCoordinator, ToDevice, Welcome};

use crate::compute::thread_count;

/// Something the session must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Grow or shrink the pool to this many workers.
    SetThreads(u32),
    /// Send a frame to the coordinator.
    Send(ToCoordinator),
    /// Hand a task to the pool.
    Submit(Task),
    /// Drop these tasks from the pool.
    Cancel(Vec<TaskId>),
    /// Terminate everything the pool runs or holds.
    StopAll,
}

/// Why this device asks for no new work, apart from the swarm and the master: tasks in flight
/// finish either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// The user paused it here.
    Local,
    /// Its page is hidden (another tab, a locked phone): the browser throttles or freezes
    /// it, and tasks held there would only wait for their lease to expire.
    Hidden,
    /// Its power policy (on battery, or below its level).
    Power,
}

impl Pause {
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The worker loop's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerControl {
    cores: u32,
    throttle: u8,
    run_state: RunState,
    enabled: bool,
    /// The [`Pause`]s in force, one bit each.
    paused: u8,
    computing: bool,
    connected: bool,
    threads: Option<u32>,
    slots: Option<u32>,
    in_flight: BTreeSet<TaskId>,
}

impl WorkerControl {
    /// A worker with `cores` logical cores, not yet welcomed.
    pub fn new(cores: u32) -> Self {
        Self {
            cores,
            throttle: 100,
            run_state: RunState::Idle,
            enabled: true,
            paused: 0,
            computing: true,
            connected: false,
            threads: None,
            slots: None,
            in_flight: BTreeSet::new(),
        }
    }

    /// Pool threads wanted now: the throttled thread count, or none while the device is
    /// disabled, the swarm stopped or the master's "Compute here" is off (busy workers finish
    /// their task first). Pauses keep the threads, so tasks in flight finish.
    pub fn wanted_threads(&self) -> u32 {
        let runs = self.enabled && self.computing && self.run_state != RunState::Stopped;
        if runs { thread_count(self.cores, self.throttle) } else { 0 }
    }

    /// Task slots to ask for now: one per thread while the swarm runs (or idles), the device
    /// is enabled and no [`Pause`] holds; otherwise none.
    pub fn wanted_slots(&self) -> u32 {
        if self.run_state.wants_work(self.enabled) && self.paused == 0 { self.wanted_threads() } else { 0 }
    }

    /// Tasks handed to the pool and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// A session was welcomed: adopt its settings and ask for work afresh.
    pub fn welcomed(&mut self, welcome: &Welcome) -> Vec<Effect> {
        self.throttle = welcome.throttle.min(100);
        self.run_state = welcome.run_state;
        self.enabled = welcome.enabled;
        self.connected = true;
        self.slots = None;
        self.reconcile()
    }

    /// The session ended: the coordinator requeues its leases, so nothing in the pool counts.
    pub fn disconnected(&mut self) -> Vec<Effect> {
        self.connected = false;
        self.slots = None;
        self.in_flight.clear();
        vec![Effect::StopAll]
    }

    /// Sets or lifts one reason to ask for no new work; tasks in flight finish.
    pub fn set_paused(&mut self, why: Pause, paused: bool) -> Vec<Effect> {
        if paused {
            self.paused |= why.bit()
        } else {
            self.paused &= !why.bit()
        }
        self.reconcile()
    }

    /// The master turned "Compute here" on or off. Off, the pool keeps no threads and asks
    /// for nothing; tasks in flight finish and are sent.
    pub fn set_computing(&mut self, on: bool) -> Vec<Effect> {
        self.computing = on;
        self.reconcile()
    }

    /// Applies a message from the coordinator.
    pub fn on_message(&mut self, message: &ToDevice) -> Vec<Effect> {
        let mut effects = Vec::new();
        match message {
            ToDevice::Assign { tasks } => {
                for task in tasks {
                    if self.in_flight.insert(task.id) {
                        effects.push(Effect::Submit(task.clone()));
                    }
                }
            }
            ToDevice::Cancel { task_ids } => {
                let held: Vec<TaskId> = task_ids.iter().copied().filter(|id| self.in_flight.remove(id)).collect();
                if !held.is_empty() {
                    effects.push(Effect::Cancel(held));
                }
            }
            ToDevice::Throttle { percent } => self.throttle = (*percent).min(100),
            ToDevice::RunState { state } => {
                self.run_state = *state;
                if *state == RunState::Stopped {
                    self.in_flight.clear();
                    effects.push(Effect::StopAll);
                }
            }
            ToDevice::DeviceEnabled { enabled } => {
                self.enabled = *enabled;
                if !enabled {
                    self.in_flight.clear();
                    effects.push(Effect::StopAll);
                }
            }
            _ => return effects,
        }
        effects.extend(self.reconcile());
        effects
    }

    /// The pool computed a task: the result to send, if the task is still ours.
    pub fn done(&mut self, task_id: TaskId, output: TaskOutput) -> Option<ToCoordinator> {
        self.finish(task_id).then_some(ToCoordinator::TaskResult { task_id, output })
    }

    /// The pool could not compute a task: the report to send, if the task is still ours.
    pub fn failed(&mut self, task_id: TaskId, reason: String) -> Option<ToCoordinator> {
        self.finish(task_id).then_some(ToCoordinator::TaskFailed { task_id, reason })
    }

    fn finish(&mut self, task_id: TaskId) -> bool {
        self.connected && self.in_flight.remove(&task_id)
    }

    /// Resizes the pool and asks for the slots wanted now, each only when it changed.
    fn reconcile(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        let threads = self.wanted_threads();
        if self.threads != Some(threads) {
            self.threads = Some(threads);
            effects.push(Effect::SetThreads(threads));
        }
        let slots = self.wanted_slots();
        if self.connected && self.slots != Some(slots) {
            self.slots = Some(slots);
            effects.push(Effect::Send(ToCoordinator::WorkRequest { slots }));
        }
        effects
    }
}

#[cfg(test)]
mod tests;
