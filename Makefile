# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run stop test test-faults bench bench-outage bench-scale bench-durability bench-archive check redis-server nginx clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

redis-server:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "redis-server is missing: install it (sudo apt-get install redis-server) or set REDIS_URL"; exit 1; \
	  fi; }

# tests/test_proxy.py runs the shipped deploy/nginx/ config in front of gunicorn.
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq nginx >/dev/null; \
	  else \
	    echo "nginx is missing: install it (sudo apt-get install nginx); tests/test_proxy.py skips without it"; \
	  fi; }

run: $(STAMP) redis-server
	@bash deploy/run.sh

# What `make run` started: gunicorn and the private redis-server (pid files in .run/).
stop:
	@bash deploy/stop.sh

test: $(STAMP) redis-server nginx
	$(BIN)/python -m pytest -q

# Only the long fault and outage runs (marked slow); `make test` runs them too.
test-faults: $(STAMP) redis-server nginx
	$(BIN)/python -m pytest -q -m slow

.PHONY: test-fast lint

# Everything but the tests marked slow (the long fault runs, the 100,000-call report): daily use.
test-fast: $(STAMP) redis-server nginx
	$(BIN)/python -m pytest -q -m "not slow"

# The project's ruff rules, its formatting and mypy --strict (all configured in
# pyproject.toml); CI runs it. `ruff format ivr tests bench` formats the tree.
lint: $(STAMP)
	$(BIN)/ruff check ivr tests bench
	$(BIN)/ruff format --check ivr tests bench
	$(BIN)/mypy --strict ivr

check: $(STAMP)
	$(BIN)/ivr check flows

bench: $(STAMP) redis-server nginx
	$(BIN)/python bench/voice_bench.py
	$(BIN)/python bench/report_bench.py
	$(BIN)/python bench/slow_client_bench.py

bench-scale: $(STAMP) redis-server
	$(BIN)/python bench/scale_bench.py

bench-outage: $(STAMP) redis-server
	$(BIN)/python bench/outage_bench.py

# appendfsync always / everysec / everysec + journal fsync / everysec + replica WAIT:
# writes/s, CPU per write, and acknowledged events lost on kill -9 of Redis.
bench-durability: $(STAMP) redis-server
	$(BIN)/python bench/durability_bench.py

# ivr audit verify and ivr report over 1M events in day files and Redis: time and peak RSS.
bench-archive: $(STAMP) redis-server
	$(BIN)/python bench/archive_bench.py

clean: stop
	rm -rf $(VENV) .run
