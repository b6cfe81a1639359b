//! Any node is a gateway: a device whose swarm another node owns keeps its socket here, and
//! its frames travel to the owner over NATS, untouched. The owner runs an ordinary
//! [`DeviceSession`] for it, fed from the relay instead of a socket, so everything a
//! session does (the join, commands, results, limits, heartbeats) happens where the swarm
//! is; the gateway only checks frame sizes against the limit the owner sets.
//!
//! Each node subscribes to its own subject (`<prefix>.relay.<node>`). What it sends to
//! another node is batched: a task on the NATS runtime takes every message queued for that
//! node and publishes them as one [`Packet`], so a gateway's thousand devices cost the owner
//! one NATS message per batch, not one per frame. Frames are cut into parts of at most
//! [`PART_BYTES`] (NATS refuses a message over its `max_payload`, 1 MiB by default).
//!
//! The gateway watches the leases of the swarms it relays: when one moves (its owner died
//! and another node took it), the gateway closes those sockets with code 1012, and the
//! devices reconnect and are placed again. Two nodes with links between them tell each other
//! they are alive every second; an owner that hears nothing from a gateway for
//! [`SILENCE`] ends the sessions it ran for it (their tasks go to other devices at once, not
//! after the heartbeat timeout), and a gateway does the same for a silent owner.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use actix::prelude::*;
use bytes::Bytes;
use futures_util::StreamExt;
use ostrich_protocol::{SwarmId, ToDevice, decode, encode};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{lease::Holder, store::Cluster};
use crate::{
    limits::{FrameLimit, ReceiveBudget},
    metrics::Metrics,
    session::{DeviceSession, Inbound, Outbound, Peers, ReadError, RelayedSetup},
};

/// Close code 1012, "service restart": the device reconnects.
const RESTART: u16 = 1012;
/// The largest part of a frame in one relay message.
pub const PART_BYTES: usize = 256 * 1024;
/// A packet is published once it holds this many bytes of parts.
const PACKET_BYTES: usize = 768 * 1024;
/// While busy, a node publishes relay packets at most this often.
const FLUSH_INTERVAL: Duration = Duration::from_millis(1);
/// How often a gateway checks that the swarms it relays have not moved, and how often a
/// node tells the nodes it has links with that it is alive.
const OWNER_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// A node that has not been heard from for this long is taken for dead: the links with it end.
pub const SILENCE: Duration = Duration::from_secs(5);

/// One message between nodes about one relayed connection. `link` numbers a connection at
/// its gateway.
#[derive(Debug, Serialize, Deserialize)]
enum Relay {
    /// Gateway → owner: a device of `swarm` connected from `client`; its hello follows.
    Open { link: u64, client: IpAddr, swarm: SwarmId },
    /// Gateway → owner: part of a frame the device sent; `last` ends the frame. `seq`
    /// numbers the link's messages in this direction from 0: a gap means one was lost.
    Up {
        link: u64,
        seq: u64,
        #[serde(with = "ostrich_protocol::byte_buf")]
        part: Vec<u8>,
        last: bool,
    },
    /// Gateway → owner: the device's socket closed.
    Gone { link: u64 },
    /// Owner → gateway: part of a frame for the device.
    Down {
        link: u64,
        seq: u64,
        #[serde(with = "ostrich_protocol::byte_buf")]
        part: Vec<u8>,
        last: bool,
    },
    /// Owner → gateway: the device's frame limit is now `bytes`.
    Limit { link: u64, seq: u64, bytes: u64 },
    /// Owner → gateway: close the device's socket with this code and reason.
    Close { link: u64, code: u16, reason: String },
    /// Either way: the sender is alive (sent every second to each node it has links with).
    Alive,
}

/// What one NATS message between two nodes carries.
#[derive(Debug, Serialize, Deserialize)]
struct Packet {
    /// The sending node.
    from: String,
    relays: Vec<Relay>,
}

/// Where a node's relay messages go: to the NATS runtime's sender task, by node.
#[derive(Clone)]
pub struct Outbox {
    queue: mpsc::UnboundedSender<(Arc<str>, Relay)>,
}

impl Outbox {
    fn send(&self, node: &Arc<str>, relay: Relay) {
        let _ = self.queue.send((node.clone(), relay));
    }
}

/// One direction of one relayed connection: numbers what it sends, so that the other end
/// sees a lost message (NATS drops what is published while the receiver is away).
pub struct LinkSender {
    outbox: Outbox,
    node: Arc<str>,
    link: u64,
    next: AtomicU64,
}

impl LinkSender {
    fn new(outbox: Outbox, node: Arc<str>, link: u64) -> Self {
        Self { outbox, node, link, next: AtomicU64::new(0) }
    }

    /// The link's number at its gateway.
    pub fn link(&self) -> u64 {
        self.link
    }

    fn seq(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a frame in parts, as `Up` (gateway) or `Down` (owner).
    pub fn frame(&self, frame: &[u8], up: bool) {
        let link = self.link;
        let count = frame.len().div_ceil(PART_BYTES).max(1);
        for index in 0..count {
            let part = frame.get(index * PART_BYTES..((index + 1) * PART_BYTES).min(frame.len())).unwrap_or_default();
            let (seq, part, last) = (self.seq(), part.to_vec(), index + 1 == count);
            let relay = if up { Relay::Up { link, seq, part, last } } else { Relay::Down { link, seq, part, last } };
            self.outbox.send(&self.node, relay);
        }
    }

    fn limit(&self, bytes: usize) {
        let relay = Relay::Limit { link: self.link, seq: self.seq(), bytes: bytes as u64 };
        self.outbox.send(&self.node, relay);
    }

    fn close(&self, code: u16, reason: String) {
        self.outbox.send(&self.node, Relay::Close { link: self.link, code, reason });
    }
}

/// The subject a node receives relay messages on.
fn subject(prefix: &str, node: &str) -> String {
    format!("{prefix}.relay.{node}")
}

/// Publishes queued relay messages, batched by destination. A message that finds the sender
/// idle goes at once; while busy, the sender publishes at most once per [`FLUSH_INTERVAL`],
/// so that under load one NATS message carries many frames (each message costs the NATS
/// server and both nodes about the same whatever it holds).
async fn send_packets(
    client: async_nats::Client,
    prefix: String,
    from: String,
    mut queue: mpsc::UnboundedReceiver<(Arc<str>, Relay)>,
) {
    let mut flushed = tokio::time::Instant::now() - FLUSH_INTERVAL;
    while let Some(first) = queue.recv().await {
        let due = flushed + FLUSH_INTERVAL;
        if due > tokio::time::Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let mut packets: HashMap<Arc<str>, (Vec<Relay>, usize)> = HashMap::new();
        let mut next = Some(first);
        while let Some((node, relay)) = next {
            let size = match &relay {
                Relay::Up { part, .. } | Relay::Down { part, .. } => part.len() + 32,
                Relay::Close { reason, .. } => reason.len() + 32,
                _ => 32,
            };
            let packet = packets.entry(node.clone()).or_default();
            if packet.1 + size > PACKET_BYTES && !packet.0.is_empty() {
                let relays = std::mem::take(&mut packet.0);
                packet.1 = 0;
                publish(&client, &prefix, &from, &node, relays).await;
            }
            let packet = packets.entry(node).or_default();
            packet.0.push(relay);
            packet.1 += size;
            next = queue.try_recv().ok();
        }
        for (node, (relays, _)) in packets {
            if !relays.is_empty() {
                publish(&client, &prefix, &from, &node, relays).await;
            }
        }
        flushed = tokio::time::Instant::now();
    }
}

async fn publish(client: &async_nats::Client, prefix: &str, from: &str, node: &str, relays: Vec<Relay>) {
    let packet = Packet { from: from.to_string(), relays };
    match encode(&packet) {
        Ok(bytes) => {
            if let Err(error) = client.publish(subject(prefix, node), bytes.into()).await {
                log::warn!("relay to node {node}: {error}");
            }
        }
        Err(error) => log::error!("relay to node {node}: cannot encode: {error}"),
    }
}

/// A connection relayed from this node (the gateway) to its swarm's owner.
struct GatewayLink {
    owner: Arc<str>,
    swarm: SwarmId,
    session: Recipient<Outbound>,
    limit: FrameLimit,
    partial: Vec<u8>,
    /// The next `Down`/`Limit` sequence number expected.
    expect: u64,
}

/// A connection relayed to this node (the owner) from a gateway.
struct OwnerLink {
    inbound: mpsc::UnboundedSender<Result<Inbound, ReadError>>,
    limit: FrameLimit,
    partial: Vec<u8>,
    /// The next `Up` sequence number expected.
    expect: u64,
}

/// The node's relay: both ends of every relayed connection.
pub struct RelayHub {
    cluster: Cluster,
    outbox: Outbox,
    next_link: u64,
    gateway: HashMap<u64, GatewayLink>,
    owner: HashMap<(Arc<str>, u64), OwnerLink>,
    /// When each node this one has links with was last heard from.
    heard: HashMap<Arc<str>, Instant>,
    peers: Peers,
    budget: ReceiveBudget,
    metrics: Arc<Metrics>,
}

/// What the hub needs to run owner-side sessions.
pub struct HubSetup {
    /// What the sessions talk to, and their deadlines.
    pub peers: Peers,
    /// The receive budget.
    pub budget: ReceiveBudget,
    /// Where the relay's figures go.
    pub metrics: Arc<Metrics>,
}

impl RelayHub {
    /// Starts the hub: subscribes to this node's relay subject and starts the sender.
    pub fn start(cluster: Cluster, setup: HubSetup) -> Result<(Addr<Self>, Outbox), super::ClusterError> {
        let nats = cluster.nats().clone();
        let prefix = cluster.settings().prefix.clone();
        let node = cluster.node().to_string();
        let (queue, queued) = mpsc::unbounded_channel();
        nats.spawn(send_packets(nats.client.clone(), prefix.clone(), node.clone(), queued));
        let client = nats.client.clone();
        let subscriber = nats
            .block(async move { client.subscribe(subject(&prefix, &node)).await }, super::nats::CALL_TIMEOUT)?
            .map_err(super::unavailable)?;
        let (deliver, delivered) = mpsc::unbounded_channel();
        nats.spawn(async move {
            let mut subscriber = subscriber;
            while let Some(message) = subscriber.next().await {
                match decode::<Packet>(&message.payload) {
                    Ok(packet) => {
                        if deliver.send(packet).is_err() {
                            break;
                        }
                    }
                    Err(error) => log::error!("relay: an undecodable packet: {error}"),
                }
            }
        });
        let outbox = Outbox { queue };
        let hub = Self {
            cluster,
            outbox: outbox.clone(),
            next_link: 1,
            gateway: HashMap::new(),
            owner: HashMap::new(),
            heard: HashMap::new(),
            peers: setup.peers,
            budget: setup.budget,
            metrics: setup.metrics,
        };
        let disconnects = nats.disconnects();
        // The relay and the sessions it runs for other nodes' devices get a thread of their
        // own: on the scheduler's, they took the time the scheduler needs.
        let arbiter = actix::Arbiter::new();
        let addr = RelayHub::start_in_arbiter(&arbiter.handle(), move |ctx| {
            ctx.add_stream(futures_util::stream::unfold(delivered, |mut rx| async move {
                rx.recv().await.map(|p| (p, rx))
            }));
            ctx.add_stream(futures_util::stream::unfold(disconnects, |mut rx| async move {
                use tokio::sync::broadcast::error::RecvError;
                match rx.recv().await {
                    Ok(()) | Err(RecvError::Lagged(_)) => Some((NatsDropped, rx)),
                    Err(RecvError::Closed) => None,
                }
            }));
            hub
        });
        Ok((addr, outbox))
    }

    fn on_relay(&mut self, from: &Arc<str>, relay: Relay, ctx: &mut Context<Self>) {
        match relay {
            Relay::Open { link, client, swarm } => self.open_owner_link(from.clone(), link, client, swarm, ctx),
            Relay::Up { link, seq, part, last } => {
                let key = (from.clone(), link);
                let Some(owned) = self.owner.get_mut(&key) else {
                    // A link this node does not know (it restarted, or the Open was lost).
                    let reason = "the connection to the swarm's node was lost; reconnect".to_string();
                    return self.outbox.send(from, Relay::Close { link, code: RESTART, reason });
                };
                if seq != owned.expect {
                    return self.lost_up(key);
                }
                owned.expect += 1;
                owned.partial.extend_from_slice(&part);
                let limit = owned.limit.get();
                if owned.partial.len() > limit {
                    let size = owned.partial.len() as u64;
                    let _ = owned.inbound.send(Err(ReadError::TooLarge { size, limit }));
                    self.owner.remove(&key);
                } else if last {
                    let frame = Bytes::from(std::mem::take(&mut owned.partial));
                    let _ = owned.inbound.send(Ok(Inbound::Binary { frame, held: self.budget.nothing() }));
                }
            }
            Relay::Gone { link } => {
                if let Some(owned) = self.owner.remove(&(from.clone(), link)) {
                    let _ = owned.inbound.send(Ok(Inbound::Close));
                }
            }
            Relay::Down { link, seq, part, last } => {
                let Some(gated) = self.gateway.get_mut(&link) else {
                    return self.outbox.send(from, Relay::Gone { link });
                };
                if seq != gated.expect {
                    return self.lost_down(link);
                }
                gated.expect += 1;
                gated.partial.extend_from_slice(&part);
                if last {
                    let frame = Bytes::from(std::mem::take(&mut gated.partial));
                    gated.session.do_send(Outbound::Frame(frame));
                }
            }
            Relay::Limit { link, seq, bytes } => {
                let Some(gated) = self.gateway.get_mut(&link) else {
                    return self.outbox.send(from, Relay::Gone { link });
                };
                if seq != gated.expect {
                    return self.lost_down(link);
                }
                gated.expect += 1;
                gated.limit.set(usize::try_from(bytes).unwrap_or(usize::MAX));
            }
            Relay::Close { link, code, reason } => {
                if let Some(gated) = self.gateway.remove(&link) {
                    gated.session.do_send(Outbound::Relayed { code, reason });
                }
            }
            Relay::Alive => {}
        }
    }

    /// The nodes this one has links with.
    fn linked_nodes(&self) -> HashSet<Arc<str>> {
        let owners = self.gateway.values().map(|gated| gated.owner.clone());
        owners.chain(self.owner.keys().map(|(gateway, _)| gateway.clone())).collect()
    }

    /// Tells each linked node this one is alive, and ends the links with nodes silent for
    /// [`SILENCE`].
    fn keep_alive(&mut self) {
        let linked = self.linked_nodes();
        self.heard.retain(|node, _| linked.contains(node));
        let now = Instant::now();
        for node in linked {
            self.outbox.send(&node, Relay::Alive);
            let heard = *self.heard.entry(node.clone()).or_insert(now);
            if now.duration_since(heard) > SILENCE {
                self.node_silent(&node);
            }
        }
    }

    /// Ends every link with `node`, which has not been heard from for [`SILENCE`].
    fn node_silent(&mut self, node: &Arc<str>) {
        log::warn!("relay: nothing heard from node {node} for {SILENCE:?}; ending its links");
        let gated: Vec<u64> = self.gateway.iter().filter(|(_, g)| g.owner == *node).map(|(link, _)| *link).collect();
        for link in gated {
            if let Some(gated) = self.gateway.remove(&link) {
                let reason = "the swarm's node stopped answering; reconnect".to_string();
                gated.session.do_send(Outbound::Relayed { code: RESTART, reason });
            }
        }
        let owned: Vec<(Arc<str>, u64)> = self.owner.keys().filter(|(gateway, _)| gateway == node).cloned().collect();
        for key in owned {
            if let Some(owned) = self.owner.remove(&key) {
                let _ = owned.inbound.send(Ok(Inbound::Close));
            }
        }
        self.heard.remove(node);
    }

    /// A message from the device to the owner was lost: both ends close, and the device
    /// reconnects.
    fn lost_up(&mut self, key: (Arc<str>, u64)) {
        if let Some(owned) = self.owner.remove(&key) {
            log::warn!("relay: a frame from node {} (link {}) was lost; ending the session", key.0, key.1);
            let _ = owned.inbound.send(Ok(Inbound::Close));
            let reason = "frames were lost between nodes; reconnect".to_string();
            self.outbox.send(&key.0, Relay::Close { link: key.1, code: RESTART, reason });
        }
    }

    /// A message from the owner to the device was lost: both ends close.
    fn lost_down(&mut self, link: u64) {
        if let Some(gated) = self.gateway.remove(&link) {
            log::warn!("relay: a frame from node {} (link {link}) was lost; closing the device", gated.owner);
            let reason = "frames were lost between nodes; reconnect".to_string();
            gated.session.do_send(Outbound::Relayed { code: RESTART, reason });
            self.outbox.send(&gated.owner, Relay::Gone { link });
        }
    }

    /// Runs a session here for a device connected to `gateway`.
    fn open_owner_link(
        &mut self,
        gateway: Arc<str>,
        link: u64,
        client: IpAddr,
        swarm: SwarmId,
        ctx: &mut Context<Self>,
    ) {
        let (inbound, stream) = mpsc::unbounded_channel();
        let limit = FrameLimit::unadmitted();
        let setup = RelayedSetup { client, peers: self.peers.clone(), limit: limit.clone() };
        let (down, hub, to) =
            (LinkSender::new(self.outbox.clone(), gateway.clone(), link), ctx.address(), gateway.clone());
        let writer = move |write: RelayWrite| match write {
            RelayWrite::Frame(frame) => down.frame(&frame, false),
            RelayWrite::Limit(bytes) => down.limit(bytes),
            RelayWrite::Close(code, reason) => {
                down.close(code, reason);
                hub.do_send(OwnerLinkEnded { gateway: to.clone(), link });
            }
        };
        log::debug!("relay: device of swarm {swarm} from {client} through node {gateway}");
        let stream = futures_util::stream::unfold(stream, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
        DeviceSession::start_relayed(stream, Box::new(writer), setup);
        self.owner.insert((gateway, link), OwnerLink { inbound, limit, partial: Vec::new(), expect: 0 });
    }

    /// Closes the relayed connections of swarms whose owner changed: their devices reconnect
    /// and are placed again.
    fn check_owners(&mut self, ctx: &mut Context<Self>) {
        let watched: HashSet<(SwarmId, Arc<str>)> = self.gateway.values().map(|g| (g.swarm, g.owner.clone())).collect();
        if watched.is_empty() {
            return;
        }
        let cluster = self.cluster.clone();
        let check = async move {
            let mut moved = Vec::new();
            for (swarm, owner) in watched {
                match cluster.holder(swarm).await {
                    Ok(Some(Holder::Other(node))) if *node == *owner => {}
                    Ok(_) => moved.push(swarm),
                    Err(error) => log::warn!("relay: cannot check swarm {swarm}'s owner: {error}"),
                }
            }
            moved
        };
        ctx.spawn(check.into_actor(self).map(|moved, this, _| {
            let links: Vec<u64> =
                this.gateway.iter().filter(|(_, g)| moved.contains(&g.swarm)).map(|(l, _)| *l).collect();
            for link in links {
                if let Some(gated) = this.gateway.remove(&link) {
                    let reason = "the swarm moved to another node; reconnect".to_string();
                    gated.session.do_send(Outbound::Relayed { code: RESTART, reason });
                    this.outbox.send(&gated.owner, Relay::Gone { link });
                }
            }
        }));
    }
}

/// What an owner-side session writes, in order.
pub enum RelayWrite {
    /// A frame for the device.
    Frame(Bytes),
    /// The device's frame limit changed.
    Limit(usize),
    /// Close the device's socket.
    Close(u16, String),
}

impl Actor for RelayHub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(OWNER_CHECK_INTERVAL, |this, ctx| {
            this.keep_alive();
            this.metrics.set_relayed(this.gateway.len(), this.owner.len());
            this.check_owners(ctx);
        });
    }
}

impl StreamHandler<Packet> for RelayHub {
    fn handle(&mut self, packet: Packet, ctx: &mut Self::Context) {
        let from: Arc<str> = packet.from.into();
        self.heard.insert(from.clone(), Instant::now());
        for relay in packet.relays {
            self.on_relay(&from, relay, ctx);
        }
    }
}

/// The NATS connection dropped: relayed frames may have been lost, so every relayed
/// connection ends, on both sides; the devices reconnect and are placed again.
struct NatsDropped;

impl StreamHandler<NatsDropped> for RelayHub {
    fn handle(&mut self, _: NatsDropped, _: &mut Self::Context) {
        let (gateway, owner) = (self.gateway.len(), self.owner.len());
        for (_, gated) in self.gateway.drain() {
            let reason = "the coordinator lost its cluster connection; reconnect".to_string();
            gated.session.do_send(Outbound::Relayed { code: RESTART, reason });
        }
        for (_, owned) in self.owner.drain() {
            let _ = owned.inbound.send(Ok(Inbound::Close));
        }
        if gateway + owner > 0 {
            log::warn!("NATS dropped: {gateway} relayed devices told to reconnect, {owner} relayed sessions ended");
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

/// A gateway session asks to relay its device to `owner`; answers the link's sender, which
/// the session sends the device's frames with.
#[derive(Message)]
#[rtype(result = "LinkSender")]
pub struct OpenLink {
    /// The owning node.
    pub owner: Arc<str>,
    /// The swarm.
    pub swarm: SwarmId,
    /// The device's address.
    pub client: IpAddr,
    /// The hello, as received.
    pub hello: Bytes,
    /// The gateway session.
    pub session: Recipient<Outbound>,
    /// Its frame limit, which the owner sets.
    pub limit: FrameLimit,
}

impl Handler<OpenLink> for RelayHub {
    type Result = MessageResult<OpenLink>;
    fn handle(&mut self, msg: OpenLink, _: &mut Self::Context) -> Self::Result {
        let link = self.next_link;
        self.next_link += 1;
        self.outbox.send(&msg.owner, Relay::Open { link, client: msg.client, swarm: msg.swarm });
        // A first link with a node: its silence counts from now.
        self.heard.entry(msg.owner.clone()).or_insert_with(Instant::now);
        let up = LinkSender::new(self.outbox.clone(), msg.owner.clone(), link);
        up.frame(&msg.hello, true);
        let gated = GatewayLink {
            owner: msg.owner,
            swarm: msg.swarm,
            session: msg.session,
            limit: msg.limit,
            partial: Vec::new(),
            expect: 0,
        };
        self.gateway.insert(link, gated);
        MessageResult(up)
    }
}

/// A gateway session ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseLink {
    /// The link.
    pub link: u64,
}

impl Handler<CloseLink> for RelayHub {
    type Result = ();
    fn handle(&mut self, msg: CloseLink, _: &mut Self::Context) {
        if let Some(gated) = self.gateway.remove(&msg.link) {
            self.outbox.send(&gated.owner, Relay::Gone { link: msg.link });
        }
    }
}

/// An owner-side session ended.
#[derive(Message)]
#[rtype(result = "()")]
struct OwnerLinkEnded {
    gateway: Arc<str>,
    link: u64,
}

impl Handler<OwnerLinkEnded> for RelayHub {
    type Result = ();
    fn handle(&mut self, msg: OwnerLinkEnded, _: &mut Self::Context) {
        self.owner.remove(&(msg.gateway, msg.link));
    }
}

/// Whether a frame from the owner is the welcome (the gateway's session is admitted then).
pub fn is_welcome(frame: &[u8]) -> bool {
    matches!(decode::<ToDevice>(frame), Ok(ToDevice::Welcome(_)))
}
