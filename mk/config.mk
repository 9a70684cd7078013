# lib/config: the configuration file's libFuzzer target (make fuzz-config
# [FUZZ_SECONDS=N], built and run by mk/fuzz.mk's generic rules; it links
# the whole library, lib/config reaching lib/notify for notifiers:),
# seeded from tests/config and the example.
DEBS		+= clang-14 libclang-rt-14-dev
FUZZERS		+= config

CONFIG_FUZZ_SEEDS = $(wildcard tests/config/golden/*.yaml) \
		  $(wildcard tests/config/bad/*.yaml) conf/keyhealthd.yaml

fuzz-config fuzz-smoke-config: $(FUZZ_DIR)/config-seed/.stamp
$(FUZZ_DIR)/config-seed/.stamp: $(CONFIG_FUZZ_SEEDS)
	@rm -rf $(@D) && mkdir -p $(@D)
	@cp $(CONFIG_FUZZ_SEEDS) $(@D)/
	@touch $@
