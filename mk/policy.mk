# lib/policy: libFuzzer target (clang-14, ASan+UBSan).
# `make fuzz-policy` builds build/fuzz/policy_fuzzer and runs it for
# $(FUZZ_SECONDS) seconds on a corpus seeded from tests/policy/cases.

# Keep whatever default goal the Makefile has: this file only adds targets.
_policy_mk_goal := $(.DEFAULT_GOAL)

FUZZ_SECONDS ?= 10
FUZZ_SMOKE += fuzz-policy
DEBS += clang-14

# Built by mk/fuzz.mk's generic rule (its RFUZZ_DIR, spelt out because
# this file is read before mk/fuzz.mk).
POLICY_FUZZ_BIN := build/fuzz/policy_fuzzer
POLICY_FUZZ_SEED := build/fuzz/policy-seed
POLICY_FUZZ_CORPUS := build/fuzz/policy-corpus

# One seed per table case: the policy text itself, not the case wrapper.
$(POLICY_FUZZ_SEED)/.stamp: $(wildcard tests/policy/cases/*.json)
	@rm -rf $(POLICY_FUZZ_SEED) && mkdir -p $(POLICY_FUZZ_SEED)
	$(PYTHON) -c 'import json,sys,os; \
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
