//! The end-to-end harness: the real coordinator (with the embedded browser app) on
//! 127.0.0.1:0, Debian's chromedriver, and headless Chromium sessions driven through
//! WebDriver. Every wait polls a condition until a deadline; nothing sleeps a fixed time.

use std::{
    future::Future,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Mutex, mpsc::Receiver},
    time::{Duration, Instant},
};

use std::os::unix::process::CommandExt;

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use ostrich_coordinator::Config;
use serde_json::{Value, json};

/// How long one wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(100);

/// Polls `probe` until it returns `Some`, or fails the test at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out after {DEADLINE:?} waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// A running coordinator.
pub struct Server {
    /// Its address.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the real coordinator, which must embed the built app (`cargo xtask build-ui`).
    pub fn start(config: Config) -> Self {
        assert!(
            ostrich_coordinator::assets::embedded(),
            "the coordinator was built without the browser app: run `cargo xtask build-ui` first"
        );
        let addr = ostrich_coordinator::spawn_local(config).expect("the coordinator starts");
        Self { addr }
    }

    /// A page of the server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A coordinator process: a binary that runs the coordinator's command line
/// (`ostrich_coordinator::run_command_line`), on a loopback port it binds itself and prints
/// in its banner, with a fresh data directory; killed (SIGKILL) on drop. The browser suite's
/// cluster nodes, which it must be able to kill as a crash would.
pub struct Node {
    child: Child,
    /// Where it listens.
    pub server: Server,
}

impl Node {
    /// Starts `program` with `env` added to its environment and waits for its banner.
    pub fn start(program: &Path, env: &[(&str, String)]) -> Self {
        let data = std::env::temp_dir().join(format!("ostrich-e2e-node-{}-{}", std::process::id(), unique()));
        let mut child = Command::new(program)
            .env("OSTRICH_BIND", "127.0.0.1:0")
            .env("OSTRICH_DATA_DIR", data)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", program.display()));
        let lines = read_lines(child.stdout.take().expect("the node's stdout"));
        // Owned from here on, so that a failed wait kills it too.
        let mut node = Self { child, server: Server { addr: SocketAddr::from(([127, 0, 0, 1], 0)) } };
        let start = Instant::now();
        let port = loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            let line = lines.recv_timeout(left).unwrap_or_else(|_| panic!("no banner from {}", program.display()));
            // "… open http://127.0.0.1:PORT to become the master …"
            let port = line.split_once("open http://").and_then(|(_, rest)| {
                let address = rest.split_whitespace().next()?;
                address.rsplit_once(':')?.1.trim_end_matches('/').parse::<u16>().ok()
            });
            if let Some(port) = port {
                break port;
            }
        };
        node.server.addr.set_port(port);
        node
    }

    /// Kills the node at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP balancer in front of cluster nodes, as an operator puts one: each connection goes
/// to the first node, in order, that accepts it, so a node that is down is skipped (what a
/// balancer's health check does, without its delay). Stops when dropped.
pub struct Balancer {
    /// Where browsers connect.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    /// A balancer on a free loopback port in front of `nodes`.
    pub async fn start(nodes: Vec<SocketAddr>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the balancer");
        let addr = listener.local_addr().expect("the balancer's address");
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let nodes = nodes.clone();
                tokio::spawn(async move {
                    for node in nodes {
                        if let Ok(mut upstream) = tokio::net::TcpStream::connect(node).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, task }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// chromedriver's line on stdout once it listens, followed by the port it bound.
const STARTED: &str = "ChromeDriver was started successfully on port ";
/// chromedriver's line on stdout when the IPv4 half of its port was taken (it exits).
const PORT_TAKEN: &str = "IPv4 port not available";

/// A chromedriver process listening on a port it chose itself; killed on drop, with the
/// browsers it started and their profiles.
///
/// chromedriver binds the port (`--port=0`) and prints it; the harness reads it from its
/// own child's stdout. The port is never free between being chosen and being listened on,
/// so the process answering there is this child. (A port picked by binding `:0` and
/// released before chromedriver bound it could be taken by another test's chromedriver:
/// this one then exited, and its test talked to the other one until that one was killed,
/// then got "Connection refused". See ARCHITECTURE.md, `e2e/`.)
pub struct Chromedriver {
    child: Mutex<Child>,
    port: u16,
    log: PathBuf,
    profiles: Mutex<Vec<PathBuf>>,
}

impl Chromedriver {
    /// Starts Debian's chromedriver (`scripts/install-browser.sh` installs it) and waits
    /// until it reports its port and answers `GET /status` with `ready: true`. Its log is
    /// `target/e2e-artifacts/chromedriver/<test>.log`.
    pub async fn start() -> Self {
        let dir = artifacts().join("chromedriver");
        std::fs::create_dir_all(&dir).expect("chromedriver log folder");
        let log = dir.join(format!("{}.log", log_name()));
        let start = Instant::now();
        let mut attempt = 1;
        loop {
            match Self::launch(&log).await {
                Ok(driver) => return driver,
                // chromedriver --port=0 binds [::1]:0 first, then 127.0.0.1 on the same
                // number, and exits if another socket holds that one: its own choice (rare
                // in the full ephemeral range), so it is started again, up to the deadline.
                // Any other failure fails the test.
                Err(output) if output.contains(PORT_TAKEN) && start.elapsed() < DEADLINE => {
                    eprintln!(
                        "chromedriver's own choice of port failed (attempt {attempt}), starting it again:\n{output}"
                    );
                    attempt += 1;
                }
                Err(output) => panic!("chromedriver did not start (log {}):\n{output}", log.display()),
            }
        }
    }

    /// Starts one chromedriver and waits until it is ready; on failure answers what it
    /// printed.
    async fn launch(log: &Path) -> Result<Self, String> {
        let mut child = Command::new(env_or("CHROMEDRIVER", "chromedriver"))
            .arg("--port=0")
            .arg(format!("--log-path={}", log.display()))
            .arg("--readable-timestamp")
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (bash scripts/install-browser.sh installs it)");
        let lines = read_lines(child.stdout.take().expect("chromedriver's stdout"));
        // Owned from here on, so that a failed wait kills it too.
        let mut driver =
            Self { child: Mutex::new(child), port: 0, log: log.to_path_buf(), profiles: Mutex::new(Vec::new()) };
        let mut printed = String::new();
        let started = eventually("chromedriver to report its port", || {
            let mut outcome = None;
            while let Ok(line) = lines.try_recv() {
                if let Some(port) = line.strip_prefix(STARTED).and_then(|p| p.trim_end_matches('.').parse::<u16>().ok())
                {
                    outcome = Some(Ok(port));
                    break;
                }
                printed.push_str(&line);
                printed.push('\n');
            }
            if outcome.is_none()
                && let Some(status) = driver.exited()
            {
                // The rest of what it printed, up to the end of its stdout.
                while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
                    printed.push_str(&line);
                    printed.push('\n');
                }
                outcome = Some(Err(status));
            }
            std::future::ready(outcome)
        })
        .await;
        driver.port = match started {
            Ok(port) => port,
            Err(status) => return Err(format!("chromedriver exited ({status}) before listening:\n{printed}")),
        };
        let port = driver.port;
        eventually("chromedriver to answer /status with ready", || async move {
            tokio::task::spawn_blocking(move || ready(port)).await.ok().flatten()
        })
        .await;
        // Still running after answering, so it held the port: the answer was its own.
        if let Some(status) = driver.exited() {
            return Err(format!("chromedriver exited ({status}) after answering /status"));
        }
        Ok(driver)
    }

    /// Whether chromedriver has exited, and how.
    fn exited(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner).try_wait().ok().flatten()
    }

    /// chromedriver's state, for a failure message.
    fn describe(&self) -> String {
        let pid = self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner).id();
        let state = self.exited().map_or_else(|| "running".to_string(), |status| format!("exited ({status})"));
        format!("chromedriver pid {pid} on port {} is {state}; its log: {}", self.port, self.log.display())
    }
}

/// `GET /status` answers `ready: true`.
fn ready(port: u16) -> Option<()> {
    let status: Value = ureq::get(&format!("http://127.0.0.1:{port}/status"))
        .timeout(Duration::from_secs(5))
        .call()
        .ok()?
        .into_json()
        .ok()?;
    (status["value"]["ready"] == true).then_some(())
}

/// The lines a child prints, read on a thread of their own to the end of the stream, so
/// that the child never blocks on a full pipe.
fn read_lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            // Once nobody listens the lines are dropped, but still read.
            let _ = sender.send(line);
        }
    });
    receiver
}

/// The running test's name as a file name (cargo's test threads are named after their
/// test), or this process and a counter.
fn log_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.replace("::", "-"),
        _ => format!("{}-{}", std::process::id(), unique()),
    }
}

impl Drop for Chromedriver {
    /// Kills chromedriver's whole process group: the browsers it started too, even when a
    /// failed test never closed its sessions. Then removes their profiles.
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = child.kill();
        let _ = child.wait();
        for profile in self.profiles.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..) {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// How a browser session is started.
#[derive(Debug, Clone, Copy)]
pub struct BrowserOptions {
    /// Offer WebGPU (SwiftShader) to the page.
    pub webgpu: bool,
    /// Window width in CSS pixels.
    pub width: u32,
    /// Window height in CSS pixels.
    pub height: u32,
    /// Emulate a phone (touch, device pixel ratio 2, exact viewport width): desktop Chromium
    /// will not make a window narrower than 500 px.
    pub phone: bool,
}

impl BrowserOptions {
    /// A desktop window with WebGPU.
    pub const DESKTOP: Self = Self { webgpu: true, width: 1280, height: 1000, phone: false };
    /// A phone-sized viewport (390×844) with WebGPU.
    pub const PHONE: Self = Self { webgpu: true, width: 390, height: 844, phone: true };
}

/// One headless Chromium session.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
}

impl Browser {
    /// Opens a fresh Chromium (its own profile) through `driver`.
    pub async fn open(driver: &Chromedriver, options: BrowserOptions) -> Self {
        let profile = std::env::temp_dir().join(format!("ostrich-e2e-{}-{}", std::process::id(), unique()));
        driver.profiles.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(profile.clone());
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={},{}", options.width, options.height),
        ];
        if options.webgpu {
            args.push("--enable-unsafe-webgpu".into());
        }
        let mut chrome = json!({ "args": args, "binary": env_or("CHROMIUM", "/usr/bin/chromium") });
        if options.phone {
            chrome["mobileEmulation"] = json!({
                "deviceMetrics": { "width": options.width, "height": options.height, "pixelRatio": 2.0, "touch": true }
            });
        }
        let capabilities = json!({ "goog:chromeOptions": chrome });
        let Value::Object(capabilities) = capabilities else { unreachable!("a JSON object") };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("a Chromium session starts: {e:?} ({})", driver.describe()));
        Self { client }
    }

    /// Navigates to a URL.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigation");
    }

    /// Waits for an element to exist.
    pub async fn find(&self, css: &str) -> Element {
        eventually(&format!("element {css}"), || async { self.client.find(Locator::Css(css)).await.ok() }).await
    }

    /// Clicks an element once it exists, scrolled to the middle of the viewport so that the
    /// sticky header never covers it.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        let center = "arguments[0].scrollIntoView({block: 'center', inline: 'center'});";
        let handle = serde_json::to_value(&element).expect("an element reference");
        self.client.execute(center, vec![handle]).await.expect("scroll into view");
        element.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The text of an element, once it exists.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_default()
    }

    /// Waits until the text of an element satisfies `pred`; answers that text.
    pub async fn wait_text(&self, css: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        eventually(&format!("{css} to show {what}"), || async {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            let text = element.text().await.ok()?;
            pred(&text).then_some(text)
        })
        .await
    }

    /// Replaces the value of an input and fires its input and change events.
    pub async fn set_value(&self, css: &str, value: &str) {
        self.find(css).await;
        let script = "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
                      e.dispatchEvent(new Event('input', {bubbles: true})); \
                      e.dispatchEvent(new Event('change', {bubbles: true}));";
        self.client.execute(script, vec![json!(css), json!(value)]).await.expect("set value");
    }

    /// Saves a screenshot of the top of the page as `target/e2e-artifacts/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        self.client.execute("window.scrollTo(0, 0);", vec![]).await.expect("scroll to the top");
        let png = self.client.screenshot().await.expect("screenshot");
        save_artifact(name, &png)
    }

    /// Saves a screenshot of one element (scrolled into view) as
    /// `target/e2e-artifacts/<name>.png`: a part of the page below the first screen.
    pub async fn screenshot_of(&self, css: &str, name: &str) -> PathBuf {
        let element = self.find(css).await;
        // chromedriver crops an element to the viewport: bring all of it into view first.
        let handle = serde_json::to_value(&element).expect("an element reference");
        let center = "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});";
        self.client.execute(center, vec![handle]).await.expect("scroll into view");
        let png = element.screenshot().await.expect("element screenshot");
        save_artifact(name, &png)
    }

    /// Ends the session (closes the browser).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn save_artifact(name: &str, png: &[u8]) -> PathBuf {
    let dir = artifacts();
    std::fs::create_dir_all(&dir).expect("artifact folder");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    path
}

/// Where screenshots go: `target/e2e-artifacts`, or `$OSTRICH_ARTIFACTS`.
pub fn artifacts() -> PathBuf {
    std::env::var_os("OSTRICH_ARTIFACTS")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-artifacts"), PathBuf::from)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
