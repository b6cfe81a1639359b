use ostrich_coordinator::Config;
use ostrich_protocol::{
    DeviceStatus, JobSpec, JobState, MasterCommand, MatmulSpec, MatrixSource, Snapshot, TaskKind, TaskOutput,
    ToCoordinator, ToDevice,
};

use crate::common::*;

/// A liar returns products that are off by a little; Freivalds' check catches every one,
/// the liar is quarantined after two, and an honest native worker completes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_results_are_caught_and_the_liar_is_quarantined() {
    let server = Server::start(Config { quarantine_after: 2, snapshot_interval_s: 0.2, ..Config::default() });
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut liar, _) = raw_worker(&server, &token, 4).await;
    liar.send(&ToCoordinator::WorkRequest { slots: 4 }).await;
    liar.settle().await;

    let spec = JobSpec::Matmul(MatmulSpec { m: 64, k: 64, n: 64, tile: 16, source: MatrixSource::Seeded { seed: 9 } });
    master.command(MasterCommand::SubmitJob { spec: spec.clone() }).await;
    let tasks = liar
        .recv_until(|m| match m {
            ToDevice::Assign { tasks } => Some(tasks),
            _ => None,
        })
        .await;
    assert_eq!(tasks.len(), 4);
    for task in tasks.iter().take(2) {
        let TaskKind::MatmulTile { rows, k, cols, a, b } = &task.kind else { panic!("matmul expected") };
        let mut c =
            ostrich_kernels::matmul::matmul_tile(a, b, *rows as usize, *k as usize, *cols as usize).expect("kernel");
        c[7] += 0.5; // One entry slightly off: a plausible lie.
        liar.send(&ToCoordinator::TaskResult { task_id: task.id, output: TaskOutput::MatmulTile { c } }).await;
    }
    let dropped = liar
        .recv_until(|m| match m {
            ToDevice::Cancel { task_ids } => Some(task_ids),
            _ => None,
        })
        .await;
    for task in tasks.iter().skip(2) {
        assert!(dropped.contains(&task.id), "quarantine takes back the liar's other leases: {dropped:?}");
    }

    let honest = native_worker(&server, &token, 2);
    let progress = master
        .recv_until(|m| match m {
            ToDevice::JobProgress(p) if p.state == JobState::Completed => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(progress.verification_failures, 2);
    assert_eq!(download_matmul(&server, &key, progress.job_id), local_matmul(&spec));
    let status = master
        .recv_until(|m| match m {
            ToDevice::Snapshot(Snapshot::Master { devices, .. }) => {
                devices.into_iter().find(|d| d.device_id == liar.device_id).map(|d| d.stats.status)
            }
            _ => None,
        })
        .await;
    assert!(
        matches!(status, DeviceStatus::Quarantined { ref reason } if reason.contains("verification")),
        "{status:?}"
    );
    drop(honest);
}
