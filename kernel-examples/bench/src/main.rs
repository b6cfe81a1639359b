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
        let wasmtime_s = best(|| {
            for input in &inputs {
                let output = host.run(&kernel, input, 600_000, 1 << 24).expect("runs");
                assert_eq!(output, native(input), "wasmtime and native give the same bytes");
            }
        });
        let line = json!({
            "kernel": name,
            "tasks": inputs.len(),
            "native_s": native_s,
            "wasmtime_s": wasmtime_s,
            "module_hex": hex(&module),
            "inputs_hex": inputs.iter().map(|i| hex(i)).collect::<Vec<_>>(),
            "outputs_hex": inputs.iter().map(|i| hex(&native(i))).collect::<Vec<_>>(),
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
}
