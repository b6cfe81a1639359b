//! How figures are written on screen.

use ostrich_protocol::{DeviceStatus, JobState, KernelReport, RunState};

/// A countdown as `mm:ss`, or "expired" once it reaches zero.
pub fn countdown(remaining_ms: f64) -> String {
    if remaining_ms.is_nan() || remaining_ms <= 0.0 {
        return "expired".into();
    }
    let seconds = (remaining_ms / 1000.0).ceil() as u64;
    format!("{:02}:{:02}", seconds / 60, seconds % 60)
}

/// A benchmark score (MFLOP/s), scaled to GFLOP/s from 1000; a dash before it is measured.
pub fn ops_score(mflops: u32) -> String {
    match mflops {
        0 => "—".into(),
        1..1000 => format!("{mflops} MFLOP/s"),
        _ => format!("{:.1} GFLOP/s", f64::from(mflops) / 1000.0),
    }
}

/// A count with thin thousands separators: 10 000.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(digit);
    }
    out
}

/// A count and its noun, singular for one: "1 task", "16 tasks", "10 000 devices". The
/// plural is the noun with an "s", which every noun the app counts takes.
pub fn plural(value: u64, noun: &str) -> String {
    if value == 1 { format!("1 {noun}") } else { format!("{} {noun}s", count(value)) }
}

/// A number of pixels, in megapixels from a million: "76 800 px", "2.1 Mpx".
pub fn pixels(value: u64) -> String {
    if value < 1_000_000 { format!("{} px", count(value)) } else { format!("{:.1} Mpx", value as f64 / 1e6) }
}

/// Bytes in the largest binary unit that keeps the figure at or above 1: 1.5 GiB.
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut scaled = value as f64;
    let mut unit = 0;
    while scaled >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 || scaled >= 100.0 {
        format!("{scaled:.0} {}", UNITS[unit])
    } else {
        format!("{scaled:.1} {}", UNITS[unit])
    }
}

/// A rate of tasks per second, without its unit; two decimals below 1 /s, where big tiles
/// on a few phones live.
pub fn rate(per_sec: f32) -> String {
    if per_sec >= 100.0 {
        format!("{per_sec:.0}")
    } else if per_sec >= 1.0 || per_sec <= 0.0 {
        format!("{per_sec:.1}")
    } else {
        format!("{per_sec:.2}")
    }
}

/// A device's status for the table, with its CSS class.
pub fn device_status(status: &DeviceStatus) -> (String, &'static str) {
    match status {
        DeviceStatus::Online => ("online".into(), "status-online"),
        DeviceStatus::Offline => ("offline".into(), "status-offline"),
        DeviceStatus::Disabled => ("disabled".into(), "status-disabled"),
        DeviceStatus::Quarantined { reason } => (format!("quarantined: {reason}"), "status-quarantined"),
    }
}

/// A run state in words, with its CSS class.
pub fn run_state(state: RunState) -> (&'static str, &'static str) {
    match state {
        RunState::Idle => ("idle", "state-idle"),
        RunState::Running => ("running", "state-running"),
        RunState::Paused => ("paused", "state-paused"),
        RunState::Stopped => ("stopped", "state-stopped"),
    }
}

/// A job state in words, with its CSS class. An unfinished job says what the swarm's run
/// state does to it: it is not "running" while the swarm is paused or stopped.
pub fn job_state(state: &JobState, swarm: RunState) -> (&'static str, &'static str) {
    match state {
        JobState::Running if swarm == RunState::Paused => ("paused", "state-paused"),
        JobState::Running if swarm == RunState::Stopped => ("stopped", "state-stopped"),
        JobState::Running => ("running", "state-running"),
        JobState::Completed => ("completed", "state-completed"),
        JobState::Failed { .. } => ("failed", "state-failed"),
        JobState::Cancelled => ("cancelled", "state-stopped"),
    }
}

/// The share of a job verified, 0-100.
pub fn percent(done: u32, total: u32) -> f64 {
    if total == 0 { 0.0 } else { (f64::from(done) * 100.0 / f64::from(total)).clamp(0.0, 100.0) }
}

/// Where matrix products run, as the device table and the worker view say it: "CPU",
/// "WebGPU + CPU", with "(forced)" when the user chose it.
pub fn kernel_in_use(report: &KernelReport) -> String {
    let label = report.matmul.label();
    if report.forced { format!("{label} (forced)") } else { label.to_owned() }
}

/// Each kernel path's matrix-product figure: "CPU 21.7 GFLOP/s · WebGPU 2.9 GFLOP/s
/// (software)".
pub fn kernel_figures(report: &KernelReport) -> String {
    let cpu = format!("CPU {}", ops_score(report.cpu_mflops));
    match &report.gpu {
        None => cpu,
        Some(gpu) => {
            let software = if gpu.info.fallback { " (software)" } else { "" };
            format!("{cpu} · WebGPU {}{software}", ops_score(gpu.mflops))
        }
    }
}

/// How a wasm job's results were checked, for its row: the replicas run, agreement and
/// the verification overhead, or that the module's `verify` checks them, or that nothing
/// does. `None` for built-in kernels (their exact checks need no words).
pub fn replication(progress: &ostrich_protocol::JobProgress) -> Option<String> {
    let r = progress.replication?;
    if !r.checked {
        return Some("Unverified: the master chose to accept every result as it came".into());
    }
    if r.by_verify {
        return Some(format!("{} checked by the module's verify, no replicas", plural(u64::from(r.results), "result")));
    }
    let mut text = format!(
        "{} · {} agreed · {:.1} % verification overhead",
        plural(u64::from(r.replicas), "replica"),
        count(u64::from(r.agreed)),
        r.overhead_percent(progress.tasks_verified)
    );
    if r.disagreed > 0 {
        text += &format!(" · {} disagreed", count(u64::from(r.disagreed)));
    }
    Some(text)
}

/// The line under a wasm job whose results wait for a replica: a lone device's results
/// wait for a second device.
pub fn awaiting(progress: &ostrich_protocol::JobProgress) -> Option<String> {
    let waiting = progress.replication.map_or(0, |r| r.awaiting);
    (waiting > 0 && progress.state == JobState::Running).then(|| {
        format!(
            "{} {} for another device to confirm {} (never the device that computed {})",
            plural(u64::from(waiting), "result"),
            if waiting == 1 { "waits" } else { "wait" },
            if waiting == 1 { "it" } else { "them" },
            if waiting == 1 { "it" } else { "them" },
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn wasm_jobs_say_how_their_results_were_checked() {
        use ostrich_protocol::{JobKind, JobProgress, JobState, ReplicationStats};
        let mut progress = JobProgress {
            job_id: 1,
            kind: JobKind::Wasm,
            label: "wasm pi".into(),
            state: JobState::Running,
            tasks_total: 100,
            tasks_verified: 40,
            verification_failures: 0,
            redispatched: 0,
            in_flight: 2,
            view: None,
            replication: Some(ReplicationStats {
                checked: true,
                results: 50,
                replicas: 10,
                agreed: 10,
                awaiting: 3,
                ..Default::default()
            }),
        };
        assert_eq!(
            super::replication(&progress).as_deref(),
            Some("10 replicas · 10 agreed · 25.0 % verification overhead")
        );
        assert!(super::awaiting(&progress).is_some_and(|t| t.starts_with("3 results wait for another device")));
        progress.replication = Some(ReplicationStats { checked: false, ..Default::default() });
        assert!(super::replication(&progress).is_some_and(|t| t.starts_with("Unverified")));
        assert_eq!(super::awaiting(&progress), None);
        progress.replication = None;
        assert_eq!(super::replication(&progress), None);
    }

    use super::*;

    #[test]
    fn countdowns_read_minutes_and_seconds_and_end_expired() {
        assert_eq!(countdown(900_000.0), "15:00");
        assert_eq!(countdown(61_500.0), "01:02");
        assert_eq!(countdown(400.0), "00:01");
        assert_eq!(countdown(0.0), "expired");
        assert_eq!(countdown(-5.0), "expired");
    }

    #[test]
    fn scores_rates_and_percentages_are_readable() {
        assert_eq!(ops_score(0), "—");
        assert_eq!(ops_score(850), "850 MFLOP/s");
        assert_eq!(ops_score(12_345), "12.3 GFLOP/s");
        assert_eq!(rate(0.0), "0.0");
        assert_eq!(rate(12.34), "12.3");
        assert_eq!(rate(250.4), "250");
        assert_eq!(rate(0.08), "0.08");
        assert_eq!(percent(3, 4), 75.0);
        assert_eq!(percent(1, 0), 0.0);
    }

    #[test]
    fn statuses_name_the_quarantine_reason() {
        let quarantined = DeviceStatus::Quarantined { reason: "3 failed checks".into() };
        assert_eq!(device_status(&quarantined).0, "quarantined: 3 failed checks");
        assert_eq!(device_status(&DeviceStatus::Disabled).0, "disabled");
        assert_eq!(run_state(RunState::Paused).0, "paused");
        assert_eq!(job_state(&JobState::Completed, RunState::Stopped).0, "completed");
    }

    #[test]
    fn an_unfinished_job_follows_the_swarm_run_state() {
        assert_eq!(job_state(&JobState::Running, RunState::Running).0, "running");
        assert_eq!(job_state(&JobState::Running, RunState::Paused).0, "paused");
        assert_eq!(job_state(&JobState::Running, RunState::Stopped).0, "stopped");
        assert_eq!(job_state(&JobState::Cancelled, RunState::Running).0, "cancelled");
    }

    #[test]
    fn plurals_and_pixels_read_well() {
        assert_eq!(plural(1, "task"), "1 task");
        assert_eq!(plural(0, "task"), "0 tasks");
        assert_eq!(plural(16_384, "task"), "16\u{202f}384 tasks");
        assert_eq!(pixels(160 * 120), "19\u{202f}200 px");
        assert_eq!(pixels(4096 * 4096), "16.8 Mpx");
    }

    #[test]
    fn kernel_reports_name_the_path_in_use_and_each_figure() {
        use ostrich_protocol::{GpuInfo, GpuPath, MatmulPath};
        let info = GpuInfo { vendor: "google".into(), description: "SwiftShader".into(), fallback: true };
        let mut report = KernelReport {
            threads: 1,
            cpu_mflops: 21_700,
            gpu: Some(GpuPath { info, mflops: 2_900 }),
            matmul: MatmulPath::Cpu,
            forced: false,
        };
        assert_eq!(kernel_in_use(&report), "CPU");
        assert_eq!(kernel_figures(&report), "CPU 21.7 GFLOP/s · WebGPU 2.9 GFLOP/s (software)");
        report.matmul = MatmulPath::Gpu;
        report.forced = true;
        assert_eq!(kernel_in_use(&report), "WebGPU (forced)");
        report.gpu = None;
        assert_eq!(kernel_figures(&report), "CPU 21.7 GFLOP/s");
    }
}
