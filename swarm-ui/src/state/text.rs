//! What a person is told when a join is refused.

use ostrich_protocol::{RejectCode, Role};

/// The message for a refused hello.
pub fn reject_message(code: RejectCode) -> &'static str {
    match code {
        RejectCode::InvalidCode => "That code is not valid — check it or ask for a new one",
        RejectCode::ExpiredCode => "That code has expired — ask the master for a new one",
        RejectCode::RateLimited => "Too many attempts — wait a minute and try again",
        RejectCode::VersionMismatch => "This page is out of date — reload it to get the coordinator's version",
        RejectCode::InvalidCredential => "The coordinator did not accept this device's credential",
        RejectCode::DeviceIdInUse => {
            "This device is already connected to that swarm in another tab or window — close it and try again"
        }
        RejectCode::HelloExpected => "The coordinator did not understand this page — reload it and try again",
        RejectCode::SwarmFull => "That swarm has as many devices as it may — ask the master, or try again later",
    }
}

/// The message for a refused master key or resume credential.
pub fn credential_refused_message(role: Role) -> &'static str {
    match role {
        Role::Master => {
            "The coordinator no longer knows this swarm (it may have restarted) — start a new swarm to carry on"
        }
        Role::Worker => "This device is no longer a member of that swarm — join again with a new code",
    }
}
