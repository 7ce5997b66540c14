#!/usr/bin/env bash
# Builds the one-file aifbench release binary that starts on glibc 2.28
# systems (RHEL/Rocky 8, e.g. MeluXina), with zig as the linker, and checks
# its glibc symbol versions. Idempotent: run it as often as you like.
#
#   scripts/build-portable.sh            # prints the binary's path on stdout
#
# What it does:
#   1. installs ziglang and cargo-zigbuild (pinned, both prebuilt wheels from
#      PyPI, ~450 MB) into the venv $AIFB_TOOLS/zig-venv (default
#      /var/tmp/aifbench-tools) unless those versions are already there;
#   2. `cargo zigbuild --release --target x86_64-unknown-linux-gnu.2.28` into
#      $AIFB_PORTABLE_TARGET_DIR (default $CARGO_TARGET_DIR/portable, or
#      target/portable): a target dir of its own, so a normal build's
#      artefacts are not rebuilt for it and it stays warm between runs;
#   3. runs scripts/check-glibc.sh on the result (fails on any symbol newer
#      than GLIBC_2.28).
# Progress goes to stderr; the last line on stdout is the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."

ZIGLANG_VERSION=0.17.0
ZIGBUILD_VERSION=0.24.0
GLIBC=2.28
TRIPLE=x86_64-unknown-linux-gnu

TOOLS=${AIFB_TOOLS:-/var/tmp/aifbench-tools}
VENV=$TOOLS/zig-venv
TARGET_DIR=${AIFB_PORTABLE_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/portable}

log() { echo "build-portable: $*" >&2; }

installed() { # NAME VERSION: is NAME==VERSION in the venv?
    [[ -x "$VENV/bin/pip" ]] && [[ "$("$VENV/bin/pip" show "$1" 2>/dev/null | sed -n 's/^Version: //p')" == "$2" ]]
}

if ! installed ziglang "$ZIGLANG_VERSION" || ! installed cargo-zigbuild "$ZIGBUILD_VERSION"; then
    log "installing ziglang $ZIGLANG_VERSION and cargo-zigbuild $ZIGBUILD_VERSION into $VENV"
    mkdir -p "$TOOLS"
    [[ -x "$VENV/bin/pip" ]] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$ZIGBUILD_VERSION" >&2
fi
# cargo-zigbuild finds zig through `python3 -m ziglang` (the venv's python).
export PATH="$VENV/bin:$PATH"

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TRIPLE"; then
    log "adding the Rust target $TRIPLE"
    rustup target add "$TRIPLE" >&2
fi

log "building $TRIPLE.$GLIBC into $TARGET_DIR"
CARGO_TARGET_DIR="$TARGET_DIR" cargo zigbuild --release --locked --target "$TRIPLE.$GLIBC" >&2

BIN=$TARGET_DIR/$TRIPLE/release/aifbench
scripts/check-glibc.sh "$BIN" "$GLIBC" >&2
echo "$BIN"
