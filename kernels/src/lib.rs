//! Compute kernels shared by the browser worker, the native worker and the coordinator.
//!
//! Everything here is plain, dependency-free Rust that compiles both natively and for
//! `wasm32-unknown-unknown`: no threads, no clocks, no `unsafe`. Kernels receive data from
//! untrusted devices, so every entry point validates its input and returns a [`KernelError`]
//! instead of panicking.
//!
//! - [`rng`] and [`seeded`]: deterministic pseudo-random numbers and matrices.
//! - [`matmul`]: a cache-blocked f32 matrix product and a naive f64 reference.
//! - [`freivalds`]: cheap probabilistic verification of a claimed product tile.
//! - [`mandelbrot`]: escape-time rendering, spot checks and colouring.
//! - [`benchmark`]: a fixed workload for scoring devices (the caller does the timing).
//! - [`wgsl`]: the WebGPU compute shader for the matrix product.
//! - [`npy`]: NumPy `.npy` encoding of result matrices.

pub mod benchmark;
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
pub use error::KernelError;
pub use freivalds::verify_matmul_tile;
pub use mandelbrot::{View, colorize, iterations_at, render_tile, spot_check, total_iterations};
pub use matmul::{matmul_flops, matmul_reference, matmul_tile};
pub use npy::{decode_npy_f32, encode_npy_f32};
pub use rng::SplitMix64;
pub use seeded::{STREAM_A, STREAM_B, seeded_matrix};
pub use task::run_task;
pub use wgsl::{MATMUL_WGSL, MATMUL_WORKGROUP, matmul_dispatch};
