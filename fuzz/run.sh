#!/usr/bin/env bash
# Runs each fuzz target for a set time and prints its executions.
#
#   fuzz/run.sh [SECONDS_EACH] [TARGET...]     (default: 60 s, every target)
#
# Coverage-guided with libFuzzer (libfuzzer-sys), built on stable Rust with
# the SanitizerCoverage flags cargo-fuzz uses (no AddressSanitizer: the code
# is safe Rust; panics, overflows and debug assertions are the crashes).
# With cargo-fuzz and a nightly toolchain, `cargo fuzz run TARGET` works too.
# Build output goes to $FUZZ_TARGET_DIR (default /var/tmp/aifbench-fuzz-target),
# corpora to fuzz/corpus/TARGET (seeded from fuzz/seeds and recipes/), crashes
# to fuzz/artifacts/TARGET. Exit status 1 when a target crashed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
secs="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(recipe prometheus sse_payload slurm_state)
fi
target_dir="${FUZZ_TARGET_DIR:-/var/tmp/aifbench-fuzz-target}"
triple="$(rustc -vV | sed -n 's/^host: //p')"

export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the flags off build scripts and proc macros.
cargo build --release --manifest-path "$here/Cargo.toml" --target "$triple" \
    --target-dir "$target_dir" --bins

status=0
summary=()
for t in "${targets[@]}"; do
    corpus="$here/corpus/$t"
    artifacts="$here/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    seeds=("$here/seeds/$t")
    if [ "$t" = recipe ]; then
        seeds=("$root/recipes" "$root/tests/fixtures")
    fi
    log="$artifacts/last-run.log"
    start=$(date +%s)
    set +e
    "$target_dir/$triple/release/$t" "$corpus" "${seeds[@]}" \
        -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=4096 \
        -max_len=65536 -timeout=10 -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    crashes=$(find "$artifacts" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
    line="$t: ${execs:-?} executions in ${took}s, corpus $(find "$corpus" -type f | wc -l) inputs, exit $rc, $crashes crash file(s) in $artifacts"
    echo "$line"
    summary+=("$line")
    if [ "$rc" -ne 0 ]; then
        status=1
        grep -m1 -A20 -E "panicked|ERROR: libFuzzer" "$log" || true
    fi
done
echo "--- summary"
printf '%s\n' "${summary[@]}"
exit "$status"
