#!/usr/bin/env bash
# A Managed HSM disaster-recovery drill on one machine, narrated: three
# security officers activate a new HSM (quorum 2), an encrypted volume's
# key lives in it, a full backup goes to a blob container; the HSM is
# destroyed; two officers recover the security domain into a new HSM, the
# backup is restored, and the volume mounts through the new HSM with every
# file intact. One officer alone cannot do it, and the backup is of no use
# without the security domain. Everything it starts it stops, and it leaves
# nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=demo-lib.sh
. tools/demo-lib.sh
D=$(mktemp -d /var/tmp/hsmfs-demo-dr.XXXXXX)
PIDS=()
MNT=$D/mnt
OFF=$D/officers
SD=$D/security-domain.json
CONTAINER=https://contosobackup.blob.core.windows.net/hsm-backups

cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT"
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$D"
}
trap cleanup EXIT

# refused CMD...: shows a command that must fail, and its message.
refused() {
	show "$@"
	if "$@" 2>&1; then
		echo "that should have been refused!" >&2
		exit 1
	fi
}
ctl() { "$EMU" ctl --state "$HSM" "$@"; }
# hsm NAME [ARGS...]: starts an emulator on state dir D/NAME, HSM=D/NAME.
hsm() {
	HSM=$D/$1
	shift
	emu_launch "$HSM" 127.0.0.1:0 --blob-root "$D/blobs" "$@" || exit 1
	PIDS+=("$EMU_PID")
	URL=$EMU_URL
}
mkdir -p "$D/blobs" "$OFF" "$MNT"
note "work directory $D"
note "(\"ctl\" below is hsm-emulator ctl --state <that HSM's state directory>)"

say "Three security officers make their key pairs (the HSM never sees the private keys)"
run "$EMU" ctl sd keys --out "$OFF"
pause

say "A new Managed HSM: provisioned, not activated"
EMU_PROVISIONED=1 hsm primary
PRIMARY=$URL
PRIMARY_PID=$EMU_PID
note "HSM at $URL"
ctl status | jq -r '"activation status: \(.activation_status)"'
note "Until it is activated it holds no keys and refuses every key operation:"
refused ctl key create fs-kek --kty RSA-HSM --size 3072
pause

say "Activating it: the officers' certificates, and a quorum of 2 of the 3"
run ctl sd download --cert "$OFF/officer1.cer" --cert "$OFF/officer2.cer" \
	--cert "$OFF/officer3.cer" --quorum 2 --out "$SD"
note "The security domain file: the HSM's secret under a master key, and that key"
note "split in 3 shares (Shamir), each encrypted to one officer's certificate:"
run jq -c '{kdf: .EncData.kdf, required: .SharedKeys.required,
	algorithm: .SharedKeys.key_algorithm, shares: [.SharedKeys.enc_shares[].x5t_256]}' "$SD"
pause

say "The volume's key (KEK) in the HSM, and the identity that mounts the volume"
run ctl key create fs-kek --kty RSA-HSM --size 3072
head -c 24 /dev/urandom | base64 >"$D/secret"
chmod 600 "$D/secret"
run ctl client add hsmfs-demo --secret-file "$D/secret"
run ctl role assign --principal hsmfs-demo \
	--role "Managed HSM Crypto Service Encryption User" --scope /keys/fs-kek
export AZURE_TENANT_ID=demo AZURE_CLIENT_ID=hsmfs-demo AZURE_AUTHORITY_HOST=$PRIMARY
AZURE_CLIENT_SECRET=$(cat "$D/secret")
export AZURE_CLIENT_SECRET HSMFS_STATE_DIR=$D/state
SCOPE=kek_scope=https://managedhsm.azure.net/.default
pause

say "An encrypted volume on that HSM, with some files"
run "$HSMFS" init --kek "$PRIMARY/keys/fs-kek" -o "ca_file=$HSM/ca.pem,$SCOPE" "$D/cipher"
VERSION=$(grep -o 'fs-kek/[0-9a-f]\{32\}' "$D/cipher/hsmfs.conf" | head -n 1 | cut -d/ -f2)
cp "$HSM/ca.pem" "$D/primary-ca.pem"
run "$HSMFS" mount -o "ca_file=$HSM/ca.pem,$SCOPE" "$D/cipher" "$MNT"
mkdir -p "$MNT/patients"
printf 'Name: Jane Doe\nDiagnosis: confidential\n' >"$MNT/patients/jane-doe.txt"
printf 'Name: John Roe\nDiagnosis: confidential\n' >"$MNT/patients/john-roe.txt"
seq 1 100000 >"$MNT/ledger.csv"
head -c 1048576 /dev/urandom >"$MNT/scan.bin"
(cd "$MNT" && find . -type f | sort | xargs sha256sum) >"$D/sums"
run ls -lR "$MNT"
run "$HSMFS" umount "$MNT"
pause

say "A full backup of the HSM to a blob container"
printf 'sv=2024-11-04&sr=c&sp=crdw&sig=demo' >"$D/sas"
note "(the container is a directory under the emulator's --blob-root)"
show hsm-emulator ctl backup --container "$CONTAINER" --token-file sas
FOLDER=$(ctl backup --container "$CONTAINER" --token-file "$D/sas")
echo "$FOLDER"
run ls -l "$D/blobs/contosobackup/hsm-backups/$FOLDER"
note "Keys, versions, attributes and role assignments, sealed under the security domain:"
run jq -c '{security_domain, sealed: (.sealed[:48] + "...")}' \
	"$D/blobs/contosobackup/hsm-backups/$FOLDER/backup.json"
pause

say "Disaster: the HSM is destroyed, its state and all"
kill "$PRIMARY_PID" && wait "$PRIMARY_PID" 2>/dev/null || true
rm -rf "$D/primary"
note "The volume is ciphertext that no one can read now:"
refused "$HSMFS" mount -o "ca_file=$D/primary-ca.pem,$SCOPE,hsm_timeout=3000" "$D/cipher" "$MNT"
pause

say "A new HSM, provisioned and not activated, to recover into"
EMU_PROVISIONED=1 hsm dr
DR=$URL
note "HSM at $URL"
note "One officer alone cannot recover the security domain:"
refused ctl sd recover --sd-file "$SD" --key "$OFF/officer1.key"
ctl status | jq -r '"activation status: \(.activation_status)"'
pause

say "Two of the three officers restore the security domain"
note "as with az keyvault security-domain init-recovery, restore-blob and upload:"
run ctl sd exchange-key --out "$D/exchange.cer"
note "Offline, with the officers' private keys (they never reach the HSM):"
run "$EMU" ctl sd restore-blob --sd-file "$SD" --exchange-key "$D/exchange.cer" \
	--key "$OFF/officer1.key" --key "$OFF/officer3.key" --out "$D/restore-blob.json"
run ctl sd upload --blob "$D/restore-blob.json"
ctl status | jq -r '"activation status: \(.activation_status)"'
pause

say "Restoring the backup (the service wants a backup of the new HSM first)"
show hsm-emulator ctl backup --container "$CONTAINER" --token-file sas
ctl backup --container "$CONTAINER" --token-file "$D/sas"
run ctl restore --container "$CONTAINER" --folder "$FOLDER" --token-file "$D/sas"
note "The key is back under its name, in the new HSM:"
run ctl key list
pause

say "The identity is Entra's, not the HSM's; its role assignment came back"
run ctl client add hsmfs-demo --secret-file "$D/secret"
run ctl role list
export AZURE_AUTHORITY_HOST=$DR
pause

say "Mounting the volume through the new HSM"
note "Its config still names $PRIMARY/keys/fs-kek; hsm_endpoint= names"
note "the HSM that now holds that key (see \"Pointing hsmfs at Azure Managed HSM\")."
before=$(grep -c '"operation":"UnwrapKey".*"outcome":"ok"' "$HSM/audit.log" || true)
run "$HSMFS" mount -o "ca_file=$HSM/ca.pem,$SCOPE,hsm_endpoint=$DR" "$D/cipher" "$MNT"
run cat "$MNT/patients/jane-doe.txt"
show "(cd $MNT && sha256sum -c sums)"
(cd "$MNT" && sha256sum -c "$D/sums")
n=$(wc -l <"$D/sums")
after=$(grep -c '"operation":"UnwrapKey".*"outcome":"ok"' "$HSM/audit.log" || true)
note "All $n files read back byte-exact; the new HSM's audit log shows the unwraps:"
grep '"operation":"UnwrapKey"' "$HSM/audit.log" | tail -n 2
note "UnwrapKey: $((after - before)) in the new HSM for $n files, all with the version"
note "the volume's headers name ($VERSION): the same kid as in the first HSM."
((after - before >= n)) || { echo "fewer unwraps than files!" >&2; exit 1; }
if grep '"operation":"UnwrapKey"' "$HSM/audit.log" | grep -v -q "\"version\":\"$VERSION\""; then
	echo "an unwrap with another key version!" >&2
	exit 1
fi
run "$HSMFS" umount "$MNT"
pause

say "Without its security domain, the backup is useless"
note "Another HSM, with a security domain of its own:"
hsm other
ctl backup --container "$CONTAINER" --token-file "$D/sas" >/dev/null
refused ctl restore --container "$CONTAINER" --folder "$FOLDER" --token-file "$D/sas"
if grep -q -e fs-kek -e PRIVATE "$D/blobs/contosobackup/hsm-backups/$FOLDER/backup.json"; then
	echo "key names or material in the backup!" >&2
	exit 1
fi
note "and the backup names no key and holds no key material in the clear."

say "Stopping the HSMs"
note "Done: everything this drill started is stopped and removed."
