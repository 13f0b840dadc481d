# SPDX-License-Identifier: Apache-2.0
# hsmfs: one hand-written Makefile; each module adds itself in its module.mk.
#   make            build everything (warning-free: -Wall -Wextra -Werror;
#                   WERROR=0 keeps the warnings but not -Werror)
#   make test       install what is missing (apt, npm), then run every test
#   make check      build and run every test, installing nothing
#   make demo       the guided demo on the local HSM emulator
#   make demo-dr    the HSM disaster-recovery drill (security domain, backup)
#   make install    hsmfs, its man pages, bash completion, systemd unit and
#                   example files (PREFIX=/usr/local DESTDIR=; BINDIR, MANDIR,
#                   UNITDIR, BASHCOMPDIR, DOCDIR); not the emulator
#   make install-emulator  the HSM emulator, into BINDIR
#   make uninstall  removes what install put (uninstall-emulator: the emulator)
# CFLAGS, LDFLAGS and CC are honoured as packagers set them.

.DEFAULT_GOAL := all

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
# systemd finds units in /usr/local/lib/systemd/system too.
UNITDIR ?= $(PREFIX)/lib/systemd/system
# bash-completion looks in share/bash-completion/completions under each
# of $XDG_DATA_DIRS (/usr/local/share:/usr/share by default).
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DOCDIR ?= $(PREFIX)/share/doc/hsmfs
B ?= build
CC ?= cc
CFLAGS ?= -O2 -g
LDFLAGS ?=
V ?= 0
WERROR ?= 1

PKGS := fuse3 openssl libcurl libcjson p11-kit-1
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

# The files of dist/ name the program and the examples where a default
# install puts them; an install elsewhere gets its own paths.
DIST_SED = sed -e 's|/usr/local/bin/hsmfs|$(BINDIR)/hsmfs|g' \
	-e 's|/usr/local/share/doc/hsmfs|$(DOCDIR)|g' \
	-e 's|/usr/local/lib/systemd/system|$(UNITDIR)|g'
# dist_file SRC DST: SRC with the installed paths, mode 0644.
dist_file = $(DIST_SED) $(1) >$(2) && chmod 0644 $(2)
DOCS := dist/hsmfs.conf.example dist/volume.conf.example

install: $(B)/hsmfs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(B)/hsmfs $(DESTDIR)$(BINDIR)/hsmfs
	$(call dist_file,dist/man/hsmfs.1,$(DESTDIR)$(MANDIR)/man1/hsmfs.1)
	$(call dist_file,dist/man/hsmfs.conf.5,$(DESTDIR)$(MANDIR)/man5/hsmfs.conf.5)
	$(call dist_file,dist/systemd/hsmfs@.service,$(DESTDIR)$(UNITDIR)/hsmfs@.service)
	install -m 0644 dist/bash-completion/hsmfs $(DESTDIR)$(BASHCOMPDIR)/hsmfs
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/

# The emulator is for tests and demos, never part of a server's install.
install-emulator: $(B)/hsm-emulator
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(B)/hsm-emulator $(DESTDIR)$(BINDIR)/hsm-emulator

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hsmfs $(DESTDIR)$(MANDIR)/man1/hsmfs.1 \
		$(DESTDIR)$(MANDIR)/man5/hsmfs.conf.5 \
		$(DESTDIR)$(UNITDIR)/hsmfs@.service \
		$(DESTDIR)$(BASHCOMPDIR)/hsmfs \
		$(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS)))
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true

uninstall-emulator:
	rm -f $(DESTDIR)$(BINDIR)/hsm-emulator

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
# it changes. The stamp is rewritten only then, as make reads this file
# (not by a rule that always runs), so that make -q and make -n see a
# build that is up to date as such.
VERSION_OBJS := $(foreach d,obj san tsan,$(B)/$(d)/fs/cli/main.o)
$(VERSION_OBJS): ALL_CFLAGS += -DHSMFS_VERSION='"$(HSMFS_VERSION)"'
$(VERSION_OBJS): $(B)/version.stamp
VERSION_STAMP := $(shell mkdir -p $(B) && { echo '$(HSMFS_VERSION)' | \
	cmp -s - $(B)/version.stamp || echo '$(HSMFS_VERSION)' >$(B)/version.stamp; })

.PHONY: all test check test-build install install-emulator uninstall \
	uninstall-emulator deps demo demo-dr clean
.DELETE_ON_ERROR:
# Objects are built through pattern rules; keep them between builds.
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
