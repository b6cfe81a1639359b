//! A large matrix product through a swarm of native worker processes, against one process
//! computing the same product alone: the swarm's whole overhead (transfer, verification,
//! assembly) in one figure.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use ostrich_kernels::{matmul::matmul_tile, seeded};
use ostrich_protocol::{JobId, JobSpec, JobState, MatmulSpec, MatrixSource};
use serde::Serialize;

use crate::{api::Api, coordinator::Coordinator, swarm};

/// The seed of the operands; both sides generate the same matrices.
const SEED: u64 = 2048;

/// What the comparison measured.
#[derive(Debug, Serialize)]
pub struct MatmulReport {
    /// Runs of each side; the fastest of each counts, the one least disturbed by the
    /// other tenants of the machine.
    pub repeats: u32,
    /// Matrix edge.
    pub size: u32,
    /// Output tile edge of the swarm job.
    pub tile: u32,
    /// Worker processes.
    pub workers: u32,
    /// Compute threads per worker.
    pub threads_per_worker: u32,
    /// One process with `workers × threads_per_worker` threads, seconds.
    pub single_s: f64,
    /// Through the swarm, submission to verified and assembled result, seconds.
    pub swarm_s: f64,
    /// swarm_s / single_s.
    pub ratio: f64,
    /// CPU seconds the coordinator spent on the fastest swarm run (all threads): operands,
    /// frames, Freivalds' checks, assembly, the store.
    pub coordinator_cpu_s: f64,
    /// CPU seconds the worker processes spent on the fastest swarm run: frames and products.
    pub workers_cpu_s: f64,
    /// Bytes of operands sent to the workers and of tiles sent back, per run: each task
    /// carries its `tile`×k panel of A and k×`tile` panel of B, and returns a tile.
    pub payload_bytes: f64,
    /// Largest difference between the swarm's result and the single process's.
    pub max_abs_error: f64,
}

/// The operands of a seeded square product.
fn operands(size: usize) -> (Vec<f32>, Vec<f32>) {
    (
        seeded::seeded_matrix(SEED, seeded::STREAM_A, size * size),
        seeded::seeded_matrix(SEED, seeded::STREAM_B, size * size),
    )
}

/// The product computed by one process: each of `threads` threads takes a band of rows.
pub fn single_process(a: &[f32], b: &[f32], size: usize, threads: usize) -> Vec<f32> {
    let band = size.div_ceil(threads.max(1));
    let bands: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..size)
            .step_by(band)
            .map(|row| {
                let rows = band.min(size - row);
                let a = &a[row * size..(row + rows) * size];
                scope.spawn(move || matmul_tile(a, b, rows, size, size).unwrap_or_default())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    bands.concat()
}

/// Largest difference between `c` and the product the seeded spec describes, computed here.
pub fn max_abs_error(spec: &MatmulSpec, c: &[f32]) -> f64 {
    let MatrixSource::Seeded { seed } = spec.source else {
        return f64::NAN;
    };
    let (m, k, n) = (spec.m as usize, spec.k as usize, spec.n as usize);
    let a = seeded::seeded_matrix(seed, seeded::STREAM_A, m * k);
    let b = seeded::seeded_matrix(seed, seeded::STREAM_B, k * n);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let band = m.div_ceil(threads);
    let expected: Vec<f32> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..m)
            .step_by(band.max(1))
            .map(|row| {
                let rows = band.min(m - row);
                let (a, b) = (&a[row * k..(row + rows) * k], &b);
                scope.spawn(move || matmul_tile(a, b, rows, k, n).unwrap_or_default())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    max_diff(&expected, c)
}

fn max_diff(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter().zip(b).map(|(x, y)| f64::from((x - y).abs())).fold(0.0, f64::max)
}

/// Native worker processes, killed when dropped.
pub(crate) struct Workers(Vec<Child>);

impl Workers {
    /// Starts `count` `ostrich-worker` processes of `threads` threads each, joining with
    /// the invite `url`; their state files go to `state_dir`.
    pub(crate) fn start(worker_bin: &Path, url: &str, count: u32, threads: u32, state_dir: &Path) -> Result<Self> {
        let children = (0..count)
            .map(|i| {
                Command::new(worker_bin)
                    .args(["--join", url, "--threads", &threads.to_string(), "--name"])
                    .arg(format!("worker-{i}"))
                    .arg("--state-file")
                    .arg(state_dir.join(format!("worker-{i}.json")))
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .spawn()
                    .with_context(|| format!("cannot start {}", worker_bin.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self(children))
    }
}

impl Workers {
    /// CPU nanoseconds the worker processes have used so far (all threads).
    fn cpu_ns(&self) -> u64 {
        self.0.iter().filter_map(|child| crate::coordinator::usage(child.id())).map(|usage| usage.cpu_ns).sum()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Submits the product as a job and waits for its verified, assembled result; answers the
/// job and the seconds from submission to completion.
async fn swarm_job(api: &Api, size: u32, tile: u32) -> Result<(JobId, f64)> {
    let spec = MatmulSpec { m: size, k: size, n: size, tile, source: MatrixSource::Seeded { seed: SEED } };
    let started = Instant::now();
    let job = {
        let (api, spec) = (api.clone(), JobSpec::Matmul(spec));
        tokio::task::spawn_blocking(move || api.submit(&spec)).await??
    };
    let progress = swarm::job_ended(api, job, Duration::from_secs(600), Duration::from_millis(10)).await?;
    let seconds = started.elapsed().as_secs_f64();
    match progress.state {
        JobState::Completed => Ok((job, seconds)),
        other => bail!("the swarm job ended as {other:?}"),
    }
}

/// Runs the comparison: the single process `repeats` times, then the same product as a
/// job `repeats` times on a swarm of `workers` worker processes started from `worker_bin`.
pub async fn compare(
    coordinator: &Coordinator,
    worker_bin: &Path,
    size: u32,
    tile: u32,
    workers: u32,
    threads_per_worker: u32,
    repeats: u32,
) -> Result<MatmulReport> {
    let n = size as usize;
    let (a, b) = operands(n);
    let threads = (workers * threads_per_worker) as usize;
    let mut single = Vec::new();
    let mut single_s = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        single = single_process(&a, &b, n, threads);
        single_s = single_s.min(started.elapsed().as_secs_f64());
    }
    drop((a, b));

    let master = swarm::master(&coordinator.ws_url()).await?;
    let api = Api::new(&coordinator.base_url, &master.key);
    let invite = {
        let api = api.clone();
        tokio::task::spawn_blocking(move || api.invite()).await??
    };
    let state_dir = std::env::temp_dir().join(format!("ostrich-sim-{}", std::process::id()));
    std::fs::create_dir_all(&state_dir)?;
    let running = Workers::start(worker_bin, &invite.url, workers, threads_per_worker, &state_dir)?;
    swarm::wait_until(Duration::from_secs(60), "the workers to join", || {
        master.online.load(Ordering::Relaxed) > u64::from(workers)
    })
    .await?;
    let mut swarm_s = f64::INFINITY;
    let (mut job, mut coordinator_cpu_s, mut workers_cpu_s) = (0, 0.0, 0.0);
    let cpu_ns = || (coordinator.usage().map_or(0, |usage| usage.cpu_ns), running.cpu_ns());
    for _ in 0..repeats.max(1) {
        let before = cpu_ns();
        let (id, seconds) = swarm_job(&api, size, tile).await?;
        let after = cpu_ns();
        job = id;
        if seconds < swarm_s {
            swarm_s = seconds;
            coordinator_cpu_s = after.0.saturating_sub(before.0) as f64 / 1e9;
            workers_cpu_s = after.1.saturating_sub(before.1) as f64 / 1e9;
        }
    }
    let tiles = f64::from(size.div_ceil(tile)).powi(2);
    let payload_bytes = tiles * 4.0 * (2.0 * f64::from(tile) * f64::from(size) + f64::from(tile).powi(2));
    let npy = tokio::task::spawn_blocking(move || api.result(job)).await??;
    let (_, _, c) = ostrich_kernels::npy::decode_npy_f32(&npy).map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(MatmulReport {
        repeats,
        size,
        tile,
        workers,
        threads_per_worker,
        single_s,
        swarm_s,
        ratio: swarm_s / single_s,
        coordinator_cpu_s,
        workers_cpu_s,
        payload_bytes,
        max_abs_error: max_diff(&single, &c),
    })
}
