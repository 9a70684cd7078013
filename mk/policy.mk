# lib/policy: libFuzzer target (clang-14, ASan+UBSan).
# `make fuzz-policy` builds build/fuzz/policy_fuzzer and runs it for
# $(FUZZ_SECONDS) seconds on a corpus seeded from tests/policy/cases.

# Keep whatever default goal the Makefile has: this file only adds targets.
_policy_mk_goal := $(.DEFAULT_GOAL)

FUZZ_SECONDS ?= 10
FUZZ_SMOKE += fuzz-policy
DEBS += clang-14

POLICY_FUZZ_BIN := build/fuzz/policy_fuzzer
POLICY_FUZZ_SEED := build/fuzz/policy-seed
POLICY_FUZZ_CORPUS := build/fuzz/policy-corpus
POLICY_FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

# The library sources are compiled with clang here, apart from the gcc
# build, so the fuzzer never links gcc-built objects.
$(POLICY_FUZZ_BIN): tests/fuzz/policy_fuzzer.c lib/policy.c lib/policy.h \
		tests/unit/policy_testvendor.h \
		lib/vendor.c lib/vendor.h
	@mkdir -p $(dir $@)
	$(CLANG) $(POLICY_FUZZ_FLAGS) $$(pkg-config --cflags jansson) \
		-o $@ tests/fuzz/policy_fuzzer.c lib/policy.c lib/vendor.c \
		$$(pkg-config --libs jansson)

# One seed per table case: the policy text itself, not the case wrapper.
$(POLICY_FUZZ_SEED)/.stamp: $(wildcard tests/policy/cases/*.json)
	@rm -rf $(POLICY_FUZZ_SEED) && mkdir -p $(POLICY_FUZZ_SEED)
	/usr/bin/python3 -c 'import json,sys,os; \
	[open(os.path.join(sys.argv[1], os.path.basename(f)), "w").write( \
	  c["policy_text"] if "policy_text" in c else json.dumps(c["policy"], indent=1)) \
	 for f in sys.argv[2:] for c in [json.load(open(f))]]' \
		$(POLICY_FUZZ_SEED) $(wildcard tests/policy/cases/*.json)
	@touch $@

.PHONY: fuzz-policy
fuzz-policy: $(POLICY_FUZZ_BIN) $(POLICY_FUZZ_SEED)/.stamp
	@mkdir -p $(POLICY_FUZZ_CORPUS)
	$(POLICY_FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=70000 \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-dict=tests/fuzz/policy.dict \
		-artifact_prefix=build/fuzz/policy- \
		$(POLICY_FUZZ_CORPUS) $(POLICY_FUZZ_SEED)

.DEFAULT_GOAL := $(_policy_mk_goal)
