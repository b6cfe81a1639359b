//! Micro-benchmarks of the codec on the two messages every task costs: the `Assign` that
//! carries a matmul task's operands and the `TaskResult` that carries its tile. A product-
//! sized tile (64×64 with k = 256) and the tiny one the swarm simulator uses (4×4, k = 4).
//!
//! Before the benchmarks it prints each message's encoded size as `codec-size <name>
//! <bytes>`, which `cargo xtask bench micro` reads with the timings.

// `criterion_group!` defines a public function without a doc comment.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use ostrich_protocol::{Task, TaskKind, TaskOutput, ToCoordinator, ToDevice, decode, encode};
use std::hint::black_box;

/// Tile shapes (rows, k, cols) and their names in the benchmark ids (`rows`x`k`x`cols` for
/// the assignment, `rows`x`cols` for the result).
const SHAPES: [(u32, u32, u32); 2] = [(64, 256, 64), (4, 4, 4)];

/// `len` values that do not compress or repeat, like real operands.
fn values(len: u32, salt: f32) -> Vec<f32> {
    (0..len).map(|i| (i as f32 * 0.618 + salt).sin()).collect()
}

/// An `Assign` with one matmul task of the shape.
fn assign(rows: u32, k: u32, cols: u32) -> ToDevice {
    let kind = TaskKind::MatmulTile { rows, k, cols, a: values(rows * k, 0.1), b: values(k * cols, 0.2) };
    ToDevice::Assign { tasks: vec![Task { id: 123_456, job_id: 7, lease_ms: 30_000, kind }] }
}

/// The `TaskResult` of a task of the shape.
fn result(rows: u32, cols: u32) -> ToCoordinator {
    ToCoordinator::TaskResult { task_id: 123_456, output: TaskOutput::MatmulTile { c: values(rows * cols, 0.3) } }
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for (rows, k, cols) in SHAPES {
        let (task, tile) = (format!("{rows}x{k}x{cols}"), format!("{rows}x{cols}"));
        let assign = assign(rows, k, cols);
        let result = result(rows, cols);
        let assign_frame = encode(&assign).expect("encodes");
        let result_frame = encode(&result).expect("encodes");
        println!("codec-size assign/{task} {}", assign_frame.len());
        println!("codec-size result/{tile} {}", result_frame.len());
        group.bench_function(format!("encode/assign/{task}"), |b| b.iter(|| encode(black_box(&assign))));
        group.bench_function(format!("decode/assign/{task}"), |b| {
            b.iter(|| decode::<ToDevice>(black_box(&assign_frame)))
        });
        group.bench_function(format!("encode/result/{tile}"), |b| b.iter(|| encode(black_box(&result))));
        group.bench_function(format!("decode/result/{tile}"), |b| {
            b.iter(|| decode::<ToCoordinator>(black_box(&result_frame)))
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
