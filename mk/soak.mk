# The soak run.  `make check` runs tests/integration/test_soak.py for 60 s;
# `make soak` runs it for SOAK_SECONDS (default 240) and prints RSS and
# descriptor figures (also left in $(BUILD)/soak-figures.txt).  valgrind
# runs in `make check` too (tests/integration/test_valgrind.py).
DEBS		+= valgrind util-linux
# chattr: tests/integration/test_fdexhaust.py makes an outbox unwritable
# even for root.
DEBS		+= e2fsprogs

SOAK_SECONDS	?= 240

.PHONY: soak
soak: all
	KEYHEALTHD_BIN=$(CURDIR)/$(BUILD)/keyhealthd \
	KEYHEALTHD_BUILD=$(CURDIR)/$(BUILD) \
	KEYHEALTHD_SOAK_SECONDS=$(SOAK_SECONDS) \
	    $(PYTHON) -m pytest -q -s -p no:cacheprovider \
	    tests/integration/test_soak.py
