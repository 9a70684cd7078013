# lib/creds: libFuzzer target for its parsers (make fuzz-creds
# [FUZZ_SECONDS=N], built and run by mk/fuzz.mk's generic rules) on seeds
# made from tests/creds.
DEBS		+= clang-14
FUZZERS		+= creds
FUZZ_MAX_LEN_creds = 70000
CREDS_FUZZ_SEED	= $(FUZZ_DIR)/creds-seed

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
fuzz-creds fuzz-smoke-creds: $(CREDS_FUZZ_SEED)/.stamp
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
