use ostrich_protocol::{JobSpec, JobState, MasterCommand, MatmulSpec, MatrixSource, ToCoordinator, ToDevice};

use crate::common::*;

/// A device that holds leases when its socket dies: its tasks go back to the queue at once
/// and two native workers finish the job with the right result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_task_loses_nothing() {
    let server = Server::with_defaults();
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut victim, _) = raw_worker(&server, &token, 4).await;
    victim.send(&ToCoordinator::WorkRequest { slots: 4 }).await;
    victim.settle().await;

    let spec = JobSpec::Matmul(MatmulSpec { m: 96, k: 40, n: 64, tile: 16, source: MatrixSource::Seeded { seed: 11 } });
    master.command(MasterCommand::SubmitJob { spec: spec.clone() }).await;
    let held = victim
        .recv_until(|m| match m {
            ToDevice::Assign { tasks } => Some(tasks.len()),
            _ => None,
        })
        .await;
    assert_eq!(held, 4, "the victim holds tasks when it dies");
    drop(victim);

    let workers = [native_worker(&server, &token, 1), native_worker(&server, &token, 2)];
    let progress = master
        .recv_until(|m| match m {
            ToDevice::JobProgress(p) if p.state == JobState::Completed => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(progress.tasks_verified, progress.tasks_total);
    assert!(progress.redispatched >= 4, "the victim's tasks were dispatched again: {progress:?}");
    let result = download_matmul(&server, &key, progress.job_id);
    assert_eq!(result, local_matmul(&spec));
    drop(workers);
}
