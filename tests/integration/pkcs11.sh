#!/usr/bin/env bash
# A volume whose KEK lives in a PKCS#11 token (SoftHSM2 through p11-kit):
# init, mount, write, remount, read, with an RSA key pair and with an AES
# key; a new key version (same label, greater CKA_ID) is picked up by a
# rekey and the files still read; a PIN file others may read stops the
# mount before the token is asked. Then what the Azure path guarantees,
# with this token: a header's wrapped key changed is EIO; the module
# losing the token (its files taken away) fails opens with EIO and a
# line, and access returns with the token, without a remount (but not
# once the token refused the PIN: that is never tried again); volume
# wrapping and its O(1) rotation; a rekey --to from an emulated Azure KEK
# to the token and back, each killed with -9 midway and finished; and
# revocation: deleting the key object ends access after a cache flush.
. "$(dirname "$0")/lib.sh"

p11_token hsmfs-it rsa:fskek:01 aes:fsaes:01 || { bad "SoftHSM2 token and keys"; finish; }


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
	p11_files "$m" 50
	check "$1: status names the token and the key's URL" \
		bash -c "'$HSMFS' status '$m' | grep -q '^hsm: *hsmfs-it' && '$HSMFS' status '$m' | grep -qF 'object=$2'"
	umount_wait "$m"
	mount_hsm "$c" "$m" || { bad "$1: remount"; return 1; }
	check "$1: 50 files read back after a remount" p11_readback "$m" 50
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
check "files read back after the rekey" p11_readback "$M" 50
"$HSMFS" status "$M" >"$T/st"
check "status: token, object, module, the CKA_ID in use, sessions" \
	bash -c "grep -qx 'p11 token:   hsmfs-it' '$T/st' && grep -qx 'p11 object:  fskek (RSA private key)' '$T/st' &&
		grep -q '^p11 module:  softhsm2 ' '$T/st' && grep -q '^p11 CKA_ID:  02 ' '$T/st' && grep -q '^p11 pool: .* sessions open' '$T/st'"
check "status: no line about Entra tokens" bash -c "! grep -q '^hsm token' '$T/st'"
check "status --json: hsm.pkcs11 names the object" \
	bash -c "'$HSMFS' status --json '$M' | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"hsm\"][\"pkcs11\"][\"object\"].startswith(\"fskek\")'"
umount_wait "$M"
check "info (offline): token, object and module" \
	bash -c "'$HSMFS' info '$C' | grep -qx 'p11 token:     hsmfs-it' && '$HSMFS' info '$C' | grep -q '^p11 module:    softhsm2'"

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
check "and its files read back" p11_readback "$T/m-aes" 50
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

# bfile MNT PATH: the backing file of a file, by its inode number.
bfile() { find "${MNT_C:-$C}" -inum "$(stat -c %i "$1/$2")" | head -n 1; }
# loglines NAME LOG: how many lines of LOG name the backing file NAME.
loglines() { grep -cF -- "${1##*/}: cannot unwrap" "$2" || true; }

# Tamper: a header's wrapped key changed. The token decrypts it (raw
# RSA, see hsmclient/README.md) and the OAEP check here refuses it.
mount_hsm "$C" "$M" || bad "mount for the tamper check"
F1=$(bfile "$M" d/f1)
umount_wait "$M"
flip "$F1" 1310
# No key prefetch: each open is the only unwrap of its file, so that its
# log line is the only one naming the file.
mount_hsm "$C" "$M" -o prefetch=0 || bad "remount for the tamper check"
check "tamper: a header's wrapped key changed: EIO" \
	bash -c "cat '$M/d/f1' 2>&1 >/dev/null | grep -q 'Input/output error'"
check "tamper: a log line names the backing file" test "$(loglines "$F1" "$M.log")" -ge 1
check "tamper: the other files read" p11_readback "$M" 50 2
flip "$F1" 1310

# The module fails mid-run: the token's files taken away while mounted
# (SoftHSM2 then lists an empty token, and finds none once
# re-initialized). Cached keys serve; an open needing an unwrap fails at
# once with EIO and one line naming the file and the cause; with the
# files back, access returns without a remount.
"$HSMFS" cache flush "$M" >/dev/null
cat "$M/d/f4" >/dev/null
F3=$(bfile "$M" d/f3)
mv "$T/softhsm/tokens" "$T/softhsm/away"
out=$(timeout 60 cat "$M/d/f3" 2>&1 >/dev/null)
check "token gone: an uncached open fails with EIO" grep -q 'Input/output error' <<<"$out"
check "token gone: one log line names the file, and the cause" \
	bash -c "test $(loglines "$F3" "$M.log") -eq 1 && grep -F '${F3##*/}: cannot unwrap' '$M.log' | grep -q 'C_Initialize\|token'"
check "token gone: a cached key still serves" grep -qx 'file 4' "$M/d/f4"
check "token gone: status answers" timeout 20 "$HSMFS" status "$M" >/dev/null
mv "$T/softhsm/away" "$T/softhsm/tokens"
check "token back: the file reads again, no remount" \
	wait_for 30 bash -c "grep -qx 'file 3' '$M/d/f3' 2>/dev/null"
check "token back: the log says so" grep -q "token 'hsmfs-it' is back" "$M.log"

# The token back with its PIN changed behind hsmfs: the login is refused
# once, and the PIN never tried again (a PIN tried again and again locks
# a token), so even with the PIN working again access stays off until a
# remount.
PIN=$(cat "$P11_PIN")
newpin() {
	pkcs11-tool --module "$P11_MODULE" --token-label hsmfs-it --login \
		--pin "$1" --change-pin --new-pin "$2" >/dev/null 2>&1
}
"$HSMFS" cache flush "$M" >/dev/null
mv "$T/softhsm/tokens" "$T/softhsm/away"
timeout 60 cat "$M/d/f3" >/dev/null 2>&1
mv "$T/softhsm/away" "$T/softhsm/tokens"
newpin "$PIN" 9999-other || bad "change the token's PIN"
check "PIN changed: the login is refused once, and the log says so" \
	wait_for 30 bash -c "! cat '$M/d/f5' >/dev/null 2>&1 &&
		grep -q \"token 'hsmfs-it' refused the PIN\" '$M.log'"
newpin 9999-other "$PIN" || bad "change the token's PIN back"
sleep 3 # past the 2 s between tries of a token that is down
check "PIN refused: not tried again, even once it would work" \
	bash -c "! timeout 60 cat '$M/d/f6' >/dev/null 2>&1"
umount_wait "$M"
mount_hsm "$C" "$M" || bad "remount after the PIN was refused"
check "PIN refused: a remount tries it again" grep -qx 'file 6' "$M/d/f6"
umount_wait "$M"

# Volume wrapping with an AES KEK on the token: a rotation (a new
# version, CKA_ID 02) rewraps the config alone, no file header.
VW=$T/c-vw MW=$T/m-vw
check "volume wrap: init --wrap volume with an AES KEK" \
	bash -c "'$HSMFS' init --wrap volume --kek '$(p11_uri hsmfs-it fsaes secret-key)' '$VW' | grep -q 'wrap: volume'"
mount_hsm "$VW" "$MW" || bad "volume wrap: mount"
p11_files "$MW" 20
umount_wait "$MW"
touch "$T/before-rotation"
p11_key hsmfs-it aes fsaes 02
check "volume wrap: rekey after a rotation moves the config to CKA_ID 02" \
	bash -c "'$HSMFS' rekey -q '$VW' >'$T/rk-vw' 2>&1 && grep -q 'fsaes;id=%02;' '$VW/hsmfs.conf'"
check "volume wrap: no file header was written" \
	test -z "$(find "$VW" -type f -newer "$T/before-rotation" ! -name 'hsmfs.*')"
mount_hsm "$VW" "$MW" || bad "volume wrap: mount after the rotation"
check "volume wrap: the files read back" p11_readback "$MW" 20

# Across providers: an Azure KEK (the emulator) to the token and back,
# with a mount midway; each rekey is killed with -9 once the config
# names its target, and run again.
emu_start "$T/emu" || bad "emulator starts"
emu_setup "$T/emu" azkek RSA-HSM 2048 || bad "emulator setup"
AZ=$EMU_URL/keys/azkek AO=ca_file=$T/emu/ca.pem,kek_scope=$SCOPE
P11=$(p11_uri hsmfs-it fskek private)
XC=$T/c-x XM=$T/m-x
"$HSMFS" init --kek "$AZ" -o "$AO" "$XC" >/dev/null || bad "init under the Azure KEK"
mount_hsm "$XC" "$XM" -o "$AO" || bad "mount under the Azure KEK"
p11_files "$XM" 30
umount_wait "$XM"
mount_hsm "$XC" "$XM" -o "$AO" || bad "remount under the Azure KEK"
check "azure: every file reads before" p11_readback "$XM" 30
umount_wait "$XM"
names() { python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["kek"] != sys.argv[2])' "$XC/hsmfs.conf" "$1"; }
# cross LABEL TARGET: rekey --to TARGET, killed midway, read through a
# mount, finished by a second run.
cross() {
	local rp
	"$HSMFS" rekey -q --max-rate 5 --to "$2" -o "$AO" "$XC" >"$T/rk-$1" 2>&1 &
	rp=$!
	wait_for 30 names "$2"
	kill -9 "$rp" 2>/dev/null
	wait "$rp" 2>/dev/null
	check "$1: killed midway, both KEKs referenced" \
		bash -c "! '$HSMFS' rekey --check -o '$AO' '$XC' >'$T/ck-$1' 2>&1 && grep -q 'old ' '$T/ck-$1'"
	mount_hsm "$XC" "$XM" -o "$AO" || bad "$1: mount midway"
	check "$1: every file reads midway" p11_readback "$XM" 30
	umount_wait "$XM"
	check "$1: a second run finishes" "$HSMFS" rekey -q -o "$AO" "$XC"
	check "$1: rekey --check: nothing old is referenced" \
		bash -c "'$HSMFS' rekey --check -o '$AO' '$XC' | grep -q 'only the current KEK version is needed'"
	mount_hsm "$XC" "$XM" -o "$AO" || bad "$1: mount after"
	check "$1: every file reads after" p11_readback "$XM" 30
	umount_wait "$XM"
}
cross "azure to pkcs11" "$P11"
check "the config names the token's KEK" names "$P11"
cross "pkcs11 to azure" "$AZ"
check "the config names the Azure KEK" names "$AZ"

# Revocation: the AES key deleted while mounted. After a cache flush a
# file read before (its key was cached) no longer opens, and a volume-wrap volume refuses the
# re-validation; a file open before goes on (as with Azure).
mount_hsm "$T/c-aes" "$T/m-aes" || bad "mount the AES volume"
cat "$T/m-aes/d/f1" "$T/m-aes/d/f2" >/dev/null
exec 7<"$T/m-aes/d/f1"
F2=$(MNT_C=$T/c-aes bfile "$T/m-aes" d/f2)
del() {
	p11_tool hsmfs-it --delete-object --type secrkey --label fsaes --id "$1"
}
del_both() { del 01 && del 02; }
check "revocation: both versions deleted (pkcs11-tool --delete-object)" del_both
"$HSMFS" cache flush "$T/m-aes" >/dev/null
check "revocation: a file whose key was cached no longer opens (EIO)" \
	bash -c "cat '$T/m-aes/d/f2' 2>&1 >/dev/null | grep -q 'Input/output error'"
check "revocation: and the log says why" \
	bash -c "grep -F '${F2##*/}: cannot unwrap' '$T/m-aes.log' | grep -q 'no secret key'"
check "revocation: a file opened before goes on" bash -c "head -n 1 <&7 | grep -qx 'file 1'"
exec 7<&-
"$HSMFS" cache flush "$MW" >"$T/flush-vw" 2>&1
check "revocation: a volume-wrap volume refuses the re-validation" grep -q refused "$T/flush-vw"
check "revocation: and its files no longer read" bash -c "! cat '$MW/d/f1' 2>/dev/null"
umount_wait "$MW"
umount_wait "$T/m-aes"

# A public-key object planted beside an RSA KEK (same label and CKA_ID,
# another key's modulus): nothing is wrapped to it, the KEK is refused.
p11t() { p11_tool hsmfs-it "$@"; }
p11_key hsmfs-it rsa pairkek 01 && p11_key hsmfs-it rsa otherkek 01 &&
	p11t --read-object --type pubkey --label otherkek --id 01 -o "$T/other.der" &&
	p11t --delete-object --type pubkey --label pairkek --id 01 &&
	p11t --write-object "$T/other.der" --type pubkey --label pairkek --id 01 ||
	bad "plant another key's public half beside a private key"
rc=0
"$HSMFS" init --kek "$(p11_uri hsmfs-it pairkek private)" "$T/c-pair" >"$T/pair.out" 2>&1 || rc=$?
check "a planted public key: init refuses the KEK" test "$rc" -ne 0
check "a planted public key: the error names the mismatch" \
	grep -q "is not the private key's" "$T/pair.out"
finish
