use std::{
    process::Command,
    time::{Duration, Instant},
};

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_every_device_and_exits_within_seconds() {
    let (mut child, server) = start_binary(&[]);
    wait_healthy(&server).await;
    let (mut master, _, _) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut worker, _) = raw_worker(&server, &token, 1).await;

    let killed = Instant::now();
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    for client in [&mut master, &mut worker] {
        match client.closed().await {
            Closed::Frame(Some(frame)) => assert_eq!(frame.code, CloseCode::Restart, "{frame:?}"),
            other => panic!("expected a restart close frame, got {other:?}"),
        }
    }
    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(killed.elapsed() < Duration::from_secs(8), "the coordinator did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
}
