#!/usr/bin/env bash
# Proof of distributed load on one machine: N shard processes as separate
# hosts, each in its own network namespace with its own address, all loading
# one `chat-harness serve` in a namespace of its own, then `merge`. Checks
# that the merged report accounts for every request and message the shards
# saw, and prints the numbers.
#
#   benches/shards.sh [SHARDS] [USERS] [SECONDS]     default: 4 200 8
#
# Environment: BIN (default target/release/chat-harness, built if missing),
# SCENARIO (default scenarios/smoke.toml), KEEP=1 keeps the results folder.
#
# Network: namespaces chh<pid>-br (a bridge), chh<pid>-srv (10.77.0.1) and
# chh<pid>-s<i> (10.77.0.<10+i>), joined by veth pairs created inside them;
# nothing is added to the host's own namespace. Everything is created and
# removed here, every process is bounded by `timeout`, and the script
# exits 0 with "SKIP: reason" where namespaces cannot be made (not root,
# no CAP_SYS_ADMIN, no iproute2).
set -euo pipefail
cd "$(dirname "$0")/.."

SHARDS=${1:-4}
USERS=${2:-200}
SECONDS_AT_LOAD=${3:-8}
SCENARIO=${SCENARIO:-scenarios/smoke.toml}
BIN=${BIN:-target/release/chat-harness}
P="chh$$"
NETNS=()
PIDS=()
OUT=$(mktemp -d /tmp/chh-shards.XXXXXX)

skip() { echo "SKIP: $*"; rm -rf "$OUT"; exit 0; }

command -v ip >/dev/null || skip "no 'ip' command (Debian package iproute2)"
command -v python3 >/dev/null || skip "no python3 to read the reports"
[ "$(id -u)" = 0 ] || skip "network namespaces need root (uid is $(id -u))"
ip netns add "$P-probe" 2>/dev/null || skip "cannot create a network namespace here (needs CAP_SYS_ADMIN; containers usually drop it)"
ip netns del "$P-probe"

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "results kept in $OUT"; else rm -rf "$OUT"; fi
}
trap cleanup EXIT

if [ ! -x "$BIN" ]; then cargo build --release --locked; fi

# One namespace per host: a bridge joins them (a tiny switch).
newns() { ip netns add "$1"; NETNS+=("$1"); ip -n "$1" link set lo up; }
newns "$P-br"
ip -n "$P-br" link add br0 type bridge
ip -n "$P-br" link set br0 up
attach() { # NAMESPACE PORT-NAME ADDRESS
  ip -n "$P-br" link add "$2" type veth peer name eth0 netns "$1"
  ip -n "$P-br" link set "$2" master br0 up
  ip -n "$1" addr add "$3/24" dev eth0
  ip -n "$1" link set eth0 up
}
newns "$P-srv"
attach "$P-srv" srv 10.77.0.1
for i in $(seq 0 $((SHARDS - 1))); do
  newns "$P-s$i"
  attach "$P-s$i" "s$i" "10.77.0.$((10 + i))"
done

echo "== serve in $P-srv (10.77.0.1), $USERS users"
ip netns exec "$P-srv" timeout 300 "$BIN" serve --bind 10.77.0.1 --port 8000 \
  --users "$USERS" --accounts-out "$OUT/accounts.toml" --port-file "$OUT/port" \
  >"$OUT/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do [ -s "$OUT/port" ] && break; sleep 0.1; done
[ -s "$OUT/port" ] || { cat "$OUT/serve.log"; echo "serve did not start"; exit 1; }
URL="http://10.77.0.1:$(cat "$OUT/port" | tr -d '\n')"

START_AT=$(date -u -d "+6 seconds" +%Y-%m-%dT%H:%M:%SZ)
echo "== $SHARDS shards, each in its own namespace, start at $START_AT"
SHARD_PIDS=()
for i in $(seq 0 $((SHARDS - 1))); do
  ip netns exec "$P-s$i" timeout $((SECONDS_AT_LOAD + 120)) "$BIN" --target "$URL" \
    --accounts "$OUT/accounts.toml" load --scenario "$SCENARIO" --users "$USERS" \
    --duration "${SECONDS_AT_LOAD}s" --shard "$i/$SHARDS" --start-at "$START_AT" \
    --report-dir "$OUT/shard-$i" --quiet >"$OUT/shard-$i.log" 2>&1 &
  PIDS+=($!)
  SHARD_PIDS+=($!)
done
# While they run, the server's side: connections from one address per shard.
sleep 9
ip netns exec "$P-srv" ss -Htn state established '( sport = :8000 )' \
  | awk '{ split($4, a, ":"); n[a[1]]++ } END { for (p in n) print p, n[p] }' | sort >"$OUT/peers"
echo "server's established connections by peer address (sampled at full load):"
sed 's/^/  /' "$OUT/peers"
[ "$(wc -l <"$OUT/peers")" = "$SHARDS" ] || { echo "expected $SHARDS peer addresses"; exit 1; }
failed=0
for i in "${!SHARD_PIDS[@]}"; do
  # Exit 1 would be a violated --slo (none given here); anything else failed.
  wait "${SHARD_PIDS[$i]}" || { echo "shard $i failed:"; cat "$OUT/shard-$i.log"; failed=1; }
done
[ "$failed" = 0 ] || exit 1

echo "== merge"
DIRS=()
for i in $(seq 0 $((SHARDS - 1))); do DIRS+=("$OUT/shard-$i"); done
"$BIN" merge "${DIRS[@]}" --out "$OUT/merged" --slo "lost=0"

python3 - "$OUT" "$SHARDS" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
shards = [json.load(open(f"{out}/shard-{i}/summary.json")) for i in range(n)]
m = json.load(open(f"{out}/merged/summary.json"))
def row(name, s):
    d = s["delivery"]
    return (f"{name:>7} | {s['users']['planned']:>5} | {s['requests']['total']:>8} | {s['requests']['errors']:>6} | "
            f"{d['sent']:>6} | {d['expected']:>8} | {d['delivered']:>9} | {d['lost']:>4} | {d['latency']['p99_us']/1000:>8.1f} ms")
print("  shard | users | requests | errors |   sent | expected | delivered | lost | delivery p99")
for i, s in enumerate(shards):
    late = s["shard"].get("late_ms")
    print(row(str(i), s) + f"  (began {late} ms after --start-at, from {s['target']})")
print(row("merged", m))
bad = []
def same(what, got, want):
    if got != want:
        bad.append(f"{what}: merged {got}, shards add up to {want}")
same("requests", m["requests"]["total"], sum(s["requests"]["total"] for s in shards))
same("errors", m["requests"]["errors"], sum(s["requests"]["errors"] for s in shards))
same("latency samples", m["requests"]["latency"]["count"], sum(s["requests"]["latency"]["count"] for s in shards))
for k in ["sent", "expected", "delivered", "lost", "lost_client_model", "unconfirmed", "duplicated", "out_of_order"]:
    same(k, m["delivery"][k], sum(s["delivery"][k] for s in shards))
# Every delivered pair is timed once: as delivery (screen open when the send
# was answered) or as catch-up (screen opened later).
same("delivery + catch-up samples",
     m["delivery"]["latency"]["count"] + m["delivery"]["catchup"]["count"],
     m["delivery"]["delivered"])
same("delivery samples", m["delivery"]["latency"]["count"],
     sum(s["delivery"]["latency"]["count"] for s in shards))
same("catch-up samples", m["delivery"]["catchup"]["count"],
     sum(s["delivery"]["catchup"]["count"] for s in shards))
same("timeline requests", sum(t["requests"] for t in m["timeline"]), m["requests"]["total"])
for e, v in m["requests"]["per_endpoint"].items():
    same(e, v["requests"], sum(s["requests"]["per_endpoint"].get(e, {}).get("requests", 0) for s in shards))
same("users", m["users"]["planned"], sum(s["users"]["planned"] for s in shards))
if len({s["target"] for s in shards}) != 1:
    bad.append("shards saw different targets")
if m["delivery"]["sent"] == 0:
    bad.append("no messages were sent")
if bad:
    print("MISMATCH:\n  " + "\n  ".join(bad)); sys.exit(1)
print(f"OK: the merged report accounts for every request ({m['requests']['total']}) and message "
      f"({m['delivery']['sent']} sent, {m['delivery']['delivered']} deliveries) of {n} shards")
PY
