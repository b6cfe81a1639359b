//! A parameter sweep of the SIR epidemic model: each record is one parameter set, each
//! output that epidemic's summary. Integrated with fixed-step RK4 in plain f64 arithmetic,
//! so every target gives the same bytes.
//!
//! Record: β, γ (f64) and the days to simulate (u32), little-endian, 20 bytes. Output: the
//! peak infected fraction, the day of the peak and the final recovered fraction (f64),
//! 24 bytes.

/// One parameter set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Infections per infected person per day.
    pub beta: f64,
    /// Recoveries per infected person per day.
    pub gamma: f64,
    /// Days simulated.
    pub days: u32,
}

/// An epidemic's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// The largest infected fraction.
    pub peak_infected: f64,
    /// When it was reached, in days.
    pub peak_day: f64,
    /// The recovered fraction at the end.
    pub final_recovered: f64,
}

/// Integration steps per day.
const STEPS_PER_DAY: u32 = 10;
/// Infected fraction at day 0.
const SEED_INFECTED: f64 = 1e-3;

impl Scenario {
    /// The record of this scenario.
    pub fn to_record(&self) -> Vec<u8> {
        let mut record = self.beta.to_le_bytes().to_vec();
        record.extend_from_slice(&self.gamma.to_le_bytes());
        record.extend_from_slice(&self.days.to_le_bytes());
        record
    }

    /// Reads [`Self::to_record`] back.
    pub fn from_record(record: &[u8]) -> Option<Self> {
        let (beta, rest) = record.split_first_chunk::<8>()?;
        let (gamma, rest) = rest.split_first_chunk::<8>()?;
        let (days, _) = rest.split_first_chunk::<4>()?;
        Some(Self {
            beta: f64::from_le_bytes(*beta),
            gamma: f64::from_le_bytes(*gamma),
            days: u32::from_le_bytes(*days),
        })
    }

    /// Simulates the epidemic.
    pub fn simulate(&self) -> Outcome {
        let derivative = |s: f64, i: f64| {
            let infections = self.beta * s * i;
            let recoveries = self.gamma * i;
            (-infections, infections - recoveries, recoveries)
        };
        let dt = 1.0 / f64::from(STEPS_PER_DAY);
        let (mut s, mut i, mut r) = (1.0 - SEED_INFECTED, SEED_INFECTED, 0.0);
        let mut outcome = Outcome { peak_infected: i, peak_day: 0.0, final_recovered: 0.0 };
        for step in 1..=self.days.min(100_000) * STEPS_PER_DAY {
            let k1 = derivative(s, i);
            let k2 = derivative(s + 0.5 * dt * k1.0, i + 0.5 * dt * k1.1);
            let k3 = derivative(s + 0.5 * dt * k2.0, i + 0.5 * dt * k2.1);
            let k4 = derivative(s + dt * k3.0, i + dt * k3.1);
            s += dt / 6.0 * (k1.0 + 2.0 * k2.0 + 2.0 * k3.0 + k4.0);
            i += dt / 6.0 * (k1.1 + 2.0 * k2.1 + 2.0 * k3.1 + k4.1);
            r += dt / 6.0 * (k1.2 + 2.0 * k2.2 + 2.0 * k3.2 + k4.2);
            if i > outcome.peak_infected {
                outcome.peak_infected = i;
                outcome.peak_day = f64::from(step) * dt;
            }
        }
        outcome.final_recovered = r;
        outcome
    }
}

impl Outcome {
    /// Reads an output back.
    pub fn from_output(output: &[u8]) -> Option<Self> {
        let value = |at: usize| output.get(at..at + 8).and_then(|b| b.try_into().ok()).map(f64::from_le_bytes);
        Some(Self { peak_infected: value(0)?, peak_day: value(8)?, final_recovered: value(16)? })
    }
}

/// One task: the record's epidemic summary (empty for a malformed record).
pub fn run(record: &[u8]) -> Vec<u8> {
    let Some(scenario) = Scenario::from_record(record) else { return Vec::new() };
    let outcome = scenario.simulate();
    let mut output = Vec::with_capacity(24);
    for value in [outcome.peak_infected, outcome.peak_day, outcome.final_recovered] {
        output.extend_from_slice(&value.to_le_bytes());
    }
    output
}

ostrich_kernel_sdk::kernel!(run);

/// A grid of scenarios: `n` values of β from 0.15 to 0.6, γ fixed at 0.1, 200 days.
pub fn grid(n: u32) -> Vec<Scenario> {
    (0..n)
        .map(|k| Scenario { beta: 0.15 + 0.45 * f64::from(k) / f64::from(n.max(2) - 1), gamma: 0.1, days: 200 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epidemics_behave_like_the_model_says() {
        let mild = Scenario { beta: 0.12, gamma: 0.1, days: 400 }.simulate();
        let severe = Scenario { beta: 0.5, gamma: 0.1, days: 400 }.simulate();
        assert!(severe.peak_infected > mild.peak_infected * 5.0);
        assert!(severe.peak_day < mild.peak_day);
        // R0 = 5: the final size solves r = 1 - exp(-R0 r), about 0.993.
        assert!((severe.final_recovered - 0.993).abs() < 0.01, "{}", severe.final_recovered);
        let record = Scenario { beta: 0.3, gamma: 0.1, days: 10 }.to_record();
        let outcome = Outcome::from_output(&run(&record)).expect("24 bytes");
        assert_eq!(outcome, Scenario::from_record(&record).expect("record").simulate());
        assert!(run(b"short").is_empty());
        assert_eq!(grid(4).len(), 4);
    }
}
