//! One simulated device: it joins with an invite over a real WebSocket, sends heartbeats,
//! asks for work when the scenario says so, computes each assigned task with the real
//! kernel after a configurable task time, and answers. Some devices misbehave on purpose,
//! and some come and go (the churn of a long run).

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use ostrich_kernels::task::run_task;
use ostrich_protocol::{
    Capabilities, GpuInfo, HEARTBEAT_INTERVAL_MS, JoinCredential, Snapshot, Task, TaskId, TaskKind, TaskOutput,
    ToCoordinator, ToDevice, encode,
};
use ostrich_worker::socket::{self, Socket};
use rand::Rng as _;
use tokio::{
    sync::{Semaphore, watch},
    time::{Instant, MissedTickBehavior, interval, sleep_until},
};
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};
use uuid::Uuid;

/// What the scenario asks of every device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Hold the connection; heartbeats only.
    Idle,
    /// Ask for work and compute.
    Busy,
    /// Close the session and end.
    Stop,
}

/// How a device behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Computes every task and answers correctly.
    Honest,
    /// Takes its first tasks and never answers them, though it keeps heartbeating (a stalled
    /// tab): those leases must expire and the tasks go elsewhere. Later tasks it computes.
    Sleeper,
    /// Drops its connection without a close frame when its first tasks arrive, then
    /// rejoins with its resume credential (a phone losing Wi-Fi).
    Dropper,
    /// Answers every task with a wrong result: it must fail verification and be quarantined.
    Liar,
    /// Computes honestly, but drops its connection without a close frame after a random
    /// time online (exponential, mean `every`), stays away for about `away` and rejoins with
    /// its resume credential; again and again, until the scenario stops.
    Churner {
        /// Mean time online between drops.
        every: Duration,
        /// Mean time away before rejoining.
        away: Duration,
    },
    /// A device that joins once, computes honestly for `life`, then closes its session
    /// and never comes back.
    Transient {
        /// Time from its welcome to its leaving.
        life: Duration,
    },
}

/// One device's description.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// Its behaviour.
    pub behaviour: Behaviour,
    /// Cores it reports; with the GPU and score they make its dispatch weight.
    pub cores: u32,
    /// Whether it reports a GPU.
    pub gpu: bool,
    /// Benchmark score it reports (MFLOP/s).
    pub ops_score: u32,
    /// Tasks it keeps in flight.
    pub slots: u32,
    /// Tasks it computes at once, as a worker's cores do; the rest of its slots wait in
    /// line, so a refill's round trip does not leave it idle. 0: every slot computes at once.
    pub lanes: u32,
    /// How long each task takes it.
    pub task_time: Duration,
}

/// Counters shared by every device of a scenario.
#[derive(Default)]
pub struct Counters {
    /// Devices holding a welcomed session now.
    pub connected: AtomicU64,
    /// Sessions that failed to connect or were refused.
    pub connect_failures: AtomicU64,
    /// Results sent.
    pub results_sent: AtomicU64,
    /// Worker snapshots received, their total and largest size in bytes.
    pub worker_snapshots: AtomicU64,
    /// Total bytes of worker snapshots.
    pub worker_snapshot_bytes: AtomicU64,
    /// Largest worker snapshot.
    pub worker_snapshot_max: AtomicU64,
    /// Sessions that were closed by the coordinator.
    pub closed_by_coordinator: AtomicU64,
    /// Welcomes received, rejoins included.
    pub joined: AtomicU64,
    /// Sessions that rejoined with their resume credential after dropping.
    pub rejoins: AtomicU64,
    /// Devices that left for good on their own ([`Behaviour::Transient`]).
    pub left: AtomicU64,
}

/// What a device measured.
#[derive(Debug, Default)]
pub struct DeviceReport {
    /// Time from the start of its connect to its welcome.
    pub register: Option<Duration>,
    /// Turnaround per task, µs: from sending a result to receiving the task that refills the
    /// slot, recorded while `record` was set.
    pub overhead_us: Vec<u32>,
}

/// Where a device connects and what it shares with the scenario.
#[derive(Clone)]
pub struct Context {
    /// The coordinator's WebSocket URL.
    pub url: String,
    /// The invite code.
    pub token: String,
    /// The scenario's phase.
    pub phase: watch::Receiver<Phase>,
    /// Whether turnaround samples are recorded now.
    pub record: watch::Receiver<bool>,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// Limits how many devices connect at once, so a burst does not overflow the listen
    /// backlog.
    pub gate: Arc<Semaphore>,
}

struct Pending {
    ready: Instant,
    task_id: TaskId,
    output: TaskOutput,
}

/// Runs one device until the phase is [`Phase::Stop`] (or, for a transient device, until
/// it leaves).
pub async fn run(spec: DeviceSpec, mut context: Context) -> DeviceReport {
    let mut report = DeviceReport::default();
    let device_id = Uuid::new_v4();
    let mut credential = JoinCredential::Invite { token: context.token.clone() };
    let mut misbehaved = false;
    loop {
        let started = Instant::now();
        let permit = context.gate.clone().acquire_owned().await;
        let joined = join(&spec, device_id, credential.clone(), &context.url).await;
        drop(permit);
        let (mut socket, resume) = match joined {
            Ok(joined) => joined,
            Err(error) => {
                context.counters.connect_failures.fetch_add(1, Ordering::Relaxed);
                // A device that has been in the swarm retries, as a phone would; a new one
                // gives up.
                let retry = matches!(spec.behaviour, Behaviour::Churner { .. }) && report.register.is_some();
                log::warn!("device {device_id}: cannot join: {error}{}", if retry { "; retrying" } else { "" });
                if retry && away(&spec, &mut context).await {
                    continue;
                }
                return report;
            }
        };
        context.counters.joined.fetch_add(1, Ordering::Relaxed);
        if report.register.is_some() {
            context.counters.rejoins.fetch_add(1, Ordering::Relaxed);
        }
        report.register.get_or_insert(started.elapsed());
        if let Some(resume) = resume {
            credential = JoinCredential::Resume { credential: resume };
        }
        let leave = match spec.behaviour {
            Behaviour::Churner { every, .. } => Some(Instant::now() + random_around(every, true)),
            Behaviour::Transient { life } => Some(Instant::now() + life),
            _ => None,
        };
        context.counters.connected.fetch_add(1, Ordering::Relaxed);
        let end = serve(&spec, &mut socket, &mut context, &mut report, &mut misbehaved, leave).await;
        context.counters.connected.fetch_sub(1, Ordering::Relaxed);
        match end {
            End::Stop => {
                socket::close(&mut socket, CloseCode::Normal, "simulation over").await;
                return report;
            }
            End::Leave => {
                socket::close(&mut socket, CloseCode::Away, "leaving").await;
                context.counters.left.fetch_add(1, Ordering::Relaxed);
                return report;
            }
            End::Lost => {
                context.counters.closed_by_coordinator.fetch_add(1, Ordering::Relaxed);
                return report;
            }
            End::Drop => drop(socket),
        }
        if !away(&spec, &mut context).await {
            return report;
        }
    }
}

/// A churner's time away before it rejoins; answers false when the scenario stopped
/// meanwhile. Other devices rejoin at once.
async fn away(spec: &DeviceSpec, context: &mut Context) -> bool {
    let Behaviour::Churner { away, .. } = spec.behaviour else { return true };
    let back = Instant::now() + random_around(away, false);
    loop {
        if *context.phase.borrow_and_update() == Phase::Stop {
            return false;
        }
        tokio::select! {
            () = sleep_until(back) => return true,
            _ = context.phase.changed() => {}
        }
    }
}

/// A random duration around `mean`: exponential (capped at 5× the mean) when
/// `exponential`, else uniform between half and one and a half times the mean.
fn random_around(mean: Duration, exponential: bool) -> Duration {
    let u: f64 = rand::rng().random();
    let factor = if exponential { (-(1.0 - u).ln()).min(5.0) } else { 0.5 + u };
    mean.mul_f64(factor)
}

async fn join(
    spec: &DeviceSpec,
    device_id: Uuid,
    credential: JoinCredential,
    url: &str,
) -> Result<(Socket, Option<String>), String> {
    let mut socket = socket::connect(url, None).await?;
    let hello = ToCoordinator::Hello {
        device_id,
        name: format!("sim-{}", &device_id.simple().to_string()[..6]),
        capabilities: Capabilities {
            logical_cores: spec.cores,
            memory_mb: 4096,
            gpu: spec.gpu.then(|| GpuInfo {
                vendor: "simulated".into(),
                description: "simulated GPU".into(),
                fallback: false,
            }),
            ops_score: spec.ops_score,
            platform: "simulated".into(),
            runtime: ostrich_protocol::WasmRuntime::Native,
        },
        credential,
    };
    socket::send(&mut socket, &hello).await.map_err(|e| format!("sending the hello: {e}"))?;
    match socket::first_message(&mut socket).await.map_err(|e| format!("waiting for the welcome: {e}"))? {
        ToDevice::Welcome(welcome) => Ok((socket, welcome.resume_credential)),
        other => Err(format!("answered {}", socket::name_of(&other))),
    }
}

enum End {
    /// The scenario is over.
    Stop,
    /// The coordinator closed the session or the connection failed.
    Lost,
    /// The device drops its connection without a close frame (and may rejoin).
    Drop,
    /// The device closes its session and leaves for good.
    Leave,
}

async fn serve(
    spec: &DeviceSpec,
    socket: &mut Socket,
    context: &mut Context,
    report: &mut DeviceReport,
    misbehaved: &mut bool,
    leave: Option<Instant>,
) -> End {
    let mut heartbeat = interval(Duration::from_millis(u64::from(HEARTBEAT_INTERVAL_MS)));
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut pending: VecDeque<Pending> = VecDeque::new();
    // When each lane is next free; tasks start on the earliest, so ready times only grow.
    let mut lanes = vec![Instant::now(); spec.lanes as usize];
    let mut sent: VecDeque<Instant> = VecDeque::new();
    let mut asked = false;
    loop {
        let phase = *context.phase.borrow_and_update();
        match phase {
            Phase::Stop => return End::Stop,
            Phase::Busy if !asked => {
                asked = true;
                if send(socket, &ToCoordinator::WorkRequest { slots: spec.slots }).await.is_err() {
                    return End::Lost;
                }
            }
            _ => {}
        }
        let next_ready = pending.front().map(|p| p.ready);
        tokio::select! {
            _ = context.phase.changed() => {}
            () = sleep_until(leave.unwrap_or_else(Instant::now)), if leave.is_some() => {
                return if matches!(spec.behaviour, Behaviour::Transient { .. }) { End::Leave } else { End::Drop };
            }
            _ = heartbeat.tick() => {
                if send(socket, &ToCoordinator::Heartbeat).await.is_err() {
                    return End::Lost;
                }
            }
            () = sleep_until(next_ready.unwrap_or_else(Instant::now)), if next_ready.is_some() => {
                let now = Instant::now();
                let mut results = Vec::new();
                while pending.front().is_some_and(|p| p.ready <= now) {
                    let Some(done) = pending.pop_front() else { break };
                    results.push((done.task_id, done.output));
                }
                // Results that are ready together travel in one frame, as a real device's would.
                let count = results.len();
                let message = match results.pop() {
                    Some((task_id, output)) if results.is_empty() => ToCoordinator::TaskResult { task_id, output },
                    Some(last) => {
                        results.push(last);
                        ToCoordinator::TaskResults { results }
                    }
                    None => continue,
                };
                if feed(socket, &message).await.is_err() {
                    return End::Lost;
                }
                let sent_at = Instant::now();
                sent.extend(std::iter::repeat_n(sent_at, count));
                context.counters.results_sent.fetch_add(count as u64, Ordering::Relaxed);
                if socket.flush().await.is_err() {
                    return End::Lost;
                }
            }
            frame = socket.next() => {
                let Some(Ok(frame)) = frame else { return End::Lost };
                let size = match &frame { Message::Binary(bytes) => bytes.len() as u64, _ => 0 };
                let message = match socket::read(frame) {
                    Ok(Some(message)) => message,
                    Ok(None) => continue,
                    Err(_) => return End::Lost,
                };
                match message {
                    ToDevice::Assign { tasks } => {
                        let now = Instant::now();
                        if *context.record.borrow() {
                            for _ in 0..tasks.len() {
                                let Some(at) = sent.pop_front() else { break };
                                report.overhead_us.push(now.duration_since(at).as_micros().min(u128::from(u32::MAX)) as u32);
                            }
                        } else {
                            sent.clear();
                        }
                        match spec.behaviour {
                            Behaviour::Sleeper if !*misbehaved => {
                                *misbehaved = true;
                                continue;
                            }
                            Behaviour::Dropper if !*misbehaved => {
                                *misbehaved = true;
                                return End::Drop;
                            }
                            _ => {}
                        }
                        for task in tasks {
                            let start = match lanes.iter_mut().min() {
                                Some(lane) => {
                                    let start = (*lane).max(now);
                                    *lane = start + spec.task_time;
                                    start
                                }
                                None => now,
                            };
                            if let Some(done) = compute(spec, task, start) {
                                pending.push_back(done);
                            }
                        }
                    }
                    ToDevice::Cancel { task_ids } => pending.retain(|p| !task_ids.contains(&p.task_id)),
                    ToDevice::Snapshot(Snapshot::Worker { .. }) => {
                        let counters = &context.counters;
                        counters.worker_snapshots.fetch_add(1, Ordering::Relaxed);
                        counters.worker_snapshot_bytes.fetch_add(size, Ordering::Relaxed);
                        counters.worker_snapshot_max.fetch_max(size, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Computes a task with the real kernel; a liar spoils the answer. A wasm task's module is
/// the simulator's own [`reverse`](ostrich_wasm::wat_kernels::reverse) kernel, so its output
/// is the input reversed, computed here without a wasm host (the simulated task time stands
/// in for the kernel's).
fn compute(spec: &DeviceSpec, task: Task, start: Instant) -> Option<Pending> {
    let mut output = match &task.kind {
        TaskKind::Wasm { input, .. } => TaskOutput::Wasm { output: input.iter().rev().copied().collect() },
        kind => run_task(kind).ok()?,
    };
    if spec.behaviour == Behaviour::Liar {
        match &mut output {
            TaskOutput::MatmulTile { c } => c.iter_mut().for_each(|v| *v += 1.0),
            TaskOutput::MandelbrotTile { iterations } => iterations.iter_mut().for_each(|v| *v ^= 1),
            TaskOutput::Wasm { output } => output.iter_mut().for_each(|v| *v ^= 1),
        }
    }
    Some(Pending { ready: start + spec.task_time, task_id: task.id, output })
}

async fn feed(socket: &mut Socket, message: &ToCoordinator) -> Result<(), ()> {
    let bytes = encode(message).map_err(|_| ())?;
    socket.feed(Message::binary(bytes)).await.map_err(|_| ())
}

async fn send(socket: &mut Socket, message: &ToCoordinator) -> Result<(), ()> {
    feed(socket, message).await?;
    socket.flush().await.map_err(|_| ())
}
