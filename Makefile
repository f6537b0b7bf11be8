# hailo-device-plugin: the targets operators and developers use.
# `make help` lists them.

BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.DEFAULT_GOAL := help
.PHONY: help deps build test test-unit test-asan test-tsan demo bench fuzz format clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-24s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## Install the Debian packages needed to build and test (as root)
	@scripts/install-deps.sh test

$(BUILD_DIR)/build.ninja $(BUILD_DIR)/Makefile:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: ## Build the daemon at build/hailo-device-plugin (installs build deps)
	@scripts/install-deps.sh build
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: ## Install deps, build and run every test (the README's test command)
	@scripts/install-deps.sh test
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j $(JOBS)
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# Sanitizer builds: -O0 (the default), and line tables only (-g1: enough for the reports'
# stack traces, and much quicker to compile and link than full debug info).
SANITIZER_BUILD = -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DHDP_BUILD_BENCH=OFF

test-asan: ## Run the tests under AddressSanitizer + UndefinedBehaviorSanitizer
	@scripts/install-deps.sh test
	$(MAKE) --no-print-directory test BUILD_DIR=build-asan \
	  CMAKE_FLAGS="-DHDP_SANITIZE=address,undefined $(SANITIZER_BUILD)"

test-tsan: ## Run the tests under ThreadSanitizer
	@scripts/install-deps.sh test
	TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
	  $(MAKE) --no-print-directory test BUILD_DIR=build-tsan \
	  CMAKE_FLAGS="-DHDP_SANITIZE=thread $(SANITIZER_BUILD)"

demo: ## Run the daemon against a simulated node and kubelet (no cluster, no card)
	@scripts/install-deps.sh demo
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target hailo-device-plugin kubelet-sim
	@scripts/demo.sh $(BUILD_DIR)

format: ## Rewrite every C++ file as clang-format (.clang-format) writes it
	find src include tests tools bench fuzz -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean: ## Remove the build directories
	rm -rf build build-asan build-tsan build-fuzz build-bench

-include mk/*.mk
