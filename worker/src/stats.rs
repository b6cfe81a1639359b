//! The worker's observable state, published on every change for handles and tests.

use ostrich_protocol::{RejectCode, Role, RunState, SwarmId};
use uuid::Uuid;

/// A snapshot of what a worker is doing. Swarm figures (throttle, run state, enabled) are the
/// coordinator's and are meaningful once [`sessions`](Self::sessions) is at least 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStats {
    /// The device id the worker says hello with.
    pub device_id: Uuid,
    /// A session is open and welcomed.
    pub connected: bool,
    /// The role granted by the last welcome.
    pub role: Option<Role>,
    /// The swarm joined by the last welcome.
    pub swarm_id: Option<SwarmId>,
    /// The swarm's master key once a welcome granted mastership, so a headless master can
    /// show it (the HTTP API needs it as a bearer token); `None` for a worker.
    pub master_key: Option<String>,
    /// The swarm's throttle, percent.
    pub throttle: u8,
    /// The swarm's run state.
    pub run_state: RunState,
    /// Whether the master has this device enabled.
    pub enabled: bool,
    /// Compute threads allowed under the throttle.
    pub active_threads: u32,
    /// Slots last offered to the coordinator in a work request.
    pub slots: u32,
    /// Tasks held now: queued, computing, or done and about to be sent.
    pub in_flight: u32,
    /// Task results sent.
    pub tasks_done: u64,
    /// Task failures sent (kernel errors).
    pub tasks_failed: u64,
    /// Tasks dropped because the coordinator cancelled them, stopped the swarm or disabled
    /// the device.
    pub tasks_cancelled: u64,
    /// Welcomes received: 1 after the first join, +1 per successful reconnect.
    pub sessions: u32,
    /// The benchmark score reported; 0 until measured.
    pub ops_score: u32,
    /// The last refusal, if the coordinator refused a hello.
    pub last_reject: Option<RejectCode>,
    /// The worker has ended (shut down, killed, refused for good, or the connection was lost
    /// without reconnection); nothing changes after this.
    pub finished: bool,
}

impl WorkerStats {
    /// The state before the first connection.
    pub fn new(device_id: Uuid) -> Self {
        Self {
            device_id,
            connected: false,
            role: None,
            swarm_id: None,
            master_key: None,
            throttle: 100,
            run_state: RunState::Idle,
            enabled: true,
            active_threads: 0,
            slots: 0,
            in_flight: 0,
            tasks_done: 0,
            tasks_failed: 0,
            tasks_cancelled: 0,
            sessions: 0,
            ops_score: 0,
            last_reject: None,
            finished: false,
        }
    }
}
