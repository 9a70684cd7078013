# Alerting: the sample external notifier modules, the journald catalog
# check and its installation.

# openssl(1) makes the TLS receiver's certificate.
DEBS		+= openssl

MODULE_SRCS	= tests/modules/sample_notify.c
MODULE_SOS	= $(BUILD)/tests/modules/sample_notify.so \
		  $(BUILD)/tests/modules/sample_notify_badabi.so \
		  $(BUILD)/tests/modules/sample_notify_nosym.so

tools: $(MODULE_SOS)
$(UNIT_BINS): | $(MODULE_SOS)

$(BUILD)/tests/modules/sample_notify.so: tests/modules/sample_notify.c lib/notify.h lib/alert.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fPIC -shared -o $@ $< $(LDFLAGS_ALL)

# The same module claiming another ABI: loading it must be refused.
$(BUILD)/tests/modules/sample_notify_badabi.so: tests/modules/sample_notify.c lib/notify.h lib/alert.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -DSAMPLE_ABI=999 -fPIC -shared -o $@ $< $(LDFLAGS_ALL)

# ... and one without the descriptor.
$(BUILD)/tests/modules/sample_notify_nosym.so: tests/modules/sample_notify.c lib/notify.h lib/alert.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -DSAMPLE_NO_DESCRIPTOR -fPIC -shared -o $@ $< $(LDFLAGS_ALL)

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
