//! The phone benchmark behind `cargo xtask bench phone`: one headless-Chromium phone (390×844,
//! touch, WebGPU on SwiftShader offered) computes a seeded 1024² matmul alone, once with the
//! automatic kernel choice and once with the CPU forced, each from a fresh browser, twice,
//! alternating; then once with WebGPU forced, which is what the automatic choice did before
//! it measured. The master's browser has "Compute here" off. Prints one JSON line.
//!
//! Needs the app built into the coordinator (`cargo xtask build-ui`) and Chromium with
//! chromedriver (`scripts/install-browser.sh`).

use std::time::{Duration, Instant};

use ostrich_coordinator::Config;
use ostrich_e2e::{Browser, BrowserOptions, Chromedriver, Server};
use serde_json::{Value, json};

/// The matrix edge and tile of the job timed.
const SIZE: u32 = 1024;
const TILE: u32 = 256;
/// Runs per kernel setting; the fastest counts.
const RUNS: usize = 2;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = Server::start(Config { snapshot_interval_s: 0.5, ..Config::default() });
    let driver = Chromedriver::start().await;
    let master = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    master.goto(&server.url("/")).await;
    master.click("#create-swarm").await;
    let key = master.wait_text("#api-key", "the master key", |t| t.trim().len() == 64).await.trim().to_string();
    master.click("#compute-here").await;
    master.wait_text("#compute-here-summary", "off", |t| t.starts_with("off")).await;
    master.click("#share-button").await;
    let link = master.wait_text("#invite-link", "the join link", |t| t.contains("/join?token=")).await;
    master.click("#close-share").await;

    let mut results: Vec<Value> = Vec::new();
    let settings = (0..RUNS * 2).map(|run| if run % 2 == 0 { "auto" } else { "cpu" }).chain(["gpu"]);
    for (run, setting) in settings.enumerate() {
        let phone = Browser::open(&driver, BrowserOptions::PHONE).await;
        phone.goto(&format!("{}&kernel={setting}", link.trim())).await;
        let kernel =
            phone.wait_text("#worker-kernel", "a chosen kernel", |t| !t.trim().is_empty() && !t.contains('—')).await;
        let figures = phone.text("#worker-kernel-figures").await;
        phone.wait_text("#worker-threads", "compute threads", |t| t.trim().parse::<u32>().is_ok_and(|n| n > 0)).await;
        let seconds = time_job(&server, &key, run as u64).await;
        eprintln!("{setting}: {kernel} ({figures}): {seconds:.2} s");
        results.push(json!({ "setting": setting, "kernel": kernel.trim(), "figures": figures, "seconds": seconds }));
        phone.close().await;
    }
    let best = |setting: &str| {
        results
            .iter()
            .filter(|r| r["setting"] == setting)
            .filter_map(|r| r["seconds"].as_f64())
            .fold(f64::INFINITY, f64::min)
    };
    let report = json!({
        "size": SIZE,
        "tile": TILE,
        "runs": results,
        "auto_s": best("auto"),
        "cpu_s": best("cpu"),
        "gpu_s": best("gpu"),
    });
    println!("{report}");
    master.close().await;
}

/// Submits the seeded matmul through the API and answers the seconds until it completed.
async fn time_job(server: &Server, key: &str, seed: u64) -> f64 {
    let spec = json!({ "Matmul": { "m": SIZE, "k": SIZE, "n": SIZE, "tile": TILE, "source": { "Seeded": { "seed": seed } } } });
    let start = Instant::now();
    let answer: Value = ureq::post(&server.url("/api/jobs"))
        .set("Authorization", &format!("Bearer {key}"))
        .send_json(spec)
        .expect("the job is accepted")
        .into_json()
        .expect("json");
    let id = answer["job_id"].as_u64().expect("a job id");
    loop {
        let progress: Value = ureq::get(&server.url(&format!("/api/jobs/{id}")))
            .set("Authorization", &format!("Bearer {key}"))
            .call()
            .expect("job status")
            .into_json()
            .expect("json");
        match progress["state"].as_str() {
            Some("Completed") => return start.elapsed().as_secs_f64(),
            Some("Running") => {}
            other => panic!("job {id} ended {other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(600), "job {id} took over 10 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
