//! Tests that honest tiles pass and dishonest ones fail.

use super::{margin, verify_matmul_tile};
use crate::KernelError;
use crate::matmul::{matmul_tile, matmul_tile_portable};
use crate::seeded::{STREAM_A, STREAM_B, seeded_matrix};

/// The shapes every acceptance and rejection test runs on, small to large.
const SHAPES: [(usize, usize, usize); 4] = [(1, 1, 1), (7, 13, 5), (64, 512, 64), (256, 2048, 256)];

/// Which distribution the operands come from.
#[derive(Clone, Copy, Debug)]
enum Data {
    /// Uniform in `[-1, 1)`: entries of C partly cancel.
    Signed,
    /// Uniform in `[0, 1)`: entries of C are large and rounding error is largest.
    Positive,
}

/// Returns seeded operands of the given shape.
fn operands(data: Data, rows: usize, k: usize, cols: usize) -> (Vec<f32>, Vec<f32>) {
    let mut a = seeded_matrix(1234, STREAM_A, rows * k);
    let mut b = seeded_matrix(1234, STREAM_B, k * cols);
    if let Data::Positive = data {
        for v in a.iter_mut().chain(b.iter_mut()) {
            *v = (*v + 1.0) / 2.0;
        }
    }
    (a, b)
}

/// Returns operands and the honest tile computed by `matmul_tile`.
fn honest(data: Data, rows: usize, k: usize, cols: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (a, b) = operands(data, rows, k, cols);
    let c = matmul_tile(&a, &b, rows, k, cols).expect("valid dimensions");
    (a, b, c)
}

/// Computes the product the way a GPU shader does: f32 fused multiply-adds summed in
/// blocks of 16 along k, each block's partial sum then added to the total.
fn gpu_like(a: &[f32], b: &[f32], rows: usize, k: usize, cols: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            let mut total = 0.0f32;
            for block in (0..k).step_by(16) {
                let mut partial = 0.0f32;
                for p in (block..k.min(block + 16)).rev() {
                    partial = a[i * k + p].mul_add(b[p * cols + j], partial);
                }
                total += partial;
            }
            c[i * cols + j] = total;
        }
    }
    c
}

#[test]
fn honest_tiles_pass() {
    for data in [Data::Signed, Data::Positive] {
        for (rows, k, cols) in SHAPES {
            let (a, b, c) = honest(data, rows, k, cols);
            for seed in [0, 1, 99] {
                let result = verify_matmul_tile(&a, &b, &c, rows, k, cols, seed);
                assert_eq!(result, Ok(()), "{data:?} {rows}x{k}x{cols} seed {seed}");
            }
        }
    }
}

#[test]
fn honest_tiles_use_a_small_part_of_the_tolerance() {
    // Each summation order a device may use, at every shape: the margin to failing stays
    // wide, so no honest device is ever refused, whatever it runs.
    let mut worst: f64 = 0.0;
    for data in [Data::Signed, Data::Positive] {
        for (rows, k, cols) in SHAPES {
            let (a, b) = operands(data, rows, k, cols);
            let mut tiles = vec![
                ("native", matmul_tile(&a, &b, rows, k, cols).expect("valid")),
                ("portable", matmul_tile_portable(&a, &b, rows, k, cols).expect("valid")),
            ];
            if k * rows * cols <= 64 * 512 * 64 {
                tiles.push(("gpu", gpu_like(&a, &b, rows, k, cols)));
            }
            for (order, c) in tiles {
                for seed in [0, 7] {
                    let used = margin(&a, &b, &c, (rows, k, cols), seed).expect("an honest tile passes");
                    assert!(used < 0.1, "{order} {data:?} {rows}x{k}x{cols} seed {seed}: {used}");
                    worst = worst.max(used);
                }
            }
        }
    }
    // The margin is measured, not vacuous: rounding does show.
    assert!(worst > 1e-4, "{worst}");
}

#[test]
fn gpu_summation_order_passes() {
    for data in [Data::Signed, Data::Positive] {
        for (rows, k, cols) in [(7, 13, 5), (33, 2048, 40)] {
            let (a, b) = operands(data, rows, k, cols);
            let c = gpu_like(&a, &b, rows, k, cols);
            assert_ne!(c, matmul_tile(&a, &b, rows, k, cols).expect("valid"), "order must differ");
            assert_eq!(verify_matmul_tile(&a, &b, &c, rows, k, cols, 5), Ok(()), "{data:?} {rows}x{k}x{cols}");
        }
    }
}

#[test]
fn one_entry_off_by_one_fails() {
    for data in [Data::Signed, Data::Positive] {
        // At 256x2048x256 the tolerance is about 0.5 (see the doc comment), so a single
        // entry off by 1.0 is caught at every shape.
        for (rows, k, cols) in SHAPES {
            let (a, b, c) = honest(data, rows, k, cols);
            for index in [0, c.len() / 2, c.len() - 1] {
                let mut bad = c.clone();
                bad[index] += 1.0;
                let result = verify_matmul_tile(&a, &b, &bad, rows, k, cols, 3);
                let row = index / cols;
                assert!(
                    matches!(result, Err(KernelError::VerificationFailed { row: r, .. }) if r == row),
                    "{data:?} {rows}x{k}x{cols} index {index}: {result:?}"
                );
            }
        }
    }
}

#[test]
fn every_entry_off_by_one_percent_fails() {
    for data in [Data::Signed, Data::Positive] {
        for (rows, k, cols) in SHAPES {
            let (a, b, mut c) = honest(data, rows, k, cols);
            c.iter_mut().for_each(|v| *v *= 1.01);
            let result = verify_matmul_tile(&a, &b, &c, rows, k, cols, 4);
            assert!(
                matches!(result, Err(KernelError::VerificationFailed { .. })),
                "{data:?} {rows}x{k}x{cols}: {result:?}"
            );
        }
    }
}

#[test]
fn all_zero_tile_fails() {
    for data in [Data::Signed, Data::Positive] {
        for (rows, k, cols) in SHAPES {
            let (a, b) = operands(data, rows, k, cols);
            let zeros = vec![0.0; rows * cols];
            let result = verify_matmul_tile(&a, &b, &zeros, rows, k, cols, 6);
            assert!(
                matches!(result, Err(KernelError::VerificationFailed { .. })),
                "{data:?} {rows}x{k}x{cols}: {result:?}"
            );
        }
    }
}

#[test]
fn non_finite_entries_fail() {
    let (rows, k, cols) = (7, 13, 5);
    let (a, b, c) = honest(Data::Signed, rows, k, cols);
    for bad_value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut bad = c.clone();
        bad[12] = bad_value;
        let result = verify_matmul_tile(&a, &b, &bad, rows, k, cols, 7);
        assert_eq!(result, Err(KernelError::NonFinite { what: "c", index: 12 }));
    }
    let mut bad_a = a.clone();
    bad_a[3] = f32::NAN;
    assert_eq!(
        verify_matmul_tile(&bad_a, &b, &c, rows, k, cols, 7),
        Err(KernelError::NonFinite { what: "a", index: 3 })
    );
}

#[test]
fn length_mismatches_are_errors() {
    let (rows, k, cols) = (7, 13, 5);
    let (a, b, c) = honest(Data::Signed, rows, k, cols);
    let short_c = verify_matmul_tile(&a, &b, &c[1..], rows, k, cols, 0);
    assert_eq!(short_c, Err(KernelError::LengthMismatch { what: "c", expected: 35, found: 34 }));
    assert!(matches!(
        verify_matmul_tile(&a[1..], &b, &c, rows, k, cols, 0),
        Err(KernelError::LengthMismatch { what: "a", .. })
    ));
    assert!(matches!(verify_matmul_tile(&a, &b, &c, rows, k + 1, cols, 0), Err(KernelError::LengthMismatch { .. })));
    assert!(verify_matmul_tile(&[], &[], &[], usize::MAX, 2, 1, 0).is_err());
}

#[test]
fn degenerate_shapes_are_handled() {
    assert_eq!(verify_matmul_tile(&[], &[], &[], 0, 0, 0, 0), Ok(()));
    assert_eq!(verify_matmul_tile(&[], &[], &[0.0; 6], 2, 0, 3, 0), Ok(()));
    let wrong = verify_matmul_tile(&[], &[], &[0.0, 1.0], 2, 0, 1, 0);
    assert!(matches!(wrong, Err(KernelError::VerificationFailed { row: 1, .. })));
}
