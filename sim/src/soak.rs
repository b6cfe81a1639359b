//! A long run at steady state: thousands of devices computing job after job for minutes,
//! some of them dropping their connection and rejoining with their resume credential, and
//! brand-new devices joining and leaving for good, while the coordinator's RSS is sampled.
//! Jobs are submitted one after another and deleted once completed, as a user would (a
//! completed job's result is kept until it is deleted, so keeping them would grow memory
//! legitimately). After a warm-up, RSS should stay flat.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Result;
use ostrich_protocol::{JobId, JobState};
use serde::Serialize;
use tokio::{
    sync::{Semaphore, watch},
    task::JoinSet,
    time::{Instant, MissedTickBehavior, interval, sleep_until},
};

use crate::{
    api::Api,
    coordinator::Coordinator,
    device::{self, Behaviour, Counters, DeviceSpec, Phase},
    swarm::{self, Scenario, blocking, device_mix, wait_until},
};

/// How often the jobs are polled (and completed ones replaced).
const JOB_POLL: Duration = Duration::from_secs(1);

/// How often a fresh invite is minted for the devices that join for the first time (an
/// invite lasts 15 minutes).
const INVITE_EVERY: Duration = Duration::from_secs(300);

/// What to run.
#[derive(Debug, Clone)]
pub struct Soak {
    /// Devices that stay (the churners among them drop and rejoin).
    pub devices: usize,
    /// How long the run lasts once every device has registered.
    pub duration: Duration,
    /// The first part of the run, left out of the growth figures.
    pub warmup: Duration,
    /// Tasks each device keeps in flight.
    pub slots: u32,
    /// How long each task takes a device.
    pub task_time: Duration,
    /// Fraction of the devices that drop their connection and rejoin, again and again.
    pub churners: f64,
    /// Mean time a churner stays online between drops.
    pub online: Duration,
    /// Mean time a churner stays away before rejoining.
    pub away: Duration,
    /// Brand-new devices online at any time, each replaced by another when it leaves.
    pub transients: usize,
    /// Mean time a brand-new device stays before leaving for good.
    pub transient_life: Duration,
    /// Tasks per job.
    pub job_tasks: u32,
    /// Jobs submitted ahead, so the devices do not wait between jobs.
    pub jobs_ahead: usize,
    /// How often RSS is sampled.
    pub sample_every: Duration,
    /// Devices connecting at once.
    pub connect_concurrency: usize,
}

/// One sample of the run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Sample {
    /// Seconds since the run started (every device registered).
    pub t_s: f64,
    /// Coordinator RSS, bytes.
    pub rss: u64,
    /// Devices with a welcomed session (the master not counted).
    pub online: u64,
    /// Tasks verified since the run started.
    pub verified: u64,
    /// Coordinator CPU since the previous sample, in cores.
    pub cpu_cores: f64,
    /// The simulator's own CPU since the previous sample, in cores.
    pub sim_cpu_cores: f64,
    /// Bytes of the coordinator's store on disk.
    pub store_bytes: u64,
}

/// What the run measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Devices that stay, and how many of them churn.
    pub devices: usize,
    /// See `devices`.
    pub churners: usize,
    /// Brand-new devices online at any time.
    pub transients: usize,
    /// Seconds the run lasted, and of them the warm-up.
    pub run_s: f64,
    /// See `run_s`.
    pub warmup_s: f64,
    /// Seconds until every device had registered.
    pub register_s: f64,
    /// Coordinator RSS before any device connected, bytes.
    pub rss_start: u64,
    /// Coordinator RSS with every device registered, before the first job, bytes.
    pub rss_registered: u64,
    /// Coordinator RSS at the end of the warm-up, bytes.
    pub rss_warmup: u64,
    /// Smallest and largest RSS sampled after the warm-up, bytes.
    pub rss_min: u64,
    /// See `rss_min`.
    pub rss_max: u64,
    /// Coordinator RSS at the end of the run, bytes.
    pub rss_end: u64,
    /// (rss_end − rss_warmup) / rss_warmup, percent.
    pub growth_end_pct: f64,
    /// (rss_max − rss_warmup) / rss_warmup, percent.
    pub growth_max_pct: f64,
    /// Least-squares slope of RSS over the samples after the warm-up, MB per minute.
    pub slope_mb_per_min: f64,
    /// Tasks verified during the run, and per second after the warm-up.
    pub tasks_verified: u64,
    /// See `tasks_verified`.
    pub tasks_per_s: f64,
    /// Jobs that completed (and were deleted), and jobs that failed.
    pub jobs_completed: u64,
    /// See `jobs_completed`.
    pub jobs_failed: u64,
    /// Rejoins with a resume credential after a drop.
    pub rejoins: u64,
    /// Brand-new devices that joined during the run, and those that left for good.
    pub new_devices: u64,
    /// See `new_devices`.
    pub left: u64,
    /// Sessions the coordinator closed, and joins that failed.
    pub closed_by_coordinator: u64,
    /// See `closed_by_coordinator`.
    pub connect_failures: u64,
    /// Fewest and mean devices online after the warm-up.
    pub online_min: u64,
    /// See `online_min`.
    pub online_mean: f64,
    /// Mean coordinator CPU after the warm-up, in cores.
    pub cpu_cores: f64,
    /// Every sample.
    pub samples: Vec<Sample>,
}

/// Keeps `jobs_ahead` jobs submitted until `end`, deleting each once it has ended.
/// Answers jobs completed and failed; `verified` follows the tasks verified.
async fn jobs(
    api: Api,
    soak: Soak,
    end: Instant,
    verified: Arc<AtomicU64>,
    token: watch::Sender<String>,
) -> Result<(u64, u64)> {
    let spec = Scenario::tiny_tasks(soak.job_tasks);
    let (mut completed, mut failed, mut done) = (0, 0, 0u64);
    let mut queue: Vec<JobId> = Vec::new();
    let mut minted = Instant::now();
    let mut tick = interval(JOB_POLL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while Instant::now() < end {
        tick.tick().await;
        while queue.len() < soak.jobs_ahead.max(1) {
            let (api, spec) = (api.clone(), spec.clone());
            queue.push(blocking(move || api.submit(&spec)).await?);
        }
        let mut running = 0;
        let mut still = Vec::new();
        for job in queue.drain(..) {
            let reader = api.clone();
            let progress = blocking(move || reader.job(job)).await?;
            match progress.state {
                JobState::Running => {
                    running += u64::from(progress.tasks_verified);
                    still.push(job);
                    continue;
                }
                JobState::Completed => completed += 1,
                _ => failed += 1,
            }
            done += u64::from(progress.tasks_verified);
            let deleter = api.clone();
            blocking(move || deleter.delete(job)).await?;
        }
        queue = still;
        verified.store(done + running, Ordering::Relaxed);
        if minted.elapsed() >= INVITE_EVERY {
            let minter = api.clone();
            token.send_replace(blocking(move || minter.invite()).await?.token);
            minted = Instant::now();
        }
    }
    Ok((completed, failed))
}

/// Keeps `soak.transients` brand-new devices online until `end`: each joins with the
/// current invite, stays about `transient_life` and leaves for good, and another takes its
/// place.
async fn transients(soak: Soak, context: device::Context, token: watch::Receiver<String>, end: Instant) -> u64 {
    let mut set = JoinSet::new();
    let mut joined = 0;
    let spawn = |set: &mut JoinSet<_>| {
        let life = soak.transient_life.mul_f64(0.5 + rand::random::<f64>());
        let spec = DeviceSpec {
            behaviour: Behaviour::Transient { life },
            cores: 2,
            gpu: false,
            ops_score: 5000,
            slots: soak.slots,
            lanes: 0,
            task_time: soak.task_time,
        };
        let context = device::Context { token: token.borrow().clone(), ..context.clone() };
        set.spawn(device::run(spec, context));
    };
    for _ in 0..soak.transients {
        spawn(&mut set);
        joined += 1;
    }
    loop {
        tokio::select! {
            () = sleep_until(end) => break,
            Some(_) = set.join_next() => {
                spawn(&mut set);
                joined += 1;
            }
        }
    }
    // The scenario's Stop ends the devices still online.
    while set.join_next().await.is_some() {}
    joined
}

/// Runs the soak against `coordinator` and reports.
pub async fn run(coordinator: &Coordinator, soak: &Soak) -> Result<Report> {
    let usage = || coordinator.usage().unwrap_or_default();
    let rss_start = usage().rss_bytes;
    let url = coordinator.ws_url();
    let master = swarm::master(&url).await?;
    let api = Api::new(&coordinator.base_url, &master.key);
    let invite = {
        let api = api.clone();
        blocking(move || api.invite()).await?.token
    };
    let (token_tx, token) = watch::channel(invite.clone());
    // Devices ask for work as soon as they are welcomed; the jobs come later.
    let (phase_tx, phase) = watch::channel(Phase::Busy);
    let counters = Arc::new(Counters::default());
    let context = device::Context {
        url,
        token: invite,
        phase,
        record: watch::channel(false).1,
        counters: counters.clone(),
        gate: Arc::new(Semaphore::new(soak.connect_concurrency.max(1))),
    };
    let churners = ((soak.devices as f64) * soak.churners).round() as usize;
    let specs = device_mix(soak.devices, soak.slots, soak.task_time, |i| {
        if i < churners { Behaviour::Churner { every: soak.online, away: soak.away } } else { Behaviour::Honest }
    });
    let registering = Instant::now();
    let devices: Vec<_> = specs.into_iter().map(|spec| tokio::spawn(device::run(spec, context.clone()))).collect();
    let n = soak.devices as u64;
    wait_until(Duration::from_secs(60 + n / 50), "every device to register", || {
        let first_joins =
            counters.joined.load(Ordering::Relaxed).saturating_sub(counters.rejoins.load(Ordering::Relaxed));
        first_joins + counters.connect_failures.load(Ordering::Relaxed) >= n
    })
    .await?;
    let register_s = registering.elapsed().as_secs_f64();
    let rss_registered = usage().rss_bytes;

    let started = Instant::now();
    let end = started + soak.duration;
    let verified = Arc::new(AtomicU64::new(0));
    let job_loop = tokio::spawn(jobs(api.clone(), soak.clone(), end, verified.clone(), token_tx));
    let newcomers = tokio::spawn(transients(soak.clone(), context.clone(), token, end));
    let mut samples = Vec::new();
    let mut tick = interval(soak.sample_every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let own = || crate::coordinator::usage(std::process::id()).unwrap_or_default();
    let (mut last, mut last_own, mut last_at) = (usage(), own(), Instant::now());
    loop {
        tick.tick().await;
        let (now, now_own) = (usage(), own());
        let elapsed = last_at.elapsed().as_secs_f64().max(1e-9);
        let cores = |now: u64, then: u64| now.saturating_sub(then) as f64 / 1e9 / elapsed;
        samples.push(Sample {
            t_s: started.elapsed().as_secs_f64(),
            rss: now.rss_bytes,
            online: counters.connected.load(Ordering::Relaxed),
            verified: verified.load(Ordering::Relaxed),
            cpu_cores: cores(now.cpu_ns, last.cpu_ns),
            sim_cpu_cores: cores(now_own.cpu_ns, last_own.cpu_ns),
            store_bytes: coordinator.store_bytes().unwrap_or(0),
        });
        (last, last_own, last_at) = (now, now_own, Instant::now());
        if Instant::now() >= end {
            break;
        }
    }
    let run_s = started.elapsed().as_secs_f64();
    let (jobs_completed, jobs_failed) = job_loop.await??;
    phase_tx.send_replace(Phase::Stop);
    let new_devices = newcomers.await?;
    for device in devices {
        device.await?;
    }

    let warmup_s = soak.warmup.as_secs_f64();
    let steady: Vec<Sample> = samples.iter().copied().filter(|s| s.t_s >= warmup_s).collect();
    let first = steady.first().copied().unwrap_or_default();
    let last = steady.last().copied().unwrap_or_default();
    let rss_warmup = first.rss;
    let rss_max = steady.iter().map(|s| s.rss).max().unwrap_or(0);
    let rss_min = steady.iter().map(|s| s.rss).min().unwrap_or(0);
    let pct = |value: u64| {
        if rss_warmup == 0 { 0.0 } else { (value as f64 - rss_warmup as f64) / rss_warmup as f64 * 100.0 }
    };
    let seconds = (last.t_s - first.t_s).max(1e-9);
    let online: Vec<u64> = steady.iter().map(|s| s.online).collect();
    Ok(Report {
        devices: soak.devices,
        churners,
        transients: soak.transients,
        run_s,
        warmup_s,
        register_s,
        rss_start,
        rss_registered,
        rss_warmup,
        rss_min,
        rss_max,
        rss_end: last.rss,
        growth_end_pct: pct(last.rss),
        growth_max_pct: pct(rss_max),
        slope_mb_per_min: slope(&steady) * 60.0 / 1e6,
        tasks_verified: samples.last().map_or(0, |s| s.verified),
        tasks_per_s: last.verified.saturating_sub(first.verified) as f64 / seconds,
        jobs_completed,
        jobs_failed,
        rejoins: counters.rejoins.load(Ordering::Relaxed),
        new_devices,
        left: counters.left.load(Ordering::Relaxed),
        closed_by_coordinator: counters.closed_by_coordinator.load(Ordering::Relaxed),
        connect_failures: counters.connect_failures.load(Ordering::Relaxed),
        online_min: online.iter().copied().min().unwrap_or(0),
        online_mean: online.iter().sum::<u64>() as f64 / online.len().max(1) as f64,
        cpu_cores: steady.iter().map(|s| s.cpu_cores).sum::<f64>() / steady.len().max(1) as f64,
        samples,
    })
}

/// The least-squares slope of RSS against time, bytes per second.
fn slope(samples: &[Sample]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.t_s).sum::<f64>() / n;
    let mean_r = samples.iter().map(|s| s.rss as f64).sum::<f64>() / n;
    let covariance: f64 = samples.iter().map(|s| (s.t_s - mean_t) * (s.rss as f64 - mean_r)).sum();
    let variance: f64 = samples.iter().map(|s| (s.t_s - mean_t).powi(2)).sum();
    if variance == 0.0 { 0.0 } else { covariance / variance }
}

#[cfg(test)]
mod tests {
    use super::{Sample, slope};

    #[test]
    fn the_slope_of_a_line_is_its_rate() {
        let samples: Vec<Sample> =
            (0..10).map(|i| Sample { t_s: f64::from(i), rss: 1000 + 50 * i as u64, ..Sample::default() }).collect();
        assert!((slope(&samples) - 50.0).abs() < 1e-9);
        assert_eq!(slope(&samples[..1]), 0.0);
    }
}
