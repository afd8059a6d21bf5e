#!/usr/bin/env bash
# `make stop`: stop what `make run` started (gunicorn, the callback worker, then the private redis-server), by the
# pid files it left in .run/. A pid file whose process is gone, or is not that program, is
# only removed: a recycled pid must not stop someone else's process.
set -uo pipefail
cd "$(dirname "$0")/.."

running() {  # running PID NAME: a zombie's cmdline is empty, so it counts as stopped
  [ -n "$1" ] && grep -qa "$2" "/proc/$1/cmdline" 2>/dev/null
}

stop() {  # stop NAME PIDFILE WHAT
  local pid
  [ -f "$2" ] || return 0
  pid=$(cat "$2")
  if running "$pid" "$1"; then
    kill -TERM "$pid"
    for _ in $(seq 100); do running "$pid" "$1" || break; sleep 0.1; done
    if running "$pid" "$1"; then
      echo "$3 (pid $pid) did not stop within 10 s" >&2
      return 1
    fi
    echo "stopped $3 (pid $pid)"
  fi
  rm -f "$2"
}

stop gunicorn .run/gunicorn.pid gunicorn
stop worker .run/worker.pid "the callback worker"
stop redis-server .run/redis.pid "the private redis-server"
