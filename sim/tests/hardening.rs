//! The hostile and soak scenarios against an in-process coordinator, scaled down: the
//! coordinator refuses every hostile socket's frame with 1009 while the honest swarm keeps
//! computing, and a run with churn completes jobs with devices dropping, rejoining, joining
//! and leaving.

use std::time::Duration;

use ostrich_coordinator::Config;
use ostrich_sim::{
    coordinator::Coordinator,
    hostile::{self, Attack},
    soak::{self, Soak},
};

async fn in_process(config: Config) -> Coordinator {
    let addr = ostrich_coordinator::spawn_local(config).expect("coordinator");
    tokio::task::spawn_blocking(move || Coordinator::attach(&format!("http://{addr}"), None))
        .await
        .expect("join")
        .expect("healthy coordinator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sockets_are_refused_at_their_first_header_while_the_swarm_computes() {
    let coordinator = in_process(Config { snapshot_interval_s: 0.1, ..Config::default() }).await;
    let attack = Attack {
        sockets: 20,
        per_address: 2,
        devices: 10,
        slots: 2,
        task_time: Duration::from_millis(5),
        window: Duration::from_millis(600),
        settle: Duration::from_millis(300),
        after: Duration::ZERO,
        connect_concurrency: 8,
    };
    let report = hostile::run(&coordinator, &attack).await.expect("scenario");
    assert_eq!((report.connected, report.addresses), (10, 10), "{report:?}");
    assert!(report.upgraded >= 20, "every socket attacked at least once: {report:?}");
    assert_eq!(report.close_codes.keys().copied().collect::<Vec<_>>(), vec![1009], "{report:?}");
    assert_eq!((report.refused_429, report.refused_other, report.connect_errors), (0, 0, 0), "{report:?}");
    assert!(report.honest_tasks_per_s > 0.0 && report.attacked_tasks_per_s > 0.0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_completes_jobs_through_churn() {
    let coordinator = in_process(Config { snapshot_interval_s: 0.2, ..Config::default() }).await;
    let run = Soak {
        devices: 30,
        duration: Duration::from_secs(4),
        warmup: Duration::from_secs(1),
        slots: 2,
        task_time: Duration::from_millis(20),
        churners: 0.3,
        online: Duration::from_millis(500),
        away: Duration::from_millis(100),
        transients: 4,
        transient_life: Duration::from_millis(500),
        job_tasks: 400,
        jobs_ahead: 2,
        sample_every: Duration::from_millis(250),
        connect_concurrency: 8,
    };
    let report = soak::run(&coordinator, &run).await.expect("soak");
    assert!(report.jobs_completed >= 1 && report.jobs_failed == 0, "{report:?}");
    assert!(report.tasks_verified >= 400, "{report:?}");
    assert!(report.rejoins > 0, "churners rejoined: {report:?}");
    assert!(report.new_devices > 4 && report.left > 0, "brand-new devices came and went: {report:?}");
    assert_eq!((report.closed_by_coordinator, report.connect_failures), (0, 0), "{report:?}");
    assert!(report.samples.len() >= 10, "{report:?}");
}
