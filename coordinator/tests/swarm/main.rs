//! Integration tests: the real coordinator on 127.0.0.1:0, driven by real WebSocket clients
//! and native workers. One module per behaviour.

mod common;

/// 11. The HTTP API: submit, status, result, cancel, delete and invites.
mod api;
/// Cluster mode end to end: three coordinators on one nats-server.
mod cluster;
/// Cluster mode when the owner is killed or paused past its lease (processes).
mod cluster_failover;
/// Cluster mode's store against a real nats-server: logs, leases, fencing, outages.
mod cluster_store;
/// 4. Throttle, run state and enable/disable reach the devices.
mod controls;
/// 10. Malformed and oversized frames close only their own session.
mod hostile;
/// 2. Token join, expiry and the limits on minting and on failed joins.
mod invites;
/// 3. A member of one swarm cannot control another.
mod isolation;
/// 9. Whole jobs through three native workers equal a single-process computation.
mod jobs;
/// Memory is bounded before trust: frame limits by phase and role, the hello deadline,
/// unadmitted sockets per address, the receive budget and HTTP body limits.
mod limits;
/// 7. Heartbeat timeout and lease expiry.
mod liveness;
/// 6. A worker killed mid-task loses nothing.
mod loss;
/// `/metrics` parses as Prometheus text and counts what happened.
mod metrics;
/// Quotas per swarm, the swarm creation limit and the expiry of abandoned swarms.
mod quotas;
/// A byte-level WebSocket client for frames no library sends.
mod raw;
/// A job survives a power cut of the coordinator binary.
mod restart;
/// 1. Master creation, and proof of the master key.
mod roles;
/// 5. Dispatch shares follow device weights.
mod shares;
/// SIGTERM drains the coordinator binary.
mod shutdown;
/// `--tls`: wss with the generated certificate, kept across restarts.
mod tls;
/// 8. Wrong results are caught and the liar is quarantined.
mod verification;
/// User WebAssembly kernels: the examples, records jobs, hostile modules, `verify`, and
/// adaptive replication catching a liar.
mod wasm;
