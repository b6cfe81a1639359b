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
    /// The code is not one of the swarm's.
    #[error("no such invite in this swarm")]
    NotFound,
    /// The operating system's random source failed.
    #[error("random source unavailable")]
    Entropy,
}

struct Entry {
    swarm: SwarmId,
    expires: Instant,
}

/// Invite codes, minting quotas and failed-join counts.
pub struct TokenTable {
    ttl: Duration,
    mint_limit: u32,
    failure_limit: u32,
    tokens: HashMap<String, Entry>,
    mints: HashMap<SwarmId, VecDeque<Instant>>,
    failures: HashMap<IpAddr, VecDeque<Instant>>,
}

impl TokenTable {
    /// An empty table with the given lifetime and limits.
    pub fn new(ttl: Duration, mint_limit: u32, failure_limit: u32) -> Self {
        Self { ttl, mint_limit, failure_limit, tokens: HashMap::new(), mints: HashMap::new(), failures: HashMap::new() }
    }

    /// Mints a code for `swarm`. The caller has checked that the requester is its master.
    pub fn mint(&mut self, swarm: SwarmId, now: Instant) -> Result<(String, Duration), TokenError> {
        let recent = self.mints.entry(swarm).or_default();
        prune(recent, now);
        if recent.len() >= self.mint_limit as usize {
            return Err(TokenError::RateLimited(self.mint_limit));
        }
        let token = loop {
            let candidate = random_token()?;
            if !self.tokens.contains_key(&candidate) {
                break candidate;
            }
        };
        recent.push_back(now);
        self.tokens.insert(token.clone(), Entry { swarm, expires: now + self.ttl });
        Ok((token, self.ttl))
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
                if recent.len() >= self.failure_limit as usize { Err(RejectCode::RateLimited) } else { Ok(()) }
            }
            None => Ok(()),
        }
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

    /// Forgets long-expired codes and idle counters.
    pub fn purge(&mut self, now: Instant) {
        self.tokens.retain(|_, entry| entry.expires + EXPIRED_MEMORY > now);
        self.mints.retain(|_, recent| {
            prune(recent, now);
            !recent.is_empty()
        });
        self.failures.retain(|_, recent| {
            prune(recent, now);
            !recent.is_empty()
        });
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

/// The actor around [`TokenTable`]; `public_url` is the base of invite links.
pub struct TokenAuthority {
    table: TokenTable,
    public_url: String,
}

impl TokenAuthority {
    /// A token authority whose links point at `public_url`.
    pub fn new(table: TokenTable, public_url: String) -> Self {
        Self { table, public_url }
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
        ctx.run_interval(WINDOW, |this, _| this.table.purge(Instant::now()));
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
    type Result = Result<Invite, TokenError>;
    fn handle(&mut self, msg: Mint, _: &mut Self::Context) -> Self::Result {
        let (token, ttl) = self.table.mint(msg.swarm, Instant::now())?;
        Ok(self.invite(token, ttl))
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
    fn handle(&mut self, msg: Revoke, _: &mut Self::Context) -> Self::Result {
        self.table.revoke(msg.swarm, &msg.token)
    }
}

/// Admit a hello from a client address: checks the failed-join limit and, for an invite,
/// redeems the code. Answers the invite's swarm, or `None` when no code was given.
#[derive(Message)]
#[rtype(result = "Result<Option<SwarmId>, RejectCode>")]
pub struct Admit {
    /// The client's address.
    pub client: IpAddr,
    /// The invite code, when the hello carries one.
    pub token: Option<String>,
}

impl Handler<Admit> for TokenAuthority {
    type Result = Result<Option<SwarmId>, RejectCode>;
    fn handle(&mut self, msg: Admit, _: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        match msg.token {
            Some(token) => self.table.redeem(msg.client, &token, now).map(Some),
            None => self.table.check_client(msg.client, now).map(|()| None),
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
        TokenTable::new(Duration::from_secs(900), 5, 3)
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
    fn only_the_owning_swarm_revokes() {
        let mut table = table();
        let now = Instant::now();
        let (token, _) = table.mint(SwarmId::from_u128(1), now).expect("mint");
        assert_eq!(table.revoke(SwarmId::from_u128(2), &token), Err(TokenError::NotFound));
        assert_eq!(table.revoke(SwarmId::from_u128(1), &token), Ok(()));
        assert_eq!(table.redeem(CLIENT, &token, now), Err(RejectCode::InvalidCode));
    }
}
