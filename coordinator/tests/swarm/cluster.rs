//! Cluster mode end to end, three coordinators sharing one real `nats-server`: a master on
//! node A, workers joined through nodes B and C with an invite minted on A, a job computed
//! exactly across the nodes, and the master's controls reaching the workers on every node.
//! (Failures of nodes and of NATS: `cluster_failover.rs`.)

use std::time::Duration;

use ostrich_coordinator::Config;
use ostrich_nats_harness::NatsServer;
use ostrich_protocol::{
    JobSpec, JobState, JoinCredential, MasterCommand, MatmulSpec, MatrixSource, RejectCode, RunState, ToDevice,
};

use crate::common::*;

/// The configuration of a node of the cluster on `nats`.
fn config(nats: &NatsServer) -> Config {
    Config { cluster: Some(nats.url()), cluster_lease_s: 3.0, ..Config::default() }
}

/// A node of the cluster on `nats`.
pub fn node(nats: &NatsServer) -> Server {
    Server::start(config(nats))
}

async fn ok(master: &mut Client, command: MasterCommand) -> Option<u64> {
    master.command(command).await;
    master
        .recv_until(|m| match m {
            ToDevice::CommandOk { job_id, .. } => Some(job_id),
            ToDevice::CommandError { message, .. } => panic!("command refused: {message}"),
            _ => None,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_on_one_node_runs_workers_on_two_others() {
    let _ = env_logger::builder().is_test(true).try_init();
    let nats = NatsServer::start().expect("nats-server");
    let (a, b, c) = (node(&nats), node(&nats), node(&nats));
    for server in [&a, &b, &c] {
        wait_healthy(server).await;
    }
    let (mut master, first, key) = master(&a).await;
    // One invite minted through the master's socket on A, one through A's HTTP API.
    let token = invite(&mut master).await.token;
    let minted = ureq::post(&a.http("/api/invites")).set("Authorization", &format!("Bearer {key}")).call();
    let minted: serde_json::Value = minted.expect("POST /api/invites").into_json().expect("json");
    let api_token = minted["token"].as_str().expect("a token").to_string();
    let on_b = native_worker(&b, &token, 2);
    let on_c = native_worker(&c, &api_token, 1);
    let wait = Duration::from_secs(20);
    let joined_b = on_b.wait_for(wait, |s| s.connected && s.active_threads == 2).await.expect("joined through B");
    on_c.wait_for(wait, |s| s.connected && s.active_threads == 1).await.expect("joined through C");

    // Both workers are relayed to A, which owns the swarm; B and C own nothing.
    let swarm = first.swarm_id.to_string();
    poll_metric(&a, &format!("ostrich_cluster_swarm_owned{{swarm=\"{swarm}\"}} 1")).await;
    poll_metric(&a, "ostrich_cluster_relayed_sessions{side=\"owner\"} 2").await;
    poll_metric(&b, "ostrich_cluster_relayed_sessions{side=\"gateway\"} 1").await;
    poll_metric(&c, "ostrich_cluster_relayed_sessions{side=\"gateway\"} 1").await;
    for gateway in [&b, &c] {
        assert!(!metrics(gateway).contains("ostrich_cluster_swarm_owned{"), "a gateway owns nothing");
    }

    let spec =
        JobSpec::Matmul(MatmulSpec { m: 160, k: 90, n: 150, tile: 32, source: MatrixSource::Seeded { seed: 12 } });
    let job = ok(&mut master, MasterCommand::SubmitJob { spec: spec.clone() }).await.expect("a job id");
    master
        .recv_until(|m| match m {
            ToDevice::JobProgress(p) if p.job_id == job && p.state == JobState::Completed => Some(()),
            ToDevice::JobProgress(p) if p.job_id == job && p.state != JobState::Running => panic!("{p:?}"),
            _ => None,
        })
        .await;
    assert_eq!(download_matmul(&a, &key, job), local_matmul(&spec), "the product is exact");
    // The API answers the same through any node: B and C relay it to A.
    assert_eq!(download_matmul(&b, &key, job), local_matmul(&spec), "the result downloads through B");
    for server in [&a, &c] {
        let status = get(server, &format!("/api/jobs/{job}"), &key).expect("status").into_string().expect("body");
        assert!(status.contains("\"verification_failures\":0") && status.contains("Completed"), "{status}");
    }
    let refused = get(&c, "/api/jobs", "not-a-key").expect_err("a wrong key is refused through C too");
    assert!(matches!(refused, ureq::Error::Status(401, _)), "{refused:?}");

    // Controls reach the workers on both other nodes.
    ok(&mut master, MasterCommand::SetThrottle { percent: 50 }).await;
    on_b.wait_for(wait, |s| s.throttle == 50 && s.active_threads == 1).await.expect("throttle reaches B's worker");
    on_c.wait_for(wait, |s| s.throttle == 50).await.expect("throttle reaches C's worker");
    ok(&mut master, MasterCommand::SetRunState { state: RunState::Paused }).await;
    on_b.wait_for(wait, |s| s.run_state == RunState::Paused).await.expect("pause reaches B");
    on_c.wait_for(wait, |s| s.run_state == RunState::Paused).await.expect("pause reaches C");
    ok(&mut master, MasterCommand::SetRunState { state: RunState::Stopped }).await;
    on_b.wait_for(wait, |s| s.run_state == RunState::Stopped).await.expect("stop reaches B");
    on_c.wait_for(wait, |s| s.run_state == RunState::Stopped).await.expect("stop reaches C");
    ok(&mut master, MasterCommand::SetDeviceEnabled { device_id: joined_b.device_id, enabled: false }).await;
    on_b.wait_for(wait, |s| !s.enabled && s.slots == 0).await.expect("disable reaches B");

    // The master key works on any node: a second dashboard on C sees the same swarm.
    let (mut dashboard, welcome) = Client::join(&c, caps(1), JoinCredential::Master { key: Some(key.clone()) }).await;
    let welcome = welcome.expect("the key is admitted through C");
    assert_eq!(welcome.swarm_id, first.swarm_id);
    dashboard.command(MasterCommand::CreateInvite).await;
    let invite = dashboard
        .recv_until(|m| match m {
            ToDevice::InviteCreated(invite) => Some(invite),
            _ => None,
        })
        .await;
    assert!(!invite.token.is_empty(), "commands through C reach the owner");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_limits_hold_on_every_node() {
    let _ = env_logger::builder().is_test(true).try_init();
    let nats = NatsServer::start().expect("nats-server");
    let limited = || Server::start(Config { failed_joins_per_minute: 3, swarms_per_minute: 3, ..config(&nats) });
    let (a, b, c) = (limited(), limited(), limited());
    for server in [&a, &b, &c] {
        wait_healthy(server).await;
    }
    // This address creates its three swarms for the minute: one through B, two through A.
    let (mut owner, _, _) = master(&b).await;
    let token = invite(&mut owner).await.token;
    master(&a).await;
    master(&a).await;
    // C created none itself, yet refuses a fourth (one may slip through while A's news is
    // on its way; without the news C would create three).
    let mut created_on_c = 0;
    loop {
        match Client::join(&c, caps(1), JoinCredential::Master { key: None }).await.1 {
            Ok(_) => created_on_c += 1,
            Err(code) => break assert_eq!(code, RejectCode::RateLimited),
        }
        assert!(created_on_c <= 1, "C let the address create {created_on_c} more swarms");
    }

    // Three failed joins through A: C then refuses the address even a good code of B's swarm
    // (without the news, C and B would admit it, as neither saw a failure).
    for _ in 0..3 {
        let refused = Client::join(&a, caps(1), JoinCredential::Invite { token: "ZZZZZZZZ".into() }).await.1;
        assert_eq!(refused.err(), Some(RejectCode::InvalidCode));
    }
    within("C to refuse the address", async {
        let mut retry = tokio::time::interval(Duration::from_millis(20));
        loop {
            retry.tick().await;
            let joined = Client::join(&c, caps(1), JoinCredential::Invite { token: token.clone() }).await.1;
            if joined.err() == Some(RejectCode::RateLimited) {
                return;
            }
        }
    })
    .await;
}

fn metrics(server: &Server) -> String {
    ureq::get(&server.http("/metrics")).call().expect("/metrics").into_string().expect("text")
}

/// Waits until `server`'s `/metrics` has the line `line`.
async fn poll_metric(server: &Server, line: &str) {
    poll(line, DEADLINE, || metrics(server).lines().any(|l| l == line).then_some(())).await;
}
