#!/usr/bin/env bash
# How close to its intended times a replayed trace is sent: runs
# recipes/trace-replay.yaml (tests/fixtures/trace-replay.jsonl, 200
# requests over 2.09 s, against the simulator) with the release build at
# 1x and 2x, RUNS times each, and prints per run the client lag (the
# summary's `client_lag`: how late the send timer fired) and the send time
# minus the intended time from the request log (p50, p99, max, in ms), and
# the span of sending against the trace's. The test suite checks the same
# replay with loose bounds (tests/trace_replay.rs); this script holds the
# 1 ms target, on a machine left otherwise idle.
#
#   benches/trace_lag.sh               # release build, then ~30 s
#   RUNS=10 benches/trace_lag.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
export PATH="$TARGET/release:$PATH"
RUNS="${RUNS:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '| speed | run | client_lag p50 | p99 | max | sent - intended p50 | p99 | max | span / trace span |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for speed in 1 2; do
  sed "s/speed: 1\$/speed: $speed/" recipes/trace-replay.yaml > "$work/trace-$speed.yaml"
  for run in $(seq 1 "$RUNS"); do
    ws="$work/ws-$speed-$run"
    AIFB_TRACE="$PWD/tests/fixtures/trace-replay.jsonl" \
      aifbench run --progress plain --workspace "$ws" "$work/trace-$speed.yaml" > "$ws.log" 2>&1 \
      || { cat "$ws.log" >&2; exit 1; }
    python3 - "$ws" "$speed" "$run" <<'PY'
import glob, json, sys
ws, speed, run = sys.argv[1], float(sys.argv[2]), sys.argv[3]
folder = glob.glob(ws + "/*/")[0]
lag = json.load(open(folder + "summary.json"))["total"]["latency"]["client_lag"]
trace = [json.loads(l) for l in open("tests/fixtures/trace-replay.jsonl")]
t0 = trace[0]["timestamp"]
log = [json.loads(l) for l in open(folder + "clients/replay-1.requests.jsonl")]
late = sorted((r["sentS"] - (trace[r["index"]]["timestamp"] - t0) / speed) * 1000 for r in log)
sent = sorted(r["sentS"] for r in log)
span = (sent[-1] - sent[0]) / ((trace[-1]["timestamp"] - t0) / speed)
p = lambda v, q: v[max(0, int(len(v) * q + 0.5) - 1)]
print(f"| {speed:g}x | {run} | {lag['p50Ms']:.3f} | {lag['p99Ms']:.3f} | {lag['maxMs']:.3f} "
      f"| {p(late, .5):.3f} | {p(late, .99):.3f} | {late[-1]:.3f} | {span:.4f} |")
PY
  done
done
