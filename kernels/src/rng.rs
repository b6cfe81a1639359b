//! SplitMix64: a tiny, fast, deterministic pseudo-random generator.
//!
//! It uses only wrapping 64-bit integer arithmetic, so the same seed yields the same
//! sequence on every platform, native or wasm. It is not cryptographically secure; it
//! only needs to be unpredictable enough that a device cannot guess which entries a
//! verifier will look at before it has committed to its answer.

/// The SplitMix64 generator (Steele, Lea and Flood, 2014).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

/// The increment added to the state on every step (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    /// Creates a generator whose sequence is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Returns the next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix64(self.state)
    }

    /// Returns a uniform `f32` in `[0, 1)` with 24 bits of precision.
    pub fn next_f32_unit(&mut self) -> f32 {
        // The top 24 bits fit the f32 mantissa exactly, so the result is never rounded up to 1.
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Returns a uniform `f64` in `[0, 1)` with 53 bits of precision.
    pub fn next_f64_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The SplitMix64 output function: a bijective avalanche mix of 64 bits.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    #[test]
    fn matches_the_reference_sequence_for_seed_zero() {
        // Published SplitMix64 outputs for seed 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn same_seed_same_sequence_different_seed_different_sequence() {
        let take = |seed| {
            let mut rng = SplitMix64::new(seed);
            (0..16).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(take(42), take(42));
        assert_ne!(take(42), take(43));
    }

    #[test]
    fn unit_floats_stay_in_range_and_spread_out() {
        let mut rng = SplitMix64::new(7);
        let mut sum32 = 0.0f64;
        let mut sum64 = 0.0f64;
        let n = 10_000;
        for _ in 0..n {
            let a = rng.next_f32_unit();
            let b = rng.next_f64_unit();
            assert!((0.0..1.0).contains(&a), "{a}");
            assert!((0.0..1.0).contains(&b), "{b}");
            sum32 += f64::from(a);
            sum64 += b;
        }
        // The mean of n uniform values has standard deviation 0.29 / sqrt(n) = 0.003.
        assert!((sum32 / f64::from(n) - 0.5).abs() < 0.02);
        assert!((sum64 / f64::from(n) - 0.5).abs() < 0.02);
    }
}
