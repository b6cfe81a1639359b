use ostrich_protocol::{JoinCredential, RejectCode, Role};

use crate::common::*;

#[tokio::test]
async fn a_first_connection_creates_a_swarm_and_the_key_proves_mastership() {
    let server = Server::with_defaults();
    let (_first, welcome, key) = master(&server).await;
    assert_eq!(welcome.role, Role::Master);
    assert_eq!(key.len(), 64, "256-bit key as hex");

    let (_again, resumed) = Client::join(&server, caps(1), JoinCredential::Master { key: Some(key.clone()) }).await;
    let resumed = resumed.expect("the key resumes the swarm");
    assert_eq!((resumed.swarm_id, resumed.role), (welcome.swarm_id, Role::Master));

    let (_other, other, _) = master(&server).await;
    assert_ne!(other.swarm_id, welcome.swarm_id, "no key means a new swarm");

    let wrong = JoinCredential::Master { key: Some("f".repeat(64)) };
    let (_bad, refused) = Client::join(&server, caps(1), wrong).await;
    assert_eq!(refused.err(), Some(RejectCode::InvalidCredential));
}

#[tokio::test]
async fn the_http_api_needs_the_master_key() {
    let server = Server::with_defaults();
    let (_master, _, key) = master(&server).await;
    let listed = get(&server, "/api/jobs", &key).expect("the key opens the API");
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.into_json::<serde_json::Value>().expect("json"), serde_json::json!([]));
    match get(&server, "/api/jobs", &"0".repeat(64)) {
        Err(ureq::Error::Status(401, _)) => {}
        other => panic!("a wrong key must get 401, got {other:?}"),
    }
    match ureq::get(&server.http("/api/jobs")).call() {
        Err(ureq::Error::Status(401, _)) => {}
        other => panic!("no key must get 401, got {other:?}"),
    }
}

#[tokio::test]
async fn the_same_device_id_replaces_its_old_session() {
    let server = Server::with_defaults();
    let (mut first, welcome, key) = master(&server).await;
    let mut second = Client::connect(&server).await;
    second.device_id = first.device_id;
    let again = second.hello(caps(1), JoinCredential::Master { key: Some(key) }).await.expect("resume");
    assert_eq!(again.swarm_id, welcome.swarm_id);
    match first.closed().await {
        Closed::Frame(Some(frame)) => {
            assert!(frame.reason.contains("replaced"), "{}", frame.reason)
        }
        other => panic!("the old session must be closed with a reason, got {other:?}"),
    }
}
