//! The swarm simulator: opens thousands of simulated devices against a running coordinator,
//! over real WebSockets with the real protocol, keeps them busy, and reports what the
//! coordinator costs per device and per task.
//!
//! Modules: [`coordinator`] (the coordinator process under test and its `/proc` figures),
//! [`api`] (the HTTP API the master uses), [`device`] (one simulated device), [`swarm`] (a
//! whole scenario and its report), [`matmul`] (a large product through native workers
//! against one process computing it alone), [`hostile`] (sockets attacking before their
//! hello while an honest swarm computes; [`raw`] is their byte-level WebSocket client) and
//! [`soak`] (a long run with churn, for memory that grows). [`wasm_scale`] times a
//! compute-bound user-kernel job on one native worker against two. [`cluster`] measures
//! cluster mode: the relay's cost and the failover time.

pub mod api;
pub mod cluster;
pub mod coordinator;
pub mod device;
pub mod hostile;
pub mod matmul;
pub mod raw;
pub mod soak;
pub mod swarm;
pub mod wasm_scale;

/// The `p`-th percentile (0-100) of sorted samples, or 0 when there are none.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_pick_ranks() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), 51);
        assert_eq!(percentile(&samples, 99.0), 99);
        assert_eq!(percentile(&samples, 100.0), 100);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
