//! Each swarm's durable state as a log: one subject per swarm in one stream, each message an
//! [`Entry`]. The owner appends one entry per commit (what a single node writes to redb in
//! one transaction); a new owner replays the log to rebuild the swarm.
//!
//! **Fencing.** Every append says which sequence it expects to be the subject's last
//! (`Nats-Expected-Last-Subject-Sequence`), and JetStream refuses it otherwise. A new owner
//! appends an [`Entry::Epoch`] before anything else, so an old owner that paused past its
//! lease has its next append refused by the server itself, whatever its clock says. Entries
//! also carry the lease revision they were written under, so the log reads as a sequence of
//! epochs.
//!
//! An entry larger than [`BLOB_THRESHOLD`] (modules, big batches of results) goes to the
//! object store, and the log holds its name.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_nats::jetstream::{
    self, consumer,
    context::PublishErrorKind,
    message::PublishMessage,
    object_store,
    stream::{self, LastRawMessageErrorKind},
};
use futures_util::StreamExt;
use ostrich_protocol::{DeviceId, JobId, JobSpec, ModuleHash, SwarmId, decode, encode, read_records};
use serde::{Deserialize, Serialize};

use super::{ClusterError, ClusterSettings, unavailable};
use crate::durable::{JobRecord, Restored, StoredJob, SwarmBatch, SwarmControls, read_tiles};

/// Entries larger than this go to the object store (NATS refuses messages over its
/// `max_payload`, 1 MiB by default).
pub const BLOB_THRESHOLD: usize = 512 * 1024;

/// One message of a swarm's log.
#[derive(Debug, Serialize, Deserialize)]
pub enum Entry {
    /// A node took the swarm at this lease revision. Written first by every new owner: it
    /// moves the subject's last sequence, which fences the owner before.
    Epoch {
        /// The lease revision.
        revision: u64,
        /// The new owner.
        node: String,
    },
    /// The writes of one commit.
    Batch {
        /// The lease revision they were written under.
        revision: u64,
        /// The writes.
        batch: Box<SwarmBatch>,
    },
    /// The writes of one commit, too large for a message: an encoded [`Entry::Batch`] in the
    /// object store under this name.
    Blob {
        /// The lease revision.
        revision: u64,
        /// The object's name.
        name: String,
    },
}

/// The swarms' logs.
#[derive(Clone)]
pub struct SwarmLog {
    stream: stream::Stream,
    jetstream: jetstream::Context,
    blobs: object_store::ObjectStore,
    settings: ClusterSettings,
}

impl SwarmLog {
    /// Opens the log stream and the object store, creating them if missing.
    pub async fn open(jetstream: &jetstream::Context, settings: &ClusterSettings) -> Result<Self, ClusterError> {
        let stream = super::stream(
            jetstream,
            stream::Config {
                name: settings.log_stream(),
                description: Some("Ostrich-Legs swarm logs: one subject per swarm".into()),
                subjects: vec![format!("{}.log.*", settings.prefix)],
                storage: stream::StorageType::File,
                num_replicas: settings.replicas,
                ..Default::default()
            },
        )
        .await?;
        let bucket = settings.blob_bucket();
        let blobs = match jetstream.get_object_store(&bucket).await {
            Ok(blobs) => blobs,
            Err(_) => match jetstream
                .create_object_store(object_store::Config {
                    bucket: bucket.clone(),
                    description: Some("Ostrich-Legs: swarm log entries too large for one message".into()),
                    storage: stream::StorageType::File,
                    num_replicas: settings.replicas,
                    ..Default::default()
                })
                .await
            {
                Ok(blobs) => blobs,
                // Another node created it meanwhile.
                Err(error) => jetstream
                    .get_object_store(&bucket)
                    .await
                    .map_err(|e| unavailable(format!("the object store: {error}; {e}")))?,
            },
        };
        Ok(Self { stream, jetstream: jetstream.clone(), blobs, settings: settings.clone() })
    }

    /// Appends `entry` to `swarm`'s log if the log's last sequence is `expected` (0: the log
    /// is empty); answers the entry's sequence, or [`ClusterError::Fenced`] when another
    /// entry came first (another node owns the swarm now).
    pub async fn append(&self, swarm: SwarmId, expected: u64, entry: &Entry) -> Result<u64, ClusterError> {
        let mut bytes = encode(entry).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
        let mut blob = None;
        if bytes.len() > BLOB_THRESHOLD {
            let revision = match entry {
                Entry::Epoch { revision, .. } | Entry::Batch { revision, .. } | Entry::Blob { revision, .. } => {
                    *revision
                }
            };
            let name = format!("{}.{}", swarm.simple(), uuid::Uuid::new_v4().simple());
            self.blobs.put(name.as_str(), &mut bytes.as_slice()).await.map_err(unavailable)?;
            bytes = encode(&Entry::Blob { revision, name: name.clone() })
                .map_err(|e| ClusterError::Corrupt(e.to_string()))?;
            blob = Some(name);
        }
        let publish = PublishMessage::build().payload(bytes.into()).expected_last_subject_sequence(expected);
        let acked = match self.jetstream.send_publish(self.settings.log_subject(swarm), publish).await {
            Ok(ack) => ack.await,
            Err(error) => Err(error),
        };
        match acked {
            Ok(ack) => Ok(ack.sequence),
            Err(error) => {
                if let Some(name) = blob {
                    let _ = self.blobs.delete(name).await;
                }
                if error.kind() == PublishErrorKind::WrongLastSequence {
                    Err(ClusterError::Fenced(swarm))
                } else {
                    Err(unavailable(error))
                }
            }
        }
    }

    /// Removes a forgotten swarm's whole log, and the objects its entries named.
    pub async fn purge(&self, swarm: SwarmId) -> Result<(), ClusterError> {
        self.stream.purge().filter(self.settings.log_subject(swarm)).await.map_err(unavailable)?;
        let prefix = format!("{}.", swarm.simple());
        let mut objects = self.blobs.list().await.map_err(unavailable)?;
        let mut names = Vec::new();
        while let Some(object) = objects.next().await {
            let object = object.map_err(unavailable)?;
            if object.name.starts_with(&prefix) {
                names.push(object.name);
            }
        }
        for name in names {
            self.blobs.delete(&name).await.map_err(unavailable)?;
        }
        Ok(())
    }

    /// The swarms that have a log.
    pub async fn swarms(&self) -> Result<Vec<SwarmId>, ClusterError> {
        let prefix = format!("{}.log.", self.settings.prefix);
        let mut subjects = self.stream.info_with_subjects(format!("{prefix}*")).await.map_err(unavailable)?;
        let mut swarms = Vec::new();
        while let Some(subject) = subjects.next().await {
            let (subject, _) = subject.map_err(unavailable)?;
            if let Some(swarm) = subject.strip_prefix(&prefix).and_then(|id| id.parse().ok()) {
                swarms.push(swarm);
            }
        }
        Ok(swarms)
    }

    /// Stores `bytes` under `name` in the object store.
    pub async fn put_blob(&self, name: &str, bytes: &[u8]) -> Result<(), ClusterError> {
        let mut reader = bytes;
        self.blobs.put(name, &mut reader).await.map_err(unavailable)?;
        Ok(())
    }

    /// Reads the object `name` and deletes it.
    pub async fn take_blob(&self, name: &str) -> Result<Vec<u8>, ClusterError> {
        let mut object = self.blobs.get(name).await.map_err(unavailable)?;
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut object, &mut bytes).await.map_err(unavailable)?;
        if let Err(error) = self.blobs.delete(name).await {
            log::warn!("cannot delete the object {name}: {error}");
        }
        Ok(bytes)
    }

    /// The sequence of the last entry of `swarm`'s log, 0 when it has none.
    pub async fn last(&self, swarm: SwarmId) -> Result<u64, ClusterError> {
        match self.stream.get_last_raw_message_by_subject(&self.settings.log_subject(swarm)).await {
            Ok(message) => Ok(message.sequence),
            Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Reads `swarm`'s whole log back; answers what it holds and the sequence of its last
    /// entry (what the next append expects).
    pub async fn replay(&self, swarm: SwarmId) -> Result<(Restored, u64), ClusterError> {
        let last = self.last(swarm).await?;
        let mut state = Replay::default();
        if last > 0 {
            let consumer = self
                .stream
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: self.settings.log_subject(swarm),
                    deliver_policy: consumer::DeliverPolicy::All,
                    ..Default::default()
                })
                .await
                .map_err(unavailable)?;
            let mut messages = consumer.messages().await.map_err(unavailable)?;
            while let Some(message) = messages.next().await {
                let message = message.map_err(unavailable)?;
                let sequence = message.info().map_err(unavailable)?.stream_sequence;
                let entry: Entry = decode(&message.payload).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
                self.apply(&mut state, entry).await?;
                if sequence >= last {
                    break;
                }
            }
        }
        Ok((state.restored(swarm)?, last))
    }

    async fn apply(&self, state: &mut Replay, entry: Entry) -> Result<(), ClusterError> {
        match entry {
            Entry::Epoch { revision, .. } => state.epoch = state.epoch.max(revision),
            // An append of an older epoch cannot follow a newer one (the server fences it);
            // skipping one keeps the log's meaning even if it did.
            Entry::Batch { revision, .. } | Entry::Blob { revision, .. } if revision < state.epoch => {}
            Entry::Batch { batch, .. } => state.apply(*batch),
            Entry::Blob { name, .. } => {
                let mut object = self.blobs.get(&name).await.map_err(unavailable)?;
                let mut bytes = Vec::new();
                tokio::io::AsyncReadExt::read_to_end(&mut object, &mut bytes).await.map_err(unavailable)?;
                let entry: Entry = decode(&bytes).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
                match entry {
                    Entry::Batch { batch, .. } => state.apply(*batch),
                    _ => return Err(ClusterError::Corrupt(format!("blob {name} holds no batch"))),
                }
            }
        }
        Ok(())
    }
}

/// A swarm's state as its log is read: the same tables the embedded store keeps.
#[derive(Default)]
struct Replay {
    epoch: u64,
    key: Option<String>,
    activity: Option<u64>,
    controls: Option<SwarmControls>,
    resume: HashMap<String, DeviceId>,
    modules: BTreeMap<ModuleHash, Vec<u8>>,
    specs: BTreeMap<JobId, Vec<u8>>,
    jobs: BTreeMap<JobId, Vec<u8>>,
    tiles: BTreeMap<JobId, Vec<Vec<u8>>>,
    records: BTreeMap<JobId, Vec<Vec<u8>>>,
    closed: BTreeSet<JobId>,
}

impl Replay {
    /// Applies one commit, in the order [`SwarmBatch`] defines.
    fn apply(&mut self, batch: SwarmBatch) {
        if let Some(key) = batch.key {
            self.key = Some(key);
        }
        if let Some(at_ms) = batch.activity {
            self.activity = Some(at_ms);
        }
        if let Some(controls) = batch.controls {
            self.controls = Some(controls);
        }
        self.resume.extend(batch.resume);
        for credential in batch.revoked {
            self.resume.remove(&credential);
        }
        self.modules.extend(batch.modules);
        for hash in batch.removed_modules {
            self.modules.remove(&hash);
        }
        self.specs.extend(batch.specs);
        self.jobs.extend(batch.jobs);
        for (job, chunk) in batch.tiles {
            self.tiles.entry(job).or_default().push(chunk);
        }
        for (job, chunk) in batch.records {
            self.records.entry(job).or_default().push(chunk);
        }
        self.closed.extend(batch.closed);
        for job in batch.deleted {
            self.specs.remove(&job);
            self.jobs.remove(&job);
            self.tiles.remove(&job);
            self.records.remove(&job);
            self.closed.remove(&job);
        }
        if batch.forgotten {
            *self = Self { epoch: self.epoch, ..Self::default() };
        }
    }

    /// What the scheduler restores from: empty when the swarm was never created or was
    /// forgotten.
    fn restored(self, swarm: SwarmId) -> Result<Restored, ClusterError> {
        let corrupt = |e: crate::durable::StoreError| ClusterError::Corrupt(e.to_string());
        let mut restored = Restored::default();
        let Some(key) = self.key else {
            return Ok(restored);
        };
        restored.swarms.push((swarm, key));
        restored.activity.extend(self.activity.map(|at| (swarm, at)));
        restored.controls.extend(self.controls.map(|set| (swarm, set)));
        restored.resume.extend(self.resume.into_iter().map(|(credential, device)| (credential, swarm, device)));
        restored.modules.extend(self.modules.into_iter().map(|(hash, bytes)| (swarm, hash, bytes)));
        for (id, record) in self.jobs {
            let Some(spec) = self.specs.get(&id) else { continue };
            let record: JobRecord = decode(&record).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
            let spec: JobSpec = decode(spec).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
            let mut tiles = Vec::new();
            for chunk in self.tiles.get(&id).into_iter().flatten() {
                read_tiles(id, chunk, &mut tiles).map_err(corrupt)?;
            }
            let mut records = Vec::new();
            for chunk in self.records.get(&id).into_iter().flatten() {
                records.extend(read_records(chunk).map_err(ClusterError::Corrupt)?);
            }
            let closed = self.closed.contains(&id);
            restored.jobs.push(StoredJob { id, spec, record, tiles, records, closed });
        }
        Ok(restored)
    }
}
