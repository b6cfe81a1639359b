//! The fuzz driver run by `cargo test`: a few thousand inputs from a seeded generator, so
//! the normal test suite exercises the same ops and invariants as the `scheduler_core`
//! fuzz target, and regressions of what the fuzzer found, written as op lists.

use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};

use super::*;

/// Random inputs per test run: under a second in the test profile.
const RUNS: usize = 4000;

/// The longest random input; longer ones are cut at [`MAX_OPS`] ops anyway.
const MAX_INPUT: usize = 120;

#[test]
fn seeded_random_op_sequences_keep_every_invariant() {
    let mut rng = StdRng::seed_from_u64(0x0057_121C);
    let mut data = [0; MAX_INPUT];
    let mut reached = Reached::default();
    for _ in 0..RUNS {
        let len = rng.random_range(0..=MAX_INPUT);
        rng.fill_bytes(&mut data[..len]);
        reached += run(&data[..len]);
    }
    // The driver must get somewhere, or the invariants are checked on empty states.
    assert!(reached.steps > 10 * RUNS, "{reached:?}");
    assert!(reached.assigned > 0 && reached.verified > 0, "{reached:?}");
    assert!(reached.completed > 0 && reached.failed > 0 && reached.cancelled > 0, "{reached:?}");
}

/// Found by the fuzz driver: a cancelled job's requeued tasks stayed in the swarm's queue, so
/// snapshots and `/metrics` counted them as queued (2 queued while 1 waited) until a
/// dispatch happened to reach them. Worker 2 leaves, its tasks go back to the queue, and
/// the master cancels the matmul job.
#[test]
fn a_cancelled_job_leaves_nothing_counted_as_queued() {
    let cancel = Op::Http { swarm: 0, request: Http::Cancel(0) };
    run_ops(true, &[Op::Disconnect { session: 2 }, cancel]);
}

/// Found by the fuzz driver: cancelling (or deleting) a job freed its devices' slots without a
/// dispatch, and a worker does not ask again while its slot count is unchanged, so a swarm
/// whose devices held only that job's tasks sat idle while the next job waited. A worker
/// with 4 slots holds all of job 1; job 2 waits; the master cancels job 1.
#[test]
fn cancelling_a_job_hands_its_slots_to_the_next_job_at_once() {
    let submit = |spec| Op::Command { session: 0, command: Command::Submit(spec) };
    run_ops(
        false,
        &[
            Op::Join { device: 0, cores: 1, gpu: false, admission: Join::NewSwarm },
            Op::Join { device: 1, cores: 1, gpu: false, admission: Join::Invited(0) },
            Op::WorkRequest { session: 1, slots: 4 },
            submit(Spec::Matmul { m: 7, k: 3, n: 7, tile: 1, seed: 1 }),
            submit(Spec::Mandelbrot { width: 7, height: 5, tile: 1, max_iter: 20 }),
            Op::Command { session: 0, command: Command::Cancel(0) },
        ],
    );
}

/// A GPU worker holding more tasks than a CPU-only device may (2 cores: 8, with the GPU 16)
/// reports that it gave its GPU up: its GPU stops counting, but its slot limit stays what
/// its hello allowed, so it is never over its limit.
#[test]
fn a_gpu_given_up_mid_session_leaves_the_slot_limit_as_it_was() {
    run_ops(
        true,
        &[
            Op::Kernels { session: 2, gpu: true, used: false },
            Op::Flush,
            Op::Kernels { session: 2, gpu: true, used: true },
        ],
    );
}

/// An abandoned swarm expires with its key, credentials and jobs; its master coming back with
/// the old key and an API call on its old job leave every invariant intact. (That the key is
/// refused is tested in `scheduler::tests`.)
#[test]
fn an_expired_swarm_takes_its_key_and_jobs_with_it() {
    run_ops(
        false,
        &[
            Op::Join { device: 0, cores: 1, gpu: false, admission: Join::NewSwarm },
            Op::Command {
                session: 0,
                command: Command::Submit(Spec::Mandelbrot { width: 4, height: 4, tile: 4, max_iter: 8 }),
            },
            Op::Command { session: 0, command: Command::Cancel(0) },
            Op::Disconnect { session: 0 },
            Op::Expire,
            Op::Join { device: 0, cores: 1, gpu: false, admission: Join::MasterKey(0) },
            Op::Http { swarm: 0, request: Http::Status(0) },
        ],
    );
}
