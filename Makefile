# The two commands of the README: `make demo` and `make test`.
CARGO ?= cargo
CONFIGS := $(wildcard config/trinity.yaml config/demo.yaml config/compose.yaml)

SOAK_MINUTES ?= 30
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := normalize request_head chunked_body client_ip config route

.PHONY: demo test deps soak fuzz test-deps build check-configs lint fmt k8s check-deploy schema screenshot

deps:
	@scripts/ensure-deps.sh build

test-deps:
	@scripts/ensure-deps.sh test

build: deps
	$(CARGO) build --bin trinity-proxy

demo: build
	$(CARGO) run --bin trinity-proxy -- demo

## Every test of the workspace, then a 2-minute soak on its own (it loads the machine), then
## `--check` on every shipped proxy config.
test: test-deps
	$(CARGO) nextest run --workspace --no-fail-fast -E 'not binary(soak)'
	SOAK_MINUTES=2 $(CARGO) nextest run -p trinity-proxy --features heap-stats --test soak --no-capture
	$(MAKE) --no-print-directory check-configs
	$(MAKE) --no-print-directory check-deploy

check-configs:
	@for f in $(CONFIGS); do \
		printf '%s: ' "$$f"; $(CARGO) run -q --bin trinity-proxy -- --config "$$f" --check || exit 1; \
	done

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p trinity-proxy --features heap-stats --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Regenerate the config files' JSON Schemas (tests fail when the committed ones are stale).
schema:
	$(CARGO) run -q --bin trinity-proxy -- schema > config/trinity-proxy.schema.json
	$(CARGO) run -q -p trinity-deploy -- schema > config/stack.schema.json

## The README's status page picture: stand-ins behind the proxy, 2 minutes of traffic (SCREENSHOT_SECONDS=N changes it), then headless
## Chromium (proxy/tests/screenshot.rs) -> docs/status-page.png.
screenshot: test-deps
	mkdir -p docs
	SCREENSHOT=$(CURDIR)/docs/status-page.png $(CARGO) nextest run -p trinity-proxy --test screenshot --run-ignored only

## Regenerate k8s/ from config/stack.yaml.
k8s:
	$(CARGO) run -q -p trinity-deploy -- render --values config/stack.yaml --out k8s

## k8s/ equals `trinity-deploy render`; the stack validates; the Dockerfiles pass hadolint.
check-deploy:
	@tmp=$$(mktemp -d) && $(CARGO) run -q -p trinity-deploy -- render --values config/stack.yaml --out "$$tmp" \
		&& diff -r k8s "$$tmp" && rm -rf "$$tmp" && echo "k8s/: up to date" \
		|| { echo "k8s/ differs from trinity-deploy render: run 'make k8s'"; exit 1; }
	$(CARGO) run -q -p trinity-deploy -- validate --values config/stack.yaml
	hadolint docker/*.Dockerfile

## Benchmarks: figures, never pass/fail. Criterion micro-benchmarks of the hot path, then the load
## harness (trinity-proxy vs nginx vs HAProxy; installs nginx, haproxy, wrk) -> benches/RESULTS.md.
## Options for benches/load/run.py go in BENCH_ARGS, e.g. BENCH_ARGS="--perf --wait-quiet 600".
BENCH_TARGET_DIR = $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
BENCH_ARGS ?=
.PHONY: bench bench-check
bench: deps
	$(CARGO) bench -p trinity-benches -- --warm-up-time 1 --measurement-time 3
	$(CARGO) build --release -p trinity-proxy
	python3 benches/load/run.py --trinity $(BENCH_TARGET_DIR)/release/trinity-proxy --health \
		--criterion-dir $(BENCH_TARGET_DIR)/criterion $(BENCH_ARGS)

## Type-checks the benchmarks without building or running them (for CI; the bench profile is a full LTO release build).
bench-check: deps
	$(CARGO) check --benches -p trinity-benches

## The soak on the release build: SOAK_MINUTES (default 30) of mixed load through reloads, killed and hung
## replicas; fails on an error retries should absorb or on a leak; writes benches/SOAK.md and benches/soak.png.
soak: test-deps
	@python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install -q matplotlib
	SOAK_MINUTES=$(SOAK_MINUTES) SOAK_OUT=$(BENCH_TARGET_DIR)/soak $(CARGO) test --release -p trinity-proxy --features heap-stats --test soak -- --nocapture
	python3 benches/soak/report.py $(BENCH_TARGET_DIR)/soak/soak.json benches/SOAK.md benches/soak.png

## libFuzzer on each parser for FUZZ_SECONDS (default 60); not in CI. A crash is saved under
## fuzz/artifacts/TARGET/ and becomes a regression test.
fuzz: deps
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		cargo fuzz run --sanitizer none --target-dir $(BENCH_TARGET_DIR)/fuzz $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done
