# The two commands of the README: `make demo` and `make test`.
CARGO ?= cargo
CONFIGS := $(wildcard config/trinity.yaml config/demo.yaml config/compose.yaml)

.PHONY: demo test deps test-deps build check-configs lint fmt

deps:
	@scripts/ensure-deps.sh build

test-deps:
	@scripts/ensure-deps.sh test

build: deps
	$(CARGO) build --bin trinity-proxy

demo: build
	$(CARGO) run --bin trinity-proxy -- demo

## Every test of the workspace, then `--check` on every shipped proxy config.
test: test-deps
	$(CARGO) nextest run --workspace --no-fail-fast
	$(MAKE) --no-print-directory check-configs

check-configs:
	@for f in $(CONFIGS); do \
		printf '%s: ' "$$f"; $(CARGO) run -q --bin trinity-proxy -- --config "$$f" --check || exit 1; \
	done

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
