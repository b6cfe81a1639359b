#!/usr/bin/env bash
# Runs the browser tests (`cargo test -p ostrich-e2e`) several times in a row, stops at the
# first failure, and prints one line per run and a summary. Chosen runs start from a
# never-run Chromium: a fresh, empty $HOME (no profile, no ~/.cache/fontconfig, no
# ~/.config/chromium, no ~/.pki) and no leftover /tmp/ostrich-e2e-* profiles.
#
#   bash scripts/e2e-repeat.sh [-n RUNS] [--cold LIST] [--logs DIR] [--wipe-system-font-cache]
#                              [--drop-caches] [-- extra cargo test arguments]
#
#   -n RUNS                   how many runs (default 20)
#   --cold LIST               comma-separated run numbers started from a never-run Chromium
#                             (default 1,8,15)
#   --logs DIR                where each run's output goes (default /tmp/e2e-repeat-<time>)
#   --wipe-system-font-cache  before a cold run also empty /var/cache/fontconfig, so that
#                             fontconfig builds its cache from the fonts while Chromium
#                             starts (needs root; a machine where fc-cache never ran)
#   --drop-caches             before a cold run also drop the kernel's page cache, so that
#                             chromedriver and Chromium start from disk as after a boot
#                             (needs root; slows whatever else runs on the machine)
#
# The browser app must be built first (`cargo xtask build-ui`). Your real $HOME is never
# touched: a cold run points HOME and the XDG directories at a new temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=20
cold=1,8,15
logs=/tmp/e2e-repeat-$(date +%Y%m%d-%H%M%S)
wipe_fonts=0
drop_caches=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs=$2; shift 2 ;;
        --cold) cold=$2; shift 2 ;;
        --logs) logs=$2; shift 2 ;;
        --wipe-system-font-cache) wipe_fonts=1; shift ;;
        --drop-caches) drop_caches=1; shift ;;
        --) shift; break ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
[ -f swarm-ui/dist/index.html ] || { echo "swarm-ui/dist is missing: run cargo xtask build-ui first" >&2; exit 2; }
mkdir -p "$logs"

# cargo and rustup keep finding their homes when HOME changes for a cold run.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
real_home=$HOME

echo "building the browser tests (not timed)…"
cargo test -p ostrich-e2e --locked --no-run "$@" >"$logs/build.log" 2>&1 || { cat "$logs/build.log"; exit 1; }

summary="$logs/summary.txt"
{
    echo "command: bash scripts/e2e-repeat.sh -n $runs --cold $cold$([ $wipe_fonts = 1 ] && echo ' --wipe-system-font-cache')$([ $drop_caches = 1 ] && echo ' --drop-caches')"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with local changes)')"
    echo "machine: $(nproc) cores, $(uname -r), $(chromium --version 2>/dev/null | head -1), $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
    echo "started: $(date -Is)"
} | tee "$summary"

passes=0
total_start=$(date +%s)
for run in $(seq 1 "$runs"); do
    state=warm
    home=$real_home
    cold_env=()
    if [[ ",$cold," == *",$run,"* ]]; then
        state=cold
        home=$(mktemp -d /tmp/e2e-home-XXXXXX)
        cold_env=(HOME="$home" XDG_CACHE_HOME="$home/.cache" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share")
        rm -rf /tmp/ostrich-e2e-*
        if [ $wipe_fonts = 1 ]; then
            rm -f /var/cache/fontconfig/*
            state="$state, no system font cache"
        fi
        if [ $drop_caches = 1 ]; then
            sync
            echo 3 >/proc/sys/vm/drop_caches
            state="$state, page cache dropped"
        fi
    fi
    log="$logs/run-$(printf %02d "$run").log"
    start=$(date +%s%N)
    set +e
    env "${cold_env[@]}" cargo test -p ostrich-e2e --locked "$@" >"$log" 2>&1
    rc=$?
    set -e
    ms=$((($(date +%s%N) - start) / 1000000))
    seconds=$((ms / 1000)).$(printf %03d $((ms % 1000)) | cut -c1)
    [ "$home" = "$real_home" ] || rm -rf "$home"
    if [ $rc -eq 0 ]; then
        passes=$((passes + 1))
        printf 'run %2d: pass in %5.1f s (%s)\n' "$run" "$seconds" "$state" | tee -a "$summary"
    else
        printf 'run %2d: FAIL (rc %d) after %5.1f s (%s); log %s\n' "$run" "$rc" "$seconds" "$state" "$log" | tee -a "$summary"
        break
    fi
done
echo "$passes consecutive passes of $runs runs in $(($(date +%s) - total_start)) s; logs in $logs (ended $(date -Is))" |
    tee -a "$summary"
[ "$passes" -eq "$runs" ]
