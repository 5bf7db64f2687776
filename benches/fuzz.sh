#!/usr/bin/env bash
# Bounded fuzzing (not a test): each cargo-fuzz target in fuzz/ for SECONDS,
# starting from the seed corpus in fixtures/fuzz/<target>/, and a line per
# target with its executions and findings.
#
#   benches/fuzz.sh                 # 60 s per target
#   benches/fuzz.sh 300 reference   # 300 s, one target
#   SKIP_BUILD=1 benches/fuzz.sh    # reuse the targets already built
#
# libFuzzer needs nightly features: on a stable toolchain this sets
# RUSTC_BOOTSTRAP=1. New inputs go to fuzz/corpus/<target>/ (ignored by git);
# a crash lands in fuzz/artifacts/<target>/: turn it into a regression test
# and add it to fixtures/fuzz/<target>/.
# Output: reports/fuzz/summary.txt and each target's log beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(envelope timestamp ratelimit wire reference http1)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export RUSTC_BOOTSTRAP=1
OUT=$PWD/reports/fuzz
mkdir -p "$OUT"
[ -n "${SKIP_BUILD:-}" ] || (cd fuzz && cargo fuzz build -O)
BIN=fuzz/target/$(rustc -vV | awk '/^host/ {print $2}')/release
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
echo "fuzzing $SECS s per target on $(nproc) cores, $(rustc --version)" | tee -a "$SUMMARY"
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  rc=0
  "$BIN/$t" "fuzz/corpus/$t" "fixtures/fuzz/$t" -max_total_time="$SECS" -max_len=4096 \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" >"$OUT/$t.log" 2>&1 || rc=$?
  execs=$(awk '/stat::number_of_executed_units/ {print $NF; exit}' "$OUT/$t.log")
  cov=$(grep -oE 'cov: [0-9]+' "$OUT/$t.log" | tail -1 | awk '{print $2}')
  found=$(find "fuzz/artifacts/$t" -type f | wc -l)
  echo "$t: ${execs:-?} executions in $SECS s, coverage ${cov:-?} edges, corpus $(find "fuzz/corpus/$t" -type f | wc -l) inputs, $found finding(s), exit $rc" | tee -a "$SUMMARY"
done
