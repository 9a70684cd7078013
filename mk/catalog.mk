# The check catalogue: lib/catalog.c holds the table; `make catalog`
# prints systemd/keyhealthd.catalog from it (tests/unit/test_catalog.c
# fails while the shipped file or keyhealthd(8) disagrees with the table).
.PHONY: catalog

catalog: $(BUILD)/tests/tools/catalog_print
	$(BUILD)/tests/tools/catalog_print >systemd/keyhealthd.catalog.tmp
	mv systemd/keyhealthd.catalog.tmp systemd/keyhealthd.catalog
