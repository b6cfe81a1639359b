use ostrich_e2e::{Browser, BrowserOptions, Chromedriver, Server};
use serde_json::Value;

/// The page's own self-test runs one seeded tile on the WebGPU kernel and on the CPU kernel,
/// checks both with Freivalds and compares them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webgpu_and_cpu_matmul_agree_in_the_browser() {
    let server = Server::start(ostrich_coordinator::Config::default());
    let driver = Chromedriver::start().await;
    let browser = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    browser.goto(&server.url("/join")).await;
    let script = "const done = arguments[arguments.length - 1];
        import('/swarm_ui.js')
          .then(async (m) => { await m.default(); return m.self_test_kernels(); })
          .then(done, (e) => done(JSON.stringify({ ok: false, error: String(e) })));";
    let answer = browser.client.execute_async(script, vec![]).await.expect("the self-test runs");
    let report: Value = serde_json::from_str(answer.as_str().unwrap_or("{}")).expect("a JSON report");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["cpu_verified"], true, "{report}");
    assert_eq!(report["gpu_verified"], true, "{report}");
    assert!(report["max_rel_diff"].as_f64() <= report["tolerance"].as_f64(), "{report}");
    browser.close().await;
}
