//! What a peer may cost the coordinator, and what it may cost before it is trusted: the
//! frame-size limit of each session (by phase, role and the tasks it holds), the one
//! global budget for bytes being received, and the cap on unadmitted sockets per address.
//! Sessions and the HTTP API share these; the scheduler sets each session's frame limit.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use ostrich_protocol::{MAX_FRAME_BYTES, Role};

/// The largest frame a session may send before it is admitted: a hello (ids, a name, its
/// capabilities and a credential) needs a few hundred bytes.
pub const HELLO_FRAME_BYTES: usize = 8 * 1024;

/// The largest frame an admitted worker may send while it holds no task: heartbeats, work
/// requests, benchmark scores and failure reasons. Each task it holds adds its output size
/// (see [`worker_frame_limit`]).
pub const WORKER_FRAME_BYTES: usize = 64 * 1024;

/// The largest frame a master may send: commands, and job submissions whose matrices fit in
/// it. Bigger job inputs go through `POST /api/jobs`, whose body is read as it streams in,
/// within `--max-request-mib` and the receive budget.
pub const MASTER_FRAME_BYTES: usize = 1024 * 1024;

/// Frames up to this size are always received (they are counted against the budget but
/// never refused by it), so heartbeats and small results get through a busy coordinator.
pub const SMALL_FRAME_BYTES: usize = 64 * 1024;

/// Bytes of encoding around one task output in a result frame: the task id, the variant
/// tags and the length prefix.
const RESULT_OVERHEAD_BYTES: usize = 32;

/// The frame limit of an admitted session of `role` whose leased tasks have outputs of
/// `owed` bytes in all (a headless master computes too); never past the protocol's
/// [`MAX_FRAME_BYTES`].
pub fn frame_limit(role: Role, owed: u64) -> usize {
    match role {
        Role::Master => MASTER_FRAME_BYTES.max(worker_frame_limit(owed)),
        Role::Worker => worker_frame_limit(owed),
    }
}

/// A worker's frame limit: [`WORKER_FRAME_BYTES`] plus the outputs of the tasks it holds.
pub fn worker_frame_limit(owed: u64) -> usize {
    (WORKER_FRAME_BYTES as u64).saturating_add(owed).min(MAX_FRAME_BYTES as u64) as usize
}

/// The bytes one result of a task whose output is `output_bytes` long may take on the wire.
pub fn result_bytes(output_bytes: usize) -> u64 {
    (output_bytes + RESULT_OVERHEAD_BYTES) as u64
}

/// One session's frame limit, read by its reader as each frame header arrives and set by
/// the scheduler as the session is admitted and leases tasks.
#[derive(Debug, Clone)]
pub struct FrameLimit(Arc<AtomicUsize>);

impl FrameLimit {
    /// A new session's limit: hello-sized.
    pub fn unadmitted() -> Self {
        Self(Arc::new(AtomicUsize::new(HELLO_FRAME_BYTES)))
    }

    /// The limit now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the limit.
    pub fn set(&self, bytes: usize) {
        self.0.store(bytes, Ordering::Relaxed);
    }
}

/// The one budget for bytes being received, across every session and upload: a big frame
/// reserves its length when its header arrives and holds it until the message it carries
/// has been handled. Past the budget a big frame is refused before it is buffered.
#[derive(Debug, Clone)]
pub struct ReceiveBudget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl ReceiveBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { used: Arc::new(AtomicUsize::new(0)), limit }
    }

    /// The budget's size.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Reserves `bytes`, or answers `None` when that would pass the budget. Requests of up
    /// to [`SMALL_FRAME_BYTES`] always succeed.
    pub fn reserve(&self, bytes: usize) -> Option<Reservation> {
        let small = bytes <= SMALL_FRAME_BYTES;
        let granted = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            let total = used.checked_add(bytes)?;
            (small || total <= self.limit).then_some(total)
        });
        granted.ok().map(|_| Reservation { used: self.used.clone(), bytes })
    }

    /// A reservation of no bytes, for a message whose frames held none.
    pub fn nothing(&self) -> Reservation {
        Reservation { used: self.used.clone(), bytes: 0 }
    }
}

/// Bytes held from the [`ReceiveBudget`]; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    used: Arc<AtomicUsize>,
    bytes: usize,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `other`'s bytes too (a message arriving in several fragments).
    pub fn absorb(&mut self, mut other: Reservation) {
        self.bytes += std::mem::take(&mut other.bytes);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Sockets that have not been admitted yet, per client address: each address may hold a
/// bounded number, so one machine cannot park thousands of sockets on the coordinator.
#[derive(Debug, Clone)]
pub struct UnadmittedGate {
    held: Arc<Mutex<HashMap<IpAddr, u32>>>,
    per_address: u32,
}

impl UnadmittedGate {
    /// A gate letting each address hold `per_address` unadmitted sockets.
    pub fn new(per_address: u32) -> Self {
        Self { held: Arc::default(), per_address }
    }

    /// The cap per address.
    pub fn per_address(&self) -> u32 {
        self.per_address
    }

    /// A place for one more unadmitted socket of `client`, or `None` when it holds its cap.
    pub fn enter(&self, client: IpAddr) -> Option<UnadmittedPass> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = held.entry(client).or_default();
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(UnadmittedPass { gate: self.clone(), client })
    }
}

/// One unadmitted socket's place at the [`UnadmittedGate`]; freed when dropped (on
/// admission or when the socket ends).
#[derive(Debug)]
pub struct UnadmittedPass {
    gate: UnadmittedGate,
    client: IpAddr,
}

impl Drop for UnadmittedPass {
    fn drop(&mut self) {
        let mut held = self.gate.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_big_reservations_past_its_limit_and_frees_them_on_drop() {
        let budget = ReceiveBudget::new(1 << 20);
        let first = budget.reserve(700 << 10).expect("fits");
        assert!(budget.reserve(400 << 10).is_none(), "past the budget");
        assert!(budget.reserve(SMALL_FRAME_BYTES).is_some(), "small frames always pass");
        drop(first);
        assert_eq!(budget.used(), 0);
        assert!(budget.reserve(1 << 20).is_some());
    }

    #[test]
    fn the_gate_holds_a_bounded_number_of_sockets_per_address() {
        let gate = UnadmittedGate::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().expect("ip"), "10.0.0.2".parse().expect("ip"));
        let first = gate.enter(a).expect("first");
        let _second = gate.enter(a).expect("second");
        assert!(gate.enter(a).is_none(), "third from the same address");
        assert!(gate.enter(b).is_some(), "another address is not affected");
        drop(first);
        assert!(gate.enter(a).is_some(), "a freed place can be taken again");
    }

    #[test]
    fn worker_limits_follow_their_leases_within_the_protocol_cap() {
        assert_eq!(worker_frame_limit(0), WORKER_FRAME_BYTES);
        assert_eq!(worker_frame_limit(1000), WORKER_FRAME_BYTES + 1000);
        assert_eq!(worker_frame_limit(u64::MAX), MAX_FRAME_BYTES);
        assert_eq!(frame_limit(Role::Master, 5), MASTER_FRAME_BYTES);
    }
}
