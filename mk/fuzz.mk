# The libFuzzer targets, all built and run by the generic rules below: the
# modules' own (kms, config, creds, policy: their mk/*.mk add the name to
# FUZZERS and, where the seeds are made, a rule for $(FUZZ_DIR)/NAME-seed)
# and these, over the inputs no single module owns (profile resolution,
# durations/ARNs, alert and outbox files, key state files, the YAML layer,
# the request head a client sends to http.listen).
#
#   make fuzz [FUZZ_LONG_SECONDS=600]   every target, one after the other
#   make fuzz-yaml FUZZ_SECONDS=300     one target
#
# `make check` runs each for $(FUZZ_SMOKE_SECONDS) (fuzz-smoke-NAME).
# Seeds: tests/fuzz/corpus/NAME (read only; kept regressions go there too)
# and $(FUZZ_DIR)/NAME-seed when a rule makes one; a dictionary:
# tests/fuzz/NAME.dict.  New inputs go to $(FUZZ_DIR)/NAME-corpus; a crash
# leaves $(FUZZ_DIR)/NAME-crash-*: fix it and keep the input in
# tests/fuzz/corpus/NAME/ so that every smoke run replays it.
DEBS		+= clang-14 libclang-rt-14-dev

FUZZ_LONG_SECONDS	?= 60
FUZZ_SMOKE_SECONDS	?= 5
FUZZERS		+= profile scalar alert state yaml httphead
FUZZ_SMOKE	+= $(FUZZERS:%=fuzz-smoke-%)
# Inputs longer than 64 KiB where a parser takes them (a part sets
# FUZZ_MAX_LEN_NAME).
FUZZ_MAX_LEN	= 65536

FUZZ_OBJDIR	= $(FUZZ_DIR)/obj
# The library compiled by clang with the fuzzer's coverage and sanitizers,
# apart from the gcc build.
FUZZ_CFLAGS	= -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
		  -fno-omit-frame-pointer -fno-sanitize-recover=all -iquote lib \
		  -DKEYHEALTHD_VERSION='"$(VERSION)"'
FUZZ_LIBOBJS	= $(LIB_SRCS:%.c=$(FUZZ_OBJDIR)/%.o)
FUZZ_LIB	= $(FUZZ_DIR)/libkeyhealthd-fuzz.a

.PHONY: fuzz

$(FUZZ_OBJDIR)/%.o: %.c $(wildcard lib/*.h)
	@mkdir -p $(@D)
	@echo "  CLANG   $<"
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	    $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIBOBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(FUZZ_DIR)/%_fuzzer: tests/fuzz/%_fuzzer.c $(FUZZ_LIB)
	@echo "  FUZZER  $@"
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    $(PKG_CFLAGS) -o $@ $< $(FUZZ_LIB) $(PKG_LIBS) -lm

# One run: $(1) target, $(2) seconds; prints the executions.
define fuzz_run
	@mkdir -p $(FUZZ_DIR)/$(1)-corpus
	@rc=0; dict=; [ -f tests/fuzz/$(1).dict ] && dict=-dict=tests/fuzz/$(1).dict; \
	seeds=; for d in $(FUZZ_DIR)/$(1)-seed tests/fuzz/corpus/$(1); do \
	    [ -d $$d ] && seeds="$$seeds $$d"; done; \
	$(FUZZ_DIR)/$(1)_fuzzer -max_total_time=$(2) \
	    -max_len=$(or $(FUZZ_MAX_LEN_$(1)),$(FUZZ_MAX_LEN)) \
	    -timeout=10 -rss_limit_mb=2048 $$dict \
	    -artifact_prefix=$(FUZZ_DIR)/$(1)-crash- -print_final_stats=1 \
	    $(FUZZ_DIR)/$(1)-corpus $$seeds \
	    >$(FUZZ_DIR)/$(1)-fuzz.log 2>&1 || rc=$$?; \
	if [ $$rc != 0 ]; then tail -n 60 $(FUZZ_DIR)/$(1)-fuzz.log; \
	    echo "fuzz-$(1): FAILED (log: $(FUZZ_DIR)/$(1)-fuzz.log)"; \
	    exit $$rc; fi; \
	echo "fuzz-$(1): $$(sed -n 's/^stat::number_of_executed_units: //p' \
	    $(FUZZ_DIR)/$(1)-fuzz.log) runs in $(2)s, no crash"
endef

# Pattern rules (not .PHONY, which would turn implicit rules off for them)
# so that parts read after this file can add fuzzers; a part's seed rule
# joins as an extra prerequisite of fuzz-NAME and fuzz-smoke-NAME.
fuzz-smoke-%: $(FUZZ_DIR)/%_fuzzer
	$(call fuzz_run,$*,$(FUZZ_SMOKE_SECONDS))

fuzz-%: $(FUZZ_DIR)/%_fuzzer
	$(call fuzz_run,$*,$(FUZZ_SECONDS))

fuzz:
	@for t in $(FUZZERS); do \
	    $(MAKE) --no-print-directory fuzz-$$t \
	    FUZZ_SECONDS=$(FUZZ_LONG_SECONDS) || exit 1; done
