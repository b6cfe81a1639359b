//! `/metrics`: the coordinator's figures in the Prometheus (OpenMetrics) text format, swarm-
//! wide and per swarm. The scheduler updates them as results are settled and refreshes the
//! gauges on its progress tick; a scrape only encodes the registry, so it never waits behind
//! the scheduler's queue.

use std::sync::{Arc, atomic::AtomicU64};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

/// The label of per-swarm series: the swarm's public id.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SwarmLabel {
    /// The swarm id.
    pub swarm: String,
}

/// The label of the relay's series: which end of relayed connections this node is.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SideLabel {
    /// `gateway` (the device's socket is here) or `owner` (its swarm is here).
    pub side: &'static str,
}

/// One swarm's counters, held by the swarm so that counting a result is an atomic add, not
/// a label lookup.
#[derive(Debug, Clone, Default)]
pub struct SwarmCounters {
    verified: Counter,
    failed: Counter,
}

/// One swarm's gauges at a refresh.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SwarmGauges {
    /// Devices with a live session.
    pub online: u64,
    /// Tasks waiting for a device.
    pub queued: u64,
    /// Tasks leased to devices.
    pub in_flight: u64,
    /// Verified results per second over the last 10 s.
    pub tasks_per_second: f64,
    /// Jobs still running.
    pub jobs_running: u64,
}

/// Every series the coordinator exports.
pub struct Metrics {
    registry: Registry,
    swarms: Gauge,
    devices_online: Gauge,
    tasks_queued: Gauge,
    tasks_in_flight: Gauge,
    tasks_per_second: Gauge<f64, AtomicU64>,
    jobs_running: Gauge,
    tasks_verified: Counter,
    verification_failures: Counter,
    results_ignored: Counter,
    receive_bytes: Gauge,
    receive_budget_bytes: Gauge,
    swarm_devices_online: Family<SwarmLabel, Gauge>,
    swarm_tasks_queued: Family<SwarmLabel, Gauge>,
    swarm_tasks_in_flight: Family<SwarmLabel, Gauge>,
    swarm_tasks_per_second: Family<SwarmLabel, Gauge<f64, AtomicU64>>,
    swarm_tasks_verified: Family<SwarmLabel, Counter>,
    swarm_verification_failures: Family<SwarmLabel, Counter>,
    owned: Family<SwarmLabel, Gauge>,
    relayed: Family<SideLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every series at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ostrich");
        let metrics = Self {
            swarms: Gauge::default(),
            devices_online: Gauge::default(),
            tasks_queued: Gauge::default(),
            tasks_in_flight: Gauge::default(),
            tasks_per_second: Gauge::default(),
            jobs_running: Gauge::default(),
            tasks_verified: Counter::default(),
            verification_failures: Counter::default(),
            results_ignored: Counter::default(),
            receive_bytes: Gauge::default(),
            receive_budget_bytes: Gauge::default(),
            swarm_devices_online: Family::default(),
            swarm_tasks_queued: Family::default(),
            swarm_tasks_in_flight: Family::default(),
            swarm_tasks_per_second: Family::default(),
            swarm_tasks_verified: Family::default(),
            swarm_verification_failures: Family::default(),
            owned: Family::default(),
            relayed: Family::default(),
            registry: Registry::default(),
        };
        registry.register("swarms", "Swarms held, online or not", metrics.swarms.clone());
        registry.register("devices_online", "Devices with a live session", metrics.devices_online.clone());
        registry.register("tasks_queued", "Tasks waiting for a device", metrics.tasks_queued.clone());
        registry.register("tasks_in_flight", "Tasks leased to devices", metrics.tasks_in_flight.clone());
        registry.register(
            "tasks_per_second",
            "Verified results per second over the last 10 s",
            metrics.tasks_per_second.clone(),
        );
        registry.register("jobs_running", "Jobs accepted and not yet ended", metrics.jobs_running.clone());
        registry.register("tasks_verified", "Results that passed verification", metrics.tasks_verified.clone());
        registry.register(
            "verification_failures",
            "Results that failed verification",
            metrics.verification_failures.clone(),
        );
        registry.register(
            "results_ignored",
            "Results ignored: unknown task, not the lease holder, or already verified",
            metrics.results_ignored.clone(),
        );
        registry.register(
            "receive_bytes",
            "Bytes being received now (frames and request bodies), held from the receive budget",
            metrics.receive_bytes.clone(),
        );
        registry.register("receive_budget_bytes", "The receive budget", metrics.receive_budget_bytes.clone());
        registry.register(
            "swarm_devices_online",
            "Devices with a live session, per swarm",
            metrics.swarm_devices_online.clone(),
        );
        registry.register(
            "swarm_tasks_queued",
            "Tasks waiting for a device, per swarm",
            metrics.swarm_tasks_queued.clone(),
        );
        registry.register(
            "swarm_tasks_in_flight",
            "Tasks leased to devices, per swarm",
            metrics.swarm_tasks_in_flight.clone(),
        );
        registry.register(
            "swarm_tasks_per_second",
            "Verified results per second over the last 10 s, per swarm",
            metrics.swarm_tasks_per_second.clone(),
        );
        registry.register(
            "swarm_tasks_verified",
            "Results that passed verification, per swarm",
            metrics.swarm_tasks_verified.clone(),
        );
        registry.register(
            "swarm_verification_failures",
            "Results that failed verification, per swarm",
            metrics.swarm_verification_failures.clone(),
        );
        registry.register(
            "cluster_swarm_owned",
            "Cluster mode: 1 for each swarm this node owns and runs",
            metrics.owned.clone(),
        );
        registry.register(
            "cluster_relayed_sessions",
            "Cluster mode: relayed device connections, as gateway (socket here) or owner (swarm here)",
            metrics.relayed.clone(),
        );
        Self { registry, ..metrics }
    }

    /// Cluster mode: the swarms this node owns now.
    pub fn set_owned(&self, swarms: &[SwarmLabel]) {
        self.owned.clear();
        for swarm in swarms {
            self.owned.get_or_create(swarm).set(1);
        }
    }

    /// Cluster mode: the relayed connections of each side.
    pub fn set_relayed(&self, gateway: usize, owner: usize) {
        self.relayed.get_or_create(&SideLabel { side: "gateway" }).set(clamp(gateway as u64));
        self.relayed.get_or_create(&SideLabel { side: "owner" }).set(clamp(owner as u64));
    }

    /// The counters of the swarm labelled `swarm`, registered under that label.
    pub fn counters(&self, swarm: &SwarmLabel) -> SwarmCounters {
        SwarmCounters {
            verified: self.swarm_tasks_verified.get_or_create(swarm).clone(),
            failed: self.swarm_verification_failures.get_or_create(swarm).clone(),
        }
    }

    /// Drops the series of a removed swarm.
    pub fn forget(&self, swarm: &SwarmLabel) {
        self.swarm_tasks_verified.remove(swarm);
        self.swarm_verification_failures.remove(swarm);
    }

    /// A result passed verification in the swarm of `counters`.
    pub fn verified(&self, counters: &SwarmCounters) {
        self.tasks_verified.inc();
        counters.verified.inc();
    }

    /// A result failed verification in the swarm of `counters`.
    pub fn failed(&self, counters: &SwarmCounters) {
        self.verification_failures.inc();
        counters.failed.inc();
    }

    /// A result was ignored.
    pub fn ignored(&self) {
        self.results_ignored.inc();
    }

    /// Sets the gauges from each live swarm's figures; swarms no longer listed drop out.
    pub fn refresh(&self, swarms: &[(SwarmLabel, SwarmGauges)]) {
        let mut total = SwarmGauges::default();
        for family in [&self.swarm_devices_online, &self.swarm_tasks_queued, &self.swarm_tasks_in_flight] {
            family.clear();
        }
        self.swarm_tasks_per_second.clear();
        for (label, gauges) in swarms {
            self.swarm_devices_online.get_or_create(label).set(clamp(gauges.online));
            self.swarm_tasks_queued.get_or_create(label).set(clamp(gauges.queued));
            self.swarm_tasks_in_flight.get_or_create(label).set(clamp(gauges.in_flight));
            self.swarm_tasks_per_second.get_or_create(label).set(gauges.tasks_per_second);
            total.online += gauges.online;
            total.queued += gauges.queued;
            total.in_flight += gauges.in_flight;
            total.tasks_per_second += gauges.tasks_per_second;
            total.jobs_running += gauges.jobs_running;
        }
        self.devices_online.set(clamp(total.online));
        self.tasks_queued.set(clamp(total.queued));
        self.tasks_in_flight.set(clamp(total.in_flight));
        self.tasks_per_second.set(total.tasks_per_second);
        self.jobs_running.set(clamp(total.jobs_running));
    }

    /// Sets the number of swarms held.
    pub fn set_swarms(&self, count: usize) {
        self.swarms.set(clamp(count as u64));
    }

    /// Sets the receive budget's figures (read at each scrape).
    pub fn set_receive(&self, used: usize, budget: usize) {
        self.receive_bytes.set(clamp(used as u64));
        self.receive_budget_bytes.set(clamp(budget as u64));
    }

    /// The registry in the text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The metrics shared by the scheduler (which updates them) and the HTTP server.
pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_render_swarm_wide_and_per_swarm() {
        let metrics = Metrics::new();
        let (a, b) = (SwarmLabel { swarm: "a".into() }, SwarmLabel { swarm: "b".into() });
        metrics.verified(&metrics.counters(&a));
        metrics.verified(&metrics.counters(&a));
        metrics.failed(&metrics.counters(&b));
        let gauges = |online| SwarmGauges { online, queued: 5, in_flight: 2, tasks_per_second: 1.5, jobs_running: 1 };
        metrics.refresh(&[(a.clone(), gauges(3)), (b.clone(), gauges(4))]);
        metrics.set_swarms(5);
        let text = metrics.render();
        for line in [
            "ostrich_swarms 5",
            "ostrich_devices_online 7",
            "ostrich_tasks_queued 10",
            "ostrich_tasks_per_second 3.0",
            "ostrich_tasks_verified_total 2",
            "ostrich_verification_failures_total 1",
            "ostrich_swarm_devices_online{swarm=\"b\"} 4",
            "ostrich_swarm_tasks_verified_total{swarm=\"a\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
        metrics.refresh(&[(a, gauges(1))]);
        assert!(!metrics.render().contains("ostrich_swarm_devices_online{swarm=\"b\"}"), "a gone swarm drops out");
    }
}
