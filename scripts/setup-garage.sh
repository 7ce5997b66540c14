#!/usr/bin/env bash
# Prepares a single-node Garage S3 server on loopback for aifbench's S3
# recipe and tests. Idempotent: run it as often as you like.
#
#   scripts/setup-garage.sh                 # install if absent, bootstrap, then stop
#   scripts/setup-garage.sh --keep-running  # ... and leave the server running
#   scripts/setup-garage.sh --stop          # stop a server this script started
#
# What it does:
#   1. installs garage with `cargo install garage --locked` into
#      $AIFB_TOOLS (default /var/tmp/aifbench-tools) unless a garage binary
#      is already there or on PATH (first install: ~16 min on 2 cores);
#   2. writes $AIFB_GARAGE_DIR/garage.toml (default /var/tmp/aifbench-garage):
#      replication factor 1, sqlite, S3 on 127.0.0.1:3900 (region garage),
#      RPC on 127.0.0.1:3901, admin + Prometheus metrics on 127.0.0.1:3903
#      with a bearer token in $AIFB_GARAGE_DIR/metrics-token (mode 0600);
#   3. starts the server, assigns and applies the layout, creates the key
#      `aifbench` and the bucket `aifbench`, and writes the credentials to
#      $AIFB_GARAGE_DIR/credentials.env (mode 0600);
#   4. stops the server again (recipes/s3-garage.yaml runs it as a service)
#      unless --keep-running.
# Secrets are written to files only, never printed.
set -euo pipefail

TOOLS=${AIFB_TOOLS:-/var/tmp/aifbench-tools}
DIR=${AIFB_GARAGE_DIR:-/var/tmp/aifbench-garage}
CFG=$DIR/garage.toml
PIDFILE=$DIR/garage.pid
LOG=$DIR/garage.log
BUCKET=${AIFB_GARAGE_BUCKET:-aifbench}
KEY_NAME=aifbench
MODE=${1:-bootstrap}

log() { echo "setup-garage: $*" >&2; }

# shellcheck source=scripts/pidfile.sh
source "$(dirname "$0")/pidfile.sh"
running() { pid_alive "$PIDFILE"; }
stop_server() { stop_pidfile "$PIDFILE" garage; }

if [[ $MODE == --stop ]]; then stop_server; exit 0; fi

# 1. The binary.
GARAGE=$TOOLS/bin/garage
if [[ ! -x $GARAGE ]]; then
  if command -v garage >/dev/null 2>&1; then
    GARAGE=$(command -v garage)
  else
    log "installing garage into $TOOLS (cargo install garage --locked; ~16 min on 2 cores)"
    mkdir -p "$TOOLS"
    CARGO_TARGET_DIR=${GARAGE_BUILD_DIR:-/var/tmp/garage-build} \
      cargo install garage --locked --root "$TOOLS" >"$TOOLS/garage-install.log" 2>&1 \
      || { log "cargo install garage failed; see $TOOLS/garage-install.log"; exit 1; }
  fi
fi
log "garage: $GARAGE ($("$GARAGE" --version 2>/dev/null | head -n1))"

# 2. The configuration (secrets generated once).
mkdir -p "$DIR/meta" "$DIR/data"
chmod 0700 "$DIR"
umask 077
if [[ ! -f $CFG ]]; then
  rpc_secret=$(openssl rand -hex 32 2>/dev/null || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  admin_token=$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')
  metrics_token=$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')
  cat >"$CFG" <<TOML
metadata_dir = "$DIR/meta"
data_dir = "$DIR/data"
db_engine = "sqlite"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:3901"
rpc_public_addr = "127.0.0.1:3901"
rpc_secret = "$rpc_secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:3900"

[admin]
api_bind_addr = "127.0.0.1:3903"
admin_token = "$admin_token"
metrics_token = "$metrics_token"
TOML
  printf '%s\n' "$metrics_token" >"$DIR/metrics-token"
  log "wrote $CFG"
fi
chmod 0600 "$CFG" "$DIR/metrics-token"

# 3. Start (unless already running) and bootstrap.
started_here=0
if ! running; then
  if curl -s -o /dev/null --max-time 1 http://127.0.0.1:3903/health; then
    log "something already listens on 127.0.0.1:3903 (a garage started elsewhere?); stop it first"
    exit 1
  fi
  nohup "$GARAGE" -c "$CFG" server >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  started_here=1
  log "started garage (pid $(cat "$PIDFILE")), log $LOG"
fi
g() { "$GARAGE" -c "$CFG" "$@"; }
# Right after start-up the node can answer before its layout and key tables
# accept writes; retry a step for up to 30 s, then show why it failed.
retry() {
  local i
  for i in $(seq 150); do
    "$@" 2>"$DIR/last-step.err" && return 0
    running || break
    sleep 0.2
  done
  log "'$*' kept failing:"; cat "$DIR/last-step.err" >&2; tail -n 20 "$LOG" >&2
  exit 1
}
for _ in $(seq 100); do
  curl -s -o /dev/null --max-time 1 http://127.0.0.1:3903/health && break
  running || { log "garage exited; see $LOG"; tail -n 20 "$LOG" >&2; exit 1; }
  sleep 0.2
done

node_id=$(retry g node id -q | cut -d@ -f1)
[[ -n $node_id ]] || { log "cannot get the node id; see $LOG"; exit 1; }
if [[ $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:3903/health) != 200 ]]; then
  log "assigning and applying the layout"
  retry g layout assign -z dc1 -c 1G "$node_id" >/dev/null
  version=$(g layout show 2>/dev/null | sed -n 's/.*apply --version \([0-9]*\).*/\1/p' | head -n1)
  retry g layout apply --version "${version:-1}" >/dev/null
fi
for _ in $(seq 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:3903/health) == 200 ]] && break
  sleep 0.2
done

if ! g key info "$KEY_NAME" >/dev/null 2>&1; then
  retry g key create "$KEY_NAME" >/dev/null
  log "created key $KEY_NAME"
fi
if ! g bucket info "$BUCKET" >/dev/null 2>&1; then
  retry g bucket create "$BUCKET" >/dev/null
  log "created bucket $BUCKET"
fi
retry g bucket allow --read --write --owner "$BUCKET" --key "$KEY_NAME" >/dev/null

info=$(g key info --show-secret "$KEY_NAME")
key_id=$(sed -n 's/^Key ID:[[:space:]]*//p' <<<"$info" | head -n1)
secret=$(sed -n 's/^Secret key:[[:space:]]*//p' <<<"$info" | head -n1)
[[ -n $key_id && -n $secret ]] || { log "cannot read the key's id and secret from 'garage key info'"; exit 1; }
cat >"$DIR/credentials.env" <<ENV
AWS_ACCESS_KEY_ID=$key_id
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=garage
AWS_ENDPOINT_URL=http://127.0.0.1:3900
ENV
chmod 0600 "$DIR/credentials.env"
log "credentials in $DIR/credentials.env, metrics token in $DIR/metrics-token"

# 4. Leave it running or stop it.
if [[ $MODE == --keep-running ]]; then
  log "garage is running: S3 http://127.0.0.1:3900, admin/metrics http://127.0.0.1:3903"
elif [[ $started_here == 1 ]]; then
  stop_server
fi
log "ready"
