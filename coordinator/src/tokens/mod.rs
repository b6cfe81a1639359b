//! The token authority: the only code that mints, revokes and redeems invite codes, and the
//! keeper of the failed-join limiter. Sessions ask it to admit a hello; the HTTP API and
//! master sessions ask it to mint and revoke. The decisions live in [`TokenTable`], which
//! unit tests drive without an actor system.

mod table;

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{Duration, Instant},
};

use actix::prelude::*;
use ostrich_protocol::{Invite, RejectCode, SwarmId};

use self::table::WINDOW;
pub use self::table::{TOKEN_LEN, TokenLimits, TokenTable, code_key, normalize};
use crate::cluster::{quota::AddressEvent, store::Cluster};

/// Why a mint or revoke was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The swarm minted its quota for this minute.
    #[error("at most {0} invites per minute")]
    RateLimited(u32),
    /// The swarm holds as many unexpired invites as it may.
    #[error("the swarm already has {0} unexpired invites, its limit; revoke one or wait for one to expire")]
    Quota(u32),
    /// The code is not one of the swarm's.
    #[error("no such invite in this swarm")]
    NotFound,
    /// The operating system's random source failed.
    #[error("random source unavailable")]
    Entropy,
    /// Cluster mode: the invite could not be shared with the other nodes.
    #[error("the cluster store is unavailable: {0}")]
    Unavailable(String),
}

/// How many unexpired invites a swarm holds, against its limit; the token authority tells
/// the scheduler, which shows it to the master.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct InviteUsage {
    /// The swarm.
    pub swarm: SwarmId,
    /// Its unexpired invites.
    pub outstanding: u32,
    /// The most it may hold.
    pub limit: u32,
}

/// The actor around [`TokenTable`]; `public_url` is the base of invite links.
pub struct TokenAuthority {
    table: TokenTable,
    public_url: String,
    usage: Recipient<InviteUsage>,
    /// Cluster mode: invites are shared through the cluster's invite bucket.
    cluster: Option<Cluster>,
}

impl TokenAuthority {
    /// A token authority whose links point at `public_url`; it reports each swarm's invite
    /// count to `usage`.
    pub fn new(table: TokenTable, public_url: String, usage: Recipient<InviteUsage>) -> Self {
        Self { table, public_url, usage, cluster: None }
    }

    /// Shares invites with the other nodes of `cluster`: a code minted here is admitted
    /// everywhere, and a revoked one nowhere.
    pub fn with_cluster(mut self, cluster: Cluster) -> Self {
        self.cluster = Some(cluster);
        self
    }

    fn report(&self, swarm: SwarmId) {
        let outstanding = self.table.outstanding(swarm, Instant::now());
        self.usage.do_send(InviteUsage { swarm, outstanding, limit: self.table.invite_limit() });
    }

    fn invite(&self, token: String, ttl: Duration) -> Invite {
        let url = format!("{}/join?token={token}", self.public_url.trim_end_matches('/'));
        let qr_svg = qrcode_generator::to_svg_to_string(&url, qrcode_generator::QrCodeEcc::Medium, 256, None::<&str>)
            .unwrap_or_default();
        Invite { token, url, expires_in_s: ttl.as_secs() as u32, qr_svg }
    }
}

impl Actor for TokenAuthority {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(WINDOW, |this, _| {
            // Invites expire on their own: report the swarms whose count fell.
            let now = Instant::now();
            let before: HashMap<SwarmId, u32> = this.table.counts(now - WINDOW);
            this.table.purge(now);
            for swarm in before.into_keys() {
                this.report(swarm);
            }
        });
        if let Some(cluster) = &self.cluster {
            match cluster.address_events() {
                Ok(events) => {
                    ctx.add_stream(futures_util::stream::unfold(events, |mut rx| async move {
                        rx.recv().await.map(|event| (event, rx))
                    }));
                }
                Err(error) => log::error!("failed joins and new swarms will be counted on this node only: {error}"),
            }
        }
    }
}

/// Another node counted a failed join or a new swarm against an address.
impl StreamHandler<AddressEvent> for TokenAuthority {
    fn handle(&mut self, event: AddressEvent, _: &mut Self::Context) {
        match event {
            AddressEvent::FailedJoin(client) => self.table.record_failure(client, Instant::now()),
            AddressEvent::SwarmCreated(client) => self.table.record_creation(client, Instant::now()),
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl TokenAuthority {
    /// Tells the other nodes, if any, of a count against an address.
    fn tell(&self, event: AddressEvent) {
        if let Some(cluster) = &self.cluster {
            cluster.tell_address_event(event);
        }
    }

    fn record_failure(&mut self, client: IpAddr, now: Instant) {
        self.table.record_failure(client, now);
        self.tell(AddressEvent::FailedJoin(client));
    }

    fn redeem(&mut self, client: IpAddr, token: &str, now: Instant) -> Result<SwarmId, RejectCode> {
        let redeemed = self.table.redeem(client, token, now);
        if matches!(redeemed, Err(RejectCode::InvalidCode | RejectCode::ExpiredCode)) {
            self.tell(AddressEvent::FailedJoin(client));
        }
        redeemed
    }

    fn admit(&mut self, msg: Admit, now: Instant) -> Result<Option<SwarmId>, RejectCode> {
        match msg.token {
            Some(token) => self.redeem(msg.client, &token, now).map(Some),
            None => {
                self.table.check_client(msg.client, now)?;
                if msg.new_swarm {
                    self.table.create_swarm(msg.client, now)?;
                    self.tell(AddressEvent::SwarmCreated(msg.client));
                }
                Ok(None)
            }
        }
    }

    /// Cluster mode: runs `change` on the table with the swarm's invite record read from the
    /// cluster, then writes the record back; fails if another write came in between (the
    /// swarm moved) or NATS is away. The caller holds the actor meanwhile
    /// ([`AtomicResponse`]), so this node's own mints and revocations come one at a time.
    fn shared_change<T: 'static>(
        &mut self,
        cluster: Cluster,
        swarm: SwarmId,
        change: impl FnOnce(&mut TokenTable, Instant) -> Result<T, TokenError> + 'static,
        undo: impl FnOnce(&mut TokenTable, &T) + 'static,
    ) -> ResponseActFuture<Self, Result<T, TokenError>> {
        let read = {
            let cluster = cluster.clone();
            async move { cluster.swarm_invites(swarm).await }
        };
        Box::pin(read.into_actor(self).then(move |read, this, _| {
            let (now, now_ms) = (Instant::now(), crate::scheduler::unix_ms());
            let changed = read.map_err(|e| TokenError::Unavailable(e.to_string())).and_then(|(record, revision)| {
                this.table.restore(swarm, &record, now, now_ms);
                let done = change(&mut this.table, now)?;
                Ok((done, this.table.export(swarm, now, now_ms), revision))
            });
            this.report(swarm);
            let (done, record, revision) = match changed {
                Ok(changed) => changed,
                Err(error) => return Box::pin(fut::ready(Err(error))) as ResponseActFuture<Self, _>,
            };
            let write = async move { cluster.put_swarm_invites(swarm, &record, revision).await };
            Box::pin(write.into_actor(this).map(move |written, this, _| match written {
                Ok(()) => Ok(done),
                Err(error) => {
                    undo(&mut this.table, &done);
                    this.report(swarm);
                    Err(TokenError::Unavailable(error.to_string()))
                }
            }))
        }))
    }
}

/// Mint an invite for a swarm; the sender has proved it is that swarm's master.
#[derive(Message)]
#[rtype(result = "Result<Invite, TokenError>")]
pub struct Mint {
    /// The master's swarm.
    pub swarm: SwarmId,
}

impl Handler<Mint> for TokenAuthority {
    type Result = AtomicResponse<Self, Result<Invite, TokenError>>;
    fn handle(&mut self, msg: Mint, _: &mut Self::Context) -> Self::Result {
        let swarm = msg.swarm;
        let Some(cluster) = self.cluster.clone() else {
            let minted = self.table.mint(swarm, Instant::now());
            self.report(swarm);
            let invite = minted.map(|(token, ttl)| self.invite(token, ttl));
            return AtomicResponse::new(Box::pin(fut::ready(invite)));
        };
        // The record (the swarm's quota) is written first, then the code: a code is answered
        // only once every node can admit it.
        let mint = move |table: &mut TokenTable, now| table.mint(swarm, now);
        let undo = move |table: &mut TokenTable, (token, _): &(String, Duration)| {
            let _ = table.revoke(swarm, token);
        };
        let minted = self.shared_change(cluster.clone(), swarm, mint, undo);
        AtomicResponse::new(Box::pin(minted.then(move |minted, this, _| {
            let (token, ttl) = match minted {
                Ok(minted) => minted,
                Err(error) => return Box::pin(fut::ready(Err(error))) as ResponseActFuture<Self, _>,
            };
            let invite = this.invite(token.clone(), ttl);
            let expires_ms = crate::scheduler::unix_ms().saturating_add(ttl.as_millis() as u64);
            let shared = async move { cluster.put_invite(&token, swarm, expires_ms).await };
            Box::pin(shared.into_actor(this).map(move |shared, _, _| match shared {
                Ok(()) => Ok(invite),
                Err(error) => Err(TokenError::Unavailable(error.to_string())),
            }))
        })))
    }
}

/// Revoke one of a swarm's invites; the sender has proved it is that swarm's master.
#[derive(Message)]
#[rtype(result = "Result<(), TokenError>")]
pub struct Revoke {
    /// The master's swarm.
    pub swarm: SwarmId,
    /// The code.
    pub token: String,
}

impl Handler<Revoke> for TokenAuthority {
    type Result = AtomicResponse<Self, Result<(), TokenError>>;
    fn handle(&mut self, msg: Revoke, _: &mut Self::Context) -> Self::Result {
        let (swarm, token) = (msg.swarm, msg.token);
        let Some(cluster) = self.cluster.clone() else {
            let revoked = self.table.revoke(swarm, &token);
            self.report(swarm);
            return AtomicResponse::new(Box::pin(fut::ready(revoked)));
        };
        let key = code_key(&token);
        let revoke = move |table: &mut TokenTable, _| table.revoke(swarm, &token);
        let revoked = self.shared_change(cluster.clone(), swarm, revoke, |_, _| {});
        AtomicResponse::new(Box::pin(revoked.then(move |revoked, this, _| {
            let forget = async move {
                revoked?;
                cluster.delete_invite_key(&key).await.map_err(|e| TokenError::Unavailable(e.to_string()))
            };
            forget.into_actor(this)
        })))
    }
}

/// Admit a hello from a client address: checks the failed-join limit, counts a swarm
/// creation against the address's quota and, for an invite, redeems the code. Answers the
/// invite's swarm, or `None` when no code was given.
#[derive(Message)]
#[rtype(result = "Result<Option<SwarmId>, RejectCode>")]
pub struct Admit {
    /// The client's address.
    pub client: IpAddr,
    /// The invite code, when the hello carries one.
    pub token: Option<String>,
    /// Whether the hello asks for a new swarm.
    pub new_swarm: bool,
}

impl Handler<Admit> for TokenAuthority {
    type Result = ResponseActFuture<Self, Result<Option<SwarmId>, RejectCode>>;
    fn handle(&mut self, msg: Admit, _: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        if let (Some(token), Some(cluster)) = (&msg.token, &self.cluster)
            && !self.table.knows(token)
        {
            // Minted on another node, perhaps: look it up before refusing it.
            if let Err(code) = self.table.check_client(msg.client, now) {
                return Box::pin(fut::ready(Err(code)));
            }
            let (cluster, token, client) = (cluster.clone(), token.clone(), msg.client);
            let lookup = async move { (cluster.lookup_invite(&normalize(&token)).await, token) };
            return Box::pin(lookup.into_actor(self).map(move |(found, token), this, _| {
                let now = Instant::now();
                match found {
                    Ok(Some((swarm, expires_ms))) => {
                        let left = Duration::from_millis(expires_ms.saturating_sub(crate::scheduler::unix_ms()));
                        this.table.import(code_key(&token), swarm, now + left);
                    }
                    Ok(None) => {}
                    Err(error) => log::warn!("cannot look an invite up in the cluster: {error}"),
                }
                this.redeem(client, &token, now).map(Some)
            }));
        }
        Box::pin(fut::ready(self.admit(msg, now)))
    }
}

/// Whether a client address may try to join now: a gateway asks before it looks anything
/// up for the hello.
#[derive(Message)]
#[rtype(result = "Result<(), RejectCode>")]
pub struct CheckClient {
    /// The client's address.
    pub client: IpAddr,
}

impl Handler<CheckClient> for TokenAuthority {
    type Result = Result<(), RejectCode>;
    fn handle(&mut self, msg: CheckClient, _: &mut Self::Context) -> Self::Result {
        self.table.check_client(msg.client, Instant::now())
    }
}

/// Count a failed join (a wrong key or credential) against a client address.
#[derive(Message)]
#[rtype(result = "()")]
pub struct JoinFailed {
    /// The client's address.
    pub client: IpAddr,
}

impl Handler<JoinFailed> for TokenAuthority {
    type Result = ();
    fn handle(&mut self, msg: JoinFailed, _: &mut Self::Context) {
        self.record_failure(msg.client, Instant::now());
    }
}
