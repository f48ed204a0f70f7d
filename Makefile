# The two commands of the README's set-up, plus a few conveniences.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build run cluster test test-sanitize test-fuzz bench \
        bench-smoke format clean

all: build

deps:
	@scripts/install-deps

# Unity builds (top-level CMakeLists.txt): CI builds two trees cold.
$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_UNITY_BUILD=ON

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

# `make run` and `make cluster` build only the cartd binary (not the tests
# and benchmarks `make build` compiles too) and show the output of the
# dependency check, CMake and the compiler only if one of them fails (it is
# kept in $(BUILD_DIR)/make-run.log), so the node's log starts the output.
# A first build says so in one line: it takes a few minutes.
RUN_LOG = $(BUILD_DIR)/make-run.log
define quiet_build_cartd
	@mkdir -p $(BUILD_DIR)
	@if [ ! -x $(BUILD_DIR)/bin/cartd ]; then \
	  echo "make: building $(BUILD_DIR)/bin/cartd (a few minutes; output in $(RUN_LOG))" >&2; \
	fi
	@{ scripts/install-deps && \
	   { [ -f $(BUILD_DIR)/CMakeCache.txt ] || \
	     cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release; } && \
	   cmake --build $(BUILD_DIR) -j $(JOBS) --target cartd; \
	 } >$(RUN_LOG) 2>&1 || { cat $(RUN_LOG) >&2; exit 1; }
endef

# One node on 127.0.0.1:8080 in the foreground; extra flags via ARGS="...".
run:
	$(quiet_build_cartd)
	@$(BUILD_DIR)/bin/cartd $(ARGS)

# A throwaway local cluster in the foreground: PostgreSQL, N nodes (default
# 3) and nginx in front on 127.0.0.1:8080 (scripts/cluster); Ctrl-C stops
# everything. Extra cartd flags via ARGS="...". `make cluster TLS=1`: mutual
# TLS between the nodes and HTTPS at nginx, on throwaway certificates.
N ?= 3
TLS ?= 0
cluster:
	$(quiet_build_cartd)
	@N=$(N) TLS=$(TLS) CARTD=$(BUILD_DIR)/bin/cartd scripts/cluster $(ARGS)

# The Release suite, the same suite under ASan + UBSan, then the libFuzzer
# harnesses. Each stage prints when it ends (the CI log's timings).
STAGE_DONE = @echo "make test: $(1) done at $$(date -u +%T) UTC"
test: build
	$(call STAGE_DONE,Release build)
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	$(call STAGE_DONE,Release suite)
	$(MAKE) test-sanitize
	$(MAKE) test-fuzz
	$(call STAGE_DONE,fuzzing)

# The libFuzzer harnesses of tests/fuzz, built with clang-14 in build-fuzz/,
# each run for FUZZ_SECONDS (default 60), two at a time (scripts/fuzz).
test-fuzz: deps
	scripts/fuzz

# The whole CTest suite built with ASan + UBSan (g++, -O0 -g1, assertions on;
# cmake/cartd_sanitize.cmake) in its own build directory. The sanitizers'
# options are CTest properties, so a plain `ctest` in $(SANITIZE_DIR) uses
# them too; tests/sanitize/ holds the suppressions and the report check.
# The e2e suites' drivers are the Release tree's, run against this tree's
# instrumented cartd (CARTD_E2E_DRIVERS, tests/e2e/CMakeLists.txt), so the
# Release tree is built first.
SANITIZE_DIR ?= build-sanitize

$(SANITIZE_DIR)/CMakeCache.txt:
	cmake -S . -B $(SANITIZE_DIR) -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_COMPILER=g++ -DCARTD_SANITIZE=ON -DCMAKE_UNITY_BUILD=ON \
	  -DCARTD_E2E_DRIVERS=$(abspath $(BUILD_DIR))/bin

test-sanitize: build $(SANITIZE_DIR)/CMakeCache.txt
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	$(call STAGE_DONE,sanitizer build)
	cd $(SANITIZE_DIR) && ctest --output-on-failure -j $(JOBS)
	$(call STAGE_DONE,sanitizer suite)

# Benchmarks (bench/README.md): cartd against nginx and the Flask seed service
# with wrk, microbenchmarks, memory per cart; about 15 minutes. Results go to
# bench/results/<date>-<host>.{md,json,png}; extra flags via BENCH_ARGS="...".
bench: build
	python3 bench/run.py --bin-dir $(BUILD_DIR)/bin $(BENCH_ARGS)

# The harness's few-second smoke run (what CTest's bench_smoke runs).
bench-smoke: build
	python3 bench/run.py --quick --bin-dir $(BUILD_DIR)/bin \
	  --out $(BUILD_DIR)/bench/smoke-results

# Rewrites every C++ file to the repository's .clang-format (CTest's `format`
# test fails on any file that differs).
format:
	scripts/check-format --fix

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR)
