//! Limits that hold across the cluster, not per node.
//!
//! - **Per client address** (failed joins, swarm creations): every node counts in its own
//!   token table, and tells the others of each count on one subject (`<prefix>.limits`), so
//!   an address that used its quota on one node is refused on every node. These counts are
//!   a minute long and live only in memory, like a single node's: a message lost while a node
//!   is away from NATS lets that address try a little more on that node, never less.
//! - **Per swarm** (unexpired invites, mints per minute): a swarm's invites are minted and
//!   revoked only by its owner; the owner keeps the swarm's record ([`SwarmInvites`]) in the
//!   invite bucket, read before and written (compare-and-set) after each mint or revocation,
//!   so a node that takes the swarm over goes on from the same counts.

use std::net::IpAddr;

use bytes::Bytes;
use futures_util::StreamExt;
use ostrich_protocol::{SwarmId, decode, encode};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{ClusterError, store::Cluster, unavailable};

/// One count against a client address, told to the other nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddressEvent {
    /// A join from the address failed (a wrong code, key or credential).
    FailedJoin(IpAddr),
    /// The address created a swarm.
    SwarmCreated(IpAddr),
}

#[derive(Serialize, Deserialize)]
struct Told {
    from: String,
    event: AddressEvent,
}

/// What the cluster keeps of one swarm's invites: each unexpired code's key (its hash) with
/// its expiry, and the times of the last minute's mints, in Unix ms.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmInvites {
    /// Unexpired invites: code key, expiry.
    pub invites: Vec<(String, u64)>,
    /// When the swarm minted in the last minute.
    pub minted_ms: Vec<u64>,
}

fn subject(prefix: &str) -> String {
    format!("{prefix}.limits")
}

fn record_key(swarm: SwarmId) -> String {
    format!("swarm.{}", swarm.simple())
}

impl Cluster {
    /// Tells the other nodes of a count against an address; does not wait.
    pub fn tell_address_event(&self, event: AddressEvent) {
        let told = Told { from: self.node().to_string(), event };
        let Ok(bytes) = encode(&told) else { return };
        let (client, subject) = (self.nats().client.clone(), subject(&self.settings().prefix));
        self.nats().spawn(async move {
            if let Err(error) = client.publish(subject, bytes.into()).await {
                log::warn!("cannot tell the other nodes of a count against an address: {error}");
            }
        });
    }

    /// The counts the other nodes make against addresses, as they are told.
    pub fn address_events(&self) -> Result<mpsc::UnboundedReceiver<AddressEvent>, ClusterError> {
        let (client, subject) = (self.nats().client.clone(), subject(&self.settings().prefix));
        let subscribe = async move { client.subscribe(subject).await };
        let mut subscriber = self.nats().block(subscribe, super::nats::CALL_TIMEOUT)?.map_err(unavailable)?;
        let (tell, told) = mpsc::unbounded_channel();
        let node = self.node().to_string();
        self.nats().spawn(async move {
            while let Some(message) = subscriber.next().await {
                match decode::<Told>(&message.payload) {
                    Ok(told) if told.from == node => {}
                    Ok(told) => {
                        if tell.send(told.event).is_err() {
                            break;
                        }
                    }
                    Err(error) => log::warn!("an undecodable count against an address: {error}"),
                }
            }
        });
        Ok(told)
    }

    /// A swarm's invite record and the revision a write of it must expect (0: none yet).
    pub async fn swarm_invites(&self, swarm: SwarmId) -> Result<(SwarmInvites, u64), ClusterError> {
        let invites = self.invite_bucket().clone();
        let entry =
            self.nats().run(async move { invites.entry(record_key(swarm)).await }).await?.map_err(unavailable)?;
        let Some(entry) = entry else { return Ok((SwarmInvites::default(), 0)) };
        if entry.operation != async_nats::jetstream::kv::Operation::Put {
            return Ok((SwarmInvites::default(), entry.revision));
        }
        let record = decode(&entry.value).map_err(|e| ClusterError::Corrupt(format!("invites of {swarm}: {e}")))?;
        Ok((record, entry.revision))
    }

    /// Writes a swarm's invite record, if nobody wrote it since `revision`.
    pub async fn put_swarm_invites(
        &self,
        swarm: SwarmId,
        record: &SwarmInvites,
        revision: u64,
    ) -> Result<(), ClusterError> {
        let bytes = Bytes::from(encode(record).map_err(|e| ClusterError::Corrupt(e.to_string()))?);
        let invites = self.invite_bucket().clone();
        let update = async move { invites.update(record_key(swarm), bytes, revision).await };
        self.nats().run(update).await?.map_err(|e| unavailable(format!("the invites of swarm {swarm}: {e}")))?;
        Ok(())
    }
}
