#!/usr/bin/env bash
# Builds the container image `ostrich-legs:latest` (or $OSTRICH_IMAGE) without pulling a base
# image: a static musl build of the coordinator and the native worker on this machine, then
# a `FROM scratch` image around the coordinator with podman (scripts/Containerfile.prebuilt,
# the same runtime stage as the Dockerfile). Installs what it needs: the musl target through
# rustup, podman through apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${OSTRICH_IMAGE:-ostrich-legs:latest}"
TARGET=x86_64-unknown-linux-musl
OUT="${CARGO_TARGET_DIR:-target}/$TARGET/release"

command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi
# C code in dependencies (ring, under rustls) is compiled for musl with musl-gcc.
if ! command -v musl-gcc >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq musl-tools >/dev/null
fi

# The browser app the coordinator embeds, then the static binaries.
cargo xtask build-ui
cargo build --release --locked --target "$TARGET" -p ostrich-coordinator -p ostrich-worker

for bin in ostrich-coordinator ostrich-worker; do
    if command -v file >/dev/null && ! file -L "$OUT/$bin" | grep -Eq 'static(-pie)? linked'; then
        echo "$OUT/$bin is not statically linked: $(file -L "$OUT/$bin")" >&2
        exit 1
    fi
done

# podman copies the whole context, so the context holds only what the image needs: the
# binary and the empty directory that becomes /data.
source scripts/podman-env.sh
context="target/image-context"
rm -rf "$context"
mkdir -p "$context/data"
# Without the debug info (symbols stay for backtraces) the image is a fifth of the size.
strip --strip-debug -o "$context/ostrich-coordinator" "$OUT/ostrich-coordinator" 2>/dev/null \
    || cp "$OUT/ostrich-coordinator" "$context/"
podman build --quiet -t "$IMAGE" -f scripts/Containerfile.prebuilt "$context" >/dev/null
size=$(podman image inspect -f '{{.Size}}' "$IMAGE")
echo "built $IMAGE ($((size / 1024 / 1024)) MiB) around $OUT/ostrich-coordinator"
