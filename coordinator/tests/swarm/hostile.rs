use ostrich_protocol::{JoinCredential, MasterCommand, PROTOCOL_VERSION, RejectCode, ToCoordinator, ToDevice};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::*;

fn close_code(closed: Closed) -> (CloseCode, String) {
    match closed {
        Closed::Frame(Some(frame)) => (frame.code, frame.reason.to_string()),
        other => panic!("expected a close frame with a reason, got {other:?}"),
    }
}

#[tokio::test]
async fn a_malformed_frame_closes_only_its_own_session() {
    let server = Server::with_defaults();
    let (mut master, _, _) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut bystander, _) = raw_worker(&server, &token, 1).await;
    let (mut hostile, _) = raw_worker(&server, &token, 1).await;

    let mut garbage = PROTOCOL_VERSION.to_le_bytes().to_vec();
    garbage.extend_from_slice(&[0xff; 16]);
    hostile.send_raw(garbage).await;
    let (code, reason) = close_code(hostile.closed().await);
    assert_eq!(code, CloseCode::Invalid);
    assert!(reason.starts_with("malformed frame"), "{reason}");

    master.command(MasterCommand::SetThrottle { percent: 40 }).await;
    master.recv_until(|m| matches!(m, ToDevice::CommandOk { .. }).then_some(())).await;
    let throttle = bystander
        .recv_until(|m| match m {
            ToDevice::Throttle { percent } => Some(percent),
            _ => None,
        })
        .await;
    assert_eq!(throttle, 40, "the other sessions carry on");
    let (_, fresh) = raw_worker(&server, &token, 1).await;
    assert_eq!(fresh.throttle, 40, "the server accepts new sessions");
}

#[tokio::test]
async fn an_oversized_frame_closes_its_session_with_a_reason() {
    let server = Server::with_defaults();
    let (mut master, _, _) = master(&server).await;
    let (mut hostile, _) = raw_worker(&server, &invite(&mut master).await.token, 1).await;
    hostile.send_raw(vec![0; ostrich_protocol::MAX_FRAME_BYTES + 1]).await;
    let (code, reason) = close_code(hostile.closed().await);
    assert_eq!(code, CloseCode::Size, "{reason}");
    master.send(&ToCoordinator::Heartbeat).await;
    master.command(MasterCommand::SetThrottle { percent: 90 }).await;
    master.recv_until(|m| matches!(m, ToDevice::CommandOk { .. }).then_some(())).await;
}

#[tokio::test]
async fn a_session_must_start_with_a_hello_in_the_right_version() {
    let server = Server::with_defaults();
    let mut early = Client::connect(&server).await;
    early.send(&ToCoordinator::Heartbeat).await;
    match early.recv().await {
        ToDevice::Rejected { code, .. } => assert_eq!(code, RejectCode::HelloExpected),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let mut old = Client::connect(&server).await;
    let mut frame = ostrich_protocol::encode(&ToCoordinator::Hello {
        device_id: old.device_id,
        name: "old".into(),
        capabilities: caps(1),
        credential: JoinCredential::Master { key: None },
    })
    .expect("encode");
    frame[0] = frame[0].wrapping_add(1);
    old.send_raw(frame).await;
    match old.recv().await {
        ToDevice::Rejected { code, .. } => assert_eq!(code, RejectCode::VersionMismatch),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let mut text = Client::connect(&server).await;
    within("send", futures_util::SinkExt::send(text.ws_mut(), "hello".into())).await.expect("send");
    assert_eq!(close_code(text.closed().await).0, CloseCode::Unsupported);
}
