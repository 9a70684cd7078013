# keyhealthd — GNU make.  `make`, `make check`, `make demo`, `make install`.
# See README for the targets; mk/*.mk add parts' own targets.

VERSION		= 0.1.0
PREFIX		?= /usr/local
DESTDIR		?=
SBINDIR		?= $(PREFIX)/sbin
MANDIR		?= $(PREFIX)/share/man
VENDORDIR	?= $(PREFIX)/share/keyhealthd/vendors
SYSCONFDIR	?= /etc
PYTHON		?= /usr/bin/python3
CC		?= cc
CLANG		?= clang-14
FUZZ_SECONDS	?= 10

PKGS		= libcurl openssl jansson libevent libsystemd yaml-0.1

# Debian packages for build, tests and demo; parts add theirs in mk/*.mk.
DEBS		= build-essential pkg-config git libcurl4-openssl-dev libssl-dev \
		  libjansson-dev libevent-dev libsystemd-dev libyaml-dev check \
		  python3 python3-pytest python3-botocore python3-boto3 python3-yaml \
		  systemd \
		  util-linux mount procps

ifeq ($(SANITIZE),1)
BUILD		?= build-san
SANFLAGS	= -fsanitize=address,undefined -fno-omit-frame-pointer \
		  -fno-sanitize-recover=all
OPTFLAGS	= -O1 -g
else
BUILD		?= build
SANFLAGS	=
OPTFLAGS	= -O2 -g -D_FORTIFY_SOURCE=2
endif

WARNFLAGS	= -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith -Wcast-qual \
		  -Wwrite-strings -Wstrict-prototypes -Wmissing-prototypes -Werror
# Recursive (=) so that pkg-config is only run once `make deps` has
# installed it: a fresh machine has no pkg-config when make starts.
PKG_CFLAGS	= $(shell pkg-config --cflags $(PKGS))
PKG_LIBS	= $(shell pkg-config --libs $(PKGS)) -ldl
CFLAGS_ALL	= -std=c11 -D_GNU_SOURCE $(OPTFLAGS) $(WARNFLAGS) \
		  -fstack-protector-strong $(SANFLAGS) -iquote lib \
		  -DKEYHEALTHD_VERSION='"$(VERSION)"' \
		  -DKEYHEALTHD_VENDOR_DIR='"$(VENDORDIR)"' $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL	= $(SANFLAGS) $(LDFLAGS)

LIB_SRCS	= $(sort $(wildcard lib/*.c))
DAEMON_SRCS	= $(sort $(wildcard daemon/*.c))
UNIT_SRCS	= $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRCS	= $(sort $(wildcard tests/tools/*.c))
LIB_OBJS	= $(LIB_SRCS:%.c=$(BUILD)/%.o)
DAEMON_OBJS	= $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
UNIT_BINS	= $(UNIT_SRCS:%.c=$(BUILD)/%)
TOOL_BINS	= $(TOOL_SRCS:%.c=$(BUILD)/%)
LIBKH		= $(BUILD)/libkeyhealthd.a

# Targets that parts add: unit-like checks run after the unit tests and
# fuzz smoke runs (each a make target).
EXTRA_CHECKS	=
FUZZ_SMOKE	=
# The libFuzzer targets: a part adds NAME for tests/fuzz/NAME_fuzzer.c,
# which mk/fuzz.mk's generic rule builds under FUZZ_DIR and runs.
FUZZERS		=
FUZZ_DIR	= $(BUILD)/fuzz

.DEFAULT_GOAL := all

-include $(sort $(wildcard mk/*.mk))

.SECONDARY:

.PHONY: all deps check check-run unit integration tools demo install clean \
	fuzz-smoke

all: $(BUILD)/keyhealthd

# `make V=1` shows the commands.
ifeq ($(V),1)
Q		=
else
Q		= @
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIBKH): $(LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

$(BUILD)/keyhealthd: $(DAEMON_OBJS) $(LIBKH)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(DAEMON_OBJS) $(LIBKH) $(PKG_LIBS) -lm

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIBKH)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBKH) $(PKG_LIBS) \
	    $(shell pkg-config --libs check) -lm

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIBKH)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIBKH) $(PKG_LIBS) -lm

tools: $(TOOL_BINS)

# lib/vendor.o has VENDORDIR compiled in: rebuild it when the value
# changes, so that `make install PREFIX=/usr` after `make` installs a
# binary that looks where the profiles go.
$(BUILD)/vendordir: FORCE
	@mkdir -p $(@D)
	@echo '$(VENDORDIR)' | cmp -s - $@ || echo '$(VENDORDIR)' > $@
$(BUILD)/lib/vendor.o: $(BUILD)/vendordir
.PHONY: FORCE
FORCE:

# Installs what build, tests and demo need; silent when all is present.
deps:
	@missing=$$(for p in $(sort $(DEBS)); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "make deps: installing" $$missing; \
	    if [ "$$(id -u)" != 0 ]; then \
	        echo "make deps: run as root to install packages" >&2; exit 1; fi; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	    || exit 1; \
	fi

check: deps
	@$(MAKE) --no-print-directory check-run

check-run: all tools $(UNIT_BINS)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory $(EXTRA_CHECKS) fuzz-smoke
	@$(MAKE) --no-print-directory integration

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
	    echo "== $$t"; \
	    CK_DEFAULT_TIMEOUT=60 KEYHEALTHD_VENDOR_DIR=$(CURDIR)/vendors \
	        $$t || fail=1; \
	done; \
	if [ $$fail != 0 ]; then echo "unit tests FAILED"; exit 1; fi

integration: all tools
	KEYHEALTHD_BIN=$(CURDIR)/$(BUILD)/keyhealthd \
	KEYHEALTHD_BUILD=$(CURDIR)/$(BUILD) \
	KEYHEALTHD_SANITIZE=$(if $(filter 1,$(SANITIZE)),1,0) \
	KEYHEALTHD_VENDOR_DIR=$(CURDIR)/vendors \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

fuzz-smoke: $(FUZZ_SMOKE)

install: all $(BUILD)/systemd/keyhealthd.service
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)/keyhealthd
	install -m 0755 $(BUILD)/keyhealthd $(DESTDIR)$(SBINDIR)/keyhealthd
	install -m 0644 man/keyhealthd.8 $(DESTDIR)$(MANDIR)/man8/keyhealthd.8
	install -m 0644 man/keyhealthd.yaml.5 \
	    $(DESTDIR)$(MANDIR)/man5/keyhealthd.yaml.5
	install -d $(DESTDIR)$(VENDORDIR)
	install -m 0644 vendors/*.yaml $(DESTDIR)$(VENDORDIR)
	install -m 0644 conf/keyhealthd.yaml \
	    $(DESTDIR)$(SYSCONFDIR)/keyhealthd/keyhealthd.yaml.example
	install -d $(DESTDIR)$(UNITDIR)
	install -m 0644 $(BUILD)/systemd/keyhealthd.service \
	    $(DESTDIR)$(UNITDIR)/keyhealthd.service

clean:
	rm -rf build build-san

-include $(LIB_OBJS:.o=.d) $(DAEMON_OBJS:.o=.d) \
	$(UNIT_SRCS:%.c=$(BUILD)/%.d) $(TOOL_SRCS:%.c=$(BUILD)/%.d)
