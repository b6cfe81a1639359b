#!/usr/bin/env bash
# Builds the browser app and the coordinator, then starts the coordinator on every interface
# (port 8080 unless OSTRICH_BIND or --bind says otherwise); it prints the URL to open. Extra
# arguments go to the coordinator.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
cargo xtask build-ui
exec cargo run --release --locked -p ostrich-coordinator -- "$@"
