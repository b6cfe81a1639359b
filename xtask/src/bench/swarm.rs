//! The `swarm` and `matmul` parts: run the swarm simulator (`sim/`) against the release
//! coordinator and turn its JSON reports into rows.

use std::{path::Path, process::Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{Row, Section, numpy};
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

/// A 2048² matmul through the swarm with 2 native worker processes against one process
/// and against NumPy on the same two cores.
pub fn matmul(root: &Path) -> Result<Section> {
    build(root)?;
    let release = target_dir(root).join("release");
    let worker = release.join("ostrich-worker");
    let worker = worker.to_str().context("worker path is not UTF-8")?;
    let report = sim(root, &["matmul", "--worker", worker, "--size", "2048", "--tile", "512"])?;
    let numpy = numpy::measure(root, &[(2048, 1), (2048, 2)])?;
    let (numpy_one, numpy_two) = (numpy.rate(2048, 1)?, numpy.rate(2048, 2)?);
    let flops = 2.0 * 2048f64.powi(3);
    let numpy_s = flops / (numpy_two * 1e9);
    let (single_s, swarm_s, ratio) = (num(&report, "single_s"), num(&report, "swarm_s"), num(&report, "ratio"));
    let (coordinator_cpu, workers_cpu) = (num(&report, "coordinator_cpu_s"), num(&report, "workers_cpu_s"));
    let payload = num(&report, "payload_bytes");
    // The products themselves, at one worker thread's rate (NumPy's one-thread rate is
    // within 10 % of the native kernel's, BENCHMARKS.md "Kernels").
    let compute_cpu = flops / (numpy_one * 1e9);
    // What the swarm moved per second of its run, and the flops that feeds at this tile:
    // a task of tile t carries 8·t·k bytes of operands for 2·t²·k flops, t/4 flops a byte.
    let feed = payload / swarm_s;
    let tile = 512.0;
    let fed_gflops = feed * tile / 4.0 / 1e9;
    Ok(Section {
        title: "2048×2048 matmul through the swarm".into(),
        intro: format!(
            "The same seeded 2048×2048×2048 product, computed by NumPy (`a @ b`, {}, 2 threads), by one process \
             with 2 threads (`matmul_tile` on a band of rows each), and submitted over the HTTP API to a coordinator \
             with 2 `ostrich-worker` processes of 1 thread each, in 512×512 tiles: from submission to the verified, \
             assembled result. CPU seconds come from `/proc` for the fastest swarm run.",
            numpy.label()
        ),
        rows: vec![
            Row::info("NumPy `a @ b`, 2 threads", format!("{numpy_s:.3} s ({numpy_two:.0} GFLOP/s)")),
            Row::info("One process, 2 threads (`gemm`)", format!("{single_s:.3} s")),
            Row::info("Swarm: coordinator + 2 workers × 1 thread", format!("{swarm_s:.3} s")),
            Row::info("Swarm / NumPy", format!("{:.1}×", swarm_s / numpy_s)),
            Row::target("Swarm / one process", format!("{ratio:.2}×"), "≤ 1.5×", ratio <= 1.5),
            Row::info(
                "Where the swarm's time went: coordinator CPU / workers CPU / of which products",
                format!("{coordinator_cpu:.3} s / {workers_cpu:.3} s / {compute_cpu:.3} s"),
            ),
            Row::info(
                "Operands and tiles moved, and the rate the swarm moved them",
                format!("{:.0} MB, {:.0} MB/s", payload / 1e6, feed / 1e6),
            ),
            Row::info("Largest difference between the two results", format!("{}", num(&report, "max_abs_error"))),
        ],
        notes: vec![format!(
            "Where the time goes: the products are {compute_cpu:.3} CPU-seconds of the swarm's \
             {:.3}; the rest is moving operands. Each 512×512 task carries a 512×2048 panel of A and a 2048×512 \
             panel of B (8 MB) for 1.07 GFLOP, so at the {:.0} MB/s this swarm moved the workers could be fed \
             {fed_gflops:.0} GFLOP/s, {:.0} % of what NumPy does alone on the same two cores ({numpy_two:.0} \
             GFLOP/s). On paper, a swarm beats one machine only when its feed rate times t/4 exceeds that \
             machine's rate: with tiles at the 512 limit, one machine like this one ({numpy_two:.0} GFLOP/s) is \
             beaten only once the coordinator moves more than {:.1} GB/s, about {:.0}× loopback here and \
             {:.0}× a 1 Gbit/s LAN, whatever the matrix size (the flops per byte of a task do not grow with n) and \
             however many devices join. Devices help when each is much slower than the one machine: a swarm of \
             D phones at r GFLOP/s each beats a laptop at R when D·r > R and the feed keeps up (t/4 × 125 MB/s \
             = 16 GFLOP/s on a 1 Gbit/s LAN at t = 512). Native matmul is therefore not the swarm's strength; \
             work with more flops per byte is (Mandelbrot, user kernels, and seeded operands that a device could \
             generate itself — not done yet).",
            coordinator_cpu + workers_cpu,
            feed / 1e6,
            100.0 * fed_gflops / numpy_two,
            numpy_two * 1e9 * 4.0 / tile / 1e9,
            numpy_two * 1e9 * 4.0 / tile / feed,
            numpy_two * 1e9 * 4.0 / tile / 125e6,
        )],
    })
}
