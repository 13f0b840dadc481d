#!/usr/bin/env bash
# A volume whose KEK lives in a PKCS#11 token (SoftHSM2 through p11-kit):
# init, mount, write, remount, read, with an RSA key pair and with an AES
# key; a new key version (same label, greater CKA_ID) is picked up by a
# rekey and the files still read; a PIN file others may read stops the
# mount before the token is asked.
. "$(dirname "$0")/lib.sh"

p11_token hsmfs-it rsa:fskek:01 aes:fsaes:01 || { bad "SoftHSM2 token and keys"; finish; }

# files DIR N: writes N small files; readback DIR N: they read back.
files() { mkdir -p "$1/d" && for i in $(seq "$2"); do echo "file $i" >"$1/d/f$i"; done; }
readback() {
	local i
	for i in $(seq "$2"); do
		[[ $(cat "$1/d/f$i") == "file $i" ]] || return 1
	done
}

# volume NAME OBJECT TYPE: init, mount, write, remount, read.
volume() {
	local c=$T/c-$1 m=$T/m-$1 kek
	kek=$(p11_uri hsmfs-it "$2" "$3")
	check "$1: init --kek pkcs11:..." bash -c "'$HSMFS' init --kek '$kek' '$c' >'$T/init-$1' 2>&1"
	check "$1: the config names the KEK URL, the slot a canonical kid" \
		python3 - "$c/hsmfs.conf" "$kek" "$2" "$3" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["kek"] == sys.argv[2]
assert c["volume_key"]["kid"] == "pkcs11:token=hsmfs-it;object=%s;id=%%01;type=%s" % (sys.argv[3], sys.argv[4])
PY
	mount_hsm "$c" "$m" || { bad "$1: mount"; return 1; }
	files "$m" 50
	check "$1: status names the token and the key's URL" \
		bash -c "'$HSMFS' status '$m' | grep -q '^hsm: *hsmfs-it' && '$HSMFS' status '$m' | grep -qF 'object=$2'"
	umount_wait "$m"
	mount_hsm "$c" "$m" || { bad "$1: remount"; return 1; }
	check "$1: 50 files read back after a remount" readback "$m" 50
	check "$1: no warning about the key's attributes" bash -c "! grep -q 'extractable or not sensitive' '$m.log'"
	umount_wait "$m"
}

volume rsa fskek private
volume aes fsaes secret-key

# A new version of the RSA KEK: rekey wraps with it, old kids stay readable.
p11_key hsmfs-it rsa fskek 02
C=$T/c-rsa M=$T/m-rsa
check "rekey picks the new version (CKA_ID 02)" bash -c "'$HSMFS' rekey -q '$C' >'$T/rk' 2>&1 && grep -q 'id=%02;' '$C/hsmfs.conf'"
mount_hsm "$C" "$M" || bad "mount after rekey"
check "files read back after the rekey" readback "$M" 50
umount_wait "$M"

# A machine that never saw the volume (no pin): the config's URL is not
# the operator's word, so its pin-source= is not read; -o kek= with the
# same URL, its attributes in another order, vouches for it. (Mounts in
# the background: one that wrongly works returns.)
AES_KEK="pkcs11:type=secret-key;object=fsaes;token=hsmfs-it?pin-source=$P11_PIN&module-name=softhsm2"
if out=$(HSMFS_STATE_DIR=$T/state2 "$HSMFS" mount "$T/c-aes" "$T/m-aes" 2>&1); then
	bad "new machine: the config's pin-source= is not read (it mounted)"
	umount_wait "$T/m-aes"
else
	check "new machine: the config's pin-source= is not read" grep -q 'pin-source= of a KEK URL the operator did not name' <<<"$out"
fi
check "new machine: -o kek= with the same URL reordered mounts it" \
	env HSMFS_STATE_DIR="$T/state2" "$HSMFS" mount -o "kek=$AES_KEK" "$T/c-aes" "$T/m-aes"
check "and its files read back" readback "$T/m-aes" 50
umount_wait "$T/m-aes"

# The PIN file must be private: refused before the token is asked.
chmod 0644 "$P11_PIN"
mkdir -p "$M"
if out=$("$HSMFS" mount "$C" "$M" 2>&1); then
	bad "a world-readable PIN file is refused (it mounted)"
	umount_wait "$M"
else
	check "a world-readable PIN file is refused, naming it" grep -qF "$P11_PIN" <<<"$out"
fi
chmod 0600 "$P11_PIN"
finish
