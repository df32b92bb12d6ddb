# parcelstream: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA := deploy/kafka/kafka.sh
CLICKHOUSE := deploy/clickhouse/clickhouse.sh
PARCELS ?= 2000
PYTEST_ARGS ?=

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@deploy/prereqs.sh
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) compile ## venv with the package and dev tools, compiled core, Kafka jars, ClickHouse server
	@$(KAFKA) fetch
	@$(CLICKHOUSE) install

compile: $(STAMP) ## compile connectors/ and tracking/ with mypyc into .build/ (skipped when up to date)
	@$(PY) deploy/compile.py

test-tools: setup ## what only the suite needs: prometheus, docker-compose, helm, Chromium
	@deploy/toolchain.sh install

kafka-up: $(STAMP) ## start the local single-node Kafka (reuses one already answering)
	@$(KAFKA) up

kafka-down: ## stop the local Kafka started by kafka-up
	@$(KAFKA) down

demo: setup ## set up, start Kafka, run worker + simulator ($(PARCELS) parcels), print the report
	@$(KAFKA) up
	$(PY) -m pipeline.cli demo --parcels $(PARCELS)

test: test-tools ## set up and run the whole suite (starts and stops Kafka and ClickHouse itself)
	@was_up=0; $(KAFKA) status >/dev/null 2>&1 && was_up=1; \
	$(KAFKA) up || exit 1; \
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$was_up = 0 ]; then $(KAFKA) down; fi; \
	exit $$rc

test-unit: compile ## unit and property tests only (no broker needed)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: test-tools ## integration and browser tests on the real broker and engines
	@$(KAFKA) up
	$(PY) -m pytest tests/integration tests/browser $(PYTEST_ARGS)

test-faults: test-tools ## fault suite: broker/ClickHouse outages, kill -9, poison, webhook fuzz (~8 min)
	$(PY) -m pytest tests/faults --durations=0 $(PYTEST_ARGS)

bench: setup ## throughput: pipeline vs plain confluent-kafka passthrough on the same data
	@$(KAFKA) up
	$(PY) -m pipeline.cli bench

SCALE_PARCELS ?= 2000000
bench-scale: setup ## parcel stage with $(SCALE_PARCELS) parcels in state: RSS, restart, restore, throughput
	@$(KAFKA) up
	$(PY) -m pipeline.cli bench-scale --parcels $(SCALE_PARCELS)

eval-eta: compile ## ETA model on 10,000 real Olist deliveries vs a naive baseline: errors, monthly coverage, p_late PR curve (build/eval-eta/)
	$(PY) -m tools.eval_eta

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check pipeline connectors tracking tools tests

typecheck: $(STAMP) ## mypy
	$(VENV)/bin/mypy

clean: kafka-down ## remove local state (Kafka data, chDB, reports, compiled core) but keep the venv
	rm -rf .state .build

.PHONY: help setup compile test-tools kafka-up kafka-down demo test test-unit test-integration test-faults bench bench-scale eval-eta lint typecheck clean
