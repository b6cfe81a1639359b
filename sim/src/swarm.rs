//! A whole scenario: a master, N simulated devices, an optional busy window on a job of
//! tiny tasks, and the report of what the coordinator cost.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use futures_util::StreamExt;
use ostrich_protocol::{
    Capabilities, DeviceStatus, HEARTBEAT_INTERVAL_MS, JobId, JobProgress, JobSpec, JobState, JoinCredential,
    MatmulSpec, MatrixSource, ModuleHash, Snapshot, TaskLimits, ToCoordinator, ToDevice, Verification, WasmInput,
    WasmSpec, range_input, read_results,
};
use ostrich_worker::socket;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;
use tokio::{
    sync::{Semaphore, watch},
    time::{Instant, MissedTickBehavior, interval},
};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    api::Api,
    coordinator::Coordinator,
    device::{self, Behaviour, Counters, DeviceSpec, Phase},
    percentile,
};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Simulated devices.
    pub devices: usize,
    /// Tasks each device asks to keep in flight (the coordinator clamps by cores).
    pub slots: u32,
    /// Tasks each device computes at once (see [`DeviceSpec::lanes`]); 0: all its slots.
    pub lanes: u32,
    /// How long each task takes a device.
    pub task_time: Duration,
    /// Fractions of devices that sleep, drop their connection, or lie.
    pub sleepers: f64,
    /// See `sleepers`.
    pub droppers: f64,
    /// See `sleepers`.
    pub liars: f64,
    /// The busy window over which throughput is measured; `None` holds the devices idle.
    pub window: Option<Duration>,
    /// The job the devices compute while busy.
    pub job: JobSpec,
    /// The user kernel a wasm job runs, uploaded before it is submitted (its name replaces
    /// the job's module).
    pub module: Option<Vec<u8>>,
    /// Wait for the job to end and check its result, instead of stopping after the window.
    pub to_completion: bool,
    /// Devices connecting at once.
    pub connect_concurrency: usize,
    /// Where the devices connect, when not to the coordinator the master uses (cluster
    /// mode: another node, which relays them).
    pub device_url: Option<String>,
    /// Other processes whose CPU per task is measured over the busy window too (cluster
    /// mode: the gateway node and the NATS server).
    pub observe: Vec<u32>,
}

impl Scenario {
    /// A job of `tasks` tiny matmul tiles (4×4 output tiles, k = 4), rounded to a square.
    pub fn tiny_tasks(tasks: u32) -> JobSpec {
        let side = ((f64::from(tasks)).sqrt().ceil() as u32 * 4).clamp(4, 4096);
        JobSpec::Matmul(MatmulSpec { m: side, k: 4, n: side, tile: 4, source: MatrixSource::Seeded { seed: 7 } })
    }

    /// A user-kernel job of `tasks` range tasks and its module, the WAT
    /// [`reverse`](ostrich_wasm::wat_kernels::reverse) kernel, under the default adaptive
    /// replication.
    pub fn wasm_tasks(tasks: u32) -> Result<(JobSpec, Vec<u8>)> {
        let module = wat::parse_str(ostrich_wasm::wat_kernels::reverse())?;
        let spec = WasmSpec {
            module: ModuleHash([0; 32]),
            name: "sim reverse".into(),
            input: WasmInput::Range { count: tasks, args: Vec::new() },
            // An output is the 8-byte input reversed; the limit counts in the swarm's quota.
            limits: TaskLimits { max_output_bytes: 64, ..TaskLimits::default() },
            verification: Verification::default(),
        };
        Ok((JobSpec::Wasm(spec), module))
    }
}

/// What a scenario measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Devices simulated.
    pub devices: usize,
    /// Devices that held a welcomed session at the end of the idle phase.
    pub connected: u64,
    /// Devices that could not connect or were refused.
    pub connect_failures: u64,
    /// Seconds from the first connect to the last welcome.
    pub register_s: f64,
    /// Coordinator RSS before any device connected, bytes.
    pub rss_base: u64,
    /// Coordinator RSS with every device connected and idle, bytes.
    pub rss_idle: u64,
    /// (rss_idle − rss_base) / connected devices, bytes.
    pub rss_per_device: u64,
    /// Mean and largest worker snapshot, bytes.
    pub worker_snapshot_mean: f64,
    /// See `worker_snapshot_mean`.
    pub worker_snapshot_max: u64,
    /// The master's last snapshot, bytes (it lists every device).
    pub master_snapshot: u64,
    /// The busy window, if there was one.
    pub busy: Option<Busy>,
    /// What became of the job, when run to completion.
    pub completion: Option<Completion>,
}

/// Throughput over the busy window.
#[derive(Debug, Default, Serialize)]
pub struct Busy {
    /// Seconds measured.
    pub window_s: f64,
    /// Tasks verified and accounted in the window.
    pub verified: u64,
    /// Verified tasks per second.
    pub tasks_per_s: f64,
    /// Coordinator CPU (all threads) per verified task, µs.
    pub cpu_us_per_task: f64,
    /// Coordinator CPU use over the window, in cores.
    pub cpu_cores: f64,
    /// Turnaround per task as the devices saw it: result sent → next task received, µs.
    pub overhead_p50_us: u32,
    /// See `overhead_p50_us`.
    pub overhead_p99_us: u32,
    /// CPU per verified task, µs, of each process of [`Scenario::observe`].
    pub observed_cpu_us_per_task: Vec<f64>,
    /// Samples behind the percentiles.
    pub samples: usize,
    /// The job's state at the end of the window.
    pub job_state: String,
}

/// The end of a job run to completion.
#[derive(Debug, Default, Serialize)]
pub struct Completion {
    /// Its final state, as text.
    pub state: String,
    /// Tasks it had.
    pub tasks: u32,
    /// Results that failed verification.
    pub verification_failures: u32,
    /// Times a task was dispatched again.
    pub redispatched: u32,
    /// Devices quarantined in the master's last snapshot.
    pub quarantined: usize,
    /// Liars simulated.
    pub liars: usize,
    /// Largest difference between the downloaded result and a local computation; for a
    /// wasm job, the number of outputs that are not their input reversed.
    pub max_abs_error: f64,
    /// Seconds from submission to the end.
    pub seconds: f64,
    /// Results the devices computed, replicas included (a wasm job's count; else `tasks`).
    pub results: u32,
    /// Of those, replicas run only to check another result.
    pub replicas: u32,
    /// The job's ideal time: its tasks' work spread evenly over every lane of every device
    /// (tasks × task time / (devices × lanes)), seconds.
    pub ideal_s: f64,
    /// Scheduling efficiency: the share of the swarm's compute time, from submission to the
    /// end, spent computing results (results × task time / (devices × lanes × seconds)).
    pub efficiency: f64,
    /// `ideal_s / seconds`: the efficiency counting replicas as lost time.
    pub useful_efficiency: f64,
}

/// The master's session: it keeps the swarm's key and watches its snapshots.
pub(crate) struct Master {
    pub key: String,
    snapshot_bytes: Arc<AtomicU64>,
    quarantined: Arc<AtomicU64>,
    /// Devices online in the last snapshot, the master included.
    pub online: Arc<AtomicU64>,
    /// Tasks verified in the last job progress pushed to the master, and whether that job
    /// still ran. Pushed every 250 ms, so unlike an HTTP query it does not wait behind the
    /// scheduler's backlog of results.
    pub verified: Arc<AtomicU64>,
    /// See `verified`.
    pub running: Arc<std::sync::atomic::AtomicBool>,
    /// Master snapshots received.
    snapshots: Arc<AtomicU64>,
}

/// Opens the master's session on a new swarm.
pub(crate) async fn master(url: &str) -> Result<Master> {
    let mut socket = socket::connect(url, None).await.map_err(anyhow::Error::msg)?;
    let hello = ToCoordinator::Hello {
        device_id: uuid::Uuid::new_v4(),
        name: "sim-master".into(),
        capabilities: Capabilities {
            logical_cores: 1,
            memory_mb: 0,
            gpu: None,
            ops_score: 0,
            platform: "simulator".into(),
            runtime: ostrich_protocol::WasmRuntime::Native,
        },
        credential: JoinCredential::Master { key: None },
    };
    socket::send(&mut socket, &hello).await?;
    let ToDevice::Welcome(welcome) = socket::first_message(&mut socket).await? else {
        bail!("the coordinator did not welcome the master");
    };
    let key = welcome.master_key.context("no master key in the welcome")?;
    let snapshot_bytes = Arc::new(AtomicU64::new(0));
    let quarantined = Arc::new(AtomicU64::new(0));
    let online = Arc::new(AtomicU64::new(0));
    let verified = Arc::new(AtomicU64::new(0));
    let running = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (bytes, quarantine, live) = (snapshot_bytes.clone(), quarantined.clone(), online.clone());
    let (done, runs) = (verified.clone(), running.clone());
    let snapshots = Arc::new(AtomicU64::new(0));
    let ticks = snapshots.clone();
    tokio::spawn(async move {
        let mut heartbeat = interval(Duration::from_millis(u64::from(HEARTBEAT_INTERVAL_MS)));
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = heartbeat.tick() => {
                    if socket::send(&mut socket, &ToCoordinator::Heartbeat).await.is_err() { return; }
                }
                frame = socket.next() => {
                    let Some(Ok(frame)) = frame else { return };
                    let size = if let Message::Binary(b) = &frame { b.len() as u64 } else { 0 };
                    match socket::read(frame) {
                        Ok(Some(ToDevice::Snapshot(Snapshot::Master { devices, totals, .. }))) => {
                            bytes.store(size, Ordering::Relaxed);
                            live.store(u64::from(totals.online), Ordering::Relaxed);
                            let count = devices
                                .iter()
                                .filter(|d| matches!(d.stats.status, DeviceStatus::Quarantined { .. }))
                                .count();
                            quarantine.store(count as u64, Ordering::Relaxed);
                            ticks.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Some(ToDevice::JobProgress(progress))) => {
                            done.store(u64::from(progress.tasks_verified), Ordering::Relaxed);
                            runs.store(progress.state == JobState::Running, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
            }
        }
    });
    Ok(Master { key, snapshot_bytes, quarantined, online, verified, running, snapshots })
}

/// The device mix: cores, GPU and score vary so weights differ; behaviours by fraction.
fn specs(scenario: &Scenario) -> Vec<DeviceSpec> {
    let n = scenario.devices;
    let count = |fraction: f64| ((n as f64) * fraction).round() as usize;
    let (sleepers, droppers, liars) = (count(scenario.sleepers), count(scenario.droppers), count(scenario.liars));
    let mut specs = device_mix(n, scenario.slots, scenario.task_time, |i| {
        if i < sleepers {
            Behaviour::Sleeper
        } else if i < sleepers + droppers {
            Behaviour::Dropper
        } else if i < sleepers + droppers + liars {
            Behaviour::Liar
        } else {
            Behaviour::Honest
        }
    });
    for spec in &mut specs {
        spec.lanes = scenario.lanes;
    }
    specs
}

/// `n` devices reporting 1–8 cores, a GPU on a quarter of them and scores from 500 to
/// 20 000 (always the same mix), each with the behaviour `behaviour` gives its index.
pub(crate) fn device_mix(
    n: usize,
    slots: u32,
    task_time: Duration,
    behaviour: impl Fn(usize) -> Behaviour,
) -> Vec<DeviceSpec> {
    let mut rng = StdRng::seed_from_u64(42);
    (0..n)
        .map(|i| DeviceSpec {
            behaviour: behaviour(i),
            cores: [1, 2, 4, 8][rng.random_range(0..4)],
            gpu: rng.random_bool(0.25),
            ops_score: rng.random_range(500..20_000),
            slots,
            lanes: 0,
            task_time,
        })
        .collect()
}

/// Polls `check` every 20 ms until it holds or `limit` passes.
pub(crate) async fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + limit;
    let mut tick = interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if check() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
    }
}

/// Polls a job's progress every `every` until it is no longer running, at most `limit`.
pub(crate) async fn job_ended(api: &Api, job: JobId, limit: Duration, every: Duration) -> Result<JobProgress> {
    let deadline = Instant::now() + limit;
    let mut tick = interval(every);
    loop {
        tick.tick().await;
        let api = api.clone();
        let progress = blocking(move || api.job(job)).await?;
        if progress.state != JobState::Running {
            return Ok(progress);
        }
        if Instant::now() > deadline {
            bail!("job {job} did not end within {limit:?}: {progress:?}");
        }
    }
}

/// Runs blocking `f` (an HTTP call) off the runtime's threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await?
}

/// Runs a scenario against `coordinator` and reports.
pub async fn run(coordinator: &Coordinator, scenario: &Scenario) -> Result<Report> {
    let url = coordinator.ws_url();
    let usage = || coordinator.usage().unwrap_or_default();
    let base = usage();
    let master = master(&url).await?;
    let url = scenario.device_url.clone().unwrap_or(url);
    let api = Api::new(&coordinator.base_url, &master.key);
    let token = {
        let api = api.clone();
        blocking(move || api.invite()).await?.token
    };
    let (phase_tx, phase) = watch::channel(Phase::Idle);
    let (record_tx, record) = watch::channel(false);
    let counters = Arc::new(Counters::default());
    let context = device::Context {
        url,
        token,
        phase,
        record,
        counters: counters.clone(),
        gate: Arc::new(Semaphore::new(scenario.connect_concurrency.max(1))),
    };
    let specs = specs(scenario);
    let liars = specs.iter().filter(|s| s.behaviour == Behaviour::Liar).count();
    let started = Instant::now();
    let handles: Vec<_> = specs
        .into_iter()
        .map(|spec| {
            let context = context.clone();
            tokio::spawn(device::run(spec, context))
        })
        .collect();
    let n = scenario.devices as u64;
    let connect_limit = Duration::from_secs(30 + n / 100);
    wait_until(connect_limit, "every device to register", || {
        counters.connected.load(Ordering::Relaxed) + counters.connect_failures.load(Ordering::Relaxed) >= n
    })
    .await?;
    let register_s = started.elapsed().as_secs_f64();
    let connected = counters.connected.load(Ordering::Relaxed);
    // Every device has had a snapshot tick: the coordinator holds its full per-device state.
    wait_until(Duration::from_secs(30), "a snapshot for every device", || {
        counters.worker_snapshots.load(Ordering::Relaxed) >= connected
    })
    .await?;
    let idle = usage();
    let mut report = Report {
        devices: scenario.devices,
        connected,
        connect_failures: counters.connect_failures.load(Ordering::Relaxed),
        register_s,
        rss_base: base.rss_bytes,
        rss_idle: idle.rss_bytes,
        rss_per_device: idle.rss_bytes.saturating_sub(base.rss_bytes) / connected.max(1),
        ..Report::default()
    };
    if let Some(window) = scenario.window {
        let job = {
            let (api, mut spec, module) = (api.clone(), scenario.job.clone(), scenario.module.clone());
            blocking(move || {
                if let (Some(module), JobSpec::Wasm(wasm)) = (module, &mut spec) {
                    wasm.module = api.upload_module(&module)?;
                }
                api.submit(&spec)
            })
            .await?
        };
        let submitted = Instant::now();
        phase_tx.send_replace(Phase::Busy);
        // Warm up until results flow, then measure over the window or until the job ends.
        let verified = || master.verified.load(Ordering::Relaxed);
        wait_until(Duration::from_secs(30), "the first verified results", || {
            verified() > 0 && submitted.elapsed() > Duration::from_secs(1)
        })
        .await?;
        record_tx.send_replace(true);
        let observed = || -> Vec<u64> {
            scenario.observe.iter().map(|&pid| crate::coordinator::usage(pid).unwrap_or_default().cpu_ns).collect()
        };
        let (v0, u0, t0, o0) = (verified(), usage(), Instant::now(), observed());
        let _ = wait_until(window, "the window", || !master.running.load(Ordering::Relaxed)).await;
        let (v1, u1, t1, o1) = (verified(), usage(), Instant::now(), observed());
        record_tx.send_replace(false);
        let state = {
            let api = api.clone();
            blocking(move || api.job(job)).await?.state
        };
        let verified = v1.saturating_sub(v0);
        let seconds = (t1 - t0).as_secs_f64();
        let cpu_ns = u1.cpu_ns.saturating_sub(u0.cpu_ns) as f64;
        report.busy = Some(Busy {
            window_s: seconds,
            verified,
            tasks_per_s: verified as f64 / seconds,
            cpu_us_per_task: if verified == 0 { 0.0 } else { cpu_ns / 1000.0 / verified as f64 },
            cpu_cores: cpu_ns / 1e9 / seconds,
            job_state: format!("{state:?}"),
            observed_cpu_us_per_task: o0
                .iter()
                .zip(&o1)
                .map(|(before, after)| after.saturating_sub(*before) as f64 / 1000.0 / verified.max(1) as f64)
                .collect(),
            ..Busy::default()
        });
        if scenario.to_completion {
            report.completion = Some(complete(&api, job, scenario, submitted, &master, liars).await?);
        }
    }
    report.master_snapshot = master.snapshot_bytes.load(Ordering::Relaxed);
    let snapshots = counters.worker_snapshots.load(Ordering::Relaxed).max(1);
    report.worker_snapshot_mean = counters.worker_snapshot_bytes.load(Ordering::Relaxed) as f64 / snapshots as f64;
    report.worker_snapshot_max = counters.worker_snapshot_max.load(Ordering::Relaxed);
    phase_tx.send_replace(Phase::Stop);
    let mut samples = Vec::new();
    for handle in handles {
        samples.extend(handle.await?.overhead_us);
    }
    samples.sort_unstable();
    if let Some(busy) = &mut report.busy {
        busy.overhead_p50_us = percentile(&samples, 50.0);
        busy.overhead_p99_us = percentile(&samples, 99.0);
        busy.samples = samples.len();
    }
    Ok(report)
}

/// Waits for the job to end, downloads its result and checks it against a local product.
async fn complete(
    api: &Api,
    job: JobId,
    scenario: &Scenario,
    submitted: Instant,
    master: &Master,
    liars: usize,
) -> Result<Completion> {
    // Polled every 20 ms, so the end is timed within that of when it came.
    let progress = job_ended(api, job, Duration::from_secs(300), Duration::from_millis(20)).await?;
    let seconds = submitted.elapsed().as_secs_f64();
    let max_abs_error = match (&progress.state, &scenario.job) {
        (JobState::Completed, JobSpec::Wasm(_)) => {
            // The reverse kernel's output for task i is its input reversed.
            let api = api.clone();
            blocking(move || {
                let file = api.result(job)?;
                let outputs = read_results(&file).context("the result file is malformed")?;
                let wrong = outputs
                    .iter()
                    .enumerate()
                    .filter(|(i, output)| output.iter().rev().copied().ne(range_input(*i as u64, &[])))
                    .count();
                Ok(wrong as f64)
            })
            .await?
        }
        (JobState::Completed, JobSpec::Matmul(matmul)) => {
            let (api, matmul) = (api.clone(), matmul.clone());
            blocking(move || {
                let npy = api.result(job)?;
                let (_, _, c) = ostrich_kernels::npy::decode_npy_f32(&npy).map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok(crate::matmul::max_abs_error(&matmul, &c))
            })
            .await?
        }
        _ => f64::NAN,
    };
    // Quarantines show in the master's snapshots: wait for one taken after the job ended.
    let seen = master.snapshots.load(Ordering::Relaxed);
    wait_until(Duration::from_secs(30), "a master snapshot", || master.snapshots.load(Ordering::Relaxed) > seen)
        .await?;
    let quarantined = master.quarantined.load(Ordering::Relaxed) as usize;
    let (results, replicas) =
        progress.replication.map_or((progress.tasks_total, 0), |stats| (stats.results, stats.replicas));
    let lanes = if scenario.lanes == 0 { scenario.slots } else { scenario.lanes };
    let slot_seconds = (scenario.devices as f64) * f64::from(lanes);
    let task_s = scenario.task_time.as_secs_f64();
    let ideal_s = f64::from(progress.tasks_total) * task_s / slot_seconds;
    Ok(Completion {
        state: format!("{:?}", progress.state),
        tasks: progress.tasks_total,
        verification_failures: progress.verification_failures,
        redispatched: progress.redispatched,
        quarantined,
        liars,
        max_abs_error,
        seconds,
        results,
        replicas,
        ideal_s,
        efficiency: f64::from(results) * task_s / (slot_seconds * seconds),
        useful_efficiency: ideal_s / seconds,
    })
}
