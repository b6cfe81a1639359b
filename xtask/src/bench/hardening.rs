//! The `hostile` and `soak` parts: the simulator's `hostile` mode (sockets announcing the
//! largest frame before their hello, against an honest swarm) and its `soak` mode (10 000
//! devices for 10 minutes with churn and jobs), against the release coordinator.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::{
    Row, Section,
    swarm::{build, num, sim},
};

/// Megabytes (10⁶ bytes) of a figure in bytes.
fn mb(report: &Value, path: &str) -> f64 {
    num(report, path) / 1e6
}

/// The machine's load average over the last minute, from `/proc/loadavg`: other work on the
/// machine shows in it.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// 1 000 hostile sockets against an honest swarm of 100 devices.
pub fn hostile(root: &Path) -> Result<Section> {
    build(root)?;
    let load_before = load();
    let report = sim(root, &["hostile", "--sockets", "1000", "--devices", "100", "--slots", "4", "--task-ms", "20"])?;
    let load_after = load();
    let delta = mb(&report, "rss_delta");
    let ratio = num(&report, "ratio");
    let codes = report["close_codes"].as_object().cloned().unwrap_or_default();
    let code = |code: &str| codes.get(code).and_then(Value::as_u64).unwrap_or(0);
    let others: Vec<String> =
        codes.iter().filter(|(c, _)| c.as_str() != "1009").map(|(c, n)| format!("{c}: {n}")).collect();
    let rows = vec![
        Row::info("Coordinator RSS idle (started, nothing connected)", format!("{:.1} MB", mb(&report, "rss_idle"))),
        Row::info(
            "RSS with the honest swarm busy, before the attack",
            format!("{:.1} MB", mb(&report, "rss_before_attack")),
        ),
        Row::info(
            "Peak RSS under attack (sampled every 50 ms)",
            format!("{:.1} MB", mb(&report, "rss_peak_under_attack")),
        ),
        Row::target("Peak RSS under attack above idle", format!("{delta:.1} MB"), "< 200 MB", delta < 200.0),
        Row::info(
            "RSS the attack added (peak − before it), per hostile socket open at once (largest)",
            format!(
                "{:.0} KB",
                (num(&report, "rss_peak_under_attack") - num(&report, "rss_before_attack")).max(0.0)
                    / num(&report, "open_max").max(1.0)
                    / 1000.0
            ),
        ),
        Row::info("RSS 6 s after the attack ended", format!("{:.1} MB", mb(&report, "rss_after_attack"))),
        Row::info(
            "Honest swarm undisturbed: verified tasks per second",
            format!("{:.0} /s", num(&report, "honest_tasks_per_s")),
        ),
        Row::info(
            "Honest swarm under attack: verified tasks per second",
            format!("{:.0} /s", num(&report, "attacked_tasks_per_s")),
        ),
        Row::target("Under attack / undisturbed", format!("{ratio:.2}×"), "≥ 0.5×", ratio >= 0.5),
        Row::info(
            "Coordinator CPU, undisturbed / under attack",
            format!("{:.2} / {:.2} cores", num(&report, "cpu_cores_undisturbed"), num(&report, "cpu_cores_attacked")),
        ),
        Row::info(
            "Hostile sockets / source addresses",
            format!("{} / {}", num(&report, "sockets"), num(&report, "addresses")),
        ),
        Row::info(
            "Attempts (reconnects) in the attack's seconds",
            format!(
                "{} ({}) in {:.1} s",
                num(&report, "attempts"),
                num(&report, "reconnects"),
                num(&report, "attack_s")
            ),
        ),
        Row::info(
            "Hostile sockets upgraded and attacking at once, mean / largest",
            format!("{:.0} / {}", num(&report, "open_mean"), num(&report, "open_max")),
        ),
        Row::info("Closed with 1009 (frame too big) by the coordinator", format!("{}", code("1009"))),
        Row::info(
            "Other close codes; ended without a close frame",
            format!(
                "{}; {}",
                if others.is_empty() { "none".to_string() } else { others.join(", ") },
                num(&report, "ended_without_close")
            ),
        ),
        Row::info(
            "Upgrades refused with 429 / another status; connections that failed",
            format!(
                "{} / {}; {}",
                num(&report, "refused_429"),
                num(&report, "refused_other"),
                num(&report, "connect_errors")
            ),
        ),
        Row::info(
            "Payload the hostile sockets wrote (into the kernel's buffers)",
            format!("{:.1} GB", mb(&report, "bytes_written") / 1000.0),
        ),
        Row::info(
            "Mean time from the upgrade to the end of an attempt",
            format!("{:.1} ms", num(&report, "attempt_ms")),
        ),
        Row::info(
            "Machine load average (1 min) before / after, other work included",
            format!("{load_before} / {load_after}"),
        ),
    ];
    Ok(Section {
        title: "Hostile sockets".into(),
        intro: "`ostrich-sim hostile` starts the release coordinator (store on, the shipped cap of 64 unadmitted \
                sockets per address) and an honest swarm of 100 devices (4 tasks in flight, 20 ms per 4×4 matmul \
                tile) on a job of a million tiles, and measures the swarm's verified tasks per second over 10 s. \
                Then 1 000 hostile sockets, each from its own address 127.0.x.y (so the per-address cap does not \
                bind), upgrade to a WebSocket and, before any hello, announce a binary frame of 64 MiB (the \
                protocol's largest) and stream zeros as fast as they can until the coordinator closes the \
                connection (a close frame does not stop them); then they reconnect and do it again, for 3 s of \
                settling and a 10 s window in which the rate is measured again. The coordinator's RSS is sampled \
                every 50 ms throughout. The hostile sockets run on threads of their own in the simulator's \
                process; all of it shares the machine's 2 cores."
            .into(),
        rows,
        notes: vec![
            "Every socket refused before its hello is shut for reading (`coordinator/src/session/socket.rs`): \
             the coordinator reads at most what the kernel already held for it, and the rest of what the \
             hostile sockets wrote stayed in the kernel's buffers of connections about to be closed. Most of \
             the slowdown left is CPU: the hostile sockets' own writing and \
             reconnecting, on the same 2 cores as the honest devices and the coordinator. The RSS before the \
             attack is mostly the honest job (its 4096×4096 result is filled as tiles are verified, so it \
             also grows during the attack); the attack adds the buffers of the sockets open at once \
             (actix-http's read and write buffers, the session and its writer task), and glibc keeps the \
             freed memory for reuse, hence the RSS after the attack."
                .into(),
        ],
    })
}

/// 10 000 devices for 10 minutes with churn, jobs one after another.
pub fn soak(root: &Path) -> Result<Section> {
    build(root)?;
    let load_before = load();
    let report = sim(root, &["soak", "--devices", "10000", "--minutes", "10", "--warmup-minutes", "2"])?;
    let load_after = load();
    let (end, max) = (num(&report, "growth_end_pct"), num(&report, "growth_max_pct"));
    let rows = vec![
        Row::info(
            "Devices: staying (of them churning) + brand-new at any time",
            format!("{} ({}) + {}", num(&report, "devices"), num(&report, "churners"), num(&report, "transients")),
        ),
        Row::info(
            "Run, of it warm-up (after every device registered)",
            format!("{:.0} s, {:.0} s", num(&report, "run_s"), num(&report, "warmup_s")),
        ),
        Row::info(
            "Coordinator RSS: idle / all devices registered",
            format!("{:.1} / {:.1} MB", mb(&report, "rss_start"), mb(&report, "rss_registered")),
        ),
        Row::info(
            "RSS at the end of the warm-up / smallest / largest after it / at the end",
            format!(
                "{:.1} / {:.1} / {:.1} / {:.1} MB",
                mb(&report, "rss_warmup"),
                mb(&report, "rss_min"),
                mb(&report, "rss_max"),
                mb(&report, "rss_end")
            ),
        ),
        Row::target("RSS growth, end against the end of the warm-up", format!("{end:+.2} %"), "≤ 5 %", end <= 5.0),
        Row::target("RSS growth, largest against the end of the warm-up", format!("{max:+.2} %"), "≤ 5 %", max <= 5.0),
        Row::info(
            "RSS trend after the warm-up (least squares)",
            format!("{:+.3} MB/min", num(&report, "slope_mb_per_min")),
        ),
        Row::info(
            "Tasks verified; per second after the warm-up",
            format!("{}; {:.0} /s", num(&report, "tasks_verified"), num(&report, "tasks_per_s")),
        ),
        Row::info(
            "Jobs completed and deleted / failed",
            format!("{} / {}", num(&report, "jobs_completed"), num(&report, "jobs_failed")),
        ),
        Row::info("Rejoins with a resume credential after a drop", format!("{}", num(&report, "rejoins"))),
        Row::info(
            "Brand-new devices joined / left for good",
            format!("{} / {}", num(&report, "new_devices"), num(&report, "left")),
        ),
        Row::info(
            "Sessions closed by the coordinator / joins that failed",
            format!("{} / {}", num(&report, "closed_by_coordinator"), num(&report, "connect_failures")),
        ),
        Row::info(
            "Devices online after the warm-up, fewest / mean",
            format!("{} / {:.0}", num(&report, "online_min"), num(&report, "online_mean")),
        ),
        Row::info(
            "Coordinator CPU / simulator CPU after the warm-up (mean)",
            format!("{:.2} / {:.2} cores", num(&report, "cpu_cores"), mean(&report, "sim_cpu_cores")),
        ),
        Row::info(
            "Store on disk after the warm-up, smallest / largest",
            format!(
                "{:.1} / {:.1} MB",
                extreme(&report, "store_bytes", f64::min) / 1e6,
                extreme(&report, "store_bytes", f64::max) / 1e6
            ),
        ),
        Row::info(
            "Machine load average (1 min) before / after, other work included",
            format!("{load_before} / {load_after}"),
        ),
    ];
    Ok(Section {
        title: "Soak: 10 000 devices for 10 minutes".into(),
        intro: "`ostrich-sim soak` starts the release coordinator (store on) and 10 000 devices, each keeping 2 \
                tasks of 1 s in flight. 5 % of them drop their connection without a close frame after a random \
                time online (exponential, mean 60 s), stay away about 2 s and rejoin with their resume \
                credential; 50 brand-new devices are online at any time, each joining with an invite, staying \
                about 30 s, leaving for good and replaced by another. A master keeps two jobs of 200 000 tiny \
                tasks submitted and deletes each once it has completed, as a user would. RSS is sampled every \
                5 s; the first 2 minutes are warm-up. All of it shares the machine's 2 cores."
            .into(),
        rows,
        notes: vec![rss_by_minute(&report)],
    })
}

/// The samples taken after the warm-up.
fn steady(report: &Value) -> Vec<Value> {
    let warmup = num(report, "warmup_s");
    let samples = report["samples"].as_array().cloned().unwrap_or_default();
    samples.into_iter().filter(|s| num(s, "t_s") >= warmup).collect()
}

/// The mean of a sample field after the warm-up.
fn mean(report: &Value, field: &str) -> f64 {
    let steady = steady(report);
    steady.iter().map(|s| num(s, field)).sum::<f64>() / steady.len().max(1) as f64
}

/// The smallest or largest (`pick`) of a sample field after the warm-up.
fn extreme(report: &Value, field: &str, pick: fn(f64, f64) -> f64) -> f64 {
    steady(report).iter().map(|s| num(s, field)).reduce(pick).unwrap_or(f64::NAN)
}

/// The RSS series, one figure per minute of the run (the sample nearest each minute).
fn rss_by_minute(report: &Value) -> String {
    let samples = report["samples"].as_array().cloned().unwrap_or_default();
    let at = |t: f64| {
        samples
            .iter()
            .min_by(|a, b| {
                let (da, db) = ((num(a, "t_s") - t).abs(), (num(b, "t_s") - t).abs());
                da.total_cmp(&db)
            })
            .map(|s| mb(s, "rss"))
    };
    let minutes = (num(report, "run_s") / 60.0).round() as u32;
    let series: Vec<String> =
        (0..=minutes).filter_map(|m| at(f64::from(m) * 60.0).map(|rss| format!("{m}: {rss:.1}"))).collect();
    format!("RSS by minute of the run, MB: {}.", series.join(", "))
}
