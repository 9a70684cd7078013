# `make demo`: keyhealthd against the bundled KMS emulator, playing a short
# story while a local webhook receiver prints each alert (tests/demo/).
# Installs the Debian packages first, as check does.  DEMO_FLAGS passes
# options to tests/demo/demo.py (--fast, --keep, --no-colour).
DEMO_FLAGS	?=

.PHONY: demo-run

demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	@KEYHEALTHD_BIN=$(CURDIR)/$(BUILD)/keyhealthd \
	    $(PYTHON) tests/demo/demo.py $(DEMO_FLAGS)
