#!/usr/bin/env bash
# Smoke-tests the image scripts/image.sh built: runs it with podman on a fresh volume,
# checks /healthz over plain HTTP and over HTTPS with the certificate the container
# generated, the dashboard page and the embedded app over HTTPS, joins the static native
# worker as master over wss through the published port (trusting that certificate), runs a
# small job to completion over the HTTP API, then times `podman stop`. Cleans up the
# container, volume and worker on any exit.
#   OSTRICH_IMAGE   image to test (default ostrich-legs:latest)
#   SMOKE_ARGS      extra coordinator arguments
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/podman-env.sh

IMAGE="${OSTRICH_IMAGE:-ostrich-legs:latest}"
WORKER="${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-musl/release/ostrich-worker"
CURL=(curl -fsS --max-time 5)

tmp=$(mktemp -d)
name="ostrich-smoke-$$"
container=""
worker_pid=""
cleanup() {
    local status=$?
    [ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null
    if [ -n "$container" ]; then
        [ "$status" -eq 0 ] || { echo "--- container log" >&2; podman logs "$container" >&2 || true; }
        podman rm -f -t 0 "$container" >/dev/null 2>&1 || true
    fi
    podman volume rm -f "$name" >/dev/null 2>&1 || true
    if [ "$status" -ne 0 ] && [ -s "$tmp/worker.log" ]; then
        echo "--- worker log" >&2
        cat "$tmp/worker.log" >&2
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT

fail() { echo "image-smoke: $*" >&2; exit 1; }

# Polls a command until it succeeds or SECONDS runs out.
wait_for() {
    local seconds=$1 what=$2; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
        sleep 0.2
    done
}

[ "$(podman image inspect -f '{{.Config.User}}' "$IMAGE")" = "65532:65532" ] || fail "$IMAGE does not run as 65532:65532"
[ -x "$WORKER" ] || fail "$WORKER is missing: run scripts/image.sh first"

podman volume create "$name" >/dev/null
# Port 0 on the host: podman picks a free one, read back below.
# shellcheck disable=SC2086 # SMOKE_ARGS is a list of words.
container=$(podman run -d --name "$name" -p 127.0.0.1::8080 -p 127.0.0.1::8443 -v "$name:/data" "$IMAGE" ${SMOKE_ARGS:-})
port=$(podman port "$container" 8080/tcp | head -n1 | sed 's/.*://')
tls_port=$(podman port "$container" 8443/tcp | head -n1 | sed 's/.*://')
PLAIN="http://127.0.0.1:$port"
BASE="https://127.0.0.1:$tls_port"

healthy() { [ "$("${CURL[@]}" "$PLAIN/healthz" 2>/dev/null)" = ok ]; }
wait_for 30 "$PLAIN/healthz" healthy
echo "image-smoke: $IMAGE answers on $PLAIN"

# The volume starts with the image's /data, owned by the unprivileged user; the generated
# certificate is kept there. From here on, HTTPS trusts that certificate and nothing else.
volume=$(podman volume inspect -f '{{.Mountpoint}}' "$name")
owner=$(stat -c %u:%g "$volume")
[ "$owner" = "65532:65532" ] || fail "/data is owned by $owner, not 65532:65532"
cp "$volume/tls/cert.pem" "$tmp/cert.pem" || fail "no generated certificate in /data/tls"
CURL+=(--cacert "$tmp/cert.pem")
[ "$("${CURL[@]}" "$BASE/healthz")" = ok ] || fail "$BASE/healthz does not answer over HTTPS"
echo "image-smoke: HTTPS on $BASE with the generated certificate"

# The dashboard is the embedded app, not the page a binary built without it serves.
"${CURL[@]}" "$BASE/" >"$tmp/index.html"
grep -q 'import init, { start_app } from "/swarm_ui.js"' "$tmp/index.html" || fail "/ is not the app's page"
type=$("${CURL[@]}" -o /dev/null -w '%{content_type}' "$BASE/swarm_ui_bg.wasm")
[ "$type" = application/wasm ] || fail "/swarm_ui_bg.wasm is served as '$type'"

# A native worker through the published port: it creates a swarm, masters it and computes.
OSTRICH_CA_CERT="$tmp/cert.pem" "$WORKER" --new-swarm --coordinator "$BASE" --name image-smoke --threads 1 \
    --state-file "$tmp/worker.json" >"$tmp/worker.log" 2>&1 &
worker_pid=$!
has_key() { grep -q 'master key: ' "$tmp/worker.log"; }
wait_for 30 "the worker's master key" has_key
key=$(sed -n 's/.*master key: //p' "$tmp/worker.log" | head -n1)
auth=(-H "Authorization: Bearer $key")

job=$("${CURL[@]}" "${auth[@]}" -H 'Content-Type: application/json' \
    -d '{"Matmul":{"m":64,"k":64,"n":64,"tile":32,"source":{"Seeded":{"seed":7}}}}' "$BASE/api/jobs")
id=$(sed -n 's/.*"job_id":\([0-9]*\).*/\1/p' <<<"$job")
[ -n "$id" ] || fail "job submission answered $job"
completed() { "${CURL[@]}" "${auth[@]}" "$BASE/api/jobs/$id" | grep -q '"state":"Completed"'; }
wait_for 60 "job $id to complete" completed
"${CURL[@]}" "${auth[@]}" -o "$tmp/c.npy" "$BASE/api/jobs/$id/result"
head -c 6 "$tmp/c.npy" | grep -aq NUMPY || fail "the result is not a .npy file"
echo "image-smoke: a native worker joined over wss through the container's port and completed job $id"

# SIGTERM to PID 1 with the worker still connected: the coordinator must exit on its own.
start=$(date +%s%N)
podman stop -t 10 "$container" >/dev/null
stopped_ms=$((($(date +%s%N) - start) / 1000000))
code=$(podman inspect -f '{{.State.ExitCode}}' "$container")
echo "image-smoke: podman stop took ${stopped_ms} ms, exit code $code"
[ "$code" != 137 ] || fail "the coordinator ignored SIGTERM and was killed"
echo "image-smoke: passed"
