//! Configuration: every flag is also an environment variable, and every timing the tests
//! need to shrink is here rather than in a constant.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;

/// The coordinator's settings.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ostrich-coordinator",
    version,
    about = "Ostrich-Legs coordinator: turns browsers into a compute swarm"
)]
pub struct Config {
    /// Address to listen on; 0.0.0.0 makes the coordinator reachable from the LAN.
    #[arg(long, env = "OSTRICH_BIND", default_value = "0.0.0.0:8080")]
    pub bind: SocketAddr,

    /// Base URL that invite links and QR codes point to; detected from the LAN address
    /// when absent (https with `--tls`). Its host is also named in a generated certificate:
    /// set it in a container, where the box's LAN address cannot be detected.
    #[arg(long, env = "OSTRICH_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Also serve HTTPS on `--tls-bind`, with the certificate of `--tls-cert`/`--tls-key` or
    /// one generated on first start and kept in the data directory. Browsers give WebGPU
    /// only to secure contexts; plain HTTP on `--bind` keeps working for localhost.
    #[arg(long, env = "OSTRICH_TLS")]
    pub tls: bool,

    /// Address of the HTTPS listener.
    #[arg(long, env = "OSTRICH_TLS_BIND", default_value = "0.0.0.0:8443")]
    pub tls_bind: SocketAddr,

    /// PEM certificate chain to serve instead of a generated one (needs `--tls-key`).
    #[arg(long, env = "OSTRICH_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "OSTRICH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Where the coordinator keeps its state: the store (`ostrich.redb`: swarms, master
    /// keys, resume credentials, jobs and verified results) and the generated certificate
    /// (`tls/`).
    #[arg(long, env = "OSTRICH_DATA_DIR", default_value = "ostrich-data")]
    pub data_dir: PathBuf,

    /// Keep everything in memory: nothing survives a restart. For tests and load tools.
    #[arg(long, env = "OSTRICH_EPHEMERAL")]
    pub ephemeral: bool,

    /// How long an invite code stays valid, in seconds.
    #[arg(long, env = "OSTRICH_INVITE_TTL_S", default_value_t = 900.0)]
    pub invite_ttl_s: f64,

    /// Invites a swarm may mint per minute.
    #[arg(long, env = "OSTRICH_INVITES_PER_MINUTE", default_value_t = 5)]
    pub invites_per_minute: u32,

    /// Failed joins (bad code, key or credential) one client address may make per minute.
    #[arg(long, env = "OSTRICH_FAILED_JOINS_PER_MINUTE", default_value_t = 10)]
    pub failed_joins_per_minute: u32,

    /// Seconds without a frame after which a device is taken offline.
    #[arg(long, env = "OSTRICH_HEARTBEAT_TIMEOUT_S", default_value_t = 60.0)]
    pub heartbeat_timeout_s: f64,

    /// Seconds a device has to return a task before it is dispatched again.
    #[arg(long, env = "OSTRICH_LEASE_S", default_value_t = 120.0)]
    pub lease_s: f64,

    /// Seconds between swarm snapshots.
    #[arg(long, env = "OSTRICH_SNAPSHOT_INTERVAL_S", default_value_t = 2.0)]
    pub snapshot_interval_s: f64,

    /// Seconds between recomputations of dispatch weights from benchmark scores.
    #[arg(long, env = "OSTRICH_WEIGHT_INTERVAL_S", default_value_t = 10.0)]
    pub weight_interval_s: f64,

    /// Verification failures after which a device is quarantined.
    #[arg(long, env = "OSTRICH_QUARANTINE_AFTER", default_value_t = 3)]
    pub quarantine_after: u32,

    /// Failed attempts of one task (bad result, reported failure, expired lease) before its
    /// job fails.
    #[arg(long, env = "OSTRICH_MAX_TASK_ATTEMPTS", default_value_t = 8)]
    pub max_task_attempts: u32,

    /// HTTP worker threads; 0 means one per core.
    #[arg(long, env = "OSTRICH_HTTP_WORKERS", default_value_t = 0)]
    pub http_workers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self::parse_from(["ostrich-coordinator"])
    }
}

impl Config {
    /// Invite lifetime.
    pub fn invite_ttl(&self) -> Duration {
        secs(self.invite_ttl_s)
    }
    /// Silence after which a device goes offline.
    pub fn heartbeat_timeout(&self) -> Duration {
        secs(self.heartbeat_timeout_s)
    }
    /// Lease lifetime.
    pub fn lease(&self) -> Duration {
        secs(self.lease_s)
    }
    /// Snapshot period.
    pub fn snapshot_interval(&self) -> Duration {
        secs(self.snapshot_interval_s)
    }
    /// Weight refresh period.
    pub fn weight_interval(&self) -> Duration {
        secs(self.weight_interval_s)
    }
}

/// Seconds as a duration; negative or non-finite values become a millisecond so that a
/// typo cannot make a timer spin.
fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::from_millis(1)).max(Duration::from_millis(1))
}
