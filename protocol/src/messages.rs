//! The two message enums and the records they carry.

use serde::{Deserialize, Serialize};

use crate::{
    DeviceId, JobId, JobProgress, JobSpec, KernelReport, ModuleHash, PowerPolicy, Rect, SwarmId, Task, TaskId,
    TaskOutput, WasmRuntime,
};

/// Sent by a device (browser worker, native worker or master dashboard) to the coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToCoordinator {
    /// The first frame of every session: who the device is and how it joins.
    Hello {
        /// Stable across the device's sessions; a new session with the same id replaces the old.
        device_id: DeviceId,
        /// Display name shown in the master's device table.
        name: String,
        /// What the device can do; the coordinator clamps every figure to sane bounds.
        capabilities: Capabilities,
        /// How the device proves where it belongs.
        credential: JoinCredential,
    },
    /// Proof of life; a device sends one every [`HEARTBEAT_INTERVAL_MS`].
    Heartbeat,
    /// Asks for work. The coordinator keeps at most `slots` of the device's tasks in flight
    /// and refills a slot as each result or failure comes back; a new request replaces the
    /// old figure (0 asks for nothing more).
    WorkRequest {
        /// Task slots the device offers: its thread count under the current throttle.
        slots: u32,
    },
    /// The output of a leased task.
    TaskResult {
        /// The task computed.
        task_id: TaskId,
        /// The output, verified by the coordinator before it is accepted.
        output: TaskOutput,
    },
    /// The device could not compute a leased task; it goes back to the queue.
    TaskFailed {
        /// The task that failed.
        task_id: TaskId,
        /// Why, for the log.
        reason: String,
    },
    /// A fresh benchmark result; it feeds the device's dispatch weight.
    Benchmark {
        /// Millions of f32 operations per second in the benchmark kernel.
        ops_score: u32,
    },
    /// A command only the swarm's master may give.
    Command(MasterCommand),
    /// Several results in one frame, from a device whose tasks finished together. Each is
    /// checked exactly like a [`ToCoordinator::TaskResult`]; the slots they free are refilled
    /// in one `Assign`.
    TaskResults {
        /// The tasks computed and their outputs.
        results: Vec<(TaskId, TaskOutput)>,
    },
    /// The device's kernel paths, their figures and which one runs matrix products; sent
    /// after its join benchmark and whenever the choice or its thread count changes. The
    /// coordinator clamps the figures and counts the device's GPU only while it is used.
    Kernels(KernelReport),
    /// Asks for a module the device was given a task of and does not hold; answered by
    /// [`ToDevice::Module`]. A device asks once per module: the hash names the bytes, so
    /// they never change.
    FetchModule {
        /// The module.
        module: ModuleHash,
    },
}

/// How a device joins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JoinCredential {
    /// No invite: create a new swarm and become its master, or, with the master key the
    /// coordinator handed out earlier, resume mastership of that swarm.
    Master {
        /// The secret master key of an existing swarm, if the device holds one.
        key: Option<String>,
    },
    /// Join a swarm as a worker with an invite code.
    Invite {
        /// The 8-character code, as typed or taken from an invite link.
        token: String,
    },
    /// Rejoin the swarm a worker joined earlier, after its invite may have expired.
    Resume {
        /// The resume credential handed out in the worker's welcome.
        credential: String,
    },
}

/// What a device reports about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Logical CPU cores.
    pub logical_cores: u32,
    /// Memory in MiB, if the platform reveals it.
    pub memory_mb: u32,
    /// The GPU adapter, if the device computes on one.
    pub gpu: Option<GpuInfo>,
    /// Benchmark score in millions of f32 operations per second; 0 until measured.
    pub ops_score: u32,
    /// Platform description ("Linux x86_64 native, AVX-512", "Android Chrome").
    pub platform: String,
    /// How it runs user WebAssembly kernels; trust in its results is counted per runtime.
    pub runtime: WasmRuntime,
}

/// A GPU adapter as the device describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Vendor name.
    pub vendor: String,
    /// Adapter or architecture description.
    pub description: String,
    /// True for software adapters such as SwiftShader.
    pub fallback: bool,
}

/// The role a session holds in its swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Created the swarm and holds its master key; may give commands.
    Master,
    /// Joined by invite or resume credential; computes tasks.
    Worker,
}

/// Whether a swarm dispatches work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunState {
    /// Nothing to do: no unfinished job. Entered on its own when the last job ends.
    Idle,
    /// Tasks are dispatched. Entered by the master, or on its own when a job is submitted
    /// to an idle swarm.
    Running,
    /// Nothing new is dispatched; tasks in flight finish and are accepted.
    Paused,
    /// Nothing is dispatched; tasks in flight are cancelled on the devices and requeued.
    Stopped,
}

impl RunState {
    /// Whether a device offers task slots in this state: while the swarm runs or idles
    /// (so a job submitted to an idle swarm starts at once), and only when enabled.
    pub fn wants_work(self, enabled: bool) -> bool {
        enabled && matches!(self, Self::Running | Self::Idle)
    }
}

/// Commands only the master of a swarm may give; every one is checked against the sender's
/// swarm and role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MasterCommand {
    /// Sets the swarm-wide throttle, 0-100 %; other values are refused.
    SetThrottle {
        /// Percent of each device's capacity to use.
        percent: u8,
    },
    /// Sets the run state. `Idle` is refused: the coordinator enters it on its own.
    SetRunState {
        /// The requested state.
        state: RunState,
    },
    /// Enables or disables one device of the master's swarm.
    SetDeviceEnabled {
        /// The device.
        device_id: DeviceId,
        /// False: the device gets no tasks and its leases go back to the queue.
        enabled: bool,
    },
    /// Mints an invite code.
    CreateInvite,
    /// Revokes an invite code before it expires.
    RevokeInvite {
        /// The code to revoke.
        token: String,
    },
    /// Submits a job.
    SubmitJob {
        /// What to compute.
        spec: JobSpec,
    },
    /// Cancels a job; its tasks in flight are cancelled on the devices. The job and what it
    /// verified so far stay listed until deleted.
    CancelJob {
        /// The job.
        job_id: JobId,
    },
    /// Deletes a job and its result, cancelling it first if it is still running.
    DeleteJob {
        /// The job.
        job_id: JobId,
    },
    /// Sets the swarm's power policy; a level over 100 % is refused. Devices that set
    /// their own policy keep it.
    SetPowerPolicy {
        /// The policy.
        policy: PowerPolicy,
    },
    /// Forgets an offline device: its row, its figures and its resume credential go, so it
    /// needs a new invite to come back. An online device is refused (disable it instead).
    ForgetDevice {
        /// The device.
        device_id: DeviceId,
    },
    /// Sends every verified tile of a Mandelbrot job again, as [`ToDevice::MandelbrotTile`]s,
    /// so a dashboard that reloaded can draw its preview; a matmul job is refused.
    SendPreview {
        /// The job.
        job_id: JobId,
    },
}

/// Sent by the coordinator to a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToDevice {
    /// The hello was accepted.
    Welcome(Welcome),
    /// The hello was refused; the coordinator closes the session after this frame.
    Rejected {
        /// Machine-readable cause.
        code: RejectCode,
        /// Human-readable detail.
        message: String,
    },
    /// New tasks under lease.
    Assign {
        /// The tasks, in dispatch order.
        tasks: Vec<Task>,
    },
    /// Stop computing these tasks; their results would be ignored.
    Cancel {
        /// The tasks to drop.
        task_ids: Vec<TaskId>,
    },
    /// The swarm's throttle changed.
    Throttle {
        /// Percent of capacity to use.
        percent: u8,
    },
    /// The swarm's run state changed.
    RunState {
        /// The new state.
        state: RunState,
    },
    /// The swarm's power policy changed.
    PowerPolicy {
        /// The new policy.
        policy: PowerPolicy,
    },
    /// The master enabled or disabled this device.
    DeviceEnabled {
        /// Whether the device gets tasks.
        enabled: bool,
    },
    /// The periodic state of the swarm; the master's carries the device table.
    Snapshot(Snapshot),
    /// A job's progress changed (sent to the master).
    JobProgress(JobProgress),
    /// A verified Mandelbrot tile, so the master's preview fills in as results arrive.
    MandelbrotTile {
        /// The job.
        job_id: JobId,
        /// Where the tile sits in the image.
        rect: Rect,
        /// Iteration counts, w×h row-major.
        iterations: Vec<u32>,
    },
    /// An invite was minted (sent to the master).
    InviteCreated(Invite),
    /// A master command was carried out.
    CommandOk {
        /// What was done, for the log.
        message: String,
        /// The job a `SubmitJob` created.
        job_id: Option<JobId>,
    },
    /// A command was refused; the session carries on.
    CommandError {
        /// Machine-readable cause.
        code: CommandErrorCode,
        /// Human-readable detail.
        message: String,
    },
    /// A line for the master's terminal.
    Log(LogLine),
    /// A module the device asked for, or why it cannot have it (the module was deleted with
    /// its last job): the tasks waiting for it then fail.
    Module {
        /// The module.
        module: ModuleHash,
        /// Its bytes as stored, or the reason there are none.
        bytes: Result<ModuleBytes, String>,
    },
}

/// A module's bytes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleBytes(#[serde(with = "crate::byte_buf")] pub Vec<u8>);

/// What a device learns when it is admitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The swarm joined.
    pub swarm_id: SwarmId,
    /// The device's own id, echoed.
    pub device_id: DeviceId,
    /// The role granted.
    pub role: Role,
    /// The secret master key; only in a master's welcome. The client stores it.
    pub master_key: Option<String>,
    /// The credential to rejoin this swarm later; only in a worker's welcome.
    pub resume_credential: Option<String>,
    /// The swarm's throttle now.
    pub throttle: u8,
    /// The swarm's run state now.
    pub run_state: RunState,
    /// The swarm's power policy now.
    pub power_policy: PowerPolicy,
    /// Whether the master has this device enabled.
    pub enabled: bool,
    /// How often to heartbeat.
    pub heartbeat_interval_ms: u32,
    /// SHA-256 of the coordinator's TLS certificate (colon-separated hex) when it serves
    /// HTTPS, so the dashboard can show what a phone should accept.
    pub tls_fingerprint: Option<String>,
    /// The swarm's last log lines, oldest first, so a master's terminal survives a reload;
    /// empty in a worker's welcome.
    pub log: Vec<LogLine>,
}

/// Why a hello was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectCode {
    /// The invite code does not exist or was revoked.
    InvalidCode,
    /// The invite code existed but has expired.
    ExpiredCode,
    /// Too many failed joins from this address; try again later.
    RateLimited,
    /// The client speaks another protocol version.
    VersionMismatch,
    /// The master key or resume credential is not valid.
    InvalidCredential,
    /// Another online device of the swarm uses this device id.
    DeviceIdInUse,
    /// The first frame was not a hello.
    HelloExpected,
    /// The swarm has as many devices online as it may.
    SwarmFull,
}

/// Why a master command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandErrorCode {
    /// The sender is not the master of the swarm.
    NotMaster,
    /// A value is out of range (throttle above 100, run state Idle, bad job shape).
    InvalidValue,
    /// The device, job or invite is not in the sender's swarm.
    NotFound,
    /// Too many invites minted in the last minute.
    RateLimited,
    /// The swarm is at one of its quotas (unfinished jobs, unexpired invites).
    QuotaExceeded,
    /// What was asked for is bigger than the swarm's quota allows (stored results).
    TooLarge,
}

/// An invite code and the link that carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invite {
    /// The code, 8 characters of Crockford base32.
    pub token: String,
    /// A full join link on the coordinator's public address.
    pub url: String,
    /// Seconds until the code expires.
    pub expires_in_s: u32,
    /// The join link as a QR code, an SVG document.
    pub qr_svg: String,
}

/// The periodic swarm state; its size for a worker does not grow with the swarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Snapshot {
    /// The master's view: totals, the device table and the jobs.
    Master {
        /// Swarm-wide figures.
        totals: SwarmTotals,
        /// One row per device of the swarm.
        devices: Vec<DeviceRow>,
        /// Every job not yet deleted.
        jobs: Vec<JobProgress>,
        /// The swarm's use of each of its quotas.
        usage: SwarmUsage,
    },
    /// A worker's view: totals and its own state only.
    Worker {
        /// Swarm-wide figures.
        totals: SwarmTotals,
        /// The receiving device.
        me: DeviceStats,
    },
}

/// One quota of a swarm: how much of it is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// In use now.
    pub used: u64,
    /// The most the swarm may use.
    pub limit: u64,
}

/// A swarm's use of its quotas, shown on the master's dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmUsage {
    /// Unfinished jobs.
    pub jobs: Quota,
    /// Bytes of results held (each job's whole result, from its submission until deleted).
    pub result_bytes: Quota,
    /// Devices online, the master included.
    pub devices: Quota,
    /// Unexpired invites.
    pub invites: Quota,
}

/// Swarm-wide figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwarmTotals {
    /// Devices online.
    pub online: u32,
    /// Logical cores online (after clamping).
    pub cores: u32,
    /// Online devices with a GPU.
    pub gpus: u32,
    /// Verified results per second over the last 10 s.
    pub tasks_per_sec: f32,
    /// Tasks waiting for a device.
    pub queued: u32,
    /// Tasks leased to devices.
    pub in_flight: u32,
    /// The swarm's throttle.
    pub throttle: u8,
    /// The swarm's run state.
    pub run_state: RunState,
}

/// One device's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceStats {
    /// Verified results from this device.
    pub tasks_done: u64,
    /// Verified results per second over the last 10 s.
    pub tasks_per_sec: f32,
    /// Tasks leased to it now.
    pub in_flight: u32,
    /// Its status.
    pub status: DeviceStatus,
    /// Its dispatch weight.
    pub weight: u32,
    /// Task slots it asks for now (0 while it is paused, throttled to 0 or offline).
    pub slots: u32,
}

/// A row of the master's device table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRow {
    /// The device.
    pub device_id: DeviceId,
    /// Display name.
    pub name: String,
    /// Platform description.
    pub platform: String,
    /// Logical cores, clamped.
    pub cores: u32,
    /// GPU description, if any.
    pub gpu: Option<String>,
    /// Benchmark score, clamped.
    pub ops_score: u32,
    /// Master or worker.
    pub role: Role,
    /// Figures and status.
    pub stats: DeviceStats,
    /// Its kernel paths and choice, once it reported them.
    pub kernels: Option<KernelReport>,
}

/// Where a device stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeviceStatus {
    /// Connected and eligible for tasks.
    Online,
    /// No live session.
    Offline,
    /// Connected, but the master disabled it.
    Disabled,
    /// It failed verification too often and gets no tasks.
    Quarantined {
        /// Why, for the table.
        reason: String,
    },
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogLevel {
    /// Routine events.
    Info,
    /// Something went wrong but was handled.
    Warn,
    /// Something failed.
    Error,
}

/// A line for the master's terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Severity.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// How often devices heartbeat.
pub const HEARTBEAT_INTERVAL_MS: u32 = 10_000;
