use std::time::Duration;

use ostrich_coordinator::Config;
use ostrich_protocol::{
    CommandErrorCode, JobSpec, JoinCredential, MandelbrotSpec, MandelbrotView, MasterCommand, RejectCode, Snapshot,
    SwarmUsage, ToDevice,
};
use serde_json::{Value, json};

use crate::common::*;

fn mandelbrot(width: u32) -> JobSpec {
    let view = MandelbrotView { width, height: width, center_re: -0.5, center_im: 0.0, zoom: 1.0, max_iter: 50 };
    JobSpec::Mandelbrot(MandelbrotSpec { view, tile: 64 })
}

/// Submits a job through the socket; answers the refusal, if any.
async fn submit(master: &mut Client, spec: JobSpec) -> Option<(CommandErrorCode, String)> {
    master.command(MasterCommand::SubmitJob { spec }).await;
    master
        .recv_until(|m| match m {
            ToDevice::CommandOk { job_id: Some(_), .. } => Some(None),
            ToDevice::CommandError { code, message } => Some(Some((code, message))),
            _ => None,
        })
        .await
}

/// The usage in the master's next snapshot.
async fn usage(master: &mut Client) -> SwarmUsage {
    master
        .recv_until(|m| match m {
            ToDevice::Snapshot(Snapshot::Master { usage, .. }) => Some(usage),
            _ => None,
        })
        .await
}

fn post(server: &Server, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let request = ureq::post(&server.http(path)).set("Authorization", &format!("Bearer {key}"));
    let response = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    match response {
        Ok(response) => (response.status(), response.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, response)) => (code, response.into_json().unwrap_or(Value::Null)),
        Err(error) => panic!("transport error: {error}"),
    }
}

fn quick_snapshots() -> Config {
    Config { snapshot_interval_s: 0.05, ..Config::default() }
}

#[tokio::test]
async fn a_swarm_holds_a_bounded_number_of_unfinished_jobs() {
    let server = Server::start(Config { max_jobs: 2, ..quick_snapshots() });
    let (mut master, _, key) = master(&server).await;
    assert_eq!(submit(&mut master, mandelbrot(64)).await, None);
    assert_eq!(submit(&mut master, mandelbrot(64)).await, None);
    let (code, message) = submit(&mut master, mandelbrot(64)).await.expect("refused");
    assert_eq!(code, CommandErrorCode::QuotaExceeded);
    assert!(message.contains("2 unfinished jobs"), "{message}");
    let spec = serde_json::to_value(mandelbrot(64)).expect("json");
    let (status, body) = post(&server, "/api/jobs", &key, Some(spec));
    assert_eq!(status, 429);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("2 unfinished jobs")), "{body}");
    assert_eq!(usage(&mut master).await.jobs.used, 2);

    // A cancelled job frees its place.
    master.command(MasterCommand::CancelJob { job_id: 1 }).await;
    assert_eq!(submit(&mut master, mandelbrot(64)).await, None);
}

#[tokio::test]
async fn a_swarm_holds_a_bounded_number_of_result_bytes() {
    let server = Server::start(Config { max_result_mib: 1, ..quick_snapshots() });
    let (mut master, _, key) = master(&server).await;
    // 256×256 iteration counts are 256 KiB: three fit, a fourth does not.
    for _ in 0..3 {
        assert_eq!(submit(&mut master, mandelbrot(256)).await, None);
    }
    let (code, message) = submit(&mut master, mandelbrot(512)).await.expect("refused");
    assert_eq!(code, CommandErrorCode::TooLarge);
    assert!(message.contains("1048576 bytes of results"), "{message}");
    let (status, _) = post(&server, "/api/jobs", &key, Some(serde_json::to_value(mandelbrot(512)).expect("json")));
    assert_eq!(status, 413);
    let usage = usage(&mut master).await;
    assert_eq!((usage.result_bytes.used, usage.result_bytes.limit), (3 << 18, 1 << 20));
    assert_eq!(submit(&mut master, mandelbrot(256)).await, None, "what still fits is accepted");
}

#[tokio::test]
async fn a_swarm_holds_a_bounded_number_of_devices_online() {
    let server = Server::start(Config { max_devices: 2, ..quick_snapshots() });
    let (mut master, _, _) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut first, welcome) = raw_worker(&server, &token, 1).await;
    let (_, refused) = Client::join(&server, caps(1), JoinCredential::Invite { token: token.clone() }).await;
    assert_eq!(refused.err(), Some(RejectCode::SwarmFull));

    // The worker already in carries on and may reconnect; the master always gets in.
    let resume = JoinCredential::Resume { credential: welcome.resume_credential.clone().expect("credential") };
    let mut again = Client::connect(&server).await;
    again.device_id = first.device_id;
    assert!(again.hello(caps(1), resume).await.is_ok(), "a reconnect replaces its own session");
    assert!(matches!(first.closed().await, Closed::Frame(_)));
    let usage = usage(&mut master).await;
    assert_eq!((usage.devices.used, usage.devices.limit), (2, 2));
}

#[tokio::test]
async fn a_swarm_holds_a_bounded_number_of_unexpired_invites() {
    let server = Server::start(Config { max_invites: 2, ..quick_snapshots() });
    let (mut master, _, key) = master(&server).await;
    let first = invite(&mut master).await;
    invite(&mut master).await;
    master.command(MasterCommand::CreateInvite).await;
    let (code, message) = master
        .recv_until(|m| if let ToDevice::CommandError { code, message } = m { Some((code, message)) } else { None })
        .await;
    assert_eq!(code, CommandErrorCode::QuotaExceeded);
    assert!(message.contains("2 unexpired invites"), "{message}");
    assert_eq!(post(&server, "/api/invites", &key, None).0, 429);
    let usage = usage(&mut master).await;
    assert_eq!((usage.invites.used, usage.invites.limit), (2, 2));
    master.command(MasterCommand::RevokeInvite { token: first.token }).await;
    master.recv_until(|m| matches!(m, ToDevice::CommandOk { .. }).then_some(())).await;
    invite(&mut master).await;
}

#[tokio::test]
async fn an_address_may_create_only_a_few_swarms_a_minute() {
    let server = Server::start(Config { swarms_per_minute: 2, ..Config::default() });
    let (mut first, _, _) = master(&server).await;
    master(&server).await;
    let (_, refused) = Client::join(&server, caps(1), JoinCredential::Master { key: None }).await;
    assert_eq!(refused.err(), Some(RejectCode::RateLimited));
    first.command(MasterCommand::SetThrottle { percent: 10 }).await;
    first.recv_until(|m| matches!(m, ToDevice::CommandOk { .. }).then_some(())).await;
}

#[tokio::test]
async fn an_abandoned_swarm_is_removed_and_a_busy_one_is_kept() {
    let server = Server::start(Config { swarm_ttl_s: 0.4, ..Config::default() });
    let (abandoned, welcome, abandoned_key) = master(&server).await;
    let (_online, _, online_key) = master(&server).await;
    let (mut busy, _, busy_key) = master(&server).await;
    assert_eq!(submit(&mut busy, mandelbrot(64)).await, None);
    drop((abandoned, busy));

    // Watched through /metrics: an API call with its key would count as activity.
    let series = format!("swarm=\"{}\"", welcome.swarm_id);
    poll("the abandoned swarm to be removed", Duration::from_secs(10), || {
        let text = ureq::get(&server.http("/metrics")).call().ok()?.into_string().ok()?;
        (!text.contains(&series)).then_some(())
    })
    .await;
    assert!(matches!(get(&server, "/api/jobs", &abandoned_key), Err(ureq::Error::Status(401, _))));
    for (what, key) in [("a swarm with a device online", &online_key), ("a swarm with an unfinished job", &busy_key)] {
        assert!(get(&server, "/api/jobs", key).is_ok(), "{what} is kept");
    }
    let listed: Value = get(&server, "/api/jobs", &busy_key).expect("jobs").into_json().expect("json");
    assert_eq!(listed[0]["state"], json!("Running"));
}
