# Documentation checks: the man pages are mdoc and lint-clean.
DEBS += mandoc
EXTRA_CHECKS += check-man

.PHONY: check-man
check-man:
	mandoc -Tlint -W warning man/keyhealthd.8 man/keyhealthd.yaml.5
	@echo "man pages: lint clean"
