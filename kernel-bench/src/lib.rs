//! Kernel throughput, measured by one piece of code for every build: `cargo xtask bench
//! kernels` runs it natively (the `kernel-bench` binary) and in wasm under Node (the
//! [`wasm`] exports), so the two figures differ only by the compiler target.
//!
//! Kernels cannot read a clock, so every function here takes `now`, a monotonic clock in
//! seconds: `Instant` natively, `performance.now()` in wasm.

use ostrich_kernels::{
    View, iterations_at, matmul::matmul_tile_portable, matmul_flops, matmul_tile, render_tile, seeded_matrix,
    total_iterations,
};
use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
pub mod wasm;

/// The side of the square matrices of the matmul measurement: a 256×256 output tile with
/// k = 256, the size of a typical task.
pub const MATMUL_SIZE: usize = 256;

/// The side of the large product measured natively, against NumPy (BENCHMARKS.md).
pub const LARGE_MATMUL_SIZE: usize = 2048;

/// The side of the Mandelbrot tile rendered by the measurement.
pub const MANDELBROT_TILE: u32 = 256;

/// How long each round of a measurement repeats its kernel, at least.
pub const MIN_SECONDS: f64 = 0.5;

/// Rounds per measurement; the fastest counts, so a burst of load elsewhere on the machine
/// lowers one round rather than the figure.
pub const ROUNDS: usize = 3;

/// The Mandelbrot view of the measurement, rendered whole as one tile: the period-3
/// minibrot on the real axis at zoom 60. No pixel lies in the main cardioid or the period-2
/// bulb (which are short-cut without iterating); about 15 % lie in the minibrot and run all
/// 4096 iterations, the rest escape after a few to a few thousand.
pub const MANDELBROT_VIEW: View = View {
    width: MANDELBROT_TILE,
    height: MANDELBROT_TILE,
    center_re: -1.7549,
    center_im: 0.0,
    zoom: 60.0,
    max_iter: 4096,
};

/// One measured rate, as printed by both builds (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Which kernel: `matmul` (the fastest product of the target), `matmul-portable` (the
    /// browser's kernel, built natively), `mandelbrot` (vectorised) or `mandelbrot-scalar`
    /// (one pixel at a time: the reference, and the kernel before lanes).
    pub kernel: String,
    /// The work per call, in words (dimensions, view).
    pub shape: String,
    /// The rate: GFLOP/s for matmul, iterations per second for Mandelbrot.
    pub rate: f64,
    /// Kernel calls timed.
    pub calls: u32,
    /// Seconds the timed calls took.
    pub seconds: f64,
    /// The SIMD instruction set the kernels ran on ([`ostrich_kernels::simd_level`]).
    pub simd: String,
}

/// A matrix product to measure: [`matmul_tile`] or the portable kernel.
pub type Product = fn(&[f32], &[f32], usize, usize, usize) -> Result<Vec<f32>, ostrich_kernels::KernelError>;

/// Multiplies two seeded `size`×`size` matrices with `product` until `min_seconds` have
/// passed; answers the rate in GFLOP/s, counting `2·size³` flops per call.
pub fn matmul_gflops(
    kernel: &str,
    product: Product,
    size: usize,
    min_seconds: f64,
    now: &dyn Fn() -> f64,
) -> Measurement {
    let a = seeded_matrix(1, ostrich_kernels::STREAM_A, size * size);
    let b = seeded_matrix(1, ostrich_kernels::STREAM_B, size * size);
    let flops = matmul_flops(size, size, size);
    let (calls, seconds, total) = repeat(min_seconds, now, || {
        let c = product(&a, &b, size, size, size).expect("square operands match their dimensions");
        std::hint::black_box(c);
        flops
    });
    let rate = total / seconds / 1e9;
    let shape = format!("{size}×{size}×{size}");
    Measurement { kernel: kernel.into(), shape, rate, calls, seconds, simd: ostrich_kernels::simd_level().into() }
}

/// A way to render a Mandelbrot tile: the view and the side of the tile at its top left.
pub type Render<'a> = &'a dyn Fn(&View, u32) -> Vec<u32>;

/// [`render_tile`], the vectorised rendering with the CPU's widest instructions.
pub fn vectorised(view: &View, tile: u32) -> Vec<u32> {
    render_tile(view, 0, 0, tile, tile).expect("the tile lies inside a valid view")
}

/// One [`iterations_at`] call per pixel: the reference, and the kernel before lanes.
pub fn scalar(view: &View, tile: u32) -> Vec<u32> {
    (0..tile).flat_map(|py| (0..tile).map(move |px| iterations_at(view, px, py))).collect()
}

/// Renders the top-left `tile`×`tile` pixels of `view` with `render` until `min_seconds`
/// have passed; answers the rate in escape-time iterations per second (the sum of the
/// returned counts).
pub fn mandelbrot_iters_per_sec(
    kernel: &str,
    render: Render,
    view: &View,
    tile: u32,
    min_seconds: f64,
    now: &dyn Fn() -> f64,
) -> Measurement {
    let (calls, seconds, iterations) = repeat(min_seconds, now, || total_iterations(&render(view, tile)) as f64);
    let per_tile = iterations / f64::from(calls);
    let shape = format!("{tile}×{tile} px, max_iter {}, {per_tile:.0} iterations per tile", view.max_iter);
    let simd = ostrich_kernels::simd_level().into();
    Measurement { kernel: kernel.into(), shape, rate: iterations / seconds, calls, seconds, simd }
}

/// Every measurement at its standard size, the fastest of [`ROUNDS`] rounds each, as JSON
/// lines. The large product and the portable kernel are measured natively only: in wasm
/// the portable kernel is [`matmul_tile`] itself.
pub fn report(now: &dyn Fn() -> f64) -> String {
    let best = |round: &dyn Fn() -> Measurement| {
        (0..ROUNDS).map(|_| round()).max_by(|x, y| x.rate.total_cmp(&y.rate)).expect("at least one round")
    };
    let mut results = vec![best(&|| matmul_gflops("matmul", matmul_tile, MATMUL_SIZE, MIN_SECONDS, now))];
    if cfg!(not(target_arch = "wasm32")) {
        results.push(best(&|| matmul_gflops("matmul", matmul_tile, LARGE_MATMUL_SIZE, MIN_SECONDS, now)));
        results.push(best(&|| matmul_gflops("matmul-portable", matmul_tile_portable, MATMUL_SIZE, MIN_SECONDS, now)));
    }
    let mandelbrot = |kernel: &str, render: Render| {
        best(&|| mandelbrot_iters_per_sec(kernel, render, &MANDELBROT_VIEW, MANDELBROT_TILE, MIN_SECONDS, now))
    };
    results.push(mandelbrot("mandelbrot", &vectorised));
    results.push(mandelbrot("mandelbrot-scalar", &scalar));
    // The code of each x86-64 level this CPU runs, as a CPU without the wider ones would.
    #[cfg(target_arch = "x86_64")]
    for level in ostrich_kernels::X86Level::ALL.into_iter().filter(|level| level.is_available()) {
        let render = move |view: &View, tile: u32| {
            ostrich_kernels::mandelbrot::render_tile_at(level, view, 0, 0, tile, tile)
                .and_then(Result::ok)
                .expect("the level is available and the tile lies inside a valid view")
        };
        results.push(mandelbrot(&format!("mandelbrot-{}", level.name()), &render));
    }
    results.iter().map(|m| serde_json::to_string(m).expect("a measurement serialises") + "\n").collect()
}

/// Calls `work` once to warm up, then until `min_seconds` have passed; answers the timed
/// calls, their seconds and the sum of the work (flops, iterations) that `work` reported
/// for them.
fn repeat(min_seconds: f64, now: &dyn Fn() -> f64, mut work: impl FnMut() -> f64) -> (u32, f64, f64) {
    work();
    let start = now();
    let (mut calls, mut total) = (0u32, 0.0);
    loop {
        total += work();
        calls += 1;
        let seconds = now() - start;
        if seconds >= min_seconds {
            return (calls, seconds, total);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn the_mandelbrot_tile_takes_hundreds_of_iterations_per_pixel() {
        let counts = render_tile(&MANDELBROT_VIEW, 0, 0, MANDELBROT_TILE, MANDELBROT_TILE).expect("tile");
        assert!(total_iterations(&counts) / counts.len() as u64 > 500);
        assert!(counts.iter().filter(|&&c| c == MANDELBROT_VIEW.max_iter).count() < counts.len() / 4);
    }

    #[test]
    fn measurements_time_at_least_the_minimum_and_count_work() {
        let start = Instant::now();
        let now = move || start.elapsed().as_secs_f64();
        for product in [matmul_tile as Product, matmul_tile_portable] {
            let m = matmul_gflops("matmul", product, 16, 0.01, &now);
            assert!(m.seconds >= 0.01 && m.calls > 0 && m.rate > 0.0);
        }
        let view = View { max_iter: 64, ..MANDELBROT_VIEW };
        for render in [&vectorised as Render, &scalar] {
            let m = mandelbrot_iters_per_sec("mandelbrot", render, &view, 8, 0.01, &now);
            assert!(m.seconds >= 0.01 && m.rate > 0.0);
        }
    }
}
