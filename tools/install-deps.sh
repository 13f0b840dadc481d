#!/usr/bin/env bash
# Installs the Debian 12 packages hsmfs needs to build, test and demo,
# when they are missing (as root; otherwise it says what to install).
set -euo pipefail

PKGS=(
	gcc make pkg-config
	libfuse3-dev fuse3 libssl-dev openssl libcurl4-openssl-dev libcjson-dev
	libmicrohttpd-dev
	# tests and tools
	attr xxd python3 python3-cryptography curl jq util-linux procps psmisc
	clang libclang-rt-14-dev valgrind gdb perl tar coreutils
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
((${#missing[@]} == 0)) && exit 0

if (($(id -u) != 0)); then
	echo "hsmfs: missing Debian packages: ${missing[*]}" >&2
	echo "hsmfs: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "hsmfs: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
