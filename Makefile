# SPDX-License-Identifier: Apache-2.0
# hsmfs: one hand-written Makefile; each module adds itself in its module.mk.
#   make            build everything (warning-free: -Wall -Wextra -Werror;
#                   WERROR=0 keeps the warnings but not -Werror)
#   make test       install what is missing (apt, npm), then run every test
#   make check      build and run every test, installing nothing
#   make demo       the guided demo on the local HSM emulator
#   make demo-dr    the HSM disaster-recovery drill (security domain, backup)
#   make install    PREFIX=/usr/local DESTDIR=
# CFLAGS, LDFLAGS and CC are honoured as packagers set them.

.DEFAULT_GOAL := all

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
# systemd finds units in /usr/local/lib/systemd/system too.
UNITDIR ?= $(PREFIX)/lib/systemd/system
B ?= build
CC ?= cc
CFLAGS ?= -O2 -g
LDFLAGS ?=
V ?= 0
WERROR ?= 1

PKGS := fuse3 openssl libcurl libcjson
EMU_PKGS := openssl libcjson libmicrohttpd

# snprintf into bounded buffers truncates on purpose (curl style), so
# gcc's guesses about truncation are not errors here.
WARN := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Wno-missing-field-initializers \
	-Wno-format-truncation
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -I. -MMD -MP
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(EMU_PKGS) 2>/dev/null)
LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
EMU_LIBS := $(shell pkg-config --libs $(EMU_PKGS) 2>/dev/null) -lpthread
# What common/ and crypto/ alone need: programs of the on-disk format (its
# unit tests, its fuzzers) link these, never libcurl.
CRYPTO_LIBS := $(shell pkg-config --libs openssl libcjson 2>/dev/null) \
	-lpthread

ALL_CFLAGS = $(BASE_CFLAGS) $(PKG_CFLAGS) $(WARN) $(CFLAGS)

# hsmfs --version: the release, and in a git checkout the commit it was
# built from (git describe); packagers may set HSMFS_VERSION themselves.
HSMFS_RELEASE := 0.1.0
HSMFS_GIT := $(shell git describe --tags --always 2>/dev/null)
HSMFS_VERSION ?= $(HSMFS_RELEASE)$(if $(HSMFS_GIT), ($(HSMFS_GIT)))
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
# Sanitizer builds drop _FORTIFY_SOURCE, which ASan does not combine with.
SAN_CFLAGS = $(filter-out -D_FORTIFY_SOURCE=2,$(ALL_CFLAGS)) $(SAN_FLAGS) -O1

ifeq ($(V),0)
Q := @
say = @printf '  %-7s %s\n' $(1) $(2);
else
Q :=
say :=
endif

objs = $(patsubst %.c,$(B)/obj/%.o,$(1))
sanobjs = $(patsubst %.c,$(B)/san/%.o,$(1))

# Module lists, filled by the module.mk files.
COMMON_SRC :=
CRYPTO_SRC :=
HSMCLIENT_SRC :=
FS_SRC :=
BINS :=
TEST_BINS :=
CHECKS :=

include common/module.mk
include crypto/module.mk
include hsmclient/module.mk
include fs/module.mk
include tools/module.mk
include tests/module.mk

all: $(BINS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC-SAN,$<)$(CC) $(SAN_CFLAGS) -c -o $@ $<

# test and demo first install what is missing, then build in a fresh make
# so that pkg-config sees the newly installed libraries.
test: deps
	$(Q)$(MAKE) --no-print-directory check

check: test-build
	$(Q)B=$(B) tests/run.sh

test-build: all $(TEST_BINS) $(FUZZ_BINS)

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(B)/hsmfs $(DESTDIR)$(BINDIR)/hsmfs
	install -m 0755 $(B)/hsm-emulator $(DESTDIR)$(BINDIR)/hsm-emulator
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/bin/hsmfs|$(BINDIR)/hsmfs|g' dist/systemd/hsmfs@.service \
		>$(DESTDIR)$(UNITDIR)/hsmfs@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/hsmfs@.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hsmfs $(DESTDIR)$(BINDIR)/hsm-emulator
	rm -f $(DESTDIR)$(UNITDIR)/hsmfs@.service

deps:
	$(Q)tools/install-deps.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)B=$(B) tools/demo.sh

demo-dr: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)B=$(B) tools/demo-dr.sh

clean:
	rm -rf $(B)

# The version is compiled into fs/cli/main.c alone, which is rebuilt when
# it changes (the stamp is rewritten only then).
VERSION_OBJS := $(foreach d,obj san tsan,$(B)/$(d)/fs/cli/main.o)
$(VERSION_OBJS): ALL_CFLAGS += -DHSMFS_VERSION='"$(HSMFS_VERSION)"'
$(VERSION_OBJS): $(B)/version.stamp
$(B)/version.stamp: FORCE
	@mkdir -p $(B)
	@echo '$(HSMFS_VERSION)' | cmp -s - $@ || echo '$(HSMFS_VERSION)' >$@

.PHONY: all test check test-build install uninstall deps demo demo-dr clean FORCE
.DELETE_ON_ERROR:
# Objects are built through pattern rules; keep them between builds.
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
