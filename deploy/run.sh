#!/usr/bin/env bash
# `make run`: serve Onshore on 127.0.0.1:8000 for trying it out.
# Starts a private redis-server when REDIS_URL is unset, creates a development auth token
# and caller-hash key on first use (kept in .run/dev.env), loads flows/, runs gunicorn.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run
BIN=.venv/bin

if [ ! -f .run/dev.env ]; then
  umask 077
  {
    echo "TWILIO_AUTH_TOKEN=${TWILIO_AUTH_TOKEN:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}"
    echo "IVR_CALLER_HASH_KEY=${IVR_CALLER_HASH_KEY:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}"
  } > .run/dev.env
fi
set -a; . ./.run/dev.env; set +a

if [ -z "${REDIS_URL:-}" ]; then
  PORT=${ONSHORE_REDIS_PORT:-6380}
  if ! redis-cli -p "$PORT" ping >/dev/null 2>&1; then
    redis-server --port "$PORT" --bind 127.0.0.1 --dir "$PWD/.run" --appendonly yes \
      --appendfsync everysec --maxmemory-policy noeviction --daemonize yes \
      --logfile "$PWD/.run/redis.log" --pidfile "$PWD/.run/redis.pid"
    for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  export REDIS_URL="redis://127.0.0.1:$PORT/0"
  echo "private Redis at $REDIS_URL (data in .run/)"
fi

export IVR_FLOWS_DIR="${IVR_FLOWS_DIR:-flows}"
$BIN/ivr load "$IVR_FLOWS_DIR" -m "make run"
echo "Onshore on http://127.0.0.1:8000  (auth token in .run/dev.env)"
echo "try: set -a; . .run/dev.env; set +a; $BIN/ivr call +18005550100 --url http://127.0.0.1:8000 --press 1,1"
exec $BIN/gunicorn -c deploy/gunicorn.conf.py 'ivr:create_app()'
