#!/usr/bin/env bash
# Installs the Debian 12 packages hsmfs needs to build, test and demo,
# when they are missing (as root; otherwise it says what to install).
set -euo pipefail

PKGS=(
	gcc make pkg-config
	libfuse3-dev fuse3 libssl-dev openssl libcurl4-openssl-dev libcjson-dev
	libmicrohttpd-dev
	# the PKCS#11 KEK provider: p11-kit loads the modules
	libp11-kit-dev p11-kit
	# tests and tools
	attr xxd python3 python3-cryptography curl jq util-linux procps psmisc
	clang libclang-rt-14-dev valgrind gdb perl tar coreutils
	# PKCS#11 tests: a software token, and pkcs11-tool to make its keys
	softhsm2 opensc
	# a second software token, doing RSA-OAEP with SHA-256 itself
	# (tests/integration/pkcs11ock.sh runs its slot daemon)
	opencryptoki
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
# The SDK suite (tests/integration/sdk.sh) runs the Azure SDK for
# JavaScript: Debian's Node.js and npm unless a node and npm are there
# already (from another source, say).
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

# Then its pinned packages (tests/sdk/package-lock.json), again whenever
# the lock file changes.
sdk_packages() {
	local d
	d="$(cd "$(dirname "$0")/.." && pwd)/tests/sdk"
	[[ -f $d/node_modules/.package-lock.json && ! $d/package-lock.json -nt $d/node_modules/.package-lock.json ]] &&
		return 0
	echo "hsmfs: installing the SDK test packages (npm ci in tests/sdk)"
	(cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

if ((${#missing[@]} == 0)); then
	sdk_packages
	exit 0
fi

if (($(id -u) != 0)); then
	echo "hsmfs: missing Debian packages: ${missing[*]}" >&2
	echo "hsmfs: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "hsmfs: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
sdk_packages
