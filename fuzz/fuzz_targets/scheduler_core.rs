//! Drives the scheduler's core with a sequence of ops decoded from the input (sessions,
//! commands, honest and wrong results, failures, disconnects, clock steps and lease expiry)
//! and checks its invariants after every step. The driver and the checks live in the
//! coordinator (`scheduler::fuzzing`, `scheduler/invariants.rs`), where a seeded unit test
//! runs them too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ostrich_coordinator::scheduler::fuzzing::run(data);
});
