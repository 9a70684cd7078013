# lib/config: the configuration file's libFuzzer target.  `make fuzz-config`
# runs it for $(FUZZ_SECONDS) seconds (a smoke run in `make check`); the
# corpus grows in build/fuzz/config-corpus, seeded from tests/config and
# the example; a crash leaves build/fuzz/config-crash-* to keep as a test.
DEBS		+= clang-14 libclang-rt-14-dev
FUZZ_SMOKE	+= fuzz-config

# lib/config reaches lib/notify (the notifiers: section): the fuzzer links
# the whole library, built by mk/fuzz.mk's generic rule.
CONFIG_FUZZ_DIR	= build/fuzz

.PHONY: fuzz-config

fuzz-config: $(CONFIG_FUZZ_DIR)/config_fuzzer
	@mkdir -p $(CONFIG_FUZZ_DIR)/config-corpus
	@cp -n tests/config/golden/*.yaml tests/config/bad/*.yaml \
	    conf/keyhealthd.yaml $(CONFIG_FUZZ_DIR)/config-corpus/ 2>/dev/null; true
	@rc=0; $(CONFIG_FUZZ_DIR)/config_fuzzer -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	    -dict=tests/fuzz/config.dict \
	    -artifact_prefix=$(CONFIG_FUZZ_DIR)/config-crash- \
	    -print_final_stats=1 $(CONFIG_FUZZ_DIR)/config-corpus \
	    >$(CONFIG_FUZZ_DIR)/config-fuzz.log 2>&1 || rc=$$?; \
	if [ $$rc != 0 ]; then tail -n 60 $(CONFIG_FUZZ_DIR)/config-fuzz.log; \
	    echo "fuzz-config: FAILED (log: $(CONFIG_FUZZ_DIR)/config-fuzz.log)"; \
	    exit $$rc; fi; \
	echo "fuzz-config: $$(sed -n 's/^stat::number_of_executed_units: //p' \
	    $(CONFIG_FUZZ_DIR)/config-fuzz.log) runs in $(FUZZ_SECONDS)s, no crash"
