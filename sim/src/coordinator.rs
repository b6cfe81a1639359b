//! The coordinator under test: a child process the simulator starts (so its memory and CPU
//! can be read from `/proc`), or one already running.

use std::{
    fs,
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// How long a started coordinator may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Memory and CPU of the coordinator process, read from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// CPU time of all its threads, in nanoseconds.
    pub cpu_ns: u64,
}

/// The coordinator the simulated devices talk to.
pub struct Coordinator {
    /// `http://host:port` of the coordinator.
    pub base_url: String,
    pid: Option<u32>,
    child: Option<Child>,
    data_dir: Option<std::path::PathBuf>,
}

impl Coordinator {
    /// Starts `binary` on a free loopback port with the extra environment `env` and a fresh
    /// data directory (so the store is on, as in production), and waits until it answers
    /// `/healthz`.
    pub fn spawn(binary: &Path, env: &[(&str, String)]) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let data_dir = std::env::temp_dir().join(format!("ostrich-sim-data-{}-{port}", std::process::id()));
        let child = Command::new(binary)
            .env("OSTRICH_BIND", format!("127.0.0.1:{port}"))
            .env("OSTRICH_DATA_DIR", &data_dir)
            .env("RUST_LOG", std::env::var("SIM_COORDINATOR_LOG").unwrap_or_else(|_| "warn".into()))
            // Every simulated device comes from 127.0.0.1: lift the limits meant for one
            // machine on a LAN (the caller's `env` may set them again).
            .env("OSTRICH_UNADMITTED_PER_ADDRESS", "1000000")
            .env("OSTRICH_SWARMS_PER_MINUTE", "1000000")
            .env("OSTRICH_MAX_DEVICES", "1000000")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let coordinator = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            pid: Some(child.id()),
            child: Some(child),
            data_dir: Some(data_dir),
        };
        coordinator.wait_healthy()?;
        Ok(coordinator)
    }

    /// A coordinator that is already running; `pid` enables the memory and CPU figures.
    pub fn attach(base_url: &str, pid: Option<u32>) -> Result<Self> {
        let coordinator =
            Self { base_url: base_url.trim_end_matches('/').to_string(), pid, child: None, data_dir: None };
        coordinator.wait_healthy()?;
        Ok(coordinator)
    }

    fn wait_healthy(&self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("{}/healthz", self.base_url);
        loop {
            if ureq::get(&url).timeout(Duration::from_secs(1)).call().is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the coordinator at {} did not become healthy in {START_TIMEOUT:?}", self.base_url);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills a started coordinator at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The WebSocket endpoint.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base_url.replacen("http", "ws", 1))
    }

    /// The process's id, when known.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The `host:port` the coordinator listens on.
    pub fn socket_addr(&self) -> Result<std::net::SocketAddr> {
        let authority = self.base_url.split("://").nth(1).unwrap_or(&self.base_url);
        authority.parse().with_context(|| format!("{} is not an http://address:port URL", self.base_url))
    }

    /// The process's memory and CPU now, when its pid is known and `/proc` readable.
    pub fn usage(&self) -> Option<Usage> {
        usage(self.pid?)
    }

    /// Bytes of the files in a started coordinator's data directory (its store).
    pub fn store_bytes(&self) -> Option<u64> {
        let entries = fs::read_dir(self.data_dir.as_ref()?).ok()?;
        Some(entries.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
    }
}

/// The resident set size of process `pid` in bytes, from `/proc`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(rss_kb * 1024)
}

/// The memory and CPU (all threads) of process `pid`, from `/proc`.
pub fn usage(pid: u32) -> Option<Usage> {
    let rss_bytes = rss_bytes(pid)?;
    let mut cpu_ns = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let schedstat = fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        cpu_ns += schedstat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    Some(Usage { rss_bytes, cpu_ns })
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.data_dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}
