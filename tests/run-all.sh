#!/usr/bin/env bash
# Runs the whole test suite: unit tests, integration tests (real processes,
# real HTTP on loopback), and the CLI tests. Installs nothing beyond the
# Rust toolchain for now; services that later tests need are installed and
# started from here, idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Tests start real servers and child processes; two at a time suits a
# 2-core machine and keeps timing-sensitive tests honest.
cargo test --all-targets -- --test-threads="${AIFB_TEST_THREADS:-2}"
