//! Deterministic pseudo-random matrices.
//!
//! A job's input matrices are never shipped in full: the coordinator and every device
//! regenerate them from a seed. Each matrix of a job uses its own stream number, so A and B
//! differ even though they share the job seed.

use crate::rng::{SplitMix64, mix64};

/// The stream number of the left operand A of a product job.
pub const STREAM_A: u64 = 0;

/// The stream number of the right operand B of a product job.
pub const STREAM_B: u64 = 1;

/// Returns `len` values uniform in `[-1, 1)`, fully determined by `seed` and `stream`.
///
/// Every value is a multiple of 2^-23, so it is exact in `f32` and identical on every
/// platform. The generator's starting state mixes both inputs, so nearby seeds or streams
/// give unrelated sequences rather than shifted copies of one another.
pub fn seeded_matrix(seed: u64, stream: u64, len: usize) -> Vec<f32> {
    let start = mix64(seed ^ mix64(stream.wrapping_add(0x632B_E59B_D9B4_E019)));
    let mut rng = SplitMix64::new(start);
    (0..len).map(|_| 2.0 * rng.next_f32_unit() - 1.0).collect()
}

#[cfg(test)]
mod tests {
    use super::{STREAM_A, STREAM_B, seeded_matrix};

    #[test]
    fn same_inputs_give_the_same_matrix() {
        assert_eq!(seeded_matrix(9, STREAM_A, 500), seeded_matrix(9, STREAM_A, 500));
    }

    #[test]
    fn a_shorter_matrix_is_a_prefix_of_a_longer_one() {
        let long = seeded_matrix(3, STREAM_B, 100);
        assert_eq!(&long[..40], &seeded_matrix(3, STREAM_B, 40)[..]);
    }

    #[test]
    fn streams_and_seeds_give_different_matrices() {
        let a = seeded_matrix(5, STREAM_A, 64);
        assert_ne!(a, seeded_matrix(5, STREAM_B, 64));
        assert_ne!(a, seeded_matrix(6, STREAM_A, 64));
        // A stream must not be a shifted copy of another.
        assert_ne!(&a[1..], &seeded_matrix(5, STREAM_B, 64)[..63]);
    }

    #[test]
    fn values_cover_the_range_minus_one_to_one() {
        let m = seeded_matrix(11, STREAM_A, 20_000);
        assert!(m.iter().all(|v| (-1.0..1.0).contains(v)));
        let min = m.iter().copied().fold(f32::INFINITY, f32::min);
        let max = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert!(min < -0.99 && max > 0.99, "{min} {max}");
        let mean = m.iter().map(|&v| f64::from(v)).sum::<f64>() / m.len() as f64;
        assert!(mean.abs() < 0.03, "{mean}");
    }

    #[test]
    fn pinned_values_never_change() {
        // Devices regenerate job inputs from seeds, so these bits are part of the protocol;
        // native and wasm builds were checked to produce the same values.
        let bits: Vec<u32> = seeded_matrix(2024, STREAM_B, 4).iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, [1_063_498_992, 1_049_628_996, 3_161_756_288, 3_175_216_800]);
    }

    #[test]
    fn zero_length_is_empty() {
        assert!(seeded_matrix(1, STREAM_A, 0).is_empty());
    }
}
