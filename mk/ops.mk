# Operations: promtool checks the /metrics output and a scrape config in
# the integration tests; the IAM policy for keyhealthd's own role is
# installed with the documentation.
DEBS		+= prometheus
DOCDIR		?= $(PREFIX)/share/doc/keyhealthd

install: install-doc
.PHONY: install-doc
install-doc:
	install -d $(DESTDIR)$(DOCDIR)
	install -m 0644 conf/iam-policy.json $(DESTDIR)$(DOCDIR)/iam-policy.json
