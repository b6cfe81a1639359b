//! The scheduler actor: owns every swarm's devices, jobs, task queue and leases, and does
//! weighted dispatch. Device sessions, the HTTP API and the broadcast ticker talk to it
//! through the messages below; it answers them by calling [`Core`] and delivers the
//! resulting effects to sessions through their `Recipient<Outbound>`.

mod commands;
mod core;
mod dispatch;
#[doc(hidden)]
pub mod fuzzing;
mod invariants;
mod quotas;
pub mod replication;
mod restore;
mod snapshot;
mod swarm;
mod wasm_jobs;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use actix::prelude::*;
use bytes::Bytes;
use ostrich_protocol::{
    Capabilities, DeviceId, JobId, JobProgress, JobSpec, KernelReport, MasterCommand, ModuleHash, Record, RejectCode,
    Snapshot, SwarmId, TaskId, TaskOutput, ToDevice, Welcome,
};
use rand::RngCore;

pub use self::core::{Admission, CommandError, Core, Effect, Settings, secret};
pub use self::quotas::{Quotas, unix_ms};
pub use self::swarm::{RateWindow, SessionId, limits, weight};
pub use self::wasm_jobs::{MAX_MODULES, ModuleInfo};
use crate::{
    jobs::ResultFile,
    limits::{FrameLimit, Reservation},
    modules::StoredModule,
    session::Outbound,
    tokens::InviteUsage,
};

/// How often expired leases are looked for.
const LEASE_CHECK_INTERVAL: Duration = Duration::from_millis(200);
/// How often abandoned swarms are looked for, at most (a short swarm TTL checks sooner).
const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// How often job progress is pushed to masters, at most.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// What the scheduler holds of an admitted session.
struct Link {
    /// Where its messages go.
    recipient: Recipient<Outbound>,
    /// Its frame limit, read by its reader.
    frame_limit: FrameLimit,
    /// Its socket is on another node (cluster mode), which is told of limit changes.
    relayed: bool,
}

/// The actor around [`Core`].
pub struct Scheduler {
    core: Core,
    sessions: HashMap<SessionId, Link>,
    weight_interval: Duration,
}

impl Scheduler {
    /// A scheduler with the given settings; weights are refreshed every `weight_interval`.
    pub fn new(settings: Settings, weight_interval: Duration) -> Self {
        Self::with_core(Core::new(settings), weight_interval)
    }

    /// A scheduler around a core, such as one [`Core::restore`] read back from the store.
    pub fn with_core(core: Core, weight_interval: Duration) -> Self {
        Self { core, sessions: HashMap::new(), weight_interval }
    }

    /// The figures `/metrics` exports, shared with the HTTP server.
    pub fn metrics(&self) -> std::sync::Arc<crate::metrics::Metrics> {
        self.core.metrics.clone()
    }

    /// Delivers what the core decided.
    fn deliver(&mut self) {
        for effect in self.core.take_effects() {
            match effect {
                Effect::Send(session, message) => {
                    if let Some(link) = self.sessions.get(&session) {
                        match ostrich_protocol::encode(&message) {
                            Ok(frame) => link.recipient.do_send(Outbound::Frame(Bytes::from(frame))),
                            Err(error) => log::error!("cannot encode a message for session {session}: {error}"),
                        }
                    }
                }
                Effect::Close(session, reason) => {
                    if let Some(link) = self.sessions.remove(&session) {
                        link.recipient.do_send(Outbound::Close(reason));
                    }
                }
                Effect::Shutdown(session) => {
                    if let Some(link) = self.sessions.remove(&session) {
                        link.recipient.do_send(Outbound::Shutdown);
                    }
                }
                Effect::FrameLimit(session, bytes) => {
                    if let Some(link) = self.sessions.get(&session) {
                        link.frame_limit.set(bytes);
                        if link.relayed {
                            link.recipient.do_send(Outbound::Limit(bytes));
                        }
                    }
                }
            }
        }
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(LEASE_CHECK_INTERVAL, |this, _| {
            this.core.expire_leases(Instant::now());
            this.deliver();
        });
        ctx.run_interval(PROGRESS_INTERVAL, |this, _| {
            this.core.release_lost();
            this.core.flush_progress();
            this.core.refresh_metrics(Instant::now());
            this.deliver();
        });
        ctx.run_interval(self.weight_interval, |this, _| this.core.refresh_weights());
        let ttl = self.core.settings.swarm_ttl;
        ctx.run_interval((ttl / 4).clamp(Duration::from_millis(50), EXPIRY_CHECK_INTERVAL), move |this, _| {
            this.core.expire_swarms(unix_ms(), ttl);
        });
    }
}

/// Admit a device after its hello; answers its welcome or the reason it is refused.
#[derive(Message)]
#[rtype(result = "Result<Welcome, (RejectCode, String)>")]
pub struct Register {
    /// The new session.
    pub session: SessionId,
    /// Where to deliver its messages.
    pub recipient: Recipient<Outbound>,
    /// The session's frame limit, which the scheduler sets from its role and leases.
    pub frame_limit: FrameLimit,
    /// The client-chosen device id.
    pub device_id: DeviceId,
    /// Display name.
    pub name: String,
    /// Claimed capabilities; clamped by the scheduler.
    pub capabilities: Capabilities,
    /// How the hello proved where it belongs.
    pub admission: Admission,
    /// The socket is on another node, which relays (cluster mode).
    pub relayed: bool,
}

impl Handler<Register> for Scheduler {
    type Result = Result<Welcome, (RejectCode, String)>;
    fn handle(&mut self, msg: Register, _: &mut Self::Context) -> Self::Result {
        let welcome = self.core.register(msg.session, msg.device_id, &msg.name, msg.capabilities, msg.admission);
        if welcome.is_ok() {
            let link = Link { recipient: msg.recipient, frame_limit: msg.frame_limit, relayed: msg.relayed };
            self.sessions.insert(msg.session, link);
        }
        self.deliver();
        welcome
    }
}

/// Cluster mode: this node took a swarm over; here is what its log holds.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Adopt(pub crate::durable::Restored);

impl Handler<Adopt> for Scheduler {
    type Result = ();
    fn handle(&mut self, msg: Adopt, _: &mut Self::Context) {
        self.core.adopt(msg.0);
        self.deliver();
    }
}

/// A session ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnected {
    /// The session.
    pub session: SessionId,
}

impl Handler<Disconnected> for Scheduler {
    type Result = ();
    fn handle(&mut self, msg: Disconnected, _: &mut Self::Context) {
        self.core.disconnect(msg.session);
        self.sessions.remove(&msg.session);
        self.deliver();
    }
}

/// A device's message about its work, already decoded by its session.
#[derive(Message)]
#[rtype(result = "()")]
pub enum DeviceEvent {
    /// It offers task slots.
    WorkRequest {
        /// The session.
        session: SessionId,
        /// Slots offered.
        slots: u32,
    },
    /// It returned a result.
    Result {
        /// The session.
        session: SessionId,
        /// The task.
        task_id: TaskId,
        /// The claimed output.
        output: TaskOutput,
        /// Its bytes in the receive budget, given back once it is handled.
        held: Reservation,
    },
    /// It returned several results in one frame.
    Results {
        /// The session.
        session: SessionId,
        /// Tasks and their claimed outputs.
        results: Vec<(TaskId, TaskOutput)>,
        /// Their bytes in the receive budget, given back once they are handled.
        held: Reservation,
    },
    /// It could not compute a task.
    Failed {
        /// The session.
        session: SessionId,
        /// The task.
        task_id: TaskId,
        /// Why.
        reason: String,
    },
    /// It measured a benchmark score.
    Benchmark {
        /// The session.
        session: SessionId,
        /// MFLOP/s.
        ops_score: u32,
    },
    /// It reported its kernel paths and choice.
    Kernels {
        /// The session.
        session: SessionId,
        /// The report, as sent.
        report: KernelReport,
    },
    /// It asks for a module of its swarm.
    FetchModule {
        /// The session.
        session: SessionId,
        /// The module.
        module: ModuleHash,
    },
}

impl Handler<DeviceEvent> for Scheduler {
    type Result = ();
    fn handle(&mut self, msg: DeviceEvent, _: &mut Self::Context) {
        let now = Instant::now();
        match msg {
            DeviceEvent::WorkRequest { session, slots } => self.core.work_request(session, slots, now),
            DeviceEvent::Result { session, task_id, output, held: _ } => {
                let seed = rand::rng().next_u64();
                self.core.task_result(session, task_id, output, now, seed);
            }
            DeviceEvent::Results { session, results, held: _ } => {
                let mut rng = rand::rng();
                self.core.task_results(session, results, now, || rng.next_u64());
            }
            DeviceEvent::Failed { session, task_id, reason } => self.core.task_failed(session, task_id, &reason, now),
            DeviceEvent::Benchmark { session, ops_score } => self.core.benchmark(session, ops_score),
            DeviceEvent::Kernels { session, report } => self.core.kernels(session, report),
            DeviceEvent::FetchModule { session, module } => self.core.fetch_module(session, module),
        }
        self.deliver();
    }
}

/// A master command from a session; answers what to tell the sender.
#[derive(Message)]
#[rtype(result = "Result<ToDevice, CommandError>")]
pub struct Command {
    /// The sender's session; its role and swarm are checked.
    pub session: SessionId,
    /// The command.
    pub command: MasterCommand,
}

impl Handler<Command> for Scheduler {
    type Result = Result<ToDevice, CommandError>;
    fn handle(&mut self, msg: Command, _: &mut Self::Context) -> Self::Result {
        let reply = self.core.command(msg.session, msg.command, Instant::now());
        self.deliver();
        reply
    }
}

/// The swarm a session is master of, or `NotMaster`.
#[derive(Message)]
#[rtype(result = "Result<SwarmId, CommandError>")]
pub struct MasterOf {
    /// The session.
    pub session: SessionId,
}

impl Handler<MasterOf> for Scheduler {
    type Result = Result<SwarmId, CommandError>;
    fn handle(&mut self, msg: MasterOf, _: &mut Self::Context) -> Self::Result {
        self.core.master_swarm(msg.session)
    }
}

/// The swarm a master key opens (HTTP API).
#[derive(Message)]
#[rtype(result = "Option<SwarmId>")]
pub struct Authenticate {
    /// The bearer key.
    pub key: String,
}

impl Handler<Authenticate> for Scheduler {
    type Result = Option<SwarmId>;
    fn handle(&mut self, msg: Authenticate, _: &mut Self::Context) -> Self::Result {
        let swarm = self.core.authenticate(&msg.key)?;
        self.core.touch(swarm, unix_ms());
        Some(swarm)
    }
}

impl Handler<InviteUsage> for Scheduler {
    type Result = ();
    fn handle(&mut self, msg: InviteUsage, _: &mut Self::Context) {
        let quota = ostrich_protocol::Quota { used: u64::from(msg.outstanding), limit: u64::from(msg.limit) };
        self.core.set_invite_usage(msg.swarm, quota);
    }
}

/// Job operations of the HTTP API, on an authenticated swarm.
#[derive(Message)]
#[rtype(result = "Result<JobReply, CommandError>")]
pub enum JobRequest {
    /// Submit a job.
    Submit(SwarmId, JobSpec),
    /// Every job of the swarm.
    List(SwarmId),
    /// One job's progress.
    Status(SwarmId, JobId),
    /// Cancel a job.
    Cancel(SwarmId, JobId),
    /// Delete a job and its result.
    Delete(SwarmId, JobId),
    /// A completed job's result file.
    Result(SwarmId, JobId),
    /// Store a validated module.
    PutModule(SwarmId, Box<StoredModule>),
    /// The swarm's modules.
    Modules(SwarmId),
    /// Delete a module.
    DeleteModule(SwarmId, ModuleHash),
    /// Append records to an open wasm job, and close it if asked.
    Append(SwarmId, JobId, Vec<Record>, bool),
    /// Close an open wasm job to more records.
    Close(SwarmId, JobId),
    /// One task's verified output.
    Output(SwarmId, JobId, u32),
}

/// The answer to a [`JobRequest`].
pub enum JobReply {
    /// A job was accepted.
    Submitted(JobId),
    /// Jobs' progress.
    Jobs(Vec<JobProgress>),
    /// One job's progress.
    Job(JobProgress),
    /// The job was deleted.
    Deleted,
    /// A result file, or `None` while the job is not complete.
    File(Option<ResultFile>),
    /// A module was stored (true) or was there already (false).
    Module(ModuleInfo, bool),
    /// The swarm's modules.
    Modules(Vec<ModuleInfo>),
    /// A task's output, or `None` while it has none.
    Output(Option<Vec<u8>>),
}

impl Handler<JobRequest> for Scheduler {
    type Result = Result<JobReply, CommandError>;
    fn handle(&mut self, msg: JobRequest, _: &mut Self::Context) -> Self::Result {
        let not_found = || (ostrich_protocol::CommandErrorCode::NotFound, "no such job in this swarm".to_string());
        let reply = match msg {
            JobRequest::Submit(swarm, spec) => {
                self.core.submit_job(swarm, spec, Instant::now()).map(JobReply::Submitted)
            }
            JobRequest::List(swarm) => Ok(JobReply::Jobs(self.core.jobs_progress(swarm))),
            JobRequest::Status(swarm, job) => {
                self.core.job_progress(swarm, job).map(JobReply::Job).ok_or_else(not_found)
            }
            JobRequest::Cancel(swarm, job) => self
                .core
                .cancel_job(swarm, job)
                .and_then(|()| self.core.job_progress(swarm, job).ok_or_else(not_found))
                .map(JobReply::Job),
            JobRequest::Delete(swarm, job) => self.core.delete_job(swarm, job).map(|()| JobReply::Deleted),
            JobRequest::Result(swarm, job) => {
                self.core.result_file(swarm, job).map(JobReply::File).ok_or_else(not_found)
            }
            JobRequest::PutModule(swarm, module) => {
                self.core.put_module(swarm, *module).map(|(info, new)| JobReply::Module(info, new))
            }
            JobRequest::Modules(swarm) => Ok(JobReply::Modules(self.core.modules(swarm))),
            JobRequest::DeleteModule(swarm, hash) => self.core.delete_module(swarm, hash).map(|()| JobReply::Deleted),
            JobRequest::Append(swarm, job, records, close) => self
                .core
                .append_records(swarm, job, records, close, Instant::now())
                .and_then(|_| self.core.job_progress(swarm, job).ok_or_else(not_found))
                .map(JobReply::Job),
            JobRequest::Close(swarm, job) => self
                .core
                .close_records(swarm, job)
                .and_then(|()| self.core.job_progress(swarm, job).ok_or_else(not_found))
                .map(JobReply::Job),
            JobRequest::Output(swarm, job, index) => self.core.task_output(swarm, job, index).map(JobReply::Output),
        };
        self.deliver();
        reply
    }
}

/// The coordinator is shutting down: requeue every lease and tell every session; answers
/// how many sessions were told.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain;

impl Handler<Drain> for Scheduler {
    type Result = usize;
    fn handle(&mut self, _: Drain, _: &mut Self::Context) -> usize {
        let told = self.core.drain();
        self.deliver();
        told
    }
}

/// Swarms with an online device (broadcast ticker).
#[derive(Message)]
#[rtype(result = "Vec<SwarmId>")]
pub struct LiveSwarms;

impl Handler<LiveSwarms> for Scheduler {
    type Result = Vec<SwarmId>;
    fn handle(&mut self, _: LiveSwarms, _: &mut Self::Context) -> Self::Result {
        self.core.live_swarms()
    }
}

/// One swarm's snapshots with where to send them (broadcast ticker).
#[derive(Message)]
#[rtype(result = "Vec<(Recipient<Outbound>, Snapshot)>")]
pub struct TakeSnapshots {
    /// The swarm.
    pub swarm: SwarmId,
}

impl Handler<TakeSnapshots> for Scheduler {
    type Result = Vec<(Recipient<Outbound>, Snapshot)>;
    fn handle(&mut self, msg: TakeSnapshots, _: &mut Self::Context) -> Self::Result {
        let Some(snapshots) = self.core.snapshots(msg.swarm, Instant::now()) else {
            return Vec::new();
        };
        snapshots
            .masters
            .into_iter()
            .chain(snapshots.workers)
            .filter_map(|(session, snapshot)| Some((self.sessions.get(&session)?.recipient.clone(), snapshot)))
            .collect()
    }
}

#[cfg(test)]
mod tests;
