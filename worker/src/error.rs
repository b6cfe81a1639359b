//! Why a worker stopped.

use ostrich_protocol::RejectCode;

use crate::config::JoinError;
use crate::state::StateError;

/// Why a worker ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The coordinator refused the hello.
    #[error("{}: {message}", reject_hint(*code))]
    Rejected {
        /// Machine-readable cause.
        code: RejectCode,
        /// The coordinator's detail.
        message: String,
    },
    /// The coordinator knows no swarm with the master key presented; the worker ends rather
    /// than create a second swarm.
    #[error(
        "master key refused by {url}: it knows no swarm with this key (a restarted coordinator \
         forgets its swarms); check the coordinator address, or create a new swarm: {message}"
    )]
    MasterKeyRefused {
        /// The coordinator endpoint that refused it.
        url: String,
        /// The coordinator's detail.
        message: String,
    },
    /// The coordinator could not be reached or the WebSocket handshake failed.
    #[error("cannot connect to the coordinator at {url}: {reason}")]
    Connect {
        /// The endpoint tried.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The connection dropped and reconnection is off.
    #[error("connection to the coordinator lost: {0}")]
    ConnectionLost(String),
    /// The coordinator sent something this worker cannot understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The coordinator speaks another protocol version.
    #[error(
        "the coordinator speaks protocol version {found}, this worker speaks {}: update the worker",
        ostrich_protocol::PROTOCOL_VERSION
    )]
    VersionMismatch {
        /// The coordinator's version.
        found: u16,
    },
    /// The join link, code or address is malformed.
    #[error(transparent)]
    Join(#[from] JoinError),
    /// The state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The worker task panicked.
    #[error("the worker task crashed: {0}")]
    Crashed(String),
}

impl WorkerError {
    /// Whether retrying later may help; false for refusals that need the user to act.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Rejected { code, .. } => reject_is_retryable(*code),
            Self::Connect { .. } | Self::ConnectionLost(_) | Self::Protocol(_) => true,
            Self::MasterKeyRefused { .. }
            | Self::VersionMismatch { .. }
            | Self::Join(_)
            | Self::State(_)
            | Self::Crashed(_) => false,
        }
    }
}

/// Whether a refusal may go away on its own, so a reconnecting worker tries again.
pub fn reject_is_retryable(code: RejectCode) -> bool {
    matches!(code, RejectCode::RateLimited | RejectCode::DeviceIdInUse | RejectCode::SwarmFull)
}

/// What a refusal means for the person running the worker.
pub fn reject_hint(code: RejectCode) -> &'static str {
    match code {
        RejectCode::InvalidCode => "invite code not valid: check it, or ask the master for a new one",
        RejectCode::ExpiredCode => "invite code expired: ask the master for a new one",
        RejectCode::RateLimited => "too many join attempts from this address: try again later",
        RejectCode::VersionMismatch => "the coordinator speaks another protocol version: update the worker",
        RejectCode::InvalidCredential => "the stored credential is no longer valid: join again with a fresh invite",
        RejectCode::DeviceIdInUse => "another online device uses this device id",
        RejectCode::HelloExpected => "the coordinator expected a hello first",
        RejectCode::SwarmFull => "the swarm has as many devices online as it may: trying again later",
    }
}
