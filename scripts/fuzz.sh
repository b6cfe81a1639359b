#!/usr/bin/env bash
# Runs one fuzz target with cargo-fuzz (libFuzzer) on the stable toolchain; FUZZING.md says
# what each target checks. Installs cargo-fuzz first when it is missing.
#
#   bash scripts/fuzz.sh decode_to_device 10000000   # ten million executions
#   bash scripts/fuzz.sh scheduler_core 30m          # thirty minutes (s, m or h)
#   bash scripts/fuzz.sh scheduler_core 1h -- -max_len=64   # more libFuzzer flags
#
# Targets: decode_to_coordinator, decode_to_device, scheduler_core. One fuzzer process at a
# time (no -jobs/-workers): it uses one core. The corpus grows in fuzz/corpus/TARGET and a
# crashing input lands in fuzz/artifacts/TARGET; replay one with
#   fuzz/target/HOST/release/TARGET fuzz/artifacts/TARGET/crash-…   (HOST: x86_64-unknown-linux-gnu)
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/fuzz.sh TARGET [RUNS | DURATION[s|m|h]] [-- libFuzzer flags]"
target=${1:?$usage}
shift
limit=${1:-10000000}
[[ $# -gt 0 ]] && shift
[[ ${1:-} == -- ]] && shift

case $limit in
    *[0-9]s) bound=(-max_total_time="${limit%s}") ;;
    *[0-9]m) bound=(-max_total_time=$(("${limit%m}" * 60))) ;;
    *[0-9]h) bound=(-max_total_time=$(("${limit%h}" * 3600))) ;;
    *[!0-9]* | '') echo "$usage" >&2; exit 2 ;;
    *) bound=(-runs="$limit") ;;
esac

# The version these targets were written and run with (FUZZING.md).
CARGO_FUZZ_VERSION=0.13.2
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked ||
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# cargo-fuzz hands rustc nightly-only flags (-Z…, the sanitizer-coverage passes);
# RUSTC_BOOTSTRAP=1 makes the stable compiler accept them, so no nightly toolchain is needed.
export RUSTC_BOOTSTRAP=1

# Longest input libFuzzer tries: the scheduler driver reads at most 20 ops (a few bytes
# each), so longer inputs would only be cut; frames get libFuzzer's default of 4096 bytes.
case $target in
    scheduler_core) max_len=(-max_len=96) ;;
    *) max_len=() ;;
esac

# -s none: no sanitizer. The workspace forbids unsafe code, so AddressSanitizer would only
# watch the dependencies, at several times the cost per execution. -a: debug assertions
# and overflow checks stay on, so an overflowing counter panics.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo fuzz build -s none -a --target "$host" "$target"

# The binary is run directly, as `cargo fuzz run` would run it: that command builds and
# then `cargo run`s, and without swarm-ui/dist the coordinator's build script (which
# watches that folder) makes cargo compile the coordinator a second time.
corpus=fuzz/corpus/$target
artifacts=fuzz/artifacts/$target
mkdir -p "$corpus" "$artifacts"
exec "fuzz/target/$host/release/$target" -artifact_prefix="$artifacts/" \
    "${bound[@]}" "${max_len[@]}" -print_final_stats=1 "$@" "$corpus"
