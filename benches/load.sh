#!/usr/bin/env bash
# Benchmarks of `chat-harness load` (not tests: numbers for the README).
#
#   benches/load.sh cpu   [USERS] [SECONDS] [ROUNDS]  CPU per request: load (steady-chat) vs wrk, same server
#   benches/load.sh users [N...]                      poll lateness p99 and RSS for rising user counts
#   benches/load.sh http  [ARGS...]                   load's HTTP/1.1 client (load/http1.rs) vs hyper's, CPU per
#                                                     request, same run: cargo bench --bench http_path -- ARGS
#
# The reference server runs as its own process (`chat-harness serve`, no rate
# limits) on loopback, so that the load generator's CPU is measured alone.
# load's CPU is read from /proc/<pid>/stat over a window of the steady phase
# (after every user started, before the grace period), and divided by the
# requests its own timeline counts in the same seconds: set-up (creating the
# chats), goose's start and the reports are left out. wrk runs against the same
# server right after, in each round; compare the ratio within a round.
# LOAD_BIN="path..." runs other builds of load (each in turn, every round)
# against the same server.
# Everything is bounded in time and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = http ]; then shift; exec cargo bench --bench http_path -- "$@"; fi
BIN=target/release/chat-harness
[ -x "$BIN" ] || cargo build --release
LOAD_BIN=${LOAD_BIN:-$BIN}
# Each user holds a connection: a run needs more open files than users.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
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

# Runs load (steady-chat) and prints one line of key=value measurements.
run_load() { # USERS SECONDS TAG [BIN]
  python3 - "${4:-$BIN}" "$URL" "$OUT/accounts.toml" "$1" "$2" "$OUT/run-$1-$3" "$SERVER_PID" <<'PY'
import json, os, subprocess, sys, time
bin_, url, accounts, users, secs, dir_ = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
server = int(sys.argv[7])
# steady-chat starts 1,000 users per second; RATE=N when SCENARIO says otherwise
ramp = users / float(os.environ.get("RATE", "1000"))
hz = os.sysconf("SC_CLK_TCK")
err = open(dir_ + ".err", "w")
p = subprocess.Popen([bin_, "--target", url, "--accounts", accounts, "load", "--scenario",
                      os.environ.get("SCENARIO", "scenarios/steady-chat.toml"), "--users", str(users), "--duration", f"{secs}s",
                      "--report-dir", dir_], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
t0 = None
for line in p.stderr:  # the first line is printed when the users start (the run's origin)
    err.write(line)
    if "set up in" in line:
        t0 = time.monotonic()
        break
def cpu(pid=None):
    f = open(f"/proc/{pid or p.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / hz
def waited(pid):  # seconds its threads spent runnable but waiting for a CPU
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[1])
        except OSError:
            pass
    return total / 1e9
def rss_kb():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
a = int(ramp) + 3                 # every user started, lateness settled
b = max(a + 2, int(ramp + secs) - 1)  # before sends stop and the grace begins
load0 = os.getloadavg()[0]
time.sleep(max(0, t0 + a - time.monotonic())); c0, s0, w0, v0 = cpu(), cpu(server), waited(p.pid), waited(server)
time.sleep(max(0, t0 + b - time.monotonic())); c1, s1, w1, v1 = cpu(), cpu(server), waited(p.pid), waited(server); rss = rss_kb()
load1 = os.getloadavg()[0]
for line in p.stderr:
    err.write(line)
p.wait(timeout=secs + 300)
s = json.load(open(dir_ + "/summary.json"))
reqs = sum(t["requests"] for t in s["timeline"] if a <= t["t"] < b)
print(f"users={users} window={a}..{b}s requests={reqs} cpu={c1 - c0:.2f}s us_per_req={(c1 - c0) / max(reqs, 1) * 1e6:.1f} "
      f"rss={rss // 1024}MB rss_per_user={rss / users:.1f}KB lateness_p99={s['poll_lateness']['p99_us'] / 1000:.1f}ms "
      f"delivery_p99={s['delivery']['latency']['p99_us'] / 1000:.0f}ms lost={s['delivery']['lost']} errors={s['requests']['errors']} "
      f"max_users={s['users']['max_active']} total_requests={s['requests']['total']} "
      f"req_per_s={reqs / (b - a):.0f} load_cores={(c1 - c0) / (b - a):.2f} serve_cores={(s1 - s0) / (b - a):.2f} "
      f"serve_us_per_req={(s1 - s0) / max(reqs, 1) * 1e6:.1f} loadavg={load0:.1f}..{load1:.1f} "
      f"runqueue_wait_per_s: load={(w1 - w0) / (b - a):.2f}s serve={(v1 - v0) / (b - a):.2f}s")
PY
}

# wrk on the same server: get_chats of one user, keep-alive, 1 thread, 64 connections.
run_wrk() { # SECONDS
  local token
  token=$(python3 -c "import tomllib;a=tomllib.load(open('$OUT/accounts.toml','rb'))['account'][0];print(a['api_key']+':'+a['api_secret'])")
  /usr/bin/time -f "%U %S" -o "$OUT/wrk.time" wrk -t1 -c64 -d"${1}s" -H "Authorization: token $token" \
    "$URL/api/method/frappe_chat.api.get_chats" >"$OUT/wrk.out"
  read -r wu ws <"$OUT/wrk.time"
  python3 -c "r=$(awk '/requests in/ {print $1}' "$OUT/wrk.out"); c=$wu+$ws; print(f'wrk requests={r} cpu={c:.2f}s us_per_req={c/r*1e6:.1f}')"
}

case "${1:-cpu}" in
cpu)
  USERS=${2:-2000}; SECS=${3:-20}; ROUNDS=${4:-3}
  start_server "$USERS"
  for r in $(seq 1 "$ROUNDS"); do
    ls=()
    for lb in $LOAD_BIN; do
      l=$(run_load "$USERS" "$SECS" "$r-$(basename "$lb")" "$lb"); echo "load($lb) $l"; ls+=("$l")
    done
    w=$(run_wrk "$SECS"); echo "$w"
    for l in "${ls[@]}"; do
      python3 -c "import re; g=lambda s: float(re.search(r'us_per_req=([0-9.]+)', s).group(1)); print(f'round $r: load/wrk = {g(\"$l\") / g(\"$w\"):.2f}x')"
    done
  done
  stop_server ;;
users)
  shift; COUNTS=("${@:-5000 10000 20000}")
  for n in "${COUNTS[@]}"; do
    start_server "$n"
    for lb in $LOAD_BIN; do echo "load($lb) $(run_load "$n" 20 1 "$lb")"; done
    stop_server
  done ;;
*) echo "usage: $0 cpu [USERS] [SECONDS] [ROUNDS] | users [N...]" >&2; exit 2 ;;
esac
echo "(work files in $OUT)"
