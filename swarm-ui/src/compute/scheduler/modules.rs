//! User kernels in the pool: tasks wait until their module arrives (asked for once per
//! module through [`PoolEvent::NeedModule`]), each worker is given a module's bytes with
//! its first task of it, and a task still running at its time limit loses its worker.

use ostrich_protocol::{ModuleHash, Task, TaskId, TaskKind};

use super::{Effect, Phase, Scheduler, SlotId};
use crate::compute::PoolEvent;

/// Modules kept; an older one is asked for again if a task needs it.
const KEPT_MODULES: usize = 16;

impl Scheduler {
    /// A wasm task whose module the pool does not hold waits for it (and the first such
    /// task asks for it); any other task is handed back to be queued.
    pub(super) fn park_without_module(&mut self, task: Task) -> Option<Task> {
        let TaskKind::Wasm { module, .. } = &task.kind else { return Some(task) };
        if self.modules.contains_key(module) {
            return Some(task);
        }
        let module = *module;
        let waiting = self.parked.entry(module).or_default();
        let first = waiting.is_empty();
        waiting.push(task);
        if first {
            self.effects.push(Effect::Emit(PoolEvent::NeedModule(module)));
        }
        None
    }

    /// The coordinator answered for a module: its waiting tasks are queued, or fail with
    /// the coordinator's reason.
    pub fn module_arrived(&mut self, module: ModuleHash, bytes: Result<Vec<u8>, String>) {
        let waiting = self.parked.remove(&module).unwrap_or_default();
        match bytes {
            Ok(bytes) => {
                if self.modules.len() >= KEPT_MODULES {
                    let old = self.modules.keys().copied().find(|m| !self.parked.contains_key(m));
                    if let Some(old) = old {
                        self.modules.remove(&old);
                        self.slots.iter_mut().for_each(|s| s.modules.retain(|m| *m != old));
                    }
                }
                self.modules.insert(module, bytes);
                self.queue.extend(waiting);
            }
            Err(reason) => {
                for task in waiting {
                    let reason = format!("module {module} unavailable: {reason}");
                    self.effects.push(Effect::Emit(PoolEvent::Failed { task_id: task.id, reason }));
                }
            }
        }
        self.pump();
    }

    /// A user kernel's time limit passed: if its worker still runs it, the worker is
    /// terminated and replaced, and the task fails with the reason.
    pub fn time_limit(&mut self, id: SlotId, task_id: TaskId, limit_ms: u32) {
        let running = self.slots.iter().any(|s| s.id == id && s.phase == Phase::Busy(task_id));
        if !running {
            return;
        }
        let reason = format!("the task ran past its time limit of {limit_ms} ms; its worker was stopped");
        self.effects.push(Effect::Emit(PoolEvent::Failed { task_id, reason }));
        self.replace(id);
        self.pump();
    }
}
