# The two commands of the README: `make demo` runs the engine on a local stack,
# `make test` runs the whole test suite against the same real stack.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test unit lint install stack stack-down schemas bench prometheus-check dashboards

demo: install stack
	$(BIN)/pulse demo

test: install lint stack prometheus-check
	$(BIN)/pytest

# Lint, format, types (strict on stream/ and consumers/) and the architecture contract
# (the runtime imports no metric family): all configured in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m dashboards --check

unit: install
	$(BIN)/pytest -m "not integration"

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml native/Cargo.toml native/Cargo.lock $(wildcard native/src/*.rs)
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Pulse needs Python >= 3.11")'
	PYTHON=$(PYTHON) scripts/stack toolchain
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Kafka, Redis, Prometheus and Alertmanager (alert notifications are tested against it).
stack:
	scripts/stack up --with-observability

# The shipped Prometheus config and the alert rules generated for it (`pulse alerts export-prometheus`).
prometheus-check: stack
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/pulse-alerts.rules.yml

stack-down:
	scripts/stack down

schemas: install
	$(BIN)/pulse schemas

# Grafana dashboards as code (dashboards/) -> deploy/grafana/dashboards/*.json
dashboards: install
	$(BIN)/python -m dashboards
