#!/usr/bin/env bash
# The hsmfs story on one machine, narrated: a local Managed HSM emulator, an
# HSM key and a client that may only wrap and unwrap with it, an encrypted
# volume, ciphertext on disk, unwraps in the HSM's audit log, revocation and
# its end. Everything it starts it stops, and it leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=demo-lib.sh
. tools/demo-lib.sh
D=$(mktemp -d /var/tmp/hsmfs-demo.XXXXXX)
EMU_PID=
MNT=$D/mnt

cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT"
	[[ -n $EMU_PID ]] && kill "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT

unwraps() { grep -c '"operation":"UnwrapKey"' "$D/hsm/audit.log" || true; }
ctl() { "$EMU" ctl --state "$D/hsm" "$@"; }

say "Starting a local Managed HSM emulator (HTTPS, its own CA, loopback only)"
emu_launch "$D/hsm" 127.0.0.1:0 || exit 1
URL=$EMU_URL
note "HSM at $URL; clients trust $D/hsm/ca.pem"

say "Creating an RSA-HSM 3072 key in the HSM; it never leaves it"
run "$EMU" ctl --state "$D/hsm" key create demo-kek --kty RSA-HSM --size 3072
KEK=$URL/keys/demo-kek

say "Registering the identity that will mount the volume"
head -c 24 /dev/urandom | base64 >"$D/secret"
chmod 600 "$D/secret"
run "$EMU" ctl --state "$D/hsm" client add hsmfs-demo --secret-file "$D/secret"
note "It gets one role, on this key only: wrap and unwrap, nothing else."
run "$EMU" ctl --state "$D/hsm" role assign --principal hsmfs-demo \
	--role "Managed HSM Crypto Service Encryption User" --scope /keys/demo-kek
export AZURE_TENANT_ID=demo AZURE_CLIENT_ID=hsmfs-demo AZURE_AUTHORITY_HOST=$URL
AZURE_CLIENT_SECRET=$(cat "$D/secret")
export AZURE_CLIENT_SECRET HSMFS_STATE_DIR=$D/state
note "Credentials come from the environment, as with the Azure SDKs."
OPTS=ca_file=$D/hsm/ca.pem,kek_scope=https://managedhsm.azure.net/.default
pause

say "Creating an encrypted volume whose keys are wrapped by that HSM key"
run "$HSMFS" init --kek "$KEK" -o "$OPTS" "$D/cipher"

say "Mounting it (the command returns once the mount is ready)"
mkdir -p "$MNT"
run "$HSMFS" mount -o "$OPTS,dek_cache_ttl=60" "$D/cipher" "$MNT"
run findmnt -n -o TARGET,SOURCE,FSTYPE "$MNT"
pause

say "Writing some files through the mount"
mkdir -p "$MNT/patients"
printf 'Name: Jane Doe\nDiagnosis: confidential\n' >"$MNT/patients/jane-doe.txt"
printf 'Name: John Roe\nDiagnosis: confidential\n' >"$MNT/patients/john-roe.txt"
seq 1 100000 >"$MNT/ledger.csv"
run ls -l "$MNT" "$MNT/patients"
run cat "$MNT/patients/jane-doe.txt"
pause

say "What the disk (and every backup of it) holds: ciphertext only"
run ls -l "$D/cipher"
f=$(find "$D/cipher" -mindepth 2 -type f ! -name hsmfs.diriv | head -n 1)
note "One file's header: magic, file id, key slot with the HSM key's id"
note "and version, then the wrapped DEK:"
run xxd -l 160 "$f"
if grep -r -q -a -e 'Jane Doe' -e 'patients' "$D/cipher"; then
	echo "plaintext found on disk!" >&2
	exit 1
fi
note "grep finds neither 'Jane Doe' nor 'patients' anywhere in $D/cipher."
pause

say "Every key unwrap is an HSM operation, and shows in its audit log"
run "$HSMFS" cache flush "$MNT"
before=$(unwraps)
run cat "$MNT/patients/john-roe.txt"
printf '%s$ grep UnwrapKey %s | tail -n 1%s\n' "$CYAN" "$D/hsm/audit.log" "$RESET"
grep UnwrapKey "$D/hsm/audit.log" | tail -n 1
note "UnwrapKey calls: $before before, $(unwraps) after opening one file."
run cat "$MNT/patients/john-roe.txt" >/dev/null
note "Opening it again: $(unwraps) (the unwrapped key is cached for 60 s)."
run "$HSMFS" status "$MNT"
pause

say "Revocation: the HSM administrator disables the key"
run "$EMU" ctl --state "$D/hsm" key set demo-kek --enabled false
run "$HSMFS" cache flush "$MNT"
printf '%s$ cat %s%s\n' "$CYAN" "$MNT/patients/jane-doe.txt" "$RESET"
if cat "$MNT/patients/jane-doe.txt" 2>&1; then
	echo "the file was still readable!" >&2
	exit 1
fi
note "Access ends for every file not already open (at once after a flush,"
note "otherwise when the cached key expires)."
pause

say "Re-enabling the key restores access"
run "$EMU" ctl --state "$D/hsm" key set demo-kek --enabled true
run cat "$MNT/patients/jane-doe.txt"
pause

say "Rotation: the HSM key gets a new version"
OLD=$(grep -o 'demo-kek/[0-9a-f]\{32\}' "$D/cipher/hsmfs.conf" | head -n 1 | cut -d/ -f2)
run "$EMU" ctl --state "$D/hsm" key rotate demo-kek
note "Files still need the old version until their keys are rewrapped:"
run "$HSMFS" rekey --check -o "$OPTS" "$D/cipher" || true
pause

say "Rewrapping every file's key to the new version, while mounted"
note "Only headers change; content is not re-encrypted."
run "$HSMFS" rekey -o "$OPTS" "$D/cipher"
run "$HSMFS" rekey --check -o "$OPTS" "$D/cipher"
pause

say "Now the old version can be disabled; every file still reads"
run "$EMU" ctl --state "$D/hsm" key set demo-kek --version "$OLD" --enabled false
run "$HSMFS" cache flush "$MNT"
run cat "$MNT/patients/jane-doe.txt"
run tail -n 1 "$MNT/ledger.csv"
pause

say "Unmounting and stopping the HSM"
run "$HSMFS" umount "$MNT"
note "Done: everything this demo started is stopped and removed."
