//! The fuzzer's vocabulary: what can happen to the scheduler, decoded from bytes by
//! `arbitrary`, and how each op's small integers become protocol values (tiny jobs, honest
//! and wrong outputs).

use arbitrary::Arbitrary;
use ostrich_protocol::{
    JobSpec, MandelbrotSpec, MandelbrotView, MatmulSpec, MatrixSource, RunState, TaskKind, TaskOutput,
};

/// One thing that happens to the scheduler. Small integers pick among the sessions, swarms,
/// jobs and tasks seen so far (modulo their count; 255 picks one that does not exist).
#[derive(Debug, Clone, Arbitrary)]
pub enum Op {
    /// A device says hello and is admitted or refused.
    Join {
        /// Which of the few device ids.
        device: u8,
        /// Claimed cores (clamped by the core).
        cores: u8,
        /// Whether it claims a GPU.
        gpu: bool,
        /// How it proves where it belongs.
        admission: Join,
    },
    /// A device offers task slots (a total, not an increment).
    WorkRequest {
        /// The sending session.
        session: u8,
        /// Slots asked for.
        slots: u16,
    },
    /// A device reports a benchmark score, and weights are maybe refreshed.
    Benchmark {
        /// The sending session.
        session: u8,
        /// MFLOP/s claimed.
        score: u32,
        /// Whether the periodic weight refresh runs now.
        refresh: bool,
    },
    /// A master command from a session (which may not be a master).
    Command {
        /// The sending session.
        session: u8,
        /// The command.
        command: Command,
    },
    /// A job request of the HTTP API on a swarm, as authenticated by its master key.
    Http {
        /// The swarm.
        swarm: u8,
        /// The request.
        request: Http,
    },
    /// A result for a task assigned earlier (or an unknown one).
    Result {
        /// Which remembered task.
        task: u8,
        /// Who sends it.
        from: Sender,
        /// `None`: the kernel's output; else this wrong one.
        lie: Option<Output>,
        /// The verification probe's seed.
        seed: u8,
    },
    /// Several results in one frame: for the remembered tasks `first..=first + count % 8`
    /// (mostly of one `Assign`, so of one holder), from the sender chosen for the first.
    Results {
        /// The first remembered task.
        first: u8,
        /// One less than the number of results, modulo 8.
        count: u8,
        /// Who sends the frame.
        from: Sender,
        /// `None`: every output is the kernel's; else the last result claims this one.
        lie: Option<Output>,
    },
    /// A device reports it could not compute a task.
    Failed {
        /// Which remembered task.
        task: u8,
        /// Who sends it.
        from: Sender,
    },
    /// A session ends.
    Disconnect {
        /// The session.
        session: u8,
    },
    /// The clock steps forward `steps` ticks and expired leases are dispatched again.
    Tick {
        /// Steps of 50 ms.
        steps: u8,
    },
    /// The periodic work of the actor: progress flush, metrics and every swarm's snapshots.
    Flush,
    /// A device reports its kernel paths: a GPU or none, used for matrix products or not
    /// (a GPU given up mid-session leaves it holding more than a CPU-only limit).
    Kernels {
        /// The sending session.
        session: u8,
        /// Whether it has an adapter.
        gpu: bool,
        /// Whether matrix products run on it.
        used: bool,
    },
    /// The hourly expiry of abandoned swarms, with a time-to-live of zero: every swarm with no
    /// device online and no running job goes, with its keys, credentials and jobs.
    Expire,
    /// The coordinator shuts down. Only as the last op of a sequence (elsewhere it is a
    /// [`Op::Flush`]), so that random sequences are not cut short.
    Drain,
}

/// How a joining device proves where it belongs.
#[derive(Debug, Clone, Arbitrary)]
pub enum Join {
    /// No key: it creates a swarm.
    NewSwarm,
    /// The master key of a swarm seen so far.
    MasterKey(u8),
    /// A key nobody was given.
    WrongKey,
    /// An invite redeemed for a swarm seen so far.
    Invited(u8),
    /// An invite redeemed for a swarm that does not exist.
    GoneSwarm,
    /// A resume credential handed out so far (maybe to another device).
    Resume(u8),
    /// A credential nobody was given.
    WrongCredential,
}

/// A master command.
#[derive(Debug, Clone, Arbitrary)]
pub enum Command {
    /// Set the throttle (over 100 is refused).
    Throttle(u8),
    /// Set the run state (`Idle` is refused).
    RunState(State),
    /// Enable or disable one of the few device ids.
    Enable {
        /// Which device id.
        device: u8,
        /// Enabled or disabled.
        enabled: bool,
    },
    /// Submit a job.
    Submit(Spec),
    /// Cancel a job seen so far.
    Cancel(u8),
    /// Delete a job seen so far.
    Delete(u8),
    /// Ask for a job's verified preview tiles again (a matmul job is refused).
    Preview(u8),
    /// Ask for an invite (the token authority's business: refused here).
    Invite,
    /// Forget one of the few device ids (refused while it is online).
    Forget {
        /// Which device id.
        device: u8,
    },
}

/// A run state.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum State {
    /// Refused when asked for.
    Idle,
    /// Dispatching.
    Running,
    /// Nothing new dispatched.
    Paused,
    /// Leases cancelled, nothing dispatched.
    Stopped,
}

/// A job request of the HTTP API.
#[derive(Debug, Clone, Arbitrary)]
pub enum Http {
    /// Submit a job.
    Submit(Spec),
    /// Cancel a job seen so far.
    Cancel(u8),
    /// Delete a job seen so far.
    Delete(u8),
    /// One job's progress.
    Status(u8),
    /// A job's result file.
    Result(u8),
    /// Records appended to a job seen so far, closing it or not.
    Append {
        /// The job.
        job: u8,
        /// Records to append.
        count: u8,
        /// Close the job after them.
        close: bool,
    },
    /// Every job's progress.
    List,
}

/// A job to submit: tiny and valid, or invalid in one of several ways.
#[derive(Debug, Clone, Arbitrary)]
pub enum Spec {
    /// A seeded matmul, edges up to 12 (k up to 8), tiles of 3, 4 or 8: at most 16 tiles.
    Matmul {
        /// Rows of A.
        m: u8,
        /// Shared dimension.
        k: u8,
        /// Columns of B.
        n: u8,
        /// Tile edge choice.
        tile: u8,
        /// Operand seed.
        seed: u8,
    },
    /// A Mandelbrot image up to 12×12 pixels, tiles of 3, 4 or 8, up to 64 iterations.
    Mandelbrot {
        /// Width in pixels.
        width: u8,
        /// Height in pixels.
        height: u8,
        /// Tile edge choice.
        tile: u8,
        /// Iteration cap.
        max_iter: u8,
    },
    /// A user kernel on up to 8 records (more may be appended while it is open), checked
    /// by adaptive replication or not at all; its kernel is "reverse the input".
    Wasm {
        /// Records at submission.
        records: u8,
        /// Whether more may be appended.
        open: bool,
        /// Adaptive replication (true) or none.
        checked: bool,
        /// The audit floor, in percent.
        floor: u8,
    },
    /// A spec the core must refuse.
    Invalid(u8),
}

/// Who sends a result or a failure report.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Sender {
    /// The session the task was assigned to (which may have been replaced or closed since).
    Holder,
    /// Any session seen so far.
    Session(u8),
}

/// What a lying device claims instead of the kernel's output.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Output {
    /// The kernel's output with one value changed.
    Perturbed(u8),
    /// The kernel's output cut or padded to another length.
    Resized(u8),
    /// An output of the other kind, of the right length.
    WrongKind,
    /// The kernel's output with a NaN, or a count over the iteration cap.
    NonFinite,
    /// All zeros, of the right length.
    Zeros,
}

/// The ops an input may start with (its first byte decides), so that a short input
/// already works on a busy swarm: a master (session 1), a worker with 1 core (session 2)
/// and one with 2 cores and a GPU (session 3) offering their slots, and a matmul job and a
/// Mandelbrot job of 4 tiles each.
pub fn setup() -> Vec<Op> {
    let submit = |spec| Op::Command { session: 0, command: Command::Submit(spec) };
    vec![
        Op::Join { device: 0, cores: 1, gpu: false, admission: Join::NewSwarm },
        Op::Join { device: 1, cores: 1, gpu: false, admission: Join::Invited(0) },
        Op::Join { device: 2, cores: 2, gpu: true, admission: Join::Invited(0) },
        Op::WorkRequest { session: 1, slots: 4 },
        Op::WorkRequest { session: 2, slots: 16 },
        submit(Spec::Matmul { m: 7, k: 3, n: 7, tile: 1, seed: 1 }),
        submit(Spec::Mandelbrot { width: 7, height: 5, tile: 1, max_iter: 20 }),
    ]
}

/// The output a device claims for a task: the kernel's, or `lie` made of it.
pub(super) fn claim(kind: &TaskKind, lie: Option<Output>) -> TaskOutput {
    let honest = match kind {
        // The fuzzing module's kernel: the input reversed (the core never runs it).
        TaskKind::Wasm { input, .. } => TaskOutput::Wasm { output: input.iter().rev().copied().collect() },
        _ => ostrich_kernels::run_task(kind)
            .unwrap_or_else(|e| panic!("the core assigned a task its kernel refuses: {e}")),
    };
    let Some(lie) = lie else { return honest };
    match (honest, lie) {
        (TaskOutput::MatmulTile { mut c }, Output::Perturbed(at)) => {
            let at = usize::from(at) % c.len().max(1);
            if let Some(value) = c.get_mut(at) {
                *value += 1.0;
            }
            TaskOutput::MatmulTile { c }
        }
        (TaskOutput::MandelbrotTile { mut iterations }, Output::Perturbed(at)) => {
            let at = usize::from(at) % iterations.len().max(1);
            if let Some(count) = iterations.get_mut(at) {
                *count = if *count == 0 { 1 } else { *count - 1 };
            }
            TaskOutput::MandelbrotTile { iterations }
        }
        (TaskOutput::MatmulTile { mut c }, Output::Resized(len)) => {
            c.resize(usize::from(len % 40), 0.5);
            TaskOutput::MatmulTile { c }
        }
        (TaskOutput::MandelbrotTile { mut iterations }, Output::Resized(len)) => {
            iterations.resize(usize::from(len % 40), 1);
            TaskOutput::MandelbrotTile { iterations }
        }
        (TaskOutput::MatmulTile { c }, Output::WrongKind) => {
            TaskOutput::MandelbrotTile { iterations: vec![0; c.len()] }
        }
        (TaskOutput::MandelbrotTile { iterations }, Output::WrongKind) => {
            TaskOutput::MatmulTile { c: vec![0.0; iterations.len()] }
        }
        (TaskOutput::Wasm { mut output }, Output::Perturbed(at)) => {
            let at = usize::from(at) % output.len().max(1);
            match output.get_mut(at) {
                Some(byte) => *byte ^= 1,
                None => output.push(1),
            }
            TaskOutput::Wasm { output }
        }
        (TaskOutput::Wasm { mut output }, Output::Resized(len)) => {
            output.resize(usize::from(len % 40), 7);
            TaskOutput::Wasm { output }
        }
        (TaskOutput::Wasm { output }, Output::WrongKind) => TaskOutput::MatmulTile { c: vec![0.0; output.len()] },
        (TaskOutput::Wasm { output }, Output::NonFinite | Output::Zeros) => {
            TaskOutput::Wasm { output: vec![0; output.len()] }
        }
        (TaskOutput::MatmulTile { mut c }, Output::NonFinite) => {
            if let Some(value) = c.first_mut() {
                *value = f32::NAN;
            }
            TaskOutput::MatmulTile { c }
        }
        (TaskOutput::MandelbrotTile { mut iterations }, Output::NonFinite) => {
            if let Some(count) = iterations.first_mut() {
                *count = u32::MAX;
            }
            TaskOutput::MandelbrotTile { iterations }
        }
        (TaskOutput::MatmulTile { c }, Output::Zeros) => TaskOutput::MatmulTile { c: vec![0.0; c.len()] },
        (TaskOutput::MandelbrotTile { iterations }, Output::Zeros) => {
            TaskOutput::MandelbrotTile { iterations: vec![0; iterations.len()] }
        }
    }
}

/// The module every fuzzed swarm holds (its bytes are never run).
pub(super) const FUZZ_MODULE: ostrich_protocol::ModuleHash = ostrich_protocol::ModuleHash([0xf0; 32]);

/// The job a [`Spec`] stands for.
pub(super) fn job_spec(spec: &Spec) -> JobSpec {
    let tile = |choice: u8| [3, 4, 8][usize::from(choice % 3)];
    match *spec {
        Spec::Matmul { m, k, n, tile: t, seed } => JobSpec::Matmul(MatmulSpec {
            m: 1 + u32::from(m % 12),
            k: 1 + u32::from(k % 8),
            n: 1 + u32::from(n % 12),
            tile: tile(t),
            source: MatrixSource::Seeded { seed: seed.into() },
        }),
        Spec::Mandelbrot { width, height, tile: t, max_iter } => JobSpec::Mandelbrot(MandelbrotSpec {
            view: view(1 + u32::from(width % 12), 1 + u32::from(height % 12), 1 + u32::from(max_iter % 64)),
            tile: tile(t),
        }),
        Spec::Wasm { records, open, checked, floor } => JobSpec::Wasm(ostrich_protocol::WasmSpec {
            module: FUZZ_MODULE,
            name: "fuzz".into(),
            input: ostrich_protocol::WasmInput::Records {
                records: (0..records % 9).map(|i| ostrich_protocol::Record(vec![i, records])).collect(),
                open,
            },
            limits: ostrich_protocol::TaskLimits { time_limit_ms: 1000, max_output_bytes: 16 },
            verification: if checked {
                ostrich_protocol::Verification::Adaptive { audit_floor_ppm: u32::from(floor % 101) * 10_000 }
            } else {
                ostrich_protocol::Verification::None
            },
        }),
        Spec::Invalid(how) => match how % 6 {
            0 => JobSpec::Matmul(MatmulSpec { m: 4, k: 4, n: 4, tile: 0, source: MatrixSource::Seeded { seed: 1 } }),
            1 => JobSpec::Matmul(MatmulSpec { m: 0, k: 4, n: 4, tile: 4, source: MatrixSource::Seeded { seed: 1 } }),
            2 => JobSpec::Matmul(MatmulSpec { m: 9000, k: 1, n: 1, tile: 4, source: MatrixSource::Seeded { seed: 1 } }),
            3 => {
                let source = MatrixSource::Data { a: vec![1.0; 3], b: vec![1.0; 4] };
                JobSpec::Matmul(MatmulSpec { m: 2, k: 2, n: 2, tile: 2, source })
            }
            4 => {
                let source = MatrixSource::Data { a: vec![f32::NAN; 4], b: vec![1.0; 4] };
                JobSpec::Matmul(MatmulSpec { m: 2, k: 2, n: 2, tile: 2, source })
            }
            _ => JobSpec::Mandelbrot(MandelbrotSpec {
                view: MandelbrotView { zoom: f64::NAN, ..view(4, 4, 8) },
                tile: 2,
            }),
        },
    }
}

fn view(width: u32, height: u32, max_iter: u32) -> MandelbrotView {
    MandelbrotView { width, height, center_re: -0.5, center_im: 0.0, zoom: 1.0, max_iter }
}

pub(super) fn run_state(state: State) -> RunState {
    match state {
        State::Idle => RunState::Idle,
        State::Running => RunState::Running,
        State::Paused => RunState::Paused,
        State::Stopped => RunState::Stopped,
    }
}
