//! Micro-benchmarks of the kernels and of their verification, as the coordinator runs it:
//! Freivalds' check of a matmul tile against computing the tile, and the Mandelbrot spot
//! check against rendering the tile. `cargo xtask bench micro` runs them.

// `criterion_group!` defines a public function without a doc comment.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use ostrich_kernels::{
    STREAM_A, STREAM_B, View, matmul_tile, render_tile, seeded_matrix, spot_check, verify_matmul_tile,
};
use std::hint::black_box;

/// Tile shapes (rows, k, cols): a 128² tile of a k = 256 product, and a 256³ one.
const MATMUL_SHAPES: [(usize, usize, usize); 2] = [(128, 256, 128), (256, 256, 256)];

/// Pixels the coordinator recomputes per Mandelbrot tile (`jobs::MANDELBROT_SAMPLES`).
const SPOT_SAMPLES: usize = 12;

fn matmul(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul");
    for (rows, k, cols) in MATMUL_SHAPES {
        let a = seeded_matrix(7, STREAM_A, rows * k);
        let b = seeded_matrix(7, STREAM_B, k * cols);
        let product = matmul_tile(&a, &b, rows, k, cols).expect("operands match");
        let shape = format!("{rows}x{k}x{cols}");
        group.bench_function(format!("tile/{shape}"), |bench| {
            bench.iter(|| matmul_tile(black_box(&a), black_box(&b), rows, k, cols))
        });
        group.bench_function(format!("freivalds/{shape}"), |bench| {
            bench.iter(|| verify_matmul_tile(black_box(&a), black_box(&b), black_box(&product), rows, k, cols, 42))
        });
    }
    group.finish();
}

fn mandelbrot(c: &mut Criterion) {
    // A 64×64 tile on the edge of the period-3 minibrot: every pixel iterates, some to max_iter.
    let view = View { width: 256, height: 256, center_re: -1.7549, center_im: 0.0, zoom: 60.0, max_iter: 256 };
    let (x, y, w, h) = (96, 96, 64, 64);
    let iterations = render_tile(&view, x, y, w, h).expect("tile inside the view");
    let mut group = c.benchmark_group("mandelbrot");
    group.bench_function("tile/64x64", |bench| bench.iter(|| render_tile(black_box(&view), x, y, w, h)));
    group.bench_function("spot_check/64x64", |bench| {
        bench.iter(|| spot_check(black_box(&view), x, y, w, h, black_box(&iterations), SPOT_SAMPLES, 42))
    });
    group.finish();
}

criterion_group!(benches, matmul, mandelbrot);
criterion_main!(benches);
