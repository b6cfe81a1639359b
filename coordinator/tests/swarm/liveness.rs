use ostrich_coordinator::Config;
use ostrich_protocol::{JobSpec, MasterCommand, MatmulSpec, MatrixSource, ToCoordinator, ToDevice};

use crate::common::*;

#[tokio::test]
async fn a_silent_device_is_taken_offline_and_its_leases_requeued() {
    let server = Server::start(Config { heartbeat_timeout_s: 0.5, ..Config::default() });
    let (mut master, _, _) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut silent, _) = raw_worker(&server, &token, 1).await;
    silent.send(&ToCoordinator::WorkRequest { slots: 1 }).await;
    silent.settle().await;
    let spec = JobSpec::Matmul(MatmulSpec { m: 8, k: 8, n: 8, tile: 8, source: MatrixSource::Seeded { seed: 2 } });
    master.command(MasterCommand::SubmitJob { spec }).await;
    let task = silent
        .recv_until(|m| match m {
            ToDevice::Assign { tasks } => Some(tasks[0].id),
            _ => None,
        })
        .await;

    // The master keeps its own session alive while the worker stays silent.
    let closed = within("the heartbeat timeout", async {
        let mut silent_closed = Box::pin(silent.closed());
        let mut heartbeat = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            tokio::select! {
                closed = &mut silent_closed => return closed,
                _ = heartbeat.tick() => {
                    master.send(&ToCoordinator::Heartbeat).await;
                }
            }
        }
    })
    .await;
    match closed {
        Closed::Frame(Some(frame)) => assert_eq!(frame.reason.as_str(), "heartbeat timeout"),
        other => panic!("expected a close frame with a reason, got {other:?}"),
    }
    let (mut rescuer, _) = raw_worker(&server, &token, 1).await;
    rescuer.send(&ToCoordinator::WorkRequest { slots: 1 }).await;
    let again = rescuer
        .recv_until(|m| match m {
            ToDevice::Assign { tasks } => Some(tasks[0].id),
            _ => None,
        })
        .await;
    assert_eq!(again, task, "the silent device's lease went back to the queue");
}

#[tokio::test]
async fn an_expired_lease_is_cancelled_and_dispatched_again() {
    let server = Server::start(Config { lease_s: 0.4, ..Config::default() });
    let (mut master, _, _) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut slow, _) = raw_worker(&server, &token, 1).await;
    slow.send(&ToCoordinator::WorkRequest { slots: 1 }).await;
    slow.settle().await;
    let spec = JobSpec::Matmul(MatmulSpec { m: 8, k: 8, n: 8, tile: 8, source: MatrixSource::Seeded { seed: 2 } });
    master.command(MasterCommand::SubmitJob { spec }).await;
    let task = slow
        .recv_until(|m| match m {
            ToDevice::Assign { tasks } => Some(tasks[0].id),
            _ => None,
        })
        .await;

    let (mut fast, _) = raw_worker(&server, &token, 1).await;
    fast.send(&ToCoordinator::WorkRequest { slots: 1 }).await;
    let cancelled = slow
        .recv_until(|m| match m {
            ToDevice::Cancel { task_ids } => Some(task_ids),
            _ => None,
        })
        .await;
    assert_eq!(cancelled, vec![task], "the holder is told to drop the expired task");
    let again = fast
        .recv_until(|m| match m {
            ToDevice::Assign { tasks } => Some(tasks[0].id),
            _ => None,
        })
        .await;
    assert_eq!(again, task);
}
