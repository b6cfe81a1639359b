//! The scripted fake coordinator: a listener on 127.0.0.1:0 whose tests play the
//! coordinator's side of each session frame by frame.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ostrich_protocol::{
    JoinCredential, Role, RunState, Task, TaskKind, ToCoordinator, ToDevice, Welcome, decode, encode,
};
use ostrich_worker::{WorkerConfig, WorkerHandle, WorkerStats};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// Generous bound for anything that should happen promptly.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A listening fake coordinator.
pub struct Fake {
    listener: TcpListener,
    url: String,
}

impl Fake {
    pub async fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("ws://{}/ws", listener.local_addr().expect("addr"));
        Self { listener, url }
    }

    /// A config for a worker joining this fake with invite `ABCD1234`, no benchmark.
    pub fn config(&self, cores: u32) -> WorkerConfig {
        WorkerConfig {
            cores,
            ops_score: Some(7),
            ..WorkerConfig::new(self.url.clone(), JoinCredential::Invite { token: "ABCD1234".into() })
        }
    }

    /// A config for a worker that creates a swarm (`key: None`) or resumes mastership of one.
    pub fn master_config(&self, cores: u32, key: Option<&str>) -> WorkerConfig {
        let credential = JoinCredential::Master { key: key.map(str::to_owned) };
        WorkerConfig { cores, ops_score: Some(7), ..WorkerConfig::new(self.url.clone(), credential) }
    }

    /// The WebSocket endpoint workers connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Accepts the next worker connection.
    pub async fn accept(&self) -> Peer {
        let (tcp, _) =
            tokio::time::timeout(DEADLINE, self.listener.accept()).await.expect("a connection").expect("accept");
        let ws = tokio_tungstenite::accept_async(tcp).await.expect("handshake");
        Peer { ws, kernels: None }
    }
}

/// The coordinator's end of one session.
pub struct Peer {
    pub ws: WebSocketStream<TcpStream>,
    /// The last kernel report the worker sent (reports are skipped like heartbeats).
    pub kernels: Option<ostrich_protocol::KernelReport>,
}

/// What the coordinator side observed next.
#[derive(Debug)]
pub enum Seen {
    Message(ToCoordinator),
    Close,
    Gone,
}

impl Peer {
    pub async fn send(&mut self, message: ToDevice) {
        self.ws.send(Message::binary(encode(&message).expect("encode"))).await.expect("send");
    }

    /// The next protocol message or end of the session, skipping heartbeats and kernel
    /// reports (kept in `kernels`).
    pub async fn next(&mut self) -> Seen {
        loop {
            let frame = tokio::time::timeout(DEADLINE, self.ws.next()).await.expect("the worker says something");
            match frame {
                Some(Ok(Message::Binary(bytes))) => match decode(&bytes).expect("decodable") {
                    ToCoordinator::Heartbeat => {}
                    ToCoordinator::Kernels(report) => self.kernels = Some(report),
                    message => return Seen::Message(message),
                },
                Some(Ok(Message::Close(_))) => return Seen::Close,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Seen::Gone,
            }
        }
    }

    /// Reads to the end of the session (answering a close frame on the way), then drops the
    /// connection as a server does; returns whether the worker sent a close frame.
    pub async fn until_gone(mut self) -> Seen {
        let mut ending = Seen::Gone;
        loop {
            match self.next().await {
                Seen::Message(message) => panic!("unexpected {message:?} while closing"),
                Seen::Close => ending = Seen::Close,
                Seen::Gone => return ending,
            }
        }
    }

    pub async fn expect(&mut self) -> ToCoordinator {
        match self.next().await {
            Seen::Message(message) => message,
            other => panic!("expected a message, saw {other:?}"),
        }
    }

    /// Expects a work request from a worker with `threads` active threads.
    pub async fn expect_slots(&mut self, threads: u32) {
        let want = threads * ostrich_worker::pool::TASKS_PER_THREAD;
        match self.expect().await {
            ToCoordinator::WorkRequest { slots } => assert_eq!(slots, want),
            other => panic!("expected a work request for {want}, got {other:?}"),
        }
    }

    /// Reads the hello and returns its credential.
    pub async fn hello(&mut self) -> JoinCredential {
        match self.expect().await {
            ToCoordinator::Hello { credential, .. } => credential,
            other => panic!("expected a hello, got {other:?}"),
        }
    }

    pub async fn welcome(&mut self, throttle: u8, resume: Option<&str>) {
        self.send(ToDevice::Welcome(Welcome {
            resume_credential: resume.map(str::to_owned),
            throttle,
            ..welcome(Role::Worker)
        }))
        .await;
    }

    /// Welcomes the device as the master of swarm 1 holding `key`, as the coordinator does
    /// for a new swarm and for a resumed mastership alike.
    pub async fn welcome_master(&mut self, key: &str) {
        self.send(ToDevice::Welcome(Welcome { master_key: Some(key.to_owned()), ..welcome(Role::Master) })).await;
    }
}

/// A welcome to swarm 1 at full throttle, running, with nothing to remember.
fn welcome(role: Role) -> Welcome {
    Welcome {
        swarm_id: Uuid::from_u128(1),
        device_id: Uuid::nil(),
        role,
        master_key: None,
        resume_credential: None,
        throttle: 100,
        run_state: RunState::Running,
        power_policy: ostrich_protocol::PowerPolicy::ALWAYS,
        enabled: true,
        heartbeat_interval_ms: 10_000,
        tls_fingerprint: None,
        log: Vec::new(),
    }
}

/// A state file path under the temp dir that no other test uses; removed on drop.
pub struct TempState(pub PathBuf);

impl TempState {
    pub fn new() -> Self {
        Self(std::env::temp_dir().join(format!("ostrich-worker-session-{}.json", Uuid::new_v4())))
    }
}

impl Drop for TempState {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn matmul(id: u64) -> Task {
    let kind = TaskKind::MatmulTile { rows: 1, k: 2, cols: 1, a: vec![1.0, 2.0], b: vec![3.0, id as f32] };
    Task { id, job_id: 1, lease_ms: 30_000, kind }
}

pub async fn until(worker: &WorkerHandle, what: &str, pred: impl Fn(&WorkerStats) -> bool) -> WorkerStats {
    match worker.wait_for(DEADLINE, pred).await {
        Ok(stats) => stats,
        Err(stats) => panic!("timed out waiting for {what}: {stats:?}"),
    }
}
