#!/usr/bin/env bash
# A visual check of the reports (not a test): runs a smoke load, a small
# capacity run and a check run against the embedded server, renders every
# HTML (and SVG) report they write with headless Chromium into PNGs, and
# copies the ones the README shows into docs/img/.
#
#   benches/screenshots.sh                 # release build (built if missing)
#   BIN=target/debug/chat-harness benches/screenshots.sh
#   OUT=/tmp/shots DOCS=none benches/screenshots.sh   # leave docs/img alone
#
# Chromium is Debian's package `chromium`, installed with apt-get when
# missing. It opens only file:// pages; every network feature it would use
# on its own is switched off, and each page gets a new empty profile.
# Everything runs on loopback and ends by itself (each render at most 60 s).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/chat-harness}
OUT=${OUT:-$(mktemp -d /tmp/chat-harness-shots.XXXXXX)}
DOCS=${DOCS:-docs/img}

if [ ! -x "$BIN" ]; then
  cargo build --release
fi
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-dejavu-core
fi

mkdir -p "$OUT/png"
echo "reports and PNGs in $OUT" >&2

"$BIN" load --scenario scenarios/smoke.toml --report-dir "$OUT/load" >"$OUT/load.log" 2>&1
"$BIN" capacity --scenario scenarios/smoke.toml --steps 4,8,12 --ramp 1s --hold 2s \
  --slo "delivery.p99<3s" --slo "errors<1%" --report "$OUT/capacity" >"$OUT/capacity.log" 2>&1
# check writes report.json, junit.xml and report.md: no HTML page to render.
# It runs so that a report format gaining one is rendered here too.
"$BIN" check --skip slow --report "$OUT/check" >"$OUT/check.log" 2>&1 || true

# shot FILE PNG WIDTH HEIGHT
shot() {
  local profile
  profile=$(mktemp -d)
  timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --hide-scrollbars --user-data-dir="$profile" \
    --window-size="$3,$4" --screenshot="$2" "file://$(realpath "$1")" >/dev/null 2>&1
  rm -rf "$profile"
  [ -s "$2" ] || { echo "no screenshot of $1" >&2; return 1; }
  echo "$2" >&2
}

n=0
while IFS= read -r f; do
  name=$(realpath --relative-to="$OUT" "$f" | tr '/' '_')
  case "$f" in
    *.svg) shot "$f" "$OUT/png/${name%.svg}.png" 920 400 ;;
    *) shot "$f" "$OUT/png/${name%.html}.png" 1000 1150 ;;
  esac
  n=$((n + 1))
done < <(find "$OUT/load" "$OUT/capacity" "$OUT/check" -name '*.html' -o -name '*.svg' | sort)
echo "$n pages rendered" >&2

if [ "$DOCS" != none ]; then
  mkdir -p "$DOCS"
  cp "$OUT/png/load_summary.png" "$DOCS/load-summary.png"
  cp "$OUT/png/capacity_capacity.png" "$DOCS/capacity.png"
  echo "copied into $DOCS: load-summary.png, capacity.png" >&2
fi
