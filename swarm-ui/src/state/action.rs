//! The actions that change the state.

use ostrich_protocol::{JobId, JobSpec, KernelReport, LogLevel, RejectCode, ToDevice};

use super::WakeLockState;

/// Which credential a refused hello presented; the same code means different things for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A master key (or none, to create a swarm).
    Master,
    /// An invite code.
    Invite,
    /// A worker's resume credential.
    Resume,
}

/// Everything that changes the state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A socket is opening.
    Connecting,
    /// A message from the coordinator, with the page clock when it arrived.
    Received {
        /// The message (tasks and refusals are handled by the session, not shown).
        message: Box<ToDevice>,
        /// `Date.now()` at arrival.
        now_ms: f64,
    },
    /// The socket closed and another attempt follows.
    Disconnected {
        /// Why it closed.
        reason: String,
    },
    /// The hello was refused; no further attempt follows.
    Rejected {
        /// The coordinator's code.
        code: RejectCode,
        /// What was presented.
        credential: CredentialKind,
    },
    /// Stopped for a reason the user must act on (another tab took over).
    Halted {
        /// What to show.
        reason: String,
    },
    /// A line from the page itself for the terminal.
    LocalLog {
        /// Severity.
        level: LogLevel,
        /// The text.
        message: String,
        /// `Date.now()`.
        at_ms: u64,
    },
    /// The master submitted a job from the form.
    JobSubmitted(JobSpec),
    /// The master deleted a job.
    JobDeleted(JobId),
    /// The master asked for a new invite.
    InviteRequested,
    /// The master revoked the current invite.
    InviteRevoked,
    /// The user typed a code and pressed Join.
    JoinRequested {
        /// The normalised code.
        code: String,
    },
    /// The user chose to start a new swarm after the master key was refused.
    NewSwarmRequested,
    /// The compute pool measured its kernel paths and chose, or changed its choice.
    Kernels(KernelReport),
    /// The join benchmark finished.
    Benchmarked(u32),
    /// The pool's live worker count changed.
    Threads(u32),
    /// A task was computed and its result sent.
    TaskComputed,
    /// A task failed here and was reported.
    TaskFailed,
    /// The user paused or resumed this device.
    LocalPause(bool),
    /// The user renamed this device.
    Renamed(String),
    /// The user dismissed the notice bar.
    DismissNotice,
    /// The master turned "Compute here" on or off.
    ComputeHere(bool),
    /// The page became hidden or visible.
    Hidden(bool),
    /// The wake lock changed: wanted, held, or unavailable.
    WakeLock(WakeLockState),
    /// The battery, the swarm's policy or the device's own changed.
    Power(crate::power::PowerView),
}
