#!/usr/bin/env bash
# Soak (not a test): `chat-harness serve` under steady polling load from
# `chat-harness load` (scenarios/steady-chat.toml, rate limits on) for a
# bounded time, both as release builds on loopback. Every second: the RSS of
# both processes and the latency of one extra get_messages poll (curl).
# At the end: memory drift, probe latency, and the load run's errors and
# delivery. Everything is bounded in time and stopped by its PID.
#
#   benches/soak.sh              # 600 s, 300 users
#   benches/soak.sh 120 100      # 120 s, 100 users
#
# Output: reports/soak/summary.txt, samples.csv and the load run's reports.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}
USERS=${2:-300}
BIN=target/release/chat-harness
[ -x "$BIN" ] || cargo build --release --bin chat-harness
OUT=$PWD/reports/soak
rm -rf "$OUT" && mkdir -p "$OUT"
SERVER_PID=
LOAD_PID=
cleanup() {
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
}
trap cleanup EXIT
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

"$BIN" serve --port 0 --port-file "$OUT/port" --users "$USERS" \
  --accounts-out "$OUT/accounts.toml" >"$OUT/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do [ -s "$OUT/port" ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(cat "$OUT/port")"
API="$URL/api/method/frappe_chat.api"

# The probe: alice (a seeded user the load does not use) polls a chat of her
# own once a second, 60 a minute against a limit of 200.
LOGIN=$(curl -sf -X POST "$API.login" -d usr=alice@example.com --data-urlencode 'pwd=Passw0rd!')
TOKEN="$(echo "$LOGIN" | jq -r .message.api_key):$(echo "$LOGIN" | jq -r .message.api_secret)"
CHAT=$(curl -sf -X POST "$API.create_chat" -H "Authorization: token $TOKEN" \
  -d chat_name=soak-probe --data-urlencode 'participants=["bob@example.com"]' | jq -r .message)
curl -sf -o /dev/null -X POST "$API.send_message" -H "Authorization: token $TOKEN" -d chat="$CHAT" -d content=probe

"$BIN" --target "$URL" --accounts "$OUT/accounts.toml" load --scenario scenarios/steady-chat.toml \
  --users "$USERS" --duration "${SECS}s" --report-dir "$OUT/load" -q \
  --slo 'errors<1%' --slo lost=0 >"$OUT/load.out" 2>"$OUT/load.err" &
LOAD_PID=$!

echo "t_s,serve_rss_kb,load_rss_kb,probe_ms,probe_status" >"$OUT/samples.csv"
START=$(date +%s)
while kill -0 "$LOAD_PID" 2>/dev/null; do
  T=$(( $(date +%s) - START ))
  PROBE=$(curl -s -o /dev/null -m 5 -w '%{time_total} %{http_code}' -H "Authorization: token $TOKEN" \
    "$API.get_messages?chat=$CHAT" || echo "5 000")
  read -r PT PC <<<"$PROBE"
  echo "$T,$(rss_kb "$SERVER_PID"),$(rss_kb "$LOAD_PID"),$(awk -v t="$PT" 'BEGIN {printf "%.2f", t * 1000}'),$PC" >>"$OUT/samples.csv"
  sleep 1
done
LOAD_RC=0
wait "$LOAD_PID" || LOAD_RC=$?
LOAD_PID=
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
SERVER_PID=

python3 - "$OUT" "$SECS" "$USERS" "$LOAD_RC" <<'PY' | tee "$OUT/summary.txt"
import csv, json, statistics, sys
out, secs, users, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = [r for r in csv.DictReader(open(f"{out}/samples.csv")) if int(r["load_rss_kb"]) > 0]
def drift(col):
    v = [(int(r["t_s"]), int(r[col])) for r in rows]
    # After the ramp and the first minute of warm-up (or the first fifth).
    warm = min(60, max(1, len(v) // 5))
    early = [x for _, x in v[warm:warm + 60]] or [v[-1][1]]
    late = [x for _, x in v[-60:]]
    tail = v[warm:]
    n = len(tail)
    if n > 1:
        mt = sum(t for t, _ in tail) / n; mx = sum(x for _, x in tail) / n
        slope = sum((t - mt) * (x - mx) for t, x in tail) / max(1e-9, sum((t - mt) ** 2 for t, _ in tail))
    else:
        slope = 0.0
    return (f"median {statistics.median(early)/1024:.1f} MiB after warm-up, {statistics.median(late)/1024:.1f} MiB "
            f"in the last minute, max {max(x for _, x in v)/1024:.1f} MiB, trend {slope*60:+.0f} kB/min")
probe = sorted(float(r["probe_ms"]) for r in rows)
bad = sum(1 for r in rows if r["probe_status"] != "200")
q = lambda p: probe[min(len(probe) - 1, int(p * len(probe)))]
s = json.load(open(f"{out}/load/summary.json"))
d = s["delivery"]
print(f"soak: {secs} s, {users} users of scenarios/steady-chat.toml against serve (release, contract rate limits), {len(rows)} samples at 1 s")
print(f"serve RSS: {drift('serve_rss_kb')}")
print(f"load RSS:  {drift('load_rss_kb')}")
print(f"probe get_messages: p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, max {probe[-1]:.2f} ms, {bad} non-200 of {len(probe)}")
r = s["requests"]
print(f"load: {r['total']} requests ({r['per_second']}/s), {r['errors']} errors, {r['refused_unexpected']} unexpected refusals; "
      f"latency p99 {r['latency']['p99_us']/1000:.1f} ms; messages {d['sent']} sent, {d['delivered']} of {d['expected']} deliveries seen, "
      f"{d['lost']} lost, {d['duplicated']} duplicated, delivery p99 {d['p99_us']/1000 if 'p99_us' in d else d['latency']['p99_us']/1000:.0f} ms; exit {rc}")
PY
