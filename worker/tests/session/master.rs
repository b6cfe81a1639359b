//! Mastership: a worker that creates a swarm says hello without a key, keeps the key the
//! welcome grants (in its stats and its state file), presents it on every reconnect and on
//! the next run, computes like any worker, and ends when the key is refused.

use ostrich_protocol::{JoinCredential, RejectCode, Role, TaskOutput, ToCoordinator, ToDevice};
use ostrich_worker::{WorkerConfig, WorkerError, WorkerState, spawn};
use uuid::Uuid;

use crate::fake::{Fake, Seen, TempState, matmul, until};

#[tokio::test]
async fn new_swarm_hello_has_no_key_and_the_granted_key_is_saved() {
    let state = TempState::new();
    let fake = Fake::bind().await;
    let worker = spawn(WorkerConfig { state_file: Some(state.0.clone()), ..fake.master_config(1, None) });
    let mut peer = fake.accept().await;
    assert_eq!(peer.hello().await, JoinCredential::Master { key: None });
    peer.welcome_master("K1").await;
    peer.expect_slots(1).await;
    let stats = until(&worker, "mastership", |s| s.connected && s.master_key.is_some()).await;
    assert_eq!(
        (stats.role, stats.swarm_id, stats.master_key.as_deref()),
        (Some(Role::Master), Some(Uuid::from_u128(1)), Some("K1"))
    );

    let saved = WorkerState::load(&state.0).expect("load").expect("saved");
    assert_eq!(
        (saved.master_key.as_deref(), saved.coordinator.as_deref(), saved.device_id),
        (Some("K1"), Some(fake.url()), worker.device_id())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state.0).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is readable by the owner only");
    }
}

#[tokio::test]
async fn the_master_computes_and_reconnects_with_its_key_after_a_dropped_socket() {
    let fake = Fake::bind().await;
    let worker = spawn(fake.master_config(1, None));
    let mut peer = fake.accept().await;
    assert_eq!(peer.hello().await, JoinCredential::Master { key: None });
    peer.welcome_master("K1").await;
    peer.expect_slots(1).await;
    peer.send(ToDevice::Assign { tasks: vec![matmul(3)] }).await;
    match peer.expect().await {
        ToCoordinator::TaskResult { task_id, output } => {
            assert_eq!((task_id, output), (3, TaskOutput::MatmulTile { c: vec![9.0] }));
        }
        other => panic!("expected a result, got {other:?}"),
    }
    drop(peer);

    let mut peer = fake.accept().await;
    assert_eq!(peer.hello().await, JoinCredential::Master { key: Some("K1".into()) });
    peer.welcome_master("K1").await;
    peer.expect_slots(1).await;
    let stats = until(&worker, "the second session", |s| s.sessions == 2 && s.connected).await;
    assert_eq!(stats.master_key.as_deref(), Some("K1"));
}

#[tokio::test]
async fn a_second_run_resumes_mastership_with_the_key_from_the_state_file() {
    let state = TempState::new();
    let fake = Fake::bind().await;
    let worker = spawn(WorkerConfig { state_file: Some(state.0.clone()), ..fake.master_config(1, None) });
    let first_id = worker.device_id();
    let mut peer = fake.accept().await;
    peer.hello().await;
    peer.welcome_master("K1").await;
    peer.expect_slots(1).await;
    let (outcome, seen) = tokio::join!(worker.shutdown(), peer.until_gone());
    outcome.expect("clean shutdown");
    assert!(matches!(seen, Seen::Close));

    // What the CLI does on a run without --join or --new-swarm.
    let saved = WorkerState::load(&state.0).expect("load").expect("saved");
    let credential = saved.stored_credential().expect("a stored credential");
    let coordinator = saved.coordinator.clone().expect("a stored coordinator");
    let worker = spawn(WorkerConfig {
        device_id: saved.device_id,
        state_file: Some(state.0.clone()),
        ops_score: Some(7),
        ..WorkerConfig::new(coordinator, credential)
    });
    let mut peer = fake.accept().await;
    match peer.expect().await {
        ToCoordinator::Hello { device_id, credential, .. } => {
            assert_eq!(device_id, first_id);
            assert_eq!(credential, JoinCredential::Master { key: Some("K1".into()) });
        }
        other => panic!("expected a hello, got {other:?}"),
    }
    worker.kill();
}

#[tokio::test]
async fn a_refused_master_key_ends_the_worker_and_stays_in_the_state_file() {
    let state = TempState::new();
    let stored = WorkerState { master_key: Some("OLD".into()), ..WorkerState::new("box") };
    stored.save(&state.0).expect("save");
    let fake = Fake::bind().await;
    let worker = spawn(WorkerConfig { state_file: Some(state.0.clone()), ..fake.master_config(1, Some("OLD")) });
    let mut peer = fake.accept().await;
    assert_eq!(peer.hello().await, JoinCredential::Master { key: Some("OLD".into()) });
    peer.send(ToDevice::Rejected { code: RejectCode::InvalidCredential, message: "unknown master key".into() }).await;
    let stats = until(&worker, "the end", |s| s.finished).await;
    assert_eq!(stats.last_reject, Some(RejectCode::InvalidCredential));
    match worker.join().await {
        Err(err @ WorkerError::MasterKeyRefused { .. }) => {
            assert!(err.to_string().contains("master key refused"), "{err}");
        }
        other => panic!("expected a refused master key, got {other:?}"),
    }
    let kept = WorkerState::load(&state.0).expect("load").expect("present");
    assert_eq!(kept.master_key.as_deref(), Some("OLD"));
}
