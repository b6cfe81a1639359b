//! The app's one state and its pure reducer. Everything the coordinator says, everything the
//! compute pool reports and every user action that changes what is shown becomes an
//! [`Action`]; [`State::apply`] turns the old state and an action into the new one, with no
//! side effects, so the whole behaviour is unit-tested natively. Side effects (the socket,
//! the pool, storage) live in [`crate::session`].

mod action;
mod preview;
mod receive;
mod text;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use ostrich_protocol::{
    DeviceId, DeviceRow, DeviceStats, Invite, JobId, JobProgress, JobSpec, KernelReport, LogLevel, Role, RunState,
    SwarmTotals, SwarmUsage, Welcome,
};
use yew::Reducible;

use crate::compute::KernelPreference;
use crate::power::PowerView;

pub use action::{Action, CredentialKind};
pub use preview::{Preview, PreviewSpec, PreviewTile};
pub use text::{credential_refused_message, reject_message};

/// How many log lines the terminal keeps.
pub const LOG_LINES: usize = 50;
/// How many throughput points the chart keeps (four minutes of 2 s snapshots).
pub const HISTORY_POINTS: usize = 120;

/// Which screen the app shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The master's dashboard.
    Dashboard,
    /// The worker view, joining or joined.
    Worker,
    /// The join form, for typing a code.
    Join,
    /// The landing page: what the product is, "Create a swarm" and "Join with a code".
    Landing,
}

/// Where the connection to the coordinator stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Not connecting: the join page waits for a code, or a join was refused.
    Idle,
    /// A socket is opening or the hello is on its way.
    Connecting,
    /// Welcomed into a swarm.
    Connected,
    /// The socket closed; another attempt follows.
    Offline {
        /// Why the last socket closed.
        reason: String,
    },
    /// No further attempt will be made until the user acts (refused, replaced, left).
    Halted {
        /// What the user should know.
        reason: String,
    },
}

/// One line of the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Severity, for its colour.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// The invite the share dialog shows.
#[derive(Debug, Clone, PartialEq)]
pub struct InviteView {
    /// The invite as minted.
    pub invite: Invite,
    /// When it expires, in page-clock milliseconds since the epoch.
    pub expires_at_ms: f64,
    /// The master revoked it; it is kept to say so.
    pub revoked: bool,
}

/// The screen wake lock, as the page holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WakeLockState {
    /// The user wants the screen kept on while this device computes.
    pub wanted: bool,
    /// The page holds a wake lock now.
    pub held: bool,
    /// The browser has no Screen Wake Lock API, or refused the last request: why.
    pub unavailable: Option<String>,
}

/// What this browser's compute side reports (worker pages, and a master that computes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerFigures {
    /// Live Web Workers in the pool.
    pub threads: u32,
    /// The kernel paths measured and the matmul path chosen, once every path was timed.
    pub kernels: Option<KernelReport>,
    /// The join benchmark's score, once measured.
    pub ops_score: Option<u32>,
    /// Tasks computed and sent in this page's life.
    pub computed: u64,
    /// Tasks that failed here in this page's life.
    pub failed: u64,
    /// The user paused this device: it asks for no new work.
    pub local_pause: bool,
    /// The kernel path the user asked for (`?kernel=`, kept in the browser).
    pub kernel_preference: KernelPreference,
    /// The master's "Compute here" switch (the master's page only).
    pub compute_here: bool,
    /// The page is hidden (another tab, the phone locked): the browser throttles it, so it
    /// asks for no work.
    pub hidden: bool,
    /// The screen wake lock.
    pub wake_lock: WakeLockState,
    /// The battery and the power policy in force.
    pub power: PowerView,
    /// This device's own figures from the last worker snapshot.
    pub me: Option<DeviceStats>,
}

/// Everything the app shows.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// The screen shown.
    pub page: Page,
    /// The connection.
    pub connection: Connection,
    /// This device's id, shown and used to mark the own row.
    pub device_id: DeviceId,
    /// This device's display name.
    pub device_name: String,
    /// The welcome of the current session.
    pub welcome: Option<Welcome>,
    /// The master key, for the API key panel and downloads.
    pub master_key: Option<String>,
    /// The stored master key was refused: the dashboard offers to start a new swarm.
    pub master_key_refused: bool,
    /// Swarm-wide figures from the last snapshot.
    pub totals: Option<SwarmTotals>,
    /// The swarm's use of its quotas, from the master's last snapshot.
    pub usage: Option<SwarmUsage>,
    /// The master's device table.
    pub devices: Vec<DeviceRow>,
    /// The master's jobs, in submission order.
    pub jobs: Vec<JobProgress>,
    /// Jobs deleted here: late progress for them is ignored.
    pub deleted_jobs: BTreeSet<JobId>,
    /// The swarm's throttle.
    pub throttle: u8,
    /// The swarm's run state.
    pub run_state: RunState,
    /// Whether the master has this device enabled.
    pub enabled: bool,
    /// The terminal, oldest first, at most [`LOG_LINES`].
    pub log: VecDeque<LogEntry>,
    /// Tasks per second from the snapshots, oldest first, at most [`HISTORY_POINTS`].
    pub history: VecDeque<f32>,
    /// The current invite.
    pub invite: Option<InviteView>,
    /// A `CreateInvite` is on its way.
    pub invite_pending: bool,
    /// Why the last invite could not be minted.
    pub invite_error: Option<String>,
    /// Why the last join failed, for the join page.
    pub join_error: Option<String>,
    /// The code the join page is prefilled with.
    pub join_code: String,
    /// A refused command, for the dashboard's notice bar.
    pub notice: Option<String>,
    /// Job specs submitted here, awaiting their job ids, in order.
    pub pending_specs: VecDeque<JobSpec>,
    /// Mandelbrot previews by job.
    pub previews: BTreeMap<JobId, Preview>,
    /// The compute side's figures.
    pub worker: WorkerFigures,
}

impl State {
    /// The state at page load.
    pub fn new(page: Page, device_id: DeviceId, device_name: String, master_key: Option<String>) -> Self {
        Self {
            page,
            connection: if matches!(page, Page::Join | Page::Landing) {
                Connection::Idle
            } else {
                Connection::Connecting
            },
            device_id,
            device_name,
            welcome: None,
            master_key,
            master_key_refused: false,
            totals: None,
            usage: None,
            devices: Vec::new(),
            jobs: Vec::new(),
            deleted_jobs: BTreeSet::new(),
            throttle: 100,
            run_state: RunState::Idle,
            enabled: true,
            log: VecDeque::new(),
            history: VecDeque::new(),
            invite: None,
            invite_pending: false,
            invite_error: None,
            join_error: None,
            join_code: String::new(),
            notice: None,
            pending_specs: VecDeque::new(),
            previews: BTreeMap::new(),
            worker: WorkerFigures::default(),
        }
    }

    /// The role granted by the current session, if welcomed.
    pub fn role(&self) -> Option<Role> {
        self.welcome.as_ref().map(|w| w.role)
    }
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

impl State {
    /// Applies one action in place.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Connecting => self.connection = Connection::Connecting,
            Action::Received { message, now_ms } => self.receive(*message, now_ms),
            Action::Disconnected { reason } => {
                self.connection = Connection::Offline { reason };
                self.welcome = None;
                self.worker.me = None;
            }
            Action::Rejected { code, credential } => self.rejected(code, credential),
            Action::Halted { reason } => {
                self.connection = Connection::Halted { reason };
                self.welcome = None;
            }
            Action::LocalLog { level, message, at_ms } => self.push_log(LogEntry { at_ms, level, message }),
            Action::JobSubmitted(spec) => self.pending_specs.push_back(spec),
            Action::JobDeleted(job_id) => {
                self.deleted_jobs.insert(job_id);
                self.jobs.retain(|j| j.job_id != job_id);
                self.previews.remove(&job_id);
            }
            Action::InviteRequested => {
                self.invite_pending = true;
                self.invite_error = None;
            }
            Action::InviteRevoked => {
                if let Some(invite) = &mut self.invite {
                    invite.revoked = true;
                }
            }
            Action::JoinRequested { code } => {
                self.page = Page::Worker;
                self.join_code = code;
                self.join_error = None;
                self.connection = Connection::Connecting;
            }
            Action::NewSwarmRequested => {
                self.master_key = None;
                self.master_key_refused = false;
                self.totals = None;
                self.usage = None;
                self.history.clear();
                self.devices.clear();
                self.jobs.clear();
                self.previews.clear();
                self.invite = None;
                self.connection = Connection::Connecting;
            }
            Action::Kernels(report) => {
                self.worker.kernels = Some(report);
            }
            Action::Benchmarked(score) => self.worker.ops_score = Some(score),
            Action::Threads(running) => self.worker.threads = running,
            Action::TaskComputed => self.worker.computed += 1,
            Action::TaskFailed => self.worker.failed += 1,
            Action::LocalPause(paused) => self.worker.local_pause = paused,
            Action::Renamed(name) => self.device_name = name,
            Action::DismissNotice => self.notice = None,
            Action::ComputeHere(on) => self.worker.compute_here = on,
            Action::Hidden(hidden) => self.worker.hidden = hidden,
            Action::WakeLock(wake_lock) => self.worker.wake_lock = wake_lock,
            Action::Power(power) => self.worker.power = power,
        }
    }
}

#[cfg(test)]
mod tests;
