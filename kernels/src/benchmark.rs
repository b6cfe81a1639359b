//! A fixed workload for scoring how fast a device multiplies matrices.
//!
//! Kernels cannot read a clock (wasm has none without the browser), so the caller times
//! [`benchmark_kernel`] itself and turns the result into a score with [`ops_score`].

use crate::matmul::{matmul_flops, matmul_tile};
use crate::seeded::{STREAM_A, STREAM_B, seeded_matrix};

/// The side of the square matrices of the standard benchmark.
pub const BENCHMARK_SIZE: usize = 128;

/// The seed of the benchmark's operands, fixed so every device does the same work.
const BENCHMARK_SEED: u64 = 0x05_7C_41_C4;

/// Multiplies two seeded `size`×`size` matrices and returns the product and its flop count.
///
/// The output is returned so the work cannot be optimised away and so callers can check it.
/// A `size` whose square does not fit in `usize` yields an empty output and zero flops.
pub fn benchmark_kernel(size: usize) -> (Vec<f32>, f64) {
    let Some(len) = size.checked_mul(size) else {
        return (Vec::new(), 0.0);
    };
    let a = seeded_matrix(BENCHMARK_SEED, STREAM_A, len);
    let b = seeded_matrix(BENCHMARK_SEED, STREAM_B, len);
    match matmul_tile(&a, &b, size, size, size) {
        Ok(c) => (c, matmul_flops(size, size, size)),
        Err(_) => (Vec::new(), 0.0),
    }
}

/// Converts `flops` done in `seconds` into millions of flops per second.
///
/// Returns 0 when `seconds` is not positive or either input is NaN, and saturates at
/// `u32::MAX`.
pub fn ops_score(flops: f64, seconds: f64) -> u32 {
    if seconds.is_nan() || seconds <= 0.0 || flops.is_nan() {
        return 0;
    }
    let mflops = flops / seconds / 1e6;
    if mflops.is_nan() || mflops <= 0.0 {
        0
    } else if mflops >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        mflops as u32
    }
}

#[cfg(test)]
mod tests {
    use super::{BENCHMARK_SIZE, benchmark_kernel, ops_score};
    use crate::freivalds::verify_matmul_tile;
    use crate::matmul::matmul_flops;
    use crate::seeded::{STREAM_A, STREAM_B, seeded_matrix};

    #[test]
    fn benchmark_output_is_the_verified_product() {
        let (c, flops) = benchmark_kernel(BENCHMARK_SIZE);
        let n = BENCHMARK_SIZE;
        assert_eq!(c.len(), n * n);
        assert_eq!(flops, matmul_flops(n, n, n));
        let a = seeded_matrix(super::BENCHMARK_SEED, STREAM_A, n * n);
        let b = seeded_matrix(super::BENCHMARK_SEED, STREAM_B, n * n);
        assert_eq!(verify_matmul_tile(&a, &b, &c, n, n, n, 8), Ok(()));
    }

    #[test]
    fn benchmark_is_deterministic_and_handles_edge_sizes() {
        assert_eq!(benchmark_kernel(9), benchmark_kernel(9));
        assert_eq!(benchmark_kernel(0), (vec![], 0.0));
        assert_eq!(benchmark_kernel(usize::MAX), (vec![], 0.0));
    }

    #[test]
    fn score_is_megaflops_per_second() {
        assert_eq!(ops_score(4.0e6, 2.0), 2);
        assert_eq!(ops_score(4.19e9, 0.5), 8380);
        assert_eq!(ops_score(1.0, 0.5), 0);
    }

    #[test]
    fn score_rejects_bad_times_and_saturates() {
        assert_eq!(ops_score(1e9, 0.0), 0);
        assert_eq!(ops_score(1e9, -1.0), 0);
        assert_eq!(ops_score(1e9, f64::NAN), 0);
        assert_eq!(ops_score(f64::NAN, 1.0), 0);
        assert_eq!(ops_score(-5e9, 1.0), 0);
        assert_eq!(ops_score(1e30, 1.0), u32::MAX);
        assert_eq!(ops_score(f64::INFINITY, 1.0), u32::MAX);
        assert_eq!(ops_score(1e9, f64::INFINITY), 0);
    }
}
