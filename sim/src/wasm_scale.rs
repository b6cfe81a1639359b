//! A compute-bound user-kernel job, the Monte Carlo example, through native worker
//! processes of one thread each: one worker against two, submitted over the HTTP API and
//! timed from submission to the complete result, which must equal a local run byte for byte.

use std::{path::Path, sync::atomic::Ordering, time::Duration};

use anyhow::{Context as _, Result, bail};
use ostrich_example_monte_carlo::Params;
use ostrich_protocol::{JobSpec, JobState, TaskLimits, Verification, WasmInput, WasmSpec, range_input, read_results};
use serde::Serialize;
use tokio::time::Instant;

use crate::{
    api::Api,
    coordinator::Coordinator,
    matmul::Workers,
    swarm::{self, Master, blocking},
};

/// What the comparison measured.
#[derive(Debug, Serialize)]
pub struct WasmScaleReport {
    /// Tasks in the job.
    pub tasks: u32,
    /// Monte Carlo paths each task simulates.
    pub paths_per_task: u32,
    /// Runs of each configuration; the fastest counts.
    pub repeats: u32,
    /// The same tasks run natively, one after another in one thread, seconds.
    pub native_s: f64,
    /// One worker of one thread, results unchecked, seconds.
    pub one_worker_s: f64,
    /// Two workers of one thread each, results unchecked, seconds.
    pub two_workers_s: f64,
    /// two_workers_s / one_worker_s.
    pub ratio: f64,
    /// Two workers under adaptive replication (fresh devices, so their first results are
    /// replicated until trusted), seconds.
    pub two_workers_adaptive_s: f64,
    /// The replicas that run took.
    pub adaptive_replicas: u32,
    /// Whether every result equalled the local run byte for byte.
    pub exact: bool,
}

/// The option every task prices; `paths_per_task` sets the work.
fn params(paths_per_task: u32) -> Params {
    Params { paths_per_task, seed: 11, spot: 100.0, strike: 105.0, rate: 0.05, sigma: 0.2, years: 1.0 }
}

/// Runs the comparison with the Monte Carlo module at `module_path` and workers started
/// from `worker_bin`.
pub async fn compare(
    coordinator: &Coordinator,
    worker_bin: &Path,
    module_path: &Path,
    tasks: u32,
    paths_per_task: u32,
    repeats: u32,
) -> Result<WasmScaleReport> {
    let module = std::fs::read(module_path)
        .with_context(|| format!("cannot read {} (`cargo xtask build-kernels`)", module_path.display()))?;
    let args = params(paths_per_task).to_args();
    let started = Instant::now();
    let expected: Vec<Vec<u8>> =
        (0..u64::from(tasks)).map(|i| ostrich_example_monte_carlo::run(&range_input(i, &args))).collect();
    let native_s = started.elapsed().as_secs_f64();

    let master = swarm::master(&coordinator.ws_url()).await?;
    let api = Api::new(&coordinator.base_url, &master.key);
    let (invite, hash) = {
        let api = api.clone();
        blocking(move || Ok((api.invite()?, api.upload_module(&module)?))).await?
    };
    let job = |verification| WasmSpec {
        module: hash,
        name: "monte-carlo".into(),
        input: WasmInput::Range { count: tasks, args: args.clone() },
        limits: TaskLimits { time_limit_ms: 600_000, max_output_bytes: 64 },
        verification,
    };
    let state_dir = std::env::temp_dir().join(format!("ostrich-sim-wasm-{}", std::process::id()));
    std::fs::create_dir_all(&state_dir)?;
    let mut exact = true;
    let mut times = Vec::new();
    for workers in [1, 2] {
        let running = Workers::start(worker_bin, &invite.url, workers, 1, &state_dir)?;
        online(&master, u64::from(workers) + 1).await?;
        let mut best = f64::INFINITY;
        for _ in 0..repeats.max(1) {
            let run = run_job(&api, job(Verification::None), &expected).await?;
            exact &= run.exact;
            best = best.min(run.seconds);
        }
        times.push(best);
        drop(running);
        online(&master, 1).await?;
    }
    let _workers = Workers::start(worker_bin, &invite.url, 2, 1, &state_dir)?;
    online(&master, 3).await?;
    let adaptive = run_job(&api, job(Verification::default()), &expected).await?;
    exact &= adaptive.exact;
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(WasmScaleReport {
        tasks,
        paths_per_task,
        repeats,
        native_s,
        one_worker_s: times[0],
        two_workers_s: times[1],
        ratio: times[1] / times[0],
        two_workers_adaptive_s: adaptive.seconds,
        adaptive_replicas: adaptive.replicas,
        exact,
    })
}

/// Waits until the master's snapshots count exactly `devices` online, itself included.
async fn online(master: &Master, devices: u64) -> Result<()> {
    swarm::wait_until(Duration::from_secs(60), &format!("{devices} devices online"), || {
        master.online.load(Ordering::Relaxed) == devices
    })
    .await
}

struct Run {
    seconds: f64,
    replicas: u32,
    exact: bool,
}

/// Submits `spec`, waits for the job's end and compares its result file with `expected`.
async fn run_job(api: &Api, spec: WasmSpec, expected: &[Vec<u8>]) -> Result<Run> {
    let started = Instant::now();
    let job = {
        let api = api.clone();
        blocking(move || api.submit(&JobSpec::Wasm(spec))).await?
    };
    let progress = swarm::job_ended(api, job, Duration::from_secs(1200), Duration::from_millis(10)).await?;
    let seconds = started.elapsed().as_secs_f64();
    if progress.state != JobState::Completed {
        bail!("the Monte Carlo job ended as {:?}", progress.state);
    }
    let file = {
        let api = api.clone();
        blocking(move || api.result(job)).await?
    };
    let outputs = read_results(&file).context("the result file is malformed")?;
    let exact = outputs.len() == expected.len() && outputs.iter().zip(expected).all(|(a, b)| *a == b.as_slice());
    let replicas = progress.replication.map_or(0, |stats| stats.replicas);
    Ok(Run { seconds, replicas, exact })
}
