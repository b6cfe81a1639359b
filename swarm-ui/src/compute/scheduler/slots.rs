//! The scheduler's bookkeeping: starting, retiring and replacing workers, and recording
//! the kernel in use.

use ostrich_protocol::GpuInfo;

use super::{Effect, Phase, Role, Scheduler, Slot, SlotId};
use crate::compute::messages::ToWorker;
use crate::compute::{KernelKind, PoolEvent};

impl Scheduler {
    /// A slot's task is over: the worker takes the next one, or leaves if it was retiring.
    pub(super) fn finished(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.phase = Phase::Idle;
        if slot.retiring {
            let id = slot.id;
            self.terminate(id);
        }
    }

    /// Terminates a worker and starts a fresh one in its role, unless it was retiring.
    pub(super) fn replace(&mut self, id: SlotId) {
        let Some(slot) = self.slots.iter().find(|s| s.id == id) else {
            return;
        };
        let (role, retiring) = (slot.role, slot.retiring);
        self.terminate(id);
        match role {
            Role::Cpu | Role::Gpu if !retiring => self.spawn(role),
            _ => {}
        }
    }

    pub(super) fn gpu_failed(&mut self, line: &str) {
        self.gpu_wanted = false;
        self.log(line.to_owned());
        self.set_kernel(KernelKind::Cpu, None);
    }

    /// Sends the GPU probe to a loaded GPU worker once no benchmark is running.
    pub(super) fn probe_gpu(&mut self) {
        if self.slots.iter().any(|s| s.role == Role::Benchmark) {
            return;
        }
        for slot in self.slots.iter_mut().filter(|s| s.role == Role::Gpu && s.phase == Phase::Loaded) {
            slot.phase = Phase::Setup;
            self.effects.push(Effect::Send(slot.id, ToWorker::ProbeGpu));
        }
    }

    /// Records the kernel in use and tells the app when it is new or changed.
    pub(super) fn set_kernel(&mut self, kernel: KernelKind, gpu: Option<GpuInfo>) {
        if self.ready_sent && self.kernel == kernel && self.gpu == gpu {
            return;
        }
        self.ready_sent = true;
        self.kernel = kernel;
        self.gpu.clone_from(&gpu);
        self.effects.push(Effect::Emit(PoolEvent::Ready { kernel, gpu }));
    }

    /// Live CPU workers: started or starting, and not retiring.
    pub(super) fn running(&self) -> u32 {
        self.slots.iter().filter(|s| s.role == Role::Cpu && !s.retiring).count() as u32
    }

    pub(super) fn spawn(&mut self, role: Role) {
        if role == Role::Gpu && !self.gpu_wanted {
            return;
        }
        let id = self.next_slot;
        self.next_slot += 1;
        self.slots.push(Slot { id, role, phase: Phase::Starting, retiring: false });
        self.effects.push(Effect::Spawn(id));
    }

    pub(super) fn terminate(&mut self, id: SlotId) {
        self.slots.retain(|s| s.id != id);
        self.effects.push(Effect::Terminate(id));
    }

    pub(super) fn log(&mut self, line: String) {
        self.effects.push(Effect::Log(line));
    }
}

impl Slot {
    pub(super) fn is_busy(&self) -> bool {
        matches!(self.phase, Phase::Busy(_))
    }
}
