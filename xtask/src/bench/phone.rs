//! The `phone` part: a 1024² matmul on one headless-Chromium phone with SwiftShader offered,
//! with the automatic kernel choice against the CPU forced (`e2e/src/bin/phone-bench.rs`).

use std::{path::Path, process::Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{Row, Section};
use crate::{build_ui, cargo};

/// The goal: the automatic choice at most 1.1× the time of the CPU forced.
const GOAL: f64 = 1.1;

pub fn section(root: &Path) -> Result<Section> {
    build_ui()?;
    let output = cargo(root)
        .args(["run", "--locked", "--release", "-p", "ostrich-e2e", "--bin", "phone-bench"])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !output.status.success() {
        bail!("phone-bench failed");
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(text.lines().last().context("phone-bench printed nothing")?)
        .context("phone-bench's report is not JSON")?;
    let (auto, cpu) = (report["auto_s"].as_f64().unwrap_or(f64::NAN), report["cpu_s"].as_f64().unwrap_or(f64::NAN));
    let gpu = report["gpu_s"].as_f64().unwrap_or(f64::NAN);
    let ratio = auto / cpu;
    let chosen = report["runs"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["setting"] == "auto"))
        .map_or_else(String::new, |r| {
            format!("{} ({})", r["kernel"].as_str().unwrap_or("?"), r["figures"].as_str().unwrap_or(""))
        });
    Ok(Section {
        title: "Phone kernel choice".into(),
        intro: "One headless-Chromium phone (390×844, touch, WebGPU on SwiftShader offered) computes a seeded \
                1024² matmul in 256² tiles alone (the master's *Compute here* off), from submission to \
                completion through the HTTP API: with the automatic kernel choice and with `?kernel=cpu`, each \
                from a fresh browser, twice, alternating (the faster run of each counts), then once with \
                `?kernel=gpu`."
            .into(),
        rows: vec![
            Row::info("automatic choice: kernel chosen (measured paths)", chosen),
            Row::info("automatic choice", format!("{auto:.2} s")),
            Row::info("CPU forced", format!("{cpu:.2} s")),
            Row::target("automatic ÷ CPU forced", format!("{ratio:.2}×"), format!("≤ {GOAL}×"), ratio <= GOAL),
            Row::info("WebGPU (SwiftShader) forced, one run: the old automatic choice", format!("{gpu:.2} s")),
            Row::info("WebGPU forced ÷ CPU forced", format!("{:.1}×", gpu / cpu)),
        ],
        notes: vec![
            "Before the choice by measurement the automatic choice was WebGPU whenever an adapter existed, \
             SwiftShader included, as the `?kernel=gpu` row does now (the issue measured 11.1 s against 1.6 s \
             for the CPU kernel on its phone). SwiftShader runs the WGSL shader on the same cores as the CPU \
             workers, so the measured figure of each path decides."
                .into(),
        ],
    })
}
