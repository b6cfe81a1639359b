#!/usr/bin/env bash
# Runs every test of the workspace. On a fresh machine it first installs what the tests
# need (the wasm target, headless Chromium and chromedriver, nats-server, NumPy, QEMU), so CI and a new
# developer run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
bash scripts/install-browser.sh
# The cluster tests start their own nats-server (Debian's package).
bash scripts/install-nats.sh
# The browser suite runs the dashboard's "Use from Python" script as a user would: NumPy.
python3 -c 'import numpy' 2>/dev/null || python3 -m pip install --quiet numpy

# The browser app, embedded by the coordinator the tests start (adds the wasm target itself).
cargo xtask build-ui
# The example user kernels, built as a user builds them; the tests run them in the swarm.
cargo xtask build-kernels

cargo test --workspace --locked "$@"

# The native kernels on the CPUs this machine is not: QEMU's models of an AVX2 and an
# SSE2-only x86-64, and an aarch64 build (installs qemu-user and the aarch64 target).
bash scripts/cross-check.sh

# The container image: a static build in a `FROM scratch` image, run with podman and joined
# by a native worker through its published port.
bash scripts/image.sh
bash scripts/image-smoke.sh
