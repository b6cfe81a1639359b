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

    /// Cluster mode: the NATS servers (with JetStream) that this coordinator shares its
    /// swarms through, comma-separated (`nats://nats-1:4222,nats://nats-2:4222`). Every node
    /// serves the app, the WebSocket and the API; a swarm is run by one node at a time and its
    /// state lives in JetStream instead of the data directory. See the README's *Cluster
    /// mode*.
    #[arg(long, env = "OSTRICH_CLUSTER")]
    pub cluster: Option<String>,

    /// Cluster mode: seconds a swarm's lease lasts without renewal; after a node dies its
    /// swarms move to other nodes within about this time.
    #[arg(long, env = "OSTRICH_CLUSTER_LEASE_S", default_value_t = 5.0)]
    pub cluster_lease_s: f64,

    /// Cluster mode: replicas of the streams and buckets the cluster creates (3 on a
    /// three-server NATS cluster; 1 on a single server).
    #[arg(long, env = "OSTRICH_CLUSTER_REPLICAS", default_value_t = 1)]
    pub cluster_replicas: usize,

    /// Cluster mode: the prefix of every stream, bucket and subject, so that several
    /// clusters can share one NATS.
    #[arg(long, env = "OSTRICH_CLUSTER_PREFIX", default_value = "ostrich")]
    pub cluster_prefix: String,

    /// How long an invite code stays valid, in seconds.
    #[arg(long, env = "OSTRICH_INVITE_TTL_S", default_value_t = 900.0)]
    pub invite_ttl_s: f64,

    /// Invites a swarm may mint per minute.
    #[arg(long, env = "OSTRICH_INVITES_PER_MINUTE", default_value_t = 5)]
    pub invites_per_minute: u32,

    /// Failed joins (bad code, key or credential) one client address may make per minute.
    #[arg(long, env = "OSTRICH_FAILED_JOINS_PER_MINUTE", default_value_t = 10)]
    pub failed_joins_per_minute: u32,

    /// Swarms one client address may create per minute.
    #[arg(long, env = "OSTRICH_SWARMS_PER_MINUTE", default_value_t = 5)]
    pub swarms_per_minute: u32,

    /// Seconds after which an abandoned swarm (no unfinished job, no device online, no API
    /// call) is removed with its jobs, results, keys and credentials; 30 days by default.
    #[arg(long, env = "OSTRICH_SWARM_TTL_S", default_value_t = 30.0 * 86_400.0)]
    pub swarm_ttl_s: f64,

    /// Unfinished jobs one swarm may hold.
    #[arg(long, env = "OSTRICH_MAX_JOBS", default_value_t = 32)]
    pub max_jobs: u32,

    /// MiB of results one swarm may hold (every job's whole result counts from its
    /// submission until it is deleted).
    #[arg(long, env = "OSTRICH_MAX_RESULT_MIB", default_value_t = 1024)]
    pub max_result_mib: u64,

    /// Devices one swarm may have online at once, its master included.
    #[arg(long, env = "OSTRICH_MAX_DEVICES", default_value_t = 10_000)]
    pub max_devices: u32,

    /// Unexpired invites one swarm may hold.
    #[arg(long, env = "OSTRICH_MAX_INVITES", default_value_t = 16)]
    pub max_invites: u32,

    /// Seconds a new socket has to be admitted (send its hello and be let in) before it is
    /// closed.
    #[arg(long, env = "OSTRICH_HELLO_TIMEOUT_S", default_value_t = 5.0)]
    pub hello_timeout_s: f64,

    /// Sockets one client address may hold open before they are admitted; more are refused
    /// with 429 before the WebSocket upgrade.
    #[arg(long, env = "OSTRICH_UNADMITTED_PER_ADDRESS", default_value_t = 64)]
    pub unadmitted_per_address: u32,

    /// MiB that may be in the middle of being received (frames and request bodies) across
    /// every session at once; a big frame past it is refused with close code 1013.
    #[arg(long, env = "OSTRICH_RECEIVE_BUDGET_MIB", default_value_t = 1024)]
    pub receive_budget_mib: usize,

    /// MiB a request body may have (a job submitted with its matrices as JSON); a bigger
    /// one is refused with 413.
    #[arg(long, env = "OSTRICH_MAX_REQUEST_MIB", default_value_t = 512)]
    pub max_request_mib: usize,

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
    /// Time after which an abandoned swarm is removed.
    pub fn swarm_ttl(&self) -> Duration {
        secs(self.swarm_ttl_s)
    }
    /// Time a new socket has to be admitted.
    pub fn hello_timeout(&self) -> Duration {
        secs(self.hello_timeout_s)
    }
    /// The largest request body in bytes.
    pub fn max_request_bytes(&self) -> usize {
        self.max_request_mib.saturating_mul(1024 * 1024)
    }
    /// The receive budget in bytes.
    pub fn receive_budget(&self) -> usize {
        self.receive_budget_mib.saturating_mul(1024 * 1024)
    }
    /// Silence after which a device goes offline.
    pub fn heartbeat_timeout(&self) -> Duration {
        secs(self.heartbeat_timeout_s)
    }
    /// Cluster mode's settings, when `--cluster` is given.
    pub fn cluster_settings(&self) -> Option<crate::cluster::ClusterSettings> {
        Some(crate::cluster::ClusterSettings {
            url: self.cluster.clone()?,
            lease_ttl: secs(self.cluster_lease_s),
            replicas: self.cluster_replicas.max(1),
            prefix: self.cluster_prefix.clone(),
            invite_ttl: self.invite_ttl(),
            compact_after: crate::cluster::log::COMPACT_AFTER,
        })
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
