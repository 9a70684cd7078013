# The benchmark (tests/bench): keyhealthd against a boto3 polling loop and
# a minimal C floor, side by side in one run.  Not part of `make check`.
#
#   make bench                      100, 1,000 and 10,000 keys (~10 min)
#   make bench BENCH_KEYS=100,5000  other sizes
#   make bench BENCH_QUICK=1        100 and 1,000 keys, shorter latency run
#
# Figures go to stdout and build/bench/results.{json,md}.
BENCH_KEYS	?=
BENCH_QUICK	?=
BENCH_DIR	= $(BUILD)/bench
# tests/integration/test_loop.py watches the daemon's threads with it.
DEBS		+= strace

.PHONY: bench

$(BENCH_DIR)/floor: tests/bench/floor.c $(LIBKH)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LIBKH) $(PKG_LIBS) -lm

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_DIR)/floor
	$(PYTHON) tests/bench/bench.py --bin $(BUILD)/keyhealthd \
	    --floor $(BENCH_DIR)/floor --out $(BENCH_DIR) \
	    $(if $(BENCH_KEYS),--keys $(BENCH_KEYS)) \
	    $(if $(filter 1 yes true,$(BENCH_QUICK)),--quick)
