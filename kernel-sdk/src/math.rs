//! The float operations that WebAssembly has as single instructions: square root and the
//! roundings, as fast in a kernel as they are natively.
//!
//! A `no_std` kernel takes its float functions from the `libm` crate. On stable Rust,
//! `libm`'s wasm build cannot reach the `f64.sqrt` or `f64.floor` instructions (its
//! intrinsics need a nightly feature), so `libm::sqrt` runs a software square root, tens of
//! times slower than the instruction: the ray tracer example ran at a fifth of its native
//! speed with it. These functions use the fixed-width SIMD versions of the instructions
//! (`f64x2.sqrt`, `f64x2.floor`, ...), which stable Rust exposes, on lane 0; natively they
//! are `libm`'s, which use the processor's instructions where it has them.
//!
//! The results are the same bits on every target: IEEE 754 defines the square root and
//! the roundings exactly, and the hosts canonicalise NaNs (the native worker) or produce
//! them only from NaN or negative inputs.

macro_rules! lane0 {
    ($(#[$doc:meta])* $name:ident, $simd:ident, $fallback:path) => {
        $(#[$doc])*
        #[cfg(target_arch = "wasm32")]
        #[target_feature(enable = "simd128")]
        #[inline]
        pub fn $name(x: f64) -> f64 {
            use core::arch::wasm32::{f64x2_extract_lane, f64x2_splat, $simd};
            f64x2_extract_lane::<0>($simd(f64x2_splat(x)))
        }

        $(#[$doc])*
        #[cfg(not(target_arch = "wasm32"))]
        #[inline]
        pub fn $name(x: f64) -> f64 {
            $fallback(x)
        }
    };
}

lane0!(
    /// The square root of `x`, correctly rounded.
    sqrt, f64x2_sqrt, libm::sqrt
);
lane0!(
    /// The largest integer not above `x`.
    floor, f64x2_floor, libm::floor
);
lane0!(
    /// The smallest integer not below `x`.
    ceil, f64x2_ceil, libm::ceil
);
lane0!(
    /// `x` with its fraction dropped (rounded toward zero).
    trunc, f64x2_trunc, libm::trunc
);
