use ostrich_coordinator::Config;
use ostrich_e2e::{Browser, BrowserOptions, Chromedriver, Server, eventually};
use ostrich_example_monte_carlo::Params;
use ostrich_example_raytrace::Frame;
use ostrich_protocol::{JoinCredential, read_results};
use serde_json::{Value, json};

use crate::common::*;

fn post(server: &Server, key: &str, path: &str) -> ureq::Request {
    ureq::post(&server.url(path)).set("Authorization", &format!("Bearer {key}"))
}

/// Uploads a module over the API; answers its name.
fn upload(server: &Server, key: &str, module: &[u8]) -> String {
    let body: Value =
        post(server, key, "/api/modules").send_bytes(module).expect("uploaded").into_json().expect("json");
    body["module"].as_str().expect("a name").to_string()
}

/// Submits a wasm range job over the API with every result audited (an audit floor of
/// 100 %, so no device's trust lets a result through unreplicated); answers its id.
fn submit(server: &Server, key: &str, module: &str, name: &str, count: u32, args: &[u8], limits: Value) -> u64 {
    let spec = json!({ "Wasm": {
        "module": module,
        "name": name,
        "verification": { "Adaptive": { "audit_floor_ppm": 1_000_000 } },
        "input": { "Range": { "count": count, "args": args } },
        "limits": limits,
    }});
    let body: Value = post(server, key, "/api/jobs").send_json(spec).expect("submitted").into_json().expect("json");
    body["job_id"].as_u64().expect("an id")
}

/// The outputs of a completed wasm job, in task order.
fn outputs(server: &Server, key: &str, id: u64) -> Vec<Vec<u8>> {
    let file = download(server, key, id);
    read_results(&file).expect("a result file").into_iter().map(<[u8]>::to_vec).collect()
}

/// A CPU-only phone joined through an invite minted over the API, once connected.
async fn join_phone(driver: &Chromedriver, server: &Server, key: &str) -> (Browser, String) {
    let invite: Value = post(server, key, "/api/invites").call().expect("an invite").into_json().expect("json");
    let token = invite["token"].as_str().expect("a token").to_string();
    let phone = Browser::open(driver, BrowserOptions { webgpu: false, ..BrowserOptions::PHONE }).await;
    phone.goto(&server.url(&format!("/join?token={token}&kernel=cpu"))).await;
    phone.wait_text("#connection-status", "connected", |t| t.to_lowercase().contains("connected")).await;
    (phone, token)
}

/// A user kernel in Chromium: a task past its time limit loses its Web Worker, which is
/// replaced, and fails with the reason, while the page carries on; then, beside a native
/// worker, Monte Carlo and ray-tracer tasks give byte-identical outputs in the browser and
/// under wasmtime: every result is replicated across the two (the jobs' audit floor is
/// 100 %: after 20 agreements a device is trusted, and 24 tasks would otherwise let some
/// through unaudited) and every replica agrees, and the results equal the local
/// references; so do the bits of a NaN, which the stored module canonicalises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernels_run_in_the_browser_stop_at_their_limit_and_match_wasmtime_byte_for_byte() {
    let server = Server::start(Config { snapshot_interval_s: 0.5, max_task_attempts: 2, ..Config::default() });
    let driver = Chromedriver::start().await;
    let master = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    create_swarm(&master, &server).await;
    let key = api_key(&master).await;
    master.click("#compute-here").await;
    master.wait_text("#compute-here-summary", "off", |t| t.starts_with("off")).await;
    let (phone, token) = join_phone(&driver, &server, &key).await;

    // An endless loop, alone on the phone, unchecked: its worker is stopped at 500 ms.
    let endless = wat_kernel("(loop $forever (br $forever)) (i64.const 0)");
    let module = upload(&server, &key, &endless);
    let spec = json!({ "Wasm": {
        "module": module, "name": "endless", "verification": "None",
        "input": { "Range": { "count": 1, "args": [] } },
        "limits": { "time_limit_ms": 500, "max_output_bytes": 64 },
    }});
    let body: Value = post(&server, &key, "/api/jobs").send_json(spec).expect("submitted").into_json().expect("json");
    let endless_job = body["job_id"].as_u64().expect("an id");
    let failed = job_until(&server, &key, endless_job, "to fail", |j| j["state"].get("Failed").is_some()).await;
    assert!(failed["state"]["Failed"]["reason"].as_str().is_some_and(|r| r.contains("failed 2 times")), "{failed}");
    let line = master.wait_text("#terminal", "the phone's reason", |t| t.contains("time limit")).await;
    assert!(line.contains("time limit of 500 ms"), "{line}");

    // A native worker joins; both compute every task, each checking the other.
    let mut config =
        ostrich_worker::WorkerConfig::new(server.url("/ws").replace("http", "ws"), JoinCredential::Invite { token });
    config.cores = 1;
    let native = ostrich_worker::spawn(config);
    let params =
        Params { paths_per_task: 4_000, seed: 3, spot: 100.0, strike: 95.0, rate: 0.03, sigma: 0.25, years: 2.0 };
    let monte_carlo = upload(&server, &key, &example_kernel("monte-carlo"));
    let limits = json!({ "time_limit_ms": 20_000, "max_output_bytes": 1024 });
    let mc_job = submit(&server, &key, &monte_carlo, "mc", 12, &params.to_args(), limits.clone());
    let frame = Frame { width: 64, height: 48, tile: 16, samples: 2 };
    let raytrace = upload(&server, &key, &example_kernel("raytrace"));
    let ray_limits = json!({ "time_limit_ms": 20_000, "max_output_bytes": 16 * 16 * 3 });
    let ray_job = submit(&server, &key, &raytrace, "ray", frame.tiles(), &frame.to_args(), ray_limits);

    for (job, count) in [(mc_job, 12), (ray_job, frame.tiles())] {
        let done = job_until(&server, &key, job, "to complete", |j| j["state"] == "Completed").await;
        let replication = &done["replication"];
        assert_eq!(replication["agreed"], count, "every result was confirmed by the other runtime: {done}");
        assert_eq!(replication["disagreed"], 0, "{done}");
    }
    let expected: Vec<Vec<u8>> = (0..12)
        .map(|i| ostrich_example_monte_carlo::run(&ostrich_protocol::range_input(i, &params.to_args())))
        .collect();
    assert_eq!(outputs(&server, &key, mc_job), expected);
    let tiles = outputs(&server, &key, ray_job);
    let expected: Vec<Vec<u8>> = (0..u64::from(frame.tiles()))
        .map(|i| ostrich_example_raytrace::run(&ostrich_protocol::range_input(i, &frame.to_args())))
        .collect();
    assert_eq!(tiles, expected);

    // NaN bits: for 0/0, V8 on x86 writes the negative NaN and wasmtime the positive one,
    // unless the module canonicalises them, as every stored module does. Every result is
    // audited across the two runtimes, and they all agree on the canonical bits.
    let nan = wat_kernel(
        "(local.set $out (call $alloc (i32.const 8)))
    (f64.store (local.get $out) (f64.div (f64.const 0) (f64.convert_i32_s (i32.sub (local.get $len) (i32.const 8)))))
    (i64.or (i64.extend_i32_u (local.get $out)) (i64.shl (i64.const 8) (i64.const 32)))",
    );
    let nan_module = upload(&server, &key, &nan);
    let spec = json!({ "Wasm": {
        "module": nan_module, "name": "nan",
        "verification": { "Adaptive": { "audit_floor_ppm": 1_000_000 } },
        "input": { "Range": { "count": 6, "args": [] } },
        "limits": { "time_limit_ms": 20_000, "max_output_bytes": 8 },
    }});
    let body: Value = post(&server, &key, "/api/jobs").send_json(spec).expect("submitted").into_json().expect("json");
    let nan_job = body["job_id"].as_u64().expect("an id");
    let done = job_until(&server, &key, nan_job, "to complete", |j| j["state"] == "Completed").await;
    assert_eq!((done["replication"]["agreed"].as_u64(), done["replication"]["disagreed"].as_u64()), (Some(6), Some(0)));
    assert_eq!(outputs(&server, &key, nan_job), vec![ostrich_wasm::canonical::F64_NAN.to_le_bytes().to_vec(); 6]);

    // Both devices did part of the work: the phone's row counts verified results.
    let phone_done = eventually("the phone's verified results in the device table", || async {
        let text = master.text("#device-table").await;
        text.lines().any(|l| l.contains("Chrome") || l.contains("Android")).then_some(text)
    })
    .await;
    assert!(!phone_done.is_empty());
    // The dashboard's form: a kernel file and a text file of inputs, one task per line.
    let folder = std::env::temp_dir().join(format!("ostrich-wasm-form-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("a folder");
    let (kernel, lines) = (folder.join("reverse.wasm"), folder.join("words.txt"));
    std::fs::write(&kernel, reverse_kernel()).expect("write");
    std::fs::write(&lines, "alpha\nbeta\ngamma\n").expect("write");
    master.set_value("#job-kind", "wasm").await;
    master.find("#wasm-module").await.send_keys(kernel.to_str().expect("utf-8")).await.expect("the kernel file");
    master.set_value("#wasm-input", "lines").await;
    master.wait_text("#wasm-input-help", "the help for text lines", |t| t.contains("line of the text file")).await;
    master.find("#wasm-inputs").await.send_keys(lines.to_str().expect("utf-8")).await.expect("the inputs file");
    master.click("#submit-wasm-job").await;
    let status = master.wait_text("#wasm-status", "the job submitted", |t| t.contains("submitted")).await;
    let form_job: u64 = status.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("Job N submitted");
    let done = job_until(&server, &key, form_job, "to complete", |j| j["state"] == "Completed").await;
    assert_eq!(outputs(&server, &key, form_job), vec![b"ahpla".to_vec(), b"ateb".to_vec(), b"ammag".to_vec()]);
    let row = format!("[data-job-id=\"{form_job}\"]");
    // Both devices are trusted by now (24 agreements each): the row shows however many of
    // the three were audited, as the API counts them.
    let agreed = format!("{} agreed", done["replication"]["agreed"]);
    let checks = master.wait_text(&format!("{row} .job-replication"), &agreed, |t| t.contains(&agreed)).await;
    assert!(checks.contains("verification overhead"), "{checks}");
    master.screenshot_of("form.job-form", "wasm-form").await;
    master.screenshot_of(&row, "wasm-job-row").await;
    master.screenshot("wasm-dashboard").await;
    phone.screenshot("wasm-phone").await;
    drop(native);
}

/// `run` answers its input reversed; written by hand in WAT.
fn reverse_kernel() -> Vec<u8> {
    wat::parse_str(ostrich_wasm::wat_kernels::reverse()).expect("valid WAT")
}

/// A kernel around a `run` body, written by hand in WAT.
fn wat_kernel(run_body: &str) -> Vec<u8> {
    wat::parse_str(ostrich_wasm::wat_kernels::with_run(run_body, "")).expect("valid WAT")
}
