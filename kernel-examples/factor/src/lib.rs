//! Prime factors of a range of numbers, with a `verify` far cheaper than the work:
//! factoring by trial division takes up to √n steps, checking that the factors multiply
//! back to n and are each prime (deterministic Miller-Rabin) takes microseconds. The
//! coordinator runs `verify` on every result instead of replicating it.
//!
//! Input (a range task): the index, then the first number (u64, little-endian); task *i*
//! factors first + *i*. Output: its prime factors in ascending order, each a u64.

use ostrich_kernel_sdk::range_task;

/// The number task `input` factors.
fn number(input: &[u8]) -> Option<u64> {
    let (index, args) = range_task(input)?;
    let first = u64::from_le_bytes(*args.first_chunk::<8>()?);
    first.checked_add(index)
}

/// Prime factors by trial division, ascending.
pub fn factors(mut n: u64) -> Vec<u64> {
    let mut found = Vec::new();
    let mut d = 2u64;
    while d.saturating_mul(d) <= n {
        while n.is_multiple_of(d) {
            found.push(d);
            n /= d;
        }
        d += if d == 2 { 1 } else { 2 };
    }
    if n > 1 {
        found.push(n);
    }
    found
}

/// One task: the factors of its number (empty for a malformed input or 0).
pub fn run(input: &[u8]) -> Vec<u8> {
    let Some(n) = number(input).filter(|&n| n > 0) else { return Vec::new() };
    factors(n).iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// Whether `output` is the factorisation of the task's number: ascending primes whose
/// product is the number.
pub fn verify(input: &[u8], output: &[u8]) -> bool {
    let Some(n) = number(input) else { return false };
    if n == 0 || !output.len().is_multiple_of(8) {
        return false;
    }
    let list: Vec<u64> = output.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect();
    let ascending = list.windows(2).all(|w| w[0] <= w[1]);
    let product = list.iter().try_fold(1u64, |acc, f| acc.checked_mul(*f));
    ascending && product == Some(n) && list.iter().all(|&f| is_prime(f))
}

ostrich_kernel_sdk::kernel!(run, verify);

/// Deterministic Miller-Rabin for every u64 (these bases are enough below 2^64).
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    for p in BASES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let (mut d, mut s) = (n - 1, 0);
    while d.is_multiple_of(2) {
        d /= 2;
        s += 1;
    }
    let mul = |a: u64, b: u64| (u128::from(a) * u128::from(b) % u128::from(n)) as u64;
    let pow = |mut base: u64, mut exp: u64| {
        let mut acc = 1;
        while exp > 0 {
            if exp & 1 == 1 {
                acc = mul(acc, base);
            }
            base = mul(base, base);
            exp >>= 1;
        }
        acc
    };
    BASES.iter().all(|&a| {
        let mut x = pow(a, d);
        if x == 1 || x == n - 1 {
            return true;
        }
        for _ in 1..s {
            x = mul(x, x);
            if x == n - 1 {
                return true;
            }
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(index: u64, first: u64) -> Vec<u8> {
        let mut input = index.to_le_bytes().to_vec();
        input.extend(first.to_le_bytes());
        input
    }

    #[test]
    fn factors_verify_and_wrong_ones_do_not() {
        assert_eq!(factors(360), vec![2, 2, 2, 3, 3, 5]);
        assert_eq!(factors(1_000_000_007), vec![1_000_000_007]);
        let task = input(3, 1_000_000_000_000);
        let honest = run(&task);
        assert!(verify(&task, &honest));
        let product: u64 = honest.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).product();
        assert_eq!(product, 1_000_000_000_003);
        // The number itself, claimed prime: multiplies back but is not prime.
        assert!(!verify(&task, &1_000_000_000_003u64.to_le_bytes()));
        let mut wrong = honest.clone();
        wrong[0] ^= 1;
        assert!(!verify(&task, &wrong));
        assert!(!verify(&task, &honest[..honest.len() - 1]));
        assert!(is_prime(18_446_744_073_709_551_557));
        assert!(!is_prime(3_215_031_751), "a strong pseudoprime to bases 2, 3, 5, 7");
    }
}
