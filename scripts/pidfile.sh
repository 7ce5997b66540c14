# Sourced by the setup scripts: servers tracked by a pid file.

# pid_alive FILE: the process named in FILE runs.
pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile FILE [NAME]: SIGTERM, up to 5 s to exit, then SIGKILL;
# removes FILE. Says what it stopped when NAME is given.
stop_pidfile() {
  if pid_alive "$1"; then
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    [[ -z ${2:-} ]] || echo "stopped $2 (pid $pid)" >&2
  fi
  rm -f "$1"
}
