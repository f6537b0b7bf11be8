# The benchmark (included by the main Makefile); see docs/benchmark.md.
# Variables: BENCH_DIR (build directory, Release), BENCH_ARGS (e.g.
# "--idle-seconds 10"), BENCH_STATIC (ON: link the daemon with -DHDP_STATIC_LINK=ON),
# BENCH_CMAKE_FLAGS (more cmake flags).

BENCH_DIR ?= build-bench
BENCH_ARGS ?=
BENCH_STATIC ?= OFF
BENCH_CMAKE_FLAGS ?=

bench: ## Run the benchmark and print its figures
	@scripts/install-deps.sh build
	cmake -S . -B $(BENCH_DIR) -DCMAKE_BUILD_TYPE=Release -DHDP_BUILD_TESTS=OFF \
	  -DHDP_STATIC_LINK=$(BENCH_STATIC) $(BENCH_CMAKE_FLAGS)
	cmake --build $(BENCH_DIR) -j $(JOBS) --target hdp-bench hailo-device-plugin
	$(BENCH_DIR)/hdp-bench --json $(BENCH_DIR)/bench.json $(BENCH_ARGS)
	@echo "bench: figures also in $(BENCH_DIR)/bench.json"
