# orderflow — make targets. The two commands a user needs: `make demo` and `make test`.
#
# ORDERFLOW_STACK=auto|docker|native chooses how `make up` runs the stack (default auto: docker
# compose when a Docker engine answers, the native jar-based stack otherwise).

SHELL := /bin/bash
GO ?= go
ORDERFLOW_STACK ?= auto
COMPOSE := docker compose -f compose/docker-compose.yml
BIN := bin/orderflow
BENCH_BIN := bin/orderflow-bench
GO_TEST_FLAGS ?= -count=1 -v -timeout 10m

export ORDERFLOW_BIN := $(CURDIR)/$(BIN)

# The docker stack's PostgreSQL password (compose/.env, written by `make up`): orderflow's DSN
# must carry the same. Absent for the native stack, whose local default stays.
-include compose/.env
ifneq ($(ORDERFLOW_PG_PASSWORD),)
export ORDERFLOW_PG_PASSWORD
endif

.PHONY: build build-bench up down status clean demo test test-unit test-integration test-failure chaos bench bench-quick bench-soak fmt

# Kafka brokers of the stack: 1 (default) or 3 (`make up BROKERS=3`: one KRaft quorum, replication
# factor 3 and min.insync.replicas 2 for every topic). A run directory keeps the count it was
# first started with.
BROKERS ?=
ifneq ($(BROKERS),)
export ORDERFLOW_KAFKA_BROKERS := $(BROKERS)
endif

build:
	$(GO) build -o $(BIN) ./cmd/orderflow

# The benchmark harness is a binary of its own: the product does not link it (nor gonum).
build-bench: build
	$(GO) build -o $(BENCH_BIN) ./cmd/orderflow-bench

# docker when ORDERFLOW_STACK=docker, or auto and a Docker engine answers; native otherwise
STACK_MODE := $(shell if [ "$(ORDERFLOW_STACK)" = docker ] || [ "$(ORDERFLOW_STACK)" = native ]; then \
  echo "$(ORDERFLOW_STACK)"; elif command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1; then \
  echo docker; else echo native; fi)

# tests skip what only the native stack has (its SASL_SSL listener) when the stack is docker's
export ORDERFLOW_STACK_MODE := $(STACK_MODE)

# inside compose, Connect reaches PostgreSQL by its service name
ifeq ($(STACK_MODE),docker)
export ORDERFLOW_CONNECT_PG_HOST ?= postgres:5432
endif

up: build
	@mode=$(STACK_MODE); echo "stack: $$mode"; \
	if [ "$$mode" = docker ]; then \
	  [ -f compose/.env ] || (umask 077; echo "ORDERFLOW_PG_PASSWORD=$$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" > compose/.env); \
	  grep -q '^ORDERFLOW_PG_CDC_PASSWORD=' compose/.env || (umask 077; \
	    echo "ORDERFLOW_PG_APP_PASSWORD=$$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" >> compose/.env; \
	    echo "ORDERFLOW_PG_CDC_PASSWORD=$$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" >> compose/.env); \
	  set -a; . compose/.env; set +a; \
	  if [ "$${ORDERFLOW_KAFKA_BROKERS:-1}" = 3 ]; then $(COMPOSE) -f compose/docker-compose.brokers3.yml up -d --wait; \
	  else $(COMPOSE) up -d --wait; fi; \
	else compose/native/stack.sh up; fi


down:
	@compose/app.sh stop
	@mode=$(STACK_MODE); \
	if [ "$$mode" = docker ]; then $(COMPOSE) down; else compose/native/stack.sh down; fi

status: build
	@mode=$(STACK_MODE); \
	if [ "$$mode" = docker ]; then $(COMPOSE) ps; else compose/native/stack.sh status; fi

clean:
	@compose/app.sh stop
	@mode=$(STACK_MODE); \
	if [ "$$mode" = docker ]; then $(COMPOSE) down -v; else compose/native/stack.sh clean; fi
	rm -rf bin

# The main job: the stack, the pipeline, 1000 orders through every path, a summary. Leaves
# everything running until `make down`.
DEMO_ORDERS ?= 1000
DEMO_RETURNS ?= 6
demo: up
	compose/app.sh setup
	compose/app.sh start
	ORDERFLOW_API_TOKEN=$$(compose/app.sh token) bin/orderflow load --orders $(DEMO_ORDERS) --returns $(DEMO_RETURNS)
	@echo
	@echo "orderflow keeps running (API on http://localhost:8080) until 'make down'."
	@echo "The operations board: http://localhost:8080/board (log in with the token below)."
	@echo "Its API wants a bearer token; the demo made an operations key:"
	@echo "  export TOKEN=$$(compose/app.sh token)"
	@echo "Try:"
	@echo "  curl -s -XPOST localhost:8080/orders -H \"Authorization: Bearer \$$TOKEN\" -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"customer_id\":\"c-1\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"SKU-1\",\"quantity\":2,\"unit_price_cents\":1299}]}'"
	@echo "  curl -s -H \"Authorization: Bearer \$$TOKEN\" 'localhost:8080/orders/<order_id>?wait_for=terminal&timeout=5s'"
	@echo "  curl -s -H \"Authorization: Bearer \$$TOKEN\" 'localhost:8080/orders?status=CANCELLED&limit=5'"
	@echo "  curl -s -H \"Authorization: Bearer \$$TOKEN\" localhost:8080/inventory/SKU-1"
	@echo "  curl -s -XPOST -H \"Authorization: Bearer \$$TOKEN\" -H 'Idempotency-Key: r-1' localhost:8080/orders/<shipped order_id>/returns \\"
	@echo "       -d '{\"lines\":[{\"sku\":\"SKU-1\",\"quantity\":1}],\"reason\":\"too small\"}'"
	@echo "  curl -s -H \"Authorization: Bearer \$$TOKEN\" localhost:8080/returns/<return_id>      # status, history, waiting_for"

# Unit tests need no services; integration tests run against the stack `make up` provides.
test: test-unit up test-integration

test-unit:
	$(GO) vet ./...
	$(GO) test $(GO_TEST_FLAGS) ./...

test-integration:
	$(GO) test $(GO_TEST_FLAGS) -tags integration -run Integration -p 1 -timeout 30m ./...

# Just the failure-mode tests (crash, takeover, connector restart); `make test` runs them too.
test-failure: up
	$(GO) test $(GO_TEST_FLAGS) -tags integration -run 'KilledMidLoad|TakesOver|ConnectorRestart' -p 1 -timeout 30m ./pipelines/runner/

# The chaos run (RELIABILITY.md): 16 000 orders at 100/s (about half the 3-broker cluster's
# maximum sustainable rate, 208/s) on a 3-broker cluster while a schedule kills a
# processor instance (-9), stops another (SIGTERM), kills the broker leading most partitions (-9),
# restarts Kafka Connect and PostgreSQL, and pauses a broker (SIGSTOP) past the session timeouts;
# three runs in a row. It runs on a stack of its own (run directory .run-chaos) and stops the
# default one first (its data is kept); a failed run's topics and schema stay on it for a
# post-mortem (ORDERFLOW_TEST_KEEP_FAILED). Native stack only. `make test` runs a short version.
CHAOS_RUNS ?= 3
CHAOS_ORDERS ?= 16000
CHAOS_RATE ?= 100
CHAOS_RUN_DIR := $(CURDIR)/.run-chaos
chaos: build
	compose/app.sh stop
	compose/native/stack.sh down
	ORDERFLOW_RUN_DIR=$(CHAOS_RUN_DIR) ORDERFLOW_KAFKA_BROKERS=3 compose/native/stack.sh up
	rm -f .run-chaos.md
	set -e; trap 'ORDERFLOW_RUN_DIR=$(CHAOS_RUN_DIR) compose/native/stack.sh down' EXIT; \
	export ORDERFLOW_RUN_DIR=$(CHAOS_RUN_DIR) ORDERFLOW_STACK_MODE=native \
	  ORDERFLOW_BROKERS=$$(ORDERFLOW_RUN_DIR=$(CHAOS_RUN_DIR) compose/native/stack.sh brokers) \
	  ORDERFLOW_CHAOS_ORDERS=$(CHAOS_ORDERS) ORDERFLOW_CHAOS_RATE=$(CHAOS_RATE) ORDERFLOW_CHAOS_REPORT=$(CURDIR)/.run-chaos.md \
	  ORDERFLOW_TEST_KEEP_FAILED=1; \
	for i in $$(seq 1 $(CHAOS_RUNS)); do \
	  echo "chaos run $$i of $(CHAOS_RUNS)"; \
	  $(GO) test -count=1 -v -tags integration -run TestIntegrationChaos -timeout 30m ./pipelines/runner/; \
	done; \
	{ sed -n '1,/^## Runs/p' RELIABILITY.md; cat .run-chaos.md; } > RELIABILITY.md.new && mv RELIABILITY.md.new RELIABILITY.md

# Benchmarks on the real stack (not tests): results as JSON and plots in cmd/orderflow-bench/results,
# the report in BENCHMARKS.md, next to the previous release's results (results/before). The full
# run takes about an hour on 2 cores (the soak alone 20 minutes); bench-quick about 6 minutes and
# writes to .run/bench-quick/ (BENCHMARKS.md there too).
BENCH_ORDERS ?= 270000
SOAK ?= 20m
QUICK_OUT := .run/bench-quick
# The demo's background `orderflow run` is stopped first: it would take CPU from the measurement.
bench: build-bench up
	compose/app.sh stop
	$(BENCH_BIN) backlog --orders $(BENCH_ORDERS) --runs 3
	$(BENCH_BIN) pipeline --runs 3 --step 45s --start-rate 300
	$(BENCH_BIN) soak --duration $(SOAK)
	$(BENCH_BIN) report --command "make bench"

# The soak alone (80% of the maximum in the last `make bench`'s pipeline.json), then the report.
bench-soak: build-bench up
	compose/app.sh stop
	$(BENCH_BIN) soak --duration $(SOAK)
	$(BENCH_BIN) report --command "make bench-soak"

bench-quick: build-bench up
	compose/app.sh stop
	$(BENCH_BIN) backlog --orders 25000 --runs 1 --restore-keys 100000 --out $(QUICK_OUT)
	$(BENCH_BIN) pipeline --runs 1 --step 10s --fixed-step 5s --capture-orders 1000 --start-rate 200 --out $(QUICK_OUT)
	$(BENCH_BIN) soak --duration 1m --window 20s --out $(QUICK_OUT)
	$(BENCH_BIN) report --out $(QUICK_OUT) --output $(QUICK_OUT)/BENCHMARKS.md --command "make bench-quick"

fmt:
	gofmt -w $$(git ls-files '*.go')
