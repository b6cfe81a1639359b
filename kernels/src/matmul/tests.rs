//! Tests of the blocked product against the naive f64 reference.

use super::{matmul_flops, matmul_reference, matmul_tile};
use crate::KernelError;
use crate::seeded::{STREAM_A, STREAM_B, seeded_matrix};

/// Checks `matmul_tile` against `matmul_reference` for seeded operands of the given shape.
fn assert_matches_reference(rows: usize, k: usize, cols: usize) {
    let a = seeded_matrix(17, STREAM_A, rows * k);
    let b = seeded_matrix(17, STREAM_B, k * cols);
    let fast = matmul_tile(&a, &b, rows, k, cols).expect("valid dimensions");
    let slow = matmul_reference(&a, &b, rows, k, cols).expect("valid dimensions");
    assert_eq!(fast.len(), rows * cols);
    // Each output is a sum of k products of magnitude below 1, so the f32 rounding error is
    // at most about k * eps; allow that with a margin.
    let tolerance = 4.0 * f32::EPSILON * k as f32 + 1e-6;
    for (index, (x, y)) in fast.iter().zip(&slow).enumerate() {
        assert!((x - y).abs() <= tolerance, "{rows}x{k}x{cols} index {index}: {x} vs {y}");
    }
}

#[test]
fn matches_reference_on_odd_sizes() {
    for (rows, k, cols) in [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 64, 64), (100, 300, 50)] {
        assert_matches_reference(rows, k, cols);
    }
}

#[test]
fn matches_reference_across_every_block_boundary() {
    // Crosses MR, NR, MC, KC and NC with remainders in every dimension.
    assert_matches_reference(67, 259, 521);
}

#[test]
fn small_product_is_exact() {
    let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
    let c = matmul_tile(&a, &b, 2, 3, 2).expect("valid dimensions");
    assert_eq!(c, vec![58.0, 64.0, 139.0, 154.0]);
}

#[test]
fn identity_leaves_the_matrix_unchanged() {
    let n = 13;
    let m = seeded_matrix(2, STREAM_A, n * n);
    let identity: Vec<f32> = (0..n * n).map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 }).collect();
    assert_eq!(matmul_tile(&m, &identity, n, n, n).expect("valid"), m);
    assert_eq!(matmul_tile(&identity, &m, n, n, n).expect("valid"), m);
}

#[test]
fn empty_dimensions_give_empty_or_zero_results() {
    assert_eq!(matmul_tile(&[], &[], 0, 0, 0), Ok(vec![]));
    assert_eq!(matmul_tile(&[], &[], 2, 0, 3), Ok(vec![0.0; 6]));
    assert_eq!(matmul_tile(&[], &[1.0, 2.0], 0, 1, 2), Ok(vec![]));
}

#[test]
fn length_mismatch_is_an_error() {
    let a = vec![0.0; 6];
    let b = vec![0.0; 12];
    assert_eq!(
        matmul_tile(&a[..5], &b, 2, 3, 4),
        Err(KernelError::LengthMismatch { what: "a", expected: 6, found: 5 })
    );
    assert_eq!(matmul_tile(&a, &b, 2, 3, 5), Err(KernelError::LengthMismatch { what: "b", expected: 15, found: 12 }));
    assert!(matmul_reference(&a, &b[..11], 2, 3, 4).is_err());
}

#[test]
fn overflowing_dimensions_are_an_error() {
    let result = matmul_tile(&[], &[], usize::MAX, 2, 1);
    assert_eq!(result, Err(KernelError::TooLarge { what: "a" }));
    assert!(matmul_reference(&[], &[], 1, usize::MAX, 2).is_err());
}

#[test]
fn flops_count_multiplies_and_adds() {
    assert_eq!(matmul_flops(2, 3, 4), 48.0);
    assert_eq!(matmul_flops(0, 3, 4), 0.0);
}
