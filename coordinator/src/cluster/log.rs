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
//!
//! **Compaction.** After [`COMPACT_AFTER`] appends the owner folds the log into a snapshot:
//! the swarm's whole state as one [`SwarmBatch`] in the object store, and a pointer to it in
//! the snapshot bucket saying which log sequence it covers. Then the entries it covers are
//! purged, all but the last (and the objects they named): a deleted job's results leave
//! NATS, and a new owner reads the snapshot and the entries after it, not the swarm's whole
//! history. The snapshot is built from the log, not from the owner's memory, so whichever
//! node writes it (even one fenced meanwhile) writes the truth; the pointer is written
//! compare-and-set, so two compactions cannot both win. A reader that finds the pointer
//! changed while it read (a compaction purged what it was reading) reads again.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Duration,
};

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

use super::{ClusterError, ClusterSettings, kv_bucket, unavailable};
use crate::durable::{JobRecord, Restored, StoredJob, SwarmBatch, SwarmControls, read_tiles};

/// A swarm's owner compacts its log after appending this many entries (at one commit per
/// 250 ms, about four minutes of steady work).
pub const COMPACT_AFTER: u64 = 1000;

/// Where a swarm's compacted state is: the object holding it (an encoded [`SwarmBatch`]),
/// the last log sequence it covers and the epoch at that point.
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    upto: u64,
    epoch: u64,
    object: String,
}

/// A swarm's log as read: its state, the sequence of its last entry, how many entries were
/// read, the objects they named and the snapshot read with them (its pointer's revision, 0
/// without one, and its object).
struct Read {
    state: Replay,
    last: u64,
    entries: u64,
    objects: Vec<String>,
    pointer: u64,
    snapshot: Option<String>,
}

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
    /// Swarm → its [`Snapshot`].
    snapshots: async_nats::jetstream::kv::Store,
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
        let description = "Ostrich-Legs: swarm → its compacted log (object, last sequence covered)";
        let snapshots =
            kv_bucket(jetstream, &settings.snapshot_bucket(), description, Duration::ZERO, settings.replicas).await?;
        Ok(Self { stream, jetstream: jetstream.clone(), blobs, snapshots, settings: settings.clone() })
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

    /// Removes a forgotten swarm's whole log, its snapshot, and the objects they named.
    pub async fn purge(&self, swarm: SwarmId) -> Result<(), ClusterError> {
        self.stream.purge().filter(self.settings.log_subject(swarm)).await.map_err(unavailable)?;
        self.snapshots.purge(swarm.simple().to_string()).await.map_err(unavailable)?;
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

    /// Reads `swarm`'s log back (its snapshot, then the entries after it); answers what it
    /// holds, the sequence of its last entry (what the next append expects) and how many
    /// entries were read past the snapshot.
    pub async fn replay(&self, swarm: SwarmId) -> Result<(Restored, u64, u64), ClusterError> {
        let read = self.read(swarm).await?;
        Ok((read.state.restored(swarm)?, read.last, read.entries))
    }

    /// Reads `swarm`'s log, again as long as a compaction changes the snapshot meanwhile.
    async fn read(&self, swarm: SwarmId) -> Result<Read, ClusterError> {
        loop {
            let pointer = self.pointer(swarm).await?;
            match self.read_from(swarm, &pointer).await {
                Ok(read) if self.pointer(swarm).await?.0 == read.pointer => return Ok(read),
                // The snapshot moved on (and purged what was read, or its object): again.
                Ok(_) => {}
                Err(error) if self.pointer(swarm).await?.0 == pointer.0 => return Err(error),
                Err(_) => {}
            }
        }
    }

    /// `swarm`'s snapshot pointer: its revision (0: none) and the snapshot.
    async fn pointer(&self, swarm: SwarmId) -> Result<(u64, Option<Snapshot>), ClusterError> {
        let entry = self.snapshots.entry(swarm.simple().to_string()).await.map_err(unavailable)?;
        match entry {
            Some(entry) if entry.operation == async_nats::jetstream::kv::Operation::Put => {
                let snapshot = decode(&entry.value).map_err(|e| ClusterError::Corrupt(format!("a snapshot: {e}")))?;
                Ok((entry.revision, Some(snapshot)))
            }
            Some(entry) => Ok((entry.revision, None)),
            None => Ok((0, None)),
        }
    }

    /// Reads `swarm`'s snapshot, if `pointer` names one, and the log entries after it.
    async fn read_from(&self, swarm: SwarmId, pointer: &(u64, Option<Snapshot>)) -> Result<Read, ClusterError> {
        let mut state = Replay::default();
        let mut from = 1;
        if let Some(snapshot) = &pointer.1 {
            let mut object = self.blobs.get(&snapshot.object).await.map_err(unavailable)?;
            let mut bytes = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut object, &mut bytes).await.map_err(unavailable)?;
            let batch: SwarmBatch = decode(&bytes).map_err(|e| ClusterError::Corrupt(format!("a snapshot: {e}")))?;
            state.apply(batch);
            state.epoch = snapshot.epoch;
            from = snapshot.upto + 1;
        }
        let last = self.last(swarm).await?;
        let mut read = Read {
            state,
            last,
            entries: 0,
            objects: Vec::new(),
            pointer: pointer.0,
            snapshot: pointer.1.as_ref().map(|s| s.object.clone()),
        };
        if last < from {
            return Ok(read);
        }
        let consumer = self
            .stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: self.settings.log_subject(swarm),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from },
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        let mut messages = consumer.messages().await.map_err(unavailable)?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(unavailable)?;
            let sequence = message.info().map_err(unavailable)?.stream_sequence;
            let entry: Entry = decode(&message.payload).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
            if let Entry::Blob { name, .. } = &entry {
                read.objects.push(name.clone());
            }
            read.entries += 1;
            self.apply(&mut read.state, entry).await?;
            if sequence >= last {
                break;
            }
        }
        Ok(read)
    }

    /// Folds `swarm`'s log into a snapshot and purges the entries it covers, with the
    /// objects only they named (see the module's docs). Losing the race to another
    /// compaction is no error: that one did the work.
    pub async fn compact(&self, swarm: SwarmId) -> Result<(), ClusterError> {
        let read = self.read(swarm).await?;
        if read.entries == 0 || read.state.key.is_none() {
            return Ok(());
        }
        let object = format!("{}.{}", swarm.simple(), uuid::Uuid::new_v4().simple());
        let bytes = encode(&read.state.to_batch()).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
        self.blobs.put(object.as_str(), &mut bytes.as_slice()).await.map_err(unavailable)?;
        let snapshot = Snapshot { upto: read.last, epoch: read.state.epoch, object: object.clone() };
        let pointer = bytes::Bytes::from(encode(&snapshot).map_err(|e| ClusterError::Corrupt(e.to_string()))?);
        let key = swarm.simple().to_string();
        let written = match read.pointer {
            0 => self.snapshots.create(&key, pointer).await.is_ok(),
            revision => self.snapshots.update(&key, pointer, revision).await.is_ok(),
        };
        if !written {
            let _ = self.blobs.delete(&object).await;
            return Ok(());
        }
        // The last entry the snapshot covers stays: JetStream checks each append against the
        // subject's last sequence, and the sweep finds swarms by their log's subject.
        let subject = self.settings.log_subject(swarm);
        self.stream.purge().filter(subject).sequence(read.last).await.map_err(unavailable)?;
        for name in read.objects.into_iter().chain(read.snapshot) {
            if let Err(error) = self.blobs.delete(&name).await {
                log::warn!("swarm {swarm}: cannot delete the compacted object {name}: {error}");
            }
        }
        log::info!("swarm {swarm}: log compacted up to sequence {}", read.last);
        Ok(())
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

    /// The whole state as one batch: what a snapshot holds. Replayed into an empty
    /// [`Replay`], it gives this one back.
    fn to_batch(&self) -> SwarmBatch {
        SwarmBatch {
            key: self.key.clone(),
            activity: self.activity,
            controls: self.controls,
            resume: self.resume.iter().map(|(credential, device)| (credential.clone(), *device)).collect(),
            modules: self.modules.iter().map(|(hash, bytes)| (*hash, bytes.clone())).collect(),
            specs: self.specs.iter().map(|(job, spec)| (*job, spec.clone())).collect(),
            jobs: self.jobs.iter().map(|(job, record)| (*job, record.clone())).collect(),
            tiles: self.tiles.iter().map(|(job, chunks)| (*job, chunks.concat())).collect(),
            records: self.records.iter().flat_map(|(job, chunks)| chunks.iter().map(|c| (*job, c.clone()))).collect(),
            closed: self.closed.iter().copied().collect(),
            ..SwarmBatch::default()
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
