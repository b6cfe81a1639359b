//! Swarm ownership. A swarm's owner holds a lease: the swarm's key in the lease bucket,
//! whose value names the node. It is taken by creating the key (which fails while another
//! node holds it), renewed by updating it with the revision it last had (which fails once
//! another node took it), and it expires on its own: the bucket's `max_age` is the TTL, so
//! a lease not renewed for that long is gone and any node may create it again. (NATS 2.9,
//! Debian's, has no per-key TTL; the bucket-wide one is all a lease bucket needs.)
//!
//! The revision is the owner's epoch: it only grows, across swarms and nodes, since it is
//! the bucket stream's sequence.

use std::{collections::HashSet, time::Duration};

use async_nats::jetstream::{
    self,
    kv::{self, CreateErrorKind, UpdateErrorKind},
};
use bytes::Bytes;
use futures_util::StreamExt;
use ostrich_protocol::SwarmId;

use super::{ClusterError, ClusterSettings, unavailable};

/// Who holds a swarm's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// This node, at this revision.
    Us(u64),
    /// Another node, by its id.
    Other(String),
}

/// The lease bucket, as one node sees it.
#[derive(Clone)]
pub struct Leases {
    bucket: kv::Store,
    node: String,
}

impl Leases {
    /// Opens the lease bucket, creating it with the TTL of `settings` if it is missing.
    pub async fn open(
        jetstream: &jetstream::Context,
        settings: &ClusterSettings,
        node: &str,
    ) -> Result<Self, ClusterError> {
        let description = "Ostrich-Legs swarm leases: swarm → owning node";
        let bucket =
            super::kv_bucket(jetstream, &settings.lease_bucket(), description, settings.lease_ttl, settings.replicas)
                .await?;
        Ok(Self { bucket, node: node.to_string() })
    }

    /// Takes the lease on `swarm` if nobody holds it; answers who holds it now.
    pub async fn acquire(&self, swarm: SwarmId) -> Result<Holder, ClusterError> {
        let key = swarm.simple().to_string();
        match self.bucket.create(&key, Bytes::from(self.node.clone())).await {
            Ok(revision) => Ok(Holder::Us(revision)),
            Err(error) if error.kind() == CreateErrorKind::AlreadyExists => match self.holder(swarm).await? {
                // Expired between the two calls: try once more.
                None => match self.bucket.create(&key, Bytes::from(self.node.clone())).await {
                    Ok(revision) => Ok(Holder::Us(revision)),
                    Err(error) => Err(unavailable(error)),
                },
                Some(holder) => Ok(holder),
            },
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Who holds the lease on `swarm`, if anyone.
    pub async fn holder(&self, swarm: SwarmId) -> Result<Option<Holder>, ClusterError> {
        let entry = self.bucket.entry(swarm.simple().to_string()).await.map_err(unavailable)?;
        Ok(entry.filter(|e| e.operation == kv::Operation::Put).map(|e| {
            let node = String::from_utf8_lossy(&e.value).into_owned();
            if node == self.node { Holder::Us(e.revision) } else { Holder::Other(node) }
        }))
    }

    /// The swarms whose lease some node holds now.
    pub async fn held(&self) -> Result<HashSet<SwarmId>, ClusterError> {
        let mut keys = self.bucket.keys().await.map_err(unavailable)?;
        let mut held = HashSet::new();
        while let Some(key) = keys.next().await {
            if let Ok(swarm) = key.map_err(unavailable)?.parse() {
                held.insert(swarm);
            }
        }
        Ok(held)
    }

    /// Renews the lease held at `revision`; answers the new revision, or
    /// [`ClusterError::Fenced`] when the lease is no longer this node's.
    pub async fn renew(&self, swarm: SwarmId, revision: u64) -> Result<u64, ClusterError> {
        let key = swarm.simple().to_string();
        match self.bucket.update(&key, Bytes::from(self.node.clone()), revision).await {
            Ok(revision) => Ok(revision),
            Err(error) if error.kind() == UpdateErrorKind::WrongLastRevision => Err(ClusterError::Fenced(swarm)),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Gives the lease up at once (a node shutting down), so that another node need not
    /// wait for it to expire.
    pub async fn release(&self, swarm: SwarmId, revision: u64) -> Result<(), ClusterError> {
        self.bucket.delete_expect_revision(swarm.simple().to_string(), Some(revision)).await.map_err(unavailable)
    }
}

/// How often a lease is renewed: three times per TTL, so that one lost renewal does not
/// lose it.
pub fn renew_interval(ttl: Duration) -> Duration {
    ttl / 3
}
