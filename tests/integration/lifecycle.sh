#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The emulator's Managed HSM disaster-recovery lifecycle over real HTTPS:
# a provisioned HSM refuses key operations; activation by security domain
# download (3 officers, quorum 2) and its refusals; sealed state; full
# backup; recovery of a new HSM by 2 of the 3 officers (the blob made by an
# independent implementation of the Azure CLI's restore-blob), refused with
# one officer or a blob for another HSM; full restore with the same kids,
# refused into another security domain and while one runs; a blob
# container that cannot lead outside the blob root.
. "$(dirname "$0")/lib.sh"

A=$T/hsm-a
BL=$T/blobs
mkdir -p "$BL" "$T/outside"
OFF=$T/officers
mkdir -p "$OFF"
"$EMU" ctl sd keys --out "$OFF" >/dev/null || { bad "officer keys"; finish; }

b64u() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
fails() { ! "$@" >/dev/null 2>&1; }
quiet() { "$@" >/dev/null; }

# jwe_header: the protected header of the compact JWE on stdin.
jwe_header() {
	local h
	h=$(cut -d. -f1 | tr -- '-_' '+/')
	while ((${#h} % 4)); do h+='='; done
	base64 -d <<<"$h"
}

# jwk CERT: the JWK "az keyvault security-domain download" sends for it.
jwk() {
	openssl x509 -in "$1" -outform DER -out "$T/jwk.der"
	jq -n --arg x5c "$(base64 -w0 "$T/jwk.der")" \
		--arg t "$(openssl dgst -sha256 -binary "$T/jwk.der" | b64u)" \
		--arg n "$(openssl x509 -in "$1" -noout -modulus | cut -d= -f2 | xxd -r -p | b64u)" \
		'{kid: "k", kty: "RSA", key_ops: ["verify", "encrypt", "wrapKey"],
		  alg: "RSA-OAEP-256", x5c: [$x5c], "x5t#S256": $t, n: $n, e: "AQAB"}'
}
J1=$(jwk "$OFF/officer1.cer")
J2=$(jwk "$OFF/officer2.cer")
J3=$(jwk "$OFF/officer3.cer")

# client STATE ID: a client with a secret in STATE (Entra, not the HSM).
client() {
	[[ -s $T/$2.secret ]] || printf %s "$(head -c 24 /dev/urandom | base64)" >"$T/$2.secret"
	emu_ctl "$1" client add "$2" --secret-file "$T/$2.secret" >/dev/null
}

# token STATE ID: an access token of that client from STATE's token endpoint.
token() {
	curl -sS --cacert "$1/ca.pem" "$(cat "$1/url")/t/oauth2/v2.0/token" \
		--data-urlencode grant_type=client_credentials --data-urlencode "client_id=$2" \
		--data-urlencode "client_secret@$T/$2.secret" --data-urlencode "scope=$SCOPE" |
		jq -r .access_token
}

# rest STATE TOKEN METHOD PATH [BODY]: the HTTP status; body in $T/body,
# headers in $T/headers.
rest() {
	local sep='?'
	[[ $4 == *\?* ]] && sep='&'
	curl -sS --cacert "$1/ca.pem" -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$3" \
		-H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
		${5:+--data-binary "$5"} "$(cat "$1/url")$4${sep}api-version=7.5"
}

# is STATUS JQ-FILTER: the last answer had that status and its body passes.
is() {
	[[ $STATUS == "$1" ]] && jq -e "$2" "$T/body" >/dev/null
}

# poll STATE TOKEN PATH: waits (bounded) until PATH's status is final.
poll() {
	local i
	for i in $(seq 300); do
		STATUS=$(rest "$1" "$2" GET "$3")
		jq -e '.status != "InProgress"' "$T/body" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# shares_are_jwes SDFILE: EncData under sp108_kdf; each share a JWE to its
# certificate with RSA-OAEP-256 and A256CBC-HS512.
shares_are_jwes() {
	local e
	jq -e '.EncData.kdf == "sp108_kdf"' "$1" >/dev/null || return 1
	for e in $(jq -r '.SharedKeys.enc_shares[].enc_key' "$1"); do
		jwe_header <<<"$e" | jq -e '.alg == "RSA-OAEP-256" and .enc == "A256CBC-HS512"' \
			>/dev/null || return 1
	done
}

activation() { emu_ctl "$1" status | jq -r .activation_status; }
download() { jq -n --argjson a "$1" --argjson b "$2" --argjson c "${3:-null}" --argjson q "$4" \
	'{certificates: ([$a, $b, $c] | map(select(. != null))), required: $q}'; }

# provisioned STATE: a new HSM, provisioned and not activated, with an
# administrator "admin" and a Crypto User "user".
provisioned() {
	EMU_PROVISIONED=1 emu_start "$1" 127.0.0.1:0 --blob-root "$BL" || return 1
	client "$1" admin && client "$1" user &&
		emu_ctl "$1" role assign --principal admin --role "Managed HSM Administrator" >/dev/null &&
		emu_ctl "$1" role assign --principal user --role "Managed HSM Crypto User" >/dev/null
}

provisioned "$A" || { bad "emulator starts"; finish; }
TA=$(token "$A" admin)
TU=$(token "$A" user)

check "a new HSM is provisioned, not activated" [ "$(activation "$A")" = NotActivated ]
STATUS=$(rest "$A" "$TU" GET /keys)
check "not activated: key operations refused (403 NotActivated)" \
	is 403 '.error.innererror.code == "NotActivated"'
check "not activated: no key can be made" fails emu_ctl "$A" key create k --kty oct-HSM

STATUS=$(rest "$A" "$TA" POST /securitydomain/download "$(download "$J1" "$J2" "" 2)")
check "activation refused with 2 certificates (3 to 10)" is 400 '.error.code == "BadParameter"'
STATUS=$(rest "$A" "$TA" POST /securitydomain/download "$(download "$J1" "$J2" "$J3" 1)")
check "activation refused with quorum 1 (2 at least)" is 400 '.error.message | test("required")'
STATUS=$(rest "$A" "$TA" POST /securitydomain/download "$(download "$J1" "$J2" "$J3" 4)")
check "activation refused with a quorum above the certificates" is 400 '.error.message | test("required")'
STATUS=$(rest "$A" "$TA" POST /securitydomain/download "$(download "$J1" "$J2" "$J1" 2)")
check "activation refused with one certificate twice" is 400 '.error.message | test("repeats")'
STATUS=$(rest "$A" "$TA" POST /securitydomain/download \
	"$(download "$J1" "$J2" "$(jq '."x5t#S256" = "AAAA"' <<<"$J3")" 2)")
check "activation refused with a wrong x5t#S256" is 400 '.error.message | test("x5t#S256")'
STATUS=$(rest "$A" "$TU" POST /securitydomain/download "$(download "$J1" "$J2" "$J3" 2)")
check "a Crypto User may not download the security domain" is 403 '.error.innererror.code == "ForbiddenByRbac"'
check "after the refusals the HSM is still not activated" [ "$(activation "$A")" = NotActivated ]

STATUS=$(rest "$A" "$TA" POST /securitydomain/download "$(download "$J1" "$J2" "$J3" 2)")
check "the Administrator downloads the security domain (202)" is 202 '.value | fromjson | .EncData'
jq -r .value "$T/body" >"$T/sd-a.json"
grep -qi '^azure-asyncoperation: .*/securitydomain/download/pending' "$T/headers" ||
	bad "download answers Azure-AsyncOperation"
STATUS=$(rest "$A" "$TA" GET /securitydomain/download/pending)
check "download status: Success" is 200 '.status == "Success"'
check "the HSM is activated" [ "$(activation "$A")" = Active ]
thumbs=$(for i in 1 2 3; do openssl x509 -in "$OFF/officer$i.cer" -outform DER | openssl dgst -sha256 -binary | b64u; echo; done | sort)
check "security domain file: 3 shares, one per officer's certificate, quorum 2" \
	[ "$(jq -r '.SharedKeys | select(.required == 2 and .key_algorithm == "shamir_share") |
		.enc_shares[].x5t_256' "$T/sd-a.json" | sort)" = "$thumbs" ]
check "security domain file: EncData under sp108_kdf, shares as RSA-OAEP-256 JWEs" \
	shares_are_jwes "$T/sd-a.json"
STATUS=$(rest "$A" "$TA" POST /securitydomain/download "$(download "$J1" "$J2" "$J3" 2)")
check "a second download is refused (409)" is 409 '.error.code == "Conflict"'

# Keys, versions and a role assignment to back up.
emu_ctl "$A" key create fskek --kty oct-HSM >/dev/null &&
	emu_ctl "$A" key rotate fskek >/dev/null &&
	emu_ctl "$A" key create other --kty oct-HSM --size 128 >/dev/null &&
	emu_ctl "$A" role assign --principal user --role "Managed HSM Crypto Service Encryption User" \
		--scope /keys/fskek >/dev/null || bad "keys and roles made"
# A custom role, assigned over the RBAC REST API: its definition travels
# with the backup, or the assignment could not be restored.
CROLE=$(cat /proc/sys/kernel/random/uuid)
CASG=$(cat /proc/sys/kernel/random/uuid)
rest "$A" "$TA" PUT "///providers/Microsoft.Authorization/roleDefinitions/$CROLE" \
	'{"properties":{"roleName":"key reader","type":"CustomRole","permissions":[{"dataActions":["Microsoft.KeyVault/managedHsm/keys/read/action"]}]}}' >/dev/null &&
	rest "$A" "$TA" PUT "//keys/other/providers/Microsoft.Authorization/roleAssignments/$CASG" \
		"{\"properties\":{\"roleDefinitionId\":\"$CROLE\",\"principalId\":\"$(emu_ctl "$A" client list | awk '$1 == "user" {print $2}')\"}}" \
		>/dev/null || bad "custom role assigned"
KIDS_A=$(rest "$A" "$TU" GET /keys/fskek/versions >/dev/null && jq -r '.value[].kid | sub(".*/keys/"; "")' "$T/body" | sort)
check "the key to back up has two versions" [ "$(grep -c "^fskek/[0-9a-f]\{32\}$" <<<"$KIDS_A")" = 2 ]
STATUS=$(rest "$A" "$TU" POST /keys/fskek/wrapkey '{"alg":"CKM_AES_KEY_WRAP_PAD","value":"c2VjcmV0LWRlay0wMTIzNDU2Nzg5"}')
check "activated: key operations work" is 200 '.value'
WRAPPED=$(jq -r .value "$T/body")
WKID=$(jq -r '.kid | sub(".*/keys/"; "")' "$T/body")
check "state.json is sealed under the security domain: no key material, no key name" \
	bash -c "jq -e '.sealed and .security_domain' '$A/state.json' >/dev/null &&
		! grep -q -e PRIVATE -e fskek '$A/state.json'"

# Full backup.
STATUS=$(rest "$A" "$TU" POST /backup '{"storageResourceUri":"https://acct.blob.core.windows.net/backups","token":"sv=1&sig=x"}')
check "a Crypto User may not start a full backup" is 403 '.error.innererror.code == "ForbiddenByRbac"'
STATUS=$(rest "$A" "$TA" POST /backup '{"storageResourceUri":"https://acct.blob.core.windows.net/backups"}')
check "a backup needs a SAS token or the managed identity" is 400 '.error.message | test("token")'
STATUS=$(rest "$A" "$TA" POST /backup '{"storageResourceUri":"https://acct.blob.core.windows.net/backups","token":"sv=1&sig=x"}')
check "full backup starts (202, InProgress, jobId)" is 202 '.status == "InProgress" and (.jobId | length == 32)'
JOB=$(jq -r .jobId "$T/body")
grep -qi "^azure-asyncoperation: .*/backup/$JOB/pending" "$T/headers" || bad "backup answers Azure-AsyncOperation"
poll "$A" "$TA" "/backup/$JOB/pending"
check "full backup succeeds" is 200 '.status == "Succeeded" and .endTime >= .startTime and .error == null'
FOLDER=$(jq -r '.azureStorageBlobContainerUri | sub(".*/"; "")' "$T/body")
check "the backup is a folder in the container's directory under the blob root" \
	[ -s "$BL/acct/backups/$FOLDER/backup.json" ]
check "the backup holds no key material or key name in the clear" \
	bash -c "! grep -q -e PRIVATE -e fskek '$BL/acct/backups/$FOLDER/backup.json'"

# The blob root cannot be left.
ln -s "$T/outside" "$BL/acct/linked"
for uri in https://acct.blob.core.windows.net/.. https://acct.blob.core.windows.net/../outside \
	https://acct.blob.core.windows.net/backups/../../outside https://../backups \
	https://acct.blob.core.windows.net/%2e%2e https://acct.blob.core.windows.net/Backups \
	https://acct.blob.core.windows.net/linked http://acct.blob.core.windows.net/backups; do
	STATUS=$(rest "$A" "$TA" POST /backup "{\"storageResourceUri\":\"$uri\",\"token\":\"t\"}")
	is 400 '.error.code == "BadParameter"' || bad "backup to $uri refused"
done
for f in .. ../backups "$FOLDER/.." "$FOLDER/../$FOLDER" /etc; do
	STATUS=$(rest "$A" "$TA" PUT /restore "$(jq -n --arg f "$f" '{sasTokenParameters:
		{storageResourceUri: "https://acct.blob.core.windows.net/backups", token: "t"}, folderToRestore: $f}')")
	is 400 '.error.code == "BadParameter"' || bad "restore of folder $f refused"
done
check "no backup or restore reaches outside the blob root" \
	bash -c "[ -z \"\$(ls -A '$T/outside')\" ] && [ \"\$(ls '$BL')\" = acct ] &&
		[ \"\$(ls '$BL/acct' | sort | tr '\n' ' ')\" = 'backups linked ' ]"

# Disaster: the first HSM is gone, state and all.
kill "$EMU_PID" && wait "$EMU_PID" 2>/dev/null
rm -rf "$A"

B2=$T/hsm-b
provisioned "$B2" || { bad "second emulator starts"; finish; }
TB=$(token "$B2" user)
TBA=$(token "$B2" admin)
check "one officer alone cannot recover the HSM" fails emu_ctl "$B2" sd recover \
	--sd-file "$T/sd-a.json" --key "$OFF/officer1.key"
check "the HSM stays not activated" [ "$(activation "$B2")" = NotActivated ]

C=$T/hsm-c
EMU_PROVISIONED=1 emu_start "$C" 127.0.0.1:0 --blob-root "$BL" || { bad "third emulator starts"; finish; }
emu_ctl "$B2" sd exchange-key --out "$T/xb.cer" &&
	emu_ctl "$C" sd exchange-key --out "$T/xc.cer" || bad "exchange keys"
"$EMU" ctl sd restore-blob --sd-file "$T/sd-a.json" --exchange-key "$T/xc.cer" \
	--key "$OFF/officer2.key" --key "$OFF/officer3.key" --out "$T/blob-c.json" ||
	bad "a blob for the third HSM"
emu_ctl "$B2" sd upload --blob "$T/blob-c.json" 2>"$T/err" >/dev/null
check "a blob wrapped to another HSM's exchange key is refused" grep -q "another exchange key" "$T/err"
check "the HSM still is not activated" [ "$(activation "$B2")" = NotActivated ]

python3 "$ROOT/tests/tools/sdblob.py" "$T/sd-a.json" "$T/xb.cer" "$OFF/officer2.key" "$OFF/officer3.key" \
	>"$T/blob-b.json" || bad "a blob for the second HSM"
check "officers 2 and 3 recover the new HSM (blob made as the Azure CLI makes it)" \
	quiet emu_ctl "$B2" sd upload --blob "$T/blob-b.json"
check "the recovered HSM is activated" [ "$(activation "$B2")" = Active ]
check "its state is sealed under the first HSM's security domain" \
	bash -c "[ \"\$(jq -r .security_domain '$B2/state.json')\" = \"\$(jq -r .security_domain '$BL/acct/backups/$FOLDER/backup.json')\" ]"
STATUS=$(rest "$B2" "$TB" GET /keys/fskek)
check "before the restore it holds no keys" is 404 '.error.code == "KeyNotFound"'

echo sv=1 >"$T/sas"
R=(--container https://acct.blob.core.windows.net/backups --token-file "$T/sas")
check "a restore before a backup of the new HSM is refused" fails emu_ctl "$B2" restore "${R[@]}" --folder "$FOLDER"
emu_ctl "$B2" backup "${R[@]}" >/dev/null || bad "backup of the new HSM"

emu_ctl "$B2" jobs hold >/dev/null
RJOB=$(emu_ctl "$B2" restore "${R[@]}" --folder "$FOLDER" --no-wait)
STATUS=$(rest "$B2" "$TB" GET /keys)
check "key operations are refused while the restore runs (503)" \
	is 503 '.error.innererror.code == "RestoreInProgress"'
check "a second job is refused while one runs" fails emu_ctl "$B2" backup "${R[@]}"
STATUS=$(rest "$B2" "$TBA" GET "/restore/$RJOB/pending")
check "a held restore is InProgress" is 200 '.status == "InProgress" and .endTime == null'
emu_ctl "$B2" jobs release >/dev/null
poll "$B2" "$TBA" "/restore/$RJOB/pending"
check "the full restore succeeds" is 200 '.status == "Succeeded"'
STATUS=$(rest "$B2" "$TB" GET /keys/fskek/versions)
check "after the restore: the same key names and versions (kids)" \
	[ "$(jq -r '.value[].kid | sub(".*/keys/"; "")' "$T/body" | sort)" = "$KIDS_A" ]
STATUS=$(rest "$B2" "$TB" POST "/keys/$WKID/unwrapkey" "{\"alg\":\"CKM_AES_KEY_WRAP_PAD\",\"value\":\"$WRAPPED\"}")
check "after the restore: the first HSM's wrapped key unwraps (role assignments restored)" \
	is 200 '.value == "c2VjcmV0LWRlay0wMTIzNDU2Nzg5"'
STATUS=$(rest "$B2" "$TBA" GET "//keys/other/providers/Microsoft.Authorization/roleAssignments/$CASG")
check "after the restore: the custom role's assignment and definition are back" sh -c \
	"[ $STATUS = 200 ] && jq -e '.properties.roleDefinitionId | endswith(\"$CROLE\")' '$T/body' >/dev/null &&
	 [ \"\$(curl -sS --cacert '$B2/ca.pem' -H 'Authorization: Bearer $TBA' \
		'$(cat "$B2/url")///providers/Microsoft.Authorization/roleDefinitions/$CROLE?api-version=7.5' |
		jq -r .properties.type)\" = CustomRole ]"

# A security domain of its own: the backup is of no use there.
emu_ctl "$C" sd download --cert "$OFF/officer1.cer" --cert "$OFF/officer2.cer" \
	--cert "$OFF/officer3.cer" --out "$T/sd-c.json" >/dev/null || bad "third HSM activated"
emu_ctl "$C" backup "${R[@]}" >/dev/null || bad "backup of the third HSM"
emu_ctl "$C" restore "${R[@]}" --folder "$FOLDER" 2>"$T/err" >/dev/null
check "a backup is refused by an HSM of another security domain" grep -q "belongs to security domain" "$T/err"
check "that HSM's keys are untouched" [ -z "$(emu_ctl "$C" key list)" ]

finish
