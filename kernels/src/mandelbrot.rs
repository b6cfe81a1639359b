//! Escape-time rendering of the Mandelbrot set, and spot checks of rendered tiles.
//!
//! The iteration count of a pixel is part of the protocol: a device's tile is accepted only
//! if recomputed pixels match it exactly. Every count therefore comes from one function,
//! [`iterations_at`], with a fixed order of f64 operations and no fused multiply-adds
//! (Rust never fuses them on its own), so native and wasm builds agree bit for bit.

use crate::KernelError;
#[cfg(target_arch = "x86_64")]
use crate::cpu::X86Level;
use crate::rng::SplitMix64;

mod lanes;
mod palette;

pub use palette::colorize;

/// The largest `max_iter` a view may ask for.
pub const MAX_ITER_LIMIT: u32 = 1_000_000;

/// The most pixels [`render_tile`] renders in one call (256 MiB of counts).
pub const MAX_TILE_PIXELS: usize = 1 << 26;

/// The width of the real axis that the image spans at zoom 1.
const SPAN_AT_ZOOM_ONE: f64 = 3.5;

/// A rectangular view onto the complex plane, rendered as `width`×`height` pixels: the wire
/// type itself, so a task's view is rendered and checked without conversion.
pub use ostrich_protocol::MandelbrotView as View;

/// Pixel geometry and validation of a [`View`].
trait Geometry {
    /// Returns the side of one pixel in the complex plane.
    fn pixel_size(&self) -> f64;
    /// Returns the complex number at the centre of pixel (`px`, `py`); y grows downwards.
    fn pixel_point(&self, size: f64, px: u32, py: u32) -> (f64, f64);
    /// Rejects views that cannot be rendered meaningfully.
    fn validate(&self) -> Result<(), KernelError>;
    /// Validates the view and the tile rectangle; returns the tile's pixel count.
    fn tile_len(&self, x: u32, y: u32, w: u32, h: u32) -> Result<usize, KernelError>;
}

impl Geometry for View {
    /// Returns the side of one pixel in the complex plane.
    fn pixel_size(&self) -> f64 {
        SPAN_AT_ZOOM_ONE / (self.zoom * f64::from(self.width))
    }

    /// Returns the complex number at the centre of pixel (`px`, `py`); y grows downwards.
    fn pixel_point(&self, size: f64, px: u32, py: u32) -> (f64, f64) {
        let re = self.center_re + (f64::from(px) + 0.5 - f64::from(self.width) / 2.0) * size;
        let im = self.center_im - (f64::from(py) + 0.5 - f64::from(self.height) / 2.0) * size;
        (re, im)
    }

    /// Rejects views that cannot be rendered meaningfully.
    fn validate(&self) -> Result<(), KernelError> {
        let reason = if self.width == 0 || self.height == 0 {
            "image has zero size"
        } else if !self.zoom.is_finite() || self.zoom <= 0.0 {
            "zoom is not a positive finite number"
        } else if !self.center_re.is_finite() || !self.center_im.is_finite() {
            "centre is not finite"
        } else if self.max_iter == 0 || self.max_iter > MAX_ITER_LIMIT {
            "max_iter is not between 1 and 1000000"
        } else if !self.pixel_size().is_normal() {
            "pixel size is not a normal number"
        } else {
            return Ok(());
        };
        Err(KernelError::InvalidView { reason })
    }

    /// Checks that the rectangle lies inside the image and returns its pixel count.
    fn tile_len(&self, x: u32, y: u32, w: u32, h: u32) -> Result<usize, KernelError> {
        self.validate()?;
        let fits = |start: u32, len: u32, limit: u32| u64::from(start) + u64::from(len) <= u64::from(limit);
        if !fits(x, w, self.width) || !fits(y, h, self.height) {
            return Err(KernelError::RectOutOfBounds { x, y, w, h });
        }
        (w as usize).checked_mul(h as usize).ok_or(KernelError::TooLarge { what: "tile" })
    }
}

/// Returns the escape-time iteration count of pixel (`px`, `py`) of `view`.
///
/// Iterates `z ← z² + c` from `z = 0` and returns how many steps were taken before
/// `|z|² > 4`, or `max_iter` if that never happened. Points in the main cardioid or the
/// period-2 bulb return `max_iter` at once; they never escape, so the shortcut changes no
/// count (a point within rounding distance of their boundary would need far more than
/// [`MAX_ITER_LIMIT`] steps to escape). Any other implementation of the protocol must apply
/// the same shortcut and the same operation order to agree with this one.
pub fn iterations_at(view: &View, px: u32, py: u32) -> u32 {
    let (re, im) = view.pixel_point(view.pixel_size(), px, py);
    escape_time(re, im, view.max_iter)
}

/// Iterates one point; the arithmetic order here is part of the protocol, and the
/// reference that the vectorised [`render_tile`] matches bit for bit.
fn escape_time(cr: f64, ci: f64, max_iter: u32) -> u32 {
    if in_cardioid_or_bulb(cr, ci) {
        return max_iter;
    }
    let (mut zr, mut zi) = (0.0f64, 0.0f64);
    let mut n = 0;
    while n < max_iter {
        let zr2 = zr * zr;
        let zi2 = zi * zi;
        if zr2 + zi2 > 4.0 {
            return n;
        }
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        n += 1;
    }
    max_iter
}

/// Tests membership of the main cardioid and the period-2 bulb, which hold most interior.
fn in_cardioid_or_bulb(cr: f64, ci: f64) -> bool {
    let ci2 = ci * ci;
    let x = cr - 0.25;
    let q = x * x + ci2;
    let shifted = cr + 1.0;
    q * (q + x) <= 0.25 * ci2 || shifted * shifted + ci2 <= 0.0625
}

/// Renders the `w`×`h` rectangle whose top-left pixel is (`x`, `y`), row-major.
///
/// Fails when the view is degenerate, the rectangle leaves the image, or it holds more
/// than [`MAX_TILE_PIXELS`] pixels. Each count equals [`iterations_at`] for its pixel: the
/// pixels are iterated several at a time with the same operations (`lanes.rs`), natively
/// with the widest vector instructions the CPU has.
pub fn render_tile(view: &View, x: u32, y: u32, w: u32, h: u32) -> Result<Vec<u32>, KernelError> {
    // pulp runs `Rows` compiled for the best instruction set the CPU has (AVX-512, AVX2,
    // NEON…); wasm has SIMD128 at compile time.
    #[cfg(not(target_arch = "wasm32"))]
    return render_with(view, (x, y, w, h), |rows| pulp::Arch::new().dispatch(rows));
    #[cfg(target_arch = "wasm32")]
    render_with(view, (x, y, w, h), |rows| rows.render::<{ lanes::WASM_LANES }>())
}

/// Renders like [`render_tile`] with the code of an x86-64 instruction-set level below the
/// CPU's own, or `None` when the CPU lacks `level`: the benchmarks measure each level's code
/// on one machine, and the tests check that each gives the scalar loop's counts.
#[cfg(target_arch = "x86_64")]
pub fn render_tile_at(
    level: X86Level,
    view: &View,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
) -> Option<Result<Vec<u32>, KernelError>> {
    let arch = level.arch()?;
    Some(render_with(view, (x, y, w, h), |rows| arch.dispatch(rows)))
}

/// Validates the tile, then fills its counts with `render`.
fn render_with(
    view: &View,
    (x, y, w, h): (u32, u32, u32, u32),
    render: impl FnOnce(Rows),
) -> Result<Vec<u32>, KernelError> {
    let len = view.tile_len(x, y, w, h)?;
    if len > MAX_TILE_PIXELS {
        return Err(KernelError::TooLarge { what: "tile" });
    }
    let mut counts = vec![0; len];
    if len > 0 {
        render(Rows { view, x, y, w, counts: &mut counts });
    }
    Ok(counts)
}

/// The rows of a tile to render: `counts` holds rows of `w` pixels, the first at (`x`, `y`).
struct Rows<'a> {
    view: &'a View,
    x: u32,
    y: u32,
    w: u32,
    counts: &'a mut [u32],
}

impl Rows<'_> {
    /// Renders every row. Everything it calls is inlined into it, so that under pulp's
    /// dispatch the whole loop is compiled with the chosen target features (a closure
    /// would not be inlined, and would stay SSE2 code).
    #[inline(always)]
    fn render<const L: usize>(self) {
        for (row, out) in self.counts.chunks_exact_mut(self.w as usize).enumerate() {
            render_row::<L>(self.view, self.x, self.y + row as u32, out);
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl pulp::WithSimd for Rows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        // The register width decides the group size (a constant for each `S`).
        match S::F64_LANES {
            8.. => self.render::<{ lanes::AVX512_LANES }>(),
            4 => self.render::<{ lanes::AVX2_LANES }>(),
            _ => self.render::<{ lanes::NARROW_LANES }>(),
        }
    }
}

/// Renders `out.len()` pixels of row `py`, starting at column `x`.
#[inline(always)]
fn render_row<const L: usize>(view: &View, x: u32, py: u32, out: &mut [u32]) {
    let size = view.pixel_size();
    for (chunk, first) in out.chunks_mut(L).zip((x..).step_by(L)) {
        // Lanes past the row's end are padding: they stay zero and do not iterate.
        let mut group = lanes::Group { cr: [0.0; L], ci: [0.0; L], iterate: [0.0; L] };
        let mut interior = [false; L];
        // Indexed rather than zipped: an iterator form of this loop measured a third slower
        // while the lanes were tuned (LLVM's code for the group that follows shifted).
        #[allow(clippy::needless_range_loop)]
        for lane in 0..chunk.len() {
            let (re, im) = view.pixel_point(size, first + lane as u32, py);
            interior[lane] = in_cardioid_or_bulb(re, im);
            (group.cr[lane], group.ci[lane]) = (re, im);
            group.iterate[lane] = if interior[lane] { 0.0 } else { 1.0 };
        }
        let counts = lanes::escape_times(&group, view.max_iter);
        for (lane, count) in chunk.iter_mut().enumerate() {
            *count = if interior[lane] { view.max_iter } else { counts[lane] };
        }
    }
}

/// Checks a claimed tile of counts, as rendered by [`render_tile`] with the same arguments.
///
/// Verifies the length and that no count exceeds `max_iter`, then recomputes the four
/// corners and `samples` pixels drawn with `SplitMix64::new(seed)`, and requires exact
/// equality. When `samples` is at least the pixel count, every pixel is recomputed instead.
// The signature mirrors `render_tile` plus the claim and the sampling; other crates call it.
#[allow(clippy::too_many_arguments)]
pub fn spot_check(
    view: &View,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    iterations: &[u32],
    samples: usize,
    seed: u64,
) -> Result<(), KernelError> {
    let len = view.tile_len(x, y, w, h)?;
    if iterations.len() != len {
        return Err(KernelError::LengthMismatch { what: "iterations", expected: len, found: iterations.len() });
    }
    if let Some(index) = iterations.iter().position(|&count| count > view.max_iter) {
        let count = iterations[index];
        return Err(KernelError::CountOutOfRange { index, count, max_iter: view.max_iter });
    }
    if len == 0 {
        return Ok(());
    }
    let check = |index: usize| {
        let (px, py) = (x + (index % w as usize) as u32, y + (index / w as usize) as u32);
        let expected = iterations_at(view, px, py);
        let found = iterations[index];
        if expected == found { Ok(()) } else { Err(KernelError::SpotCheckFailed { px, py, expected, found }) }
    };
    if samples >= len {
        return (0..len).try_for_each(check);
    }
    [0, w as usize - 1, len - w as usize, len - 1].into_iter().try_for_each(check)?;
    let mut rng = SplitMix64::new(seed);
    (0..samples).try_for_each(|_| check((rng.next_u64() % len as u64) as usize))
}

/// Returns the sum of the counts of a tile, the work it took, for throughput figures.
pub fn total_iterations(iterations: &[u32]) -> u64 {
    iterations.iter().fold(0u64, |sum, &count| sum.saturating_add(u64::from(count)))
}

#[cfg(test)]
mod tests;
