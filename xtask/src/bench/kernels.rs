//! Part `kernels`: matmul and Mandelbrot throughput of one core, natively and in wasm,
//! against NumPy's product and against the kernels they replaced.
//!
//! The measuring code is `kernel-bench/` (crate `ostrich-kernel-bench`), compiled twice from
//! the same source: natively with the default target features (the one binary that
//! dispatches on CPU features at run time), and for `wasm32-unknown-unknown` with SIMD128
//! (from `.cargo/config.toml`) in the browser bundle's profile. The wasm build is bound for
//! Node with wasm-bindgen and run by `node`; both builds print JSON lines, which this part
//! turns into rows. NumPy runs the same products in the same run (`numpy.rs`).

use std::{fs, path::Path, process::Command};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::{Row, Section, numpy};
use crate::{PROFILE, TARGET, cargo, ensure_target, target_dir};

/// The package that holds the measuring code.
const PACKAGE: &str = "ostrich-kernel-bench";

/// The goal for native matmul against NumPy on one thread.
const NUMPY_RATIO_TARGET: f64 = 0.9;
/// The goal for vectorised Mandelbrot against the scalar kernel, natively.
const MANDELBROT_NATIVE_TARGET: f64 = 3.0;
/// The goal for vectorised Mandelbrot against the scalar kernel, in wasm.
const MANDELBROT_WASM_TARGET: f64 = 1.5;
/// The wasm matmul's rate before issue 13 on this machine (BENCHMARKS.md of stop 21), in
/// GFLOP/s: the kernel is unchanged and must keep it, within the ±5 % runs vary by.
const WASM_MATMUL_BEFORE: f64 = 31.6;

/// One line printed by kernel-bench.
#[derive(Debug, Deserialize)]
struct Measurement {
    kernel: String,
    shape: String,
    rate: f64,
    simd: String,
}

/// The measurements of one build.
struct Rates(Vec<Measurement>);

impl Rates {
    /// The rate of `kernel` whose shape starts with `shape`.
    fn get(&self, kernel: &str, shape: &str) -> Result<f64> {
        self.find(kernel, shape).map(|m| m.rate)
    }

    fn find(&self, kernel: &str, shape: &str) -> Result<&Measurement> {
        self.0
            .iter()
            .find(|m| m.kernel == kernel && m.shape.starts_with(shape))
            .with_context(|| format!("kernel-bench measured no {kernel} {shape}"))
    }
}

/// Builds and runs both builds and NumPy; answers the section.
pub fn section(root: &Path) -> Result<Section> {
    let target = target_dir(root);
    let native = native(root, &target)?;
    let wasm = wasm(root, &target)?;
    let numpy = numpy::measure(root, &[(256, 1), (2048, 1)])?;
    let isa = native.find("matmul", "256")?.simd.clone();
    let mut rows = Vec::new();
    for (size, shape) in [(256, "256×256×256"), (2048, "2048×2048×2048")] {
        let ours = native.get("matmul", shape)?;
        let theirs = numpy.rate(size, 1)?;
        rows.extend([
            Row::info(format!("Matmul {shape}, native (`gemm`, {isa})"), gflops(ours)),
            Row::info(format!("Matmul {shape}, NumPy `a @ b`, 1 thread"), gflops(theirs)),
            Row::target(
                format!("Matmul {shape}, native / NumPy"),
                ratio(ours / theirs),
                format!("≥ {NUMPY_RATIO_TARGET}×"),
                ours / theirs >= NUMPY_RATIO_TARGET,
            ),
        ]);
    }
    let portable = native.get("matmul-portable", "256")?;
    let wasm_matmul = wasm.get("matmul", "256")?;
    rows.extend([
        Row::info("Matmul 256³, native, the portable kernel (the native one before this change)", gflops(portable)),
        Row::target(
            "Matmul 256³, wasm SIMD128 (Node), the portable kernel",
            gflops(wasm_matmul),
            format!("≥ {:.1} GFLOP/s (before: {WASM_MATMUL_BEFORE}, less 5 %)", 0.95 * WASM_MATMUL_BEFORE),
            wasm_matmul >= 0.95 * WASM_MATMUL_BEFORE,
        ),
    ]);
    let builds = [
        (format!("native ({isa})"), &native, MANDELBROT_NATIVE_TARGET),
        ("wasm SIMD128 (Node)".into(), &wasm, MANDELBROT_WASM_TARGET),
    ];
    for (build, rates, goal) in builds {
        let scalar = rates.get("mandelbrot-scalar", "")?;
        let lanes = rates.get("mandelbrot", "")?;
        rows.extend([
            Row::info(format!("Mandelbrot, {build}, scalar (the kernel before)"), iterations(scalar)),
            Row::info(format!("Mandelbrot, {build}, vectorised"), iterations(lanes)),
            Row::target(
                format!("Mandelbrot, {build}, vectorised / scalar"),
                ratio(lanes / scalar),
                format!("≥ {goal}×"),
                lanes / scalar >= goal,
            ),
        ]);
    }
    // The narrower levels' code, as the same binary runs it on CPUs without the wider ones.
    let scalar = native.get("mandelbrot-scalar", "")?;
    for level in native.0.iter().filter(|m| m.kernel.starts_with("mandelbrot-") && m.kernel != "mandelbrot-scalar") {
        let name = level.kernel.trim_start_matches("mandelbrot-");
        if name == isa {
            continue;
        }
        rows.push(Row::target(
            format!("Mandelbrot, native, {name} code (forced on this CPU), against scalar"),
            format!("{} ({})", iterations(level.rate), ratio(level.rate / scalar)),
            format!("≥ {MANDELBROT_NATIVE_TARGET}×"),
            level.rate / scalar >= MANDELBROT_NATIVE_TARGET,
        ));
    }
    let node =
        Command::new("node").arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    Ok(Section {
        title: "Kernels: native and wasm, one core".into(),
        intro: format!(
            "`kernel-bench/` times the kernels of `kernels/` in one thread, in three rounds of at least 0.5 s after \
             one warm-up call each, and keeps the fastest round; the same source is built natively (release, default \
             target features: the binary that ships) and for wasm32 with SIMD128 (`wasm-release`, run by Node {}). \
             NumPy runs in the same run, timed the same way: {}, one thread (threadpoolctl), with \
             `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE` unset. Matmul: `matmul_tile` of square seeded operands, \
             2·n³ flops per call. Mandelbrot: `render_tile` of {}; the rate divides the sum of the returned counts \
             by the time; \"scalar\" is one `iterations_at` call per pixel, the loop `render_tile` ran before.",
            node.unwrap_or_else(|_| "?".into()),
            numpy.label(),
            native.find("mandelbrot", "")?.shape,
        ),
        rows,
        notes: vec![format!(
            "Native matmul is the `gemm` crate (`kernels/src/matmul/native.rs`), which detects the CPU's features \
             at run time, so the one binary and the `FROM scratch` image use AVX-512 here, AVX2+FMA or SSE2 elsewhere \
             (`gemm` cannot be made to run a narrower level on a wider CPU, so only its AVX-512 code is timed here; \
             `scripts/cross-check.sh` runs every level's code on QEMU's CPU models for correctness). The browser \
             keeps the portable kernel, unchanged: wasm has 128-bit vectors only, and V8 runs it at {} of the same \
             kernel built natively ({} of the native product). Mandelbrot iterates a row's pixels side by side \
             (`kernels/src/mandelbrot/lanes.rs`), as many as suit the instruction set (measured here: 32 with \
             AVX-512, four registers per value; 8 with AVX2, two registers; 16 with SSE2, eight registers (NEON takes 16 too, untimed); 8 in wasm, four \
             SIMD128 registers); its counts are bit-identical to the scalar loop's on every level \
             (`kernels/src/mandelbrot/tests.rs`). The narrower levels' rows run their code on this CPU through \
             `render_tile_at`, as a CPU without the wider level would.",
            ratio(wasm_matmul / portable),
            ratio(wasm_matmul / native.get("matmul", "256")?),
        )],
    })
}

/// Builds and runs the native binary.
fn native(root: &Path, target: &Path) -> Result<Rates> {
    let status = cargo(root)
        .args(["build", "--locked", "--release", "-p", PACKAGE, "--bin", "kernel-bench"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building {PACKAGE} natively failed");
    }
    let output =
        Command::new(target.join("release").join("kernel-bench")).output().context("cannot run kernel-bench")?;
    if !output.status.success() {
        bail!("kernel-bench failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// Builds the wasm module, binds it for Node, runs it there.
fn wasm(root: &Path, target: &Path) -> Result<Rates> {
    ensure_target()?;
    let status = cargo(root)
        .args(["build", "--locked", "-p", PACKAGE, "--lib", "--target", TARGET, "--profile", PROFILE])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building {PACKAGE} for {TARGET} failed");
    }
    let module = target.join(TARGET).join(PROFILE).join("ostrich_kernel_bench.wasm");
    let out = target.join("bench-wasm");
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&module)
        .nodejs(true)?
        .generate(&out)
        .with_context(|| format!("cannot bind {}", module.display()))?;
    let runner = out.join("run.js");
    fs::write(&runner, "process.stdout.write(require('./ostrich_kernel_bench.js').report());\n")?;
    let output = Command::new("node").arg(&runner).output().context("cannot run node")?;
    if !output.status.success() {
        bail!("the wasm kernels failed under node: {}", String::from_utf8_lossy(&output.stderr));
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// Reads the JSON lines of one build.
fn parse(lines: &str) -> Result<Rates> {
    let measurements = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| serde_json::from_str(line).with_context(|| format!("not a measurement: {line}")))
        .collect::<Result<Vec<Measurement>>>()?;
    Ok(Rates(measurements))
}

fn gflops(rate: f64) -> String {
    format!("{rate:.1} GFLOP/s")
}

fn iterations(rate: f64) -> String {
    format!("{:.0} M iterations/s", rate / 1e6)
}

fn ratio(ratio: f64) -> String {
    format!("{ratio:.2}×")
}
