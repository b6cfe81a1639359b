//! The token table: invite codes by the hash of the code, minting quotas per swarm, and
//! failed joins and swarm creations per client address, each counted over the last minute.
//! No actor and no clock of its own: the [`super::TokenAuthority`] passes `now`, and unit
//! tests drive it directly.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    time::{Duration, Instant},
};

use ostrich_protocol::{RejectCode, SwarmId};
use rand::{Rng, TryRngCore, rngs::OsRng};

use super::TokenError;
use crate::cluster::quota::SwarmInvites;

/// Crockford base32: no I, L, O or U, so a code read aloud or typed on a phone is unambiguous.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a code: 8 × 5 = 40 bits from the OS CSPRNG.
pub const TOKEN_LEN: usize = 8;
/// The window of the minting and failed-join limits.
pub(super) const WINDOW: Duration = Duration::from_secs(60);
/// How long an expired code is remembered, so a late join is told "expired", not "invalid".
const EXPIRED_MEMORY: Duration = Duration::from_secs(3600);

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
    /// By [`code_key`]: the table never holds a usable code.
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
        let (token, key) = loop {
            let candidate = random_token()?;
            let key = code_key(&candidate);
            if !self.tokens.contains_key(&key) {
                break (candidate, key);
            }
        };
        recent.push_back(now);
        let ttl = self.limits.ttl;
        self.tokens.insert(key, Entry { swarm, expires: now + ttl });
        Ok((token, ttl))
    }

    /// Whether this table holds `token`.
    pub fn knows(&self, token: &str) -> bool {
        self.tokens.contains_key(&code_key(token))
    }

    /// Takes in an invite minted by another node (cluster mode) by its [`code_key`], valid
    /// until `expires`.
    pub fn import(&mut self, key: String, swarm: SwarmId, expires: Instant) {
        self.tokens.entry(key).or_insert(Entry { swarm, expires });
    }

    /// What the cluster keeps of `swarm`'s invites and mints (times in Unix ms; `now_ms` is
    /// `now` on that clock).
    pub fn export(&self, swarm: SwarmId, now: Instant, now_ms: u64) -> SwarmInvites {
        let to_ms = |at: Instant| match at.checked_duration_since(now) {
            Some(ahead) => now_ms.saturating_add(ahead.as_millis() as u64),
            None => now_ms.saturating_sub(now.duration_since(at).as_millis() as u64),
        };
        let mut invites: Vec<(String, u64)> = self
            .tokens
            .iter()
            .filter(|(_, entry)| entry.swarm == swarm && entry.expires > now)
            .map(|(key, entry)| (key.clone(), to_ms(entry.expires)))
            .collect();
        invites.sort();
        let minted_ms = self.mints.get(&swarm).into_iter().flatten().map(|at| to_ms(*at)).collect();
        SwarmInvites { invites, minted_ms }
    }

    /// Replaces what this table knows of `swarm`'s invites and mints with the cluster's
    /// record of them (a node that took the swarm over goes on from its counts).
    pub fn restore(&mut self, swarm: SwarmId, record: &SwarmInvites, now: Instant, now_ms: u64) {
        let from_ms = |ms: u64| match ms.checked_sub(now_ms) {
            Some(ahead) => now + Duration::from_millis(ahead),
            None => now.checked_sub(Duration::from_millis(now_ms - ms)).unwrap_or(now),
        };
        self.tokens.retain(|_, entry| entry.swarm != swarm || entry.expires <= now);
        for (key, expires_ms) in &record.invites {
            let expires = from_ms(*expires_ms);
            if expires > now {
                self.tokens.insert(key.clone(), Entry { swarm, expires });
            }
        }
        let mut recent: VecDeque<Instant> = record.minted_ms.iter().map(|ms| from_ms(*ms)).collect();
        recent.make_contiguous().sort();
        prune(&mut recent, now);
        self.mints.insert(swarm, recent);
    }

    /// Revokes one of `swarm`'s codes.
    pub fn revoke(&mut self, swarm: SwarmId, token: &str) -> Result<(), TokenError> {
        let key = code_key(token);
        match self.tokens.get(&key) {
            Some(entry) if entry.swarm == swarm => {
                self.tokens.remove(&key);
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

    /// Counts a swarm another node created for a client address.
    pub fn record_creation(&mut self, client: IpAddr, now: Instant) {
        self.creations.entry(client).or_default().push_back(now);
    }

    /// Redeems a code for the swarm it belongs to. Codes stay valid for many joins until
    /// they expire or are revoked: a room of phones scans the same QR code.
    pub fn redeem(&mut self, client: IpAddr, token: &str, now: Instant) -> Result<SwarmId, RejectCode> {
        self.check_client(client, now)?;
        let outcome = match self.tokens.get(&code_key(token)) {
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
    pub(super) fn counts(&self, at: Instant) -> HashMap<SwarmId, u32> {
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

/// The key a code is kept under, here and in the cluster's invite bucket: the SHA-256 of
/// its normalised form.
pub fn code_key(token: &str) -> String {
    crate::cluster::store::index_key(&normalize(token))
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

    #[test]
    fn a_swarms_invites_and_mints_travel_to_another_table() {
        let (mut owner, mut next) = (table(), table());
        let (now, now_ms) = (Instant::now(), 1_000_000_000);
        let swarm = SwarmId::from_u128(1);
        let minted: Vec<String> = (0..5).map(|_| owner.mint(swarm, now).expect("mint").0).collect();
        owner.revoke(swarm, &minted[0]).expect("revoke");
        let record = owner.export(swarm, now, now_ms);
        assert_eq!((record.invites.len(), record.minted_ms.len()), (4, 5));

        // Another node, a second later on its own clock, takes the swarm over.
        let later = now + Duration::from_secs(1);
        next.restore(swarm, &record, later, now_ms + 1000);
        assert_eq!(next.outstanding(swarm, later), 4);
        assert_eq!(next.mint(swarm, later), Err(TokenError::RateLimited(5)), "the minute's mints came along");
        assert_eq!(next.redeem(CLIENT, &minted[1], later), Ok(swarm), "codes minted before still admit");
        assert_eq!(next.redeem(CLIENT, &minted[0], later), Err(RejectCode::InvalidCode), "a revoked one does not");
        assert_eq!(next.revoke(swarm, &minted[2]), Ok(()), "the new owner can revoke the old owner's codes");
        assert_eq!(next.export(swarm, later, now_ms + 1000).invites.len(), 3);
        assert!(next.mint(swarm, now + WINDOW).is_ok(), "the mint quota refills a minute after the old mints");
    }
}
