#!/usr/bin/env bash
# Runs every test of the workspace. On a fresh machine it installs what the tests need
# first, so CI and a new developer run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# The toolchain comes from rustup; nothing else is needed for the native workspace yet.
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }

cargo test --workspace --locked "$@"
