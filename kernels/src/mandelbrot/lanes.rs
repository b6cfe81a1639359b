//! Escape times of many pixels at once, for [`super::render_tile`].
//!
//! A scalar escape-time loop waits on its own latency: each step needs the previous step's
//! `z`, so one pixel keeps a core's floating-point units mostly idle. Here `L` neighbouring
//! pixels of a row step side by side in arrays of f64, written so that LLVM vectorises them
//! (two lanes per SSE2, NEON or SIMD128 register, four per AVX2 and eight per AVX-512
//! register) and the independent registers hide each other's latency. How many pixels go
//! together depends on the instruction set (the constants below, measured in
//! BENCHMARKS.md's "Kernels"): more lanes hide more latency, but a lane that escapes early
//! idles until its whole group has, and values past the register file spill.
//!
//! Every lane performs exactly the scalar loop's IEEE operations in the same order, and Rust
//! never fuses a multiply and an add on its own, so each count is bit-identical to
//! [`super::escape_time`], whatever instruction set runs it. A lane that has escaped stops
//! counting and keeps iterating harmlessly until every lane of its group has escaped.

/// Pixels iterated together under AVX-512: four registers of eight lanes per value.
#[cfg(not(target_arch = "wasm32"))]
pub(super) const AVX512_LANES: usize = 32;
/// Pixels iterated together under AVX2: two registers of four lanes per value (more spill
/// out of AVX2's 16 registers).
#[cfg(not(target_arch = "wasm32"))]
pub(super) const AVX2_LANES: usize = 8;
/// Pixels iterated together with SSE2 or NEON: eight registers of two lanes per value.
#[cfg(not(target_arch = "wasm32"))]
pub(super) const NARROW_LANES: usize = 16;
/// Pixels iterated together in wasm, with SIMD128: four registers of two lanes per value.
#[cfg(target_arch = "wasm32")]
pub(super) const WASM_LANES: usize = 8;

/// Steps between two checks whether any lane of a group is still iterating.
const CHECK_EVERY: u32 = 8;

/// One group of pixels: their points, and which of them to skip (known interior points,
/// which count `max_iter`, and the padding after a row's last pixel).
pub(super) struct Group<const L: usize> {
    /// The real parts of the points.
    pub(super) cr: [f64; L],
    /// The imaginary parts of the points.
    pub(super) ci: [f64; L],
    /// 1.0 for a lane to iterate, 0.0 for one to skip.
    pub(super) iterate: [f64; L],
}

/// Returns each lane's escape-time count, as [`super::escape_time`] would for its point
/// when the lane iterates; skipped lanes count 0.
#[inline(always)]
pub(super) fn escape_times<const L: usize>(group: &Group<L>, max_iter: u32) -> [u32; L] {
    let Group { cr, ci, iterate } = group;
    let (mut zr, mut zi) = ([0.0f64; L], [0.0f64; L]);
    // 1.0 while a lane has not escaped; adding it counts the steps taken. f64 counts are
    // exact far beyond `MAX_ITER_LIMIT`, and keep every lane the same width.
    let mut active = *iterate;
    let mut count = [0.0f64; L];
    let mut n = 0;
    while n < max_iter {
        let steps = CHECK_EVERY.min(max_iter - n);
        for _ in 0..steps {
            for lane in 0..L {
                let zr2 = zr[lane] * zr[lane];
                let zi2 = zi[lane] * zi[lane];
                active[lane] = if zr2 + zi2 > 4.0 { 0.0 } else { active[lane] };
                count[lane] += active[lane];
                zi[lane] = 2.0 * zr[lane] * zi[lane] + ci[lane];
                zr[lane] = zr2 - zi2 + cr[lane];
            }
        }
        n += steps;
        if active.iter().all(|&a| a == 0.0) {
            break;
        }
    }
    count.map(|c| c as u32)
}
