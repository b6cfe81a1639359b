//! The in-browser kernel agreement check: the same seeded tile through the WebGPU kernel
//! and the CPU kernel, compared entry by entry and each verified with Freivalds' check.
//!
//! The browser tests call it on the real page, after the app has loaded the module:
//!
//! ```js
//! const { self_test_kernels } = await import("/swarm_ui.js");
//! const report = JSON.parse(await self_test_kernels());
//! ```

use ostrich_kernels::{STREAM_A, STREAM_B, matmul_flops, matmul_tile, seeded_matrix, verify_matmul_tile};
use ostrich_protocol::GpuInfo;
use serde::Serialize;
use wasm_bindgen::prelude::wasm_bindgen;

use super::gpu::GpuMatmul;
use super::js;

/// The seed of the test tile's operands.
const SEED: u64 = 0x5E1F_7E57;

/// The largest relative difference allowed per summed term: an entry may differ by
/// `k × 1e-6 × max(1, |c|)`, about eight f32 epsilons per term, far above the rounding
/// differences of two summation orders and far below any real error.
const TOLERANCE_PER_TERM: f64 = 1e-6;

/// The check's findings, serialised as JSON for the caller.
#[derive(Debug, Default, Serialize)]
struct Report {
    /// True when a GPU ran the tile, both results passed Freivalds' check and they agree.
    ok: bool,
    rows: u32,
    k: u32,
    cols: u32,
    /// The adapter that ran the GPU side.
    gpu: Option<GpuInfo>,
    cpu_verified: bool,
    gpu_verified: bool,
    /// The largest `|gpu − cpu| / max(1, |cpu|)` over the tile.
    max_rel_diff: f64,
    /// The bound `max_rel_diff` must stay under.
    tolerance: f64,
    /// Milliseconds of one CPU product on the calling thread, after a warm-up run.
    cpu_ms: f64,
    /// Milliseconds of one GPU product after a warm-up run, transfers included.
    gpu_ms: f64,
    cpu_gflops: f64,
    gpu_gflops: f64,
    /// What went wrong, if anything did.
    error: Option<String>,
}

/// Checks that the WebGPU and CPU kernels agree on a seeded 64×96×80 tile; answers a JSON
/// report whose `ok` is true when they do (see the module documentation for the call).
#[wasm_bindgen]
pub async fn self_test_kernels() -> String {
    self_test_kernels_sized(64, 96, 80).await
}

/// [`self_test_kernels`] on a seeded `rows`×`k`×`cols` tile, for measuring larger ones.
#[wasm_bindgen]
pub async fn self_test_kernels_sized(rows: u32, k: u32, cols: u32) -> String {
    let mut report = Report { rows, k, cols, tolerance: TOLERANCE_PER_TERM * f64::from(k), ..Report::default() };
    if let Err(error) = compare(&mut report).await {
        report.ok = false;
        report.error = Some(error);
    }
    serde_json::to_string(&report).unwrap_or_else(|err| format!(r#"{{"ok":false,"error":"cannot report: {err}"}}"#))
}

async fn compare(report: &mut Report) -> Result<(), String> {
    let (rows, k, cols) = (report.rows as usize, report.k as usize, report.cols as usize);
    if rows == 0 || k == 0 || cols == 0 || rows * k * cols > 1 << 30 {
        return Err("dimensions must be positive and the product at most 2^30".to_owned());
    }
    let a = seeded_matrix(SEED, STREAM_A, rows * k);
    let b = seeded_matrix(SEED, STREAM_B, k * cols);
    let flops = matmul_flops(rows, k, cols);

    // Each side runs twice and the second run is timed, so neither pays for warm-up
    // (V8's optimising compiler, the GPU pipeline's first use).
    matmul_tile(&a, &b, rows, k, cols).map_err(|err| err.to_string())?;
    let start = js::now_ms();
    let cpu = matmul_tile(&a, &b, rows, k, cols).map_err(|err| err.to_string())?;
    report.cpu_ms = js::now_ms() - start;
    report.cpu_gflops = flops / report.cpu_ms.max(1e-3) / 1e6;
    report.cpu_verified = verify_matmul_tile(&a, &b, &cpu, rows, k, cols, SEED ^ 1).is_ok();

    let (device, info) = GpuMatmul::open(|_| {}).await?;
    report.gpu = Some(info);
    device.matmul(&a, &b, report.rows, report.k, report.cols).await?;
    let start = js::now_ms();
    let gpu = device.matmul(&a, &b, report.rows, report.k, report.cols).await?;
    report.gpu_ms = js::now_ms() - start;
    report.gpu_gflops = flops / report.gpu_ms.max(1e-3) / 1e6;
    if gpu.len() != cpu.len() {
        return Err(format!("the GPU gave {} values for {}", gpu.len(), cpu.len()));
    }
    report.gpu_verified = verify_matmul_tile(&a, &b, &gpu, rows, k, cols, SEED ^ 1).is_ok();
    report.max_rel_diff = gpu
        .iter()
        .zip(&cpu)
        .map(|(&g, &c)| f64::from((g - c).abs()) / f64::from(c.abs()).max(1.0))
        .fold(0.0, |worst, diff| if diff > worst || diff.is_nan() { diff } else { worst });
    report.ok = report.cpu_verified && report.gpu_verified && report.max_rel_diff <= report.tolerance;
    Ok(())
}
