//! The embedded store on disk: one redb file in the data directory holding swarms and their
//! master keys, workers' resume credentials, jobs (spec, state, counters), every verified
//! tile, the swarms' wasm modules and the records appended to wasm jobs. The scheduler keeps working in memory; this is its write-ahead copy, read back once
//! at start.
//!
//! redb rather than SQLite: it is pure Rust, so the static musl build needs no C toolchain,
//! it is ACID with one file and nothing to run, and the data here is plain keys and blobs.

use std::{collections::BTreeMap, path::Path};

use ostrich_protocol::{
    DeviceId, JobId, JobSpec, JobState, ModuleHash, PowerPolicy, Record, RunState, SwarmId, TaskOutput, decode, encode,
    encode_into, read_records, write_records,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// Swarm id → its master key.
const SWARMS: TableDefinition<u128, &str> = TableDefinition::new("swarms");
/// Swarm id → when it was last active (Unix ms), for the expiry of abandoned swarms.
const ACTIVITY: TableDefinition<u128, u64> = TableDefinition::new("activity");
/// Swarm id → its master's controls, an encoded [`SwarmControls`].
const CONTROLS: TableDefinition<u128, &[u8]> = TableDefinition::new("controls");
/// Resume credential → (swarm, device).
const RESUME: TableDefinition<&str, (u128, u128)> = TableDefinition::new("resume");
/// Job id → its spec, written once at submission.
const SPECS: TableDefinition<u64, &[u8]> = TableDefinition::new("specs");
/// Job id → its [`JobRecord`].
const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
/// (job, chunk) → the tiles verified for that job in one commit, each as a little-endian
/// u32 index, a u32 length and the encoded output. One insert per job per commit, not per
/// tile: at 200 000 tiles/s a row per tile cost a fifth of the scheduler's time.
const TILES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("tiles");
/// Swarm id (16 bytes, big-endian) then module hash (32 bytes) → the module as stored.
const MODULES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("modules");
/// (job, chunk) → records appended to a wasm job in one commit, in the upload format
/// (`ostrich_protocol::write_records`).
const RECORDS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("records");
/// Wasm records jobs closed to more records.
const CLOSED: TableDefinition<u64, ()> = TableDefinition::new("closed");

fn module_key(swarm: SwarmId, hash: ModuleHash) -> Vec<u8> {
    let mut key = swarm.as_u128().to_be_bytes().to_vec();
    key.extend_from_slice(&hash.0);
    key
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

pub(crate) fn err(error: impl std::fmt::Display) -> StoreError {
    StoreError(error.to_string())
}

/// A job's changing part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The owning swarm.
    pub swarm: SwarmId,
    /// Where it is in its life.
    pub state: JobState,
    /// Results that failed verification.
    pub verification_failures: u32,
    /// Times a task was dispatched again.
    pub redispatched: u32,
}

/// What the master set for the whole swarm, kept so that a restart or a new owner does not
/// undo it: a paused swarm stays paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmControls {
    /// The run state.
    pub run_state: RunState,
    /// The throttle, in percent.
    pub throttle: u8,
    /// The power policy.
    pub power_policy: PowerPolicy,
}

/// Writes gathered since the last commit, by swarm; one commit writes them all.
#[derive(Debug, Default)]
pub struct Batch {
    /// Each swarm's writes.
    pub swarms: BTreeMap<SwarmId, SwarmBatch>,
}

/// One swarm's writes since the last commit. Applied in field order (a forgotten swarm and
/// deleted jobs last), which keeps two merged batches' meaning: ids are never reused, and
/// each job's tiles keep their order in one chunk. Serialisable: the cluster's swarm log
/// ([`crate::cluster`]) writes it as it is.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SwarmBatch {
    /// A new swarm's master key.
    pub key: Option<String>,
    /// When the swarm was last active (Unix ms).
    pub activity: Option<u64>,
    /// The master's controls, when they changed.
    pub controls: Option<SwarmControls>,
    /// Workers' resume credentials.
    pub resume: Vec<(String, DeviceId)>,
    /// Resume credentials that no longer admit anyone.
    pub revoked: Vec<String>,
    /// Modules uploaded.
    pub modules: Vec<(ModuleHash, Vec<u8>)>,
    /// Modules deleted.
    pub removed_modules: Vec<ModuleHash>,
    /// New jobs' specs, encoded.
    pub specs: Vec<(JobId, Vec<u8>)>,
    /// Jobs' states and counters, encoded [`JobRecord`]s.
    pub jobs: Vec<(JobId, Vec<u8>)>,
    /// Verified tiles by job: each a little-endian u32 index, a u32 length (`u32::MAX`: the
    /// tile is forgotten) and the encoded output.
    pub tiles: BTreeMap<JobId, Vec<u8>>,
    /// Records appended to wasm jobs, in the upload format, in order.
    pub records: Vec<(JobId, Vec<u8>)>,
    /// Records jobs closed to more records.
    pub closed: Vec<JobId>,
    /// Deleted jobs, with their tiles and records.
    pub deleted: Vec<JobId>,
    /// The swarm is removed: its key, activity, credentials and modules.
    pub forgotten: bool,
}

impl SwarmBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.key.is_none()
            && self.activity.is_none()
            && self.controls.is_none()
            && self.resume.is_empty()
            && self.revoked.is_empty()
            && self.modules.is_empty()
            && self.removed_modules.is_empty()
            && self.specs.is_empty()
            && self.jobs.is_empty()
            && self.tiles.is_empty()
            && self.records.is_empty()
            && self.closed.is_empty()
            && self.deleted.is_empty()
            && !self.forgotten
    }

    /// Appends `later`'s writes after this batch's, as if both had been gathered in one.
    pub fn merge(&mut self, later: SwarmBatch) {
        self.key = later.key.or(self.key.take());
        self.activity = later.activity.or(self.activity);
        self.controls = later.controls.or(self.controls);
        self.resume.extend(later.resume);
        self.revoked.extend(later.revoked);
        self.modules.extend(later.modules);
        self.removed_modules.extend(later.removed_modules);
        self.specs.extend(later.specs);
        self.jobs.extend(later.jobs);
        for (job, chunk) in later.tiles {
            self.tiles.entry(job).or_default().extend_from_slice(&chunk);
        }
        self.records.extend(later.records);
        self.closed.extend(later.closed);
        self.deleted.extend(later.deleted);
        self.forgotten |= later.forgotten;
    }
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.swarms.values().all(SwarmBatch::is_empty)
    }

    fn of(&mut self, swarm: SwarmId) -> &mut SwarmBatch {
        self.swarms.entry(swarm).or_default()
    }

    /// Appends `later`'s writes after this batch's.
    pub fn merge(&mut self, later: Batch) {
        for (swarm, batch) in later.swarms {
            self.of(swarm).merge(batch);
        }
    }

    /// A module uploaded to a swarm.
    pub fn module(&mut self, swarm: SwarmId, hash: ModuleHash, bytes: &[u8]) {
        self.of(swarm).modules.push((hash, bytes.to_vec()));
    }

    /// A module deleted from a swarm.
    pub fn remove_module(&mut self, swarm: SwarmId, hash: ModuleHash) {
        self.of(swarm).removed_modules.push(hash);
    }

    /// Records appended to a wasm job.
    pub fn records(&mut self, swarm: SwarmId, job: JobId, records: &[Record]) {
        self.of(swarm).records.push((job, write_records(records.iter().map(|r| r.0.as_slice()))));
    }

    /// A records job closed to more records.
    pub fn close(&mut self, swarm: SwarmId, job: JobId) {
        self.of(swarm).closed.push(job);
    }

    /// When a swarm was last active (Unix ms).
    pub fn activity(&mut self, swarm: SwarmId, at_ms: u64) {
        self.of(swarm).activity = Some(at_ms);
    }

    /// A swarm's controls, as the master set them.
    pub fn controls(&mut self, swarm: SwarmId, controls: SwarmControls) {
        self.of(swarm).controls = Some(controls);
    }

    /// A removed swarm: its key, activity time, resume credentials and modules (its jobs
    /// are deleted one by one).
    pub fn forget(&mut self, swarm: SwarmId) {
        self.of(swarm).forgotten = true;
    }

    /// A new swarm and its master key.
    pub fn swarm(&mut self, swarm: SwarmId, key: &str) {
        self.of(swarm).key = Some(key.to_string());
    }

    /// A worker's resume credential.
    pub fn resume(&mut self, credential: &str, swarm: SwarmId, device: DeviceId) {
        self.of(swarm).resume.push((credential.to_string(), device));
    }

    /// A resume credential that no longer admits anyone (its device was forgotten).
    pub fn revoke(&mut self, swarm: SwarmId, credential: &str) {
        self.of(swarm).revoked.push(credential.to_string());
    }

    /// A new job's spec.
    pub fn spec(&mut self, swarm: SwarmId, job: JobId, spec: &JobSpec) {
        if let Ok(bytes) = encode(spec) {
            self.of(swarm).specs.push((job, bytes));
        }
    }

    /// A job's state and counters.
    pub fn job(&mut self, job: JobId, record: &JobRecord) {
        if let Ok(bytes) = encode(record) {
            self.of(record.swarm).jobs.push((job, bytes));
        }
    }

    /// A verified tile.
    pub fn tile(&mut self, swarm: SwarmId, job: JobId, index: u32, output: &TaskOutput) {
        let chunk = self.of(swarm).tiles.entry(job).or_default();
        let start = chunk.len();
        chunk.extend_from_slice(&index.to_le_bytes());
        chunk.extend_from_slice(&[0; 4]);
        match encode_into(output, chunk) {
            Ok(len) => chunk[start + 4..start + 8].copy_from_slice(&(len as u32).to_le_bytes()),
            Err(_) => chunk.truncate(start),
        }
    }

    /// A verified tile forgotten: an entry with no output (its length `u32::MAX`), which
    /// makes the load drop the tile read before it.
    pub fn revoke_tile(&mut self, swarm: SwarmId, job: JobId, index: u32) {
        let chunk = self.of(swarm).tiles.entry(job).or_default();
        chunk.extend_from_slice(&index.to_le_bytes());
        chunk.extend_from_slice(&u32::MAX.to_le_bytes());
    }

    /// A deleted job, with its tiles.
    pub fn delete(&mut self, swarm: SwarmId, job: JobId) {
        self.of(swarm).deleted.push(job);
    }
}

/// Reads a job's tile chunk (see [`SwarmBatch::tiles`]) into `outputs`, in order; a
/// forgotten tile drops the one read before it.
pub fn read_tiles(job: JobId, mut rest: &[u8], outputs: &mut Vec<(u32, TaskOutput)>) -> Result<(), StoreError> {
    while let (Some((index, after)), true) = (rest.split_first_chunk::<4>(), !rest.is_empty()) {
        let Some((len, after)) = after.split_first_chunk::<4>() else { break };
        let index = u32::from_le_bytes(*index);
        if u32::from_le_bytes(*len) == u32::MAX {
            outputs.retain(|(i, _)| *i != index);
            rest = after;
            continue;
        }
        let len = u32::from_le_bytes(*len) as usize;
        let Some((output, after)) = (len <= after.len()).then(|| after.split_at(len)) else {
            return Err(StoreError(format!("job {job}: a truncated tile")));
        };
        outputs.push((index, decode(output).map_err(err)?));
        rest = after;
    }
    Ok(())
}

/// A job as read back.
#[derive(Debug)]
pub struct StoredJob {
    /// Its id.
    pub id: JobId,
    /// Its spec.
    pub spec: JobSpec,
    /// Its state and counters.
    pub record: JobRecord,
    /// Its verified tiles.
    pub tiles: Vec<(u32, TaskOutput)>,
    /// Records appended to a wasm job after its submission, in order.
    pub records: Vec<Record>,
    /// Whether a records job was closed.
    pub closed: bool,
}

/// Everything read back at start.
#[derive(Debug, Default)]
pub struct Restored {
    /// Swarms and their master keys.
    pub swarms: Vec<(SwarmId, String)>,
    /// Resume credentials.
    pub resume: Vec<(String, SwarmId, DeviceId)>,
    /// When each swarm was last active (Unix ms); a swarm of an older store has none.
    pub activity: Vec<(SwarmId, u64)>,
    /// Each swarm's controls, if its master ever set them.
    pub controls: Vec<(SwarmId, SwarmControls)>,
    /// Jobs, oldest first.
    pub jobs: Vec<StoredJob>,
    /// Wasm modules and their swarms.
    pub modules: Vec<(SwarmId, ModuleHash, Vec<u8>)>,
}

/// The store's file.
pub struct Durable {
    db: Database,
    /// The next chunk number; chunk keys only grow, across restarts too.
    next_chunk: std::cell::Cell<u64>,
}

impl Durable {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let db = Database::create(path).map_err(err)?;
        let tx = db.begin_write().map_err(err)?;
        for table in [SPECS, JOBS] {
            tx.open_table(table).map_err(err)?;
        }
        tx.open_table(SWARMS).map_err(err)?;
        tx.open_table(ACTIVITY).map_err(err)?;
        tx.open_table(CONTROLS).map_err(err)?;
        tx.open_table(RESUME).map_err(err)?;
        tx.open_table(TILES).map_err(err)?;
        tx.open_table(MODULES).map_err(err)?;
        tx.open_table(RECORDS).map_err(err)?;
        tx.open_table(CLOSED).map_err(err)?;
        tx.commit().map_err(err)?;
        let read = db.begin_read().map_err(err)?;
        let mut last = 0;
        for table in [TILES, RECORDS] {
            for item in read.open_table(table).map_err(err)?.iter().map_err(err)? {
                last = last.max(item.map_err(err)?.0.value().1);
            }
        }
        drop(read);
        Ok(Self { db, next_chunk: std::cell::Cell::new(last + 1) })
    }

    /// Writes a batch in one transaction.
    pub fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut swarms = tx.open_table(SWARMS).map_err(err)?;
            let mut activity = tx.open_table(ACTIVITY).map_err(err)?;
            let mut controls = tx.open_table(CONTROLS).map_err(err)?;
            let mut resume = tx.open_table(RESUME).map_err(err)?;
            let mut modules = tx.open_table(MODULES).map_err(err)?;
            let mut specs = tx.open_table(SPECS).map_err(err)?;
            let mut jobs = tx.open_table(JOBS).map_err(err)?;
            let mut tiles = tx.open_table(TILES).map_err(err)?;
            let mut records = tx.open_table(RECORDS).map_err(err)?;
            let mut closed = tx.open_table(CLOSED).map_err(err)?;
            let chunk = self.next_chunk.get();
            self.next_chunk.set(chunk + 1);
            for (swarm, batch) in &batch.swarms {
                let id = swarm.as_u128();
                if let Some(key) = &batch.key {
                    swarms.insert(id, key.as_str()).map_err(err)?;
                }
                if let Some(at_ms) = batch.activity {
                    activity.insert(id, at_ms).map_err(err)?;
                }
                if let Some(set) = &batch.controls {
                    controls.insert(id, encode(set).map_err(err)?.as_slice()).map_err(err)?;
                }
                for (credential, device) in &batch.resume {
                    resume.insert(credential.as_str(), (id, device.as_u128())).map_err(err)?;
                }
                for credential in &batch.revoked {
                    resume.remove(credential.as_str()).map_err(err)?;
                }
                for (hash, bytes) in &batch.modules {
                    modules.insert(module_key(*swarm, *hash).as_slice(), bytes.as_slice()).map_err(err)?;
                }
                for hash in &batch.removed_modules {
                    modules.remove(module_key(*swarm, *hash).as_slice()).map_err(err)?;
                }
                for (job, bytes) in &batch.specs {
                    specs.insert(job, bytes.as_slice()).map_err(err)?;
                }
                for (job, bytes) in &batch.jobs {
                    jobs.insert(job, bytes.as_slice()).map_err(err)?;
                }
                for (job, bytes) in &batch.tiles {
                    tiles.insert((*job, chunk), bytes.as_slice()).map_err(err)?;
                }
                for (job, bytes) in &batch.records {
                    // Several appends to one job in one commit each get a chunk of their own.
                    let chunk = self.next_chunk.get();
                    self.next_chunk.set(chunk + 1);
                    records.insert((*job, chunk), bytes.as_slice()).map_err(err)?;
                }
                for job in &batch.closed {
                    closed.insert(job, ()).map_err(err)?;
                }
                for job in &batch.deleted {
                    specs.remove(job).map_err(err)?;
                    jobs.remove(job).map_err(err)?;
                    tiles.retain_in((*job, 0)..=(*job, u64::MAX), |_, _| false).map_err(err)?;
                    records.retain_in((*job, 0)..=(*job, u64::MAX), |_, _| false).map_err(err)?;
                    closed.remove(job).map_err(err)?;
                }
                if batch.forgotten {
                    swarms.remove(id).map_err(err)?;
                    activity.remove(id).map_err(err)?;
                    controls.remove(id).map_err(err)?;
                    resume.retain(|_, (owner, _)| owner != id).map_err(err)?;
                    let prefix = id.to_be_bytes();
                    modules.retain(|key, _| !key.starts_with(&prefix)).map_err(err)?;
                }
            }
        }
        tx.commit().map_err(err)
    }

    /// Reads everything back.
    pub fn load(&self) -> Result<Restored, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let mut restored = Restored::default();
        for item in tx.open_table(SWARMS).map_err(err)?.iter().map_err(err)? {
            let (swarm, key) = item.map_err(err)?;
            restored.swarms.push((SwarmId::from_u128(swarm.value()), key.value().to_string()));
        }
        for item in tx.open_table(ACTIVITY).map_err(err)?.iter().map_err(err)? {
            let (swarm, at_ms) = item.map_err(err)?;
            restored.activity.push((SwarmId::from_u128(swarm.value()), at_ms.value()));
        }
        for item in tx.open_table(CONTROLS).map_err(err)?.iter().map_err(err)? {
            let (swarm, set) = item.map_err(err)?;
            restored.controls.push((SwarmId::from_u128(swarm.value()), decode(set.value()).map_err(err)?));
        }
        for item in tx.open_table(RESUME).map_err(err)?.iter().map_err(err)? {
            let (credential, ids) = item.map_err(err)?;
            let (swarm, device) = ids.value();
            let ids = (SwarmId::from_u128(swarm), DeviceId::from_u128(device));
            restored.resume.push((credential.value().to_string(), ids.0, ids.1));
        }
        for item in tx.open_table(MODULES).map_err(err)?.iter().map_err(err)? {
            let (key, bytes) = item.map_err(err)?;
            let key = key.value();
            let (Some(swarm), Some(hash)) =
                (key.first_chunk::<16>(), key.get(16..).and_then(|h| h.first_chunk::<32>()))
            else {
                return Err(StoreError("a module with a malformed key".into()));
            };
            let swarm = SwarmId::from_u128(u128::from_be_bytes(*swarm));
            restored.modules.push((swarm, ModuleHash(*hash), bytes.value().to_vec()));
        }
        let specs = tx.open_table(SPECS).map_err(err)?;
        let tiles = tx.open_table(TILES).map_err(err)?;
        let appended = tx.open_table(RECORDS).map_err(err)?;
        let closed = tx.open_table(CLOSED).map_err(err)?;
        for item in tx.open_table(JOBS).map_err(err)?.iter().map_err(err)? {
            let (id, record) = item.map_err(err)?;
            let id = id.value();
            let record: JobRecord = decode(record.value()).map_err(err)?;
            let Some(spec) = specs.get(id).map_err(err)? else { continue };
            let spec: JobSpec = decode(spec.value()).map_err(err)?;
            let mut outputs = Vec::new();
            for chunk in tiles.range((id, 0)..=(id, u64::MAX)).map_err(err)? {
                read_tiles(id, chunk.map_err(err)?.1.value(), &mut outputs)?;
            }
            let mut records = Vec::new();
            for chunk in appended.range((id, 0)..=(id, u64::MAX)).map_err(err)? {
                records.extend(read_records(chunk.map_err(err)?.1.value()).map_err(err)?);
            }
            let closed = closed.get(id).map_err(err)?.is_some();
            restored.jobs.push(StoredJob { id, spec, record, tiles: outputs, records, closed });
        }
        Ok(restored)
    }
}

#[cfg(test)]
mod tests {
    use ostrich_protocol::{MatmulSpec, MatrixSource};

    use super::*;

    #[test]
    fn what_is_committed_is_read_back_and_deletion_takes_the_tiles() {
        let path = std::env::temp_dir().join(format!("ostrich-store-{}.redb", uuid::Uuid::new_v4()));
        let (swarm, device) = (SwarmId::from_u128(7), DeviceId::from_u128(9));
        let spec = JobSpec::Matmul(MatmulSpec { m: 8, k: 4, n: 8, tile: 4, source: MatrixSource::Seeded { seed: 1 } });
        let record = JobRecord { swarm, state: JobState::Running, verification_failures: 1, redispatched: 2 };
        {
            let store = Durable::open(&path).expect("open");
            let mut batch = Batch::default();
            batch.swarm(swarm, "key");
            batch.resume("cred", swarm, device);
            for job in [1, 2] {
                batch.spec(swarm, job, &spec);
                batch.job(job, &record);
                batch.tile(swarm, job, 3, &TaskOutput::MatmulTile { c: vec![1.5; 16] });
            }
            store.commit(batch).expect("commit");
            let mut batch = Batch::default();
            let gone = SwarmId::from_u128(8);
            batch.swarm(gone, "old key");
            batch.resume("old cred", gone, device);
            batch.activity(gone, 5);
            batch.activity(swarm, 1_000);
            store.commit(batch).expect("commit");
            let mut batch = Batch::default();
            batch.forget(gone);
            batch.delete(swarm, 2);
            batch.tile(swarm, 1, 5, &TaskOutput::MandelbrotTile { iterations: vec![4, 2] });
            store.commit(batch).expect("delete");
        }
        let restored = Durable::open(&path).expect("reopen").load().expect("load");
        assert_eq!(restored.swarms, vec![(swarm, "key".to_string())]);
        assert_eq!(restored.resume, vec![("cred".to_string(), swarm, device)], "a forgotten swarm's go too");
        assert_eq!(restored.activity, vec![(swarm, 1_000)]);
        assert_eq!(restored.jobs.len(), 1);
        let job = &restored.jobs[0];
        assert_eq!((job.id, &job.spec, &job.record), (1, &spec, &record));
        let tiles = vec![
            (3, TaskOutput::MatmulTile { c: vec![1.5; 16] }),
            (5, TaskOutput::MandelbrotTile { iterations: vec![4, 2] }),
        ];
        assert_eq!(job.tiles, tiles, "tiles of several commits come back in order");
        std::fs::remove_file(&path).expect("clean up");
    }

    #[test]
    fn a_revoked_tile_stays_gone_and_its_recomputed_output_comes_back() {
        let path = std::env::temp_dir().join(format!("ostrich-store-{}.redb", uuid::Uuid::new_v4()));
        let spec = JobSpec::Matmul(MatmulSpec { m: 8, k: 4, n: 8, tile: 4, source: MatrixSource::Seeded { seed: 1 } });
        let swarm = SwarmId::from_u128(7);
        let record = JobRecord { swarm, state: JobState::Running, verification_failures: 0, redispatched: 0 };
        let (lie, truth) = (TaskOutput::Wasm { output: vec![1] }, TaskOutput::Wasm { output: vec![2] });
        {
            let store = Durable::open(&path).expect("open");
            let mut batch = Batch::default();
            batch.spec(swarm, 1, &spec);
            batch.job(1, &record);
            batch.tile(swarm, 1, 3, &lie);
            batch.tile(swarm, 1, 4, &truth);
            store.commit(batch).expect("commit");
            let mut batch = Batch::default();
            batch.revoke_tile(swarm, 1, 3);
            store.commit(batch).expect("commit");
            let restored = store.load().expect("load");
            assert_eq!(restored.jobs[0].tiles, vec![(4, truth.clone())], "the revoked tile is not read back");
            let mut batch = Batch::default();
            batch.tile(swarm, 1, 3, &truth);
            store.commit(batch).expect("commit");
        }
        let restored = Durable::open(&path).expect("reopen").load().expect("load");
        assert_eq!(restored.jobs[0].tiles, vec![(4, truth.clone()), (3, truth)]);
        std::fs::remove_file(&path).expect("clean up");
    }
}
