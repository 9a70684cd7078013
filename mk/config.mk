# lib/config: the configuration file's libFuzzer target.  `make fuzz-config`
# runs it for $(FUZZ_SECONDS) seconds (a smoke run in `make check`); the
# corpus grows in build/fuzz/config-corpus, seeded from tests/config and
# the example; a crash leaves build/fuzz/config-crash-* to keep as a test.
DEBS		+= clang-14 libclang-rt-14-dev
FUZZ_SMOKE	+= fuzz-config

CONFIG_FUZZ_DIR	= build/fuzz
CONFIG_FUZZ_CFLAGS	= -std=c11 -D_GNU_SOURCE -g -O1 -Ilib \
		  -fsanitize=fuzzer,address,undefined \
		  -fno-sanitize-recover=all -fno-omit-frame-pointer
CONFIG_FUZZ_SRCS = tests/fuzz/config_fuzzer.c lib/config.c lib/duration.c \
		  lib/ynode.c lib/arn.c lib/vendor.c lib/finding.c lib/endpoint.c \
		  lib/policy.c lib/catalog.c

.PHONY: fuzz-config

$(CONFIG_FUZZ_DIR)/config_fuzzer: $(CONFIG_FUZZ_SRCS) $(wildcard lib/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(CONFIG_FUZZ_CFLAGS) \
	    $(shell pkg-config --cflags jansson yaml-0.1 libcurl) \
	    -o $@ $(CONFIG_FUZZ_SRCS) \
	    $(shell pkg-config --libs jansson yaml-0.1 libcurl)

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
