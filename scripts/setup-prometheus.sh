#!/usr/bin/env bash
# Prepares a Prometheus server on loopback for aifbench's PromQL monitor
# (recipes/promql.yaml, tests/promql_monitor.rs). Idempotent: run it as
# often as you like; it leaves the server running.
#
#   scripts/setup-prometheus.sh          # install if absent, start if down
#   scripts/setup-prometheus.sh --stop   # stop a server this script started
#
# What it does:
#   1. installs Debian's `prometheus` package (apt-get; ~42 s) unless a
#      prometheus binary is on PATH;
#   2. writes $AIFB_PROMETHEUS_DIR/prometheus.yml (default
#      /var/tmp/aifbench-prometheus): one job, `aifbench`, scraping every
#      1 s whatever targets files lie in $AIFB_PROMETHEUS_DIR/targets/
#      (file_sd, re-read within 1 s: a test or a user drops a file there to
#      have a server scraped, and removes it afterwards), and a second job,
#      `aifbench-recipe`, scraping 127.0.0.1:$AIFB_PROMQL_SIM_PORT (default
#      18080), where recipes/promql.yaml runs its simulator;
#   3. starts `prometheus` on 127.0.0.1:$AIFB_PROMETHEUS_PORT (default 9091)
#      with its TSDB under the same folder (2 h retention) and waits for
#      /-/ready;
#   4. writes $AIFB_PROMETHEUS_DIR/env: AIFB_PROMETHEUS_URL and
#      AIFB_PROMETHEUS_TARGETS (the targets folder).
set -euo pipefail

DIR=${AIFB_PROMETHEUS_DIR:-/var/tmp/aifbench-prometheus}
PORT=${AIFB_PROMETHEUS_PORT:-9091}
RECIPE_PORT=${AIFB_PROMQL_SIM_PORT:-18080}
PIDFILE=$DIR/prometheus.pid
LOG=$DIR/prometheus.log
URL=http://127.0.0.1:$PORT
MODE=${1:-start}

log() { echo "setup-prometheus: $*" >&2; }
# shellcheck source=scripts/pidfile.sh
source "$(dirname "$0")/pidfile.sh"
running() { pid_alive "$PIDFILE"; }

if [[ $MODE == --stop ]]; then stop_pidfile "$PIDFILE" prometheus; exit 0; fi

# 1. The binary.
if ! command -v prometheus >/dev/null 2>&1; then
  log "installing Debian's prometheus package (~42 s)"
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends prometheus >"${TMPDIR:-/tmp}/aifb-prometheus-install.log" 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y --no-install-recommends prometheus >"${TMPDIR:-/tmp}/aifb-prometheus-install.log" 2>&1; } \
    || { log "apt-get install prometheus failed; see ${TMPDIR:-/tmp}/aifb-prometheus-install.log"; exit 1; }
fi
PROMETHEUS=$(command -v prometheus)
log "prometheus: $PROMETHEUS ($("$PROMETHEUS" --version 2>&1 | head -n1))"

# 2. The configuration.
mkdir -p "$DIR/targets" "$DIR/data"
cat >"$DIR/prometheus.yml.new" <<YAML
# Written by scripts/setup-prometheus.sh.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: aifbench
    file_sd_configs:
      - files: ['$DIR/targets/*.json', '$DIR/targets/*.yaml']
        refresh_interval: 1s
  # recipes/promql.yaml's simulator (down, up=0, whenever it is not run).
  - job_name: aifbench-recipe
    static_configs:
      - targets: ['127.0.0.1:$RECIPE_PORT']
YAML
if ! cmp -s "$DIR/prometheus.yml.new" "$DIR/prometheus.yml"; then
  mv "$DIR/prometheus.yml.new" "$DIR/prometheus.yml"
  if running; then
    log "configuration changed; reloading"
    curl -sf -X POST "$URL/-/reload" >/dev/null || { log "reload failed"; exit 1; }
  fi
else
  rm -f "$DIR/prometheus.yml.new"
fi

# 3. The server.
if ! running; then
  if curl -s -o /dev/null --max-time 1 "$URL/-/ready"; then
    log "something already answers on 127.0.0.1:$PORT and it is not ours; set AIFB_PROMETHEUS_PORT"
    exit 1
  fi
  nohup "$PROMETHEUS" \
    --config.file="$DIR/prometheus.yml" \
    --storage.tsdb.path="$DIR/data" \
    --storage.tsdb.retention.time=2h \
    --web.listen-address="127.0.0.1:$PORT" \
    --web.enable-lifecycle >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
fi
for _ in $(seq 100); do
  curl -sf -o /dev/null --max-time 1 "$URL/-/ready" && break
  running || { log "prometheus exited; see $LOG"; tail -n 20 "$LOG" >&2; exit 1; }
  sleep 0.2
done
curl -sf -o /dev/null --max-time 2 "$URL/-/ready" || { log "prometheus is not ready; see $LOG"; exit 1; }

# 4. Where it is.
cat >"$DIR/env" <<ENV
AIFB_PROMETHEUS_URL=$URL
AIFB_PROMETHEUS_TARGETS=$DIR/targets
ENV
log "prometheus is running on $URL (targets: $DIR/targets; settings: $DIR/env)"
