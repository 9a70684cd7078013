# lib/kms: a libFuzzer target over its parsers (make fuzz-kms
# [FUZZ_SECONDS=N], built and run by mk/fuzz.mk's generic rules, seeds in
# tests/fuzz/corpus/kms), and one over the key material and custom key
# store answers (fuzz-material); valgrind for the 1,000-key integration
# run.
DEBS		+= valgrind clang-14 libclang-rt-14-dev
FUZZERS		+= kms material
# The one-pass GetKeyPolicy reader (lib/jscan) against jansson's tree.
FUZZERS		+= jscan
