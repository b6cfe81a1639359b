//! Freivalds' check of a claimed product tile `C = A·B`.
//!
//! Recomputing a `rows`×`k`×`cols` product costs `2·rows·k·cols` operations; checking it
//! costs only `O(k·(rows + cols) + rows·cols)`. Pick a random vector `x`, then compare
//! `C·x` with `A·(B·x)`: a wrong entry in row `i` of `C` shifts `(C·x)_i` by its error times
//! `x_j`, and since every `x_j` lies in `[1, 2)` that shift cannot be hidden by a lucky `x`.
//! Because `x` comes from a seed the device does not know in advance, it cannot tailor
//! several compensating errors to cancel out either.

use std::cmp::Ordering;

use crate::KernelError;
use crate::matmul::check_dims;
use crate::rng::SplitMix64;

/// The factor between the tolerance and the expected size of honest rounding error.
const SAFETY_FACTOR: f64 = 8.0;

/// An absolute floor on the tolerance, for rows whose scale is zero or tiny.
const ABSOLUTE_FLOOR: f64 = 1e-6;

/// Checks that `c` (`rows`×`cols`) is the product of `a` (`rows`×`k`) and `b` (`k`×`cols`).
///
/// All three matrices are row-major. The check draws `x` uniform in `[1, 2)^cols` from
/// `SplitMix64::new(seed)`, computes `y = B·x`, `z = A·y` and `w = C·x` in f64, and accepts
/// when every row satisfies `|w_i − z_i| ≤ tol_i`. Any NaN or infinity in `a`, `b` or `c` is
/// rejected outright.
///
/// # Tolerance
///
/// `C` was computed in f32, so even an honest tile differs from the exact product. With
/// `D_i = (|A|·(|B|·|x|))_i`, the absolute-value scale of row `i`, the tolerance is
///
/// `tol_i = 8 · f32::EPSILON · sqrt(k) · D_i / sqrt(cols) + 1e-6`.
///
/// An entry `c_ij` summed over `k` terms in f32, in any order and with or without fused
/// multiply-adds, carries a rounding error that grows like `sqrt(k) · eps` times the sum of
/// the absolute values of its terms: the individual roundings are close to independent, so
/// they add like a random walk. `w_i` combines `cols` such errors, weighted by `x_j`, and
/// again they add like a random walk, so their total grows like `sqrt(cols)` times one
/// entry's error, whereas `D_i` grows like `cols` times one entry's scale; hence the
/// division by `sqrt(cols)`. The factor 8 is a safety margin over the typical honest
/// error (which is below one `eps · sqrt(k) · D_i / sqrt(cols)`), yet the tolerance stays
/// small: for entries of A and B of magnitude around 1/2 it is about
/// `2.5e-7 · k^1.5 · sqrt(cols)`, which is 0.03 for a 64×512×64 tile and 0.5 for a
/// 256×2048×256 tile, where honest entries are around 15 in size. A single entry off by
/// more than that, or every entry off by a fraction of a percent, is caught. In the tests,
/// honest tiles use at most 10 % of the tolerance whatever their summation order: `gemm`'s
/// (with fused multiply-adds, natively), the portable kernel's (the browser's) and a GPU
/// shader's (test `honest_tiles_use_a_small_part_of_the_tolerance`; the earlier factor 64
/// let a single entry off by +1.0 pass at k = 2048).
pub fn verify_matmul_tile(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    rows: usize,
    k: usize,
    cols: usize,
    seed: u64,
) -> Result<(), KernelError> {
    margin(a, b, c, (rows, k, cols), seed).map(|_| ())
}

/// Checks like [`verify_matmul_tile`] and answers how close the tile came to failing: the
/// largest ratio of a row's difference to its tolerance (0 for an empty tile).
fn margin(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    (rows, k, cols): (usize, usize, usize),
    seed: u64,
) -> Result<f64, KernelError> {
    let c_len = check_dims(a, b, rows, k, cols)?;
    if c.len() != c_len {
        return Err(KernelError::LengthMismatch { what: "c", expected: c_len, found: c.len() });
    }
    let check = Check { a, b, c, rows, k, cols, seed };
    // The same f64 operations in the same order on every instruction set (nothing here is
    // reassociated or fused), compiled for the CPU's widest vectors natively.
    #[cfg(not(target_arch = "wasm32"))]
    return pulp::Arch::new().dispatch(check);
    #[cfg(target_arch = "wasm32")]
    check.run()
}

/// One check: the three row-major matrices of a claimed product, of checked lengths.
#[derive(Clone, Copy)]
struct Check<'a> {
    a: &'a [f32],
    b: &'a [f32],
    c: &'a [f32],
    rows: usize,
    k: usize,
    cols: usize,
    seed: u64,
}

#[cfg(not(target_arch = "wasm32"))]
impl pulp::WithSimd for Check<'_> {
    type Output = Result<f64, KernelError>;

    /// Inlined with everything it calls, so the whole check is compiled with the chosen
    /// target features.
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> Self::Output {
        self.run()
    }
}

impl Check<'_> {
    /// Rejects non-finite entries, then compares `C·x` with `A·(B·x)` row by row.
    #[inline(always)]
    fn run(self) -> Result<f64, KernelError> {
        check_finite("a", self.a)?;
        check_finite("b", self.b)?;
        check_finite("c", self.c)?;
        if self.rows == 0 || self.cols == 0 {
            return Ok(0.0);
        }
        self.compare_rows()
    }

    /// Compares `C·x` with `A·(B·x)` row by row, for finite operands and no empty dimension.
    #[inline(always)]
    fn compare_rows(self) -> Result<f64, KernelError> {
        let Check { a, b, c, rows, k, cols, seed } = self;
        let mut rng = SplitMix64::new(seed);
        let x: Vec<f64> = (0..cols).map(|_| 1.0 + rng.next_f64_unit()).collect();
        // y = B·x and its absolute-value scale |B|·x (x is positive, so |x| = x).
        let (y, y_scale): (Vec<f64>, Vec<f64>) = b.chunks_exact(cols).map(|row| dot_and_scale(row, &x)).unzip();
        let per_scale = SAFETY_FACTOR * f64::from(f32::EPSILON) * (k as f64).sqrt() / (cols as f64).sqrt();
        let mut worst = 0.0f64;
        for row in 0..rows {
            let a_row = &a[row * k..(row + 1) * k];
            let (z, scale) = projected_row(a_row, &y, &y_scale);
            let (w, _) = dot_and_scale(&c[row * cols..(row + 1) * cols], &x);
            let diff = (w - z).abs();
            let tolerance = per_scale * scale + ABSOLUTE_FLOOR;
            // Only a difference known to be within tolerance passes; NaN on either side fails.
            if !matches!(diff.partial_cmp(&tolerance), Some(Ordering::Less | Ordering::Equal)) {
                return Err(KernelError::VerificationFailed { row, diff, tolerance });
            }
            worst = worst.max(diff / tolerance);
        }
        Ok(worst)
    }
}

/// Rejects a buffer holding a NaN or an infinity. The scan has no early exit, so it
/// vectorises; the position is looked for only when there is one.
#[inline(always)]
fn check_finite(what: &'static str, values: &[f32]) -> Result<(), KernelError> {
    if values.iter().fold(true, |finite, v| finite & v.is_finite()) {
        return Ok(());
    }
    let index = values.iter().position(|v| !v.is_finite()).unwrap_or(0);
    Err(KernelError::NonFinite { what, index })
}

/// Independent partial sums per dot product: one chain of f64 additions waits on each add's
/// latency, several keep the FPU busy (and vectorise), which made the check 3-4× faster.
const LANES: usize = 4;

/// Returns `row · x` and `|row| · x` in f64, for a non-negative `x`.
#[inline(always)]
fn dot_and_scale(row: &[f32], x: &[f64]) -> (f64, f64) {
    projected_row(row, x, x)
}

/// Returns `a_row · y` and `|a_row| · y_scale` in f64.
#[inline(always)]
fn projected_row(a_row: &[f32], y: &[f64], y_scale: &[f64]) -> (f64, f64) {
    let len = a_row.len().min(y.len()).min(y_scale.len());
    let (a_row, y, y_scale) = (&a_row[..len], &y[..len], &y_scale[..len]);
    let (a_chunks, a_tail) = a_row.as_chunks::<LANES>();
    let (y_chunks, y_tail) = y.as_chunks::<LANES>();
    let (s_chunks, s_tail) = y_scale.as_chunks::<LANES>();
    let mut sum = [0.0f64; LANES];
    let mut scale = [0.0f64; LANES];
    for ((a, y), s) in a_chunks.iter().zip(y_chunks).zip(s_chunks) {
        for lane in 0..LANES {
            let v = f64::from(a[lane]);
            sum[lane] += v * y[lane];
            scale[lane] += v.abs() * s[lane];
        }
    }
    let tail = a_tail.iter().zip(y_tail.iter().zip(s_tail)).fold((0.0, 0.0), |(sum, scale), (&v, (&yv, &sv))| {
        let v = f64::from(v);
        (sum + v * yv, scale + v.abs() * sv)
    });
    (sum.iter().sum::<f64>() + tail.0, scale.iter().sum::<f64>() + tail.1)
}

#[cfg(test)]
mod tests;
