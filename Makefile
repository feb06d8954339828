# Thin wrapper over scripts/: every target is one script or one cargo command.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CLUSTER_KUBECONFIG = $(shell scripts/cluster-up.sh | tail -n 1)
FLEET_KUBECONFIG = $(shell scripts/fleet-up.sh | tail -n 1)

.PHONY: help deps build release testbed bed-cache clean-bed-cache cluster-up cluster-down fleet-up fleet-down seeds demo test lint lint-code deny unit e2e test-load test-compat reliability krew store-check dist bench bench-watch recording fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

deps: ## install what a fresh machine lacks
	@scripts/install-deps.sh

build: deps ## debug build of the plugin
	cargo build

release: deps ## release build of the plugin (target/release/kubectl-secrets)
	cargo build --release

testbed: deps ## build (or reuse) the test bed's binaries in the per-user store (cold: ~12 min)
	@scripts/build-testbed.sh

bed-cache: ## list the per-user store of built bed components and their sizes
	@scripts/bed-cache.sh list

clean-bed-cache: ## remove the per-user store (everything is built again on next use)
	@scripts/bed-cache.sh clean

cluster-up: deps ## start the local cluster; last line is the admin kubeconfig
	@scripts/cluster-up.sh

cluster-down: ## stop the local cluster and remove its state
	@scripts/cluster-down.sh

fleet-up: deps testbed ## start three more local clusters for fleet mode; last line is a kubeconfig with contexts bed-0..bed-2
	@scripts/fleet-up.sh

fleet-down: ## stop the fleet's clusters and remove their state
	@scripts/fleet-down.sh

seeds: cluster-up ## (re)load the seed runbooks' scenarios
	@scripts/load-seeds.sh "$(CLUSTER_KUBECONFIG)"

demo: release testbed ## build everything, load the scenarios, show the plugin working
	@scripts/demo.sh

test: deps ## everything CI runs: fmt, clippy, cargo deny, unit and CLI tests, e2e and load on the local cluster, the e2e subset on older Kubernetes releases, krew install, the store's checks, docs/reliability.md; ends with a table of the steps
	@scripts/test.sh

lint: lint-code deny

lint-code: deps
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

deny: deps ## the dependency policy with cargo-deny: licences, bans, sources, advisories (RustSec snapshot)
	@scripts/deny.sh

# Test logs are kept in target/reliability for docs/reliability.md.
unit: deps
	@mkdir -p target/reliability
	set -o pipefail; cargo test --lib --bins --test cli --test engine 2>&1 | tee target/reliability/unit.log

# The tests compile first: on a new machine while the bed still builds beside them (make test).
e2e: deps
	@mkdir -p target/reliability && rm -f target/reliability/faults.jsonl
	cargo test --test e2e --no-run
	set -o pipefail; cluster=$$(scripts/cluster-up.sh | tail -n 1); fleet=$$(scripts/fleet-up.sh | tail -n 1); \
	  [ -n "$$cluster" ] && [ -n "$$fleet" ] || { echo "e2e: the local clusters did not start (see above)" >&2; scripts/fleet-down.sh; exit 1; }; \
	  KUBECTL_SECRETS_E2E_KUBECONFIG="$$cluster" KUBECTL_SECRETS_E2E_FLEET="$$fleet" \
	  cargo test --test e2e -- --test-threads 4 2>&1 | tee target/reliability/e2e.log; status=$$?; \
	  scripts/fleet-down.sh; exit $$status

test-load: deps testbed ## verify/list over 5,000 pods and rotate with 50 consumers on the local cluster (checks, not timings)
	@scripts/test-load.sh

test-compat: deps testbed ## the e2e subset against each older Kubernetes release in scripts/versions.env (its own bed beside the main one)
	@scripts/test-compat.sh

store-check: ## the per-user store's guarantees: one build for two runs at once, tampered entries rebuilt
	@scripts/test-store.sh

reliability: ## write docs/reliability.md from the last unit, e2e and load runs
	@python3 scripts/reliability-report.py

krew: deps testbed ## validate the krew manifest with krew's validator and install the plugin with krew
	@scripts/test-krew.sh

bench: deps testbed ## benchmarks against kubectl scripts and the floors on the local cluster -> bench/results.md and charts (takes ~50 min after its release build)
	@bench/run.sh

bench-watch: deps testbed ## verify --watch's memory over an hour of churn on the local cluster (BENCH_WATCH_MINUTES, 60) -> bench/watch-memory.md
	@cargo build --release --bin kubectl-secrets
	@export KUBECONFIG=$$(scripts/cluster-up.sh | tail -n 1) PATH="$$(scripts/build-testbed.sh):$$PATH"; \
	  bench/watch-memory.sh bench/out && python3 bench/watch-report.py bench/out/watch-memory.tsv bench/watch-memory.md "$$(git rev-parse --short HEAD)"

recording: deps testbed ## record verify -> rotate -> verify, and a rotation picked from lists, on the local cluster -> docs/rotate.svg, docs/pick.svg (the README's recordings)
	@scripts/record-rotate.sh

dist: deps ## release archive for this platform + dist/secrets.yaml (krew manifest with its sha256)
	@scripts/dist.sh

fmt:
	cargo fmt --all

clean: cluster-down fleet-down ## stop the clusters, remove build output (keeps the per-user store: make clean-bed-cache)
	cargo clean
