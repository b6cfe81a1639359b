//! The browser's compute side: a pool of Web Workers that run the kernels crate compiled to
//! wasm, on WebGPU where the browser offers it and on the CPU otherwise.
//!
//! The page owns a [`ComputePool`]; every worker runs [`worker_main`] from the same wasm
//! module. Page and workers talk in bytes: [`messages`] holds the two message enums, encoded
//! with the protocol's codec. The pool's decisions (which worker gets which task, when a
//! worker is started, retired or replaced) live in the plain [`scheduler::Scheduler`],
//! which the unit tests drive natively; `pool.rs` only carries them out on real workers.
//!
//! - [`cpu`]: runs a task's kernel and the benchmark, on any target.
//! - `gpu` (wasm only): the WebGPU matrix product.
//! - `selftest` (wasm only): `self_test_kernels`, the in-browser check that the WebGPU and
//!   CPU kernels agree, exported to JavaScript.
//! - `user_kernel` (wasm only): a user's WebAssembly kernel run inside a compute worker,
//!   instantiated with nothing to import, stopped at its time limit by terminating the
//!   worker.

pub mod cpu;
pub mod messages;
mod pool;
pub mod scheduler;
mod worker;

#[cfg(target_arch = "wasm32")]
mod gpu;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod selftest;
#[cfg(target_arch = "wasm32")]
mod user_kernel;

use ostrich_protocol::{KernelReport, ModuleHash, TaskId, TaskOutput};
use serde::{Deserialize, Serialize};

pub use pool::ComputePool;
#[cfg(target_arch = "wasm32")]
pub use selftest::{self_test_kernels, self_test_kernels_sized};
pub use worker::worker_main;

/// Which kernel path the user wants for matrix products (`?kernel=`, kept in the browser).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum KernelPreference {
    /// Measure every path and use the fastest (the default).
    #[default]
    Auto,
    /// The CPU only; WebGPU is not even probed.
    Cpu,
    /// WebGPU whenever there is an adapter, even a software one that measures slower.
    Gpu,
}

impl KernelPreference {
    /// Reads `?kernel=` or the stored value: "cpu", "gpu" (or "webgpu"), anything else is auto.
    pub fn parse(value: &str) -> Self {
        match value.to_ascii_lowercase().as_str() {
            "cpu" => Self::Cpu,
            "gpu" | "webgpu" => Self::Gpu,
            _ => Self::Auto,
        }
    }

    /// The value for the URL and the browser's storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        }
    }
}

/// What the pool tells the app.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolEvent {
    /// Every kernel path is measured and the matmul path chosen, or the choice changed (a
    /// GPU failure). `threads` is the CPU worker count asked for when it was sent.
    Kernels(KernelReport),
    /// The join benchmark finished.
    Benchmark {
        /// Millions of f32 operations per second, as [`ostrich_kernels::ops_score`] gives it.
        ops_score: u32,
    },
    /// A task was computed.
    Done {
        /// The task.
        task_id: TaskId,
        /// Its result, for the coordinator to verify.
        output: TaskOutput,
    },
    /// A task could not be computed (bad input or a crashed worker).
    Failed {
        /// The task.
        task_id: TaskId,
        /// Why, for the coordinator's log.
        reason: String,
    },
    /// The number of live CPU workers changed.
    Threads {
        /// CPU workers that are started or starting and not about to retire.
        running: u32,
    },
    /// Tasks wait for a user kernel the pool does not hold: ask the coordinator for it
    /// (`ToCoordinator::FetchModule`) and hand it over with
    /// [`ComputePool::module_arrived`]. Asked once per module.
    NeedModule(ModuleHash),
}

/// The number of CPU workers for a device with `logical_cores` at `throttle` percent.
///
/// `max(1, cores − reserved) × throttle / 100`, rounded, where `reserved` keeps a core or
/// two for the page and the browser: 2 above 8 cores, 1 otherwise. Any throttle above 0
/// gives at least one worker; throttle 0 gives none, and values above 100 count as 100.
pub fn thread_count(logical_cores: u32, throttle: u8) -> u32 {
    let throttle = u32::from(throttle.min(100));
    if throttle == 0 {
        return 0;
    }
    let reserved = if logical_cores > 8 { 2 } else { 1 };
    let usable = u64::from(logical_cores.saturating_sub(reserved).max(1));
    // At most usable × 100 / 100, so the result fits back in a u32.
    ((usable * u64::from(throttle) + 50) / 100).max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::{KernelPreference, thread_count};

    #[test]
    fn full_throttle_keeps_one_core_up_to_eight_and_two_above() {
        assert_eq!(thread_count(1, 100), 1);
        assert_eq!(thread_count(2, 100), 1);
        assert_eq!(thread_count(4, 100), 3);
        assert_eq!(thread_count(8, 100), 7);
        assert_eq!(thread_count(9, 100), 7);
        assert_eq!(thread_count(16, 100), 14);
    }

    #[test]
    fn throttle_scales_rounds_and_keeps_one_worker() {
        assert_eq!(thread_count(8, 50), 4, "7 × 0.5 = 3.5 rounds up");
        assert_eq!(thread_count(16, 25), 4, "14 × 0.25 = 3.5 rounds up");
        assert_eq!(thread_count(16, 20), 3, "14 × 0.2 = 2.8");
        assert_eq!(thread_count(4, 10), 1, "0.3 still gets one worker");
        assert_eq!(thread_count(64, 1), 1);
    }

    #[test]
    fn throttle_zero_pauses_and_odd_inputs_are_clamped() {
        assert_eq!(thread_count(16, 0), 0);
        assert_eq!(thread_count(0, 0), 0);
        assert_eq!(thread_count(0, 100), 1, "an unknown core count still computes");
        assert_eq!(thread_count(8, 255), 7, "throttle above 100 counts as 100");
        assert_eq!(thread_count(u32::MAX, 100), u32::MAX - 2);
    }

    #[test]
    fn kernel_preferences_read_what_the_links_and_users_write() {
        assert_eq!(KernelPreference::parse("CPU"), KernelPreference::Cpu);
        assert_eq!(KernelPreference::parse("webgpu"), KernelPreference::Gpu);
        assert_eq!(KernelPreference::parse("auto"), KernelPreference::Auto);
        assert_eq!(KernelPreference::parse("nonsense"), KernelPreference::Auto);
        for preference in [KernelPreference::Auto, KernelPreference::Cpu, KernelPreference::Gpu] {
            assert_eq!(KernelPreference::parse(preference.as_str()), preference);
        }
    }
}
