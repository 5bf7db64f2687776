#!/usr/bin/env bash
# The conformance suite as a user runs it against a slow server at a real
# window (not a test: it takes minutes). `chat-harness serve` with 300 ms
# added to every answer, refusals as 417 without Retry-After (a conforming
# variant), the contract's 60 s window; `check` with the three accounts the
# README says are enough and no other flag. Prints the planned duration,
# the verdict line, the wall time and every check that was not pass/info.
#
#   benches/check60.sh                 # 60 s window, 300 ms
#   WINDOW=20 LATENCY=300ms benches/check60.sh
#
# Output: reports/check60/ (report.json, junit.xml, report.md, console.txt,
# summary.txt). Bounded: the check gets a --deadline of 30 minutes and the
# server is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW=${WINDOW:-60}
LATENCY=${LATENCY:-300ms}
BIN=${BIN:-target/release/chat-harness}
[ -x "$BIN" ] || cargo build --release --bin chat-harness
OUT=$PWD/reports/check60
rm -rf "$OUT" && mkdir -p "$OUT"
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT

"$BIN" serve --port 0 --port-file "$OUT/port" --window-seconds "$WINDOW" \
  --latency "$LATENCY" --variant refuse-417 >"$OUT/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do [ -s "$OUT/port" ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(cat "$OUT/port")"

start=$(date +%s.%N)
set +e
"$BIN" --target "$URL" \
  --user 'alice@example.com:Passw0rd!' --user 'bob@example.com:Passw0rd!' \
  --user 'carol@example.com:Passw0rd!' \
  check --window-seconds "$WINDOW" --deadline 30m --report "$OUT" \
  >"$OUT/console.txt" 2>"$OUT/stderr.txt"
code=$?
set -e
end=$(date +%s.%N)
{
  echo "serve: window $WINDOW s, latency $LATENCY, refusals as 417 without Retry-After"
  echo "check: three accounts, no other flag; exit $code in $(echo "$end - $start" | bc) s"
  grep -E '^planned:' "$OUT/console.txt" || true
  grep -E 'CONFORMANT|not evaluated' "$OUT/console.txt" || true
  echo "checks not pass/info:"
  jq -r '.checks[] | select(.outcome != "pass" and .outcome != "info") | "  \(.id) \(.outcome): \(.message)"' "$OUT/report.json"
  echo "waits announced: $(grep -c 'waiting' "$OUT/stderr.txt" || true)"
} | tee "$OUT/summary.txt"
