# Sluice: the two commands a new user needs are `make demo` and `make test`.
# Both install what is missing (scripts/install-deps), then build.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
CTEST_JOBS ?= 2
FUZZ_SECONDS ?= 15
# ccache keys on paths relative to the checkout, so every clone (CI's included) shares one cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true
# The tests share one precompiled <catch2/catch.hpp>; ccache caches its users only with these.
export CCACHE_SLOPPINESS := pch_defines,time_macros,include_file_mtime,include_file_ctime

.PHONY: all deps peers build build-debug demo demo-stream demo-kafka test test-unit sim-long fuzz fuzz-run fuzz-long bench lint-examples format clean

all: build

deps:
	@scripts/install-deps

## The real test peers Debian lacks (Kubernetes control plane, Gateway API CRDs, Kafka), built once
## from the Go module proxy and Maven Central and cached by version outside the build tree
## (${SLUICE_PEERS_DIR:-~/.cache/sluice/peers}). Cached, it takes well under a second.
peers: deps
	@scripts/peers

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

build-debug: deps
	@cmake --preset debug >/dev/null
	@cmake --build --preset debug -j $(JOBS)

## The main job: a narrated GitOps rollout on the embedded default. It builds only what it runs.
DEMO_TARGETS := sluice orders-api orders-load orders-worker
demo: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target $(DEMO_TARGETS)
	@scripts/demo

demo-stream: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target $(DEMO_TARGETS)
	@scripts/demo --stream

## The same story for a Kafka consumer: a KRaft broker on loopback from the peers cache,
## orders-stream rolled out by canary by replica ratio, every order audited (0 lost or it fails).
## Only the Kafka peer (a Maven fetch of about a minute cold), not the Kubernetes build.
demo-kafka: deps
	@scripts/peers kafka
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target sluice orders-stream orders-load
	@scripts/demo-kafka

## Every test (unit, integration, simulation, e2e, dashboard) under ASan+UBSan, then the fuzzers briefly.
## The long simulation (label sim-long) is left to `make sim-long`.
test: peers build-debug
	@cd build-debug && ctest -j $(CTEST_JOBS) -LE sim-long --output-on-failure --timeout 600
	@$(MAKE) --no-print-directory fuzz-run

test-unit: build-debug
	@cd build-debug && ctest -j $(CTEST_JOBS) -L unit --output-on-failure

## 100,000 more simulation seeds (release build, so it is quick); failing seeds print themselves.
sim-long: build
	@cd build && ctest -j $(CTEST_JOBS) -L sim-long --output-on-failure --timeout 3600

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS) --target fuzzers

fuzz-run: fuzz
	@scripts/run-fuzzers build-fuzz $(FUZZ_SECONDS)

## Every fuzzer for 10 minutes, growing the corpus kept in build-fuzz/corpus (5 targets: 50 minutes).
fuzz-long: fuzz
	@scripts/run-fuzzers build-fuzz 600

## The Kafka benchmarks run a real broker: only the Kafka peer is fetched, not the Kubernetes build.
bench: build
	@scripts/peers kafka
	@scripts/bench

lint-examples: build
	@build/bin/sluice lint examples/

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build build-debug build-tsan build-fuzz
