//! The native Ostrich-Legs worker.
//!
//! A worker joins a swarm with an invite (link or code), then computes the tasks the
//! coordinator assigns on a pool of OS threads sized by the swarm's throttle. It keeps a stable
//! device id and, once admitted, a resume credential in a small state file so it can rejoin
//! after the invite expires. With [`JoinCredential::Master`](ostrich_protocol::JoinCredential)
//! it creates a swarm (or resumes one by its master key), keeps the granted key, presents it on
//! every reconnect, and computes like any worker. Run it with the `ostrich-worker` binary, or
//! embed it with
//! [`spawn`], as the integration tests and the load simulator do:
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use ostrich_protocol::{JoinCredential, RunState};
//! use ostrich_worker::{WorkerConfig, spawn};
//!
//! let credential = JoinCredential::Invite { token: "ABCD1234".into() };
//! let worker = spawn(WorkerConfig::new("ws://127.0.0.1:8080/ws", credential));
//! let joined = worker.wait_for(Duration::from_secs(5), |s| s.connected).await;
//! assert!(joined.is_ok());
//! worker.shutdown().await.ok();
//! # }
//! ```
//!
//! Modules: [`config`] (what to join and how), [`state`] (the persistent identity),
//! [`pool`] (the compute threads), [`compute`] (task kinds to kernels), [`capabilities`]
//! (what the hello reports), and the private `connection` (one session), `socket` (framing and
//! closing) and `runner` (credentials and reconnection across sessions).

pub mod capabilities;
pub mod compute;
pub mod config;
mod connection;
mod error;
mod handle;
pub mod pool;
mod runner;
pub mod socket;
pub mod state;
mod stats;
pub mod wasm;

pub use config::{JoinError, WorkerConfig, coordinator_url, parse_join};
pub use connection::{HELLO_TIMEOUT, IDLE_HEARTBEATS, MIN_IDLE_TIMEOUT};
pub use error::{WorkerError, reject_hint, reject_is_retryable};
pub use handle::{WorkerHandle, run, run_until, spawn};
pub use runner::{BACKOFF_INITIAL, BACKOFF_MAX};
pub use socket::{CLOSE_TIMEOUT, CONNECT_TIMEOUT};
pub use state::{StateError, WorkerState};
pub use stats::WorkerStats;
