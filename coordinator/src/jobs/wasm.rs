//! A wasm job as the coordinator holds it: its module, its inputs (an index range or
//! uploaded records, which may grow while the job is open), the verified output of each
//! task, and the results still waiting for a replica to agree with them.
//!
//! The policy (who is trusted, when to audit) is the scheduler's
//! (`scheduler/replication.rs`); this module only keeps the outputs and compares them.

use std::{collections::HashMap, sync::Arc};

use ostrich_protocol::{
    DeviceId, MAX_INPUT_BYTES, MAX_OUTPUT_BYTES, MAX_TIME_LIMIT_MS, MAX_WASM_TASKS, RESULT_MAGIC, Record,
    ReplicationStats, TaskKind, TaskLimits, Verification, WasmInput, WasmRuntime, WasmSpec, append_result, range_input,
};

use super::{JobError, invalid};
use crate::modules::StoredModule;

/// The most results of one task that may disagree before its job fails: two honest
/// devices agree, so this many distinct answers mean the kernel is not deterministic.
pub const MAX_CANDIDATES: usize = 5;

/// What each task gets.
enum Inputs {
    Range { count: u32, args: Vec<u8> },
    Records { records: Vec<Vec<u8>>, open: bool },
}

/// A result waiting for another device's to agree with it.
pub struct Candidate {
    /// Who computed it.
    pub device: DeviceId,
    /// On which runtime.
    pub runtime: WasmRuntime,
    /// What it computed.
    pub output: Vec<u8>,
}

/// What the coordinator keeps for each task of a wasm job besides its input and output,
/// counted in the swarm's storage quota so that a job of many tiny tasks is bounded too: the
/// output's slot, the record's, the vouchers of its accepted result and their map entry.
pub const TASK_BOOKKEEPING_BYTES: u64 = 96;

/// The devices an accepted result rests on: a trusted device alone, or the device whose
/// output was accepted and the one that agreed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vouchers(pub DeviceId, pub Option<DeviceId>);

impl Vouchers {
    /// Whether `device` is one of them.
    pub fn include(&self, device: DeviceId) -> bool {
        self.0 == device || self.1 == Some(device)
    }
}

/// A wasm job's inputs, outputs and replication state.
pub struct WasmWork {
    pub(super) name: String,
    module: Arc<StoredModule>,
    inputs: Inputs,
    limits: TaskLimits,
    verification: Verification,
    outputs: Vec<Option<Vec<u8>>>,
    /// Results per task index that wait for agreement.
    pub candidates: HashMap<u32, Vec<Candidate>>,
    /// The devices each accepted result rests on, by task index: one trusted device's word
    /// (not audited) or two devices that agreed. If one of them is later quarantined the
    /// task is computed again, so two liars that gave the same wrong output (colluding, or
    /// wrong the same way) leave nothing behind once either is caught.
    pub vouched: HashMap<u32, Vouchers>,
    /// How results were checked so far.
    pub stats: ReplicationStats,
}

impl WasmWork {
    /// Validates a spec against its module.
    pub fn new(spec: WasmSpec, module: Arc<StoredModule>) -> Result<Self, JobError> {
        let limits = spec.limits;
        if !(1..=MAX_TIME_LIMIT_MS).contains(&limits.time_limit_ms) {
            return Err(invalid(format!("time_limit_ms must be in 1..={MAX_TIME_LIMIT_MS}")));
        }
        if !(1..=MAX_OUTPUT_BYTES).contains(&limits.max_output_bytes) {
            return Err(invalid(format!("max_output_bytes must be in 1..={MAX_OUTPUT_BYTES}")));
        }
        if let Verification::Adaptive { audit_floor_ppm } = spec.verification
            && audit_floor_ppm > 1_000_000
        {
            return Err(invalid("audit_floor_ppm must be at most 1000000 (every result audited)"));
        }
        let inputs = match spec.input {
            WasmInput::Range { count, args } => {
                if !(1..=MAX_WASM_TASKS).contains(&count) {
                    return Err(invalid(format!("a range job has 1..={MAX_WASM_TASKS} tasks, not {count}")));
                }
                if args.len() + 8 > MAX_INPUT_BYTES as usize {
                    return Err(invalid(format!("args are {} bytes, over {MAX_INPUT_BYTES}", args.len())));
                }
                Inputs::Range { count, args }
            }
            WasmInput::Records { records, open } => {
                if records.is_empty() && !open {
                    return Err(invalid("a records job closed with no records has nothing to compute"));
                }
                let mut inputs = Inputs::Records { records: Vec::new(), open };
                append(&mut inputs, records)?;
                inputs
            }
        };
        let mut work = Self {
            name: spec.name.chars().filter(|c| !c.is_control()).take(64).collect(),
            module,
            inputs,
            limits,
            verification: spec.verification,
            outputs: Vec::new(),
            candidates: HashMap::new(),
            vouched: HashMap::new(),
            stats: ReplicationStats::default(),
        };
        work.outputs.resize(work.task_count() as usize, None);
        work.stats.checked = work.checks();
        work.stats.by_verify = work.module.verifier.is_some();
        Ok(work)
    }

    /// A label for listings.
    pub fn label(&self) -> String {
        let name = if self.name.is_empty() { self.module.hash.to_hex()[..12].to_string() } else { self.name.clone() };
        format!("wasm {name}")
    }

    /// Tasks so far (a records job grows while open).
    pub fn task_count(&self) -> u32 {
        match &self.inputs {
            Inputs::Range { count, .. } => *count,
            Inputs::Records { records, .. } => records.len() as u32,
        }
    }

    /// Whether more records may come.
    pub fn is_open(&self) -> bool {
        matches!(self.inputs, Inputs::Records { open: true, .. })
    }

    /// Whether results are checked at all (by `verify` or by replication).
    pub fn checks(&self) -> bool {
        self.module.verifier.is_some() || self.verification != Verification::None
    }

    /// Whether results are checked by replication (no `verify`, and not unchecked).
    pub fn replicates(&self) -> bool {
        self.module.verifier.is_none() && self.verification != Verification::None
    }

    /// The job's audit floor, in parts per million.
    pub fn audit_floor_ppm(&self) -> u32 {
        match self.verification {
            Verification::Adaptive { audit_floor_ppm } => audit_floor_ppm,
            Verification::None => 0,
        }
    }

    /// The bytes the job holds and may hold: its inputs, and for every task its largest
    /// output and [`TASK_BOOKKEEPING_BYTES`].
    pub fn stored_bytes(&self) -> u64 {
        let inputs = match &self.inputs {
            Inputs::Range { args, .. } => args.len() as u64,
            Inputs::Records { records, .. } => records.iter().map(|r| r.len() as u64).sum(),
        };
        inputs + u64::from(self.task_count()) * self.per_task_bytes()
    }

    /// The bytes appending `records` would add to [`Self::stored_bytes`].
    pub fn bytes_to_append(&self, records: &[Record]) -> u64 {
        records.iter().map(|r| r.0.len() as u64 + self.per_task_bytes()).sum()
    }

    fn per_task_bytes(&self) -> u64 {
        u64::from(self.limits.max_output_bytes) + TASK_BOOKKEEPING_BYTES
    }

    /// Appends records to an open job; answers the index of the first new task.
    pub fn append(&mut self, records: Vec<Record>) -> Result<u32, JobError> {
        self.check_append(&records)?;
        let first = self.task_count();
        append(&mut self.inputs, records)?;
        self.outputs.resize(self.task_count() as usize, None);
        Ok(first)
    }

    /// Whether `records` may be appended: the job is open, no record is over the input
    /// limit and the job stays within the task limit.
    pub fn check_append(&self, records: &[Record]) -> Result<(), JobError> {
        let Inputs::Records { records: held, open } = &self.inputs else {
            return Err(invalid("only a records job takes records"));
        };
        if !open {
            return Err(invalid("the job is closed: it takes no more records"));
        }
        check_records(held.len(), records)
    }

    /// Closes a records job: no more records.
    pub fn close(&mut self) {
        if let Inputs::Records { open, .. } = &mut self.inputs {
            *open = false;
        }
    }

    /// The input of task `index`.
    pub fn input(&self, index: u32) -> Option<Vec<u8>> {
        match &self.inputs {
            Inputs::Range { count, args } => (index < *count).then(|| range_input(u64::from(index), args)),
            Inputs::Records { records, .. } => records.get(index as usize).cloned(),
        }
    }

    /// Task `index` as sent to a device.
    pub fn task_kind(&self, index: u32) -> Option<TaskKind> {
        Some(TaskKind::Wasm {
            module: self.module.hash,
            input: self.input(index)?,
            time_limit_ms: self.limits.time_limit_ms,
            max_output_bytes: self.limits.max_output_bytes,
        })
    }

    /// The lease of a task: the coordinator's lease plus twice the time limit (a task may
    /// wait behind one other on its device before it runs).
    pub fn lease_ms(&self, base_ms: u64) -> u64 {
        base_ms + 2 * u64::from(self.limits.time_limit_ms)
    }

    /// Checks an output's size and, when the module exports `verify`, runs it.
    pub fn verify(&self, index: u32, output: &[u8]) -> Result<(), String> {
        if output.len() > self.limits.max_output_bytes as usize {
            return Err(format!(
                "the output is {} bytes, over the job's {}",
                output.len(),
                self.limits.max_output_bytes
            ));
        }
        match &self.module.verifier {
            Some(verifier) => verifier.check(&self.input(index).ok_or("no such task")?, output),
            None => Ok(()),
        }
    }

    /// Stores a verified output.
    pub fn accept(&mut self, index: u32, output: Vec<u8>) -> bool {
        match self.outputs.get_mut(index as usize) {
            Some(slot @ None) => {
                *slot = Some(output);
                self.candidates.remove(&index);
                true
            }
            _ => false,
        }
    }

    /// Forgets the output of task `index` (it was accepted on the word of a device since
    /// found lying); false when it had none.
    pub fn revoke(&mut self, index: u32) -> bool {
        self.vouched.remove(&index);
        self.outputs.get_mut(index as usize).is_some_and(|slot| slot.take().is_some())
    }

    /// The verified output of task `index`.
    pub fn output(&self, index: u32) -> Option<&[u8]> {
        self.outputs.get(index as usize)?.as_deref()
    }

    /// The whole result file (see `ostrich_protocol::RESULT_MAGIC`), once every task has
    /// an output.
    pub fn result_file(&self) -> Option<Vec<u8>> {
        let total: usize = self.outputs.iter().map(|o| o.as_ref().map_or(0, |o| o.len() + 4)).sum();
        let mut file = Vec::with_capacity(RESULT_MAGIC.len() + total);
        file.extend_from_slice(RESULT_MAGIC);
        for output in &self.outputs {
            append_result(&mut file, output.as_deref()?);
        }
        Some(file)
    }

    /// The module's name.
    pub fn module(&self) -> ostrich_protocol::ModuleHash {
        self.module.hash
    }
}

fn append(inputs: &mut Inputs, new: Vec<Record>) -> Result<(), JobError> {
    let Inputs::Records { records, .. } = inputs else {
        return Err(invalid("only a records job takes records"));
    };
    check_records(records.len(), &new)?;
    records.extend(new.into_iter().map(|r| r.0));
    Ok(())
}

/// The limits on records: `held` already in the job, `new` to come.
fn check_records(held: usize, new: &[Record]) -> Result<(), JobError> {
    if held + new.len() > MAX_WASM_TASKS as usize {
        return Err(invalid(format!("a job has at most {MAX_WASM_TASKS} records")));
    }
    if let Some((i, record)) = new.iter().enumerate().find(|(_, r)| r.0.len() > MAX_INPUT_BYTES as usize) {
        return Err(invalid(format!("record {i} is {} bytes, over {MAX_INPUT_BYTES}", record.0.len())));
    }
    Ok(())
}
