#!/usr/bin/env bash
# The architecture, checked: every #include points down the layers
#   fs/cli -> fs/daemon.h (fs/fuse), fs/offline -> fs/vol
#     -> crypto, hsmclient -> common
# libfuse is seen only in fs/fuse, libcurl only in hsmclient/azure,
# p11-kit only in hsmclient/pkcs11, and
# no header of fs/fuse is included outside it.
. "$(dirname "$0")/../lib/lint.sh"


# includes DIR: every project include under DIR as "file: target".
includes() {
	grep -rHoE '^#include "[^"]+"' --include='*.[ch]' "$1" |
		sed -E 's/:#include "(.*)"$/: \1/'
}

# Project includes of files under $1 that name a path matching $2.
bad_includes() {
	includes "$1" | grep -E ": ($2)" || true
}

check "common includes nothing of hsmfs but common" \
	"$(bad_includes common '(crypto|hsmclient|fs)/')"
check "crypto includes only common" \
	"$(bad_includes crypto '(hsmclient|fs)/')"
check "hsmclient includes only common" \
	"$(bad_includes hsmclient '(crypto|fs)/')"
check "fs/vol does not reach up into fuse, offline, cli" \
	"$(bad_includes fs/vol 'fs/(fuse|offline|cli|daemon\.h)')"
check "fs/offline does not reach into fuse or cli" \
	"$(bad_includes fs/offline 'fs/(fuse|cli|daemon\.h)')"
check "fs/fuse does not reach into offline or cli" \
	"$(bad_includes fs/fuse 'fs/(offline|cli)')"
check "no header of fs/fuse is included outside fs/fuse" \
	"$(includes fs | grep -v '^fs/fuse/' | grep -E ': fs/fuse/' || true)"
check "libfuse is included only in fs/fuse" \
	"$(grep -rlE '#include <fuse' --include='*.[ch]' common crypto hsmclient fs | grep -v '^fs/fuse/' || true)"
check "p11-kit is included only in hsmclient/pkcs11 (and its test)" \
	"$(grep -rlE '#include <p11-kit/' --include='*.[ch]' common crypto hsmclient fs | grep -v '^hsmclient/pkcs11/' || true)"
check "the providers do not reach into each other" \
	"$(bad_includes hsmclient/azure 'hsmclient/pkcs11/'; bad_includes hsmclient/pkcs11 'hsmclient/azure/')"
check "libcurl is included only in hsmclient" \
	"$(grep -rlE '#include <curl/' --include='*.[ch]' common crypto fs || true)"
# crypto links without libcurl: its unit tests are built from common and
# crypto alone.
B=${B:-build}
if [[ -x $B/tests/unit/hdr_test ]]; then
	check "the format's tests link common and crypto only (no libcurl)" \
		"$(ldd "$B/tests/unit/hdr_test" | grep -E 'libcurl|libfuse' || true)"
fi
finish
