//! Cluster mode when a node dies or stalls, or NATS restarts: coordinator processes on one
//! real `nats-server`, a master on node A (which owns the swarm) and a raw worker relayed
//! through B. SIGKILL of A mid-job: another node takes the swarm from its log, the worker and
//! the master's dashboard reconnect, the job completes exactly and no result is counted
//! twice. SIGSTOP of A past its lease: A's submission after SIGCONT is refused (its epoch is
//! fenced), and the job is still exact. A NATS restart mid-job: nothing accepted is lost.
//! SIGKILL of the gateway: the owner ends its relayed sessions without waiting for their
//! heartbeat timeout. A dead owner's swarm that nobody comes back for is taken over by
//! another node on its own, and removed there once abandoned.

use ostrich_nats_harness::NatsServer;
use ostrich_protocol::{
    CommandErrorCode, JobProgress, JobSpec, JobState, JoinCredential, MasterCommand, MatmulSpec, MatrixSource,
    RejectCode, Snapshot, Task, ToCoordinator, ToDevice,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::*;

/// Seconds a swarm's lease lasts in these tests: short, so that failover is quick.
const LEASE_S: &str = "2";

fn node(nats: &NatsServer) -> (Process, Server) {
    node_with(nats, &[])
}

/// A node with more settings.
fn node_with(nats: &NatsServer, more: &[(&str, String)]) -> (Process, Server) {
    let mut env = vec![
        ("OSTRICH_CLUSTER", nats.url()),
        ("OSTRICH_CLUSTER_LEASE_S", LEASE_S.into()),
        ("OSTRICH_MAX_INVITES", INVITES.to_string()),
    ];
    env.extend(more.iter().cloned());
    start_binary(&env)
}

/// The swarms a node says it owns on `/metrics`.
fn owned(server: &Server) -> usize {
    let text = ureq::get(&server.http("/metrics")).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default();
    text.lines().filter(|line| line.starts_with("ostrich_cluster_swarm_owned{") && line.ends_with(" 1")).count()
}

/// Unexpired invites a swarm may hold in these tests.
const INVITES: usize = 2;

fn progress(server: &Server, key: &str, job: u64) -> Option<JobProgress> {
    get(server, &format!("/api/jobs/{job}"), key).ok()?.into_json().ok()
}

fn spec() -> JobSpec {
    JobSpec::Matmul(MatmulSpec { m: 16, k: 8, n: 16, tile: 4, source: MatrixSource::Seeded { seed: 5 } })
}

/// A swarm on A with a 16-tile job, three tiles verified (and committed) through a worker
/// relayed by B, and one more leased to it.
struct Started {
    master: Client,
    key: String,
    /// The invite the owner minted.
    token: String,
    job: u64,
    worker: Client,
    credential: String,
    leased: Task,
}

async fn start_job(a: &Server, b: &Server) -> Started {
    let (mut master, _, key) = master(a).await;
    let token = invite(&mut master).await.token;
    let (mut worker, welcome) = raw_worker(b, &token, 4).await;
    let credential = welcome.resume_credential.expect("a resume credential");
    master.command(MasterCommand::SubmitJob { spec: spec() }).await;
    let job = master.recv_until(|m| if let ToDevice::CommandOk { job_id, .. } = m { job_id } else { None }).await;
    worker.send(&ToCoordinator::WorkRequest { slots: 4 }).await;
    let first = assigned(&mut worker, 4).await;
    worker.send(&ToCoordinator::TaskResults { results: first[..3].iter().map(honest).collect() }).await;
    // Verified tiles are committed to the swarm's log on the tick that pushes the progress.
    master
        .recv_until(|m| match m {
            ToDevice::JobProgress(p) if p.job_id == job && p.tasks_verified == 3 => Some(()),
            _ => None,
        })
        .await;
    Started { master, key, token, job, worker, credential, leased: first[3].clone() }
}

/// Waits for the gateway to close a relayed socket because the swarm moved (code 1012).
async fn moved(client: &mut Client) {
    match client.closed().await {
        Closed::Frame(Some(frame)) => assert_eq!(frame.code, CloseCode::Restart, "{frame:?}"),
        other => panic!("expected a 1012 close, got {other:?}"),
    }
}

/// Reconnects a worker with its credential through `server`, then computes every tile it is
/// given (and a late result of the task it held before) until the job ends; answers the
/// number of tiles it was given.
async fn finish(server: &Server, started: &Started) -> usize {
    let mut worker = welcomed_again(server, started).await;
    worker.send(&ToCoordinator::WorkRequest { slots: 16 }).await;
    let rest = assigned(&mut worker, 13).await;
    // A result for a task the old owner leased is ignored, not counted.
    worker.send(&ToCoordinator::TaskResults { results: vec![honest(&started.leased)] }).await;
    worker.send(&ToCoordinator::TaskResults { results: rest.iter().map(honest).collect() }).await;
    rest.len()
}

/// Says hello with the worker's resume credential through `server` until it is welcomed
/// (a node refuses to place a device while NATS is away, and a relayed hello may be lost).
async fn welcomed_again(server: &Server, started: &Started) -> Client {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut retry = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        retry.tick().await;
        let mut client = Client::connect(server).await;
        client.device_id = started.worker.device_id;
        let hello = ToCoordinator::Hello {
            device_id: client.device_id,
            name: "test".into(),
            capabilities: caps(4),
            credential: JoinCredential::Resume { credential: started.credential.clone() },
        };
        client.send(&hello).await;
        match within("an answer or a close", client.next_message()).await {
            Some(ToDevice::Welcome(_)) => return client,
            other => assert!(tokio::time::Instant::now() < deadline, "never welcomed again: {other:?}"),
        }
    }
}

async fn assert_exact(server: &Server, key: &str, job: u64) {
    let done =
        poll("the job to end", DEADLINE, || progress(server, key, job).filter(|p| p.state != JobState::Running)).await;
    assert_eq!(done.state, JobState::Completed);
    assert_eq!((done.tasks_verified, done.tasks_total, done.verification_failures), (16, 16, 0), "nothing twice");
    assert_eq!(download_matmul(server, key, job), local_matmul(&spec()), "the result is exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owner_loses_nothing_another_node_takes_the_swarm() {
    let nats = NatsServer::start().expect("nats-server");
    let ((mut a_child, a), (mut b_child, b), (mut c_child, c)) = (node(&nats), node(&nats), node(&nats));
    for server in [&a, &b, &c] {
        wait_healthy(server).await;
    }
    let mut started = start_job(&a, &b).await;

    a_child.kill().expect("SIGKILL the owner");
    a_child.wait().expect("killed");
    // B sees the lease expire and tells its relayed worker to reconnect.
    moved(&mut started.worker).await;
    let given = finish(&b, &started).await;
    assert_eq!(given, 13, "only the tiles not yet verified are dispatched again");

    // The master's dashboard reconnects through C and shows the job.
    let (mut dashboard, welcome) =
        Client::join(&c, caps(1), JoinCredential::Master { key: Some(started.key.clone()) }).await;
    welcome.expect("the master key works after the failover");
    let shown = dashboard
        .recv_until(|m| match m {
            ToDevice::Snapshot(Snapshot::Master { jobs, .. }) => jobs.into_iter().find(|j| j.job_id == started.job),
            _ => None,
        })
        .await;
    assert!(shown.tasks_verified >= 3, "{shown:?}");

    // The swarm's invite quota came along: A's code is still counted, so one more fits;
    // and A's code can be revoked on the new owner, which frees its place.
    for _ in 1..INVITES {
        invite(&mut dashboard).await;
    }
    dashboard.command(MasterCommand::CreateInvite).await;
    let refused = dashboard.recv_until(|m| if let ToDevice::CommandError { code, .. } = m { Some(code) } else { None });
    assert_eq!(refused.await, CommandErrorCode::QuotaExceeded);
    dashboard.command(MasterCommand::RevokeInvite { token: started.token.clone() }).await;
    dashboard.recv_until(|m| matches!(m, ToDevice::CommandOk { .. }).then_some(())).await;
    let revoked = Client::join(&c, caps(1), JoinCredential::Invite { token: started.token.clone() }).await.1;
    assert_eq!(revoked.err(), Some(RejectCode::InvalidCode), "A's code was revoked everywhere");
    invite(&mut dashboard).await;

    assert_exact(&c, &started.key, started.job).await;
    // Job ids come from the cluster's counter: the new owner's next one is new, and small.
    dashboard.command(MasterCommand::SubmitJob { spec: spec() }).await;
    let next = dashboard.recv_until(|m| if let ToDevice::CommandOk { job_id, .. } = m { job_id } else { None }).await;
    assert!(started.job < 100 && next < 100 && next != started.job, "job ids {} then {next}", started.job);
    for child in [&mut b_child, &mut c_child] {
        terminate(child, DEADLINE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_nobody_comes_back_for_is_taken_over_and_expires() {
    let nats = NatsServer::start().expect("nats-server");
    // A swarm nobody uses for 10 s is removed.
    let ttl = [("OSTRICH_SWARM_TTL_S", "10".to_string())];
    let ((mut a_child, a), (mut b_child, b)) = (node_with(&nats, &ttl), node_with(&nats, &ttl));
    for server in [&a, &b] {
        wait_healthy(server).await;
    }
    let (master, _, key) = master(&a).await;
    poll("A to own the new swarm", DEADLINE, || (owned(&a) == 1).then_some(())).await;
    a_child.kill().expect("SIGKILL the owner");
    a_child.wait().expect("killed");
    drop(master);
    // No device and no API call comes back for the swarm: B's sweep takes it over all the
    // same, and, since nobody used it for its TTL, removes it there, log and all.
    poll("B to take the orphaned swarm over", DEADLINE, || (owned(&b) == 1).then_some(())).await;
    poll("B to remove the abandoned swarm", DEADLINE, || (owned(&b) == 0).then_some(())).await;
    let (_, refused) = Client::join(&b, caps(1), JoinCredential::Master { key: Some(key) }).await;
    assert_eq!(refused.err(), Some(RejectCode::InvalidCredential), "the swarm is gone");
    terminate(&mut b_child, DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_frees_its_devices_tasks_at_once() {
    let nats = NatsServer::start().expect("nats-server");
    let ((mut a_child, a), (mut b_child, b)) = (node(&nats), node(&nats));
    for server in [&a, &b] {
        wait_healthy(server).await;
    }
    let started = start_job(&a, &b).await;
    b_child.kill().expect("SIGKILL the gateway");
    b_child.wait().expect("killed");
    // A hears nothing from B and ends the session it ran for B's worker, well before the
    // worker's 60 s heartbeat timeout: the tile it held goes to a worker on A at once.
    let (mut worker, _) = raw_worker(&a, &started.token, 4).await;
    worker.send(&ToCoordinator::WorkRequest { slots: 16 }).await;
    let rest = assigned(&mut worker, 13).await;
    assert!(rest.iter().any(|task| task.id == started.leased.id), "the held tile is dispatched again");
    worker.send(&ToCoordinator::TaskResults { results: rest.iter().map(honest).collect() }).await;
    assert_exact(&a, &started.key, started.job).await;
    terminate(&mut a_child, DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_paused_past_its_lease_is_fenced() {
    let nats = NatsServer::start().expect("nats-server");
    let ((mut a_child, a), (mut b_child, b)) = (node(&nats), node(&nats));
    for server in [&a, &b] {
        wait_healthy(server).await;
    }
    let mut started = start_job(&a, &b).await;
    let pid = a_child.id().to_string();
    let signal = |name: &str| std::process::Command::new("kill").args([name, &pid]).status().expect("kill");

    assert!(signal("-STOP").success());
    moved(&mut started.worker).await;
    // The worker brings the swarm to B, which takes it over from the log.
    let given = finish(&b, &started).await;
    assert_eq!(given, 13);
    assert!(signal("-CONT").success());

    // A wakes up still holding the master's socket and believing it owns the swarm. Its
    // next write is refused: the submission is not accepted, and A lets the swarm go.
    let spec = JobSpec::Matmul(MatmulSpec { m: 4, k: 4, n: 4, tile: 4, source: MatrixSource::Seeded { seed: 1 } });
    started.master.command(MasterCommand::SubmitJob { spec }).await;
    let refused = within("A's answer", async {
        loop {
            match started.master.next_message().await {
                Some(ToDevice::CommandOk { .. }) => return false,
                Some(ToDevice::CommandError { .. }) | None => return true,
                Some(_) => {}
            }
        }
    })
    .await;
    assert!(refused, "a node past its lease must not accept a job");
    assert_exact(&b, &started.key, started.job).await;
    let jobs: Vec<JobProgress> = get(&b, "/api/jobs", &started.key).expect("jobs").into_json().expect("json");
    assert_eq!(jobs.len(), 1, "the job A was asked for after its lease is nowhere: {jobs:?}");
    for child in [&mut a_child, &mut b_child] {
        terminate(child, DEADLINE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_job_loses_nothing_accepted() {
    let mut nats = NatsServer::start().expect("nats-server");
    let ((mut a_child, a), (mut b_child, b)) = (node(&nats), node(&nats));
    for server in [&a, &b] {
        wait_healthy(server).await;
    }
    let mut started = start_job(&a, &b).await;
    nats.restart().expect("restart nats-server");
    // B's relay ended with the connection: the worker is told to reconnect, and does once
    // the cluster can place it again; the three tiles verified before the restart stay.
    assert!(matches!(started.worker.closed().await, Closed::Frame(Some(_))), "closed with a reason");
    assert_eq!(finish(&b, &started).await, 13);
    assert_exact(&b, &started.key, started.job).await;
    for child in [&mut a_child, &mut b_child] {
        terminate(child, DEADLINE).await;
    }
}
