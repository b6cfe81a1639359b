//! User WebAssembly kernels as they travel: the module's name (its SHA-256), a job's inputs,
//! limits and verification policy, and the constants of the kernel ABI that every runtime
//! (wasmtime on native workers and the coordinator, the browser's Web Workers) shares.
//!
//! The ABI, in full (ARCHITECTURE.md says why):
//! - a kernel is a core wasm module with no imports;
//! - it exports `memory`, `alloc(len: i32) -> i32` and `run(ptr: i32, len: i32) -> i64`,
//!   whose result packs the output's pointer in the low 32 bits and its length in the high
//!   32 bits ([`pack_output`]);
//! - it may export `verify(in_ptr: i32, in_len: i32, out_ptr: i32, out_len: i32) -> i32`,
//!   nonzero when the output is a correct answer to the input.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The largest module a swarm may upload.
pub const MAX_MODULE_BYTES: usize = 8 * 1024 * 1024;
/// A 64 KiB wasm page.
pub const WASM_PAGE_BYTES: u64 = 64 * 1024;
/// The most memory a kernel instance may have: 256 MiB. The coordinator writes this
/// maximum into every module it stores, so every runtime stops `memory.grow` at the same
/// size and a kernel that grows its memory behaves the same everywhere.
pub const MAX_MEMORY_PAGES: u64 = 4096;
/// The longest time limit a task may have.
pub const MAX_TIME_LIMIT_MS: u32 = 10 * 60 * 1000;
/// The largest output one task may return.
pub const MAX_OUTPUT_BYTES: u32 = 16 * 1024 * 1024;
/// The largest input (shared arguments, or one record) one task may get.
pub const MAX_INPUT_BYTES: u32 = 16 * 1024 * 1024;
/// The most tasks one job may have.
pub const MAX_WASM_TASKS: u32 = 1 << 24;
/// Consecutive agreeing results after which a device is trusted (BOINC's adaptive
/// replication): its results are then only audited, with probability max(1/count, floor).
/// A device that lies once in this many results or more often is never trusted, so every
/// one of its lies is replicated and caught; 20 covers the "one wrong byte in 20 outputs"
/// liar, which a threshold of 10 would let slip between audits.
pub const TRUST_THRESHOLD: u32 = 20;
/// The default audit floor, in parts per million (5 %).
pub const DEFAULT_AUDIT_FLOOR_PPM: u32 = 50_000;

/// A module's name: the SHA-256 of the file as uploaded. On the wire 32 bytes; in JSON
/// 64 hex digits, as `sha256sum` prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleHash(pub [u8; 32]);

impl Serialize for ModuleHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for ModuleHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::from_hex(&text).ok_or_else(|| serde::de::Error::custom("a module name is 64 hex digits"))
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Self)
        }
    }
}

impl ModuleHash {
    /// The name as 64 lowercase hex digits, as `sha256sum` prints it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16);
            *byte = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(Self(bytes))
    }
}

impl fmt::Display for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleHash({})", &self.to_hex()[..12])
    }
}

/// A job that runs a user's kernel on every task's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WasmSpec {
    /// The module, uploaded to the swarm beforehand.
    pub module: ModuleHash,
    /// A name for listings ("monte-carlo pi"); empty for the module's short hash.
    #[serde(default)]
    pub name: String,
    /// What each task gets.
    pub input: WasmInput,
    /// Per-task bounds.
    #[serde(default)]
    pub limits: TaskLimits,
    /// How results are checked when the module exports no `verify`.
    #[serde(default)]
    pub verification: Verification,
}

/// The inputs of a wasm job's tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WasmInput {
    /// `count` tasks; task *i* gets *i* as 8 little-endian bytes followed by `args`.
    Range {
        /// Tasks in the job.
        count: u32,
        /// Bytes every task gets after its index.
        #[serde(with = "crate::byte_buf", default)]
        args: Vec<u8>,
    },
    /// One task per record; task *i* gets record *i* as it is. More records can be appended
    /// while the job runs (`POST /api/jobs/{id}/records`) until it is closed.
    Records {
        /// The first records (more may follow over HTTP).
        #[serde(default)]
        records: Vec<Record>,
        /// Whether more records may come: the job completes only once it is closed and
        /// every record has a verified output.
        open: bool,
    },
}

/// One input record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record(#[serde(with = "crate::byte_buf")] pub Vec<u8>);

/// Bounds every task of a wasm job runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLimits {
    /// A task still running after this long is stopped and reported failed; the lease is
    /// derived from it.
    pub time_limit_ms: u32,
    /// The largest output a task may return; a larger one fails the task. The job's
    /// result quota is counted from it.
    pub max_output_bytes: u32,
}

impl Default for TaskLimits {
    fn default() -> Self {
        Self { time_limit_ms: 60_000, max_output_bytes: 64 * 1024 }
    }
}

/// How a wasm job's results are checked. A module that exports `verify` is always checked
/// by it on the coordinator, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verification {
    /// Adaptive replication: results of untrusted devices are replicated on another device
    /// and accepted when two agree byte for byte; a trusted device's result is audited with
    /// probability max(1/its agreeing results, the floor).
    Adaptive {
        /// The least audit probability, in parts per million.
        audit_floor_ppm: u32,
    },
    /// Every result is accepted as it comes; the job says so.
    None,
}

impl Default for Verification {
    fn default() -> Self {
        Self::Adaptive { audit_floor_ppm: DEFAULT_AUDIT_FLOOR_PPM }
    }
}

/// How a device runs user kernels; trust is counted per device and runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WasmRuntime {
    /// wasmtime in a native worker.
    Native,
    /// A browser's engine, in a Web Worker.
    Browser,
}

/// How a wasm job's results were checked so far, for its progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationStats {
    /// The job's verification: `None` when results are accepted unchecked.
    pub checked: bool,
    /// Whether the module's own `verify` checks each result (no replicas).
    pub by_verify: bool,
    /// Results computed in all, replicas included.
    pub results: u32,
    /// Extra results run only to check another (replicas and tie-breaks).
    pub replicas: u32,
    /// Results confirmed by an agreeing replica.
    pub agreed: u32,
    /// Results that lost a comparison.
    pub disagreed: u32,
    /// Results waiting for a replica now.
    pub awaiting: u32,
}

impl ReplicationStats {
    /// Extra work spent on checking, in percent of the results accepted.
    pub fn overhead_percent(&self, verified: u32) -> f32 {
        if verified == 0 { 0.0 } else { self.replicas as f32 * 100.0 / verified as f32 }
    }
}

/// Packs `run`'s answer: the output's pointer in the low 32 bits, its length in the high.
pub fn pack_output(ptr: u32, len: u32) -> i64 {
    ((u64::from(len) << 32) | u64::from(ptr)) as i64
}

/// Unpacks `run`'s answer into (pointer, length).
pub fn unpack_output(packed: i64) -> (u32, u32) {
    let packed = packed as u64;
    (packed as u32, (packed >> 32) as u32)
}

/// The input task `index` of a range job gets: the index as 8 little-endian bytes, then
/// the shared arguments.
pub fn range_input(index: u64, args: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(8 + args.len());
    input.extend_from_slice(&index.to_le_bytes());
    input.extend_from_slice(args);
    input
}

/// The whole result of a wasm job as one file: the 8 bytes `OSTRRES1`, then for every
/// task in order its output's length as a little-endian u32 and the output. Python reads
/// it with `struct` alone (README.md shows how).
pub const RESULT_MAGIC: &[u8; 8] = b"OSTRRES1";

/// Appends one output to a result file being written.
pub fn append_result(file: &mut Vec<u8>, output: &[u8]) {
    file.extend_from_slice(&(output.len() as u32).to_le_bytes());
    file.extend_from_slice(output);
}

/// Reads a result file back into its outputs, in task order.
pub fn read_results(file: &[u8]) -> Option<Vec<&[u8]>> {
    let mut rest = file.strip_prefix(RESULT_MAGIC.as_slice())?;
    let mut outputs = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        if tail.len() < len {
            return None;
        }
        outputs.push(&tail[..len]);
        rest = &tail[len..];
    }
    Some(outputs)
}

/// Records as uploaded over HTTP (`POST /api/jobs/{id}/records`, `ostrich submit
/// --records`): each a little-endian u32 length and its bytes, back to back.
pub fn read_records(body: &[u8]) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or("a record's length is cut short")?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > MAX_INPUT_BYTES as usize {
            return Err(format!("record {} is {len} bytes, over the {MAX_INPUT_BYTES} byte limit", records.len()));
        }
        if tail.len() < len {
            return Err(format!("record {} is cut short: {} of {len} bytes", records.len(), tail.len()));
        }
        records.push(Record(tail[..len].to_vec()));
        rest = &tail[len..];
    }
    Ok(records)
}

/// Writes records in the upload format [`read_records`] reads.
pub fn write_records<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for record in records {
        append_result(&mut body, record);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_hex_names_read_back() {
        for (ptr, len) in [(0, 0), (1, 2), (u32::MAX, u32::MAX), (65_536, 17)] {
            assert_eq!(unpack_output(pack_output(ptr, len)), (ptr, len));
        }
        let hash = ModuleHash([0xab; 32]);
        assert_eq!(ModuleHash::from_hex(&hash.to_hex()), Some(hash));
        let json = serde_json::to_string(&hash).expect("json");
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<ModuleHash>(&json).expect("back"), hash);
        assert_eq!(ModuleHash::from_hex(&hash.to_hex().to_uppercase()), Some(hash));
        assert_eq!(ModuleHash::from_hex("abc"), None);
        assert_eq!(ModuleHash::from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn result_files_and_record_uploads_read_back() {
        let mut file = RESULT_MAGIC.to_vec();
        for output in [b"one".as_slice(), b"", b"three"] {
            append_result(&mut file, output);
        }
        assert_eq!(read_results(&file), Some(vec![b"one".as_slice(), b"", b"three"]));
        assert_eq!(read_results(&file[..file.len() - 1]), None);
        assert_eq!(read_results(b"NOTMAGIC"), None);

        let body = write_records([b"a".as_slice(), b"bc"]);
        assert_eq!(read_records(&body), Ok(vec![Record(b"a".to_vec()), Record(b"bc".to_vec())]));
        assert!(read_records(&body[..body.len() - 1]).is_err_and(|e| e.contains("cut short")));
        assert!(read_records(&[1, 0]).is_err());
        assert_eq!(range_input(3, b"xy"), [3, 0, 0, 0, 0, 0, 0, 0, b'x', b'y']);
    }
}
