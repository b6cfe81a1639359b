#!/usr/bin/env bash
# Installs Debian's nats-server (2.9, with JetStream) for the cluster tests and benchmarks,
# when missing. The tests start their own servers; the package's service is not needed.
set -euo pipefail
if command -v nats-server >/dev/null; then
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq nats-server >/dev/null
nats-server --version
