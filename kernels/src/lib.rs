//! Compute kernels shared by the browser worker, the native worker and the coordinator.
//!
//! Everything here compiles both natively and for `wasm32-unknown-unknown`: no threads, no
//! clocks. Natively the matrix product is the `gemm` crate and Mandelbrot dispatches on the
//! CPU's features with `pulp`, so one binary uses AVX-512, AVX2 or SSE2 as the CPU allows
//! ([`cpu`]); the one `unsafe` block is the call into `gemm`. Kernels receive data from
//! untrusted devices, so every entry point validates its input and returns a [`KernelError`]
//! instead of panicking.
//!
//! - [`rng`] and [`seeded`]: deterministic pseudo-random numbers and matrices.
//! - [`matmul`]: the f32 matrix product (`gemm` natively, a portable cache-blocked kernel in
//!   wasm) and a naive f64 reference.
//! - [`freivalds`]: cheap probabilistic verification of a claimed product tile.
//! - [`mandelbrot`]: escape-time rendering (several pixels per SIMD register, bit-identical
//!   to the scalar reference), spot checks and colouring.
//! - [`cpu`]: the SIMD instruction set the kernels use on this machine.
//! - [`benchmark`]: a fixed workload for scoring devices (the caller does the timing).
//! - [`wgsl`]: the WebGPU compute shader for the matrix product.
//! - [`npy`]: NumPy `.npy` encoding of result matrices.

pub mod benchmark;
pub mod cpu;
pub mod freivalds;
pub mod mandelbrot;
pub mod matmul;
pub mod npy;
pub mod rng;
pub mod seeded;
pub mod task;
pub mod wgsl;

mod error;

pub use benchmark::{BENCHMARK_SIZE, benchmark_kernel, ops_score};
#[cfg(target_arch = "x86_64")]
pub use cpu::X86Level;
pub use cpu::simd_level;
pub use error::KernelError;
pub use freivalds::verify_matmul_tile;
pub use mandelbrot::{View, colorize, iterations_at, render_tile, spot_check, total_iterations};
pub use matmul::{matmul_flops, matmul_reference, matmul_tile};
pub use npy::{decode_npy_f32, encode_npy_f32};
pub use rng::SplitMix64;
pub use seeded::{STREAM_A, STREAM_B, seeded_matrix};
pub use task::run_task;
pub use wgsl::{MATMUL_WGSL, MATMUL_WORKGROUP, matmul_dispatch};
