//! Cluster mode's costs: two coordinator processes on one private `nats-server`. The same
//! swarm scenario runs with its devices on the swarm's owner, then on the other node (a
//! gateway, which relays them over NATS); and the failover time is measured from SIGKILL of
//! a swarm's owner to the first task the new owner dispatches to a device that reconnects
//! through the surviving node.

use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result, bail};
use futures_util::StreamExt;
use ostrich_nats_harness::NatsServer;
use ostrich_protocol::{Capabilities, JoinCredential, ToCoordinator, ToDevice, WasmRuntime};
use ostrich_worker::socket::{self, Socket};
use serde::Serialize;
use tokio::time::Instant;

use crate::{
    api::Api,
    coordinator::Coordinator,
    swarm::{self, Report, Scenario, blocking},
};

/// What the cluster benchmark measured.
#[derive(Debug, Serialize)]
pub struct ClusterReport {
    /// The devices on the swarm's owner.
    pub owner: Report,
    /// The same devices on the other node.
    pub gateway: Report,
    /// Verified tasks per second, devices on the owner.
    pub owner_tasks_per_s: f64,
    /// Verified tasks per second, devices on a gateway.
    pub gateway_tasks_per_s: f64,
    /// 1 − gateway / owner.
    pub gateway_cost: f64,
    /// CPU per task of the gateway node and of the NATS server, devices on the gateway, µs.
    pub gateway_node_cpu_us_per_task: f64,
    /// See `gateway_node_cpu_us_per_task`.
    pub nats_cpu_us_per_task: f64,
    /// The lease TTL the nodes ran with, seconds.
    pub lease_s: f64,
    /// Seconds from SIGKILL of the owner to the gateway closing its relayed device.
    pub detect_s: f64,
    /// Seconds from SIGKILL of the owner to the first task dispatched by the new owner.
    pub failover_s: f64,
    /// The nats-server version.
    pub nats_version: String,
}

/// Starts a node of the cluster.
fn node(binary: &Path, nats: &NatsServer, lease_s: f64) -> Result<Coordinator> {
    let env = [("OSTRICH_CLUSTER", nats.url()), ("OSTRICH_CLUSTER_LEASE_S", lease_s.to_string())];
    Coordinator::spawn(binary, &env)
}

/// Runs `scenario` with its devices on the owner, then on a gateway, then measures a
/// failover.
pub async fn run(binary: &Path, scenario: &Scenario, lease_s: f64) -> Result<ClusterReport> {
    let nats = NatsServer::start().map_err(anyhow::Error::msg)?;
    let nats_version = std::process::Command::new("nats-server")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let owner_node = node(binary, &nats, lease_s)?;
    let gateway_node = node(binary, &nats, lease_s)?;
    let owner = swarm::run(&owner_node, scenario).await.context("devices on the owner")?;
    let observe = [gateway_node.pid(), nats.pid()].into_iter().flatten().collect();
    let on_gateway = Scenario { device_url: Some(gateway_node.ws_url()), observe, ..scenario.clone() };
    let gateway = swarm::run(&owner_node, &on_gateway).await.context("devices on a gateway")?;
    let rate = |report: &Report| report.busy.as_ref().map_or(0.0, |b| b.tasks_per_s);
    let (owner_tasks_per_s, gateway_tasks_per_s) = (rate(&owner), rate(&gateway));
    let observed = gateway.busy.as_ref().map(|b| b.observed_cpu_us_per_task.clone()).unwrap_or_default();
    let (detect_s, failover_s) = failover(owner_node, &gateway_node).await.context("failover")?;
    Ok(ClusterReport {
        gateway_node_cpu_us_per_task: observed.first().copied().unwrap_or(f64::NAN),
        nats_cpu_us_per_task: observed.get(1).copied().unwrap_or(f64::NAN),
        gateway_cost: 1.0 - gateway_tasks_per_s / owner_tasks_per_s,
        owner,
        gateway,
        owner_tasks_per_s,
        gateway_tasks_per_s,
        lease_s,
        detect_s,
        failover_s,
        nats_version,
    })
}

fn capabilities() -> Capabilities {
    Capabilities {
        logical_cores: 4,
        memory_mb: 0,
        gpu: None,
        ops_score: 1000,
        platform: "simulator".into(),
        runtime: WasmRuntime::Native,
    }
}

/// Says hello; answers the socket and its welcome, or `None` when refused or closed.
async fn hello(
    url: &str,
    device: uuid::Uuid,
    credential: JoinCredential,
) -> Result<Option<(Socket, ostrich_protocol::Welcome)>> {
    let mut socket = socket::connect(url, None).await.map_err(anyhow::Error::msg)?;
    let hello = ToCoordinator::Hello {
        device_id: device,
        name: "sim-failover".into(),
        capabilities: capabilities(),
        credential,
    };
    socket::send(&mut socket, &hello).await?;
    match socket::first_message(&mut socket).await {
        Ok(ToDevice::Welcome(welcome)) => Ok(Some((socket, welcome))),
        _ => Ok(None),
    }
}

/// Waits for the next task assignment on `socket`.
async fn assigned(socket: &mut Socket) -> Result<()> {
    while let Some(message) = socket.next().await {
        if let Some(ToDevice::Assign { .. }) = socket::read(message?)? {
            return Ok(());
        }
    }
    bail!("the socket closed before a task came")
}

/// A swarm owned by `owner` with a device relayed through `gateway`; SIGKILL of the owner;
/// the device reconnects through the gateway as soon as it is closed. Answers the seconds to
/// the gateway's close and to the first task the new owner dispatches.
async fn failover(mut owner: Coordinator, gateway: &Coordinator) -> Result<(f64, f64)> {
    let master = swarm::master(&owner.ws_url()).await?;
    let api = Api::new(&owner.base_url, &master.key);
    let token = {
        let api = api.clone();
        blocking(move || api.invite()).await?.token
    };
    let device = uuid::Uuid::new_v4();
    let (mut socket, welcome) = hello(&gateway.ws_url(), device, JoinCredential::Invite { token })
        .await?
        .context("the invite is refused through the gateway")?;
    let credential = welcome.resume_credential.context("no resume credential")?;
    {
        let api = api.clone();
        blocking(move || api.submit(&Scenario::tiny_tasks(1_000_000))).await?;
    }
    socket::send(&mut socket, &ToCoordinator::WorkRequest { slots: 4 }).await?;
    tokio::time::timeout(Duration::from_secs(30), assigned(&mut socket)).await.context("no task before the kill")??;

    owner.kill();
    let killed = Instant::now();
    // Drain until the gateway closes the relayed socket (the swarm's lease expired).
    tokio::time::timeout(Duration::from_secs(60), async { while socket.next().await.is_some() {} })
        .await
        .context("the gateway never closed the device")?;
    let detect_s = killed.elapsed().as_secs_f64();
    let deadline = killed + Duration::from_secs(60);
    loop {
        let credential = JoinCredential::Resume { credential: credential.clone() };
        if let Some((mut socket, _)) = hello(&gateway.ws_url(), device, credential).await? {
            socket::send(&mut socket, &ToCoordinator::WorkRequest { slots: 4 }).await?;
            tokio::time::timeout(Duration::from_secs(30), assigned(&mut socket)).await.context("no task after")??;
            return Ok((detect_s, killed.elapsed().as_secs_f64()));
        }
        if Instant::now() > deadline {
            bail!("the device was never admitted again");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
