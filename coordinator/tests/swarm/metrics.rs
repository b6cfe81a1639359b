use std::time::Duration;

use ostrich_protocol::{JobSpec, JobState, MasterCommand, MatmulSpec, MatrixSource, ToDevice};
use prometheus_parse::{Scrape, Value};

use crate::common::*;

fn scrape(url: &str) -> Scrape {
    let body = ureq::get(url).call().expect("metrics").into_string().expect("text");
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text")
}

fn value(scrape: &Scrape, name: &str, swarm: Option<&str>) -> Option<f64> {
    scrape.samples.iter().find(|s| s.metric == name && swarm.is_none_or(|id| s.labels.get("swarm") == Some(id))).map(
        |s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => f64::NAN,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_count_devices_results_and_swarms() {
    let server = Server::with_defaults();
    let (mut master, welcome, _) = master(&server).await;
    let swarm = welcome.swarm_id.to_string();
    let token = invite(&mut master).await.token;
    let worker = native_worker(&server, &token, 2);
    let spec = JobSpec::Matmul(MatmulSpec { m: 64, k: 32, n: 64, tile: 16, source: MatrixSource::Seeded { seed: 5 } });
    master.command(MasterCommand::SubmitJob { spec }).await;
    master
        .recv_until(|m| match m {
            ToDevice::JobProgress(p) if p.state == JobState::Completed => Some(()),
            _ => None,
        })
        .await;
    // Gauges are refreshed on the scheduler's progress tick: poll until they show the swarm.
    let url = server.http("/metrics");
    let scrape = poll("the swarm's 2 devices in /metrics", Duration::from_secs(10), || {
        Some(scrape(&url)).filter(|s| value(s, "ostrich_swarm_devices_online", Some(&swarm)) == Some(2.0))
    })
    .await;
    assert_eq!(value(&scrape, "ostrich_devices_online", None), Some(2.0));
    assert_eq!(value(&scrape, "ostrich_tasks_verified_total", None), Some(16.0));
    assert_eq!(value(&scrape, "ostrich_swarm_tasks_verified_total", Some(&swarm)), Some(16.0));
    assert_eq!(value(&scrape, "ostrich_tasks_queued", None), Some(0.0));
    assert!(value(&scrape, "ostrich_swarm_tasks_per_second", Some(&swarm)).is_some_and(|v| v > 0.0));
    assert_eq!(value(&scrape, "ostrich_verification_failures_total", None), Some(0.0));
    drop(worker);
}
