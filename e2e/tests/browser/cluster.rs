//! Cluster mode in the browser: two coordinator processes on one real `nats-server`, behind
//! a TCP balancer, as an operator runs them. The master's dashboard creates its swarm through
//! the balancer (node A takes it), pauses it and submits a job; A is killed (SIGKILL). The
//! dashboard reconnects through the balancer to node B, which takes the swarm over from
//! JetStream, shows the job (the swarm still paused), resumes on the master's click and
//! completes it exactly.

use ostrich_e2e::{Balancer, Browser, BrowserOptions, Chromedriver, Node, Server, eventually};
use ostrich_kernels::{
    matmul::matmul_tile,
    seeded::{STREAM_A, STREAM_B, seeded_matrix},
};
use ostrich_nats_harness::NatsServer;

use crate::common::*;

/// A cluster node (this crate's `ostrich-node`) on the NATS server, with a 2-second swarm
/// lease so that a failover is quick.
fn node(nats: &NatsServer) -> Node {
    let env = [("OSTRICH_CLUSTER", nats.url()), ("OSTRICH_CLUSTER_LEASE_S", "2".to_string())];
    Node::start(std::path::Path::new(env!("CARGO_BIN_EXE_ostrich-node")), &env)
}

/// How many swarms a node says it owns on `/metrics`.
fn owned(node: &Server) -> Option<usize> {
    let text = ureq::get(&node.url("/metrics")).call().ok()?.into_string().ok()?;
    Some(text.lines().filter(|line| line.starts_with("ostrich_cluster_swarm_owned{") && line.ends_with(" 1")).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_outlives_its_node() {
    let nats = NatsServer::start().expect("nats-server starts (bash scripts/install-nats.sh installs it)");
    let (mut a, b) = (node(&nats), node(&nats));
    let balancer = Balancer::start(vec![a.server.addr, b.server.addr]).await;
    let entry = Server { addr: balancer.addr };
    for node in [&a, &b] {
        eventually("a node to answer /healthz", || async { ureq::get(&node.server.url("/healthz")).call().ok() }).await;
    }

    // The balancer sends every connection to A while it is up: A takes the new swarm.
    let driver = Chromedriver::start().await;
    let master = Browser::open(&driver, BrowserOptions::DESKTOP).await;
    create_swarm(&master, &entry).await;
    let key = api_key(&master).await;
    eventually("node A to own the swarm", || async { (owned(&a.server)? == 1).then_some(()) }).await;
    assert_eq!(owned(&b.server), Some(0), "node B owns nothing yet");

    // Paused, the swarm holds the accepted job without computing it.
    master.click("#run-pause").await;
    master.wait_text("#run-state", "paused", |t| t.to_lowercase().contains("paused")).await;
    submit_matmul(&master, 64, 16, 11).await;
    let id = job_id(&entry, &key, "matmul").await;
    let row = format!("[data-job-id=\"{id}\"] .job-state");
    master.wait_text(&row, "the job on the dashboard", |t| !t.is_empty()).await;

    // A dies. Its lease runs out, B takes the swarm from JetStream, and the dashboard, which
    // reconnects through the balancer, lands on B.
    a.kill();
    eventually("node B to take the swarm over", || async { (owned(&b.server)? == 1).then_some(()) }).await;
    master.wait_text("#connection-status", "connected again", |t| t.to_lowercase().contains("connected")).await;
    master.wait_text(&row, "the job shown after the failover", |t| !t.is_empty()).await;
    master.screenshot("cluster-dashboard-after-failover").await;

    // The swarm is still paused: the new owner read the master's controls from the log.
    master.wait_text("#run-state", "still paused", |t| t.to_lowercase().contains("paused")).await;
    // The master resumes it (a click while the dashboard still reconnects is lost, as any
    // command sent to a closed socket: it is clicked until the state shows running).
    eventually("the swarm running again", || async {
        if master.text("#run-state").await.to_lowercase().contains("running") {
            return Some(());
        }
        master.click("#run-start").await;
        None
    })
    .await;
    job_until(&entry, &key, id, "completes on node B", |p| p["state"] == "Completed").await;
    master.wait_text(&row, "completed", |t| t.to_lowercase().contains("complete")).await;
    // The new owner's figures reach the dashboard too.
    master.wait_text("#totals-queued", "nothing queued", |t| t.trim() == "0").await;
    master.screenshot("cluster-dashboard-job-done").await;

    let (_, _, c) = ostrich_kernels::npy::decode_npy_f32(&download(&entry, &key, id)).expect("npy");
    let native = matmul_tile(&seeded_matrix(11, STREAM_A, 64 * 64), &seeded_matrix(11, STREAM_B, 64 * 64), 64, 64, 64)
        .expect("kernel");
    let worst = c.iter().zip(&native).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "the matmul completed after the failover differs from native by {worst}");
    master.close().await;
}
