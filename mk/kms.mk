# lib/kms: a libFuzzer target over its parsers
# (make fuzz-kms [FUZZ_SECONDS=N]), part of the fuzz smoke runs; valgrind
# for the 1,000-key integration run.
DEBS		+= valgrind clang-14 libclang-rt-14-dev
FUZZ_SMOKE	+= fuzz-kms

# Built by mk/fuzz.mk's generic rule (the whole library, clang with the
# fuzzer's coverage and sanitizers); the directory is that rule's
# RFUZZ_DIR, spelt out because this file is read before mk/fuzz.mk.
FUZZ_DIR	= build/fuzz
KMS_FUZZ_SEEDS	= tests/fuzz/corpus/kms

.PHONY: fuzz-kms

# New inputs go to build/fuzz/kms-corpus; the seeds are only read.
fuzz-kms: $(FUZZ_DIR)/kms_fuzzer
	@mkdir -p $(FUZZ_DIR)/kms-corpus
	@cd $(FUZZ_DIR) && { ./kms_fuzzer -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=kms- -print_final_stats=1 kms-corpus \
	    $(CURDIR)/$(KMS_FUZZ_SEEDS) >kms_fuzzer.log 2>&1; rc=$$?; \
	    tail -n 14 kms_fuzzer.log; \
	    if [ $$rc != 0 ]; then echo "fuzz-kms: FAILED, see \
	    $(FUZZ_DIR)/kms_fuzzer.log"; fi; exit $$rc; }
