//! The token authority: the only code that mints, revokes and redeems invite codes, and the
//! keeper of the failed-join limiter. Sessions ask it to admit a hello; the HTTP API and
//! master sessions ask it to mint and revoke. The decisions live in [`TokenTable`], which
//! unit tests drive without an actor system.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    time::{Duration, Instant},
};

use actix::prelude::*;
use ostrich_protocol::{Invite, RejectCode, SwarmId};

use crate::cluster::store::Cluster;
use rand::{Rng, TryRngCore, rngs::OsRng};

/// Crockford base32: no I, L, O or U, so a code read aloud or typed on a phone is unambiguous.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a code: 8 × 5 = 40 bits from the OS CSPRNG.
pub const TOKEN_LEN: usize = 8;
/// The window of the minting and failed-join limits.
const WINDOW: Duration = Duration::from_secs(60);
/// How long an expired code is remembered, so a late join is told "expired", not "invalid".
const EXPIRED_MEMORY: Duration = Duration::from_secs(3600);

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

struct Entry {
    swarm: SwarmId,
    expires: Instant,
}

/// The lifetime of invites and the limits the token table keeps.
#[derive(Debug, Clone, Copy)]
pub struct TokenLimits {
    /// How long an invite stays valid.
    pub ttl: Duration,
    /// Invites one swarm may mint per minute.
    pub mints_per_minute: u32,
    /// Failed joins one client address may make per minute.
    pub failures_per_minute: u32,
    /// Swarms one client address may create per minute.
    pub swarms_per_minute: u32,
    /// Unexpired invites one swarm may hold.
    pub outstanding_invites: u32,
}

/// Invite codes, minting quotas, failed-join counts and swarm creations per address.
pub struct TokenTable {
    limits: TokenLimits,
    tokens: HashMap<String, Entry>,
    mints: HashMap<SwarmId, VecDeque<Instant>>,
    failures: HashMap<IpAddr, VecDeque<Instant>>,
    creations: HashMap<IpAddr, VecDeque<Instant>>,
}

impl TokenTable {
    /// An empty table with the given lifetime and limits.
    pub fn new(limits: TokenLimits) -> Self {
        Self {
            limits,
            tokens: HashMap::new(),
            mints: HashMap::new(),
            failures: HashMap::new(),
            creations: HashMap::new(),
        }
    }

    /// Unexpired invites of `swarm`.
    pub fn outstanding(&self, swarm: SwarmId, now: Instant) -> u32 {
        self.tokens.values().filter(|entry| entry.swarm == swarm && entry.expires > now).count() as u32
    }

    /// The most unexpired invites a swarm may hold.
    pub fn invite_limit(&self) -> u32 {
        self.limits.outstanding_invites
    }

    /// Mints a code for `swarm`. The caller has checked that the requester is its master.
    pub fn mint(&mut self, swarm: SwarmId, now: Instant) -> Result<(String, Duration), TokenError> {
        if self.outstanding(swarm, now) >= self.limits.outstanding_invites {
            return Err(TokenError::Quota(self.limits.outstanding_invites));
        }
        let mint_limit = self.limits.mints_per_minute;
        let recent = self.mints.entry(swarm).or_default();
        prune(recent, now);
        if recent.len() >= mint_limit as usize {
            return Err(TokenError::RateLimited(mint_limit));
        }
        let token = loop {
            let candidate = random_token()?;
            if !self.tokens.contains_key(&candidate) {
                break candidate;
            }
        };
        recent.push_back(now);
        let ttl = self.limits.ttl;
        self.tokens.insert(token.clone(), Entry { swarm, expires: now + ttl });
        Ok((token, ttl))
    }

    /// Whether this table holds `token` (normalised).
    pub fn knows(&self, token: &str) -> bool {
        self.tokens.contains_key(token)
    }

    /// Takes in an invite minted by another node (cluster mode), valid until `expires`.
    pub fn import(&mut self, token: String, swarm: SwarmId, expires: Instant) {
        self.tokens.entry(token).or_insert(Entry { swarm, expires });
    }

    /// Revokes one of `swarm`'s codes.
    pub fn revoke(&mut self, swarm: SwarmId, token: &str) -> Result<(), TokenError> {
        let token = normalize(token);
        match self.tokens.get(&token) {
            Some(entry) if entry.swarm == swarm => {
                self.tokens.remove(&token);
                Ok(())
            }
            _ => Err(TokenError::NotFound),
        }
    }

    /// Refuses a client that failed too many joins in the last minute.
    pub fn check_client(&mut self, client: IpAddr, now: Instant) -> Result<(), RejectCode> {
        match self.failures.get_mut(&client) {
            Some(recent) => {
                prune(recent, now);
                if recent.len() >= self.limits.failures_per_minute as usize {
                    Err(RejectCode::RateLimited)
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// Counts a swarm creation against a client address, or refuses it when the address
    /// created its quota of swarms in the last minute.
    pub fn create_swarm(&mut self, client: IpAddr, now: Instant) -> Result<(), RejectCode> {
        let recent = self.creations.entry(client).or_default();
        prune(recent, now);
        if recent.len() >= self.limits.swarms_per_minute as usize {
            return Err(RejectCode::RateLimited);
        }
        recent.push_back(now);
        Ok(())
    }

    /// Counts a failed join (bad code, key or credential) against a client address.
    pub fn record_failure(&mut self, client: IpAddr, now: Instant) {
        self.failures.entry(client).or_default().push_back(now);
    }

    /// Redeems a code for the swarm it belongs to. Codes stay valid for many joins until
    /// they expire or are revoked: a room of phones scans the same QR code.
    pub fn redeem(&mut self, client: IpAddr, token: &str, now: Instant) -> Result<SwarmId, RejectCode> {
        self.check_client(client, now)?;
        let outcome = match self.tokens.get(&normalize(token)) {
            Some(entry) if entry.expires > now => Ok(entry.swarm),
            Some(_) => Err(RejectCode::ExpiredCode),
            None => Err(RejectCode::InvalidCode),
        };
        if outcome.is_err() {
            self.record_failure(client, now);
        }
        outcome
    }

    /// Unexpired invites per swarm at `at`.
    fn counts(&self, at: Instant) -> HashMap<SwarmId, u32> {
        let mut counts = HashMap::new();
        for entry in self.tokens.values().filter(|entry| entry.expires > at) {
            *counts.entry(entry.swarm).or_default() += 1;
        }
        counts
    }

    /// Forgets long-expired codes and idle counters.
    pub fn purge(&mut self, now: Instant) {
        self.tokens.retain(|_, entry| entry.expires + EXPIRED_MEMORY > now);
        self.mints.retain(|_, recent| {
            prune(recent, now);
            !recent.is_empty()
        });
        for counts in [&mut self.failures, &mut self.creations] {
            counts.retain(|_, recent| {
                prune(recent, now);
                !recent.is_empty()
            });
        }
    }
}

fn prune(recent: &mut VecDeque<Instant>, now: Instant) {
    while recent.front().is_some_and(|at| now.duration_since(*at) >= WINDOW) {
        recent.pop_front();
    }
}

/// Codes are typed on phones: accept lower case, spaces and dashes, and read the letters
/// Crockford base32 leaves out as the digits they look like (I and L as 1, O as 0).
pub fn normalize(token: &str) -> String {
    token
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        })
        .collect()
}

fn random_token() -> Result<String, TokenError> {
    let mut rng = OsRng.unwrap_err();
    Ok((0..TOKEN_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect())
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
    type Result = ResponseActFuture<Self, Result<Invite, TokenError>>;
    fn handle(&mut self, msg: Mint, _: &mut Self::Context) -> Self::Result {
        let minted = self.table.mint(msg.swarm, Instant::now());
        let (token, ttl) = match minted {
            Ok(minted) => minted,
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        self.report(msg.swarm);
        let invite = self.invite(token.clone(), ttl);
        let Some(cluster) = self.cluster.clone() else {
            return Box::pin(fut::ready(Ok(invite)));
        };
        // The code is answered only once every node can admit it.
        let expires_ms = crate::scheduler::unix_ms().saturating_add(ttl.as_millis() as u64);
        let shared = async move { cluster.put_invite(&token, msg.swarm, expires_ms).await };
        Box::pin(shared.into_actor(self).map(move |shared, _, _| match shared {
            Ok(()) => Ok(invite),
            Err(error) => Err(TokenError::Unavailable(error.to_string())),
        }))
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
    type Result = Result<(), TokenError>;
    fn handle(&mut self, msg: Revoke, ctx: &mut Self::Context) -> Self::Result {
        self.table.revoke(msg.swarm, &msg.token)?;
        self.report(msg.swarm);
        if let Some(cluster) = self.cluster.clone() {
            let token = normalize(&msg.token);
            ctx.spawn(
                async move {
                    if let Err(error) = cluster.delete_invite(&token).await {
                        log::error!("cannot revoke an invite on the other nodes: {error}");
                    }
                }
                .into_actor(self),
            );
        }
        Ok(())
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
            && !self.table.knows(&normalize(token))
        {
            // Minted on another node, perhaps: look it up before refusing it.
            if let Err(code) = self.table.check_client(msg.client, now) {
                return Box::pin(fut::ready(Err(code)));
            }
            let (cluster, token, client) = (cluster.clone(), normalize(token), msg.client);
            let lookup = async move { (cluster.lookup_invite(&token).await, token) };
            return Box::pin(lookup.into_actor(self).map(move |(found, token), this, _| {
                let now = Instant::now();
                match found {
                    Ok(Some((swarm, expires_ms))) => {
                        let left = Duration::from_millis(expires_ms.saturating_sub(crate::scheduler::unix_ms()));
                        this.table.import(token.clone(), swarm, now + left);
                    }
                    Ok(None) => {}
                    Err(error) => log::warn!("cannot look an invite up in the cluster: {error}"),
                }
                this.table.redeem(client, &token, now).map(Some)
            }));
        }
        Box::pin(fut::ready(self.admit(msg, now)))
    }
}

impl TokenAuthority {
    fn admit(&mut self, msg: Admit, now: Instant) -> Result<Option<SwarmId>, RejectCode> {
        match msg.token {
            Some(token) => self.table.redeem(msg.client, &token, now).map(Some),
            None => {
                self.table.check_client(msg.client, now)?;
                if msg.new_swarm {
                    self.table.create_swarm(msg.client, now)?;
                }
                Ok(None)
            }
        }
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
        self.table.record_failure(msg.client, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn table() -> TokenTable {
        TokenTable::new(TokenLimits {
            ttl: Duration::from_secs(900),
            mints_per_minute: 5,
            failures_per_minute: 3,
            swarms_per_minute: 2,
            outstanding_invites: 8,
        })
    }

    #[test]
    fn tokens_are_eight_readable_characters() {
        let (token, _) = table().mint(SwarmId::from_u128(1), Instant::now()).expect("mint");
        assert_eq!(token.len(), TOKEN_LEN);
        assert!(token.bytes().all(|b| ALPHABET.contains(&b)), "{token}");
    }

    #[test]
    fn minting_is_limited_per_swarm_per_minute() {
        let mut table = table();
        let now = Instant::now();
        let swarm = SwarmId::from_u128(1);
        for _ in 0..5 {
            table.mint(swarm, now).expect("within quota");
        }
        assert_eq!(table.mint(swarm, now), Err(TokenError::RateLimited(5)));
        assert!(table.mint(SwarmId::from_u128(2), now).is_ok(), "quota is per swarm");
        assert!(table.mint(swarm, now + WINDOW).is_ok(), "quota refills after a minute");
    }

    #[test]
    fn redeem_tells_expired_from_invalid() {
        let mut table = table();
        let now = Instant::now();
        let swarm = SwarmId::from_u128(1);
        let (token, ttl) = table.mint(swarm, now).expect("mint");
        assert_eq!(table.redeem(CLIENT, &token.to_lowercase(), now), Ok(swarm));
        let typed = format!("{}-{}", &token[..4], &token[4..]).replace('1', "l").replace('0', "O");
        assert_eq!(table.redeem(CLIENT, &typed, now), Ok(swarm), "{typed}");
        assert_eq!(table.redeem(CLIENT, &token, now + ttl), Err(RejectCode::ExpiredCode));
        assert_eq!(table.redeem(CLIENT, "ZZZZZZZZ", now), Err(RejectCode::InvalidCode));
    }

    #[test]
    fn failed_joins_are_limited_per_client() {
        let mut table = table();
        let now = Instant::now();
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        for _ in 0..3 {
            assert_eq!(table.redeem(CLIENT, "WRONG000", now), Err(RejectCode::InvalidCode));
        }
        let (token, _) = table.mint(SwarmId::from_u128(1), now).expect("mint");
        assert_eq!(table.redeem(CLIENT, &token, now), Err(RejectCode::RateLimited));
        assert!(table.redeem(other, &token, now).is_ok(), "the limit is per address");
        assert!(table.redeem(CLIENT, &token, now + WINDOW).is_ok(), "the limit lifts after a minute");
    }

    #[test]
    fn swarm_creation_is_limited_per_address_per_minute() {
        let mut table = table();
        let now = Instant::now();
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(table.create_swarm(CLIENT, now), Ok(()));
        assert_eq!(table.create_swarm(CLIENT, now), Ok(()));
        assert_eq!(table.create_swarm(CLIENT, now), Err(RejectCode::RateLimited));
        assert_eq!(table.create_swarm(other, now), Ok(()), "the limit is per address");
        assert_eq!(table.create_swarm(CLIENT, now + WINDOW), Ok(()), "the limit lifts after a minute");
    }

    #[test]
    fn a_swarm_holds_a_bounded_number_of_unexpired_invites() {
        let mut table = table();
        let now = Instant::now();
        let swarm = SwarmId::from_u128(1);
        let mut tokens = Vec::new();
        for minute in 0..2u32 {
            for _ in 0..4 {
                let at = now + WINDOW * minute;
                tokens.push(table.mint(swarm, at).expect("within quota").0);
            }
        }
        let later = now + WINDOW * 2;
        assert_eq!(table.outstanding(swarm, later), 8);
        assert_eq!(table.mint(swarm, later), Err(TokenError::Quota(8)));
        table.revoke(swarm, &tokens[0]).expect("revoke");
        assert!(table.mint(swarm, later).is_ok(), "a revoked invite frees its place");
        assert!(table.mint(swarm, now + Duration::from_secs(900)).is_ok(), "expired invites free theirs");
    }

    #[test]
    fn only_the_owning_swarm_revokes() {
        let mut table = table();
        let now = Instant::now();
        let (token, _) = table.mint(SwarmId::from_u128(1), now).expect("mint");
        assert_eq!(table.revoke(SwarmId::from_u128(2), &token), Err(TokenError::NotFound));
        assert_eq!(table.revoke(SwarmId::from_u128(1), &token), Ok(()));
        assert_eq!(table.redeem(CLIENT, &token, now), Err(RejectCode::InvalidCode));
    }
}
