//! The portable product: a cache-blocked kernel in plain safe Rust, the one the browser runs.
//!
//! It follows the GotoBLAS structure: the operands are copied into small contiguous panels
//! sized for the caches, and a register-blocked micro-kernel computes an `MR`×`NR` block of
//! the output from them. The micro-kernel works on fixed-size arrays, so it has no bounds
//! checks and LLVM turns its inner loop into SIMD code (SIMD128 on wasm, SSE2 natively)
//! without any intrinsics. Natively, [`super::matmul_tile`] calls an optimised BLAS-style
//! library instead (`native.rs`); this kernel stays compiled there as the yardstick of the
//! benchmarks and the tests.

/// Rows of the output computed at once by the micro-kernel.
///
/// The register block is 4×8 on wasm, where V8 runs it at about 35 GFLOP/s with SIMD128
/// against about 23 for 2×16, and 2×16 elsewhere, which measured faster on x86-64 both with
/// SSE2 only and with AVX2. The shape does not change the order in which any single output
/// is summed, so this kernel gives bit-identical results natively and in wasm.
#[cfg(target_arch = "wasm32")]
const MR: usize = 4;
/// Columns of the output computed at once by the micro-kernel.
#[cfg(target_arch = "wasm32")]
const NR: usize = 8;
/// Rows of the output computed at once by the micro-kernel.
#[cfg(not(target_arch = "wasm32"))]
const MR: usize = 2;
/// Columns of the output computed at once by the micro-kernel.
#[cfg(not(target_arch = "wasm32"))]
const NR: usize = 16;
/// Depth of a cache block: a `KC`×`NR` panel of B (8 or 16 KiB) stays in the L1 cache.
const KC: usize = 256;
/// Rows of a cache block: an `MC`×`KC` block of A (64 KiB) stays in the L2 cache.
///
/// Partial sums over one `KC` block are added to the output in order, so `KC` is part of
/// the summation order and must be the same on every platform.
const MC: usize = 64;
/// Columns of a cache block of B.
const NC: usize = 512;

/// Adds the product of `a` (`rows`×`k`) and `b` (`k`×`cols`), both row-major and of
/// checked lengths, into the zeroed `c` (`rows`×`cols`).
pub(super) fn multiply(a: &[f32], b: &[f32], rows: usize, k: usize, cols: usize, c: &mut [f32]) {
    let mut packed_a = Vec::new();
    let mut packed_b = Vec::new();
    for jc in (0..cols).step_by(NC) {
        let nc = NC.min(cols - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_b(b, cols, Span { start: pc, len: kc }, Span { start: jc, len: nc }, &mut packed_b);
            for ic in (0..rows).step_by(MC) {
                let mc = MC.min(rows - ic);
                pack_a(a, k, Span { start: ic, len: mc }, Span { start: pc, len: kc }, &mut packed_a);
                let out = Block { row: ic, rows: mc, col: jc, cols: nc };
                multiply_block(&packed_a, &packed_b, kc, out, c, cols);
            }
        }
    }
}

/// A half-open range of indices along one dimension.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

/// A rectangle of the output matrix.
#[derive(Clone, Copy)]
struct Block {
    row: usize,
    rows: usize,
    col: usize,
    cols: usize,
}

/// Copies `b[ks, js]` into panels of `NR` columns, each stored as `ks.len` rows of `NR`.
///
/// The last panel is padded with zeros, so the micro-kernel never needs a column remainder.
fn pack_b(b: &[f32], cols: usize, ks: Span, js: Span, packed: &mut Vec<f32>) {
    let panels = js.len.div_ceil(NR);
    packed.clear();
    packed.resize(panels * ks.len * NR, 0.0);
    for (p, panel) in packed.chunks_exact_mut(ks.len * NR).enumerate() {
        let col = js.start + p * NR;
        let width = NR.min(js.start + js.len - col);
        for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
            let start = (ks.start + kk) * cols + col;
            dst[..width].copy_from_slice(&b[start..start + width]);
        }
    }
}

/// Copies `a[is, ks]` into panels of `MR` rows, each stored as `ks.len` columns of `MR`.
///
/// The last panel is padded with zero rows, so the micro-kernel never needs a row remainder.
fn pack_a(a: &[f32], k: usize, is: Span, ks: Span, packed: &mut Vec<f32>) {
    let panels = is.len.div_ceil(MR);
    packed.clear();
    packed.resize(panels * ks.len * MR, 0.0);
    for (p, panel) in packed.chunks_exact_mut(ks.len * MR).enumerate() {
        let row0 = is.start + p * MR;
        let height = MR.min(is.start + is.len - row0);
        for r in 0..height {
            let start = (row0 + r) * k + ks.start;
            let src = &a[start..start + ks.len];
            for (dst, &v) in panel.chunks_exact_mut(MR).zip(src) {
                dst[r] = v;
            }
        }
    }
}

/// Adds the product of a packed block of A and a packed block of B into `c`.
fn multiply_block(packed_a: &[f32], packed_b: &[f32], kc: usize, out: Block, c: &mut [f32], cols: usize) {
    if kc == 0 {
        return;
    }
    for (p, panel_b) in packed_b.chunks_exact(kc * NR).enumerate() {
        let (panel_b, _) = panel_b.as_chunks::<NR>();
        let col = out.col + p * NR;
        let width = NR.min(out.col + out.cols - col);
        for (q, panel_a) in packed_a.chunks_exact(kc * MR).enumerate() {
            let (panel_a, _) = panel_a.as_chunks::<MR>();
            let acc = micro_kernel(panel_a, panel_b);
            let row = out.row + q * MR;
            let height = MR.min(out.row + out.rows - row);
            for (r, acc_row) in acc.iter().enumerate().take(height) {
                let start = (row + r) * cols + col;
                for (dst, &v) in c[start..start + width].iter_mut().zip(acc_row) {
                    *dst += v;
                }
            }
        }
    }
}

/// Computes an `MR`×`NR` block as the sum over the depth of outer products.
///
/// The accumulators live in registers; the inner loop over `NR` contiguous lanes is what
/// the compiler vectorises.
#[inline(always)]
fn micro_kernel(panel_a: &[[f32; MR]], panel_b: &[[f32; NR]]) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    for (a_col, b_row) in panel_a.iter().zip(panel_b) {
        for (acc_row, &av) in acc.iter_mut().zip(a_col) {
            for (sum, &bv) in acc_row.iter_mut().zip(b_row) {
                *sum += av * bv;
            }
        }
    }
    acc
}
