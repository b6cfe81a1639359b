//! Which SIMD instruction set the kernels run on this machine.
//!
//! The native kernels pick their code at run time: `gemm` for the matrix product and
//! `pulp` for Mandelbrot both check the CPU's features once, so the one binary is fast on
//! every x86-64 CPU. [`simd_level`] answers the choice they make, for logs and benchmarks.

/// The widest SIMD instruction set the native kernels use on this CPU: `AVX-512`,
/// `AVX2+FMA` or `SSE2` on x86-64, `NEON` on aarch64, `SIMD128` in wasm (chosen at compile
/// time there), `scalar` elsewhere.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        X86Level::ALL.into_iter().find(|level| level.is_available()).unwrap_or(X86Level::Sse2).name()
    }
    #[cfg(target_arch = "aarch64")]
    {
        "NEON"
    }
    #[cfg(target_arch = "wasm32")]
    {
        if cfg!(target_feature = "simd128") { "SIMD128" } else { "scalar" }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "wasm32")))]
    {
        "scalar"
    }
}

/// An x86-64 instruction-set level the native kernels have code for: pulp's x86-64-v4
/// (AVX-512), x86-64-v3 (AVX2, FMA) and the baseline (SSE2).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum X86Level {
    /// AVX-512 (F, BW, CD, DQ, VL) with everything x86-64-v3 has.
    Avx512,
    /// AVX2 and FMA with the rest of x86-64-v3.
    Avx2,
    /// The x86-64 baseline: SSE2.
    Sse2,
}

#[cfg(target_arch = "x86_64")]
impl X86Level {
    /// Every level, widest first.
    pub const ALL: [Self; 3] = [Self::Avx512, Self::Avx2, Self::Sse2];

    /// The level's name, as [`simd_level`] answers it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "AVX-512",
            Self::Avx2 => "AVX2+FMA",
            Self::Sse2 => "SSE2",
        }
    }

    /// Whether this CPU has the level (SSE2: every x86-64 CPU).
    pub fn is_available(self) -> bool {
        self.arch().is_some()
    }

    /// pulp's dispatcher for this level, when this CPU has it (pulp checks the features).
    pub(crate) fn arch(self) -> Option<pulp::Arch> {
        match self {
            Self::Avx512 => pulp::x86::V4::try_new().map(pulp::Arch::V4),
            Self::Avx2 => pulp::x86::V3::try_new().map(pulp::Arch::V3),
            Self::Sse2 => Some(pulp::Arch::Scalar),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::simd_level;

    #[test]
    fn the_level_matches_the_cpu() {
        // `scripts/cross-check.sh` runs these tests on QEMU's models of older CPUs and names
        // the level each must get; elsewhere the level must agree with the standard library.
        if let Ok(expected) = std::env::var("OSTRICH_EXPECT_SIMD") {
            assert_eq!(simd_level(), expected);
        }
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            // x86-64-v3 and x86-64-v4, the levels pulp checks for.
            let avx2 = has!("avx2") && has!("fma") && has!("bmi1") && has!("bmi2") && has!("lzcnt");
            let avx512 =
                avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512cd") && has!("avx512dq") && has!("avx512vl");
            let expected = if avx512 {
                "AVX-512"
            } else if avx2 {
                "AVX2+FMA"
            } else {
                "SSE2"
            };
            assert_eq!(simd_level(), expected);
        }
    }
}
