# Reliability: the libFuzzer targets that are not a module's own (profile
# resolution, durations/ARNs, alert and outbox files, key state files, the
# YAML layer, the request head a client sends to http.listen), and
# `make fuzz`, which runs every fuzz target of the tree
# (these and the modules' fuzz-kms, fuzz-config, fuzz-creds, fuzz-policy)
# for $(FUZZ_LONG_SECONDS) each.  `make check` runs each of these for
# $(FUZZ_SMOKE_SECONDS) on its corpus (seeds and kept regressions).
#
#   make fuzz [FUZZ_LONG_SECONDS=600]   every target, one after the other
#   make fuzz-yaml FUZZ_SECONDS=300     one target
#
# New inputs go to build/fuzz/<name>-corpus; a crash leaves
# build/fuzz/<name>-crash-*: fix it and keep the input in
# tests/fuzz/corpus/<name>/ so that every smoke run replays it.
DEBS		+= clang-14 libclang-rt-14-dev

FUZZ_LONG_SECONDS	?= 60
FUZZ_SMOKE_SECONDS	?= 5
RELIAB_FUZZERS	= profile scalar alert state yaml httphead material
FUZZ_SMOKE	+= $(RELIAB_FUZZERS:%=fuzz-smoke-%)
FUZZ_ALL	= fuzz-kms fuzz-config fuzz-creds fuzz-policy \
		  $(RELIAB_FUZZERS:%=fuzz-%)

RFUZZ_DIR	= build/fuzz
RFUZZ_OBJDIR	= $(RFUZZ_DIR)/obj
# The library compiled by clang with the fuzzer's coverage and sanitizers,
# apart from the gcc build.
RFUZZ_CFLAGS	= -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
		  -fno-omit-frame-pointer -fno-sanitize-recover=all -iquote lib \
		  -DKEYHEALTHD_VERSION='"$(VERSION)"'
RFUZZ_LIBOBJS	= $(LIB_SRCS:%.c=$(RFUZZ_OBJDIR)/%.o)
RFUZZ_LIB	= $(RFUZZ_DIR)/libkeyhealthd-fuzz.a

.PHONY: fuzz $(RELIAB_FUZZERS:%=fuzz-%) $(RELIAB_FUZZERS:%=fuzz-smoke-%) \
	fuzz-seeds

$(RFUZZ_OBJDIR)/%.o: %.c $(wildcard lib/*.h)
	@mkdir -p $(@D)
	@echo "  CLANG   $<"
	$(Q)$(CLANG) $(RFUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	    $(PKG_CFLAGS) -c $< -o $@

$(RFUZZ_LIB): $(RFUZZ_LIBOBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(RFUZZ_DIR)/%_fuzzer: tests/fuzz/%_fuzzer.c $(RFUZZ_LIB)
	@echo "  FUZZER  $@"
	$(Q)$(CLANG) $(RFUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    $(PKG_CFLAGS) -o $@ $< $(RFUZZ_LIB) $(PKG_LIBS) -lm

# One run: $(1) target, $(2) seconds.  Seeds (and kept crash inputs) in
# tests/fuzz/corpus/NAME are read only; prints the executions.
define rfuzz_run
	@mkdir -p $(RFUZZ_DIR)/$(1)-corpus
	@rc=0; dict=; [ -f tests/fuzz/$(1).dict ] && dict=-dict=tests/fuzz/$(1).dict; \
	$(RFUZZ_DIR)/$(1)_fuzzer -max_total_time=$(2) -max_len=65536 \
	    -timeout=10 -rss_limit_mb=2048 $$dict \
	    -artifact_prefix=$(RFUZZ_DIR)/$(1)-crash- -print_final_stats=1 \
	    $(RFUZZ_DIR)/$(1)-corpus tests/fuzz/corpus/$(1) \
	    >$(RFUZZ_DIR)/$(1)-fuzz.log 2>&1 || rc=$$?; \
	if [ $$rc != 0 ]; then tail -n 60 $(RFUZZ_DIR)/$(1)-fuzz.log; \
	    echo "fuzz-$(1): FAILED (log: $(RFUZZ_DIR)/$(1)-fuzz.log)"; \
	    exit $$rc; fi; \
	echo "fuzz-$(1): $$(sed -n 's/^stat::number_of_executed_units: //p' \
	    $(RFUZZ_DIR)/$(1)-fuzz.log) runs in $(2)s, no crash"
endef

$(RELIAB_FUZZERS:%=fuzz-%): fuzz-%: $(RFUZZ_DIR)/%_fuzzer
	$(call rfuzz_run,$*,$(FUZZ_SECONDS))

$(RELIAB_FUZZERS:%=fuzz-smoke-%): fuzz-smoke-%: $(RFUZZ_DIR)/%_fuzzer
	$(call rfuzz_run,$*,$(FUZZ_SMOKE_SECONDS))

fuzz:
	@for t in $(FUZZ_ALL); do \
	    $(MAKE) --no-print-directory $$t FUZZ_SECONDS=$(FUZZ_LONG_SECONDS) \
	    || exit 1; done
