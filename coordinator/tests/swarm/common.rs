//! The harness: a real coordinator on 127.0.0.1:0 in its own thread, and small helpers
//! around real WebSocket clients. Every wait has a deadline; nothing sleeps a fixed time.

use std::{future::Future, net::SocketAddr, time::Duration};

use futures_util::{SinkExt, StreamExt};
use ostrich_coordinator::Config;
use ostrich_protocol::{
    Capabilities, DeviceId, Invite, JoinCredential, MasterCommand, RejectCode, ToCoordinator, ToDevice, Welcome,
    decode, encode,
};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, protocol::CloseFrame},
};
use uuid::Uuid;

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A running coordinator.
pub struct Server {
    /// Its address.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the real coordinator with `config` (its bind address is ignored).
    pub fn start(config: Config) -> Self {
        let addr = ostrich_coordinator::spawn_local(config).expect("the coordinator starts");
        Self { addr }
    }

    /// The default configuration, for `Server::start(config())`.
    pub fn with_defaults() -> Self {
        Self::start(Config::default())
    }

    /// The WebSocket endpoint.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// An HTTP URL on the server.
    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A free loopback address.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port")
}

/// A coordinator process: killed when dropped, so a test that fails leaves none running
/// (one left behind holds the test run's output open).
pub struct Process(std::process::Child);

impl std::ops::Deref for Process {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The coordinator binary, started on a free loopback port with extra environment; its
/// data directory is a fresh temporary one unless `env` names one.
pub fn start_binary(env: &[(&str, String)]) -> (Process, Server) {
    start_binary_at(free_addr(), env)
}

/// The coordinator binary on `addr`, as [`start_binary`].
pub fn start_binary_at(addr: SocketAddr, env: &[(&str, String)]) -> (Process, Server) {
    let data = std::env::temp_dir().join(format!("ostrich-test-{}", Uuid::new_v4()));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ostrich-coordinator"))
        .env("OSTRICH_BIND", addr.to_string())
        .env("OSTRICH_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the coordinator starts");
    (Process(child), Server { addr })
}

/// Polls `/healthz` until the server answers, or fails the test at the deadline.
pub async fn wait_healthy(server: &Server) {
    poll("the coordinator to answer /healthz", DEADLINE, || ureq::get(&server.http("/healthz")).call().ok()).await;
}

/// Checks `probe` every 20 ms until it answers `Some`, or fails the test after `limit`.
pub async fn poll<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let found = async {
        loop {
            tick.tick().await;
            if let Some(value) = probe() {
                return value;
            }
        }
    };
    match tokio::time::timeout(limit, found).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Sends SIGTERM to a coordinator binary and waits until it exits, at most `limit`.
pub async fn terminate(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let sent = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(sent.expect("kill").success());
    poll("the coordinator to exit", limit, || child.try_wait().expect("wait")).await
}

/// Waits for `future` or fails the test at the deadline.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Capabilities of a plain test device.
pub fn caps(cores: u32) -> Capabilities {
    Capabilities {
        logical_cores: cores,
        memory_mb: 1024,
        gpu: None,
        ops_score: 0,
        platform: "test".into(),
        runtime: ostrich_protocol::WasmRuntime::Native,
    }
}

/// A raw protocol client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The device id it said hello with.
    pub device_id: DeviceId,
}

/// How a socket ended.
#[derive(Debug)]
pub enum Closed {
    /// A close frame, with its code and reason.
    Frame(Option<CloseFrame>),
    /// The connection dropped without one.
    Dropped,
}

impl Client {
    /// A client on an already open socket (a `wss://` one, say).
    pub fn from_socket(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self { ws, device_id: Uuid::new_v4() }
    }

    /// Opens a socket to the server.
    pub async fn connect(server: &Server) -> Self {
        let (ws, _) = within("connect", tokio_tungstenite::connect_async(server.ws_url())).await.expect("connect");
        Self { ws, device_id: Uuid::new_v4() }
    }

    /// Opens a socket and says hello; answers the welcome or the refusal.
    pub async fn join(
        server: &Server,
        capabilities: Capabilities,
        credential: JoinCredential,
    ) -> (Self, Result<Welcome, RejectCode>) {
        let mut client = Self::connect(server).await;
        let outcome = client.hello(capabilities, credential).await;
        (client, outcome)
    }

    /// Says hello with this client's device id.
    pub async fn hello(
        &mut self,
        capabilities: Capabilities,
        credential: JoinCredential,
    ) -> Result<Welcome, RejectCode> {
        let hello = ToCoordinator::Hello { device_id: self.device_id, name: "test".into(), capabilities, credential };
        self.send(&hello).await;
        match self.recv().await {
            ToDevice::Welcome(welcome) => Ok(welcome),
            ToDevice::Rejected { code, .. } => Err(code),
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    /// The raw socket, for frames the protocol does not allow.
    pub fn ws_mut(&mut self) -> &mut WebSocketStream<MaybeTlsStream<TcpStream>> {
        &mut self.ws
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &ToCoordinator) {
        self.send_raw(encode(message).expect("encode")).await;
    }

    /// Sends raw bytes as a binary frame.
    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        within("send", self.ws.send(Message::Binary(bytes.into()))).await.expect("send");
    }

    /// A master command.
    pub async fn command(&mut self, command: MasterCommand) {
        self.send(&ToCoordinator::Command(command)).await;
    }

    /// Waits until the session has handled every frame this client sent before: a worker's
    /// command is refused by its own session, after the frames ahead of it were passed on.
    pub async fn settle(&mut self) {
        self.command(MasterCommand::SetThrottle { percent: 100 }).await;
        self.recv_until(|m| matches!(m, ToDevice::CommandError { .. }).then_some(())).await;
    }

    /// The next protocol message.
    pub async fn recv(&mut self) -> ToDevice {
        within("a message", async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Binary(frame))) => {
                        return decode(&frame).expect("server frames decode");
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => panic!("socket ended while a message was expected: {other:?}"),
                }
            }
        })
        .await
    }

    /// The next protocol message, or `None` once the socket ended.
    pub async fn next_message(&mut self) -> Option<ToDevice> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Binary(frame))) => return Some(decode(&frame).expect("server frames decode")),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => return None,
            }
        }
    }

    /// Skips messages until `pick` returns something.
    pub async fn recv_until<T>(&mut self, pick: impl FnMut(ToDevice) -> Option<T>) -> T {
        self.recv_until_within(DEADLINE, pick).await
    }

    /// As [`Self::recv_until`], for waits on more work than the usual deadline covers on a
    /// loaded 2-core machine.
    pub async fn recv_until_within<T>(&mut self, limit: Duration, mut pick: impl FnMut(ToDevice) -> Option<T>) -> T {
        let found = async {
            loop {
                if let Some(value) = pick(self.recv().await) {
                    return value;
                }
            }
        };
        match tokio::time::timeout(limit, found).await {
            Ok(value) => value,
            Err(_) => panic!("timed out after {limit:?} waiting for a matching message"),
        }
    }

    /// Waits for the server to end the socket, skipping messages.
    pub async fn closed(&mut self) -> Closed {
        within("the socket to close", async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(frame))) => return Closed::Frame(frame),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return Closed::Dropped,
                }
            }
        })
        .await
    }
}

/// A new swarm's master: its socket, welcome and key.
pub async fn master(server: &Server) -> (Client, Welcome, String) {
    let (client, welcome) = Client::join(server, caps(1), JoinCredential::Master { key: None }).await;
    let welcome = welcome.expect("a new swarm is created");
    let key = welcome.master_key.clone().expect("the master gets a key");
    (client, welcome, key)
}

/// Mints an invite through the master's socket.
pub async fn invite(master: &mut Client) -> Invite {
    master.command(MasterCommand::CreateInvite).await;
    master
        .recv_until(|m| match m {
            ToDevice::InviteCreated(invite) => Some(invite),
            ToDevice::CommandError { message, .. } => panic!("invite refused: {message}"),
            _ => None,
        })
        .await
}

/// A raw worker joined by invite.
pub async fn raw_worker(server: &Server, token: &str, cores: u32) -> (Client, Welcome) {
    let (client, welcome) = Client::join(server, caps(cores), JoinCredential::Invite { token: token.into() }).await;
    (client, welcome.expect("the invite is accepted"))
}

/// A native worker joined by invite, running in this process.
pub fn native_worker(server: &Server, token: &str, cores: u32) -> ostrich_worker::WorkerHandle {
    let mut config = ostrich_worker::WorkerConfig::new(server.ws_url(), JoinCredential::Invite { token: token.into() });
    config.cores = cores;
    config.name = format!("native-{cores}");
    config.ops_score = Some(5_000);
    ostrich_worker::spawn(config)
}

/// The honest output of a matmul task, as a worker returns it.
pub fn honest(task: &ostrich_protocol::Task) -> (u64, ostrich_protocol::TaskOutput) {
    let ostrich_protocol::TaskKind::MatmulTile { rows, k, cols, a, b } = &task.kind else { panic!("a matmul task") };
    let c = ostrich_kernels::matmul::matmul_tile(a, b, *rows as usize, *k as usize, *cols as usize).expect("kernel");
    (task.id, ostrich_protocol::TaskOutput::MatmulTile { c })
}

/// Waits until `client` has been assigned at least `want` tasks; answers them.
pub async fn assigned(client: &mut Client, want: usize) -> Vec<ostrich_protocol::Task> {
    let mut tasks = Vec::new();
    while tasks.len() < want {
        tasks.extend(client.recv_until(|m| if let ToDevice::Assign { tasks } = m { Some(tasks) } else { None }).await);
    }
    tasks
}

/// An HTTP GET with the master key.
#[allow(clippy::result_large_err, reason = "ureq's error type; tests match on it")]
pub fn get(server: &Server, path: &str, key: &str) -> Result<ureq::Response, ureq::Error> {
    ureq::get(&server.http(path)).set("Authorization", &format!("Bearer {key}")).call()
}

/// Downloads a completed matmul job's `.npy` and decodes it.
pub fn download_matmul(server: &Server, key: &str, job_id: u64) -> Vec<f32> {
    let response = get(server, &format!("/api/jobs/{job_id}/result"), key).expect("the result downloads");
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).expect("body");
    ostrich_kernels::npy::decode_npy_f32(&bytes).expect("a valid .npy").2
}

/// The product a single process computes for a seeded matmul spec.
pub fn local_matmul(spec: &ostrich_protocol::JobSpec) -> Vec<f32> {
    use ostrich_kernels::seeded::{STREAM_A, STREAM_B, seeded_matrix};
    let ostrich_protocol::JobSpec::Matmul(ostrich_protocol::MatmulSpec {
        m,
        k,
        n,
        source: ostrich_protocol::MatrixSource::Seeded { seed },
        ..
    }) = spec
    else {
        panic!("a seeded matmul spec is expected")
    };
    let (m, k, n) = (*m as usize, *k as usize, *n as usize);
    let a = seeded_matrix(*seed, STREAM_A, m * k);
    let b = seeded_matrix(*seed, STREAM_B, k * n);
    ostrich_kernels::matmul::matmul_tile(&a, &b, m, k, n).expect("kernel")
}
