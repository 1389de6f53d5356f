# Front door for building, running and testing.
#
# On machines without access to the V8 download, a prebuilt V8 library for
# the pinned `v8` crate may sit in ../shared/v8; it is used when present.
# Elsewhere the crate downloads its usual prebuilt library.

SHARED_V8 := $(abspath $(CURDIR)/../shared/v8)
ifneq ($(wildcard $(SHARED_V8)/src_binding_release_x86_64-unknown-linux-gnu.rs),)
export RUSTY_V8_ARCHIVE ?= $(SHARED_V8)
endif

CARGO ?= cargo

.PHONY: serve render build release test setup lint fmt bench report clean

## serve: run the HTTP render service on 127.0.0.1:3000 with the example app
serve:
	$(CARGO) run --release -p ssr-api --bin ssr-pool -- serve $(ARGS)

## render: render the example app's main page to stdout
render:
	$(CARGO) run --release -p ssr-api --bin ssr-pool -- render $(ARGS)

build:
	$(CARGO) build --workspace --all-targets

release:
	$(CARGO) build --release -p ssr-api

## setup: install the npm packages the tests need and build the fixture bundles
setup:
	tests/setup.sh

## test: the whole test suite (the runtime's Web APIs, Rust, then the Node client, the Hypernova parity test and the deployment checks against the built server), as CI runs it
test: setup
	cd pool/js && npm test
	$(CARGO) test --workspace
	cd clients/node && SSR_POOL_BIN="$(CURDIR)/target/debug/ssr-pool" npm test
	cd tests/hypernova && SSR_POOL_BIN="$(CURDIR)/target/debug/ssr-pool" npm test
	SSR_POOL_BIN="$(CURDIR)/target/debug/ssr-pool" deploy/test/run.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## bench: the benchmarks of loadtest/ (ARGS=pool|semi-space|fresh-context|code-cache|hostile|suspense|fetch|gc|versions --baseline BIN)
bench: setup
	$(CARGO) build --release -p ssr-api -p loadtest
	./target/release/ssr-bench $(or $(ARGS),pool)

## report: the HTTP load test against the Node baselines (cluster, isolated-vm); writes loadtest/out/report.md
report: setup
	loadtest/node/setup.sh
	$(CARGO) build --release -p ssr-api -p loadtest
	./target/release/ssr-bench report $(ARGS)

clean:
	$(CARGO) clean
