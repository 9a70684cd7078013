# The systemd unit: generated with the install path, checked with
# systemd-analyze (verify, and an exposure of at most 1.5).
UNITDIR		?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
EXTRA_CHECKS	+= check-systemd

$(BUILD)/systemd/keyhealthd.service: systemd/keyhealthd.service.in
	@mkdir -p $(@D)
	sed 's|@SBINDIR@|$(SBINDIR)|g' $< > $@

.PHONY: check-systemd
# ExecStart must name an existing binary for verify: point it at the build.
check-systemd: all
	@mkdir -p $(BUILD)/systemd-check
	sed 's|@SBINDIR@|$(CURDIR)/$(BUILD)|g' systemd/keyhealthd.service.in \
	    > $(BUILD)/systemd-check/keyhealthd.service
	systemd-analyze verify --man=no $(BUILD)/systemd-check/keyhealthd.service
	@systemd-analyze security --offline=true \
	    $(BUILD)/systemd-check/keyhealthd.service | tail -n 1
	systemd-analyze security --offline=true --threshold=15 \
	    $(BUILD)/systemd-check/keyhealthd.service >/dev/null
	@echo "systemd unit: verify clean, exposure within 1.5"
