# lib/policy: libFuzzer target (make fuzz-policy [FUZZ_SECONDS=N], built
# and run by mk/fuzz.mk's generic rules) on seeds made from
# tests/policy/cases.
DEBS		+= clang-14
FUZZERS		+= policy
FUZZ_MAX_LEN_policy = 70000
POLICY_FUZZ_SEED = $(FUZZ_DIR)/policy-seed

# One seed per table case: the policy text itself, not the case wrapper.
fuzz-policy fuzz-smoke-policy: $(POLICY_FUZZ_SEED)/.stamp
$(POLICY_FUZZ_SEED)/.stamp: $(wildcard tests/policy/cases/*.json)
	@rm -rf $(POLICY_FUZZ_SEED) && mkdir -p $(POLICY_FUZZ_SEED)
	$(Q)$(PYTHON) -c 'import json,sys,os; \
	[open(os.path.join(sys.argv[1], os.path.basename(f)), "w").write( \
	  c["policy_text"] if "policy_text" in c else json.dumps(c["policy"], indent=1)) \
	 for f in sys.argv[2:] for c in [json.load(open(f))]]' \
		$(POLICY_FUZZ_SEED) $(wildcard tests/policy/cases/*.json)
	@touch $@
