//! The CPU side of a worker: a task's kernel and the timed benchmark. Plain Rust, so the
//! unit tests run it natively; in the browser it is wasm with SIMD128.

use std::hint::black_box;

use ostrich_kernels::{BENCHMARK_SIZE, STREAM_A, STREAM_B, benchmark_kernel, matmul_flops, ops_score, seeded_matrix};

/// The shortest timed benchmark round. One run of the kernel takes well under a
/// millisecond on a fast device, which a browser clock (coarsened to 0.1 ms without
/// cross-origin isolation) cannot time alone, so a round repeats it for at least this long.
pub const MIN_ROUND_MS: f64 = 40.0;

pub use ostrich_kernels::run_task;

/// The edge of the reference tile on which each kernel path's matrix product is timed: the
/// size of a typical job tile, so the figures compare what jobs will run.
pub const REFERENCE_TILE: usize = 256;

/// The reference tile's two inputs (seeded, so every device times the same numbers).
pub fn reference_inputs() -> (Vec<f32>, Vec<f32>) {
    let len = REFERENCE_TILE * REFERENCE_TILE;
    (seeded_matrix(1, STREAM_A, len), seeded_matrix(1, STREAM_B, len))
}

/// The flops of one reference tile's product.
pub fn reference_flops() -> f64 {
    matmul_flops(REFERENCE_TILE, REFERENCE_TILE, REFERENCE_TILE)
}

/// Times one thread's CPU matrix product on the reference tile: the best of `rounds`
/// rounds of at least [`MIN_ROUND_MS`], in MFLOP/s.
pub fn matmul_benchmark(rounds: u32, now_ms: impl Fn() -> f64) -> u32 {
    let (a, b) = reference_inputs();
    let n = REFERENCE_TILE;
    let mut best = 0;
    for _ in 0..rounds.max(1) {
        let start = now_ms();
        let mut flops = 0.0;
        let elapsed = loop {
            let Ok(c) = ostrich_kernels::matmul::matmul_tile(&a, &b, n, n, n) else {
                return 0;
            };
            black_box(c);
            flops += reference_flops();
            let elapsed = now_ms() - start;
            if elapsed >= MIN_ROUND_MS {
                break elapsed;
            }
        };
        best = best.max(ops_score(flops, elapsed / 1000.0));
    }
    best
}

/// True when a matmul tile's buffers match its dimensions and its output is not empty, so
/// the GPU can run it; anything else goes to [`run_task`], which reports the error.
pub fn gpu_runnable(rows: u32, k: u32, cols: u32, a: &[f32], b: &[f32]) -> bool {
    let (rows, k, cols) = (rows as usize, k as usize, cols as usize);
    let a_ok = rows.checked_mul(k).is_some_and(|len| len == a.len());
    let b_ok = k.checked_mul(cols).is_some_and(|len| len == b.len());
    a_ok && b_ok && rows > 0 && k > 0 && cols > 0
}

/// Times [`benchmark_kernel`] for `rounds` rounds of at least [`MIN_ROUND_MS`] each and
/// returns the best round's score in MFLOP/s; `now_ms` is the clock, in milliseconds.
pub fn benchmark(rounds: u32, now_ms: impl Fn() -> f64) -> u32 {
    let mut best = 0;
    for _ in 0..rounds.max(1) {
        let start = now_ms();
        let mut flops = 0.0;
        let elapsed = loop {
            let (c, work) = benchmark_kernel(BENCHMARK_SIZE);
            black_box(c);
            flops += work;
            let elapsed = now_ms() - start;
            if elapsed >= MIN_ROUND_MS || work == 0.0 {
                break elapsed;
            }
        };
        best = best.max(ops_score(flops, elapsed / 1000.0));
    }
    best
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use ostrich_kernels::{STREAM_A, STREAM_B, seeded_matrix, verify_matmul_tile};
    use ostrich_protocol::{MandelbrotView, TaskKind, TaskOutput};

    use super::{benchmark, gpu_runnable, matmul_benchmark, run_task};

    #[test]
    fn matmul_tasks_give_a_verified_tile() {
        let (rows, k, cols) = (5, 7, 3);
        let a = seeded_matrix(1, STREAM_A, rows * k);
        let b = seeded_matrix(1, STREAM_B, k * cols);
        let kind = TaskKind::MatmulTile { rows: 5, k: 7, cols: 3, a: a.clone(), b: b.clone() };
        let Ok(TaskOutput::MatmulTile { c }) = run_task(&kind) else { panic!("a matmul output") };
        assert_eq!(verify_matmul_tile(&a, &b, &c, rows, k, cols, 4), Ok(()));
    }

    #[test]
    fn mandelbrot_tasks_give_one_count_per_pixel() {
        let view = MandelbrotView { width: 32, height: 16, center_re: -0.5, center_im: 0.0, zoom: 1.0, max_iter: 50 };
        let kind = TaskKind::MandelbrotTile { view, x: 8, y: 4, w: 8, h: 4 };
        let Ok(TaskOutput::MandelbrotTile { iterations }) = run_task(&kind) else { panic!("counts") };
        assert_eq!(iterations.len(), 32);
        assert!(iterations.iter().all(|&n| n <= 50));
    }

    #[test]
    fn bad_input_is_a_reason_not_a_panic() {
        let kind = TaskKind::MatmulTile { rows: 2, k: 2, cols: 2, a: vec![1.0], b: vec![] };
        assert!(run_task(&kind).is_err_and(|reason| reason.starts_with("matmul tile")));
        let view = MandelbrotView { width: 0, height: 16, center_re: 0.0, center_im: 0.0, zoom: 1.0, max_iter: 50 };
        let kind = TaskKind::MandelbrotTile { view, x: 0, y: 0, w: 1, h: 1 };
        assert!(run_task(&kind).is_err_and(|reason| reason.starts_with("mandelbrot tile")));
    }

    #[test]
    fn only_well_formed_non_empty_tiles_go_to_the_gpu() {
        assert!(gpu_runnable(2, 3, 4, &[0.0; 6], &[0.0; 12]));
        assert!(!gpu_runnable(2, 3, 4, &[0.0; 5], &[0.0; 12]));
        assert!(!gpu_runnable(2, 3, 4, &[0.0; 6], &[0.0; 13]));
        assert!(!gpu_runnable(0, 3, 4, &[], &[0.0; 12]));
        assert!(!gpu_runnable(2, 0, 4, &[], &[]));
        assert!(!gpu_runnable(u32::MAX, u32::MAX, 1, &[], &[]));
    }

    #[test]
    fn benchmark_scores_real_work_per_second() {
        let start = Instant::now();
        let score = benchmark(2, || start.elapsed().as_secs_f64() * 1000.0);
        assert!(score > 10, "even an unoptimised build does 10 MFLOP/s, got {score}");
    }

    #[test]
    fn the_matmul_benchmark_times_the_reference_tile() {
        let start = Instant::now();
        let score = matmul_benchmark(1, || start.elapsed().as_secs_f64() * 1000.0);
        assert!(score > 10, "a 256³ product runs at more than 10 MFLOP/s: {score}");
    }
}
