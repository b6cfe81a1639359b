//! Cluster mode: several coordinators share their swarms through NATS with JetStream
//! (`--cluster nats://…`). Each swarm is owned by one node at a time, which runs it in its
//! in-memory scheduler as a single node does; what a single node keeps in its redb file goes
//! to the swarm's log in JetStream instead.
//!
//! - [`nats`] — the connection, on a runtime of its own, and how the scheduler's thread
//!   waits for it.
//! - [`lease`] — swarm ownership: a lease per swarm in a KV bucket; its revision is the
//!   owner's epoch.
//! - [`log`] — each swarm's durable state as a log on one subject of one stream, every
//!   append fenced by the subject's last sequence; large entries in the object store.
//! - [`store`] — the [`crate::store::Backend`] on top of both: commits go to the owned
//!   swarms' logs; a refused write means the swarm is lost.
//! - [`route`] — where a hello goes: here, to the owner, or here after taking the swarm.
//! - [`relay`] — a gateway's devices talking to their swarm's owner over NATS.
//! - [`api`] — the HTTP API through any node: a call for another node's swarm goes there.
//! - [`quota`] — limits that hold cluster-wide: counts against an address told to every
//!   node, and each swarm's invite record in the invite bucket.
//!
//! What lives where in NATS (`ostrich` is the default prefix):
//!
//! | Name | Kind | Holds |
//! |---|---|---|
//! | `OSTRICH_LOG` | stream, subjects `ostrich.log.*` | one subject per swarm: its log |
//! | `ostrich-leases` | KV, history 1, `max_age` = lease TTL | swarm → owning node |
//! | `ostrich-index` | KV | hash of a master key or resume credential → swarm; `jobs.next`, the job id counter |
//! | `ostrich-invites` | KV, `max_age` = invite TTL | hash of an invite code → swarm, expiry; `swarm.<id>` → the swarm's invites and mints |
//! | `ostrich.limits` | subject | failed joins and swarm creations per address, told to every node |
//! | `ostrich-snapshots` | KV | swarm → its log's snapshot: the object, the last sequence it covers |
//! | `ostrich-blobs` | object store | log entries too large for one message; snapshots |

pub mod api;
pub mod lease;
pub mod log;
pub mod nats;
pub mod quota;
pub mod relay;
pub mod route;
pub mod store;

use std::time::Duration;

use ostrich_protocol::SwarmId;

pub use self::nats::Nats;

/// What cluster mode needs to know.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// The NATS servers, comma-separated (`nats://a:4222,nats://b:4222`).
    pub url: String,
    /// How long a swarm's lease lasts without renewal: an owner that stops renewing loses its
    /// swarms this long after its last renewal.
    pub lease_ttl: Duration,
    /// Replicas of every stream and bucket (1 on one NATS server, 3 in a 3-server cluster).
    pub replicas: usize,
    /// Prefix of every stream, bucket and subject, so that several clusters can share NATS.
    pub prefix: String,
    /// How long an invite stays valid: the invite bucket's `max_age`.
    pub invite_ttl: Duration,
    /// A swarm's owner compacts its log after appending this many entries
    /// ([`log::SwarmLog::compact`]).
    pub compact_after: u64,
}

impl ClusterSettings {
    /// The log stream's name.
    pub fn log_stream(&self) -> String {
        format!("{}_LOG", self.prefix.to_uppercase())
    }

    /// A swarm's log subject.
    pub fn log_subject(&self, swarm: SwarmId) -> String {
        format!("{}.log.{}", self.prefix, swarm.simple())
    }

    /// The lease bucket's name.
    pub fn lease_bucket(&self) -> String {
        format!("{}-leases", self.prefix)
    }

    /// The index bucket's name.
    pub fn index_bucket(&self) -> String {
        format!("{}-index", self.prefix)
    }

    /// The invite bucket's name.
    pub fn invite_bucket(&self) -> String {
        format!("{}-invites", self.prefix)
    }

    /// The snapshot bucket's name.
    pub fn snapshot_bucket(&self) -> String {
        format!("{}-snapshots", self.prefix)
    }

    /// The object store's name.
    pub fn blob_bucket(&self) -> String {
        format!("{}-blobs", self.prefix)
    }
}

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Another node owns the swarm (or took it over): this node may not write it.
    #[error("swarm {0} is owned by another node")]
    Fenced(SwarmId),
    /// NATS did not answer in time, or refused for another reason; worth retrying.
    #[error("cluster store: {0}")]
    Unavailable(String),
    /// What was read back makes no sense.
    #[error("cluster store: {0}")]
    Corrupt(String),
}

/// Opens a KV bucket, creating it if missing. The bucket's stream is created here with the
/// KV conventions (what `create_key_value` would make): async-nats's own `create_key_value`
/// first reads the account's info, whose reply from NATS 2.9 it cannot parse (the fields
/// `reserved_memory` and `reserved_storage` came in 2.10).
pub(crate) async fn kv_bucket(
    jetstream: &async_nats::jetstream::Context,
    bucket: &str,
    description: &str,
    max_age: Duration,
    replicas: usize,
) -> Result<async_nats::jetstream::kv::Store, ClusterError> {
    use async_nats::jetstream::stream::{Config, DiscardPolicy, StorageType};
    let config = Config {
        name: format!("KV_{bucket}"),
        description: Some(description.to_string()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage: StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: replicas.max(1),
        discard: DiscardPolicy::New,
        ..Default::default()
    };
    stream(jetstream, config).await?;
    jetstream.get_key_value(bucket).await.map_err(|e| unavailable(format!("bucket {bucket}: {e}")))
}

/// Opens a stream, creating it if missing. Nodes starting together race to create it: one
/// that loses finds it on its next look.
pub(crate) async fn stream(
    jetstream: &async_nats::jetstream::Context,
    config: async_nats::jetstream::stream::Config,
) -> Result<async_nats::jetstream::stream::Stream, ClusterError> {
    let name = config.name.clone();
    match jetstream.get_or_create_stream(config).await {
        Ok(stream) => Ok(stream),
        Err(error) => {
            ::log::debug!("stream {name}: {error}; looking again");
            jetstream.get_stream(&name).await.map_err(|e| unavailable(format!("stream {name}: {error}; {e}")))
        }
    }
}

/// Shorthand for the transient errors of NATS calls.
pub(crate) fn unavailable(error: impl std::fmt::Display) -> ClusterError {
    ClusterError::Unavailable(error.to_string())
}
