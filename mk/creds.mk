# lib/creds: libFuzzer target for its parsers (clang-14, ASan+UBSan).
# `make fuzz-creds` builds build/fuzz/creds_fuzzer and runs it for
# $(FUZZ_SECONDS) seconds on a corpus seeded from tests/creds.

# Keep whatever default goal the Makefile has: this file only adds targets.
_creds_mk_goal := $(.DEFAULT_GOAL)

FUZZ_SECONDS ?= 10
FUZZ_SMOKE += fuzz-creds
DEBS += clang-14

# Built by mk/fuzz.mk's generic rule (its RFUZZ_DIR, spelt out because
# this file is read before mk/fuzz.mk).
CREDS_FUZZ_BIN := build/fuzz/creds_fuzzer
CREDS_FUZZ_SEED := build/fuzz/creds-seed
CREDS_FUZZ_CORPUS := build/fuzz/creds-corpus

# The blocking fetcher that creds_get and test_creds drive lib/creds with
# (not part of the daemon's library).
CREDS_BLOCKING_OBJ := $(BUILD)/tests/tools/support/creds_blocking.o
CREDS_BLOCKING_USERS := $(BUILD)/tests/tools/creds_get \
	$(BUILD)/tests/unit/test_creds
$(CREDS_BLOCKING_USERS:%=%.o): CFLAGS += -iquote tests/tools/support

$(BUILD)/tests/tools/creds_get: $(BUILD)/tests/tools/creds_get.o \
		$(CREDS_BLOCKING_OBJ) $(LIBKH)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/unit/test_creds: $(BUILD)/tests/unit/test_creds.o \
		$(CREDS_BLOCKING_OBJ) $(LIBKH)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) \
		$$(pkg-config --libs check) -lm

# Seeds: each fixture prefixed with the byte that selects its parser.
$(CREDS_FUZZ_SEED)/.stamp: $(wildcard tests/creds/*)
	@rm -rf $(CREDS_FUZZ_SEED) && mkdir -p $(CREDS_FUZZ_SEED)
	@for f in tests/creds/*; do \
	    case $$f in \
	    */config|*/credentials) p='\000' ;; \
	    *.xml) p='\001' ;; \
	    */process*.json) p='\003' ;; \
	    *.json) p='\002' ;; \
	    *) continue ;; \
	    esac; \
	    { printf "$$p"; cat $$f; } > $(CREDS_FUZZ_SEED)/$$(basename $$f); \
	done
	@printf '\004role-name\n' > $(CREDS_FUZZ_SEED)/role
	@printf '\0052019-11-09T13:34:41.5+02:00' > $(CREDS_FUZZ_SEED)/time
	@touch $@

.PHONY: fuzz-creds
fuzz-creds: $(CREDS_FUZZ_BIN) $(CREDS_FUZZ_SEED)/.stamp
	@mkdir -p $(CREDS_FUZZ_CORPUS)
	$(CREDS_FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=70000 \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-dict=tests/fuzz/creds.dict \
		-artifact_prefix=build/fuzz/creds- \
		$(CREDS_FUZZ_CORPUS) $(CREDS_FUZZ_SEED)

.DEFAULT_GOAL := $(_creds_mk_goal)
