//! Monte Carlo price of a European call option under Black-Scholes: every task simulates
//! its own paths (seeded by its index) and answers partial sums; the client adds them up
//! ([`reduce`]). [`black_scholes`] is the closed form the estimate converges to.
//!
//! Input (a range task): the task index, then [`Params::to_args`]. Output: the sum of the
//! discounted payoffs, the sum of their squares (f64, little-endian) and the path count
//! (u64): 24 bytes.

use ostrich_kernel_sdk::{SplitMix64, math, range_task};

/// The option and the simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Paths each task simulates.
    pub paths_per_task: u32,
    /// Mixed with the task index to seed its generator.
    pub seed: u64,
    /// Spot price.
    pub spot: f64,
    /// Strike price.
    pub strike: f64,
    /// Risk-free rate, per year.
    pub rate: f64,
    /// Volatility, per sqrt(year).
    pub sigma: f64,
    /// Time to expiry, in years.
    pub years: f64,
}

impl Params {
    /// The job's shared arguments: 52 little-endian bytes.
    pub fn to_args(&self) -> Vec<u8> {
        let mut args = self.paths_per_task.to_le_bytes().to_vec();
        args.extend_from_slice(&self.seed.to_le_bytes());
        for value in [self.spot, self.strike, self.rate, self.sigma, self.years] {
            args.extend_from_slice(&value.to_le_bytes());
        }
        args
    }

    /// Reads [`Self::to_args`] back.
    pub fn from_args(args: &[u8]) -> Option<Self> {
        let (paths, rest) = args.split_first_chunk::<4>()?;
        let (seed, rest) = rest.split_first_chunk::<8>()?;
        let mut values = rest.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()));
        Some(Self {
            paths_per_task: u32::from_le_bytes(*paths),
            seed: u64::from_le_bytes(*seed),
            spot: values.next()?,
            strike: values.next()?,
            rate: values.next()?,
            sigma: values.next()?,
            years: values.next()?,
        })
    }
}

/// One task: its paths' discounted payoff sums. A malformed input answers nothing (an
/// empty output), which the client sees as an error.
pub fn run(input: &[u8]) -> Vec<u8> {
    let Some((index, args)) = range_task(input) else { return Vec::new() };
    let Some(p) = Params::from_args(args) else { return Vec::new() };
    let mut rng = SplitMix64::new(p.seed ^ index.wrapping_mul(0xd134_2543_de82_ef95));
    let drift = (p.rate - 0.5 * p.sigma * p.sigma) * p.years;
    let vol = p.sigma * math::sqrt(p.years);
    let discount = libm::exp(-p.rate * p.years);
    let (mut sum, mut squares) = (0.0f64, 0.0f64);
    let mut normals = Normals::default();
    for _ in 0..p.paths_per_task {
        let z = normals.next(&mut rng);
        let price = p.spot * libm::exp(drift + vol * z);
        let payoff = discount * (price - p.strike).max(0.0);
        sum += payoff;
        squares += payoff * payoff;
    }
    let mut output = sum.to_le_bytes().to_vec();
    output.extend_from_slice(&squares.to_le_bytes());
    output.extend_from_slice(&u64::from(p.paths_per_task).to_le_bytes());
    output
}

ostrich_kernel_sdk::kernel!(run);

/// Standard normal numbers by the Box-Muller transform, two per pair of uniforms.
#[derive(Default)]
struct Normals {
    spare: Option<f64>,
}

impl Normals {
    fn next(&mut self, rng: &mut SplitMix64) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 - u is in (0, 1], so its log is finite.
        let radius = math::sqrt(-2.0 * libm::log(1.0 - rng.next_f64()));
        let angle = 2.0 * core::f64::consts::PI * rng.next_f64();
        self.spare = Some(radius * libm::sin(angle));
        radius * libm::cos(angle)
    }
}

/// Adds the tasks' outputs up: the price estimate and its standard error.
pub fn reduce<'a>(outputs: impl IntoIterator<Item = &'a [u8]>) -> Option<(f64, f64)> {
    let (mut sum, mut squares, mut count) = (0.0, 0.0, 0u64);
    for output in outputs {
        let field = |at: usize| output.get(at..at + 8).and_then(|b| b.try_into().ok());
        sum += f64::from_le_bytes(field(0)?);
        squares += f64::from_le_bytes(field(8)?);
        count += u64::from_le_bytes(field(16)?);
    }
    if count < 2 {
        return None;
    }
    let n = count as f64;
    let mean = sum / n;
    let variance = (squares / n - mean * mean).max(0.0) * n / (n - 1.0);
    Some((mean, libm::sqrt(variance / n)))
}

/// The Black-Scholes price of the call, in closed form.
pub fn black_scholes(p: &Params) -> f64 {
    let root = p.sigma * libm::sqrt(p.years);
    let d1 = (libm::log(p.spot / p.strike) + (p.rate + 0.5 * p.sigma * p.sigma) * p.years) / root;
    let d2 = d1 - root;
    let cdf = |x: f64| 0.5 * (1.0 + libm::erf(x / core::f64::consts::SQRT_2));
    p.spot * cdf(d1) - p.strike * libm::exp(-p.rate * p.years) * cdf(d2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params { paths_per_task: 20_000, seed: 42, spot: 100.0, strike: 105.0, rate: 0.05, sigma: 0.2, years: 1.0 }
    }

    fn input(index: u64, p: &Params) -> Vec<u8> {
        let mut input = index.to_le_bytes().to_vec();
        input.extend(p.to_args());
        input
    }

    #[test]
    fn the_estimate_converges_to_the_closed_form() {
        let p = params();
        assert_eq!(Params::from_args(&p.to_args()), Some(p));
        let outputs: Vec<Vec<u8>> = (0..20).map(|i| run(&input(i, &p))).collect();
        let (price, error) = reduce(outputs.iter().map(Vec::as_slice)).expect("estimate");
        let exact = black_scholes(&p);
        assert!((exact - 8.0214).abs() < 1e-3, "closed form {exact}");
        assert!((price - exact).abs() < 4.0 * error, "{price} ± {error} against {exact}");
        assert_ne!(run(&input(0, &p)), run(&input(1, &p)), "tasks draw their own paths");
        assert_eq!(run(&input(3, &p)), run(&input(3, &p)), "a replica draws the same");
        assert!(run(b"short").is_empty());
    }
}
