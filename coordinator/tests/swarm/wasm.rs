use std::collections::HashMap;

use ostrich_coordinator::Config;
use ostrich_example_monte_carlo::Params;
use ostrich_example_raytrace::Frame;
use ostrich_example_sweep::{Outcome, Scenario};
use ostrich_protocol::{
    DeviceStatus, JobProgress, JobSpec, JobState, MasterCommand, ModuleHash, RESULT_MAGIC, ReplicationStats, Snapshot,
    TaskKind, TaskLimits, TaskOutput, ToCoordinator, ToDevice, Verification, WasmInput, WasmSpec, read_results,
    write_records,
};
use serde_json::Value;

use crate::common::*;

/// An example kernel as `cargo xtask build-kernels` built it.
fn example(name: &str) -> Vec<u8> {
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("..").join("kernels").join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask build-kernels` first", path.display()))
}

/// Uploads a module; answers its name, or the status and message of the refusal.
fn upload(server: &Server, key: &str, module: &[u8]) -> Result<ModuleHash, (u16, String)> {
    let response =
        ureq::post(&server.http("/api/modules")).set("Authorization", &format!("Bearer {key}")).send_bytes(module);
    match response {
        Ok(response) => {
            let body: Value = response.into_json().expect("json");
            Ok(ModuleHash::from_hex(body["module"].as_str().expect("a name")).expect("hex"))
        }
        Err(ureq::Error::Status(status, response)) => {
            let body: Value = response.into_json().expect("json");
            Err((status, body["error"].as_str().unwrap_or_default().to_string()))
        }
        Err(error) => panic!("upload failed: {error}"),
    }
}

/// Submits a job through the master's socket; answers its id.
async fn submit(master: &mut Client, spec: WasmSpec) -> u64 {
    master.command(MasterCommand::SubmitJob { spec: JobSpec::Wasm(spec) }).await;
    master
        .recv_until(|m| match m {
            ToDevice::CommandOk { job_id: Some(id), .. } => Some(id),
            ToDevice::CommandError { message, .. } => panic!("job refused: {message}"),
            _ => None,
        })
        .await
}

/// Waits until job `id` ends; answers its last progress. Asked over the API: a socket's
/// last progress may have gone by while the test waited for something else.
async fn ended(server: &Server, key: &str, id: u64) -> JobProgress {
    poll(&format!("job {id} to end"), DEADLINE, || {
        let progress: JobProgress = get(server, &format!("/api/jobs/{id}"), key).ok()?.into_json().ok()?;
        (progress.state != JobState::Running).then_some(progress)
    })
    .await
}

/// Waits until `count` devices of the swarm ask for work, so a job is shared from its
/// start (a lone device would compute every first result before the second joins).
async fn devices_ready(master: &mut Client, count: usize) {
    master
        .recv_until(|m| match m {
            ToDevice::Snapshot(Snapshot::Master { devices, .. }) => {
                (devices.iter().filter(|d| d.stats.slots > 0).count() >= count).then_some(())
            }
            _ => None,
        })
        .await;
}

/// A completed job's outputs, from the result file, in task order.
fn outputs(server: &Server, key: &str, id: u64) -> Vec<Vec<u8>> {
    let response = get(server, &format!("/api/jobs/{id}/result"), key).expect("the result downloads");
    let mut file = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut file).expect("body");
    assert!(file.starts_with(RESULT_MAGIC));
    read_results(&file).expect("a valid result file").into_iter().map(<[u8]>::to_vec).collect()
}

fn range_input(index: u64, args: &[u8]) -> Vec<u8> {
    ostrich_protocol::range_input(index, args)
}

fn spec(module: ModuleHash, name: &str, input: WasmInput) -> WasmSpec {
    WasmSpec { module, name: name.into(), input, limits: TaskLimits::default(), verification: Verification::default() }
}

/// Monte Carlo, the ray tracer and the factoring kernel through two native workers (each
/// result replicated until they trust each other) equal their local references, byte for
/// byte; the Monte Carlo estimate is within four standard errors of the closed form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_through_the_swarm_equals_its_local_reference() {
    let server = Server::start(Config { snapshot_interval_s: 0.2, ..Config::default() });
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let workers = [native_worker(&server, &token, 1), native_worker(&server, &token, 1)];

    let params =
        Params { paths_per_task: 5_000, seed: 11, spot: 100.0, strike: 105.0, rate: 0.05, sigma: 0.2, years: 1.0 };
    let monte_carlo = upload(&server, &key, &example("monte-carlo")).expect("accepted");
    let mc_job =
        submit(&mut master, spec(monte_carlo, "option", WasmInput::Range { count: 16, args: params.to_args() })).await;
    let frame = Frame { width: 48, height: 32, tile: 16, samples: 2 };
    let raytrace = upload(&server, &key, &example("raytrace")).expect("accepted");
    let ray_job =
        submit(&mut master, spec(raytrace, "", WasmInput::Range { count: frame.tiles(), args: frame.to_args() })).await;

    let progress = ended(&server, &key, mc_job).await;
    assert_eq!(progress.state, JobState::Completed);
    let replication = progress.replication.expect("a wasm job reports its checks");
    assert!(replication.checked && !replication.by_verify);
    // Fewer tasks than TRUST_THRESHOLD: every result is confirmed by the other device.
    assert_eq!(replication.agreed, 16, "untrusted devices' results are all replicated: {replication:?}");
    let got = outputs(&server, &key, mc_job);
    let expected: Vec<Vec<u8>> =
        (0..16).map(|i| ostrich_example_monte_carlo::run(&range_input(i, &params.to_args()))).collect();
    assert_eq!(got, expected, "every output equals the native run's bytes");
    let (price, error) = ostrich_example_monte_carlo::reduce(got.iter().map(Vec::as_slice)).expect("estimate");
    let exact = ostrich_example_monte_carlo::black_scholes(&params);
    assert!((price - exact).abs() < 4.0 * error, "{price} ± {error} against {exact}");

    let progress = ended(&server, &key, ray_job).await;
    assert_eq!(progress.state, JobState::Completed, "{progress:?}");
    assert!(progress.label.contains("wasm"), "{}", progress.label);
    let tiles = outputs(&server, &key, ray_job);
    let image = ostrich_example_raytrace::assemble(&frame, tiles.iter().map(Vec::as_slice)).expect("every tile");
    let local: Vec<Vec<u8>> = (0..u64::from(frame.tiles()))
        .map(|i| ostrich_example_raytrace::run(&range_input(i, &frame.to_args())))
        .collect();
    assert_eq!(Some(image), ostrich_example_raytrace::assemble(&frame, local.iter().map(Vec::as_slice)));
    drop(workers);
}

/// A records job: records uploaded over HTTP (streamed), more appended while it runs, each
/// task's output served on its own, and the whole result once the job is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_over_uploaded_records_takes_more_while_it_runs() {
    let server = Server::start(Config::default());
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let workers = [native_worker(&server, &token, 1), native_worker(&server, &token, 1)];
    let module = upload(&server, &key, &example("sweep")).expect("accepted");
    let scenarios = ostrich_example_sweep::grid(12);
    let job = submit(&mut master, spec(module, "sir", WasmInput::Records { records: Vec::new(), open: true })).await;

    #[allow(clippy::result_large_err, reason = "ureq's error type; the test matches on it")]
    let post = |path: String, body: Vec<u8>| {
        ureq::post(&server.http(&path)).set("Authorization", &format!("Bearer {key}")).send_bytes(&body)
    };
    let first: Vec<Vec<u8>> = scenarios[..8].iter().map(Scenario::to_record).collect();
    post(format!("/api/jobs/{job}/records"), write_records(first.iter().map(Vec::as_slice))).expect("appended");
    // The first records are computed while the job is still open.
    let output =
        poll("task 3's output", DEADLINE, || get(&server, &format!("/api/jobs/{job}/tasks/3"), &key).ok()).await;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut output.into_reader(), &mut bytes).expect("body");
    assert_eq!(Outcome::from_output(&bytes), Some(scenarios[3].simulate()));
    let early = get(&server, &format!("/api/jobs/{job}/result"), &key).expect_err("not complete while open");
    assert!(matches!(early, ureq::Error::Status(409, _)), "{early:?}");

    let rest: Vec<Vec<u8>> = scenarios[8..].iter().map(Scenario::to_record).collect();
    post(format!("/api/jobs/{job}/records?close=true"), write_records(rest.iter().map(Vec::as_slice))).expect("closed");
    let late =
        post(format!("/api/jobs/{job}/records"), write_records([b"x".as_slice()])).expect_err("closed jobs refuse");
    assert!(matches!(late, ureq::Error::Status(422, _)), "{late:?}");
    let malformed = ureq::post(&server.http("/api/jobs/1/records"))
        .set("Authorization", &format!("Bearer {key}"))
        .send_bytes(&[9, 0, 0, 0, 1]);
    assert!(matches!(malformed, Err(ureq::Error::Status(400, _))), "a cut record is a bad request");

    assert_eq!(ended(&server, &key, job).await.state, JobState::Completed);
    let got: Vec<Outcome> =
        outputs(&server, &key, job).iter().map(|o| Outcome::from_output(o).expect("24 bytes")).collect();
    let expected: Vec<Outcome> = scenarios.iter().map(Scenario::simulate).collect();
    assert_eq!(got, expected);
    let missing = get(&server, &format!("/api/jobs/{job}/tasks/12"), &key).expect_err("no task 12");
    assert!(matches!(missing, ureq::Error::Status(404, _)), "{missing:?}");
    drop(workers);
}

/// A kernel written by hand in WAT, with no SDK: the ABI is all a language needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_written_in_wat_runs_through_the_swarm() {
    let server = Server::start(Config::default());
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let workers = [native_worker(&server, &token, 1), native_worker(&server, &token, 1)];
    let module = upload(&server, &key, &reverse_wat()).expect("accepted");
    let records: Vec<Vec<u8>> = (0..10u8).map(|i| (0..=i).collect()).collect();
    let input =
        WasmInput::Records { records: records.iter().cloned().map(ostrich_protocol::Record).collect(), open: false };
    let job = submit(&mut master, spec(module, "reverse", input)).await;
    assert_eq!(ended(&server, &key, job).await.state, JobState::Completed);
    let expected: Vec<Vec<u8>> = records.iter().map(|r| r.iter().rev().copied().collect()).collect();
    assert_eq!(outputs(&server, &key, job), expected);
    drop(workers);
}

/// `run` answers its input reversed; written by hand in WAT.
pub fn reverse_wat() -> Vec<u8> {
    wat::parse_str(ostrich_wasm::wat_kernels::reverse()).expect("valid WAT")
}

/// A module with `verify` (the factoring kernel) is checked by it on the coordinator:
/// every result accepted with no replica, even from a lone device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_with_verify_is_checked_by_it_with_no_replicas() {
    let server = Server::start(Config::default());
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let worker = native_worker(&server, &token, 1);
    let module = upload(&server, &key, &example("factor")).expect("accepted");
    let first = 1_000_000_000_000u64;
    let input = WasmInput::Range { count: 16, args: first.to_le_bytes().to_vec() };
    let job = submit(&mut master, spec(module, "factor", input)).await;
    let progress = ended(&server, &key, job).await;
    assert_eq!(progress.state, JobState::Completed);
    let replication = progress.replication.expect("stats");
    assert!(replication.by_verify);
    assert_eq!((replication.replicas, replication.results), (0, 16), "{replication:?}");
    let expected: Vec<Vec<u8>> =
        (0..16).map(|i| ostrich_example_factor::run(&range_input(i, &first.to_le_bytes()))).collect();
    assert_eq!(outputs(&server, &key, job), expected);
    drop(worker);
}

/// A lone device's results wait for a second device; a job the master runs without
/// verification completes alone and says it was unchecked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_device_waits_for_a_second_unless_the_job_is_unchecked() {
    let server = Server::start(Config::default());
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let first = native_worker(&server, &token, 1);
    let module = upload(&server, &key, &reverse_wat()).expect("accepted");
    let records = || WasmInput::Records {
        records: (0..4u8).map(|i| ostrich_protocol::Record(vec![i, 1])).collect(),
        open: false,
    };
    let checked = submit(&mut master, spec(module, "checked", records())).await;
    let waiting = master
        .recv_until(|m| match m {
            ToDevice::JobProgress(p) if p.job_id == checked && p.replication.is_some_and(|r| r.awaiting == 4) => {
                Some(p)
            }
            _ => None,
        })
        .await;
    assert_eq!(waiting.tasks_verified, 0, "nothing is accepted on one device's word");
    let unchecked = WasmSpec { verification: Verification::None, ..spec(module, "unchecked", records()) };
    let unchecked = submit(&mut master, unchecked).await;
    let progress = ended(&server, &key, unchecked).await;
    assert_eq!(progress.state, JobState::Completed);
    assert!(!progress.replication.expect("stats").checked, "the job says it was not checked");

    let second = native_worker(&server, &token, 1);
    let progress = ended(&server, &key, checked).await;
    assert_eq!(progress.state, JobState::Completed);
    assert_eq!(progress.replication.map(|r| (r.agreed, r.awaiting)), Some((4, 0)));
    assert_eq!(outputs(&server, &key, checked), (0..4u8).map(|i| vec![1, i]).collect::<Vec<_>>());
    drop((first, second));
}

/// Hostile modules: refused at upload with the cause named, or failing their tasks with a
/// reason (an endless loop, a memory bomb, deep recursion, a huge output) until the job
/// fails; the worker and the coordinator carry on and complete an honest job after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_modules_are_refused_or_fail_their_tasks_and_everything_carries_on() {
    let server = Server::start(Config { max_task_attempts: 2, ..Config::default() });
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let worker = native_worker(&server, &token, 1);

    let importing = wat::parse_str(
        r#"(module (import "env" "fetch" (func)) (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "run") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .expect("wat");
    let (status, message) = upload(&server, &key, &importing).expect_err("refused");
    assert_eq!(status, 422);
    assert!(message.contains("imports `env`.`fetch`"), "{message}");
    let threaded = wat::parse_str(
        r#"(module (memory (export "memory") 1 1 shared)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "run") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .expect("wat");
    let (_, message) = upload(&server, &key, &threaded).expect_err("refused");
    assert!(message.contains("threads"), "{message}");

    let hostile = [
        ("endless", "(loop $forever (br $forever)) (i64.const 0)", "", "time limit"),
        (
            "bomb",
            "(block $full (loop $more (br_if $full (i32.eq (memory.grow (i32.const 1024)) (i32.const -1))) (br $more))) unreachable",
            "",
            "unreachable",
        ),
        ("recursion", "(call $deep) (i64.const 0)", "(func $deep (call $deep))", "stack"),
        ("huge", "(i64.shl (i64.const 4096) (i64.const 32))", "", "over the job's limit"),
    ];
    for (name, body, extra, reason) in hostile {
        let module = upload(&server, &key, &kernel(body, extra)).expect("valid, if hostile");
        let spec = WasmSpec {
            limits: TaskLimits { time_limit_ms: 300, max_output_bytes: 1024 },
            ..spec(module, name, WasmInput::Range { count: 1, args: Vec::new() })
        };
        let job = submit(&mut master, spec).await;
        let logged = master
            .recv_until(|m| match m {
                ToDevice::Log(line) if line.message.contains("failed on a device") => Some(line.message),
                _ => None,
            })
            .await;
        assert!(logged.contains(reason), "{name}: {logged}");
        let progress = ended(&server, &key, job).await;
        assert!(matches!(progress.state, JobState::Failed { .. }), "{name}: {progress:?}");
    }
    let honest = upload(&server, &key, &reverse_wat()).expect("accepted");
    let input = WasmInput::Records { records: vec![ostrich_protocol::Record(b"ok".to_vec())], open: false };
    let job = submit(&mut master, WasmSpec { verification: Verification::None, ..spec(honest, "after", input) }).await;
    assert_eq!(ended(&server, &key, job).await.state, JobState::Completed, "the worker still computes");
    assert!(worker.stats().connected);
    drop(worker);
}

/// A kernel around a `run` body, written by hand in WAT.
fn kernel(run_body: &str, extra: &str) -> Vec<u8> {
    wat::parse_str(ostrich_wasm::wat_kernels::with_run(run_body, extra)).expect("valid WAT")
}

/// A raw worker that runs kernels honestly in its own wasmtime, except that every
/// `lie_every`-th output has one byte flipped.
struct LyingWorker {
    client: Client,
    host: ostrich_wasm::Host,
    modules: HashMap<ModuleHash, ostrich_wasm::Kernel>,
    waiting: Vec<ostrich_protocol::Task>,
    answered: u32,
    lies: u32,
}

impl LyingWorker {
    /// Serves tasks until `until` says stop (checked after each message).
    async fn serve(&mut self, lie_every: u32, mut until: impl FnMut(&Self) -> bool) {
        while !until(self) {
            let message = self.client.recv().await;
            match message {
                ToDevice::Assign { tasks } => self.waiting.extend(tasks),
                ToDevice::Module { module, bytes: Ok(bytes) } => {
                    let kernel = self.host.compile(&bytes.0).expect("compiles");
                    self.modules.insert(module, kernel);
                }
                ToDevice::Cancel { task_ids } => self.waiting.retain(|t| !task_ids.contains(&t.id)),
                _ => {}
            }
            for task in std::mem::take(&mut self.waiting) {
                let TaskKind::Wasm { module, input, time_limit_ms, max_output_bytes } = &task.kind else { continue };
                let Some(kernel) = self.modules.get(module) else {
                    self.client.send(&ToCoordinator::FetchModule { module: *module }).await;
                    self.waiting.push(task);
                    continue;
                };
                let mut output = self.host.run(kernel, input, *time_limit_ms, *max_output_bytes).expect("runs");
                self.answered += 1;
                if self.answered.is_multiple_of(lie_every) {
                    output[0] ^= 0x40;
                    self.lies += 1;
                }
                self.client
                    .send(&ToCoordinator::TaskResult { task_id: task.id, output: TaskOutput::Wasm { output } })
                    .await;
            }
        }
    }
}

/// A worker that flips a byte in 1 of 20 outputs is caught by replication and
/// quarantined, and the job's result is exact. Its honest results earn no exemption: it is
/// replicated until trusted, and every lie resets its trust.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_worker_is_caught_and_quarantined_and_the_result_is_exact() {
    let server = Server::start(Config { quarantine_after: 2, snapshot_interval_s: 0.2, ..Config::default() });
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let honest = [native_worker(&server, &token, 1), native_worker(&server, &token, 1)];
    let (client, _) = raw_worker(&server, &token, 1).await;
    let mut liar = LyingWorker {
        client,
        host: ostrich_wasm::Host::worker().expect("host"),
        modules: HashMap::new(),
        waiting: Vec::new(),
        answered: 0,
        lies: 0,
    };
    liar.client.send(&ToCoordinator::WorkRequest { slots: 4 }).await;
    devices_ready(&mut master, 3).await;
    let module = upload(&server, &key, &example("monte-carlo")).expect("accepted");
    // Tasks of a few milliseconds, enough that the liar answers forty before the honest
    // devices finish; the job is more work than the usual deadline covers on a loaded
    // machine, so its waits get a longer one.
    let params =
        Params { paths_per_task: 100_000, seed: 5, spot: 50.0, strike: 50.0, rate: 0.01, sigma: 0.3, years: 0.5 };
    let job = submit(&mut master, spec(module, "mc", WasmInput::Range { count: 300, args: params.to_args() })).await;
    let long = DEADLINE * 3;
    let liar_id = liar.client.device_id;
    let served = tokio::time::timeout(long, liar.serve(20, |l| l.lies >= 2)).await;
    assert!(served.is_ok(), "the liar answered {} tasks and lied {} times", liar.answered, liar.lies);
    // The liar goes on as it was (a lie is caught only once other devices have computed
    // its task, and it may hold tasks that others wait for) until the master sees it
    // quarantined.
    let quarantined = master.recv_until_within(long, |m| match m {
        ToDevice::Snapshot(Snapshot::Master { devices, .. }) => devices
            .into_iter()
            .find(|d| d.device_id == liar_id)
            .map(|d| d.stats.status)
            .filter(|s| matches!(s, DeviceStatus::Quarantined { .. })),
        _ => None,
    });
    let status = tokio::select! {
        status = quarantined => status,
        () = liar.serve(20, |_| false) => unreachable!("the liar serves until the test ends"),
    };
    assert!(matches!(status, DeviceStatus::Quarantined { ref reason } if reason.contains("failed")), "{status:?}");
    let progress = poll("the job to end", long, || {
        let progress: JobProgress = get(&server, &format!("/api/jobs/{job}"), &key).ok()?.into_json().ok()?;
        (progress.state != JobState::Running).then_some(progress)
    })
    .await;
    assert_eq!(progress.state, JobState::Completed);
    let replication: ReplicationStats = progress.replication.expect("stats");
    assert!(replication.disagreed >= 2, "{replication:?}");
    assert!(progress.verification_failures >= 2);
    let expected: Vec<Vec<u8>> =
        (0..300).map(|i| ostrich_example_monte_carlo::run(&range_input(i, &params.to_args()))).collect();
    assert_eq!(outputs(&server, &key, job), expected, "no lie reached the result");
    drop(honest);
}

/// Trust is earned: once two devices have agreed often enough, only audits are replicated,
/// so the extra work falls from 100 % towards the job's floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_trusted_only_audits_are_replicated() {
    let server = Server::start(Config { snapshot_interval_s: 0.2, ..Config::default() });
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let workers = [native_worker(&server, &token, 1), native_worker(&server, &token, 1)];
    devices_ready(&mut master, 2).await;
    let module = upload(&server, &key, &reverse_wat()).expect("accepted");
    let records: Vec<ostrich_protocol::Record> =
        (0..1000u32).map(|i| ostrich_protocol::Record(i.to_le_bytes().to_vec())).collect();
    let input = WasmInput::Records { records, open: false };
    let job = submit(&mut master, spec(module, "trust", input)).await;
    let progress = ended(&server, &key, job).await;
    assert_eq!(progress.state, JobState::Completed);
    let replication = progress.replication.expect("stats");
    let overhead = replication.overhead_percent(progress.tasks_verified);
    // Results are replicated until the devices have agreed TRUST_THRESHOLD times; after
    // that at most max(1/trust, 5 %).
    assert!(replication.replicas >= ostrich_protocol::TRUST_THRESHOLD, "{replication:?}");
    assert!(overhead < 20.0, "{overhead:.1} % extra results: {replication:?}");
    println!(
        "trust: {} replicas for {} tasks ({overhead:.1} % overhead)",
        replication.replicas, progress.tasks_verified
    );
    drop((workers, key));
}

/// The master's controls act on a wasm job exactly as on a built-in one: Stop cancels the
/// tasks in flight on the devices (they go back to the queue), Running resumes and the job
/// completes exact; Cancel ends a job and its tasks leave the devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_resume_and_cancel_act_on_wasm_jobs() {
    use ostrich_protocol::RunState;
    let server = Server::start(Config::default());
    let (mut master, _, key) = master(&server).await;
    let token = invite(&mut master).await.token;
    let (mut device, _) = raw_worker(&server, &token, 2).await;
    device.send(&ToCoordinator::WorkRequest { slots: 2 }).await;
    let module = upload(&server, &key, &reverse_wat()).expect("accepted");
    let records = || WasmInput::Records {
        records: (0..3u8).map(|i| ostrich_protocol::Record(vec![i, 9])).collect(),
        open: false,
    };
    let unchecked = |name: &str| WasmSpec { verification: Verification::None, ..spec(module, name, records()) };
    let job = submit(&mut master, unchecked("controls")).await;
    let first = device.recv_until(|m| if let ToDevice::Assign { tasks } = m { Some(tasks) } else { None }).await;
    assert_eq!(first.len(), 2);
    master.command(MasterCommand::SetRunState { state: RunState::Stopped }).await;
    let cancelled =
        device.recv_until(|m| if let ToDevice::Cancel { task_ids } = m { Some(task_ids) } else { None }).await;
    assert_eq!(cancelled.len(), 2, "Stop takes the wasm tasks back");
    master.command(MasterCommand::SetRunState { state: RunState::Running }).await;
    let reversed = |task: &ostrich_protocol::Task| {
        let TaskKind::Wasm { input, .. } = &task.kind else { panic!("a wasm task") };
        (task.id, TaskOutput::Wasm { output: input.iter().rev().copied().collect() })
    };
    let mut done = 0;
    while done < 3 {
        let tasks = device.recv_until(|m| if let ToDevice::Assign { tasks } = m { Some(tasks) } else { None }).await;
        done += tasks.len();
        device.send(&ToCoordinator::TaskResults { results: tasks.iter().map(reversed).collect() }).await;
    }
    assert_eq!(ended(&server, &key, job).await.state, JobState::Completed);
    assert_eq!(outputs(&server, &key, job), (0..3u8).map(|i| vec![9, i]).collect::<Vec<_>>());

    let job = submit(&mut master, unchecked("cancelled")).await;
    let held = device.recv_until(|m| if let ToDevice::Assign { tasks } = m { Some(tasks) } else { None }).await;
    master.command(MasterCommand::CancelJob { job_id: job }).await;
    let cancelled =
        device.recv_until(|m| if let ToDevice::Cancel { task_ids } = m { Some(task_ids) } else { None }).await;
    assert_eq!(cancelled.len(), held.len());
    assert_eq!(ended(&server, &key, job).await.state, JobState::Cancelled);
}
