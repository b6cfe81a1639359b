//! A private `nats-server` with JetStream for tests and benchmarks: its own port, chosen by
//! the server (`-p -1`) and read from its log, and its own store in a temporary directory.
//! The server can be stopped and started again on the same port and store (a NATS restart),
//! paused and resumed; it is killed when dropped.
//!
//! `nats-server` must be on the PATH: `scripts/install-nats.sh` installs Debian's package.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// How long the server has to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running (or stopped) private NATS server.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl NatsServer {
    /// Starts a server with JetStream on a port of its choosing.
    pub fn start() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("ostrich-nats-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut server = Self { child: None, port: 0, dir };
        server.launch("-1")?;
        Ok(server)
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server gracefully (SIGTERM: it flushes its store), waiting for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, with the same store.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.launch(&self.port.to_string())
    }

    fn launch(&mut self, port: &str) -> Result<(), String> {
        let mut child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", port, "-js", "-sd"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start nats-server ({e}): run scripts/install-nats.sh"))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (tell, told) = mpsc::channel();
        std::thread::spawn(move || {
            let mut port = None;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    port = rest.rsplit(':').next().and_then(|p| p.trim().parse::<u16>().ok());
                }
                if line.contains("Server is ready") {
                    let _ = tell.send(port.ok_or_else(|| format!("no port before: {line}")));
                }
                if line.contains("[FTL]") || line.contains("[ERR]") {
                    let _ = tell.send(Err(line.clone()));
                }
            }
        });
        let port = match told.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(port)) => port,
            Ok(Err(error)) => {
                let _ = child.kill();
                return Err(format!("nats-server: {error}"));
            }
            Err(_) => {
                let _ = child.kill();
                return Err(format!("nats-server not ready within {READY_TIMEOUT:?}"));
            }
        };
        self.port = port;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    (u64::from(nanos) << 16) | NEXT.fetch_add(1, Ordering::Relaxed)
}
