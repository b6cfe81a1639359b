//! The end-to-end harness: the real coordinator (with the embedded browser app) on
//! 127.0.0.1:0, Debian's chromedriver, and headless Chromium sessions driven through
//! WebDriver. Every wait polls a condition until a deadline; nothing sleeps a fixed time.

use std::{
    future::Future,
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
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

/// A chromedriver process on a free port; killed on drop.
pub struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    /// Starts Debian's chromedriver (`scripts/install-browser.sh` installs it).
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = Command::new(env_or("CHROMEDRIVER", "chromedriver"))
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (bash scripts/install-browser.sh installs it)");
        eventually("chromedriver to listen", || async { TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ()) })
            .await;
        Self { child, port }
    }
}

impl Drop for Chromedriver {
    /// Kills chromedriver's whole process group: the browsers it started too, even when a
    /// failed test never closed its sessions.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
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
            .expect("a Chromium session starts");
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
        let dir = artifacts();
        std::fs::create_dir_all(&dir).expect("artifact folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Ends the session (closes the browser).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
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
