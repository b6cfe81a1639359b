//! The `swarm` and `matmul` parts: run the swarm simulator (`sim/`) against the release
//! coordinator and turn its JSON reports into rows.

use std::{path::Path, process::Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{Row, Section};
use crate::{cargo, target_dir};

/// Builds the release binaries the simulator drives.
pub(super) fn build(root: &Path) -> Result<()> {
    let status = cargo(root)
        .args(["build", "--locked", "--release", "-p", "ostrich-coordinator", "-p", "ostrich-worker", "-p"])
        .arg("ostrich-sim")
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building the coordinator, worker and simulator failed");
    }
    Ok(())
}

/// Runs `ostrich-sim` with `args` and parses its report.
pub(super) fn sim(root: &Path, args: &[&str]) -> Result<Value> {
    let release = target_dir(root).join("release");
    let coordinator = release.join("ostrich-coordinator");
    eprintln!("ostrich-sim {}", args.join(" "));
    let output = std::process::Command::new(release.join("ostrich-sim"))
        .args(args)
        .arg("--spawn")
        .arg(&coordinator)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run ostrich-sim")?;
    if !output.status.success() {
        bail!("ostrich-sim {} failed", args.join(" "));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().context("ostrich-sim printed no report")?;
    serde_json::from_str(line).context("ostrich-sim's report is not JSON")
}

pub(super) fn num(report: &Value, path: &str) -> f64 {
    path.split('.').fold(report, |value, key| &value[key]).as_f64().unwrap_or(f64::NAN)
}

/// The swarm simulator's figures: 10 000 idle devices, 1 000 busy ones, and 1 000 with
/// misbehaving devices computing a job to the end.
pub fn section(root: &Path) -> Result<Section> {
    build(root)?;
    let idle = sim(root, &["swarm", "--devices", "10000", "--window-s", "0"])?;
    let busy = sim(root, &["swarm", "--devices", "1000", "--slots", "8", "--window-s", "2.5"])?;
    let ephemeral = sim(root, &["swarm", "--devices", "1000", "--slots", "8", "--window-s", "2.5", "--ephemeral"])?;
    let chaos = sim(
        root,
        &[
            "swarm",
            "--devices",
            "1000",
            "--slots",
            "4",
            "--task-ms",
            "5",
            "--tasks",
            "40000",
            "--sleepers",
            "0.05",
            "--droppers",
            "0.05",
            "--liars",
            "0.02",
            "--lease-s",
            "3",
            "--window-s",
            "1",
            "--to-completion",
        ],
    )?;
    let kb = |bytes: f64| bytes / 1000.0;
    let mut rows = vec![
        Row::target(
            "Coordinator RSS per idle device, 10 000 devices",
            format!("{:.1} KB", kb(num(&idle, "rss_per_device"))),
            "≤ 16 KB",
            kb(num(&idle, "rss_per_device")) <= 16.0,
        ),
        Row::info("Connections held (10 000 asked)", format!("{}", num(&idle, "connected"))),
        Row::info("10 000 devices connected and registered", format!("{:.2} s", num(&idle, "register_s"))),
        Row::target(
            "1 000 devices connected and registered",
            format!("{:.2} s", num(&busy, "register_s")),
            "≤ 1 s",
            num(&busy, "register_s") <= 1.0,
        ),
    ];
    let rate = num(&busy, "busy.tasks_per_s");
    let cpu = num(&busy, "busy.cpu_us_per_task");
    rows.extend([
        Row::target(
            "Task round-trips per second, 1 000 devices × 8 in flight",
            format!("{rate:.0} /s"),
            "≥ 200 000 /s",
            rate >= 200_000.0,
        ),
        Row::target("Coordinator CPU per task (all threads)", format!("{cpu:.2} µs"), "≤ 5 µs", cpu <= 5.0),
        Row::info(
            "Same, store off (`--ephemeral`): round-trips per second / CPU per task",
            format!(
                "{:.0} /s / {:.2} µs",
                num(&ephemeral, "busy.tasks_per_s"),
                num(&ephemeral, "busy.cpu_us_per_task")
            ),
        ),
        Row::info("Coordinator CPU in use while busy", format!("{:.2} cores", num(&busy, "busy.cpu_cores"))),
        Row::info(
            "Turnaround per task, p50 / p99 (result sent → next task received)",
            format!(
                "{:.2} / {:.2} ms",
                num(&busy, "busy.overhead_p50_us") / 1000.0,
                num(&busy, "busy.overhead_p99_us") / 1000.0
            ),
        ),
        Row::target(
            "Snapshot per worker per tick, 1 000 devices (largest)",
            format!("{} B", num(&busy, "worker_snapshot_max")),
            "≤ 200 B",
            num(&busy, "worker_snapshot_max") <= 200.0,
        ),
        Row::info(
            "Snapshot per worker per tick, 10 000 devices (largest)",
            format!("{} B", num(&idle, "worker_snapshot_max")),
        ),
        Row::info("Master snapshot per tick, 1 000 devices", format!("{:.1} KB", kb(num(&busy, "master_snapshot")))),
        Row::info("Master snapshot per tick, 10 000 devices", format!("{:.1} KB", kb(num(&idle, "master_snapshot")))),
    ]);
    let done = &chaos["completion"];
    let state = done["state"].as_str().unwrap_or("none").to_string();
    let (liars, quarantined) = (num(&chaos, "completion.liars"), num(&chaos, "completion.quarantined"));
    rows.extend([
        Row::target(
            "Job with 5 % sleepers, 5 % droppers, 2 % liars (40 000 tasks)",
            format!("{state} in {:.1} s", num(&chaos, "completion.seconds")),
            "Completed",
            state == "Completed",
        ),
        Row::target(
            "Its result against a local product (largest difference)",
            format!("{}", num(&chaos, "completion.max_abs_error")),
            "≤ 1e-4",
            num(&chaos, "completion.max_abs_error") <= 1e-4,
        ),
        Row::target("Liars quarantined", format!("{quarantined} of {liars}"), "all", quarantined >= liars),
        Row::info(
            "Results that failed verification / tasks dispatched again",
            format!("{} / {}", num(&chaos, "completion.verification_failures"), num(&chaos, "completion.redispatched")),
        ),
    ]);
    Ok(Section {
        title: "Swarm simulator".into(),
        intro: "`ostrich-sim` (crate `sim/`) starts the release coordinator as a child process and opens simulated \
                devices against it over loopback WebSockets with the real protocol; the coordinator's RSS and CPU \
                (all threads) come from `/proc`. Devices report 1–8 cores, a GPU on a quarter of them and scores \
                from 500 to 20 000, so their weights differ. Tasks are real 4×4 matmul tiles (k = 4), computed \
                with the real kernel and verified by Freivalds on the coordinator; a device sends the results it \
                has ready together in one `TaskResults` frame. The coordinator runs as shipped, with its store \
                on (every verified tile is written to redb within 250 ms); one row repeats the busy run with the \
                store off. Throughput is counted from the job progress the \
                coordinator pushes to the master, over a 2.5 s window after a warm-up. The simulator and the \
                coordinator share the machine's 2 cores."
            .into(),
        rows,
        notes: vec![],
    })
}

/// A 2048² matmul through the swarm with 2 native worker processes against one process.
pub fn matmul(root: &Path) -> Result<Section> {
    build(root)?;
    let release = target_dir(root).join("release");
    let worker = release.join("ostrich-worker");
    let worker = worker.to_str().context("worker path is not UTF-8")?;
    let report = sim(root, &["matmul", "--worker", worker, "--size", "2048", "--tile", "512"])?;
    let ratio = num(&report, "ratio");
    Ok(Section {
        title: "2048×2048 matmul through the swarm".into(),
        intro: "The same seeded 2048×2048×2048 product, first computed by one process with 2 threads (a band of \
                rows each), then submitted over the HTTP API to a coordinator with 2 `ostrich-worker` processes \
                of 1 thread each, in 512×512 tiles: from submission to the verified, assembled result."
            .into(),
        rows: vec![
            Row::info("One process, 2 threads", format!("{:.3} s", num(&report, "single_s"))),
            Row::info("Swarm: coordinator + 2 workers × 1 thread", format!("{:.3} s", num(&report, "swarm_s"))),
            Row::target("Swarm / one process", format!("{ratio:.2}×"), "≤ 1.5×", ratio <= 1.5),
            Row::info("Largest difference between the two results", format!("{}", num(&report, "max_abs_error"))),
        ],
        notes: vec![],
    })
}
