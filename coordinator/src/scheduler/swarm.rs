//! Swarms and their devices as the scheduler sees them: clamped capabilities, weights,
//! in-flight caps and measured rates.

use std::{
    cmp::{Ordering, Reverse},
    collections::{BinaryHeap, HashMap, HashSet, VecDeque},
};

use super::core::Effect;
use crate::{
    limits::frame_limit,
    metrics::{Metrics, SwarmCounters, SwarmLabel},
};
use ostrich_protocol::{
    Capabilities, DeviceId, DeviceStats, DeviceStatus, GpuInfo, GpuPath, JobId, KernelReport, LogLine, PowerPolicy,
    Role, RunState, SwarmId, TaskId,
};

/// Identifies one WebSocket session; a device gets a new one each time it connects.
pub type SessionId = u64;

/// Bounds on what a device may claim, so that no claim can grab the queue.
pub mod limits {
    /// Logical cores counted for weight and in-flight cap.
    pub const MAX_CORES: u32 = 64;
    /// Benchmark score counted (MFLOP/s); the weight uses at most score/1000 = 100.
    pub const MAX_OPS_SCORE: u32 = 1_000_000;
    /// Memory reported, in MiB (1 TiB).
    pub const MAX_MEMORY_MB: u32 = 1 << 20;
    /// Characters kept of names and descriptions.
    pub const MAX_TEXT: usize = 64;
    /// Tasks in flight per core the device may ask for.
    pub const SLOTS_PER_CORE: u32 = 4;
    /// Extra slots for a device with a GPU.
    pub const GPU_SLOTS: u32 = 8;
    /// Tasks in flight on any one device.
    pub const MAX_SLOTS: u32 = 256;
    /// A kernel path's figure, in MFLOP/s (100 TFLOP/s).
    pub const MAX_PATH_MFLOPS: u32 = 100_000_000;
}

/// Clamps a device's kernel report like its capabilities: figures into bounds, texts trimmed.
pub fn clamp_kernels(report: KernelReport) -> KernelReport {
    KernelReport {
        threads: report.threads.min(limits::MAX_CORES),
        cpu_mflops: report.cpu_mflops.min(limits::MAX_PATH_MFLOPS),
        gpu: report.gpu.map(|gpu| GpuPath {
            info: GpuInfo {
                vendor: trim(&gpu.info.vendor),
                description: trim(&gpu.info.description),
                fallback: gpu.info.fallback,
            },
            mflops: gpu.mflops.min(limits::MAX_PATH_MFLOPS),
        }),
        ..report
    }
}

/// Clamps every figure a device claims into sane bounds and trims its texts.
pub fn clamp_capabilities(caps: Capabilities) -> Capabilities {
    Capabilities {
        logical_cores: caps.logical_cores.clamp(1, limits::MAX_CORES),
        memory_mb: caps.memory_mb.min(limits::MAX_MEMORY_MB),
        gpu: caps.gpu.map(|gpu| GpuInfo {
            vendor: trim(&gpu.vendor),
            description: trim(&gpu.description),
            fallback: gpu.fallback,
        }),
        ops_score: caps.ops_score.min(limits::MAX_OPS_SCORE),
        platform: trim(&caps.platform),
        runtime: caps.runtime,
    }
}

/// Keeps at most [`limits::MAX_TEXT`] characters, without control characters.
pub fn trim(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(limits::MAX_TEXT).collect()
}

/// weight = cores×10 + (GPU ? 50 : 0) + min(opsScore/1000, 100), from clamped figures.
pub fn weight(caps: &Capabilities) -> u32 {
    weight_with(caps, caps.gpu.is_some())
}

/// The weight of a device whose GPU counts when `gpu` (it runs matrix products on it).
pub fn weight_with(caps: &Capabilities, gpu: bool) -> u32 {
    caps.logical_cores * 10 + if gpu { 50 } else { 0 } + (caps.ops_score / 1000).min(100)
}

/// The most tasks a device may hold, whatever it asks for.
pub fn slot_limit(caps: &Capabilities) -> u32 {
    let gpu = if caps.gpu.is_some() { limits::GPU_SLOTS } else { 0 };
    (caps.logical_cores * limits::SLOTS_PER_CORE + gpu).min(limits::MAX_SLOTS)
}

/// Verified results per second over the last [`RateWindow::SECONDS`] seconds, in one-second
/// buckets.
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    buckets: [u32; Self::SECONDS],
    head: u64,
}

impl RateWindow {
    /// Length of the window.
    pub const SECONDS: usize = 10;

    fn advance(&mut self, second: u64) {
        if second > self.head {
            let steps = (second - self.head).min(Self::SECONDS as u64);
            for step in 1..=steps {
                self.buckets[((self.head + step) % Self::SECONDS as u64) as usize] = 0;
            }
            self.head = second;
        }
    }

    /// Counts one event at `second` (seconds since the scheduler started).
    pub fn record(&mut self, second: u64) {
        self.advance(second);
        self.buckets[(self.head % Self::SECONDS as u64) as usize] += 1;
    }

    /// Events per second over the window ending at `second`.
    pub fn rate(&mut self, second: u64) -> f32 {
        self.advance(second);
        self.buckets.iter().sum::<u32>() as f32 / Self::SECONDS as f32
    }
}

/// One device of a swarm, online or not.
pub struct Device {
    /// The client-chosen id.
    pub id: DeviceId,
    /// Display name.
    pub name: String,
    /// Clamped capabilities; the benchmark score is refreshed by `Benchmark` messages.
    pub caps: Capabilities,
    /// Master or worker.
    pub role: Role,
    /// The live session, if any.
    pub session: Option<SessionId>,
    /// False when the master disabled it.
    pub enabled: bool,
    /// Why it was quarantined, if it was.
    pub quarantine: Option<String>,
    /// Slots it asked for in its last work request, already capped by [`slot_limit`].
    pub slots: u32,
    /// Tasks leased to it.
    pub leases: HashSet<TaskId>,
    /// Stride-scheduling pass: grows by 1/weight with each task dispatched.
    pub pass: f64,
    /// Dispatch weight, recomputed periodically from the capabilities.
    pub weight: u32,
    /// Verified results.
    pub tasks_done: u64,
    /// Verified results per second.
    pub rate: RateWindow,
    /// Results that failed verification.
    pub failures: u32,
    /// The worker's resume credential, if it joined by invite.
    pub resume_credential: Option<String>,
    /// The pass of this device's live entry in its swarm's ready heap, if it has one.
    pub offered: Option<f64>,
    /// The most bytes the results of the tasks it holds take on the wire.
    pub owed: u64,
    /// Its kernel paths and choice, as it last reported them in this session (clamped).
    pub kernels: Option<KernelReport>,
    /// Consecutive wasm results of its runtime (`caps.runtime`) that agreed with another
    /// device's; reset when one disagrees or the runtime changes. In memory only: a
    /// restarted coordinator trusts nobody yet.
    pub trust: u32,
}

impl Device {
    /// Whether the device may receive tasks at all.
    pub fn eligible(&self) -> bool {
        self.session.is_some() && self.enabled && self.quarantine.is_none()
    }

    /// How many more tasks it may receive now.
    pub fn room(&self) -> u32 {
        if self.eligible() { self.slots.saturating_sub(self.leases.len() as u32) } else { 0 }
    }

    /// The GPU it computes on: the one its kernel report says matrix products run on, or,
    /// before its first report, the one its hello announced. (The slot limit keeps the
    /// hello's figure for the session, so a GPU given up never leaves it over its limit.)
    pub fn gpu_in_use(&self) -> Option<&GpuInfo> {
        match &self.kernels {
            Some(report) => report.gpu.as_ref().filter(|_| report.matmul.uses_gpu()).map(|g| &g.info),
            None => self.caps.gpu.as_ref(),
        }
    }

    /// Its status for tables.
    pub fn status(&self) -> DeviceStatus {
        match (&self.quarantine, self.session, self.enabled) {
            (Some(reason), _, _) => DeviceStatus::Quarantined { reason: reason.clone() },
            (None, None, _) => DeviceStatus::Offline,
            (None, Some(_), false) => DeviceStatus::Disabled,
            (None, Some(_), true) => DeviceStatus::Online,
        }
    }

    /// Its figures for snapshots.
    pub fn stats(&mut self, second: u64) -> DeviceStats {
        DeviceStats {
            tasks_done: self.tasks_done,
            tasks_per_sec: self.rate.rate(second),
            in_flight: self.leases.len() as u32,
            status: self.status(),
            weight: self.weight,
            slots: if self.session.is_some() { self.slots } else { 0 },
        }
    }
}

/// A job's tasks that were never dispatched: indices `next..end`.
#[derive(Debug, Clone, Copy)]
pub struct Fresh {
    /// The job.
    pub job: JobId,
    /// The next index to dispatch.
    pub next: u32,
    /// One past the last index.
    pub end: u32,
}

/// A device in the ready heap, ordered by pass (lowest first).
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// The device's pass when it was offered.
    pub pass: f64,
    /// The device.
    pub device: DeviceId,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.pass.total_cmp(&other.pass).then_with(|| self.device.cmp(&other.device))
    }
}

/// A swarm: one master key, its devices, its queue and its controls.
pub struct Swarm {
    /// Public id.
    pub id: SwarmId,
    /// Global throttle, 0-100.
    pub throttle: u8,
    /// Whether tasks are dispatched.
    pub run_state: RunState,
    /// When devices compute, by their power source (devices may set their own).
    pub power_policy: PowerPolicy,
    /// Devices by id.
    pub devices: HashMap<DeviceId, Device>,
    /// Tasks dispatched before and waiting again (failed check, expired lease, lost device);
    /// served before fresh tasks. Stale ids (done or cancelled) are skipped lazily.
    pub queue: VecDeque<TaskId>,
    /// Tasks never dispatched, as ranges of each job's task indices in submission order. A
    /// task gets its id and entry only when first dispatched, so a job of a million tiles
    /// costs nothing per tile until it runs.
    pub fresh: VecDeque<Fresh>,
    /// Devices that may have room, lowest pass first. An entry counts only while it matches
    /// the device's `offered` pass; others are stale and skipped (see [`Swarm::offer`]).
    pub ready: BinaryHeap<Reverse<Candidate>>,
    /// Verified results per second, swarm-wide.
    pub rate: RateWindow,
    /// Stride-scheduling virtual time: the pass of the last device served. A device that
    /// becomes eligible starts here, so idle time banks no credit.
    pub virtual_time: f64,
    /// The swarm's label on per-swarm metrics.
    pub label: SwarmLabel,
    /// Its verified and failed results in `/metrics`.
    pub counters: SwarmCounters,
    /// Its unexpired invites, as the token authority last counted them.
    pub invites: ostrich_protocol::Quota,
    /// When something last happened in it (Unix ms): its abandonment clock.
    pub last_active_ms: u64,
    /// The activity time last written to the store.
    pub stored_active_ms: u64,
    /// The last [`LOG_LINES`] lines of its log, oldest first, for a master's welcome.
    pub log: VecDeque<LogLine>,
}

/// How many log lines a swarm keeps for its masters' terminals.
pub const LOG_LINES: usize = 50;

impl Swarm {
    /// A new swarm, idle and at full throttle, counting its results in `metrics`, last
    /// active at `now_ms` (Unix ms).
    pub fn new(id: SwarmId, metrics: &Metrics, now_ms: u64) -> Self {
        let label = SwarmLabel { swarm: id.to_string() };
        Self {
            id,
            throttle: 100,
            run_state: RunState::Idle,
            power_policy: PowerPolicy::ALWAYS,
            devices: HashMap::new(),
            queue: VecDeque::new(),
            fresh: VecDeque::new(),
            ready: BinaryHeap::new(),
            rate: RateWindow::default(),
            virtual_time: 0.0,
            counters: metrics.counters(&label),
            label,
            invites: ostrich_protocol::Quota::default(),
            last_active_ms: now_ms,
            stored_active_ms: 0,
            log: VecDeque::with_capacity(LOG_LINES),
        }
    }

    /// Keeps a log line, dropping the oldest past [`LOG_LINES`].
    pub fn keep_log(&mut self, line: LogLine) {
        if self.log.len() >= LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    /// Puts a device with room in the ready heap, unless its current pass is there already.
    /// Every change that can give a device room (a lease released, a work request, an
    /// enable) calls this, so dispatch never scans the whole swarm.
    pub fn offer(&mut self, device_id: DeviceId) {
        if let Some(device) = self.devices.get_mut(&device_id)
            && device.room() > 0
            && device.offered != Some(device.pass)
        {
            device.offered = Some(device.pass);
            self.ready.push(Reverse(Candidate { pass: device.pass, device: device_id }));
        }
    }

    /// Tasks waiting for a device: requeued ones plus fresh ones.
    pub fn queued(&self) -> u64 {
        self.queue.len() as u64 + self.fresh.iter().map(|f| u64::from(f.end - f.next)).sum::<u64>()
    }

    /// Whether no task waits.
    pub fn nothing_queued(&self) -> bool {
        self.queue.is_empty() && self.fresh.is_empty()
    }

    /// The frame limit of a device's session, from the results it owes, as an effect.
    pub fn frame_limit(&self, device_id: DeviceId) -> Option<Effect> {
        let device = self.devices.get(&device_id)?;
        Some(Effect::FrameLimit(device.session?, frame_limit(device.role, device.owed)))
    }

    /// Sessions of online devices, optionally masters only.
    pub fn sessions(&self, masters_only: bool) -> impl Iterator<Item = SessionId> + '_ {
        self.devices.values().filter(move |d| !masters_only || d.role == Role::Master).filter_map(|d| d.session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(cores: u32, gpu: bool, score: u32) -> Capabilities {
        Capabilities {
            logical_cores: cores,
            memory_mb: 0,
            gpu: gpu.then(|| GpuInfo { vendor: "v".into(), description: "d".into(), fallback: false }),
            ops_score: score,
            platform: "p".into(),
            runtime: ostrich_protocol::WasmRuntime::Native,
        }
    }

    #[test]
    fn weight_follows_the_formula() {
        assert_eq!(weight(&caps(4, false, 0)), 40);
        assert_eq!(weight(&caps(4, true, 25_000)), 40 + 50 + 25);
        assert_eq!(weight(&caps(1, false, 10_000_000)), 10 + 100);
    }

    #[test]
    fn absurd_claims_are_clamped() {
        let clamped =
            clamp_capabilities(Capabilities { platform: "x".repeat(10_000), ..caps(100_000, false, u32::MAX) });
        assert_eq!(clamped.logical_cores, limits::MAX_CORES);
        assert_eq!(clamped.ops_score, limits::MAX_OPS_SCORE);
        assert_eq!(clamped.platform.len(), limits::MAX_TEXT);
        assert!(slot_limit(&clamped) <= limits::MAX_SLOTS);
        assert_eq!(clamp_capabilities(caps(0, false, 0)).logical_cores, 1);
    }

    #[test]
    fn rate_window_forgets_old_seconds() {
        let mut window = RateWindow::default();
        for _ in 0..20 {
            window.record(5);
        }
        assert_eq!(window.rate(5), 2.0);
        assert_eq!(window.rate(14), 2.0);
        assert_eq!(window.rate(15), 0.0);
    }
}
