# The Debian package (debian/) and its test under a real systemd.
#
#   make deb            build/keyhealthd_VERSION_ARCH.deb, lintian-clean
#   make systemd-test   install it in a Debian 12 container booted with
#                       systemd-nspawn and check the service there
#
# dpkg-buildpackage writes next to the source tree, so the package is built
# in a copy under build/deb/; only the .deb is copied to build/.  The
# container's root is made once with debootstrap and cached under
# $(SDTEST_DIR); each run works on a fresh copy of it.
DEBS		+= debhelper dpkg-dev lintian debootstrap systemd-container \
		   util-linux

DEB_ARCH	= $(shell dpkg --print-architecture)
DEB_FILE	= build/keyhealthd_$(VERSION)_$(DEB_ARCH).deb
DEB_WORK	= build/deb
SDTEST_DIR	?= build/systemd-test

.PHONY: deb deb-build systemd-test systemd-test-run

deb: deps
	@$(MAKE) --no-print-directory deb-build

deb-build:
	@v=$$(dpkg-parsechangelog -S Version) && [ "$$v" = "$(VERSION)" ] || \
	    { echo "deb: debian/changelog is at $$v, Makefile at $(VERSION)" >&2; \
	    exit 1; }
	@for p in $$(sed -n '/^Build-Depends:/,/^[A-Z]/p' debian/control | \
	    sed '1s/^Build-Depends://; /^[A-Z]/d' | tr ',' '\n' | \
	    sed 's/[(<].*//; s/^ *//; s/ *$$//; s/^debhelper-compat$$/debhelper/'); \
	do case " $(strip $(DEBS)) " in *" $$p "*) ;; *) echo "deb: \
	    Build-Depends $$p is not in DEBS (make deps)" >&2; exit 1;; esac; done
	@rm -rf $(DEB_WORK) && mkdir -p $(DEB_WORK)/keyhealthd-$(VERSION)
	@tar -cf - --exclude=./build --exclude='./build-*' --exclude=./.git \
	    --exclude=__pycache__ . | tar -C $(DEB_WORK)/keyhealthd-$(VERSION) -xf -
	cd $(DEB_WORK)/keyhealthd-$(VERSION) && \
	    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
	    { tail -n 40 ../build.log; echo "deb: dpkg-buildpackage failed, \
	    see $(DEB_WORK)/build.log" >&2; exit 1; }
	lintian --fail-on error,warning --info \
	    $(DEB_WORK)/keyhealthd_$(VERSION)_$(DEB_ARCH).changes
	cp $(DEB_WORK)/keyhealthd_$(VERSION)_$(DEB_ARCH).deb $(DEB_FILE)
	@echo "deb: $(DEB_FILE), lintian clean"

systemd-test: deb
	@$(MAKE) --no-print-directory systemd-test-run

systemd-test-run:
	$(PYTHON) tests/systemd/systemd_test.py --deb $(DEB_FILE) \
	    --work $(SDTEST_DIR)
