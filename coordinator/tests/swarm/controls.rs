use std::time::Duration;

use ostrich_protocol::{MasterCommand, RunState, ToDevice};

use crate::common::*;

async fn ok(master: &mut Client, command: MasterCommand) {
    master.command(command).await;
    master
        .recv_until(|m| match m {
            ToDevice::CommandOk { .. } => Some(()),
            ToDevice::CommandError { message, .. } => panic!("command refused: {message}"),
            _ => None,
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_run_state_and_enable_reach_a_native_worker() {
    let server = Server::with_defaults();
    let (mut master, _, _) = master(&server).await;
    let token = invite(&mut master).await.token;
    let worker = native_worker(&server, &token, 4);
    let wait = Duration::from_secs(20);
    let joined =
        worker.wait_for(wait, |s| s.connected && s.active_threads == 4).await.expect("joined at full throttle");

    ok(&mut master, MasterCommand::SetThrottle { percent: 50 }).await;
    worker
        .wait_for(wait, |s| s.throttle == 50 && s.active_threads == 2)
        .await
        .expect("throttle 50 % halves the threads");
    ok(&mut master, MasterCommand::SetThrottle { percent: 0 }).await;
    worker.wait_for(wait, |s| s.active_threads == 0 && s.slots == 0).await.expect("throttle 0 stops computing");
    ok(&mut master, MasterCommand::SetThrottle { percent: 100 }).await;

    ok(&mut master, MasterCommand::SetRunState { state: RunState::Paused }).await;
    worker.wait_for(wait, |s| s.run_state == RunState::Paused).await.expect("pause reaches the worker");
    ok(&mut master, MasterCommand::SetRunState { state: RunState::Stopped }).await;
    worker.wait_for(wait, |s| s.run_state == RunState::Stopped).await.expect("stop reaches the worker");

    ok(&mut master, MasterCommand::SetDeviceEnabled { device_id: joined.device_id, enabled: false }).await;
    worker.wait_for(wait, |s| !s.enabled && s.slots == 0).await.expect("disable reaches the worker");
    ok(&mut master, MasterCommand::SetDeviceEnabled { device_id: joined.device_id, enabled: true }).await;
    worker.wait_for(wait, |s| s.enabled).await.expect("enable reaches the worker");
}
