//! The native product: the `gemm` crate, single-threaded.
//!
//! `gemm` detects the CPU's features once and runs AVX-512, AVX2+FMA or SSE2 micro-kernels
//! on x86-64 (NEON on aarch64), as fast as OpenBLAS on one core (BENCHMARKS.md, "Kernels").
//! A native worker runs one product per core itself, so `gemm` never starts threads here.
//!
//! This is the only `unsafe` code of the crate: `gemm` takes raw pointers and strides.

/// Writes the product of `a` (`rows`×`k`) and `b` (`k`×`cols`), both row-major and of
/// checked lengths, into `c` (`rows`×`cols`), overwriting it.
#[allow(unsafe_code)]
pub(super) fn multiply(a: &[f32], b: &[f32], rows: usize, k: usize, cols: usize, c: &mut [f32]) {
    assert!(a.len() == rows * k && b.len() == k * cols && c.len() == rows * cols, "checked dimensions");
    // Slices never exceed isize::MAX bytes, so their row lengths fit isize.
    let (k_stride, cols_stride) = (k as isize, cols as isize);
    // SAFETY: every matrix is a row-major slice of exactly the length its dimensions need
    // (asserted above): row stride = its column count, column stride 1, so `gemm` reads
    // `rows`×`k` floats of `a` and `k`×`cols` of `b` and writes `rows`×`cols` of `c`, all in
    // bounds. `c` is borrowed mutably, so it overlaps neither operand. With `read_dst`
    // false, `gemm` writes `c = 1·(a·b)` without reading it.
    unsafe {
        gemm::gemm(
            rows,
            cols,
            k,
            c.as_mut_ptr(),
            1,
            cols_stride,
            false,
            a.as_ptr(),
            1,
            k_stride,
            b.as_ptr(),
            1,
            cols_stride,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
