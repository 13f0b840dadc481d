#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Azure SDK for JavaScript (@azure/keyvault-keys, @azure/identity, as
# pinned in tests/sdk) runs unmodified against the Managed HSM emulator:
# tokens with a client secret, a certificate and a workload identity
# token file, keys of the three types, crypto, soft delete, backup,
# rotation policy, RBAC and throttling (tests/sdk/sdk.js says what).
# One emulator, one node process.
. "$(dirname "$0")/lib.sh"

SDK=$ROOT/tests/sdk
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "skip - sdk: node and npm are not installed (tools/install-deps.sh installs them)"
	finish
fi
if (($(node -p 'process.versions.node.split(".")[0]') < 20)); then
	echo "skip - sdk: the Azure SDK needs Node.js 20 or later, this is $(node --version)"
	finish
fi
if [[ ! -d $SDK/node_modules/@azure/keyvault-keys ]]; then
	echo "skip - sdk: the SDK packages are not installed (tools/install-deps.sh runs npm ci in tests/sdk)"
	finish
fi

E=$T/emu
emu_start "$E" || { bad "emulator starts"; finish; }
TENANT=$(cat "$E/tenant")

# Two principals holding all three kinds of credential: sdk-app with the
# roles to manage and use keys (Crypto User) and deleted keys and roles
# (Crypto Officer), sdk-reader with read access only (Crypto Auditor).
head -c 24 /dev/urandom | base64 >"$T/secret"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/app.key" -out "$T/app.crt" \
	-subj /CN=sdk-app -days 2 2>/dev/null
cat "$T/app.crt" "$T/app.key" >"$T/app.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/idp.key" 2>/dev/null
openssl pkey -in "$T/idp.key" -pubout -out "$T/idp.pub"
setup() {
	local c
	for c in sdk-app sdk-reader; do
		emu_ctl "$E" client add "$c" --secret-file "$T/secret" >/dev/null &&
			emu_ctl "$E" client add "$c" --cert "$T/app.crt" >/dev/null &&
			emu_ctl "$E" client add "$c" --federated-issuer https://idp.sdk.test \
				--federated-subject system:serviceaccount:sdk:app \
				--federated-key "$T/idp.pub" >/dev/null || return 1
	done
	emu_ctl "$E" role assign --principal sdk-app --role "Managed HSM Crypto User" >/dev/null &&
		emu_ctl "$E" role assign --principal sdk-app --role "Managed HSM Crypto Officer" >/dev/null &&
		emu_ctl "$E" role assign --principal sdk-reader --role "Managed HSM Crypto Auditor" >/dev/null
}
check "principals with secret, certificate and federated credentials" setup || finish
READER_OID=$(emu_ctl "$E" client list | awk '$1 == "sdk-reader" {print $2}')

# The SDK's own environment: the CA it must trust, and nothing else.
NODE_EXTRA_CA_CERTS=$E/ca.pem EMU_URL=$EMU_URL EMU_TENANT=$TENANT EMU_STATE=$E \
	SDK_SECRET=$(cat "$T/secret") SDK_CERT=$T/app.pem SDK_IDP_KEY=$T/idp.key \
	SDK_TOKEN_FILE=$T/federated-token SDK_READER_OID=$READER_OID \
	node "$SDK/sdk.js" >"$T/sdk.out" 2>"$T/sdk.err"
rc=$?
cat "$T/sdk.out"
PASS=$((PASS + $(grep -c '^ok - ' "$T/sdk.out")))
FAILS=$((FAILS + $(grep -c '^FAIL - ' "$T/sdk.out")))
if ((rc != 0)) && ! grep -q '^FAIL - ' "$T/sdk.out"; then
	bad "node exits 0 (status $rc)"
	tail -n 20 "$T/sdk.err"
fi
finish
