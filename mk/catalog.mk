# The check catalogue: lib/catalog.c holds the table; `make catalog`
# prints systemd/keyhealthd.catalog from it (tests/unit/test_catalog.c
# fails while the shipped file or keyhealthd(8) disagrees with the table).
.PHONY: catalog

catalog: $(BUILD)/tests/tools/catalog_print
	$(BUILD)/tests/tools/catalog_print >systemd/keyhealthd.catalog.tmp
	mv systemd/keyhealthd.catalog.tmp systemd/keyhealthd.catalog

# journalctl parses the catalog as --update-catalog does.
EXTRA_CHECKS	+= check-catalog
.PHONY: check-catalog
check-catalog:
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	mkdir -p "$$d/usr/lib/systemd/catalog" "$$d/var/lib/systemd/catalog" && \
	cp systemd/keyhealthd.catalog "$$d/usr/lib/systemd/catalog/" && \
	journalctl --root="$$d" --update-catalog && \
	n=$$(journalctl --root="$$d" --list-catalog | grep -c keyhealthd) && \
	want=$$(grep -c '^-- [0-9a-f]\{32\}' systemd/keyhealthd.catalog) && \
	if [ "$$n" != "$$want" ]; then \
	    echo "catalog: $$n of $$want entries parsed" >&2; exit 1; fi && \
	echo "journald catalog: $$n entries parse"

# journalctl -x finds the catalog only in the systemd directory.
CATALOGDIR	?= /usr/lib/systemd/catalog
install: install-catalog
.PHONY: install-catalog
install-catalog:
	install -d $(DESTDIR)$(CATALOGDIR)
	install -m 0644 systemd/keyhealthd.catalog \
	    $(DESTDIR)$(CATALOGDIR)/keyhealthd.catalog
