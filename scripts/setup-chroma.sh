#!/usr/bin/env bash
# Prepares a Chroma vector database for aifbench's Chroma recipe and tests.
# Idempotent.
#
#   scripts/setup-chroma.sh                 # install if absent, check it starts, stop
#   scripts/setup-chroma.sh --keep-running  # ... and leave it on 127.0.0.1:8000
#   scripts/setup-chroma.sh --stop          # stop a server this script started
#
# Installs `chromadb` (with boto3, used by the S3 CPU comparison) into the
# venv $AIFB_TOOLS/chroma-venv (default /var/tmp/aifbench-tools; ~150 s the
# first time), and checks that `chroma run` answers /api/v2/heartbeat.
# recipes/chroma.yaml starts `chroma run` itself as a process service.
set -euo pipefail

TOOLS=${AIFB_TOOLS:-/var/tmp/aifbench-tools}
VENV=$TOOLS/chroma-venv
DIR=${AIFB_CHROMA_DIR:-/var/tmp/aifbench-chroma}
PORT=${AIFB_CHROMA_PORT:-8000}
PIDFILE=$DIR/chroma.pid
MODE=${1:-check}

log() { echo "setup-chroma: $*" >&2; }
# shellcheck source=scripts/pidfile.sh
source "$(dirname "$0")/pidfile.sh"
running() { pid_alive "$PIDFILE"; }
stop_server() { stop_pidfile "$PIDFILE" chroma; }

if [[ $MODE == --stop ]]; then stop_server; exit 0; fi

if [[ ! -x $VENV/bin/chroma ]] || ! "$VENV/bin/python" -c 'import boto3' 2>/dev/null; then
  log "installing chromadb and boto3 into $VENV (~150 s)"
  mkdir -p "$TOOLS"
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q chromadb boto3 >"$TOOLS/chroma-install.log" 2>&1 \
    || { log "pip install failed; see $TOOLS/chroma-install.log"; exit 1; }
fi
log "chroma: $VENV/bin/chroma ($("$VENV/bin/python" -c 'import chromadb; print(chromadb.__version__)'))"

mkdir -p "$DIR/data"
if ! running; then
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/api/v2/heartbeat"; then
    log "something already answers on 127.0.0.1:$PORT; leaving it alone"
    exit 0
  fi
  nohup "$VENV/bin/chroma" run --path "$DIR/data" --host 127.0.0.1 --port "$PORT" >"$DIR/chroma.log" 2>&1 &
  echo $! >"$PIDFILE"
fi
for _ in $(seq 150); do
  curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/api/v2/heartbeat" && break
  running || { log "chroma exited; see $DIR/chroma.log"; tail -n 20 "$DIR/chroma.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/api/v2/heartbeat" || { log "chroma did not answer"; exit 1; }
if [[ $MODE == --keep-running ]]; then
  log "chroma is running on http://127.0.0.1:$PORT"
else
  stop_server
fi
log "ready"
