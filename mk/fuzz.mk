# libFuzzer targets (included by the main Makefile); see fuzz/CMakeLists.txt.
# Variables: FUZZ_SECONDS (per fuzzer), FUZZ_SMOKE_SECONDS (per fuzzer in
# fuzz-smoke), FUZZ_JOBS (fuzzers run at once),
# FUZZ_FLAGS (extra libFuzzer flags), FUZZ_BUILD_DIR, FUZZ_WORK.
#
# Each fuzzer starts from its seeds in fuzz/corpus/<target> (read only) plus
# a scratch corpus in $(FUZZ_WORK)/<target>/corpus that keeps what it finds
# across runs; logs and crash artifacts go next to it. Any crash, leak,
# sanitizer report, timeout or broken invariant fails the run.

FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_JOBS ?= $(JOBS)
FUZZ_FLAGS ?=
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_WORK ?= $(FUZZ_BUILD_DIR)/fuzz-work
FUZZ_TARGETS := $(sort $(notdir $(basename $(wildcard fuzz/*_fuzzer.cc))))

.PHONY: fuzz fuzz-smoke fuzz-build $(addprefix fuzz-run-,$(FUZZ_TARGETS))

fuzz: ## Run every fuzzer for FUZZ_SECONDS each (default 60)
	@scripts/install-deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@echo "fuzz: $(words $(FUZZ_TARGETS)) fuzzers, $(FUZZ_SECONDS) s each, $(FUZZ_JOBS) at a time"
	@$(MAKE) --no-print-directory -k -j $(FUZZ_JOBS) $(addprefix fuzz-run-,$(FUZZ_TARGETS)) || \
	  { echo "fuzz: FAILED (logs and crashing inputs in $(FUZZ_WORK)/<target>/)" >&2; exit 1; }
	@echo "fuzz: all $(words $(FUZZ_TARGETS)) fuzzers passed"

fuzz-smoke: ## Short fuzz round (FUZZ_SMOKE_SECONDS each, default 10)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

# hdp_core is compiled with -fsanitize=fuzzer-no-link so libFuzzer sees its
# coverage; HDP_SANITIZE puts ASan and UBSan on everything. -O1 with line
# tables, asserts kept: quick to build, still fast to run.
fuzz-build:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD_DIR) -DHDP_BUILD_FUZZERS=ON \
	  -DHDP_BUILD_TESTS=OFF -DHDP_SANITIZE=address,undefined \
	  -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target fuzzers

# One fuzzer: its summary line on success, the end of its log on failure.
$(addprefix fuzz-run-,$(FUZZ_TARGETS)): fuzz-run-%:
	@work=$(FUZZ_WORK)/$*; rm -rf $$work/artifacts; mkdir -p $$work/corpus $$work/artifacts; \
	dict=; [ -f fuzz/$*.dict ] && dict=-dict=fuzz/$*.dict; \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(FUZZ_BUILD_DIR)/fuzz/$* $$work/corpus fuzz/corpus/$* $$dict \
	  -max_total_time=$(FUZZ_SECONDS) -timeout=10 -artifact_prefix=$$work/artifacts/ \
	  -print_final_stats=1 $(FUZZ_FLAGS) >$$work/log 2>&1; rc=$$?; \
	done_line=$$(grep -E '^#[0-9]+[[:space:]]+DONE' $$work/log | tail -1); \
	execs=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$work/log); \
	if [ $$rc -ne 0 ]; then \
	  echo "FAIL $*: exit $$rc; last lines of $$work/log:" >&2; tail -40 $$work/log >&2; \
	  ls $$work/artifacts/* >&2 2>/dev/null; exit 1; \
	fi; \
	printf '  %-34s ok  %8s exec/s  %s\n' $* "$$execs" \
	  "$$(echo "$$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+')"
