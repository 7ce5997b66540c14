#!/usr/bin/env bash
# Measures the `openai` load generator against the built-in simulator on
# loopback: accuracy against the simulator's known timing, open-loop rate
# accuracy, client CPU time per request, requests per client CPU-second, and
# memory at 1024 concurrent streams. Prints a Markdown table that
# docs/performance.md quotes.
#
#   benches/loadgen.sh                 # release build, then ~2 minutes
#   DURATION=5 benches/loadgen.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
exec python3 benches/loadgen_bench.py "$TARGET/release/aifbench"
