use ostrich_coordinator::Config;
use ostrich_protocol::{JoinCredential, MasterCommand, ToCoordinator, ToDevice};
use uuid::Uuid;

use crate::common::*;
use crate::raw::{RawSocket, http};

/// Close codes: 1008 policy, 1009 too big, 1013 try again later.
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;
const TRY_AGAIN: u16 = 1013;

/// A worker that stays admitted next to the hostile sockets: it is told of a throttle
/// change, so the server and the other sessions carried on.
async fn bystander_carries_on(master: &mut Client, bystander: &mut Client, percent: u8) {
    master.command(MasterCommand::SetThrottle { percent }).await;
    master.recv_until(|m| matches!(m, ToDevice::CommandOk { .. }).then_some(())).await;
    let told =
        bystander.recv_until(|m| if let ToDevice::Throttle { percent } = m { Some(percent) } else { None }).await;
    assert_eq!(told, percent);
}

fn hello(key: Option<String>) -> ToCoordinator {
    ToCoordinator::Hello {
        device_id: Uuid::new_v4(),
        name: "raw".into(),
        capabilities: caps(1),
        credential: JoinCredential::Master { key },
    }
}

#[tokio::test]
async fn before_its_hello_a_socket_may_announce_only_a_hello_sized_frame() {
    let server = Server::with_defaults();
    let (mut master, _, _) = master(&server).await;
    let (mut bystander, _) = raw_worker(&server, &invite(&mut master).await.token, 1).await;

    // 60 MiB announced and none of it sent: the refusal comes from the header alone.
    let mut hostile = RawSocket::connect(server.addr).await;
    hostile.header(0x2, true, 60 << 20).await;
    let (code, reason) = hostile.closed().await;
    assert_eq!(code, TOO_BIG, "{reason}");
    assert!(reason.contains("62914560 bytes") && reason.contains("limit of 8192 bytes"), "{reason}");

    // The same through continuation fragments that each fit but together do not.
    let mut fragments = RawSocket::connect(server.addr).await;
    fragments.header(0x2, false, 6000).await;
    fragments.payload(&[0; 6000]).await;
    fragments.header(0x0, true, 6000).await;
    assert_eq!(fragments.closed().await.0, TOO_BIG);

    bystander_carries_on(&mut master, &mut bystander, 30).await;
}

#[tokio::test]
async fn a_socket_refused_before_its_hello_is_not_read_any_further() {
    let server = Server::with_defaults();
    // 64 MiB announced and streamed as fast as the socket takes it: the coordinator stops
    // reading once it refuses the header, so the client cannot write the frame (actix-http
    // alone would read and discard it for a second more) and it still reads the reason.
    let mut hostile = RawSocket::connect(server.addr).await;
    hostile.header(0x2, true, 64 << 20).await;
    let written = hostile.flood(64 << 20).await;
    assert!(written < 64 << 20, "the coordinator read {written} bytes of a refused frame");
    assert_eq!(hostile.closed().await.0, TOO_BIG);
}

#[tokio::test]
async fn an_admitted_worker_may_send_only_as_much_as_the_results_of_the_tasks_it_holds() {
    let server = Server::with_defaults();
    let (mut master, _, _) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut bystander, _) = raw_worker(&server, &token, 1).await;
    let (mut idle, _) = raw_worker(&server, &token, 1).await;
    idle.send_raw(vec![0; 1 << 20]).await;
    let Closed::Frame(Some(frame)) = idle.closed().await else { panic!("a close frame") };
    assert_eq!(u16::from(frame.code), TOO_BIG);
    assert!(frame.reason.contains("limit of 65536 bytes"), "a worker holding no task: {}", frame.reason);
    bystander_carries_on(&mut master, &mut bystander, 70).await;
}

#[tokio::test]
async fn a_socket_that_is_not_admitted_within_the_hello_deadline_is_closed() {
    let server = Server::start(Config { hello_timeout_s: 0.3, ..Config::default() });
    let (mut master, _, _) = master(&server).await;
    let (mut bystander, _) = raw_worker(&server, &invite(&mut master).await.token, 1).await;
    let mut silent = RawSocket::connect(server.addr).await;
    let (code, reason) = silent.closed().await;
    assert_eq!((code, reason.as_str()), (POLICY, "no hello within 0.3 s"));
    bystander_carries_on(&mut master, &mut bystander, 20).await;
}

#[tokio::test]
async fn an_address_holds_a_bounded_number_of_sockets_waiting_to_be_admitted() {
    let server = Server::start(Config { unadmitted_per_address: 3, ..Config::default() });
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(RawSocket::connect(server.addr).await);
    }
    let refused = RawSocket::connect_from(server.addr, [127, 0, 0, 1].into()).await.err().expect("refused");
    assert_eq!(refused.status, 429);
    assert!(refused.body.contains("3 connections waiting to be admitted"), "{}", refused.body);

    let other = RawSocket::connect_from(server.addr, [127, 0, 0, 2].into()).await;
    assert!(other.is_ok(), "another address is not affected");

    // Admission frees the place (before the welcome is sent).
    waiting[0].send(&hello(None)).await;
    assert!(matches!(waiting[0].next().await, crate::raw::ServerFrame::Message(ToDevice::Welcome(_))));
    assert!(RawSocket::connect_from(server.addr, [127, 0, 0, 1].into()).await.is_ok(), "the freed place");
}

#[tokio::test]
async fn a_big_frame_past_the_receive_budget_is_refused_before_it_is_buffered() {
    let server = Server::start(Config { receive_budget_mib: 1, ..Config::default() });
    let (mut master, _, _) = master(&server).await;
    let (mut bystander, _) = raw_worker(&server, &invite(&mut master).await.token, 1).await;

    // Two masters (whose frames may reach 1 MiB): the first holds 900 KiB of the 1 MiB
    // budget with a frame it has not finished; the second's 900 KiB frame does not fit.
    let mut first = RawSocket::connect(server.addr).await;
    first.send(&hello(None)).await;
    first.next().await;
    first.header(0x2, true, 900 << 10).await;
    first.payload(&[0; 1024]).await;
    let mut second = RawSocket::connect(server.addr).await;
    second.send(&hello(None)).await;
    second.next().await;
    poll("the first frame to hold the budget", DEADLINE, || {
        let text = ureq::get(&server.http("/metrics")).call().ok()?.into_string().ok()?;
        let used: u64 = text.lines().find_map(|l| l.strip_prefix("ostrich_receive_bytes "))?.parse().ok()?;
        (used >= 900 << 10).then_some(())
    })
    .await;
    second.header(0x2, true, 900 << 10).await;
    let (code, reason) = second.closed().await;
    assert_eq!(code, TRY_AGAIN, "{reason}");
    assert!(reason.contains("receiving too much"), "{reason}");

    // Small frames always get through, and the other sessions carry on.
    bystander_carries_on(&mut master, &mut bystander, 55).await;
    bystander.send(&ToCoordinator::Heartbeat).await;
}

#[tokio::test]
async fn a_job_body_over_the_limit_is_refused_with_413_naming_the_limit() {
    let server = Server::start(Config { max_request_mib: 1, ..Config::default() });
    let (_master, _, key) = master(&server).await;
    let auth = format!("Authorization: Bearer {key}");

    let head = format!(
        "POST /api/jobs HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Type: application/json\r\nContent-Length: 600000000"
    );
    let (status, body) = http(server.addr, &head, b"").await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("\"error\"") && body.contains("1048576 byte limit"), "{body}");

    // Without a length, the limit is found as the body streams in.
    let chunk = vec![b' '; 600 << 10];
    let mut chunked = Vec::new();
    for _ in 0..2 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!("POST /api/jobs HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked");
    let (status, body) = http(server.addr, &head, &chunked).await;
    assert_eq!(status, 413, "{body}");

    // A body from someone without a key is not read at all.
    let head = "POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000";
    assert_eq!(http(server.addr, head, b"").await.0, 401);

    // Bad JSON gets the documented JSON error.
    let head = format!("POST /api/jobs HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: 5");
    let (status, body) = http(server.addr, &head, b"{nope").await;
    assert_eq!(status, 400);
    assert!(body.starts_with("{\"error\":\"the body is not a valid job"), "{body}");
}
