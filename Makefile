# Job Importer: the two commands of the README are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export CARGO_TARGET_DIR ?= $(HOME)/.cache/job-importer/target
CARGO ?= cargo

.PHONY: help run serve services services-stop install build build-release build-run client test test-rust test-client test-browser soak lint fmt bench clean

help:
	@echo "make run    - install what is missing, start Redis and FerretDB, build, and run the daemon with its dashboard"
	@echo "make test   - every check and test: fmt, clippy, Rust unit and integration tests, client lint/typecheck/tests, browser tests"
	@echo "make bench  - benchmarks: ingestion, pipeline, job index memory, WebSocket fan-out, reads at 1,000,000 runs and jobs (results go to BENCHMARKS.md by hand)"
	@echo "make soak   - fault-injection soak: 200 random scenarios against the release build (SEED=<n> replays one)"

install:
	@scripts/install.sh

services: install
	@scripts/services.sh start

services-stop:
	@scripts/services.sh stop

client: install
	@cd client && npm run build --silent

build-release:
	$(CARGO) build --release --locked

# The `local` profile (Cargo.toml): release optimisation, built sooner.
build-run:
	$(CARGO) build --profile local --locked --bin job-importer

run: install client build-run
	@eval "$$(scripts/services.sh start)" && exec "$(CARGO_TARGET_DIR)/local/job-importer" serve

test:
	@scripts/install.sh --browser
	@scripts/test.sh

test-rust: install
	@scripts/test.sh rust

test-client: install
	@scripts/test.sh client

test-browser: install
	@scripts/test.sh browser

# SOAK_SCENARIOS (default 200), SOAK_FIRST_SEED (default: from the clock), SEED=<n> (one scenario).
soak: install
	SOAK_SCENARIOS=$${SOAK_SCENARIOS:-200} SOAK_FIRST_SEED=$${SOAK_FIRST_SEED:-$$(date +%s)} \
	  $(if $(SEED),SEED=$(SEED)) $(CARGO) test --release --locked --test soak

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	cd client && npm run lint && npm run typecheck

fmt:
	$(CARGO) fmt --all

bench: install
	@scripts/bench.sh

clean:
	rm -rf client/dist artifacts
