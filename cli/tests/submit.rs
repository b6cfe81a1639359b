//! `ostrich submit` against a real coordinator with native workers: a records job from a
//! lines file and a range job, each written where asked and equal to the local reference;
//! a refused module is a clear error and a failure exit.

use std::{path::PathBuf, process::Command, time::Duration};

use ostrich_protocol::{JoinCredential, MasterCommand, ToCoordinator, ToDevice, read_results};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ostrich-cli-{}-{name}", std::process::id()))
}

/// A swarm with a master key and two native workers; answers the URL and the key.
async fn swarm() -> (String, String, Vec<ostrich_worker::WorkerHandle>) {
    let addr = ostrich_coordinator::spawn_local(ostrich_coordinator::Config::default()).expect("starts");
    let url = format!("ws://{addr}/ws");
    let mut master = ostrich_worker::WorkerConfig::new(url.clone(), JoinCredential::Master { key: None });
    master.cores = 1;
    let master = ostrich_worker::spawn(master);
    let stats = master.wait_for(Duration::from_secs(20), |s| s.master_key.is_some()).await.expect("a swarm");
    let key = stats.master_key.expect("key");
    // An invite over the master's own socket would need a raw client; the API mints one.
    let invite: serde_json::Value = ureq::post(&format!("http://{addr}/api/invites"))
        .set("Authorization", &format!("Bearer {key}"))
        .call()
        .expect("an invite")
        .into_json()
        .expect("json");
    let token = invite["token"].as_str().expect("token").to_string();
    let mut worker = ostrich_worker::WorkerConfig::new(url, JoinCredential::Invite { token });
    worker.cores = 1;
    let worker = ostrich_worker::spawn(worker);
    worker.wait_for(Duration::from_secs(20), |s| s.connected).await.expect("joined");
    let _ = (MasterCommand::CreateInvite, ToCoordinator::Heartbeat, ToDevice::Log);
    (format!("http://{addr}"), key, vec![master, worker])
}

fn ostrich(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ostrich")).args(args).output().expect("the CLI runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_writes_the_result_of_a_records_job_and_a_range_job() {
    let (url, key, workers) = swarm().await;
    let module = temp("reverse.wasm");
    std::fs::write(&module, wat::parse_str(ostrich_wasm::wat_kernels::reverse()).expect("wat")).expect("write");
    let lines = temp("lines.txt");
    std::fs::write(&lines, "alpha\nbeta\ngamma\n").expect("write");
    let out = temp("lines.bin");
    let cli = |extra: &[&str]| {
        let mut args =
            vec!["submit", "--coordinator", &url, "--key", &key, "--module", module.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        let output = tokio::task::block_in_place(|| ostrich(&args));
        (output.status.success(), String::from_utf8_lossy(&output.stderr).to_string())
    };
    let (ok, stderr) = cli(&["--lines", lines.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("3 records uploaded"), "{stderr}");
    let file = std::fs::read(&out).expect("the result is written");
    let outputs = read_results(&file).expect("a result file");
    assert_eq!(outputs, vec![b"ahpla".as_slice(), b"ateb", b"ammag"]);

    let range_out = temp("range.bin");
    let args = temp("args.bin");
    std::fs::write(&args, b"xy").expect("write");
    let (ok, stderr) = cli(&[
        "--range",
        "5",
        "--args-file",
        args.to_str().expect("utf-8"),
        "--no-verify",
        "--out",
        range_out.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{stderr}");
    let file = std::fs::read(&range_out).expect("written");
    let outputs = read_results(&file).expect("a result file");
    assert_eq!(outputs.len(), 5);
    for (index, output) in outputs.iter().enumerate() {
        let mut expected = ostrich_protocol::range_input(index as u64, b"xy");
        expected.reverse();
        assert_eq!(*output, expected.as_slice());
    }

    let bad = temp("bad.wasm");
    std::fs::write(&bad, b"not a module").expect("write");
    let output = tokio::task::block_in_place(|| {
        ostrich(&[
            "submit",
            "--coordinator",
            &url,
            "--key",
            &key,
            "--module",
            bad.to_str().expect("utf-8"),
            "--range",
            "1",
            "--out",
            "/dev/null",
        ])
    });
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("422") && stderr.contains("not a WebAssembly module"), "{stderr}");
    for path in [module, lines, out, range_out, args, bad] {
        let _ = std::fs::remove_file(path);
    }
    drop(workers);
}
