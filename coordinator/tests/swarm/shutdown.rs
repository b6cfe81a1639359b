use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_every_device_and_exits_within_seconds() {
    let (mut child, server) = start_binary(&[]);
    wait_healthy(&server).await;
    let (mut master, _, _) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut worker, _) = raw_worker(&server, &token, 1).await;

    let exit = terminate(&mut child, Duration::from_secs(8)).await;
    assert!(exit.success(), "{exit:?}");
    // The close frames arrived before the process ended; they are read from the sockets now.
    for client in [&mut master, &mut worker] {
        match client.closed().await {
            Closed::Frame(Some(frame)) => assert_eq!(frame.code, CloseCode::Restart, "{frame:?}"),
            other => panic!("expected a restart close frame, got {other:?}"),
        }
    }
}
