//! Build tasks, run as `cargo xtask <task>`.
//!
//! `bench` runs every benchmark and writes `BENCHMARKS.md` (see [`bench`]).
//!
//! `build-ui` compiles swarm-ui for `wasm32-unknown-unknown`, binds it with wasm-bindgen
//! (as a library: no CLI to install) and copies the static files, producing
//! `swarm-ui/dist/`, which the coordinator embeds.
//!
//! `build-kernels` builds the example user kernels (`kernel-examples/`) exactly as a user
//! would, `cargo build --target wasm32-unknown-unknown --release`, and copies the modules to
//! `target/kernels/<name>.wasm`, where the tests and benchmarks take them.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

pub(crate) const TARGET: &str = "wasm32-unknown-unknown";
pub(crate) const PROFILE: &str = "wasm-release";

mod bench;

fn main() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("build-ui") => build_ui(),
        Some("build-kernels") => build_kernels().map(|_| ()),
        Some("bench") => bench::run(&root(), &args[1..]),
        _ => bail!("usage: cargo xtask build-ui | cargo xtask build-kernels | cargo xtask bench [part ...]"),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

pub(crate) fn build_ui() -> Result<()> {
    let root = root();
    ensure_target()?;
    let status = cargo(&root)
        .args(["build", "--locked", "-p", "swarm-ui", "--lib", "--target", TARGET, "--profile", PROFILE])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building swarm-ui for {TARGET} failed");
    }
    let target_dir = target_dir(&root);
    let wasm = target_dir.join(TARGET).join(PROFILE).join("swarm_ui.wasm");
    let dist = root.join("swarm-ui").join("dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).with_context(|| format!("cannot clear {}", dist.display()))?;
    }
    fs::create_dir_all(&dist)?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)?
        .omit_default_module_path(false)
        .generate(&dist)
        .with_context(|| format!("cannot bind {}", wasm.display()))?;
    for entry in fs::read_dir(root.join("swarm-ui").join("static"))? {
        let entry = entry?;
        fs::copy(entry.path(), dist.join(entry.file_name()))?;
    }
    println!("swarm-ui built into {}", dist.display());
    Ok(())
}

/// The example kernels, by the name of their folder in `kernel-examples/`.
pub(crate) const EXAMPLE_KERNELS: [&str; 4] = ["monte-carlo", "sweep", "raytrace", "factor"];

/// Builds the example kernels for wasm with the release profile; answers the folder of
/// the modules (`target/kernels`).
pub(crate) fn build_kernels() -> Result<PathBuf> {
    let root = root();
    ensure_target()?;
    let mut build = cargo(&root);
    build.args(["build", "--locked", "--target", TARGET, "--release", "--lib"]);
    // A fresh project's release profile: this workspace keeps line tables in release for
    // the server's backtraces, which would add 1.5 MB of std's DWARF to every module.
    build.env("CARGO_PROFILE_RELEASE_DEBUG", "false").env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    for name in EXAMPLE_KERNELS {
        build.args(["-p", &format!("ostrich-example-{name}")]);
    }
    if !build.status().context("cannot run cargo")?.success() {
        bail!("building the example kernels for {TARGET} failed");
    }
    let target_dir = target_dir(&root);
    let out = target_dir.join("kernels");
    fs::create_dir_all(&out)?;
    for name in EXAMPLE_KERNELS {
        let built =
            target_dir.join(TARGET).join("release").join(format!("ostrich_example_{}.wasm", name.replace('-', "_")));
        let module = out.join(format!("{name}.wasm"));
        fs::copy(&built, &module).with_context(|| format!("cannot copy {}", built.display()))?;
        println!("{name}: {} ({} bytes)", module.display(), fs::metadata(&module)?.len());
    }
    Ok(out)
}

/// Adds the wasm target through rustup when it is missing; a toolchain without rustup must
/// already have it.
pub(crate) fn ensure_target() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(output) if String::from_utf8_lossy(&output.stdout).lines().any(|l| l.trim() == TARGET) => Ok(()),
        Ok(_) => {
            let status = Command::new("rustup").args(["target", "add", TARGET]).status()?;
            if status.success() { Ok(()) } else { bail!("rustup target add {TARGET} failed") }
        }
        Err(_) => Ok(()),
    }
}

/// The target directory cargo builds into.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// A cargo command in the workspace root, with no rustflags from the environment: they
/// would replace the per-target flags of `.cargo/config.toml`.
pub(crate) fn cargo(root: &Path) -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root).env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS");
    command
}
