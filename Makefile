# The two commands a newcomer needs: `make demo` and `make test`.
# Each builds its own virtual environment in .venv from pyproject.toml.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# This machine's environment sets PYTHONDONTWRITEBYTECODE=1: every Python process would then
# compile silkcharge's modules from source again (about a second of CPU per server process
# the tests start) and pytest would rewrite every test module again in each worker. Our
# commands keep the bytecode, in gitignored __pycache__ folders.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test install web browser bench bench-versus bench-node clean ocpi-peer

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "Installing silkcharge and its dependencies into $(VENV) (the first time takes a few minutes)"
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar on -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The interoperability tests run an OCPI party that is not silkcharge (tests/roaming/peer/):
# the extrawest-ocpi library, in its own virtual environment because it pins FastAPI and
# pydantic versions older than silkcharge's.
PEER_VENV  := .venv-ocpi-peer
PEER_STAMP := $(PEER_VENV)/.installed
PEER_REQS  := tests/roaming/peer/requirements.txt

$(PEER_STAMP): $(PEER_REQS)
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet -r $(PEER_REQS)
	touch $(PEER_STAMP)

ocpi-peer: $(PEER_STAMP)

# The web console: npm packages from the lock file, built into the Python package, which
# serves it at / (gitignored; rebuilt when a source file changes).
CONSOLE := src/silkcharge/web/static/index.html
web: $(CONSOLE)

$(CONSOLE): web/package.json web/package-lock.json web/index.html web/vite.config.ts web/tsconfig.json web/scripts/api-docs-assets.mjs $(shell find web/src -type f)
	cd web && npm ci --no-audit --no-fund && npm run build

# The Node side of bench/ocpp_versus.py (the ocpp-rpc server and the load generator), from its
# lock file; its smoke test (tests/bench/) needs it. The benchmark also installs it by itself.
BENCH_NODE := bench/node/node_modules/.package-lock.json
bench-node: $(BENCH_NODE)

$(BENCH_NODE): bench/node/package.json bench/node/package-lock.json
	npm ci --prefix bench/node --no-audit --no-fund

# The browser tests drive Debian's chromium (and a CJK font for the Chinese screenshots);
# CI runs as root on a Debian machine.
browser:
	(command -v chromium && fc-list | grep -qi wqy) >/dev/null || \
	  (apt-get update && apt-get install -y --no-install-recommends chromium fonts-wqy-microhei)

demo: $(STAMP) web
	$(BIN)/silkcharge demo

# Tests run in parallel: most of their time is spent waiting on sockets, databases and the
# browser, so three workers keep two cores busy (TEST_WORKERS=0 runs them in one process).
TEST_WORKERS ?= 3

test: $(STAMP) web browser ocpi-peer bench-node
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal

bench: $(STAMP)
	$(BIN)/python bench/ocpp_throughput.py

# Issue 20: silkcharge (SQLite, PostgreSQL) beside an in-memory ocpp-rpc server, OCPP 1.6 and
# 2.0.1, with the Node load generator; installs bench/node's npm packages itself on first use.
# The defaults make 63 generator runs (42 closed-loop, 21 light-load of 10 s each); pass options
# with e.g. VERSUS_ARGS="--rounds 1 --targets ocpp-rpc,sqlite".
VERSUS_ARGS ?=
bench-versus: $(STAMP)
	$(BIN)/python bench/ocpp_versus.py $(VERSUS_ARGS)

clean:
	rm -rf $(VENV) $(PEER_VENV) bench/node/node_modules build *.egg-info src/*.egg-info .pytest_cache
