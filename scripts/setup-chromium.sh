#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for tests/report_html.rs (which
# loads report.html in it). Idempotent: does nothing when `chromium` runs.
#
#   scripts/setup-chromium.sh
#
# Lean: --no-install-recommends (no fonts beyond what chromium depends on, no
# desktop integration). Needs root (apt-get), as the other setup scripts.
set -euo pipefail

log() { echo "setup-chromium: $*" >&2; }

if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium with apt (--no-install-recommends)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
log "$(chromium --version 2>/dev/null || echo 'chromium installed')"
