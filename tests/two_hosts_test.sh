#!/usr/bin/env bash
# Two "hosts" on one machine: two network namespaces of this test's own, joined by a veth pair
# whose ends get 198.18.0.1 and 198.18.0.2 (a /29 from 198.18.0.0/15, the range reserved for
# benchmarking; no route beyond it). `ipcbench --serve` runs in one, `ipcbench --peer` in the
# other. Checks:
#   1. the quick profile's TCP and UDP RoundTrip, Stream and Load cases run with no error, every
#      message checked (received counted, nothing corrupt), the peer's address, kernel and CPU in
#      the context, no one-way time, and a one-host mechanism listed unsupported as such;
#   2. a client SIGKILLed mid-case ends its session only: the server then serves the next client;
#   3. a peer that does not answer (198.18.0.5: nobody has it) is an error naming it, within the
#      --watchdog time;
#   4. SIGTERM ends the server with status 0.
# Everything is torn down on every exit path (the namespaces take the veth pair with them).
# Usage: two_hosts_test.sh IPCBENCH_BINARY [OUT_DIR]   (OUT_DIR keeps peer.json; default: a temp
# dir, removed). Exit 77 (skipped, with the reason) where namespaces cannot be made.
set -euo pipefail
bin=${1:?usage: two_hosts_test.sh IPCBENCH_BINARY [OUT_DIR]}
keep=${2:-}
skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "creating network namespaces needs root (uid $(id -u))"
command -v ip > /dev/null || skip "ip (iproute2) is not installed"
if ip -4 -o addr show | grep -Eq 'inet 198\.1[89]\.'; then
  skip "an interface of this machine already uses 198.18.0.0/15: not adding another"
fi

tag=ipcb$$
ns_a=${tag}a ns_b=${tag}b
work=$(mktemp -d)
chmod 0700 "$work"
server=""
cleanup() {
  local rc=$?
  [ -n "$server" ] && kill -KILL "$server" 2> /dev/null || true
  ip netns del "$ns_a" 2> /dev/null || true
  ip netns del "$ns_b" 2> /dev/null || true
  if [ -n "$keep" ]; then
    mkdir -p "$keep"
    cp "$work"/*.json "$work"/*.jsonl "$work"/*.txt "$keep"/ 2> /dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ip netns add "$ns_a" 2> "$work/netns.err" || skip "cannot create a network namespace: $(cat "$work/netns.err")"
ip netns add "$ns_b"
ip link add "${tag}0" netns "$ns_a" type veth peer name "${tag}1" netns "$ns_b"
ip -n "$ns_a" addr add 198.18.0.1/29 dev "${tag}0"
ip -n "$ns_b" addr add 198.18.0.2/29 dev "${tag}1"
for ns in "$ns_a" "$ns_b"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set "${tag}$([ "$ns" = "$ns_a" ] && echo 0 || echo 1)" up
done
echo "two hosts: $ns_a (198.18.0.1) <-> $ns_b (198.18.0.2), a veth pair, no other route"

# The server, in B, on any free port: its first line says which.
ip netns exec "$ns_b" "$bin" --serve=198.18.0.2:0 --watchdog=5 > "$work/serve.txt" 2> "$work/serve-log.txt" &
server=$!
port=""
for _ in $(seq 1 100); do
  port=$(grep -o 'listening on 198\.18\.0\.2:[0-9]*' "$work/serve.txt" 2> /dev/null | cut -d: -f2 || true)
  [ -n "$port" ] && break
  kill -0 "$server" 2> /dev/null || fail "the server exited: $(cat "$work/serve-log.txt")"
  sleep 0.1
done
[ -n "$port" ] || fail "the server did not say where it listens within 10 s"
echo "server: $(cat "$work/serve.txt")"

# 1. The client, in A: the quick profile of tcp and udp (and pipe, which cannot cross).
timeout 600 ip netns exec "$ns_a" "$bin" --peer="198.18.0.2:$port" --quick --watchdog=5 \
  --transports=tcp,udp,pipe --sizes=64,16K \
  --benchmark_out="$work/peer.json" --benchmark_out_format=json > "$work/peer.txt" 2>&1 ||
  fail "the peer run failed: $(tail -20 "$work/peer.txt")"
/usr/bin/python3 - "$work/peer.json" "198.18.0.2:$port" << 'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ctx, rows = doc["context"], doc["benchmarks"]
problems = []
if ctx.get("ipcbench_peer_address") != sys.argv[2]:
    problems.append(f"context ipcbench_peer_address is {ctx.get('ipcbench_peer_address')!r}")
for key in ("ipcbench_peer_kernel", "ipcbench_peer_cpu_model", "ipcbench_peer_cpus"):
    if not ctx.get(key):
        problems.append(f"context {key} is missing")
want = {f"{p}/{t}" for p in ("RoundTrip", "Stream", "Load") for t in ("tcp", "udp")}
seen = set()
for r in rows:
    name = r["name"]
    if r.get("error_occurred"):
        problems.append(f"{name}: {r.get('error_message')}")
        continue
    seen.add("/".join(name.split("/")[:2]))
    if r.get("corrupt", 0) != 0:
        problems.append(f"{name}: corrupt {r['corrupt']}")
    if not r.get("received", r.get("samples", 0)) > 0:
        problems.append(f"{name}: no message received and checked")
    if any(k.startswith("oneway") for k in r):
        problems.append(f"{name}: a one-way time across two clocks")
missing = want - seen
if missing:
    problems.append(f"cases that did not run: {sorted(missing)}")
pipe = [k for k in ctx if k.startswith("unsupported/") and "/pipe/" in k]
if not pipe or not all("one host only" in ctx[k] for k in pipe):
    problems.append("pipe is not listed unsupported as one host only")
if problems:
    sys.exit("FAILED:\n  " + "\n  ".join(problems))
print(f"1. peer run: {len(rows)} rows of tcp and udp across the veth pair, no error, every "
      f"message checked, pipe unsupported (one host only)")
PY

# 2. A client killed mid-case; then the next is served.
ip netns exec "$ns_a" "$bin" --peer="198.18.0.2:$port" --watchdog=5 --transports=tcp \
  --sizes=1M --patterns=off --benchmark_filter=Stream --benchmark_min_time=30 > "$work/doomed.txt" 2>&1 &
doomed=$!
sleep 2
kill -KILL "$doomed"
wait "$doomed" 2> /dev/null || true
timeout 120 ip netns exec "$ns_a" "$bin" --peer="198.18.0.2:$port" --quick --watchdog=5 \
  --transports=tcp --sizes=64 --benchmark_filter=RoundTrip \
  --benchmark_out="$work/after-kill.json" --benchmark_out_format=json > "$work/after-kill.txt" 2>&1 ||
  fail "the client after a killed one failed: $(tail -20 "$work/after-kill.txt")"
/usr/bin/python3 - "$work/after-kill.json" << 'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["benchmarks"]
bad = [r["name"] for r in rows if r.get("error_occurred")]
if not rows or bad:
    sys.exit(f"FAILED: after a killed client: {len(rows)} rows, errored: {bad}")
print("2. a client killed mid-case ended its session only; the next client's cases ran")
PY

# 3. A peer nobody answers for: an error naming it, within the watchdog time (1 s here).
start=$(date +%s%N)
if ip netns exec "$ns_a" "$bin" --peer=198.18.0.5:7000 --watchdog=1 --quick > "$work/unreachable.txt" 2>&1; then
  fail "a peer nobody answers for was accepted"
fi
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
grep -q '198\.18\.0\.5:7000' "$work/unreachable.txt" || fail "the error does not name the peer: $(cat "$work/unreachable.txt")"
[ "$elapsed_ms" -lt 10000 ] || fail "refusing an unreachable peer took $elapsed_ms ms"
echo "3. unreachable peer refused in $elapsed_ms ms: $(head -1 "$work/unreachable.txt")"

# 4. SIGTERM ends the server cleanly.
kill -TERM "$server"
rc=0
wait "$server" || rc=$?
server=""
[ "$rc" = 0 ] || fail "the server ended with status $rc on SIGTERM"
echo "4. SIGTERM ended the server with status 0"
echo "PASSED"
