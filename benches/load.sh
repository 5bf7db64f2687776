#!/usr/bin/env bash
# Benchmarks of `chat-harness load` (not tests: numbers for the README).
#
#   benches/load.sh cpu   [USERS] [SECONDS]   CPU per request: load (steady-chat) vs wrk, same server
#   benches/load.sh users [N...]              poll lateness p99 and RSS for rising user counts
#
# The reference server runs as its own process (`chat-harness serve`, no rate
# limits) on loopback, so that the load generator's CPU is measured alone.
# Everything is bounded in time and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/chat-harness
[ -x "$BIN" ] || cargo build --release
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
OUT=$(mktemp -d /tmp/lh-bench.XXXXXX)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT

start_server() { # USERS
  local limits=()
  for e in login signup get_chats create_chat get_messages send_message get_users mark_as_read; do limits+=(--limit "$e=off"); done
  "$BIN" serve --port 0 --port-file "$OUT/port" --users "$1" --accounts-out "$OUT/accounts.toml" "${limits[@]}" >"$OUT/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 600); do [ -s "$OUT/port" ] && break; sleep 0.1; done
  URL="http://127.0.0.1:$(cat "$OUT/port")"
}

stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; rm -f "$OUT/port"; }

# Runs load; prints "cpu_s requests rss_kb lateness_p99_us delivery_p99_us lost".
run_load() { # SCENARIO USERS SECONDS
  local dir="$OUT/run-$2"
  /usr/bin/time -f "%U %S %M" -o "$OUT/time" timeout $(( $3 + 120 )) \
    "$BIN" --target "$URL" --accounts "$OUT/accounts.toml" load --scenario "$1" --users "$2" \
    --duration "${3}s" --report-dir "$dir" -q >/dev/null 2>"$OUT/load.err" || true
  read -r u s m <"$OUT/time"
  python3 - "$dir/summary.json" "$u" "$s" "$m" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
cpu = float(sys.argv[2]) + float(sys.argv[3])
print(f"{cpu:.2f} {s['requests']['total']} {sys.argv[4]} {s['poll_lateness']['p99_us']} {s['delivery']['latency']['p99_us']} {s['delivery']['lost']}")
PY
}

case "${1:-cpu}" in
cpu)
  USERS=${2:-2000}; SECS=${3:-30}
  start_server "$USERS"
  read -r cpu reqs rss late dp99 lost < <(run_load scenarios/steady-chat.toml "$USERS" "$SECS")
  # wrk on the same server: get_chats of one user, keep-alive, 1 thread, 64 connections.
  TOKEN=$(python3 -c "import tomllib;a=tomllib.load(open('$OUT/accounts.toml','rb'))['account'][0];print(a['api_key']+':'+a['api_secret'])")
  /usr/bin/time -f "%U %S" -o "$OUT/wrk.time" wrk -t1 -c64 -d"${SECS}s" -H "Authorization: token $TOKEN" \
    "$URL/api/method/frappe_chat.api.get_chats" >"$OUT/wrk.out"
  read -r wu ws <"$OUT/wrk.time"
  wreqs=$(awk '/requests in/ {print $1}' "$OUT/wrk.out")
  python3 - <<PY
lc, lr, wc, wr = $cpu, $reqs, $wu + $ws, $wreqs
l, w = lc / lr * 1e6, wc / wr * 1e6
print(f"load : {lr} requests, {lc:.2f} s CPU, {l:.1f} us CPU/request (steady-chat, $USERS users, delivery tracking on; poll lateness p99 {$late/1000:.1f} ms, lost $lost)")
print(f"wrk  : {wr} requests, {wc:.2f} s CPU, {w:.1f} us CPU/request (get_chats, 64 connections)")
print(f"ratio: {l / w:.2f}x wrk's CPU per request")
PY
  stop_server ;;
users)
  shift; COUNTS=("${@:-5000 10000 20000}")
  for n in ${COUNTS[@]}; do
    start_server "$n"
    read -r cpu reqs rss late dp99 lost < <(run_load scenarios/steady-chat.toml "$n" 20)
    echo "users=$n requests=$reqs cpu=${cpu}s rss=$((rss / 1024))MB rss/user=$((rss / n))KB lateness_p99=$((late / 1000))ms delivery_p99=$((dp99 / 1000))ms lost=$lost"
    stop_server
  done ;;
*) echo "usage: $0 cpu [USERS] [SECONDS] | users [N...]" >&2; exit 2 ;;
esac
echo "(work files in $OUT)"
