//! The pool driven directly: throttle arithmetic, live growth and shrinking, cancellation.
//! Tests wait on channels with a deadline, never a fixed sleep.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use ostrich_protocol::TaskKind;

use super::*;

/// Generous bound for anything that should happen promptly.
const DEADLINE: Duration = Duration::from_secs(10);

/// A compute function that reports each start (the task's first `a` value) and then blocks
/// until the test releases a permit; the output echoes the task's `a`.
struct Gate {
    permits: Mutex<u32>,
    opened: Condvar,
}

impl Gate {
    fn release(&self, n: u32) {
        *self.permits.lock().expect("gate") += n;
        self.opened.notify_all();
    }
}

fn gated() -> (ComputeFn, Arc<Gate>, std_mpsc::Receiver<u64>) {
    let gate = Arc::new(Gate { permits: Mutex::new(0), opened: Condvar::new() });
    let (started_tx, started) = std_mpsc::channel();
    let held = Arc::clone(&gate);
    let compute: ComputeFn = Arc::new(move |kind: &TaskKind| {
        let TaskKind::MatmulTile { a, .. } = kind else {
            return Err("unexpected kind".into());
        };
        let _ = started_tx.send(a[0] as u64);
        let mut permits = held.permits.lock().expect("gate");
        while *permits == 0 {
            permits = held.opened.wait(permits).expect("gate");
        }
        *permits -= 1;
        Ok(TaskOutput::MatmulTile { c: a.clone() })
    });
    (compute, gate, started)
}

/// A 1×1×1 matmul task whose `a` value is its id, so gated computes can report it.
fn task(id: TaskId) -> Task {
    Task {
        id,
        job_id: 1,
        lease_ms: 30_000,
        kind: TaskKind::MatmulTile { rows: 1, k: 1, cols: 1, a: vec![id as f32], b: vec![2.0] },
    }
}

fn started(rx: &std_mpsc::Receiver<u64>) -> u64 {
    rx.recv_timeout(DEADLINE).expect("a task should start")
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Completed>) -> Completed {
    tokio::time::timeout(DEADLINE, rx.recv()).await.expect("a result in time").expect("pool alive")
}

#[test]
fn active_threads_follow_throttle_with_rounding() {
    for (cores, throttle, want) in [
        (4, 100, 4),
        (4, 50, 2),
        (4, 0, 0),
        (4, 1, 1),
        (3, 50, 2),
        (8, 30, 2),
        (8, 33, 3),
        (1, 1, 1),
        (0, 100, 0),
        (4, 200, 4),
    ] {
        assert_eq!(active_limit(cores, throttle), want, "{cores} cores at {throttle} %");
    }
}

#[tokio::test]
async fn real_kernel_result_comes_back_through_the_channel() {
    let (pool, mut results) = Pool::new(2);
    pool.submit(task(7));
    let done = next(&mut results).await;
    assert_eq!((done.task_id, done.outcome.clone()), (7, Ok(TaskOutput::MatmulTile { c: vec![14.0] })));
    assert!(pool.finish(&done));
    assert_eq!(pool.in_flight(), 0);
}

#[tokio::test]
async fn kernel_error_becomes_a_failure_outcome() {
    let (pool, mut results) = Pool::new(1);
    let mut bad = task(3);
    bad.kind = TaskKind::MatmulTile { rows: 2, k: 2, cols: 2, a: vec![1.0], b: vec![] };
    pool.submit(bad);
    let done = next(&mut results).await;
    assert!(done.outcome.is_err(), "{:?}", done.outcome);
}

#[tokio::test]
async fn zero_throttle_holds_work_until_raised() {
    let (pool, mut results) = Pool::new(2);
    pool.set_throttle(0);
    assert_eq!((pool.active_threads(), pool.slots(true)), (0, 0));
    pool.submit(task(1));
    assert_eq!((pool.queued(), pool.busy_threads()), (1, 0));
    pool.set_throttle(50);
    assert_eq!(pool.slots(true), TASKS_PER_THREAD, "one active thread and the task behind it");
    assert_eq!(pool.slots(false), 0);
    assert_eq!(next(&mut results).await.task_id, 1);
}

#[tokio::test]
async fn pool_grows_and_shrinks_with_the_throttle() {
    let (compute, gate, starts) = gated();
    let (pool, mut results) = Pool::with_compute(4, compute);
    pool.set_throttle(50);
    for id in 1..=4 {
        pool.submit(task(id));
    }
    started(&starts);
    started(&starts);
    assert_eq!((pool.busy_threads(), pool.queued()), (2, 2), "only half the threads compute");

    pool.set_throttle(100);
    started(&starts);
    started(&starts);
    assert_eq!((pool.busy_threads(), pool.queued()), (4, 0), "the pool grew");
    gate.release(4);
    for _ in 0..4 {
        let done = next(&mut results).await;
        assert!(pool.finish(&done));
    }

    pool.set_throttle(25);
    pool.submit(task(5));
    pool.submit(task(6));
    assert_eq!(started(&starts), 5);
    assert_eq!((pool.busy_threads(), pool.queued()), (1, 1), "the pool shrank to one thread");
    gate.release(2);
    assert_eq!(next(&mut results).await.task_id, 5);
    assert_eq!(next(&mut results).await.task_id, 6);
}

#[tokio::test]
async fn cancelled_running_task_is_never_reported() {
    let (compute, gate, starts) = gated();
    let (pool, mut results) = Pool::with_compute(1, compute);
    pool.submit(task(1));
    assert_eq!(started(&starts), 1);
    assert_eq!(pool.cancel(&[1, 99]), 1, "only live ids count");
    pool.submit(task(2));
    gate.release(2);
    // One thread runs the tasks in order, so task 1's outcome would arrive before task 2's.
    let done = next(&mut results).await;
    assert_eq!(done.task_id, 2);
    assert!(pool.finish(&done));
}

#[tokio::test]
async fn cancelled_queued_task_never_starts() {
    let (compute, gate, starts) = gated();
    let (pool, mut results) = Pool::with_compute(1, compute);
    pool.submit(task(1));
    pool.submit(task(2));
    assert_eq!(started(&starts), 1);
    assert_eq!(pool.cancel(&[2]), 1);
    assert_eq!(pool.queued(), 0);
    pool.submit(task(3));
    gate.release(2);
    assert_eq!(next(&mut results).await.task_id, 1);
    assert_eq!(next(&mut results).await.task_id, 3);
    assert_eq!(started(&starts), 3, "task 2 never started");
}

#[tokio::test]
async fn result_cancelled_after_computing_is_not_claimed() {
    let (pool, mut results) = Pool::new(1);
    pool.submit(task(1));
    let done = next(&mut results).await;
    assert_eq!(pool.cancel(&[1]), 1);
    assert!(!pool.finish(&done), "a cancelled result must not be sent");
}

#[tokio::test]
async fn resubmitted_task_supersedes_the_old_submission() {
    let (compute, gate, starts) = gated();
    let (pool, mut results) = Pool::with_compute(1, compute);
    pool.submit(task(1));
    assert_eq!(started(&starts), 1);
    pool.submit(task(1));
    gate.release(2);
    let stale = next(&mut results).await;
    let fresh = if pool.finish(&stale) { stale } else { next(&mut results).await };
    assert!(!pool.finish(&fresh), "claimed once only");
    assert_eq!(pool.in_flight(), 0);
}

#[tokio::test]
async fn clear_and_stop_drop_everything() {
    let (compute, gate, starts) = gated();
    let (pool, mut results) = Pool::with_compute(1, compute);
    pool.submit(task(1));
    pool.submit(task(2));
    started(&starts);
    assert_eq!(pool.clear(), 2);
    pool.submit(task(3));
    pool.stopper().stop();
    pool.submit(task(4));
    gate.release(4);
    assert_eq!(pool.in_flight(), 0);
    drop(pool);
    // Every thread is gone once the channel closes, and nothing was reported.
    let end = tokio::time::timeout(DEADLINE, results.recv()).await.expect("threads exit");
    assert!(end.is_none());
}
