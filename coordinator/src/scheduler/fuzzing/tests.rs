//! Regressions of what the fuzzer found, written as op lists.

use super::*;

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
