# lib/creds: libFuzzer target for its parsers (clang-14, ASan+UBSan).
# `make fuzz-creds` builds build/fuzz/creds_fuzzer and runs it for
# $(FUZZ_SECONDS) seconds on a corpus seeded from tests/creds.

# Keep whatever default goal the Makefile has: this file only adds targets.
_creds_mk_goal := $(.DEFAULT_GOAL)

FUZZ_SECONDS ?= 10
FUZZ_SMOKE += fuzz-creds
DEBS += clang-14

CREDS_FUZZ_BIN := build/fuzz/creds_fuzzer
CREDS_FUZZ_SEED := build/fuzz/creds-seed
CREDS_FUZZ_CORPUS := build/fuzz/creds-corpus
CREDS_FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

$(CREDS_FUZZ_BIN): tests/fuzz/creds_fuzzer.c lib/creds.c lib/creds.h \
		lib/sigv4.c lib/sigv4.h lib/endpoint.c lib/endpoint.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CREDS_FUZZ_FLAGS) \
		$$(pkg-config --cflags jansson openssl libcurl) \
		-o $@ tests/fuzz/creds_fuzzer.c lib/creds.c lib/sigv4.c \
		lib/endpoint.c \
		$$(pkg-config --libs jansson openssl libcurl)

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
