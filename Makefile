# The commands a newcomer types. Everything installs what it needs on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CACHE      ?= $(HOME)/.cache/dtks
UV_VERSION := 0.13.8
UV         := $(shell command -v uv 2>/dev/null || echo $(CACHE)/uv-venv/bin/uv)
STATE      ?= $(CURDIR)/.dtks
PYTHON     := $(CURDIR)/.venv/bin/python
STACK      := python3 deploy/local/stack.py

# uv uses the machine's Python 3.11; it must never try to download an interpreter.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3.11
# Installed packages compiled to bytecode once, at install. Where PYTHONDONTWRITEBYTECODE is set (as
# on these machines) Python never caches what it compiles, so without this every process compiled
# pydantic, FastAPI and the rest from source again: importing the registry's app took 4.1 s of CPU
# against 2.0 s with bytecode, paid by every service start, test subprocess and replay worker.
export UV_COMPILE_BYTECODE := 1

.PHONY: help install test test-fast lint fmt run stop status restart-postgres restart-kafka bench bench-national schemas clean kubernetes

help:
	@echo "make run     start the whole system with demo data (infrastructure, then services)"
	@echo "make test    run all tests against a private Kafka and PostgreSQL on free ports"
	@echo "make test-fast   only the tests without the infra mark: no PostgreSQL, Kafka or Keycloak started"
	@echo "make stop    stop what 'make run' started (data kept; 'make clean' removes it)"
	@echo "make restart-postgres, make restart-kafka   restart one server on its port; the services reconnect"
	@echo "make bench   run the benchmarks and print their figures"
	@echo "make bench-national   the register at national sizes (DTKS_BENCH_NATIONAL_SIZES; takes an hour or more)"
	@echo "make lint    ruff and mypy"
	@echo "make kubernetes   regenerate and validate (offline) the Kubernetes manifests of deploy/kubernetes"

$(CACHE)/uv-venv/bin/uv:
	python3 -m venv $(CACHE)/uv-venv
	$(CACHE)/uv-venv/bin/pip install -q uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock $(wildcard */pyproject.toml services/*/pyproject.toml deploy/*/pyproject.toml) | $(UV)
	$(UV) sync --frozen
	touch $@

install: .venv/.synced
	@# The project's own sources too (editable installs, which uv leaves uncompiled); compileall only
	@# rewrites what changed, and a file edited since is compiled afresh in memory as before.
	$(PYTHON) -m compileall -q -j 0 $(wildcard contracts/src runtime/src services/*/src deploy/*/src auditor/src) > /dev/null
	$(STACK) install
	@# The DCI compliance kit's npm packages, pinned by its package-lock.json (the npm registry is
	@# reached once; later runs reuse node_modules). Skipped where Node is missing: its test skips too.
	@if command -v npm >/dev/null && [ ! -d services/dci/compliance-kit/node_modules ]; then \
		npm ci --prefix services/dci/compliance-kit --no-audit --no-fund --loglevel=error; fi
	@# The Kubernetes manifests' offline validators (kubeconform from the Go proxy, Kubernetes' and the
	@# operators' schemas) into $(CACHE)/kubernetes-validation, once; tests/test_kubernetes_manifests.py uses them.
	$(PYTHON) deploy/kubernetes/validate.py install

test: install
	$(PYTHON) -m pytest

# The pure suites (domain rules, contracts, the runtime's HTTP edge and tokens): every test without
# the infra mark. Nothing is started, so it needs no stack; conftest.py marks (and warns about) a test
# that reaches the stack without the mark, so it is left out rather than starting one.
test-fast: .venv/.synced
	$(PYTHON) -m pytest -m "not infra" -q

lint: .venv/.synced
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy $(wildcard contracts/src runtime/src services/*/src deploy/*/src auditor/src) benchmarks

fmt: .venv/.synced
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

run: install
	$(STACK) start --state-dir $(STATE) --components postgres,kafka,keycloak
	python3 deploy/local/services.py start --state-dir $(STATE)
	@# The demo data goes in once per state folder; `make stop` keeps it, `make clean` removes it.
	@set -o pipefail; if [ -f $(STATE)/demo.done ]; then cat $(STATE)/demo.done; else \
		DTKS_STATE_DIR=$(STATE) $(PYTHON) deploy/local/demo.py | tee $(STATE)/demo.log && sed -n "/The DTKS demo is up/,\$$p" $(STATE)/demo.log > $(STATE)/demo.done; fi
	@echo "Infrastructure addresses: source $(STATE)/env. Logs: $(STATE)/services/*.log"

status:
	$(STACK) status --state-dir $(STATE)
	python3 deploy/local/services.py status --state-dir $(STATE)

# One server stopped and started again on the port it had: the running services reconnect on their
# own (watch `make status` or a service's /healthz turn back to ok).
restart-postgres:
	$(STACK) restart postgres --state-dir $(STATE)

restart-kafka:
	$(STACK) restart kafka --state-dir $(STATE)

stop:
	python3 deploy/local/services.py stop --state-dir $(STATE)
	$(STACK) stop --state-dir $(STATE)

clean: stop
	rm -rf $(STATE)

bench: install
	$(PYTHON) -m benchmarks

bench-national: install
	$(PYTHON) -m benchmarks national

# The Kubernetes deployment: regenerate deploy/kubernetes/manifests and validate them offline.
kubernetes: .venv/.synced
	$(PYTHON) deploy/kubernetes/generate.py
	$(PYTHON) deploy/kubernetes/validate.py

schemas: .venv/.synced
	$(PYTHON) -m dtks_contracts.schemas generate
