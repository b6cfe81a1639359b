//! Part `kernels`: matmul and Mandelbrot throughput of one core, natively and in wasm.
//!
//! The measuring code is `kernel-bench/` (crate `ostrich-kernel-bench`), compiled three
//! times from the same source: natively with the default target features (SSE2), natively
//! with `-C target-cpu=x86-64-v3` (AVX2 and FMA) in its own target directory, and for
//! `wasm32-unknown-unknown` with SIMD128 (from `.cargo/config.toml`) in the browser
//! bundle's profile. The wasm build is bound for Node with wasm-bindgen and run by `node`;
//! every build prints JSON lines, which this part turns into rows.

use std::{fs, path::Path, process::Command};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{Row, Section};
use crate::{PROFILE, TARGET, cargo, ensure_target, target_dir};

/// The package that holds the measuring code.
const PACKAGE: &str = "ostrich-kernel-bench";

/// The rustflags of the native AVX2 build.
const AVX2_FLAGS: &str = "-C target-cpu=x86-64-v3";

/// The target for wasm matmul on one core, in GFLOP/s.
const WASM_MATMUL_TARGET: f64 = 15.0;
/// The target for wasm matmul against native AVX2.
const MATMUL_RATIO_TARGET: f64 = 0.35;
/// The target for wasm Mandelbrot against native.
const MANDELBROT_RATIO_TARGET: f64 = 0.9;

/// The rates one build measured.
struct Rates {
    /// Matmul in GFLOP/s.
    matmul: f64,
    /// Mandelbrot in iterations per second.
    mandelbrot: f64,
    /// The shape of each measurement, for the intro.
    shapes: Vec<String>,
}

/// Builds and runs the three builds; answers the section.
pub fn section(root: &Path) -> Result<Section> {
    let target = target_dir(root);
    let sse2 = native(root, &target, None)?;
    let avx2 =
        if avx2_available() { Some(native(root, &target.join("bench-native"), Some(AVX2_FLAGS))?) } else { None };
    let wasm = wasm(root, &target)?;
    let best_native = avx2.as_ref().unwrap_or(&sse2);
    let native_label = if avx2.is_some() { "native AVX2" } else { "native SSE2 (no AVX2 on this CPU)" };
    let matmul_ratio = wasm.matmul / best_native.matmul;
    let mandelbrot_ratio = wasm.mandelbrot / best_native.mandelbrot;
    let mut rows = vec![Row::info("Matmul, native SSE2 (default build)", gflops(sse2.matmul))];
    if let Some(avx2) = &avx2 {
        rows.push(Row::info("Matmul, native AVX2+FMA (x86-64-v3)", gflops(avx2.matmul)));
    }
    rows.extend([
        Row::target(
            "Matmul, wasm SIMD128 (Node)",
            gflops(wasm.matmul),
            format!("≥ {WASM_MATMUL_TARGET} GFLOP/s"),
            wasm.matmul >= WASM_MATMUL_TARGET,
        ),
        Row::target(
            format!("Matmul, wasm / {native_label}"),
            ratio(matmul_ratio),
            format!("≥ {MATMUL_RATIO_TARGET}×"),
            matmul_ratio >= MATMUL_RATIO_TARGET,
        ),
        Row::info("Mandelbrot, native SSE2 (default build)", iterations(sse2.mandelbrot)),
    ]);
    if let Some(avx2) = &avx2 {
        rows.push(Row::info("Mandelbrot, native AVX2+FMA (x86-64-v3)", iterations(avx2.mandelbrot)));
    }
    rows.extend([
        Row::info("Mandelbrot, wasm SIMD128 (Node)", iterations(wasm.mandelbrot)),
        Row::target(
            format!("Mandelbrot, wasm / {native_label}"),
            ratio(mandelbrot_ratio),
            format!("≥ {MANDELBROT_RATIO_TARGET}×"),
            mandelbrot_ratio >= MANDELBROT_RATIO_TARGET,
        ),
    ]);
    let node =
        Command::new("node").arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    Ok(Section {
        title: "Kernels: native and wasm, one core".into(),
        intro: format!(
            "`kernel-bench/` times the kernels of `kernels/` in one thread, in three rounds of at least 0.5 s after \
             one warm-up call each, and keeps the fastest round; the same source is built natively (release) and for wasm32 with SIMD128 \
             (`wasm-release`, run by Node {}). Matmul: `matmul_tile` of {}, 2·m·k·n flops per call. Mandelbrot: \
             `render_tile` of {}; the rate divides the sum of the returned counts by the time.",
            node.unwrap_or_else(|_| "?".into()),
            sse2.shapes.first().map_or("?", String::as_str),
            sse2.shapes.get(1).map_or("?", String::as_str),
        ),
        rows,
        notes: vec![
            "Ratios compare wasm with the native AVX2 build, as the issue asks. The wasm figures come from V8 in Node \
             on the same machine, the engine of Chrome; the matmul micro-kernel is 4×8 on wasm and 2×16 natively \
             (`kernels/src/matmul.rs`), and Mandelbrot is scalar f64 code in both, so its ratio is close to 1."
                .into(),
        ],
    })
}

/// Whether this CPU runs the AVX2 build; elsewhere that build would die on an illegal
/// instruction.
fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Builds and runs the native binary into `target` with `rustflags`.
fn native(root: &Path, target: &Path, rustflags: Option<&str>) -> Result<Rates> {
    let mut build = cargo(root);
    build
        .args(["build", "--locked", "--release", "-p", PACKAGE, "--bin", "kernel-bench"])
        .env("CARGO_TARGET_DIR", target);
    if let Some(flags) = rustflags {
        build.env("RUSTFLAGS", flags);
    }
    let status = build.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("building {PACKAGE} natively ({}) failed", rustflags.unwrap_or("default flags"));
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
    let (mut matmul, mut mandelbrot, mut shapes) = (None, None, Vec::new());
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).with_context(|| format!("not a measurement: {line}"))?;
        let rate = value["rate"].as_f64().with_context(|| format!("no rate in {line}"))?;
        shapes.push(value["shape"].as_str().unwrap_or("?").to_string());
        match value["kernel"].as_str() {
            Some("matmul") => matmul = Some(rate),
            Some("mandelbrot") => mandelbrot = Some(rate),
            _ => bail!("unknown kernel in {line}"),
        }
    }
    match (matmul, mandelbrot) {
        (Some(matmul), Some(mandelbrot)) => Ok(Rates { matmul, mandelbrot, shapes }),
        _ => bail!("kernel-bench printed no matmul or no mandelbrot figure:\n{lines}"),
    }
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
