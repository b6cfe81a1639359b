//! The Ostrich-Legs wire protocol.
//!
//! Every frame on the coordinator's WebSocket is one message, encoded by [`encode`] and read
//! back by [`decode`]. Messages are named by direction: [`ToCoordinator`] is what a device
//! (browser, native worker, master dashboard) sends, [`ToDevice`] is what the coordinator
//! sends back. This crate knows nothing of actix, tokio or the DOM, so it compiles unchanged
//! for native targets and for `wasm32-unknown-unknown`.

#[doc(hidden)]
pub mod byte_buf;
mod codec;
mod f32_bytes;
mod job;
mod kernels;
mod messages;
mod power;
mod wasm;

pub use codec::{DecodeError, EncodeError, MAX_FRAME_BYTES, PROTOCOL_VERSION, decode, encode, encode_into};
pub use job::*;
pub use kernels::*;
pub use messages::*;
pub use power::*;
pub use wasm::*;

/// A device's identity, chosen by the client and stable across its sessions.
pub type DeviceId = uuid::Uuid;
/// A swarm's public identity.
pub type SwarmId = uuid::Uuid;
/// A job's identity, unique for the coordinator's lifetime.
pub type JobId = u64;
/// A task's identity, unique for the coordinator's lifetime.
pub type TaskId = u64;

#[cfg(test)]
mod tests;
