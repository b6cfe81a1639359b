//! Hostile sockets against a working swarm: an honest swarm computes a job of tiny tasks,
//! its rate is measured undisturbed, then a crowd of sockets attacks the coordinator and the
//! rate is measured again, while the coordinator's RSS is sampled throughout.
//!
//! Each hostile socket upgrades to a WebSocket from its own loopback address and, before
//! any hello, announces a binary frame of the protocol's largest size
//! ([`MAX_FRAME_BYTES`]), then streams payload as fast as it can until the coordinator
//! closes the connection (a close frame does not stop it); then it reconnects and tries again, until the attack ends. What bounds the
//! coordinator's memory is then the limit of an unadmitted socket (a hello-sized frame),
//! not the cap on unadmitted sockets per address, which the spread of addresses keeps
//! from binding.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Result, bail};
use ostrich_protocol::MAX_FRAME_BYTES;
use serde::Serialize;
use tokio::{
    io::AsyncWriteExt,
    sync::{Semaphore, watch},
    time::{Instant, MissedTickBehavior, interval, sleep, sleep_until, timeout},
};

use crate::{
    api::Api,
    coordinator::{Coordinator, rss_bytes},
    device::{self, Behaviour, Counters, Phase},
    raw::{self, Refused},
    swarm::{self, Scenario, blocking, device_mix, wait_until},
};

/// Bytes a hostile socket writes per call.
const CHUNK_BYTES: usize = 64 * 1024;

/// How long a hostile socket that can no longer write waits for the end of the connection
/// (and the close frame before it).
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// How often the coordinator's RSS is sampled.
const RSS_EVERY: Duration = Duration::from_millis(50);

/// The attack and the swarm it disturbs.
#[derive(Debug, Clone)]
pub struct Attack {
    /// Hostile sockets attacking at once.
    pub sockets: usize,
    /// Hostile sockets per source address (127.0.x.y): keep it under the coordinator's cap
    /// on unadmitted sockets per address, so that the cap is not what stops them.
    pub per_address: usize,
    /// Honest devices.
    pub devices: usize,
    /// Tasks each honest device keeps in flight.
    pub slots: u32,
    /// How long each task takes an honest device.
    pub task_time: Duration,
    /// Each measuring window: undisturbed, then under attack.
    pub window: Duration,
    /// Time from the attack's start to its measuring window, for every socket to be at it.
    pub settle: Duration,
    /// Time from the attack's end to the last RSS reading, for the coordinator to close what
    /// is left of the hostile sockets (its hello deadline is 5 s).
    pub after: Duration,
    /// Honest devices connecting at once (from 127.0.0.1, so under the per-address cap).
    pub connect_concurrency: usize,
}

/// What the attack did to the coordinator and the swarm.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Hostile sockets attacking at once.
    pub sockets: usize,
    /// Source addresses they came from.
    pub addresses: usize,
    /// Honest devices, and those welcomed.
    pub devices: usize,
    /// See `devices`.
    pub connected: u64,
    /// Coordinator RSS before anything connected, bytes.
    pub rss_idle: u64,
    /// Coordinator RSS with the honest swarm busy, just before the attack, bytes.
    pub rss_before_attack: u64,
    /// Largest coordinator RSS sampled (every 50 ms) while the attack ran, bytes.
    pub rss_peak_under_attack: u64,
    /// `rss_peak_under_attack − rss_idle`, bytes.
    pub rss_delta: u64,
    /// Coordinator RSS some seconds after the attack ended, bytes.
    pub rss_after_attack: u64,
    /// Verified tasks per second of the honest swarm, undisturbed.
    pub honest_tasks_per_s: f64,
    /// The same, under attack.
    pub attacked_tasks_per_s: f64,
    /// `attacked_tasks_per_s / honest_tasks_per_s`.
    pub ratio: f64,
    /// Coordinator CPU use, in cores, undisturbed and under attack.
    pub cpu_cores_undisturbed: f64,
    /// See `cpu_cores_undisturbed`.
    pub cpu_cores_attacked: f64,
    /// Seconds the attack ran.
    pub attack_s: f64,
    /// Connection attempts of the hostile sockets.
    pub attempts: u64,
    /// Attempts after the first of each socket.
    pub reconnects: u64,
    /// Attempts that were upgraded to a WebSocket.
    pub upgraded: u64,
    /// Close codes the coordinator answered with, and how often.
    pub close_codes: BTreeMap<u16, u64>,
    /// Upgraded sockets that ended without a close frame.
    pub ended_without_close: u64,
    /// Upgrades refused with 429 (the cap on unadmitted sockets per address).
    pub refused_429: u64,
    /// Upgrades refused with another status.
    pub refused_other: u64,
    /// Attempts whose connection failed before an answer.
    pub connect_errors: u64,
    /// Payload bytes the hostile sockets managed to write (into the kernel's buffers).
    pub bytes_written: u64,
    /// Mean time from the upgrade to the end of an attempt, ms.
    pub attempt_ms: f64,
    /// Hostile sockets upgraded and attacking at once: the mean and the largest sampled.
    pub open_mean: f64,
    /// See `open_mean`.
    pub open_max: u64,
}

/// What the hostile sockets count together.
#[derive(Default)]
struct Tally {
    attempts: AtomicU64,
    upgraded: AtomicU64,
    close_codes: Mutex<BTreeMap<u16, u64>>,
    ended_without_close: AtomicU64,
    refused_429: AtomicU64,
    refused_other: AtomicU64,
    connect_errors: AtomicU64,
    bytes_written: AtomicU64,
    attempt_us: AtomicU64,
    open: AtomicU64,
}

/// The source address of hostile socket `index`: 127.0.x.y from 127.0.1.1 on, skipping
/// the network and broadcast-looking .0 and .255.
fn source(index: usize, per_address: usize) -> IpAddr {
    let address = index / per_address.max(1);
    let (x, y) = (1 + address / 254, 1 + address % 254);
    IpAddr::V4(Ipv4Addr::new(127, 0, x.min(255) as u8, y as u8))
}

/// One hostile socket: attempts until `end`.
async fn attacker(server: SocketAddr, from: IpAddr, end: Instant, tally: Arc<Tally>) {
    let header = raw::header(0x2, true, MAX_FRAME_BYTES as u64);
    let chunk = vec![0u8; CHUNK_BYTES];
    while Instant::now() < end {
        tally.attempts.fetch_add(1, Ordering::Relaxed);
        // An attempt cut short by the end of the attack is not counted as an outcome.
        let _ = tokio::time::timeout_at(end, attempt(server, from, &header, &chunk, &tally)).await;
    }
}

/// One connection: upgrade, announce the largest frame, stream payload until closed.
async fn attempt(server: SocketAddr, from: IpAddr, header: &[u8], chunk: &[u8], tally: &Tally) {
    let (mut stream, rest) = match raw::upgrade(server, from).await {
        Ok(upgraded) => upgraded,
        Err(refused) => {
            let counter = match refused {
                Refused::Status(429) => &tally.refused_429,
                Refused::Status(_) => &tally.refused_other,
                Refused::Io(_) => &tally.connect_errors,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            // Refused before it could attack: try again soon, without spinning.
            sleep(Duration::from_millis(10)).await;
            return;
        }
    };
    let upgraded = Instant::now();
    tally.upgraded.fetch_add(1, Ordering::Relaxed);
    tally.open.fetch_add(1, Ordering::Relaxed);
    let _open = Defer(|| tally.open.fetch_sub(1, Ordering::Relaxed));
    let (mut reader, mut writer) = stream.split();
    // The close frame is noted, but a hostile socket does not stop for it: it writes until
    // the connection itself is closed.
    let closed = raw::closed(&mut reader, rest);
    tokio::pin!(closed);
    let mut code = None;
    let mut ended = false;
    if writer.write_all(header).await.is_ok() {
        loop {
            tokio::select! {
                biased;
                seen = &mut closed => {
                    (code, ended) = (seen, true);
                    break;
                }
                written = writer.write(chunk) => match written {
                    Ok(0) | Err(_) => break,
                    Ok(written) => {
                        tally.bytes_written.fetch_add(written as u64, Ordering::Relaxed);
                    }
                },
            }
        }
    }
    if !ended {
        code = timeout(CLOSE_GRACE, &mut closed).await.ok().flatten();
    }
    match code {
        Some(code) => {
            *tally.close_codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(code).or_default() += 1
        }
        None => {
            tally.ended_without_close.fetch_add(1, Ordering::Relaxed);
        }
    }
    tally.attempt_us.fetch_add(upgraded.elapsed().as_micros() as u64, Ordering::Relaxed);
}

/// Runs `f` when dropped.
struct Defer<F: FnMut() -> u64>(F);

impl<F: FnMut() -> u64> Drop for Defer<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Verified tasks per second and coordinator CPU cores over `window`, from the progress
/// the coordinator pushes to the master.
async fn measure(coordinator: &Coordinator, master: &swarm::Master, window: Duration) -> Result<(f64, f64)> {
    let verified = || master.verified.load(Ordering::Relaxed);
    let cpu = || coordinator.usage().unwrap_or_default().cpu_ns;
    let (v0, c0, t0) = (verified(), cpu(), Instant::now());
    sleep(window).await;
    let (v1, c1, seconds) = (verified(), cpu(), t0.elapsed().as_secs_f64());
    if !master.running.load(Ordering::Relaxed) {
        bail!("the honest swarm's job ended inside a measuring window; give it more tasks");
    }
    Ok((v1.saturating_sub(v0) as f64 / seconds, c1.saturating_sub(c0) as f64 / 1e9 / seconds))
}

/// Runs the attack against `coordinator` and reports.
pub async fn run(coordinator: &Coordinator, attack: &Attack) -> Result<Report> {
    let server = coordinator.socket_addr()?;
    let pid = coordinator.pid();
    let rss = move || pid.and_then(rss_bytes).unwrap_or(0);
    let rss_idle = rss();

    // The honest swarm: a master and `devices` workers on a job of tiny tasks.
    let url = coordinator.ws_url();
    let master = swarm::master(&url).await?;
    let api = Api::new(&coordinator.base_url, &master.key);
    let token = {
        let api = api.clone();
        blocking(move || api.invite()).await?.token
    };
    let (phase_tx, phase) = watch::channel(Phase::Idle);
    let counters = Arc::new(Counters::default());
    let context = device::Context {
        url,
        token,
        phase,
        record: watch::channel(false).1,
        counters: counters.clone(),
        gate: Arc::new(Semaphore::new(attack.connect_concurrency.max(1))),
    };
    let specs = device_mix(attack.devices, attack.slots, attack.task_time, |_| Behaviour::Honest);
    let devices: Vec<_> = specs.into_iter().map(|spec| tokio::spawn(device::run(spec, context.clone()))).collect();
    let n = attack.devices as u64;
    wait_until(Duration::from_secs(30 + n / 100), "every honest device to register", || {
        counters.connected.load(Ordering::Relaxed) + counters.connect_failures.load(Ordering::Relaxed) >= n
    })
    .await?;
    let connected = counters.connected.load(Ordering::Relaxed);
    let job = {
        let api = api.clone();
        blocking(move || api.submit(&Scenario::tiny_tasks(1 << 20))).await?
    };
    phase_tx.send_replace(Phase::Busy);
    let submitted = Instant::now();
    wait_until(Duration::from_secs(30), "the first verified results", || {
        master.verified.load(Ordering::Relaxed) > 0 && submitted.elapsed() > attack.settle
    })
    .await?;
    let (honest, cpu_undisturbed) = measure(coordinator, &master, attack.window).await?;
    let rss_before_attack = rss();

    // The attack, on a runtime of its own: the hostile sockets are other machines, and
    // must not queue in front of the honest devices on the simulator's threads.
    let attackers =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("hostile").enable_all().build()?;
    let tally = Arc::new(Tally::default());
    let peak = Arc::new(AtomicU64::new(rss_before_attack));
    let open_samples = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)));
    let started = Instant::now();
    let end = started + attack.settle + attack.window;
    let sampler = {
        let (peak, tally, open) = (peak.clone(), tally.clone(), open_samples.clone());
        tokio::spawn(async move {
            let mut tick = interval(RSS_EVERY);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            while Instant::now() < end {
                tick.tick().await;
                peak.fetch_max(rss(), Ordering::Relaxed);
                let now = tally.open.load(Ordering::Relaxed);
                open.0.fetch_add(now, Ordering::Relaxed);
                open.1.fetch_add(1, Ordering::Relaxed);
                open.2.fetch_max(now, Ordering::Relaxed);
            }
        })
    };
    let hostile: Vec<_> = (0..attack.sockets)
        .map(|i| attackers.spawn(attacker(server, source(i, attack.per_address), end, tally.clone())))
        .collect();
    sleep_until(started + attack.settle).await;
    let measured = measure(coordinator, &master, attack.window).await;
    for socket in hostile {
        socket.await?;
    }
    sampler.await?;
    let attack_s = started.elapsed().as_secs_f64();
    attackers.shutdown_background();
    let (attacked, cpu_attacked) = measured?;
    sleep(attack.after).await;
    let rss_after_attack = rss();

    phase_tx.send_replace(Phase::Stop);
    for device in devices {
        device.await?;
    }
    {
        let api = api.clone();
        let _ = blocking(move || api.delete(job)).await;
    }
    let rss_peak_under_attack = peak.load(Ordering::Relaxed);
    let attempts = tally.attempts.load(Ordering::Relaxed);
    let upgraded = tally.upgraded.load(Ordering::Relaxed);
    let (open_sum, open_count, open_max) = (
        open_samples.0.load(Ordering::Relaxed),
        open_samples.1.load(Ordering::Relaxed),
        open_samples.2.load(Ordering::Relaxed),
    );
    let close_codes = tally.close_codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    Ok(Report {
        sockets: attack.sockets,
        addresses: attack.sockets.div_ceil(attack.per_address.max(1)),
        devices: attack.devices,
        connected,
        rss_idle,
        rss_before_attack,
        rss_peak_under_attack,
        rss_delta: rss_peak_under_attack.saturating_sub(rss_idle),
        rss_after_attack,
        honest_tasks_per_s: honest,
        attacked_tasks_per_s: attacked,
        ratio: if honest > 0.0 { attacked / honest } else { 0.0 },
        cpu_cores_undisturbed: cpu_undisturbed,
        cpu_cores_attacked: cpu_attacked,
        attack_s,
        attempts,
        reconnects: attempts.saturating_sub(attack.sockets as u64),
        upgraded,
        close_codes,
        ended_without_close: tally.ended_without_close.load(Ordering::Relaxed),
        refused_429: tally.refused_429.load(Ordering::Relaxed),
        refused_other: tally.refused_other.load(Ordering::Relaxed),
        connect_errors: tally.connect_errors.load(Ordering::Relaxed),
        bytes_written: tally.bytes_written.load(Ordering::Relaxed),
        attempt_ms: tally.attempt_us.load(Ordering::Relaxed) as f64 / 1000.0 / upgraded.max(1) as f64,
        open_mean: open_sum as f64 / open_count.max(1) as f64,
        open_max,
    })
}

#[cfg(test)]
mod tests {
    use super::source;

    #[test]
    fn sources_spread_over_loopback_addresses() {
        assert_eq!(source(0, 1).to_string(), "127.0.1.1");
        assert_eq!(source(253, 1).to_string(), "127.0.1.254");
        assert_eq!(source(254, 1).to_string(), "127.0.2.1");
        assert_eq!(source(999, 1).to_string(), "127.0.4.238");
        assert_eq!(source(7, 4).to_string(), "127.0.1.2");
    }
}
