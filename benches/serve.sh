#!/usr/bin/env bash
# Benchmark of the reference server (not a test). Loopback only; every run is
# bounded by wrk's -d and every server started here is stopped by its PID.
#
#   benches/serve.sh            # 10 s throughput runs + a 120 s RSS-growth run
#   LONG=300s benches/serve.sh  # a longer RSS-growth run
#   SKIP_WIREMOCK=1 ...         # serve only
#
# Output: reports/bench/summary.txt (and the raw wrk outputs beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
LONG=${LONG:-120s}
OUT=reports/bench
mkdir -p "$OUT"

if ! command -v wrk >/dev/null; then
  apt-get update && apt-get install -y wrk
fi
cargo build --release --bin chat-harness --example wiremock_target

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
reqs() { awk '/Requests\/sec/ {print $2}' "$1"; }
total() { awk '/requests in/ {print $1}' "$1"; }
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
note "machine: $(nproc) cores, $(uname -sr); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"

# --- serve (hyper front) ---------------------------------------------------
rm -f "$OUT/port"
target/release/chat-harness serve --port 0 --port-file "$OUT/port" \
  --limit get_messages=1000000000 >"$OUT/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$OUT/port" ] && break; sleep 0.05; done
BASE="http://127.0.0.1:$(cat "$OUT/port")/api/method/frappe_chat.api"
LOGIN=$(curl -sf -X POST "$BASE.login" -d usr=alice@example.com --data-urlencode 'pwd=Passw0rd!')
TOKEN="$(echo "$LOGIN" | jq -r '.message.api_key'):$(echo "$LOGIN" | jq -r '.message.api_secret')"
CHAT=$(curl -sf -X POST "$BASE.create_chat" -H "Authorization: token $TOKEN" \
  -d chat_name=bench --data-urlencode 'participants=["bob@example.com"]' | jq -r .message)
for i in $(seq 20); do
  curl -sf -o /dev/null -X POST "$BASE.send_message" -H "Authorization: token $TOKEN" \
    -d chat="$CHAT" -d content="message $i"
done
URL="$BASE.get_messages?chat=$CHAT"
test "$(curl -sf -H "Authorization: token $TOKEN" "$URL" | jq '.message | length')" = 20

R0=$(rss_kb $PID)
wrk -t1 -c100 -d10s -H "Authorization: token $TOKEN" "$URL" | tee "$OUT/serve-10s.txt"
R1=$(rss_kb $PID)
note "serve: wrk -t1 -c100 -d10s get_messages (20 messages): $(reqs "$OUT/serve-10s.txt") req/s; RSS ${R0} kB -> ${R1} kB"
wrk -t1 -c100 -d"$LONG" -H "Authorization: token $TOKEN" "$URL" | tee "$OUT/serve-long.txt"
R2=$(rss_kb $PID)
N=$(( $(total "$OUT/serve-10s.txt") + $(total "$OUT/serve-long.txt") ))
note "serve: +$LONG run: $(reqs "$OUT/serve-long.txt") req/s; RSS ${R1} kB -> ${R2} kB after $N requests in all"
note "serve: RSS growth over the whole run: $(( R2 - R0 )) kB for $N requests"
kill -TERM $PID; wait $PID || true
trap - EXIT

# --- wiremock front (brief: its memory grows with every request) ----------
if [ -z "${SKIP_WIREMOCK:-}" ]; then
  target/release/examples/wiremock_target 20 >"$OUT/wiremock.txt" &
  WPID=$!
  trap 'kill $WPID 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [ -s "$OUT/wiremock.txt" ] && break; sleep 0.05; done
  read -r WURL WTOKEN WCHAT <"$OUT/wiremock.txt"
  WGET="$WURL/api/method/frappe_chat.api.get_messages?chat=$WCHAT"
  W0=$(rss_kb $WPID)
  wrk -t1 -c100 -d5s -H "Authorization: token $WTOKEN" "$WGET" | tee "$OUT/wiremock-5s.txt"
  W1=$(rss_kb $WPID)
  note "wiremock: wrk -t1 -c100 -d5s get_messages (20 messages): $(reqs "$OUT/wiremock-5s.txt") req/s; RSS ${W0} kB -> ${W1} kB after $(total "$OUT/wiremock-5s.txt") requests"
  kill $WPID; wait $WPID || true
  trap - EXIT
fi
cat "$SUMMARY"
