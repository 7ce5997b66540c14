#!/usr/bin/env bash
# Runs the whole test suite: unit tests, integration tests (real processes,
# real HTTP on loopback, real servers), and the CLI tests.
#
# First it installs and starts, idempotently, every real server the tests
# use (scripts/setup-*.sh); on a fresh machine that takes a while (the LLM
# server builds llama.cpp: ~9 min; Garage builds from crates.io: ~16 min),
# later runs only check.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One target directory outside the work tree, shared by every checkout and
# CI's fresh clone, so the dependency tree is built once per machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/aifb-target}"

setup() {
  echo "== $1"
  local t0=$SECONDS
  "$@"
  echo "== $1 done in $((SECONDS - t0)) s"
}
setup scripts/setup-slurm.sh
setup scripts/setup-slurm-trixie.sh
setup scripts/setup-llm.sh
setup scripts/setup-garage.sh
setup scripts/setup-chroma.sh
setup scripts/setup-chromium.sh
setup scripts/setup-prometheus.sh

# Tests start real servers and child processes; two at a time suits a
# 2-core machine and keeps timing-sensitive tests honest.
cargo test --all-targets -- --test-threads="${AIFB_TEST_THREADS:-2}"

# The chart and the CRD against Kubernetes schemas (installs its validators
# into /var/tmp the first time).
scripts/check-manifests.sh
