# shellcheck shell=bash
# Shared helpers for integration tests on real FUSE mounts.
#
# Every test gets a private temporary directory; the EXIT trap unmounts
# whatever was mounted under it and stops what was started, even when the
# test fails. Checks print "ok - name" or "FAIL - name", and finish prints
# the closing "N passed, N failed" line.
set -u
B=${B:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HSMFS_TEST=$ROOT/$B/tests/hsmfs-test
HSMFS=$ROOT/$B/hsmfs
T=$(mktemp -d /var/tmp/hsmfs-test.XXXXXX)
export HSMFS_STATE_DIR=$T/state HSMFS_TESTKEK_DIR=$T/keys
# No test reads the machine's configuration: this file does not exist
# unless a test writes it.
export HSMFS_CONF=$T/hsmfs.conf
mkdir -p "$T/keys" "$T/state"
# python3 is the machine's own (Debian's, as the reader and forge.py name
# it), not a version manager's shim first in PATH, which costs a few
# tenths of a second per call: the suites make hundreds of them.
if [[ -x /usr/bin/python3 && $(command -v python3) != /usr/bin/python3 ]]; then
	mkdir "$T/pybin" && ln -s /usr/bin/python3 "$T/pybin/python3" && PATH=$T/pybin:$PATH
fi
PASS=0
FAILS=0
PIDS=()

cleanup() {
	local m
	for m in $(findmnt -rn -o TARGET | grep -F "$T/" | sort -r); do
		fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ok() {
	PASS=$((PASS + 1))
	echo "ok - $1"
}

bad() {
	FAILS=$((FAILS + 1))
	echo "FAIL - $1"
}

# check NAME CMD...: passes if CMD succeeds; returns as CMD did, so that
# "check ... || show-why" can print the evidence of a failure.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; return 1; fi
}

finish() {
	echo "$PASS passed, $FAILS failed"
	exit $((FAILS > 0))
}

# testkek NAME [VERSION]: makes (or rotates to) a software test key.
testkek() {
	local v=${2:-v1}
	head -c 32 /dev/urandom >"$T/keys/$1.$v"
	echo "$v" >"$T/keys/$1.current"
}

# vol_init [INIT OPTS...] CIPHERDIR: a volume under the test KEK "k", of
# hsmfs's default format or of $HSMFS_TEST_FORMAT (e.g. 3), for suites
# that run on any format (a --format among the options wins).
vol_init() {
	"$HSMFS_TEST" init --kek testkek://k \
		${HSMFS_TEST_FORMAT:+--format "$HSMFS_TEST_FORMAT"} "$@"
}

# run_daemon BIN CIPHERDIR MNT [OPTS...]: mounts in the foreground (in the
# background of this shell), logging to MNT.log; waits until it is up.
run_daemon() {
	local bin=$1 c=$2 m=$3
	shift 3
	mkdir -p "$m"
	"$bin" mount -f "$@" "$c" "$m" >"$m.log" 2>&1 &
	PIDS+=($!)
	DAEMON_OF[$m]=$!
	for _ in $(seq 400); do
		mountpoint -q "$m" && return 0
		kill -0 "$!" 2>/dev/null || break
		sleep 0.05
	done
	cat "$m.log" >&2
	return 1
}

# mount_fg CIPHERDIR MNT [OPTS...]: the test daemon (software test KEK).
mount_fg() {
	run_daemon "$HSMFS_TEST" "$@"
}

# umount_wait MNT: unmounts, and waits until the mount point is gone and
# the daemon run_daemon started there has exited: until then it still
# holds the volume's claim, and the next mount of the volume is refused.
declare -A DAEMON_OF
umount_wait() {
	local pid=${DAEMON_OF[$1]:-}
	fusermount3 -u "$1" || return
	for _ in $(seq 100); do
		mountpoint -q "$1" || break
		sleep 0.05
	done
	mountpoint -q "$1" && return 1
	unset "DAEMON_OF[$1]"
	[[ -n $pid ]] || return 0
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
}

# flip FILE OFFSET [MASK]: flips bits (MASK, default 1) of one byte of a
# backing file in place, as an attacker with write access would.
flip() {
	local b
	chmod u+w "$1"
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(((b ^ ${3:-1}) & 0xff)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# Where block N of a format-3 file lies (crypto/FORMAT.md section 7.1):
# its ciphertext page, and its 28-byte record (nonce, tag): in page 0
# after the header and the file's state for blocks 0..35, then in the
# record page of its group of 146.
blk_data() {
	if (($1 < 36)); then echo $((4096 * ($1 + 1))); else
		echo $((4096 * (38 + 147 * (($1 - 36) / 146) + ($1 - 36) % 146))); fi
}
blk_rec() {
	if (($1 < 36)); then echo $((3072 + 28 * $1)); else
		echo $((4096 * (37 + 147 * (($1 - 36) / 146)) + 28 * (($1 - 36) % 146))); fi
}

# manifest [--sparse] DIR: one line per entry: path, type, size, content
# hash or link target, user xattrs; sorted (tests/tools/manifest.py says
# how). Two trees with equal manifests look alike to an application.
# --sparse: holes hashed unread, for a tree outside any mount under test.
manifest() {
	python3 "$ROOT/tests/tools/manifest.py" "$@"
}

EMU=$ROOT/$B/hsm-emulator
# shellcheck source=../../tools/hsm-emulator/launch.sh
. "$ROOT/tools/hsm-emulator/launch.sh"
SCOPE=https://managedhsm.azure.net/.default

# emu_start STATE [LISTEN [EMULATOR-ARGS...]]: starts an emulator on
# loopback and waits for its URL; sets EMU_URL and EMU_PID.
emu_start() {
	local r=0
	emu_launch "$1" "${2:-127.0.0.1:0}" "${@:3}" || r=$?
	PIDS+=("$EMU_PID")
	return $r
}

emu_ctl() {
	local st=$1
	shift
	"$EMU" ctl --state "$st" "$@"
}

# emu_setup STATE KEY KTY SIZE: a key, and a client "hsmfs-mount" with a
# secret and the Crypto Service Encryption User role on that key; exports
# the Azure variables hsmfs reads.
emu_setup() {
	local st=$1
	emu_ctl "$st" key create "$2" --kty "$3" --size "$4" >/dev/null || return 1
	head -c 24 /dev/urandom | base64 >"$st.secret"
	emu_ctl "$st" client add hsmfs-mount --secret-file "$st.secret" >/dev/null &&
		emu_ctl "$st" role assign --principal hsmfs-mount \
			--role "Managed HSM Crypto Service Encryption User" \
			--scope "/keys/$2" >/dev/null || return 1
	export AZURE_TENANT_ID=hsmfs-test AZURE_CLIENT_ID=hsmfs-mount
	AZURE_CLIENT_SECRET=$(cat "$st.secret")
	export AZURE_CLIENT_SECRET AZURE_AUTHORITY_HOST=$EMU_URL
}

# emu_kek_suite: the preamble of a suite against one emulator: E (its
# state), an RSA-2048 KEK "fskek" (KEK, its URL), O (the options that reach
# it), C and M (a volume and its mount point); a suite that cannot start
# its emulator ends here.
emu_kek_suite() {
	E=$T/emu
	emu_start "$E" || { bad "emulator starts"; finish; }
	emu_setup "$E" fskek RSA-HSM 2048 || { bad "emulator setup"; finish; }
	KEK=$EMU_URL/keys/fskek
	O=ca_file=$E/ca.pem,kek_scope=$SCOPE
	C=$T/c
	M=$T/m
}

# unwraps STATE: how many unwrap requests the emulator has answered.
unwraps() {
	grep -c '"operation":"UnwrapKey"' "$1/audit.log" 2>/dev/null || true
}

# emu_ops STATE OP: how many requests of that operation the emulator
# answered; emu_keyops STATE: every key operation (not tokens, not the
# emulator's control).
emu_ops() { grep -c "\"operation\":\"$2\"" "$1/audit.log" 2>/dev/null || true; }
emu_keyops() { grep -cE '"operation":"(GetKey|WrapKey|UnwrapKey|CreateKey|RotateKey|UpdateKey|DeleteKey)"' "$1/audit.log" 2>/dev/null || true; }

# gone PID: waits (10 s at most) until PID has ended (exited, or a
# zombie): what it writes as it dies (a core, sanitizer reports) is
# written by then.
gone() {
	local st
	for _ in $(seq 200); do
		st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
		[[ $st == Z ]] && return 0
		sleep 0.05
	done
	return 1
}

# wait_for SECS CMD...: polls CMD every 0.2 s; 0 as soon as it succeeds,
# 1 once SECS seconds have passed.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

# mount_hsm CIPHERDIR MNT [OPTS]: the shipped daemon, foreground, logging.
mount_hsm() {
	run_daemon "$HSMFS" "$@"
}

# p11_token LABEL [KIND:OBJECT:ID]...: a SoftHSM2 token in $T/softhsm
# (SOFTHSM2_CONF exported, so hsmfs and pkcs11-tool see it), its user PIN
# in the file $P11_PIN (mode 0600), and keys made by pkcs11-tool: KIND
# rsa (an RSA-2048 pair) or aes (AES-256, sensitive: hsmfs warns about
# a KEK that is not), labelled OBJECT, CKA_ID the
# hex ID (rotating a KEK is one more key of the same label and a greater
# ID). P11_MODULE: the module's file, as p11-kit registered "softhsm2".
# p11_uri LABEL OBJECT TYPE: its KEK URL (type private or secret-key).
p11_token() {
	local label=$1 k kind obj id
	shift
	P11_MODULE=$(p11-kit list-modules 2>/dev/null |
		awk '$1 == "softhsm2:" { print $2 }')
	[[ -n $P11_MODULE ]] || return 1
	export SOFTHSM2_CONF=$T/softhsm/softhsm2.conf
	P11_PIN=$T/softhsm/pin
	mkdir -p "$T/softhsm/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$T/softhsm/tokens" >"$SOFTHSM2_CONF"
	(umask 077 && echo 4711-hsmfs >"$P11_PIN")
	softhsm2-util --init-token --free --label "$label" --so-pin 4711-so \
		--pin "$(cat "$P11_PIN")" >/dev/null || return 1
	for k in "$@"; do
		IFS=: read -r kind obj id <<<"$k"
		p11_key "$label" "$kind" "$obj" "$id" || return 1
	done
}

# p11_tool LABEL ARGS...: pkcs11-tool logged in to token LABEL with the
# user PIN, quiet.
p11_tool() {
	local label=$1
	shift
	pkcs11-tool --module "$P11_MODULE" --token-label "$label" --login \
		--pin "$(cat "$P11_PIN")" "$@" >/dev/null 2>&1
}

# p11_key LABEL KIND OBJECT ID: one more key on token LABEL.
p11_key() {
	local t=(p11_tool "$1" --label "$3" --id "$4")
	case $2 in
	rsa) "${t[@]}" --keypairgen --key-type rsa:2048 ;;
	aes) "${t[@]}" --keygen --key-type AES:32 --sensitive --private ;;
	*) return 1 ;;
	esac
}

p11_uri() {
	echo "pkcs11:token=$1;object=$2;type=$3?module-name=softhsm2&pin-source=$P11_PIN"
}

# p11_files DIR N: writes N small files under DIR/d; p11_readback DIR N
# [FROM]: files FROM (1) to N read back as written.
p11_files() { mkdir -p "$1/d" && for i in $(seq "$2"); do echo "file $i" >"$1/d/f$i"; done; }
p11_readback() {
	local i
	for i in $(seq "${3:-1}" "$2"); do
		[[ $(cat "$1/d/f$i") == "file $i" ]] || return 1
	done
}
