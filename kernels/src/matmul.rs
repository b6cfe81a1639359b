//! Dense f32 matrix product of row-major tiles.
//!
//! [`matmul_tile`] runs the fastest product each target has. Natively that is the `gemm`
//! crate (`native.rs`), which picks AVX-512, AVX2+FMA or SSE2 micro-kernels on x86-64 and
//! NEON on aarch64 at run time, so one binary is fast on every CPU. In wasm it is the
//! portable cache-blocked kernel of `blocked.rs`, tuned for V8's SIMD128 (it runs there at
//! about the speed of the same kernel built natively). The two sum each output in different orders (and with or without
//! fused multiply-adds), so their results differ in the last bits: tiles are checked by
//! Freivalds' test, whose tolerance allows any summation order, never by equality.

use crate::KernelError;

mod blocked;
#[cfg(not(target_arch = "wasm32"))]
mod native;

/// Computes the product of `a` (`rows`×`k`) and `b` (`k`×`cols`), both row-major.
///
/// Returns the `rows`×`cols` row-major result, or an error when a buffer's length does not
/// match its dimensions. Accumulation is in f32; the summation order depends on the target
/// and on the CPU's instruction set (see the module docs), never on anything else, so a
/// given machine always returns the same bits for the same operands.
pub fn matmul_tile(a: &[f32], b: &[f32], rows: usize, k: usize, cols: usize) -> Result<Vec<f32>, KernelError> {
    #[cfg(not(target_arch = "wasm32"))]
    return product(a, b, (rows, k, cols), native::multiply);
    #[cfg(target_arch = "wasm32")]
    product(a, b, (rows, k, cols), blocked::multiply)
}

/// Computes the same product as [`matmul_tile`] with the portable kernel that the browser
/// runs, on any target: natively it is the yardstick of the benchmarks and tests.
pub fn matmul_tile_portable(a: &[f32], b: &[f32], rows: usize, k: usize, cols: usize) -> Result<Vec<f32>, KernelError> {
    product(a, b, (rows, k, cols), blocked::multiply)
}

/// A kernel: writes the product of checked, non-empty operands into a zeroed output.
type Multiply = fn(&[f32], &[f32], usize, usize, usize, &mut [f32]);

/// Checks the operands, then computes their product with `multiply` (nothing to compute
/// when a dimension is zero).
fn product(
    a: &[f32],
    b: &[f32],
    (rows, k, cols): (usize, usize, usize),
    multiply: Multiply,
) -> Result<Vec<f32>, KernelError> {
    let out_len = check_dims(a, b, rows, k, cols)?;
    let mut c = vec![0.0f32; out_len];
    if out_len > 0 && k > 0 {
        multiply(a, b, rows, k, cols, &mut c);
    }
    Ok(c)
}

/// Computes the same product as [`matmul_tile`] with a naive triple loop and f64 sums.
///
/// Slow but simple and accurate: it is the yardstick for tests.
pub fn matmul_reference(a: &[f32], b: &[f32], rows: usize, k: usize, cols: usize) -> Result<Vec<f32>, KernelError> {
    let out_len = check_dims(a, b, rows, k, cols)?;
    let mut c = Vec::with_capacity(out_len);
    for i in 0..rows {
        for j in 0..cols {
            let sum: f64 = (0..k).map(|p| f64::from(a[i * k + p]) * f64::from(b[p * cols + j])).sum();
            c.push(sum as f32);
        }
    }
    Ok(c)
}

/// Returns the number of floating-point operations of a product: one multiply and one add
/// for each of the `rows`·`k`·`cols` terms.
pub fn matmul_flops(rows: usize, k: usize, cols: usize) -> f64 {
    2.0 * rows as f64 * k as f64 * cols as f64
}

/// Checks the operand lengths against the dimensions and returns the output length.
pub(crate) fn check_dims(a: &[f32], b: &[f32], rows: usize, k: usize, cols: usize) -> Result<usize, KernelError> {
    let a_len = rows.checked_mul(k).ok_or(KernelError::TooLarge { what: "a" })?;
    let b_len = k.checked_mul(cols).ok_or(KernelError::TooLarge { what: "b" })?;
    let c_len = rows.checked_mul(cols).ok_or(KernelError::TooLarge { what: "c" })?;
    if a.len() != a_len {
        return Err(KernelError::LengthMismatch { what: "a", expected: a_len, found: a.len() });
    }
    if b.len() != b_len {
        return Err(KernelError::LengthMismatch { what: "b", expected: b_len, found: b.len() });
    }
    Ok(c_len)
}

#[cfg(test)]
mod tests;
