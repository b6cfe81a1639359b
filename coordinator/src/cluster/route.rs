//! Where a device belongs: the gateway's decision for each hello. A swarm this node owns is
//! served here; one another node owns is relayed there; one nobody owns (its owner died, or
//! the cluster just started) is taken over here, rebuilt from its log, and served here. A
//! swarm nobody comes back for is taken over by the first node whose sweep finds it.

use std::{sync::Arc, time::Duration};

use actix::Addr;
use ostrich_protocol::{JoinCredential, SwarmId};

use super::{
    ClusterError,
    lease::Holder,
    store::{Adoption, Cluster},
};
use crate::scheduler::{Adopt, Scheduler};

/// Where a hello goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    /// This node serves it (the swarm is here, is new, or is unknown: the scheduler answers).
    Here,
    /// Another node owns the swarm.
    There {
        /// The owning node.
        node: Arc<str>,
        /// The swarm.
        swarm: SwarmId,
    },
}

/// Places hellos; one per node, shared by its sessions.
#[derive(Clone)]
pub struct Router {
    cluster: Cluster,
    scheduler: Addr<Scheduler>,
    /// Take-overs run one at a time, so two hellos for one orphaned swarm adopt it once.
    adopting: Arc<tokio::sync::Mutex<()>>,
}

impl Router {
    /// A router for this node.
    pub fn new(cluster: Cluster, scheduler: Addr<Scheduler>) -> Self {
        Self { cluster, scheduler, adopting: Arc::default() }
    }

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Where a hello with `credential` goes.
    pub async fn place(&self, credential: &JoinCredential) -> Result<Placement, ClusterError> {
        let swarm = match credential {
            JoinCredential::Master { key: None } => return Ok(Placement::Here),
            JoinCredential::Master { key: Some(secret) } | JoinCredential::Resume { credential: secret } => {
                self.cluster.lookup(secret).await?
            }
            JoinCredential::Invite { token } => {
                self.cluster.lookup_invite(&crate::tokens::normalize(token)).await?.map(|(swarm, _)| swarm)
            }
        };
        match swarm {
            Some(swarm) => self.place_swarm(swarm).await,
            None => Ok(Placement::Here),
        }
    }

    /// Where an API call with master key `key` goes.
    pub async fn place_key(&self, key: &str) -> Result<Placement, ClusterError> {
        match self.cluster.lookup(key).await? {
            Some(swarm) => self.place_swarm(swarm).await,
            None => Ok(Placement::Here),
        }
    }

    /// Where a request for `swarm` goes; takes the swarm over if nobody holds it.
    pub async fn place_swarm(&self, swarm: SwarmId) -> Result<Placement, ClusterError> {
        if self.cluster.owns(swarm) {
            return Ok(Placement::Here);
        }
        match self.cluster.holder(swarm).await? {
            Some(Holder::Other(node)) => Ok(Placement::There { node: node.into(), swarm }),
            Some(Holder::Us(_)) | None => self.adopt(swarm).await,
        }
    }

    /// Every `every`, takes over the swarms nobody owns ([`Cluster::orphans`]): a dead
    /// node's swarms that no device or API call came back for. Rebuilt here, such a swarm
    /// is ready for the first device that comes back, and one abandoned for the swarm TTL
    /// is removed, log and all, as any swarm is: no swarm is left without a node to expire
    /// it. Every node sweeps; the lease decides which takes each swarm.
    pub fn adopt_orphans_every(self, every: Duration) {
        actix::spawn(async move {
            let mut ticks = actix::clock::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let orphans = match self.cluster.orphans().await {
                    Ok(orphans) => orphans,
                    Err(error) => {
                        log::warn!("cannot list the swarms nobody owns: {error}");
                        continue;
                    }
                };
                for swarm in orphans {
                    match self.adopt(swarm).await {
                        Ok(Placement::Here) if self.cluster.owns(swarm) => {
                            log::info!("swarm {swarm}: nobody owned it; taken over here");
                        }
                        Ok(_) => {}
                        Err(error) => log::warn!("swarm {swarm}: nobody owns it, and it cannot be taken here: {error}"),
                    }
                }
            }
        });
    }

    async fn adopt(&self, swarm: SwarmId) -> Result<Placement, ClusterError> {
        let _one_at_a_time = self.adopting.lock().await;
        if self.cluster.owns(swarm) {
            return Ok(Placement::Here);
        }
        match self.cluster.adopt(swarm).await? {
            Adoption::Ours(restored) => {
                self.scheduler
                    .send(Adopt(restored))
                    .await
                    .map_err(|e| ClusterError::Unavailable(format!("scheduler: {e}")))?;
                Ok(Placement::Here)
            }
            Adoption::Theirs(node) => Ok(Placement::There { node: node.into(), swarm }),
            Adoption::Unknown => Ok(Placement::Here),
        }
    }
}
