//! The worker against a scripted fake coordinator on 127.0.0.1:0: every test plays the
//! coordinator's side frame by frame and asserts on what the worker sends and publishes.
//! The real coordinator's end-to-end tests live in coordinator/tests.

mod fake;
mod master;

use fake::{Fake, Seen, matmul, until};
use futures_util::SinkExt;
use ostrich_protocol::{
    JoinCredential, MandelbrotView, RejectCode, Role, RunState, Task, TaskKind, TaskOutput, ToCoordinator, ToDevice,
};
use ostrich_worker::{WorkerConfig, WorkerError, spawn};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// Joining: hello contents, the first work request, and a computed task.
mod join {
    use super::*;

    #[tokio::test]
    async fn hello_welcome_work_request_and_result() {
        let fake = Fake::bind().await;
        let worker = spawn(fake.config(2));
        let mut peer = fake.accept().await;
        match peer.expect().await {
            ToCoordinator::Hello { device_id, credential, capabilities, .. } => {
                assert_eq!(device_id, worker.device_id());
                assert_eq!(credential, JoinCredential::Invite { token: "ABCD1234".into() });
                assert_eq!((capabilities.logical_cores, capabilities.ops_score), (2, 7));
            }
            other => panic!("expected a hello, got {other:?}"),
        }
        peer.welcome(100, Some("R1")).await;
        peer.expect_slots(2).await;
        let stats = until(&worker, "welcome", |s| s.connected).await;
        assert_eq!((stats.role, stats.sessions, stats.active_threads), (Some(Role::Worker), 1, 2));

        peer.send(ToDevice::Assign { tasks: vec![matmul(5)] }).await;
        match peer.expect().await {
            ToCoordinator::TaskResult { task_id, output } => {
                assert_eq!((task_id, output), (5, TaskOutput::MatmulTile { c: vec![13.0] }));
            }
            other => panic!("expected a result, got {other:?}"),
        }
        until(&worker, "tasks_done", |s| s.tasks_done == 1).await;
        // Its kernel report: one path, its CPU threads, the benchmark times its cores.
        let report = peer.kernels.clone().expect("a kernel report after the welcome");
        assert_eq!((report.threads, report.cpu_mflops, report.gpu), (2, 14, None));
        assert_eq!((report.matmul, report.forced), (ostrich_protocol::MatmulPath::Cpu, false));
        let (outcome, seen) = tokio::join!(worker.shutdown(), peer.until_gone());
        outcome.expect("clean shutdown");
        assert!(matches!(seen, Seen::Close));
    }

    #[tokio::test]
    async fn kernel_error_is_reported_as_task_failed() {
        let fake = Fake::bind().await;
        let worker = spawn(fake.config(1));
        let mut peer = fake.accept().await;
        peer.hello().await;
        peer.welcome(100, None).await;
        peer.expect_slots(1).await;
        let view = MandelbrotView { width: 4, height: 4, center_re: 0.0, center_im: 0.0, zoom: 1.0, max_iter: 9 };
        let kind = TaskKind::MandelbrotTile { view, x: 2, y: 2, w: 8, h: 8 };
        peer.send(ToDevice::Assign { tasks: vec![Task { id: 9, job_id: 1, lease_ms: 1, kind }] }).await;
        assert!(matches!(peer.expect().await, ToCoordinator::TaskFailed { task_id: 9, .. }));
        until(&worker, "tasks_failed", |s| s.tasks_failed == 1).await;
    }
}

/// Live controls: throttle, run state and enablement change the slots offered.
mod controls {
    use super::*;

    #[tokio::test]
    async fn slots_follow_throttle_run_state_and_enablement() {
        let fake = Fake::bind().await;
        let worker = spawn(fake.config(4));
        let mut peer = fake.accept().await;
        peer.hello().await;
        peer.welcome(100, None).await;
        peer.expect_slots(4).await;
        peer.send(ToDevice::Throttle { percent: 50 }).await;
        peer.expect_slots(2).await;
        peer.send(ToDevice::Throttle { percent: 0 }).await;
        peer.expect_slots(0).await;
        peer.send(ToDevice::Throttle { percent: 100 }).await;
        peer.expect_slots(4).await;
        peer.send(ToDevice::RunState { state: RunState::Paused }).await;
        peer.expect_slots(0).await;
        peer.send(ToDevice::RunState { state: RunState::Running }).await;
        peer.expect_slots(4).await;
        peer.send(ToDevice::DeviceEnabled { enabled: false }).await;
        peer.expect_slots(0).await;
        let stats = until(&worker, "disabled", |s| !s.enabled).await;
        assert_eq!((stats.slots, stats.throttle, stats.active_threads), (0, 100, 4));
    }

    #[tokio::test]
    async fn cancelled_and_stopped_tasks_are_never_answered() {
        let fake = Fake::bind().await;
        let worker = spawn(fake.config(1));
        let mut peer = fake.accept().await;
        peer.hello().await;
        peer.welcome(0, None).await;
        peer.expect_slots(0).await;
        // At throttle 0 nothing computes, so the tasks wait in the queue.
        peer.send(ToDevice::Assign { tasks: vec![matmul(1), matmul(2)] }).await;
        peer.send(ToDevice::Cancel { task_ids: vec![1] }).await;
        until(&worker, "the cancel", |s| s.tasks_cancelled == 1 && s.in_flight == 1).await;
        peer.send(ToDevice::Throttle { percent: 100 }).await;
        peer.expect_slots(1).await;
        assert!(matches!(peer.expect().await, ToCoordinator::TaskResult { task_id: 2, .. }));

        peer.send(ToDevice::Throttle { percent: 0 }).await;
        peer.expect_slots(0).await;
        peer.send(ToDevice::Assign { tasks: vec![matmul(3)] }).await;
        peer.send(ToDevice::RunState { state: RunState::Stopped }).await;
        until(&worker, "the stop", |s| s.tasks_cancelled == 2 && s.in_flight == 0).await;
        peer.send(ToDevice::RunState { state: RunState::Running }).await;
        peer.send(ToDevice::Throttle { percent: 100 }).await;
        peer.expect_slots(1).await;
        peer.send(ToDevice::Assign { tasks: vec![matmul(4)] }).await;
        assert!(matches!(peer.expect().await, ToCoordinator::TaskResult { task_id: 4, .. }));
    }
}

/// Refusals and reconnection: fatal codes end the worker, lost sessions come back with the
/// resume credential, and a refused credential falls back to the invite.
mod reconnect {
    use super::*;

    #[tokio::test]
    async fn expired_invite_ends_the_worker_with_its_code() {
        let fake = Fake::bind().await;
        let worker = spawn(fake.config(1));
        let mut peer = fake.accept().await;
        peer.hello().await;
        peer.send(ToDevice::Rejected { code: RejectCode::ExpiredCode, message: "expired".into() }).await;
        let stats = until(&worker, "the end", |s| s.finished).await;
        assert_eq!(stats.last_reject, Some(RejectCode::ExpiredCode));
        match worker.join().await {
            Err(err @ WorkerError::Rejected { code: RejectCode::ExpiredCode, .. }) => {
                assert!(err.to_string().contains("ask the master for a new one"), "{err}");
            }
            other => panic!("expected an expired-code refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn lost_session_resumes_and_refused_resume_falls_back_to_invite() {
        let fake = Fake::bind().await;
        let worker = spawn(fake.config(1));
        let mut peer = fake.accept().await;
        peer.hello().await;
        peer.welcome(100, Some("R1")).await;
        peer.expect_slots(1).await;
        drop(peer);

        let mut peer = fake.accept().await;
        assert_eq!(peer.hello().await, JoinCredential::Resume { credential: "R1".into() });
        peer.send(ToDevice::Rejected { code: RejectCode::InvalidCredential, message: "unknown".into() }).await;

        let mut peer = fake.accept().await;
        assert_eq!(peer.hello().await, JoinCredential::Invite { token: "ABCD1234".into() });
        peer.welcome(100, Some("R2")).await;
        peer.expect_slots(1).await;
        let stats = until(&worker, "the second session", |s| s.sessions == 2 && s.connected).await;
        assert_eq!(stats.last_reject, Some(RejectCode::InvalidCredential));
    }

    #[tokio::test]
    async fn undecodable_frame_closes_the_session() {
        let fake = Fake::bind().await;
        let worker = spawn(WorkerConfig { reconnect: false, ..fake.config(1) });
        let mut peer = fake.accept().await;
        peer.hello().await;
        peer.welcome(100, None).await;
        peer.expect_slots(1).await;
        let mut frame = ostrich_protocol::PROTOCOL_VERSION.to_le_bytes().to_vec();
        frame.extend([0xff, 0xff, 0xff]);
        peer.ws.send(Message::binary(frame)).await.expect("send");
        assert!(matches!(peer.until_gone().await, Seen::Close));
        assert!(matches!(worker.join().await, Err(WorkerError::Protocol(_))));
    }

    #[tokio::test]
    async fn state_file_carries_the_resume_credential_to_the_next_run() {
        let path = std::env::temp_dir().join(format!("ostrich-worker-session-{}.json", Uuid::new_v4()));
        let fake = Fake::bind().await;
        let config = WorkerConfig { state_file: Some(path.clone()), ..fake.config(1) };
        let worker = spawn(config.clone());
        let mut peer = fake.accept().await;
        peer.hello().await;
        peer.welcome(100, Some("R9")).await;
        peer.expect_slots(1).await;
        let (outcome, seen) = tokio::join!(worker.shutdown(), peer.until_gone());
        outcome.expect("clean shutdown");
        assert!(matches!(seen, Seen::Close));

        let worker = spawn(config);
        let mut peer = fake.accept().await;
        assert_eq!(peer.hello().await, JoinCredential::Resume { credential: "R9".into() });
        worker.kill();
        let _ = std::fs::remove_file(&path);
    }
}

/// Ending: a clean shutdown sends a close frame, a kill does not.
mod ending {
    use super::*;

    #[tokio::test]
    async fn kill_drops_the_connection_without_a_close_frame() {
        let fake = Fake::bind().await;
        let worker = spawn(fake.config(1));
        let mut peer = fake.accept().await;
        peer.hello().await;
        peer.welcome(0, None).await;
        peer.expect_slots(0).await;
        peer.send(ToDevice::Assign { tasks: vec![matmul(1)] }).await;
        until(&worker, "the assignment", |s| s.in_flight == 1).await;
        worker.kill();
        assert!(matches!(peer.next().await, Seen::Gone));
        let stats = worker.stats();
        assert!(stats.finished && !stats.connected);
        assert!(worker.join().await.is_ok());
    }
}
