use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::*;

/// The coordinator binary, started on a free loopback port.
fn start_binary() -> (std::process::Child, Server) {
    let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let child = Command::new(env!("CARGO_BIN_EXE_ostrich-coordinator"))
        .env("OSTRICH_BIND", addr.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the coordinator starts");
    (child, Server { addr })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_every_device_and_exits_within_seconds() {
    let (mut child, server) = start_binary();
    let deadline = Instant::now() + DEADLINE;
    while ureq::get(&server.http("/healthz")).call().is_err() {
        assert!(Instant::now() < deadline, "the coordinator never answered /healthz");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
