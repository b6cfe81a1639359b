//! The cluster as the scheduler's store: [`Cluster`] holds the node's NATS connection, the
//! swarms it owns (lease epoch, last log sequence) and the buckets; [`ClusterBackend`] is the
//! [`Backend`] the scheduler's store writes through.
//!
//! A commit appends one entry per swarm to the swarm's log, all swarms at once; a new swarm
//! takes its lease first. A swarm whose append is refused, or whose lease could not be
//! renewed, is *lost*: the scheduler lets it go, and its devices reconnect to the new owner.
//! While NATS is unreachable, writes wait in the batch and go with the next commit.

use std::{
    collections::HashMap,
    ops::Range,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::future::join_all;
use ostrich_protocol::{JobId, SwarmId};
use sha2::{Digest, Sha256};

use super::{
    ClusterError, ClusterSettings, Nats,
    lease::{Holder, Leases, renew_interval},
    log::{Entry, SwarmLog},
    nats::CALL_TIMEOUT,
    unavailable,
};
use crate::{
    durable::{Batch, Restored, StoreError, SwarmBatch},
    store::Backend,
};

/// The index bucket's key for the cluster's job id counter: the first id not given out yet.
const JOB_COUNTER: &str = "jobs.next";
/// Job ids a node reserves at a time: one compare-and-set per this many submissions.
const JOB_ID_BLOCK: u64 = 16;

/// A swarm this node owns.
#[derive(Debug, Clone, Copy)]
struct Owned {
    /// The lease revision it was taken at: the epoch every entry carries.
    epoch: u64,
    /// The lease's current revision, which the next renewal expects.
    revision: u64,
    /// The log's last sequence, which the next append expects.
    last: u64,
    /// Entries appended (or read at the take-over) since the log was last compacted.
    appended: u64,
    /// When the lease was last renewed.
    renewed: Instant,
}

#[derive(Default)]
struct Ownership {
    swarms: HashMap<SwarmId, Owned>,
    /// Swarms lost since the scheduler last asked.
    lost: Vec<SwarmId>,
}

/// What [`Cluster::adopt`] found.
#[derive(Debug)]
pub enum Adoption {
    /// This node owns the swarm now; here is its state.
    Ours(Restored),
    /// Another node owns it.
    Theirs(String),
    /// No such swarm: its log is empty (or it was removed).
    Unknown,
}

/// This node's view of the cluster.
#[derive(Clone)]
pub struct Cluster {
    nats: Nats,
    log: SwarmLog,
    leases: Leases,
    index: kv::Store,
    invites: kv::Store,
    node: String,
    settings: ClusterSettings,
    ownership: Arc<Mutex<Ownership>>,
    renewing: Arc<AtomicBool>,
    /// A compaction is running on this node.
    compacting: Arc<AtomicBool>,
}

impl Cluster {
    /// Connects to NATS, creates the streams and buckets that are missing, and starts
    /// renewing leases. Waits at most `connect_timeout` for NATS.
    pub fn open(settings: ClusterSettings, connect_timeout: Duration) -> Result<Self, ClusterError> {
        let node = uuid::Uuid::new_v4().simple().to_string();
        let nats = Nats::connect(&settings.url, &format!("ostrich-coordinator {node}"), connect_timeout)?;
        let jetstream = nats.jetstream.clone();
        let (setup, node_id) = (settings.clone(), node.clone());
        let open = async move {
            let log = SwarmLog::open(&jetstream, &setup).await?;
            let leases = Leases::open(&jetstream, &setup, &node_id).await?;
            let description = "Ostrich-Legs: hash of a master key or resume credential → swarm";
            let index =
                super::kv_bucket(&jetstream, &setup.index_bucket(), description, Duration::ZERO, setup.replicas)
                    .await?;
            let description = "Ostrich-Legs: hash of an invite code → swarm and expiry";
            let invites =
                super::kv_bucket(&jetstream, &setup.invite_bucket(), description, setup.invite_ttl, setup.replicas)
                    .await?;
            Ok::<_, ClusterError>((log, leases, index, invites))
        };
        let (log, leases, index, invites) = nats.block(open, connect_timeout.max(CALL_TIMEOUT * 3))??;
        let renewing = Arc::new(AtomicBool::new(true));
        let cluster = Self {
            nats,
            log,
            leases,
            index,
            invites,
            node,
            settings,
            ownership: Arc::default(),
            renewing,
            compacting: Arc::default(),
        };
        cluster.start_renewing();
        Ok(cluster)
    }

    /// This node's id in the cluster.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The NATS connection.
    pub fn nats(&self) -> &Nats {
        &self.nats
    }

    /// The settings it was opened with.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The store backend the scheduler writes through.
    pub fn backend(&self) -> ClusterBackend {
        ClusterBackend { cluster: self.clone() }
    }

    fn ownership(&self) -> std::sync::MutexGuard<'_, Ownership> {
        self.ownership.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this node owns `swarm`.
    pub fn owns(&self, swarm: SwarmId) -> bool {
        self.ownership().swarms.contains_key(&swarm)
    }

    /// The swarms this node owns.
    pub fn owned(&self) -> Vec<SwarmId> {
        self.ownership().swarms.keys().copied().collect()
    }

    /// Takes `swarm` if nobody holds it and reads its log back. The new epoch is written to
    /// the log before this answers, so from then on the owner before cannot write.
    pub async fn adopt(&self, swarm: SwarmId) -> Result<Adoption, ClusterError> {
        let cluster = self.clone();
        self.nats.run(async move { cluster.adopt_here(swarm).await }).await?
    }

    async fn adopt_here(&self, swarm: SwarmId) -> Result<Adoption, ClusterError> {
        if self.ownership().swarms.contains_key(&swarm) {
            return Err(ClusterError::Corrupt(format!("swarm {swarm} is already owned here")));
        }
        let revision = match self.leases.acquire(swarm).await? {
            Holder::Us(revision) => revision,
            Holder::Other(node) => return Ok(Adoption::Theirs(node)),
        };
        let adopted = async {
            let (restored, last, read) = self.log.replay(swarm).await?;
            if restored.swarms.is_empty() {
                return Ok(None);
            }
            let entry = Entry::Epoch { revision, node: self.node.clone() };
            let last = self.log.append(swarm, last, &entry).await?;
            Ok::<_, ClusterError>(Some((restored, last, read + 1)))
        };
        match adopted.await {
            Ok(Some((restored, last, appended))) => {
                let owned = Owned { epoch: revision, revision, last, appended, renewed: Instant::now() };
                self.ownership().swarms.insert(swarm, owned);
                log::info!("swarm {swarm}: taken over at epoch {revision} ({} jobs)", restored.jobs.len());
                Ok(Adoption::Ours(restored))
            }
            Ok(None) => {
                let _ = self.leases.release(swarm, revision).await;
                Ok(Adoption::Unknown)
            }
            Err(error) => {
                let _ = self.leases.release(swarm, revision).await;
                Err(error)
            }
        }
    }

    /// Lets `swarm` go at once (a node shutting down, or the scheduler dropping it): its
    /// lease is deleted, so another node may take it without waiting for the TTL.
    pub async fn release(&self, swarm: SwarmId) {
        let owned = self.ownership().swarms.remove(&swarm);
        let leases = self.leases.clone();
        if let Some(owned) = owned
            && let Err(error) =
                self.nats.run(async move { leases.release(swarm, owned.revision).await }).await.and_then(|r| r)
        {
            log::warn!("swarm {swarm}: cannot release its lease ({error}); it expires on its own");
        }
    }

    /// The swarms that have a log but no owner: their node died or let them go, and no
    /// device or API call has come back for them since.
    pub async fn orphans(&self) -> Result<Vec<SwarmId>, ClusterError> {
        let (log, leases) = (self.log.clone(), self.leases.clone());
        let list = async move {
            // The logs first: a swarm created meanwhile is leased before it has a log, so
            // it is never taken for an orphan (and a wrong guess only loses a race to
            // create its lease).
            let swarms = log.swarms().await?;
            let held = leases.held().await?;
            Ok(swarms.into_iter().filter(|swarm| !held.contains(swarm)).collect())
        };
        self.nats.run(list).await?
    }

    /// Reserves the next block of job ids from the cluster's counter (compare-and-set, so
    /// two nodes never get the same block).
    async fn reserve_job_ids(&self) -> Result<Range<JobId>, ClusterError> {
        for _ in 0..8 {
            let entry = self.index.entry(JOB_COUNTER).await.map_err(unavailable)?;
            let (next, revision) = match &entry {
                Some(entry) if entry.operation == kv::Operation::Put => {
                    let next = std::str::from_utf8(&entry.value).ok().and_then(|n| n.parse().ok());
                    let next = next.ok_or_else(|| ClusterError::Corrupt("the job id counter".into()))?;
                    (next, entry.revision)
                }
                Some(entry) => (1, entry.revision),
                None => (1, 0),
            };
            let end: JobId = next + JOB_ID_BLOCK;
            let value = Bytes::from(end.to_string());
            let written = if revision == 0 {
                self.index.create(JOB_COUNTER, value).await.is_ok()
            } else {
                self.index.update(JOB_COUNTER, value, revision).await.is_ok()
            };
            // Not written: another node took a block meanwhile (or NATS went away, which
            // the next read says).
            if written {
                return Ok(next..end);
            }
        }
        Err(ClusterError::Unavailable("the job id counter: too many nodes took blocks at once".into()))
    }

    /// Compacts `swarm`'s log in the background, one swarm at a time on this node (a swarm
    /// whose turn is skipped is compacted after its next [`ClusterSettings::compact_after`]
    /// appends). Appends go on meanwhile: the snapshot covers the log as it was read.
    fn compact(&self, swarm: SwarmId) {
        if self.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let cluster = self.clone();
        self.nats.spawn(async move {
            if let Err(error) = cluster.log.compact(swarm).await {
                log::warn!("swarm {swarm}: cannot compact its log: {error}");
            }
            cluster.compacting.store(false, Ordering::Release);
        });
    }

    /// Who holds `swarm`'s lease.
    pub async fn holder(&self, swarm: SwarmId) -> Result<Option<Holder>, ClusterError> {
        let leases = self.leases.clone();
        self.nats.run(async move { leases.holder(swarm).await }).await?
    }

    /// The swarm a master key or resume credential belongs to, by the index.
    pub async fn lookup(&self, secret: &str) -> Result<Option<SwarmId>, ClusterError> {
        let (index, key) = (self.index.clone(), index_key(secret));
        let entry = self.nats.run(async move { index.get(key).await }).await?.map_err(unavailable)?;
        Ok(entry.and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse().ok()))
    }

    /// Stores a temporary object (a relayed API body).
    pub async fn put_blob(&self, name: &str, bytes: Vec<u8>) -> Result<(), ClusterError> {
        let (log, name) = (self.log.clone(), name.to_string());
        self.nats.run(async move { log.put_blob(&name, &bytes).await }).await?
    }

    /// Reads a temporary object and deletes it.
    pub async fn take_blob(&self, name: &str) -> Result<Vec<u8>, ClusterError> {
        let (log, name) = (self.log.clone(), name.to_string());
        self.nats.run(async move { log.take_blob(&name).await }).await?
    }

    /// Records an invite minted here, so that every node admits it: its swarm and when it
    /// expires (Unix ms). The bucket forgets it after the invite TTL.
    pub async fn put_invite(&self, token: &str, swarm: SwarmId, expires_ms: u64) -> Result<(), ClusterError> {
        let (invites, key) = (self.invites.clone(), index_key(token));
        let value = Bytes::from(format!("{swarm} {expires_ms}"));
        self.nats.run(async move { invites.put(key, value).await }).await?.map_err(unavailable)?;
        Ok(())
    }

    /// An invite's swarm and expiry (Unix ms), if any node minted it and it was not revoked.
    pub async fn lookup_invite(&self, token: &str) -> Result<Option<(SwarmId, u64)>, ClusterError> {
        let (invites, key) = (self.invites.clone(), index_key(token));
        let entry = self.nats.run(async move { invites.get(key).await }).await?.map_err(unavailable)?;
        Ok(entry.and_then(|bytes| {
            let text = std::str::from_utf8(&bytes).ok()?;
            let (swarm, expires) = text.split_once(' ')?;
            Some((swarm.parse().ok()?, expires.parse().ok()?))
        }))
    }

    /// Forgets a revoked invite on every node, by its key ([`crate::tokens::code_key`]).
    pub async fn delete_invite_key(&self, key: &str) -> Result<(), ClusterError> {
        let (invites, key) = (self.invites.clone(), key.to_string());
        self.nats.run(async move { invites.purge(key).await }).await?.map_err(unavailable)?;
        Ok(())
    }

    /// The invite bucket.
    pub(super) fn invite_bucket(&self) -> &kv::Store {
        &self.invites
    }

    /// Renews every owned lease three times per TTL, on the NATS runtime. A lease another
    /// node holds now is lost at once; one that cannot be renewed (NATS unreachable) is lost
    /// when its TTL has passed since the last renewal, since another node may take it then.
    fn start_renewing(&self) {
        let cluster = self.clone();
        let every = renew_interval(self.settings.lease_ttl);
        self.nats.spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if !cluster.renewing.load(Ordering::Relaxed) {
                    break;
                }
                cluster.renew_all().await;
            }
        });
    }

    /// Stops renewing leases (the node is going away): each expires within the TTL, or at
    /// once if released.
    pub fn stop_renewing(&self) {
        self.renewing.store(false, Ordering::Relaxed);
    }

    async fn renew_all(&self) {
        let owned: Vec<(SwarmId, Owned)> = self.ownership().swarms.iter().map(|(s, o)| (*s, *o)).collect();
        let renewals = owned.iter().map(|&(swarm, owned)| async move {
            let renewal = tokio::time::timeout(CALL_TIMEOUT, self.leases.renew(swarm, owned.revision)).await;
            (swarm, renewal.unwrap_or_else(|_| Err(ClusterError::Unavailable("renewal timed out".into()))))
        });
        for (swarm, renewal) in join_all(renewals).await {
            let mut ownership = self.ownership();
            let Some(owned) = ownership.swarms.get_mut(&swarm) else { continue };
            match renewal {
                Ok(revision) => (owned.revision, owned.renewed) = (revision, Instant::now()),
                Err(ClusterError::Fenced(_)) => {
                    log::warn!("swarm {swarm}: its lease is another node's now; letting it go");
                    ownership.swarms.remove(&swarm);
                    ownership.lost.push(swarm);
                }
                Err(error) if owned.renewed.elapsed() >= self.settings.lease_ttl => {
                    log::warn!("swarm {swarm}: lease not renewed within its TTL ({error}); letting it go");
                    ownership.swarms.remove(&swarm);
                    ownership.lost.push(swarm);
                }
                Err(error) => log::warn!("swarm {swarm}: cannot renew its lease yet: {error}"),
            }
        }
    }

    /// Writes one swarm's batch; answers the batch back when it could not be written for
    /// now.
    async fn write(&self, swarm: SwarmId, batch: SwarmBatch) -> Result<(), (ClusterError, Option<SwarmBatch>)> {
        let owned = self.ownership().swarms.get(&swarm).copied();
        let owned = match owned {
            Some(owned) => owned,
            None if batch.key.is_some() => match self.leases.acquire(swarm).await {
                Ok(Holder::Us(revision)) => {
                    let owned = Owned { epoch: revision, revision, last: 0, appended: 0, renewed: Instant::now() };
                    self.ownership().swarms.insert(swarm, owned);
                    owned
                }
                Ok(Holder::Other(_)) => return Err((ClusterError::Fenced(swarm), None)),
                Err(error) => return Err((error, Some(batch))),
            },
            None => return Err((ClusterError::Fenced(swarm), None)),
        };
        // The index first: a key the log holds can always be routed.
        let secrets = batch.key.iter().chain(batch.resume.iter().map(|(credential, _)| credential));
        for secret in secrets {
            let value = Bytes::from(swarm.to_string());
            if let Err(error) = self.index.put(index_key(secret), value).await {
                return Err((unavailable(error), Some(batch)));
            }
        }
        let forgotten = batch.forgotten;
        let entry = Entry::Batch { revision: owned.epoch, batch: Box::new(batch) };
        match self.log.append(swarm, owned.last, &entry).await {
            Ok(last) => {
                let mut compact = false;
                if let Some(owned) = self.ownership().swarms.get_mut(&swarm) {
                    owned.last = last;
                    owned.appended += 1;
                    if owned.appended >= self.settings.compact_after && !forgotten {
                        owned.appended = 0;
                        compact = true;
                    }
                }
                if compact {
                    self.compact(swarm);
                }
                if forgotten {
                    // The swarm is gone for good: so is its log.
                    if let Err(error) = self.log.purge(swarm).await {
                        log::warn!("swarm {swarm}: cannot purge its log: {error}");
                    }
                    self.release(swarm).await;
                }
                Ok(())
            }
            Err(error @ ClusterError::Fenced(_)) => Err((error, None)),
            Err(error) => {
                let Entry::Batch { batch, .. } = entry else { unreachable!("built above") };
                Err((error, Some(*batch)))
            }
        }
    }
}

/// The index key of a master key, resume credential or invite code: its SHA-256, so
/// neither the index nor the invite bucket holds a secret.
pub(crate) fn index_key(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The scheduler's store writing to the cluster.
pub struct ClusterBackend {
    cluster: Cluster,
}

impl Backend for ClusterBackend {
    fn commit(&mut self, batch: &mut Batch) -> Result<Vec<SwarmId>, StoreError> {
        let cluster = &self.cluster;
        let mut lost = std::mem::take(&mut cluster.ownership().lost);
        batch.swarms.retain(|_, b| !b.is_empty());
        if batch.swarms.is_empty() {
            return Ok(lost);
        }
        if !cluster.nats.connected() {
            return Err(StoreError("NATS is unreachable; the writes wait for it".into()));
        }
        let writes: Vec<_> = std::mem::take(&mut batch.swarms)
            .into_iter()
            .map(|(swarm, swarm_batch)| {
                let cluster = cluster.clone();
                async move { (swarm, cluster.write(swarm, swarm_batch).await) }
            })
            .collect();
        // Each write is bounded by the calls' own timeouts; this only guards against a hang.
        let results = cluster.nats.block(join_all(writes), CALL_TIMEOUT * 8).map_err(|e| StoreError(e.to_string()))?;
        let mut failed = None;
        for (swarm, result) in results {
            match result {
                Ok(()) => {}
                Err((ClusterError::Fenced(_), _)) => {
                    log::warn!("swarm {swarm}: a write was refused: another node owns it now");
                    cluster.ownership().swarms.remove(&swarm);
                    lost.push(swarm);
                }
                Err((error, kept)) => {
                    if let Some(kept) = kept {
                        // Put back in front of anything gathered since.
                        let mut retry = kept;
                        if let Some(later) = batch.swarms.remove(&swarm) {
                            retry.merge(later);
                        }
                        batch.swarms.insert(swarm, retry);
                    }
                    failed = Some(error);
                }
            }
        }
        match failed {
            Some(error) if lost.is_empty() => Err(StoreError(format!("{error}; the writes wait for the next commit"))),
            Some(error) => {
                log::error!("cannot write the cluster store: {error}; the writes wait for the next commit");
                Ok(lost)
            }
            None => Ok(lost),
        }
    }

    fn lost(&mut self) -> Vec<SwarmId> {
        std::mem::take(&mut self.cluster.ownership().lost)
    }

    fn reserve_job_ids(&mut self) -> Result<Option<Range<JobId>>, StoreError> {
        let cluster = self.cluster.clone();
        let reserved = self.cluster.nats.block(async move { cluster.reserve_job_ids().await }, CALL_TIMEOUT * 2);
        match reserved {
            Ok(Ok(block)) => Ok(Some(block)),
            Ok(Err(error)) | Err(error) => Err(StoreError(error.to_string())),
        }
    }
}
