//! What a device measured of its kernel paths, and which one it uses for matrix products.
//!
//! Each device times every path it has when it joins (the CPU pool, a WebGPU adapter) and
//! chooses by the figures; it reports both in a [`KernelReport`], which the master's device
//! table shows. Mandelbrot tiles always run on the CPU: there is no GPU kernel for them.

use serde::{Deserialize, Serialize};

use crate::GpuInfo;

/// Where a device runs matrix-product tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatmulPath {
    /// The CPU workers (wasm SIMD in a browser, native threads on a native worker).
    Cpu,
    /// The WebGPU adapter alone.
    Gpu,
    /// Both at once: the GPU and the CPU workers each take tiles.
    Both,
}

impl MatmulPath {
    /// Whether tiles go to the GPU.
    pub fn uses_gpu(self) -> bool {
        matches!(self, Self::Gpu | Self::Both)
    }

    /// Whether tiles go to the CPU workers.
    pub fn uses_cpu(self) -> bool {
        matches!(self, Self::Cpu | Self::Both)
    }

    /// The name the device table and the worker view show.
    pub fn label(self) -> &'static str {
        match self {
            Self::Cpu => "CPU",
            Self::Gpu => "WebGPU",
            Self::Both => "WebGPU + CPU",
        }
    }
}

/// A GPU adapter and what its matrix product measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuPath {
    /// The adapter.
    pub info: GpuInfo,
    /// MFLOP/s of the WebGPU matrix product on the reference tile; 0 when it could not be
    /// timed.
    pub mflops: u32,
}

/// A device's kernel paths, their figures and its choice. Sent after the join benchmark and
/// again whenever the choice or the thread count changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelReport {
    /// CPU compute threads running now (0 while paused by throttle, disable or stop).
    pub threads: u32,
    /// MFLOP/s of the CPU matrix product with every thread the device has at full throttle
    /// (one thread's benchmark × that thread count).
    pub cpu_mflops: u32,
    /// The GPU path, where the device has an adapter.
    pub gpu: Option<GpuPath>,
    /// Where matrix products run.
    pub matmul: MatmulPath,
    /// True when the user chose the path (`?kernel=cpu` or `?kernel=gpu`), not the figures.
    pub forced: bool,
}

/// How much faster a path must measure to be preferred over another: a tenth, so that noise
/// between two close figures does not decide.
pub const PREFER_MARGIN: f64 = 1.1;

/// The path a device with these figures uses when the user has not forced one.
///
/// - No adapter: the CPU.
/// - A software (fallback) adapter runs on the same cores as the CPU workers, so it never
///   runs beside them, and it is chosen only when it measures [`PREFER_MARGIN`] faster.
/// - A hardware adapter and the CPU run together when the slower of the two adds at least a
///   tenth of the faster one's rate; otherwise the faster one runs alone.
pub fn choose_matmul_path(cpu_mflops: u32, gpu: Option<&GpuPath>) -> MatmulPath {
    let Some(gpu) = gpu.filter(|g| g.mflops > 0) else {
        return MatmulPath::Cpu;
    };
    let (cpu, gpu_rate) = (f64::from(cpu_mflops), f64::from(gpu.mflops));
    if gpu.info.fallback {
        return if gpu_rate > cpu * PREFER_MARGIN { MatmulPath::Gpu } else { MatmulPath::Cpu };
    }
    let (slow, fast) = if cpu < gpu_rate { (cpu, gpu_rate) } else { (gpu_rate, cpu) };
    if slow * 10.0 >= fast {
        MatmulPath::Both
    } else if gpu_rate > cpu {
        MatmulPath::Gpu
    } else {
        MatmulPath::Cpu
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(mflops: u32, fallback: bool) -> GpuPath {
        let info = GpuInfo { vendor: "v".into(), description: "d".into(), fallback };
        GpuPath { info, mflops }
    }

    #[test]
    fn without_an_adapter_or_a_timed_one_the_cpu_runs_matrix_products() {
        assert_eq!(choose_matmul_path(1_000, None), MatmulPath::Cpu);
        assert_eq!(choose_matmul_path(1_000, Some(&gpu(0, false))), MatmulPath::Cpu);
    }

    #[test]
    fn a_software_adapter_is_chosen_only_when_it_measures_a_tenth_faster_and_never_beside_the_cpu() {
        // The phone of the issue: SwiftShader 7× slower than its CPU.
        assert_eq!(choose_matmul_path(21_700, Some(&gpu(3_000, true))), MatmulPath::Cpu);
        assert_eq!(choose_matmul_path(1_000, Some(&gpu(1_050, true))), MatmulPath::Cpu, "within the margin");
        assert_eq!(choose_matmul_path(1_000, Some(&gpu(1_200, true))), MatmulPath::Gpu);
    }

    #[test]
    fn a_hardware_adapter_runs_beside_the_cpu_while_both_add_a_tenth() {
        assert_eq!(choose_matmul_path(2_000, Some(&gpu(10_000, false))), MatmulPath::Both);
        assert_eq!(choose_matmul_path(900, Some(&gpu(10_000, false))), MatmulPath::Gpu);
        assert_eq!(choose_matmul_path(10_000, Some(&gpu(900, false))), MatmulPath::Cpu);
        assert_eq!(choose_matmul_path(10_000, Some(&gpu(1_000, false))), MatmulPath::Both);
    }

    #[test]
    fn labels_name_what_runs() {
        assert_eq!(MatmulPath::Both.label(), "WebGPU + CPU");
        assert!(MatmulPath::Both.uses_cpu() && MatmulPath::Both.uses_gpu());
        assert!(!MatmulPath::Cpu.uses_gpu() && !MatmulPath::Gpu.uses_cpu());
    }
}
