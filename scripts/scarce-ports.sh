#!/usr/bin/env bash
# Runs a command where `bind(:0)` has only a few ports to choose from, so that code which
# picks a free port and hands it to another process meets its race in a few runs instead of
# one in thousands (see e2e/README.md). Needs root (a network namespace of its own).
#
#   sudo bash scripts/scarce-ports.sh [-f FREE] COMMAND [ARGS…]
#   e.g. sudo bash scripts/scarce-ports.sh -f 24 cargo test -p ostrich-e2e --locked
#
# In a new network namespace (loopback only) two helpers hold every odd port of the
# ephemeral range on 127.0.0.1 and on ::1, bound but not listening, except FREE of them
# (default 24, the same ones each time). Linux gives `bind(:0)` odd ports and `connect()`
# even ones, so listeners and released "free ports" crowd onto those FREE ports while
# client connections are unaffected. Nothing else about the command changes.
set -euo pipefail
free=24
if [ "${1:-}" = "-f" ]; then
    free=$2
    shift 2
fi
[ $# -gt 0 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
export SCARCE_FREE=$free
exec unshare --net bash -c '
set -euo pipefail
ip link set lo up
ready=$(mktemp -d)
holders=()
for addr in 127.0.0.1 ::1; do
    python3 - "$addr" "$ready" <<"PY" &
import os, random, resource, socket, sys, time
addr, ready = sys.argv[1], sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
low, high = (int(p) for p in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
odd = [p for p in range(low, high + 1) if (p - low) % 2 == 1]
keep = set(random.Random(1).sample(odd, int(os.environ["SCARCE_FREE"])))
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
held = []
for port in odd:
    if port in keep:
        continue
    try:
        s = socket.socket(family)
    except OSError as e:
        sys.exit(f"cannot hold {len(odd)} sockets ({e}): raise the open-files limit (ulimit -Hn)")
    try:
        s.bind((addr, port))
        held.append(s)
    except OSError:
        s.close()
open(os.path.join(ready, addr), "w").write(str(len(held)))
while True:
    time.sleep(3600)
PY
    holders+=($!)
done
for _ in $(seq 600); do
    [ "$(ls "$ready" | wc -l)" = 2 ] && break
    sleep 0.1
done
[ "$(ls "$ready" | wc -l)" = 2 ] || { echo "the port holders did not start" >&2; exit 1; }
set +e
"$@"
rc=$?
kill "${holders[@]}"
rm -rf "$ready"
exit $rc
' scarce-ports "$@"
