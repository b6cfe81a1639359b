//! Times the example kernels natively (the crates' own `run`) and under wasmtime (the
//! modules `cargo xtask build-kernels` built, through the worker's host), and the host's cost
//! per task on a kernel that does almost nothing. Prints one JSON line per measure, with the
//! inputs in hex so that `cargo xtask bench wasm` can time the same tasks under Node.
//!
//! `user-kernel-bench <folder of the .wasm modules>`

use std::{path::PathBuf, time::Instant};

use ostrich_example_monte_carlo::Params;
use ostrich_example_raytrace::Frame;
use ostrich_example_sweep::Scenario;
use ostrich_protocol::range_input;
use ostrich_wasm::{Host, prepare};
use serde_json::json;

/// A kernel's `run`, natively.
type Kernel = fn(&[u8]) -> Vec<u8>;

/// Repetitions of each set of tasks; the fastest counts.
const ROUNDS: usize = 3;

fn best(mut run: impl FnMut()) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let folder = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/kernels".into()));
    let host = Host::worker().expect("a wasmtime host");
    let load = |name: &str| {
        let bytes = std::fs::read(folder.join(format!("{name}.wasm"))).expect("run `cargo xtask build-kernels` first");
        let prepared = prepare(&bytes).expect("a valid kernel");
        (host.compile(&prepared.bytes).expect("compiles"), prepared.bytes)
    };
    let params =
        Params { paths_per_task: 200_000, seed: 1, spot: 100.0, strike: 105.0, rate: 0.05, sigma: 0.2, years: 1.0 };
    let frame = Frame { width: 256, height: 192, tile: 64, samples: 4 };
    let cases: [(&str, Vec<Vec<u8>>, Kernel); 2] = [
        ("monte-carlo", (0..8).map(|i| range_input(i, &params.to_args())).collect(), ostrich_example_monte_carlo::run),
        (
            "raytrace",
            (0..u64::from(frame.tiles())).map(|i| range_input(i, &frame.to_args())).collect(),
            ostrich_example_raytrace::run,
        ),
    ];
    for (name, inputs, native) in cases {
        let (kernel, module) = load(name);
        let native_s = best(|| inputs.iter().for_each(|input| drop(std::hint::black_box(native(input)))));
        let expected: Vec<Vec<u8>> = inputs.iter().map(|input| native(input)).collect();
        let mut outputs = Vec::with_capacity(inputs.len());
        let wasmtime_s = best(|| {
            outputs.clear();
            outputs.extend(inputs.iter().map(|input| host.run(&kernel, input, 600_000, 1 << 24).expect("runs")));
        });
        assert_eq!(outputs, expected, "wasmtime and native give the same bytes");
        let line = json!({
            "kernel": name,
            "tasks": inputs.len(),
            "native_s": native_s,
            "wasmtime_s": wasmtime_s,
            "module_hex": hex(&module),
            "inputs_hex": inputs.iter().map(|i| hex(i)).collect::<Vec<_>>(),
            "outputs_hex": expected.iter().map(|o| hex(o)).collect::<Vec<_>>(),
        });
        println!("{line}");
    }
    // The host's cost per task: a sweep of 0 days does a few multiplications, so a task's
    // time is the instance, the copies and the call.
    let (kernel, _) = load("sweep");
    let record = Scenario { beta: 0.3, gamma: 0.1, days: 0 }.to_record();
    let tasks = 2_000;
    let wasmtime_s = best(|| {
        for _ in 0..tasks {
            drop(std::hint::black_box(host.run(&kernel, &record, 1_000, 64).expect("runs")));
        }
    });
    let native_s = best(|| {
        for _ in 0..tasks {
            drop(std::hint::black_box(ostrich_example_sweep::run(&record)));
        }
    });
    println!("{}", json!({ "overhead_tasks": tasks, "wasmtime_s": wasmtime_s, "native_s": native_s }));
    replication();
}

/// The replicas adaptive replication spends: the real scheduler core with `DEVICES` honest
/// devices and one job of `TASKS` tasks, results answered in dispatch order. Prints the
/// extra results over the whole job and over its second half (every device trusted by
/// then), against 100 % for fixed double replication.
fn replication() {
    use std::time::Instant;

    use ostrich_coordinator::{
        modules::StoredModule,
        scheduler::{Admission, Core, Effect, Settings},
    };
    use ostrich_protocol::{
        Capabilities, JobSpec, ModuleHash, TaskKind, TaskLimits, TaskOutput, ToDevice, Verification, WasmInput,
        WasmRuntime, WasmSpec,
    };
    const DEVICES: u64 = 4;
    const TASKS: u32 = 20_000;
    let caps = Capabilities {
        logical_cores: 1,
        memory_mb: 0,
        gpu: None,
        ops_score: 0,
        platform: "bench".into(),
        runtime: WasmRuntime::Native,
    };
    let mut core = Core::new(Settings::default());
    let master = core.register(1, uuid::Uuid::from_u128(1), "master", caps.clone(), Admission::NewSwarm);
    let swarm = master.expect("a swarm").swarm_id;
    let module = ModuleHash([3; 32]);
    core.put_module(swarm, StoredModule { hash: module, bytes: vec![0; 8].into(), verifier: None }).expect("module");
    for session in 2..2 + DEVICES {
        let id = uuid::Uuid::from_u128(u128::from(session));
        core.register(session, id, "device", caps.clone(), Admission::Invited(swarm)).expect("a device");
        core.work_request(session, 4, Instant::now());
    }
    let spec = WasmSpec {
        module,
        name: "replication".into(),
        input: WasmInput::Range { count: TASKS, args: Vec::new() },
        limits: TaskLimits { time_limit_ms: 60_000, max_output_bytes: 16 },
        verification: Verification::default(),
    };
    let job = core.submit_job(swarm, JobSpec::Wasm(spec), Instant::now()).expect("a job");
    let mut held: Vec<(u64, u64, Vec<u8>)> = Vec::new();
    let (mut half, mut seed) = (None, 1u64);
    loop {
        for effect in core.take_effects() {
            if let Effect::Send(session, ToDevice::Assign { tasks }) = effect {
                for task in tasks {
                    let TaskKind::Wasm { input, .. } = task.kind else { continue };
                    held.push((session, task.id, input.iter().rev().copied().collect()));
                }
            }
        }
        if held.is_empty() {
            break;
        }
        for (session, task, output) in std::mem::take(&mut held) {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            core.task_result(session, task, TaskOutput::Wasm { output }, Instant::now(), seed >> 11);
        }
        let progress = core.job_progress(swarm, job).expect("the job");
        let replicas = progress.replication.map_or(0, |r| r.replicas);
        if half.is_none() && progress.tasks_verified >= TASKS / 2 {
            half = Some((progress.tasks_verified, replicas));
        }
    }
    let progress = core.job_progress(swarm, job).expect("the job");
    let replicas = progress.replication.map_or(0, |r| r.replicas);
    let (half_verified, half_replicas) = half.unwrap_or_default();
    println!(
        "{}",
        json!({
            "replication_devices": DEVICES,
            "tasks": progress.tasks_verified,
            "replicas": replicas,
            "second_half_tasks": progress.tasks_verified - half_verified,
            "second_half_replicas": replicas - half_replicas,
        })
    );
}
