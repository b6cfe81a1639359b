//! The simulator against an in-process coordinator: misbehaving devices do not stop a job
//! (built-in or user kernel) from completing with the right result, and every liar ends up
//! quarantined.

use std::time::Duration;

use ostrich_coordinator::Config;
use ostrich_sim::{
    coordinator::Coordinator,
    swarm::{self, Scenario},
};

async fn coordinator() -> Coordinator {
    let config = Config { lease_s: 1.0, snapshot_interval_s: 0.1, ..Config::default() };
    let addr = ostrich_coordinator::spawn_local(config).expect("coordinator");
    tokio::task::spawn_blocking(move || Coordinator::attach(&format!("http://{addr}"), None))
        .await
        .expect("join")
        .expect("healthy coordinator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_sleepers_droppers_and_liars() {
    let coordinator = coordinator().await;
    let scenario = Scenario {
        devices: 40,
        slots: 4,
        lanes: 0,
        task_time: Duration::from_millis(1),
        sleepers: 0.1,
        droppers: 0.1,
        liars: 0.1,
        window: Some(Duration::from_millis(100)),
        job: Scenario::tiny_tasks(400),
        module: None,
        to_completion: true,
        connect_concurrency: 16,
        device_url: None,
        observe: Vec::new(),
    };
    let report = swarm::run(&coordinator, &scenario).await.expect("scenario");
    assert_eq!((report.connected, report.connect_failures), (40, 0));
    let done = report.completion.as_ref().expect("run to completion");
    assert_eq!(done.state, "Completed", "{done:?}");
    assert!(done.max_abs_error <= 1e-4, "{done:?}");
    assert_eq!((done.quarantined, done.liars), (4, 4), "{done:?}");
    assert!(done.verification_failures >= 3 * 4, "each liar fails at least 3 checks: {done:?}");
    assert!(done.redispatched > 0, "sleepers' and droppers' tasks went elsewhere: {done:?}");
    assert!(report.worker_snapshot_max > 0 && report.worker_snapshot_max <= 200, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_kernel_job_is_replicated_until_trusted_and_its_liars_are_quarantined() {
    let coordinator = coordinator().await;
    let (job, module) = Scenario::wasm_tasks(1_500).expect("the reverse kernel");
    let scenario = Scenario {
        devices: 30,
        slots: 2,
        lanes: 0,
        task_time: Duration::from_millis(1),
        sleepers: 0.0,
        droppers: 0.1,
        liars: 0.1,
        window: Some(Duration::from_millis(100)),
        job,
        module: Some(module),
        to_completion: true,
        connect_concurrency: 16,
        device_url: None,
        observe: Vec::new(),
    };
    let report = swarm::run(&coordinator, &scenario).await.expect("scenario");
    let done = report.completion.as_ref().expect("run to completion");
    assert_eq!(done.state, "Completed", "{done:?}");
    assert_eq!(done.max_abs_error, 0.0, "every output is the reversed input: {done:?}");
    // Every liar is caught. The liars give the same wrong outputs, so when they answer
    // right after an honest device they can outvote it in a tie-break and get it
    // quarantined too (the limit of replication against colluders); the result stays exact.
    assert!(done.quarantined >= done.liars && done.liars == 3, "{done:?}");
    // Every device's first results are replicated until it is trusted, so there are at
    // least as many replicas as honest devices, and more results than tasks.
    assert!(done.replicas >= 27, "{done:?}");
    assert!(done.results > done.tasks, "{done:?}");
}
