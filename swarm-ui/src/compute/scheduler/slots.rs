//! The scheduler's bookkeeping: starting, retiring and replacing workers, and choosing and
//! reporting the matmul path.

use ostrich_protocol::{KernelReport, MatmulPath, choose_matmul_path};

use super::{Effect, Phase, Role, Scheduler, Slot, SlotId};
use crate::compute::messages::ToWorker;
use crate::compute::{KernelPreference, PoolEvent};

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

    /// The GPU cannot be used: it is not tried again, and matrix products go to the CPU.
    pub(super) fn gpu_failed(&mut self, line: &str) {
        self.gpu_wanted = false;
        self.gpu = None;
        self.log(line.to_owned());
        self.choose();
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

    /// Chooses the matmul path once every path wanted is measured, lets go of a GPU that
    /// is not used, and tells the app when the report is new or changed.
    pub(super) fn choose(&mut self) {
        let Some(per_thread) = self.cpu_thread_mflops else {
            return;
        };
        if self.gpu_wanted && !self.gpu_timed {
            return;
        }
        let cpu_mflops = per_thread.saturating_mul(self.full_threads);
        let (path, forced) = match (self.preference, &self.gpu) {
            (KernelPreference::Cpu, _) => (MatmulPath::Cpu, true),
            (KernelPreference::Gpu, Some(_)) => (MatmulPath::Gpu, true),
            (_, gpu) => (choose_matmul_path(cpu_mflops, gpu.as_ref()), false),
        };
        self.path = path;
        if !path.uses_gpu() && self.gpu_wanted {
            self.gpu_wanted = false;
            let unused: Vec<SlotId> = self.slots.iter().filter(|s| s.role == Role::Gpu).map(|s| s.id).collect();
            for id in unused {
                self.terminate(id);
            }
        }
        let report = KernelReport { threads: self.threads, cpu_mflops, gpu: self.gpu.clone(), matmul: path, forced };
        if self.reported.as_ref() != Some(&report) {
            self.reported = Some(report.clone());
            self.effects.push(Effect::Emit(PoolEvent::Kernels(report)));
        }
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
        self.slots.push(Slot { id, role, phase: Phase::Starting, retiring: false, modules: Vec::new() });
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
