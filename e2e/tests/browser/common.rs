//! Helpers shared by the browser tests.

use std::io::Read;

use ostrich_e2e::{Browser, Server, eventually};
use serde_json::Value;

/// Opens a new swarm as a first-time user does: `/` shows the landing page, which creates
/// nothing, and "Create a swarm" makes this browser the master; answers once connected.
pub async fn create_swarm(browser: &Browser, server: &Server) {
    browser.goto(&server.url("/")).await;
    browser.find("#landing").await;
    browser.click("#create-swarm").await;
    browser.wait_text("#connection-status", "connected", |t| t.to_lowercase().contains("connected")).await;
}

/// One swarm-wide series of `/metrics`, e.g. `ostrich_swarms`.
pub fn metric(server: &Server, name: &str) -> Option<f64> {
    let text = ureq::get(&server.url("/metrics")).call().ok()?.into_string().ok()?;
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The master's API key, as the dashboard shows it.
pub async fn api_key(master: &Browser) -> String {
    master.wait_text("#api-key", "the master key", |t| t.trim().len() == 64).await.trim().to_string()
}

/// A job's progress through the HTTP API.
pub fn job(server: &Server, key: &str, id: u64) -> Value {
    ureq::get(&server.url(&format!("/api/jobs/{id}")))
        .set("Authorization", &format!("Bearer {key}"))
        .call()
        .expect("job status")
        .into_json()
        .expect("json")
}

/// Every job's progress through the HTTP API.
pub fn jobs(server: &Server, key: &str) -> Vec<Value> {
    let listed: Value = ureq::get(&server.url("/api/jobs"))
        .set("Authorization", &format!("Bearer {key}"))
        .call()
        .expect("jobs")
        .into_json()
        .expect("json");
    listed.as_array().cloned().unwrap_or_default()
}

/// A completed job's result file, exactly as the dashboard's Download button fetches it.
pub fn download(server: &Server, key: &str, id: u64) -> Vec<u8> {
    let response = ureq::get(&server.url(&format!("/api/jobs/{id}/result")))
        .set("Authorization", &format!("Bearer {key}"))
        .call()
        .expect("result");
    let mut bytes = Vec::new();
    response.into_reader().read_to_end(&mut bytes).expect("body");
    bytes
}

/// Waits until a job shows up in the API whose label starts with `label`; answers its id.
pub async fn job_id(server: &Server, key: &str, label: &str) -> u64 {
    eventually(&format!("a job labelled {label}"), || async {
        jobs(server, key).iter().rev().find(|j| j["label"].as_str().is_some_and(|l| l.starts_with(label)))?["job_id"]
            .as_u64()
    })
    .await
}

/// Waits until a job satisfies `pred`; answers its progress.
pub async fn job_until(server: &Server, key: &str, id: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("job {id} {what}"), || async {
        let progress = job(server, key, id);
        pred(&progress).then_some(progress)
    })
    .await
}

/// An example user kernel as `cargo xtask build-kernels` built it.
pub fn example_kernel(name: &str) -> Vec<u8> {
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("..").join("kernels").join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask build-kernels` first", path.display()))
}

/// Submits a Mandelbrot job through the dashboard's form.
pub async fn submit_mandelbrot(master: &Browser, width: u32, height: u32, max_iter: u32, tile: u32) {
    master.set_value("#job-kind", "mandelbrot").await;
    for (field, value) in [
        ("#mandel-width", width.to_string()),
        ("#mandel-height", height.to_string()),
        ("#mandel-center-re", "-0.75".into()),
        ("#mandel-center-im", "0.1".into()),
        ("#mandel-zoom", "1.5".into()),
        ("#mandel-iter", max_iter.to_string()),
        ("#mandel-tile", tile.to_string()),
    ] {
        master.set_value(field, &value).await;
    }
    master.click("#submit-job").await;
}

/// Submits a seeded n×n×n matmul job through the dashboard's form.
pub async fn submit_matmul(master: &Browser, size: u32, tile: u32, seed: u64) {
    master.set_value("#job-kind", "matmul").await;
    master.set_value("#matmul-size", &size.to_string()).await;
    master.set_value("#matmul-tile", &tile.to_string()).await;
    master.set_value("#matmul-seed", &seed.to_string()).await;
    master.click("#submit-job").await;
}
