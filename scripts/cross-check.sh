#!/usr/bin/env bash
# The native kernels on the CPUs this machine is not. One binary must be right and fast on
# every x86-64 CPU (the kernels pick AVX-512, AVX2+FMA or SSE2 code at run time) and on
# aarch64 servers (NEON). QEMU's user mode runs the kernels' tests:
# - the x86-64 test binary on QEMU's models of a Haswell (AVX2+FMA, no AVX-512) and of a
#   baseline x86-64 (SSE2): the product against the f64 reference and through Freivalds'
#   check, Mandelbrot bit-identical to the scalar loop, and the instruction set detected;
# - an aarch64 build of the same tests (linked by rust-lld against Rust's own musl, so no
#   cross C toolchain is needed) under qemu-aarch64.
# Emulated AVX2 is slow (the tests below took 2.5 minutes on the Haswell model), so that run
# leaves out the many random views and the large Freivalds tiles: the AVX2 Mandelbrot code is
# also checked natively on every view (`render_tile_at`), and the product against the
# reference on every block boundary.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v qemu-x86_64 >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq qemu-user >/dev/null
fi

tests=(matmul:: mandelbrot:: cpu:: honest_tiles gpu_summation_order_passes)
quick=(matmul:: cpu:: pinned_counts escape_radius render_tile_matches)
binary=$(cargo test --locked -p ostrich-kernels --lib --no-run 2>&1 |
    sed -n 's/.*Executable unittests src\/lib.rs (\(.*\))/\1/p')
[ -x "$binary" ] || { echo "cross-check: no kernels test binary found" >&2; exit 1; }
echo "== kernels on an emulated Haswell (AVX2+FMA)"
# QEMU warns about the model's system features it does not emulate (x2apic, TSX…); the
# kernels use none of them.
OSTRICH_EXPECT_SIMD=AVX2+FMA qemu-x86_64 -cpu Haswell "$binary" -q "${quick[@]}" \
    2> >(grep -v "TCG doesn't support requested feature" >&2)
echo "== kernels on an emulated baseline x86-64 (SSE2)"
OSTRICH_EXPECT_SIMD=SSE2 qemu-x86_64 -cpu qemu64 "$binary" -q "${tests[@]}"

echo "== kernels built for aarch64, on qemu-aarch64 (NEON)"
rustup target add aarch64-unknown-linux-musl >/dev/null 2>&1 || rustup target add aarch64-unknown-linux-musl
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER=qemu-aarch64 \
    OSTRICH_EXPECT_SIMD=NEON \
    cargo test --locked -p ostrich-kernels --lib --target aarch64-unknown-linux-musl -q
