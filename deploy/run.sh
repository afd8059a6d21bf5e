#!/usr/bin/env bash
# `make run`: serve Onshore on 127.0.0.1:8000 for trying it out (`make stop` stops it).
# Starts a private redis-server when REDIS_URL is unset, creates a development auth token
# and caller-hash key on first use (kept in .run/dev.env, with the Redis URL in use, so that
# `set -a; . .run/dev.env` points every `ivr` command at the same Redis), loads flows/, runs
# gunicorn. Pid files in .run/ say what `make stop` stops.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run
BIN=.venv/bin
umask 077

if [ ! -f .run/dev.env ]; then
  {
    echo "TWILIO_AUTH_TOKEN=${TWILIO_AUTH_TOKEN:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}"
    echo "IVR_CALLER_HASH_KEY=${IVR_CALLER_HASH_KEY:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}"
  } > .run/dev.env
fi
# A REDIS_URL this file gave an earlier shell is the private one, not the operator's choice.
WRITTEN=$(sed -n 's/^REDIS_URL=//p' .run/dev.env)
CHOSEN=${REDIS_URL:-}
[ "$CHOSEN" = "$WRITTEN" ] && CHOSEN=
set -a; . ./.run/dev.env; set +a

if [ -z "$CHOSEN" ]; then
  PORT=${ONSHORE_REDIS_PORT:-6380}
  if ! redis-cli -p "$PORT" ping >/dev/null 2>&1; then
    redis-server --port "$PORT" --bind 127.0.0.1 --dir "$PWD/.run" --appendonly yes \
      --appendfsync everysec --maxmemory-policy noeviction --daemonize yes \
      --logfile "$PWD/.run/redis.log" --pidfile "$PWD/.run/redis.pid"
    for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  elif [ ! -f .run/redis.pid ]; then
    echo "port $PORT already has a Redis that make run did not start: set ONSHORE_REDIS_PORT" >&2
    exit 1
  fi
  CHOSEN="redis://127.0.0.1:$PORT/0"
  echo "private Redis at $CHOSEN (data in .run/)"
fi
export REDIS_URL=$CHOSEN
{ grep -v '^REDIS_URL=' .run/dev.env || true; echo "REDIS_URL=$REDIS_URL"; } > .run/dev.env.new
mv .run/dev.env.new .run/dev.env

export IVR_FLOWS_DIR="${IVR_FLOWS_DIR:-flows}"
$BIN/ivr load "$IVR_FLOWS_DIR" -m "make run"
URL="http://${BIND:-127.0.0.1:8000}"  # gunicorn.conf.py binds BIND
echo "Onshore on $URL  (auth token in .run/dev.env)"
echo "try: set -a; . .run/dev.env; set +a; $BIN/ivr call +18005550100 --url $URL --press 1,1"
# The callback worker (ivr worker: rq with its scheduler) beside gunicorn, when the REST API
# is configured (TWILIO_ACCOUNT_SID and an API key or the auth token, in .run/dev.env or the
# environment); its pid in .run/worker.pid for make stop.
if [ -n "${TWILIO_ACCOUNT_SID:-}" ]; then
  export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-$URL}"
  $BIN/ivr worker >> .run/worker.log 2>&1 &
  echo $! > .run/worker.pid
  echo "callback worker started (pid $(cat .run/worker.pid), log .run/worker.log)"
else
  echo "no callback worker: set TWILIO_ACCOUNT_SID (and TWILIO_API_KEY/TWILIO_API_SECRET) to place callbacks"
fi
exec $BIN/gunicorn -c deploy/gunicorn.conf.py --pid .run/gunicorn.pid 'ivr:create_app()'
