use ostrich_protocol::{
    JobProgress, JobSpec, JobState, JoinCredential, MasterCommand, MatmulSpec, MatrixSource, PowerPolicy, RunState,
    Task, TaskKind, TaskOutput, ToCoordinator, ToDevice,
};

use crate::common::*;

fn progress(server: &Server, key: &str, job: u64) -> JobProgress {
    get(server, &format!("/api/jobs/{job}"), key).expect("status").into_json().expect("progress")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_accepted_before_a_power_cut_completes_after_it_with_nothing_counted_twice() {
    let data = std::env::temp_dir().join(format!("ostrich-restart-{}", uuid::Uuid::new_v4()));
    let env = [("OSTRICH_DATA_DIR", data.display().to_string())];
    let addr = free_addr();
    let (child, server) = start_binary_at(addr, &env);
    wait_healthy(&server).await;
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut worker, welcome) = raw_worker(&server, &token, 4).await;
    let credential = welcome.resume_credential.expect("a resume credential");

    let spec = JobSpec::Matmul(MatmulSpec { m: 16, k: 8, n: 16, tile: 4, source: MatrixSource::Seeded { seed: 9 } });
    master.command(MasterCommand::SubmitJob { spec: spec.clone() }).await;
    let job = master.recv_until(|m| if let ToDevice::CommandOk { job_id, .. } = m { job_id } else { None }).await;
    worker.send(&ToCoordinator::WorkRequest { slots: 4 }).await;
    let first = assigned(&mut worker, 4).await;
    let results: Vec<_> = first[..3].iter().map(honest).collect();
    worker.send(&ToCoordinator::TaskResults { results }).await;
    // Verified tiles are committed on the tick that pushes the progress.
    master
        .recv_until(|m| match m {
            ToDevice::JobProgress(p) if p.job_id == job && p.tasks_verified == 3 => Some(()),
            _ => None,
        })
        .await;

    let mut child = child;
    // A power cut: SIGKILL, nothing drained.
    child.kill().expect("kill");
    child.wait().expect("killed");
    let (mut child, server) = start_binary_at(addr, &env);
    wait_healthy(&server).await;

    let before = progress(&server, &key, job);
    assert_eq!((before.tasks_verified, &before.state), (3, &JobState::Running), "the job and its tiles survive");
    let mut worker = Client::connect(&server).await;
    worker.device_id = welcome.device_id;
    worker.hello(caps(4), JoinCredential::Resume { credential }).await.expect("the resume credential still works");
    worker.send(&ToCoordinator::WorkRequest { slots: 16 }).await;
    let rest = assigned(&mut worker, 13).await;
    assert_eq!(rest.len(), 13, "only the tiles not yet verified are dispatched again");
    // A result for a task of the last run is ignored, not counted.
    worker.send(&ToCoordinator::TaskResults { results: vec![honest(&first[3])] }).await;
    worker.send(&ToCoordinator::TaskResults { results: rest.iter().map(honest).collect() }).await;
    let done = poll("the job to end", DEADLINE, || {
        Some(progress(&server, &key, job)).filter(|p| p.state != JobState::Running)
    })
    .await;
    assert_eq!(done.state, JobState::Completed);
    assert_eq!((done.tasks_verified, done.tasks_total, done.verification_failures), (16, 16, 0));
    assert_eq!(download_matmul(&server, &key, job), local_matmul(&spec), "the same verified result");
    terminate(&mut child, DEADLINE).await;
    std::fs::remove_dir_all(&data).ok();
}

/// The master's controls survive a power cut: a swarm paused with a job waiting stays
/// paused (it does not start computing on everyone's devices), with its throttle and power
/// policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_swarm_stays_paused_across_a_power_cut() {
    let data = std::env::temp_dir().join(format!("ostrich-restart-{}", uuid::Uuid::new_v4()));
    let env = [("OSTRICH_DATA_DIR", data.display().to_string())];
    let addr = free_addr();
    let (mut child, server) = start_binary_at(addr, &env);
    wait_healthy(&server).await;
    let (mut master, _, key) = master(&server).await;
    let policy = PowerPolicy { plugged_in_only: true, min_battery_percent: 40 };
    for command in [
        MasterCommand::SetRunState { state: RunState::Paused },
        MasterCommand::SetThrottle { percent: 30 },
        MasterCommand::SetPowerPolicy { policy },
    ] {
        master.command(command).await;
        master.recv_until(|m| matches!(m, ToDevice::CommandOk { .. }).then_some(())).await;
    }
    // The submission is committed before it is acknowledged, with the controls before it.
    let spec = JobSpec::Matmul(MatmulSpec { m: 8, k: 4, n: 8, tile: 4, source: MatrixSource::Seeded { seed: 2 } });
    master.command(MasterCommand::SubmitJob { spec }).await;
    master.recv_until(|m| if let ToDevice::CommandOk { job_id, .. } = m { job_id } else { None }).await;

    child.kill().expect("kill");
    child.wait().expect("killed");
    let (mut child, server) = start_binary_at(addr, &env);
    wait_healthy(&server).await;
    let (_, welcome) = Client::join(&server, caps(1), JoinCredential::Master { key: Some(key) }).await;
    let welcome = welcome.expect("the master key survives");
    assert_eq!(
        (welcome.run_state, welcome.throttle, welcome.power_policy),
        (RunState::Paused, 30, policy),
        "the controls are as the master left them"
    );
    terminate(&mut child, DEADLINE).await;
    std::fs::remove_dir_all(&data).ok();
}

/// A wasm records job survives a power cut: its module, the records appended over HTTP
/// (before and after results arrived), its verified outputs, and whether it is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_job_its_module_and_appended_records_survive_a_power_cut() {
    use ostrich_protocol::{Record, Verification, WasmInput, WasmSpec, read_results, write_records};
    let data = std::env::temp_dir().join(format!("ostrich-restart-{}", uuid::Uuid::new_v4()));
    let env = [("OSTRICH_DATA_DIR", data.display().to_string())];
    let addr = free_addr();
    let (child, server) = start_binary_at(addr, &env);
    wait_healthy(&server).await;
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut worker, welcome) = raw_worker(&server, &token, 1).await;
    let credential = welcome.resume_credential.expect("a resume credential");
    let upload = ureq::post(&server.http("/api/modules"))
        .set("Authorization", &format!("Bearer {key}"))
        .send_bytes(&crate::wasm::reverse_wat())
        .expect("uploaded");
    let module: serde_json::Value = upload.into_json().expect("json");
    let module = ostrich_protocol::ModuleHash::from_hex(module["module"].as_str().expect("a name")).expect("hex");
    // Unchecked, so the one raw worker's results count at once.
    let spec = WasmSpec {
        module,
        name: "restart".into(),
        input: WasmInput::Records { records: vec![Record(b"ab".to_vec())], open: true },
        limits: Default::default(),
        verification: Verification::None,
    };
    master.command(MasterCommand::SubmitJob { spec: JobSpec::Wasm(spec) }).await;
    let job = master.recv_until(|m| if let ToDevice::CommandOk { job_id, .. } = m { job_id } else { None }).await;
    let append = |records: &[&[u8]], close: bool| {
        ureq::post(&server.http(&format!("/api/jobs/{job}/records?close={close}")))
            .set("Authorization", &format!("Bearer {key}"))
            .send_bytes(&write_records(records.iter().copied()))
            .map(drop)
            .map_err(|e| e.to_string())
    };
    append(&[b"cd", b"ef"], false).expect("appended");
    worker.send(&ToCoordinator::WorkRequest { slots: 2 }).await;
    let tasks = assigned(&mut worker, 2).await;
    let reversed = |task: &Task| {
        let TaskKind::Wasm { input, .. } = &task.kind else { panic!("a wasm task") };
        (task.id, TaskOutput::Wasm { output: input.iter().rev().copied().collect() })
    };
    worker.send(&ToCoordinator::TaskResults { results: tasks.iter().map(reversed).collect() }).await;
    master
        .recv_until(|m| match m {
            ToDevice::JobProgress(p) if p.job_id == job && p.tasks_verified == 2 => Some(()),
            _ => None,
        })
        .await;
    append(&[b"gh"], false).expect("appended after results");

    let mut child = child;
    child.kill().expect("kill");
    child.wait().expect("killed");
    let (mut child, server) = start_binary_at(addr, &env);
    wait_healthy(&server).await;
    let before = progress(&server, &key, job);
    assert_eq!((before.tasks_verified, before.tasks_total), (2, 4), "outputs and every appended record survive");
    let modules = get(&server, "/api/modules", &key).expect("modules").into_string().expect("text");
    assert!(modules.contains(&module.to_hex()), "{modules}");
    ureq::post(&server.http(&format!("/api/jobs/{job}/close")))
        .set("Authorization", &format!("Bearer {key}"))
        .call()
        .expect("closed");

    let mut worker = Client::connect(&server).await;
    worker.device_id = welcome.device_id;
    worker.hello(caps(1), JoinCredential::Resume { credential }).await.expect("the resume credential still works");
    worker.send(&ToCoordinator::WorkRequest { slots: 4 }).await;
    let rest = assigned(&mut worker, 2).await;
    worker.send(&ToCoordinator::TaskResults { results: rest.iter().map(reversed).collect() }).await;
    let done = poll("the job to end", DEADLINE, || {
        Some(progress(&server, &key, job)).filter(|p| p.state != JobState::Running)
    })
    .await;
    assert_eq!(done.state, JobState::Completed);
    let mut file = Vec::new();
    let result = get(&server, &format!("/api/jobs/{job}/result"), &key).expect("the result");
    std::io::Read::read_to_end(&mut result.into_reader(), &mut file).expect("body");
    assert_eq!(read_results(&file), Some(vec![b"ba".as_slice(), b"dc", b"fe", b"hg"]));
    terminate(&mut child, DEADLINE).await;
    std::fs::remove_dir_all(&data).ok();
}
