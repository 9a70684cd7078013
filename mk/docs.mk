# Documentation: the man pages are mdoc and lint-clean; the IAM policy for
# keyhealthd's own role is installed with the documentation.
DEBS += mandoc
EXTRA_CHECKS += check-man
DOCDIR		?= $(PREFIX)/share/doc/keyhealthd

.PHONY: check-man
check-man:
	mandoc -Tlint -W warning man/keyhealthd.8 man/keyhealthd.yaml.5
	@echo "man pages: lint clean"

install: install-doc
.PHONY: install-doc
install-doc:
	install -d $(DESTDIR)$(DOCDIR)
	install -m 0644 conf/iam-policy.json $(DESTDIR)$(DOCDIR)/iam-policy.json
