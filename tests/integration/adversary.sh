#!/usr/bin/env bash
# An attacker who controls the backing directory, and runs an HTTPS
# server of their own (attacker.py, its own CA: trusted here through
# ca_file= as a public CA would be). Forged configs naming the attacker's
# host, or the real RSA KEK with a volume key of the attacker's, are
# refused on a machine that pinned the directory, on a new machine given
# the volume's fingerprint (-o volume=), and, for a host the operator
# never named, by the host rule alone. Where it matters the attacker's
# log is checked to be empty: not one connection, so no token and no
# wrapped key. Positive controls: the genuine volume, and a legitimate
# re-init after the documented step.
. "$(dirname "$0")/lib.sh"

E=$T/emu
emu_start "$E" || { bad "emulator starts"; finish; }
emu_setup "$E" fskek RSA-HSM 2048 || { bad "emulator setup"; finish; }
KEK=$EMU_URL/keys/fskek

# The attacker's CA and server on another loopback address.
A=$T/attacker
mkdir -p "$A"
attacker_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=attacker-ca \
		-keyout "$A/ca.key" -out "$A/ca.pem" &&
		openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.2 \
			-keyout "$A/srv.key" -out "$A/srv.csr" &&
		openssl x509 -req -in "$A/srv.csr" -CA "$A/ca.pem" -CAkey "$A/ca.key" \
			-CAcreateserial -days 2 -out "$A/srv.pem" \
			-extfile <(printf 'subjectAltName=IP:127.0.0.2\nextendedKeyUsage=serverAuth\n')
}
attacker_ca 2>/dev/null || { bad "attacker CA"; finish; }
ALOG=$A/log
: >"$ALOG"
/usr/bin/python3 "$ROOT/tests/integration/attacker.py" "$A/srv.pem" "$A/srv.key" "$ALOG" >"$A/url" 2>"$A/err" &
PIDS+=($!)
for _ in $(seq 100); do
	ATT=$(head -n 1 "$A/url" 2>/dev/null)
	[[ $ATT == https://* ]] && break
	sleep 0.05
done
[[ $ATT == https://* ]] || { cat "$A/err" >&2; bad "attacker server starts"; finish; }
cat "$E/ca.pem" "$A/ca.pem" >"$T/cas.pem"
O=ca_file=$T/cas.pem,kek_scope=$SCOPE

check "control: the attacker's server logs every connection" \
	bash -c "curl -s --cacert '$A/ca.pem' '$ATT/keys/k' >/dev/null; test -s '$ALOG'"
: >"$ALOG"

# The genuine volume, made (and so pinned) on this machine.
C=$T/c
M=$T/m
"$HSMFS" init --kek "$KEK" -o "$O" "$C" >"$T/init.out" || { bad "init"; finish; }
FPR=$(sed -n 's/^  fingerprint: //p' "$T/init.out")
check "init prints the fingerprint" bash -c "[[ '$FPR' =~ ^([a-z2-7]{4}-){7}[a-z2-7]{4}\$ ]]"
mount_hsm "$C" "$M" -o "$O" && echo "the real thing" >"$M/secret" && umount_wait "$M"
cp "$C/hsmfs.conf" "$T/genuine.conf"

# put_conf FILE: FILE becomes the volume's config.
put_conf() { rm -f "$C/hsmfs.conf" && cp "$1" "$C/hsmfs.conf"; }
# refused STATE WANT [OPTS]: hsmfs mount fails on the machine whose pins
# are in STATE, saying WANT.
refused() {
	local st=$1 want=$2 opts=${3:-$O} out
	mkdir -p "$st" "$M"
	if out=$(HSMFS_STATE_DIR=$st "$HSMFS" mount -o "$opts" "$C" "$M" 2>&1); then
		fusermount3 -u "$M"
		echo "  mounted" >&2
		return 1
	fi
	grep -q -- "$want" <<<"$out" && return 0
	echo "  $out" >&2
	return 1
}
# tool_refused STATE WANT CMD...: an offline tool, the same.
tool_refused() {
	local st=$1 want=$2 out
	shift 2
	mkdir -p "$st"
	out=$(HSMFS_STATE_DIR=$st "$HSMFS" "$@" 2>&1) && { echo "  ran" >&2; return 1; }
	grep -q -- "$want" <<<"$out" && return 0
	echo "  $out" >&2
	return 1
}
quiet() { test ! -s "$ALOG"; }
hsm_requests() { wc -l <"$E/audit.log"; }
PINNED=$HSMFS_STATE_DIR

# 1. A new volume id, the attacker's host as KEK, on the machine with the
# pin: the directory's pin, not the config's id, decides.
put_conf "$T/genuine.conf"
/usr/bin/python3 "$ROOT/tests/integration/forge.py" kek "$C/hsmfs.conf" "$ATT/keys/k"
check "pinned machine: a new volume id naming the attacker's KEK is refused" \
	refused "$PINNED" "another volume than this machine pinned there: refused before any request.*hsmfs pin forget"
check "fsck --unwrap refuses it too" \
	tool_refused "$PINNED" "another volume than this machine pinned" fsck --unwrap -o "$O" "$C"
check "rekey refuses it too" \
	tool_refused "$PINNED" "another volume than this machine pinned" rekey -q -o "$O" "$C"
check "and the attacker heard nothing" quiet

# 2. The same on a new machine given the volume's fingerprint.
check "new machine, -o volume=: refused by the fingerprint" \
	refused "$T/new2" "volume in .* does not match the fingerprint" "$O,volume=$FPR"
check "and the attacker heard nothing" quiet

# 3. The same on a new machine with a token scope but nothing that names
# the attacker's host: the host rule refuses it.
check "new machine, kek_scope= only: refused, the host was never named" \
	refused "$T/new3" "127.0.0.2 is not within \*.managedhsm.azure.net.*not named"
check "fsck --unwrap refuses it too" \
	tool_refused "$T/new3" "not named" fsck --unwrap -o "$O" "$C"
check "rekey --check refuses it too" \
	tool_refused "$T/new3" "not named" rekey --check -o "$O" "$C"
check "and the attacker heard nothing" quiet
check "new machine, hsm_endpoint= naming another host: still refused" \
	refused "$T/new3" "not named" "$O,hsm_endpoint=$EMU_URL"
check "and the attacker heard nothing" quiet
check "no pin was written for the refused volume" \
	bash -c "! ls '$T/new2/pins' '$T/new3/pins' 2>/dev/null | grep -q dir-"
# The control that gives the empty logs their meaning: had the operator
# named that host, hsmfs would have sent it a token.
refused "$T/new3b" "cannot" "$O,kek=$ATT/keys/k" >/dev/null 2>&1
check "control: named by the operator (kek=), the attacker's host is asked" \
	grep -q "request POST .*(bearer token: yes)" "$ALOG"
: >"$ALOG"

# 4. The real KEK, a new volume id and the attacker's volume key, wrapped
# with the RSA KEK's public key: simplest, a volume the attacker made.
HSMFS_STATE_DIR=$T/attacker-state "$HSMFS" init --kek "$KEK" -o "$O" "$T/evil" >/dev/null
put_conf "$T/evil/hsmfs.conf"
n0=$(hsm_requests)
check "pinned machine: the attacker's volume under the real KEK is refused" \
	refused "$PINNED" "another volume than this machine pinned"
check "new machine, -o volume=: refused by the fingerprint" \
	refused "$T/new4" "volume in .* does not match the fingerprint" "$O,volume=$FPR"
check "both before any request to the HSM" test "$(hsm_requests)" -eq "$n0"
check "fsck with -o volume= refuses it too" \
	tool_refused "$T/new4" "does not match the fingerprint" fsck -o "$O,volume=$FPR" "$C"

# 5. The same with the victim's own volume id: the config is consistent
# (the attacker's key, wrapped with the public key, a valid MAC), so only
# the key check value (pin) or the fingerprint's second half can tell.
tok=$(curl -s --cacert "$E/ca.pem" -d grant_type=client_credentials \
	-d client_id=hsmfs-mount --data-urlencode "client_secret=$AZURE_CLIENT_SECRET" \
	--data-urlencode "scope=$SCOPE" "$EMU_URL/hsmfs-test/oauth2/v2.0/token" | jq -r .access_token)
curl -s --cacert "$E/ca.pem" -H "Authorization: Bearer $tok" "$KEK?api-version=7.4" |
	jq .key >"$T/jwk.json"
put_conf "$T/genuine.conf"
check "forge a config with the victim's id and the attacker's volume key" \
	/usr/bin/python3 "$ROOT/tests/integration/forge.py" vk "$C/hsmfs.conf" "$T/jwk.json"
check "pinned machine: refused by the pinned key check value" \
	refused "$PINNED" "volume key differs from the one pinned"
check "new machine, -o volume=: refused by the fingerprint's second half" \
	refused "$T/new5" "volume key of .* does not match the fingerprint" "$O,volume=$FPR"
check "no pin was written for it" bash -c "! ls '$T/new5/pins' 2>/dev/null | grep -q dir-"

# Positive controls: the genuine volume.
put_conf "$T/genuine.conf"
check "the genuine volume mounts with the pin" mount_hsm "$C" "$M" -o "$O"
check "and reads back" grep -qx "the real thing" "$M/secret"
check "status shows its fingerprint" bash -c "'$HSMFS' status '$M' | grep -q 'fingerprint: $FPR'"
umount_wait "$M"
UPPER=$(tr -d - <<<"$FPR" | tr '[:lower:]' '[:upper:]')
check "a new machine with the right -o volume= mounts it (any case, no dashes)" \
	env HSMFS_STATE_DIR="$T/new6" "$HSMFS" mount -o "$O,volume=$UPPER" "$C" "$M"
check "and reads back" grep -qx "the real thing" "$M/secret"
umount_wait "$M"
check "and pinned it on first use" bash -c "ls '$T/new6/pins' | grep -q '^dir-'"
check "a new machine naming the HSM's host (hsm_endpoint=) mounts it" \
	env HSMFS_STATE_DIR="$T/new7" "$HSMFS" mount -o "$O,hsm_endpoint=$EMU_URL" "$C" "$M"
umount_wait "$M"

# A legitimate re-init: this machine (init re-pins) at once; another
# that pinned the old volume after forgetting the pin as its refusal
# says, with the new fingerprint.
find "$C" -mindepth 1 -delete
"$HSMFS" init --kek "$KEK" -o "$O" "$C" >"$T/init2.out"
FPR2=$(sed -n 's/^  fingerprint: //p' "$T/init2.out")
check "re-init prints another fingerprint" bash -c "[[ -n '$FPR2' && '$FPR2' != '$FPR' ]]"
check "re-init re-pinned this machine: the new volume mounts" mount_hsm "$C" "$M" -o "$O"
umount_wait "$M"
out=$(HSMFS_STATE_DIR=$T/new6 "$HSMFS" mount -o "$O,volume=$FPR2" "$C" "$M" 2>&1)
check "a machine that pinned the old volume refuses it, saying how to forget the pin" \
	grep -qF "run 'hsmfs pin forget $(realpath "$C")'" <<<"$out"
check "hsmfs pin forget, as it says, removes that pin (no HSM asked)" \
	env HSMFS_STATE_DIR="$T/new6" "$HSMFS" pin forget "$C"
check "after that, it mounts with the new fingerprint" \
	env HSMFS_STATE_DIR="$T/new6" "$HSMFS" mount -o "$O,volume=$FPR2" "$C" "$M"
umount_wait "$M"
check "the attacker heard nothing at all" quiet
finish
