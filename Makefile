# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench check redis-server clean

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

run: $(STAMP) redis-server
	@bash deploy/run.sh

test: $(STAMP) redis-server
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/ivr check flows

bench: $(STAMP) redis-server
	$(BIN)/python bench/voice_bench.py
	$(BIN)/python bench/report_bench.py

clean:
	rm -rf $(VENV) .run
