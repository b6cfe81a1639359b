//! NumPy's matrix product, the yardstick of the native kernels: what a user would run
//! instead of a swarm. NumPy and threadpoolctl are installed from PyPI into a virtual
//! environment under `target/bench-numpy`, for the benchmarks only (never for the tests).

use std::{collections::BTreeMap, path::Path, process::Command};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::target_dir;

/// The measuring script; its arguments are `size:threads` pairs.
const SCRIPT: &str = include_str!("numpy_matmul.py");

/// What the script measured.
#[derive(Debug, Deserialize)]
pub struct Numpy {
    /// NumPy's version.
    pub numpy: String,
    /// The OpenBLAS that NumPy bundles, by version.
    pub openblas: Option<String>,
    /// The OpenBLAS kernel that ran (its name for the CPU, e.g. `SkylakeX`).
    pub architecture: Option<String>,
    /// GFLOP/s per `size:threads`.
    pub rates: BTreeMap<String, f64>,
}

impl Numpy {
    /// The rate of an `n`×`n`×`n` product on `threads` threads, in GFLOP/s.
    pub fn rate(&self, n: usize, threads: usize) -> Result<f64> {
        self.rates
            .get(&format!("{n}:{threads}"))
            .copied()
            .with_context(|| format!("NumPy did not measure {n}:{threads}"))
    }

    /// Which BLAS ran, in words.
    pub fn label(&self) -> String {
        format!(
            "NumPy {} with OpenBLAS {} (kernel {})",
            self.numpy,
            self.openblas.as_deref().unwrap_or("?"),
            self.architecture.as_deref().unwrap_or("?")
        )
    }
}

/// Measures NumPy's `a @ b` for each `(size, threads)`.
///
/// OpenBLAS picks its kernel from the CPU unless `OPENBLAS_CORETYPE` forces one, and sizes
/// its blocks from `OPENBLAS_L2_SIZE` when set: both are removed, so it runs as a user's
/// NumPy would.
pub fn measure(root: &Path, runs: &[(usize, usize)]) -> Result<Numpy> {
    let venv = target_dir(root).join("bench-numpy");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        let status = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().context("cannot run python3")?;
        if !status.success() {
            bail!("python3 -m venv failed: install python3-venv (apt-get install -y python3-venv)");
        }
    }
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "numpy", "threadpoolctl"])
        .status()
        .context("cannot run pip")?;
    if !status.success() {
        bail!("pip could not install numpy and threadpoolctl");
    }
    let output = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .args(runs.iter().map(|(size, threads)| format!("{size}:{threads}")))
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .env_remove("OPENBLAS_NUM_THREADS")
        .env_remove("OMP_NUM_THREADS")
        .output()
        .context("cannot run the NumPy script")?;
    if !output.status.success() {
        bail!("the NumPy script failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let numpy: Numpy = serde_json::from_slice(&output.stdout).context("the NumPy script printed no report")?;
    eprintln!("NumPy matmul ran on {}", numpy.label());
    Ok(numpy)
}
