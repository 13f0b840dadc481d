#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Integration test of tools/hsm-emulator over real HTTPS (curl verifies the
# emulator's certificate against its CA; never -k).
# Needs: curl, openssl, jq. Usage: B=build tests/integration/emulator.sh
set -euo pipefail

B=${B:-build}
EMU=${EMU:-$B/hsm-emulator}
[[ -x $EMU ]] || { echo "missing $EMU (make $B/hsm-emulator)" >&2; exit 2; }
for t in curl openssl jq; do
	command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }
done

T=$(mktemp -d)
S=$T/state
PID=
PID2=
pass=0
fail=0

cleanup() {
	[[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
	[[ -n $PID2 ]] && kill "$PID2" 2>/dev/null && wait "$PID2" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
jqt() { jq -e "$1" "$2" >/dev/null; }
jqn() { [[ -s $2 ]] && jqt "$@"; } # jq -e passes on an empty file; this does not
quiet() { "$@" >/dev/null; }
check() { # check NAME COMMAND...
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}

# start STATE_DIR LISTEN [extra args] -> sets STARTED_PID, STARTED_URL
start() {
	local dir=$1 listen=$2
	shift 2
	rm -f "$T/url.out"
	"$EMU" --state "$dir" --listen "$listen" --log-level warn --activate-for-tests "$@" \
		>"$T/url.out" 2>>"$T/emulator.err" &
	STARTED_PID=$!
	for _ in $(seq 100); do
		[[ -s $T/url.out ]] && break
		kill -0 "$STARTED_PID" 2>/dev/null || break
		sleep 0.05
	done
	STARTED_URL=$(head -n1 "$T/url.out" 2>/dev/null || true)
}

stop() { # stop PID: SIGTERM, must exit 0
	kill "$1" && wait "$1"
}

ctl() { "$EMU" ctl --state "$S" "$@"; }

# curl against the emulator; prints body, status code in $T/code, headers in $T/hdr.
req() {
	local method=$1 path=$2
	shift 2
	curl -sS --cacert "$S/ca.pem" -X "$method" -o "$T/body" -D "$T/hdr" \
		-w '%{http_code}' "$@" "$URL$path" >"$T/code" || echo 000 >"$T/code"
	cat "$T/body"
}
code() { cat "$T/code"; }
api() { # api TOKEN METHOD PATH [json]
	local tok=$1 method=$2 path=$3 data=${4-}
	local args=(-H "Authorization: Bearer $tok")
	[[ -n $data ]] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	req "$method" "$path" "${args[@]}"
}
token() { # token CLIENT SECRET -> access token
	req POST "/$TENANT/oauth2/v2.0/token" -d grant_type=client_credentials \
		--data-urlencode "client_id=$1" --data-urlencode "client_secret=$2" \
		--data-urlencode "scope=https://managedhsm.azure.net/.default" |
		jq -r '.access_token // empty'
}
b64url() { basenc --base64url -w0 | tr -d '='; }
unb64url() { # decode base64url with padding restored
	local s=$1
	while (( ${#s} % 4 )); do s+="="; done
	printf '%s' "$s" | basenc --base64url -d
}
wrap() { # wrap TOKEN KEY VERSION ALG B64 -> value
	api "$1" POST "/keys/$2/$3/wrapkey?api-version=7.4" \
		"{\"alg\":\"$4\",\"value\":\"$5\"}" | jq -r '.value // empty'
}
unwrap() {
	api "$1" POST "/keys/$2/$3/unwrapkey?api-version=7.4" \
		"{\"alg\":\"$4\",\"value\":\"$5\"}" | jq -r '.value // empty'
}
# JWT signing: jwt HEADER_JSON CLAIMS_JSON KEYFILE [pss]
jwt() {
	local h c sig
	h=$(printf '%s' "$1" | b64url)
	c=$(printf '%s' "$2" | b64url)
	if [[ ${4-} == pss ]]; then
		sig=$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -sign "$3" \
			-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 | b64url)
	else
		sig=$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -sign "$3" | b64url)
	fi
	printf '%s.%s.%s' "$h" "$c" "$sig"
}
assertion_token() { # assertion_token CLIENT JWT
	req POST "/$TENANT/oauth2/v2.0/token" -d grant_type=client_credentials \
		--data-urlencode "client_id=$1" \
		--data-urlencode "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
		--data-urlencode "client_assertion=$2" \
		--data-urlencode "scope=https://managedhsm.azure.net/.default" |
		jq -r '.access_token // empty'
}

# ---------------------------------------------------------------- start
start "$S" 127.0.0.1:0 --imds-listen 127.0.0.1:0
PID=$STARTED_PID
URL=$STARTED_URL
check "starts and prints its https URL" \
	test -n "$URL" -a "$URL" = "$(cat "$S/url" 2>/dev/null)"
[[ -n $URL ]] || { echo "emulator did not start:"; cat "$T/emulator.err"; echo "$pass passed, $fail failed"; exit 1; }
PORT=${URL##*:}
TENANT=$(cat "$S/tenant")
check "control.token is mode 0600" test "$(stat -c %a "$S/control.token")" = 600
check "state dir it creates is 0700" test "$(stat -c %a "$S")" = 700
# launch.sh (the tests' and the demo's launcher) leaves the state dir to
# the emulator; a dir made 0755 beforehand is tightened, a group-writable
# one refused.
(
	EMU_PID=
	# shellcheck disable=SC1091
	. tools/hsm-emulator/launch.sh
	emu_launch "$T/launched/st" 127.0.0.1:0 --log-level warn && kill "$EMU_PID" && wait "$EMU_PID"
) >/dev/null 2>&1
check "launch.sh: state dir 0700 from the start (nothing to tighten)" sh -c \
	"test \"\$(stat -c %a '$T/launched/st' 2>/dev/null)\" = 700 && ! grep -q 'made it 0700' '$T/launched/st.err'"
mkdir -m 755 "$T/st755"
start "$T/st755" 127.0.0.1:0
[[ -n $STARTED_URL ]] && stop "$STARTED_PID"
check "a 0755 state dir is made 0700" test "$(stat -c %a "$T/st755")" = 700
mkdir -m 775 "$T/st775"
check "a group-writable state dir is refused" \
	sh -c "! timeout 10 '$EMU' --state '$T/st775' --listen 127.0.0.1:0 2>'$T/st775.err' >/dev/null && grep -q 'writable by others' '$T/st775.err'"

# ---------------------------------------------------------------- setup
umask 077
printf 'app-secret-1\n' >"$T/sec1"
printf 'auditor-secret' >"$T/sec2"
check "ctl client add (secret file)" quiet ctl client add app1 --secret-file "$T/sec1"
check "ctl client add (secret on stdin)" \
	sh -c "'$EMU' ctl --state '$S' client add auditor --secret-file - <'$T/sec2' >/dev/null"
check "ctl client add scoped" quiet ctl client add scoped --secret-file "$T/sec1"
check "ctl role assign Crypto User at /keys" \
	quiet ctl role assign --principal app1 --role "Managed HSM Crypto User" --scope /keys
check "ctl role assign Crypto Auditor at /" \
	quiet ctl role assign --principal auditor --role "Managed HSM Crypto Auditor" --scope /
RSA_KID=$(ctl key create kek-rsa --kty RSA-HSM --size 3072)
AES_KID=$(ctl key create kek-aes --kty oct-HSM --size 256)
check "ctl key create RSA-HSM 3072 prints a versioned kid" \
	grep -Eq "^$URL/keys/kek-rsa/[0-9a-f]{32}\$" <<<"$RSA_KID"
check "ctl key create oct-HSM 256 prints a versioned kid" \
	grep -Eq "^$URL/keys/kek-aes/[0-9a-f]{32}\$" <<<"$AES_KID"
RSA_V1=${RSA_KID##*/}
AES_V1=${AES_KID##*/}
check "ctl role assign scoped to /keys/kek-aes" \
	quiet ctl role assign --principal scoped --role "Managed HSM Crypto Service Encryption User" \
	--scope /keys/kek-aes
check "ctl role list shows 3 assignments" test "$(ctl role list | wc -l)" -eq 3

# ---------------------------------------------------------------- auth
req GET "/keys/kek-rsa?api-version=7.4" >/dev/null
check "no token: 401" test "$(code)" = 401
check "no token: the service's Unauthorized error body" \
	jqn '.error.code == "Unauthorized" and (.error.message | test("missing a Bearer"))' "$T/body"
check "no token: MHSM challenge header" grep -qi \
	"^WWW-Authenticate: Bearer authorization=\"$URL/$TENANT\", resource=\"https://managedhsm.azure.net\"" "$T/hdr"
TOK=$(token app1 app-secret-1)
check "token with client secret" test -n "$TOK"
check "token response shape" \
	jqt '.token_type == "Bearer" and .expires_in == 3600' "$T/body"
token app1 wrong-secret >/dev/null
check "wrong secret: 401 invalid_client AADSTS7000215" \
	jqt '.error == "invalid_client" and (.error_codes | index(7000215))' "$T/body"
check "wrong secret: status 401" test "$(code)" = 401
req POST "/$TENANT/oauth2/v2.0/token" -d grant_type=client_credentials -d client_id=app1 \
	-d client_secret=app-secret-1 --data-urlencode scope=https://example.com/.default >/dev/null
check "bad scope: 400 invalid_scope" \
	sh -c "test $(code) = 400 && jq -e '.error == \"invalid_scope\"' '$T/body' >/dev/null"
token nobody x >/dev/null
check "unknown client: 400 unauthorized_client" test "$(code)" = 400
api garbage.token.here GET "/keys/kek-rsa?api-version=7.4" >/dev/null
check "invalid bearer: 401" test "$(code)" = 401

# Discovery, as MSAL reads it from an authority: the OpenID configuration
# names the token endpoint and the JWKS, whose key verifies our tokens.
req GET "/$TENANT/v2.0/.well-known/openid-configuration" >"$T/oidc.json"
check "openid-configuration: token endpoint, issuer, jwks_uri" jqn \
	".token_endpoint == \"$URL/$TENANT/oauth2/v2.0/token\" and .issuer == \"$URL/$TENANT/v2.0\" and .jwks_uri == \"$URL/$TENANT/discovery/v2.0/keys\" and (.authorization_endpoint|length) > 0" \
	"$T/oidc.json"
curl -sS --cacert "$S/ca.pem" "$(jq -r .jwks_uri "$T/oidc.json")" >"$T/jwks.json"
KID=$(unb64url "${TOK%%.*}" | jq -r .kid)
ALG=$(unb64url "${TOK%%.*}" | jq -r .alg)
NHEX=$(unb64url "$(jq -r --arg k "$KID" '.keys[] | select(.kid == $k) | .n' "$T/jwks.json")" | od -An -tx1 -v | tr -d ' \n')
printf 'asn1=SEQUENCE:pk\n[pk]\nn=INTEGER:0x%s\ne=INTEGER:0x010001\n' "$NHEX" >"$T/jwk.cnf"
openssl asn1parse -genconf "$T/jwk.cnf" -out "$T/jwk.der" >/dev/null 2>&1
openssl rsa -RSAPublicKey_in -inform DER -in "$T/jwk.der" -pubout -out "$T/jwk.pem" 2>/dev/null
TSIG=${TOK##*.}
unb64url "$TSIG" >"$T/tok.sig"
check "access token is RS256, verified by the JWKS key it names" sh -c \
	"test '$ALG' = RS256 && printf '%s' '${TOK%.*}' | openssl dgst -sha256 -verify '$T/jwk.pem' -signature '$T/tok.sig' >/dev/null"
req GET "/common/discovery/instance?api-version=1.1&authorization_endpoint=$URL/$TENANT/oauth2/v2.0/authorize" >"$T/inst.json"
check "instance discovery: this host is its own cloud" jqn \
	".tenant_discovery_endpoint == \"$URL/$TENANT/v2.0/.well-known/openid-configuration\" and .metadata[0].preferred_network == \"${URL#https://}\"" "$T/inst.json"
req GET "/common/discovery/instance?api-version=1.1&authorization_endpoint=https://elsewhere.example/t/oauth2/v2.0/authorize" >/dev/null
check "instance discovery: another host is an invalid_instance" \
	sh -c "test $(code) = 400 && jq -e '.error == \"invalid_instance\"' '$T/body' >/dev/null"

# ---------------------------------------------------------------- keys
api "$TOK" GET "/keys/kek-rsa?api-version=7.4" >"$T/rsa.json"
check "get key: RSA-HSM with n and e, no private parts" jqt \
	'.key.kty == "RSA-HSM" and (.key.n|length) > 500 and .key.e == "AQAB" and .key.d == null and .key.p == null' \
	"$T/rsa.json"
check "get key: attributes" jqt \
	'.attributes.enabled == true and .attributes.recoveryLevel == "Recoverable+Purgeable" and .attributes.recoverableDays == 90 and .attributes.exportable == false' \
	"$T/rsa.json"
api "$TOK" GET "/keys/kek-aes/?api-version=7.5" >"$T/aes.json"
check "get latest with trailing slash: oct-HSM without k" \
	jqt '.key.kty == "oct-HSM" and .key.k == null' "$T/aes.json"
api "$TOK" GET "/keys/kek-rsa/$RSA_V1?api-version=7.6" >/dev/null
check "get version (7.6)" test "$(code)" = 200
api "$TOK" GET "/keys/kek-rsa" >/dev/null
check "missing api-version: 400 BadParameter" \
	sh -c "test $(code) = 400 && jq -e '.error.code == \"BadParameter\"' '$T/body' >/dev/null"
api "$TOK" GET "/keys/kek-rsa?api-version=7.2" >/dev/null
check "unsupported api-version: 400 BadParameter naming the latest" \
	sh -c "test $(code) = 400 && jq -e '.error.code == \"BadParameter\" and (.error.message | test(\"2025-07-01\"))' '$T/body' >/dev/null"
for v in 7.3 2025-07-01; do
	api "$TOK" GET "/keys/kek-rsa?api-version=$v" >/dev/null
	check "api-version $v accepted" test "$(code)" = 200
done
api "$TOK" GET "/keys/kek-rsa%00junk?api-version=7.4" >/dev/null
check "%00 in the path: 400, not cut short" \
	sh -c "test $(code) = 400 && jq -e '.error.code == \"BadParameter\"' '$T/body' >/dev/null"
api "$TOK" GET "/keys?api-version=7.4&maxresults=1%00" >/dev/null
check "control byte in the query: 400" test "$(code)" = 400
api "$TOK" GET "/keys/nope?api-version=7.4" >/dev/null
check "unknown key: 404 KeyNotFound" \
	sh -c "test $(code) = 404 && jq -e '.error.code == \"KeyNotFound\"' '$T/body' >/dev/null"
api "$TOK" GET "/keys?api-version=7.4&maxresults=1" >"$T/list.json"
check "list keys: paging with nextLink" jqt \
	'(.value|length) == 1 and (.nextLink|test("skiptoken=1"))' "$T/list.json"
NEXT=$(jq -r .nextLink "$T/list.json")
curl -sS --cacert "$S/ca.pem" -H "Authorization: Bearer $TOK" "$NEXT" >"$T/list2.json"
check "list keys: second page" jqt '(.value|length) == 1 and .nextLink == null' "$T/list2.json"

# ---------------------------------------------------------------- RSA wrap/unwrap
DEK=$(head -c 32 /dev/urandom | b64url)
W=$(wrap "$TOK" kek-rsa "" RSA-OAEP-256 "$DEK")
check "RSA-OAEP-256 wrap (latest version)" test -n "$W"
check "wrap answer kid is versioned" \
	test "$(jq -r .kid "$T/body")" = "$RSA_KID"
check "RSA-OAEP-256 unwrap round trip" test "$(unwrap "$TOK" kek-rsa "$RSA_V1" RSA-OAEP-256 "$W")" = "$DEK"
W1=$(wrap "$TOK" kek-rsa "$RSA_V1" RSA-OAEP "$DEK")
check "RSA-OAEP round trip" test "$(unwrap "$TOK" kek-rsa "$RSA_V1" RSA-OAEP "$W1")" = "$DEK"
# Local wrap with the public key from n/e, remote unwrap.
NHEX=$(unb64url "$(jq -r .key.n "$T/rsa.json")" | od -An -tx1 -v | tr -d ' \n')
printf 'asn1=SEQUENCE:pk\n[pk]\nn=INTEGER:0x%s\ne=INTEGER:0x010001\n' "$NHEX" >"$T/pk.cnf"
openssl asn1parse -genconf "$T/pk.cnf" -out "$T/pk.der" >/dev/null
openssl rsa -RSAPublicKey_in -inform DER -in "$T/pk.der" -pubout -out "$T/pk.pem" 2>/dev/null
unb64url "$DEK" >"$T/dek.bin"
openssl pkeyutl -encrypt -pubin -inkey "$T/pk.pem" -in "$T/dek.bin" -out "$T/dek.wrapped" \
	-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
WL=$(b64url <"$T/dek.wrapped")
check "local openssl RSA-OAEP-256 wrap, remote unwrap" \
	test "$(unwrap "$TOK" kek-rsa "$RSA_V1" RSA-OAEP-256 "$WL")" = "$DEK"
WSTD=$(base64 -w0 <"$T/dek.wrapped")
check "unwrap accepts standard base64 with padding" \
	test "$(unwrap "$TOK" kek-rsa "$RSA_V1" RSA-OAEP-256 "$WSTD")" = "$DEK"
unwrap "$TOK" kek-rsa "$RSA_V1" RSA-OAEP-256 "AAAA$WL" >/dev/null
check "unwrap of garbage: 400 BadParameter" test "$(code)" = 400
wrap "$TOK" kek-rsa "" A256KW "$DEK" >/dev/null
check "A256KW on RSA key: 400" test "$(code)" = 400

# ---------------------------------------------------------------- AES wrap/unwrap
WA=$(wrap "$TOK" kek-aes "" A256KW "$DEK")
check "A256KW wrap is 40 bytes" test "$(unb64url "$WA" | wc -c)" -eq 40
check "A256KW round trip" test "$(unwrap "$TOK" kek-aes "" A256KW "$WA")" = "$DEK"
ODD=$(head -c 21 /dev/urandom | b64url)
WP=$(wrap "$TOK" kek-aes "" CKM_AES_KEY_WRAP_PAD "$ODD")
check "CKM_AES_KEY_WRAP_PAD round trip (21 bytes)" \
	test "$(unwrap "$TOK" kek-aes "$AES_V1" CKM_AES_KEY_WRAP_PAD "$WP")" = "$ODD"
TAMPER="A${WA:1}"
[[ $TAMPER == "$WA" ]] && TAMPER="B${WA:1}"
unwrap "$TOK" kek-aes "" A256KW "$TAMPER" >/dev/null
check "A256KW tampered: 400" test "$(code)" = 400
wrap "$TOK" kek-aes "" A256KW "$ODD" >/dev/null
check "A256KW with non-multiple-of-8 input: 400" test "$(code)" = 400

# ---------------------------------------------------------------- rotate, disable
NEW_KID=$(ctl key rotate kek-rsa)
RSA_V2=${NEW_KID##*/}
check "rotate makes a new version" test -n "$RSA_V2" -a "$RSA_V2" != "$RSA_V1"
W2=$(wrap "$TOK" kek-rsa "" RSA-OAEP-256 "$DEK")
check "wrap after rotate uses the new version" test "$(jq -r .kid "$T/body")" = "$NEW_KID"
check "unwrap with the old version after rotate" \
	test "$(unwrap "$TOK" kek-rsa "$RSA_V1" RSA-OAEP-256 "$W")" = "$DEK"
api "$TOK" GET "/keys/kek-rsa/versions?api-version=7.4" >"$T/vers.json"
check "list versions: 2" jqt '(.value|length) == 2' "$T/vers.json"
api "$TOK" POST "/keys/kek-aes/rotate?api-version=7.4" >/dev/null
check "rotate via REST" test "$(code)" = 200
check "ctl key set --enabled false" quiet ctl key set kek-rsa --version "$RSA_V1" --enabled false
unwrap "$TOK" kek-rsa "$RSA_V1" RSA-OAEP-256 "$W" >/dev/null
check "disabled version: 403 KeyDisabled" \
	sh -c "test $(code) = 403 && jq -e '.error.code == \"Forbidden\" and .error.innererror.code == \"KeyDisabled\"' '$T/body' >/dev/null"
check "other version still works" \
	test "$(unwrap "$TOK" kek-rsa "$RSA_V2" RSA-OAEP-256 "$W2")" = "$DEK"
ctl key set kek-rsa --version "$RSA_V1" --enabled true >/dev/null
check "re-enabled version unwraps" \
	test "$(unwrap "$TOK" kek-rsa "$RSA_V1" RSA-OAEP-256 "$W")" = "$DEK"
PAST=$(( $(date +%s) - 10 ))
api "$TOK" PATCH "/keys/kek-aes/?api-version=7.4" "{\"attributes\":{\"exp\":$PAST}}" >/dev/null
check "PATCH latest sets exp" test "$(jq -r .attributes.exp "$T/body")" = "$PAST"
wrap "$TOK" kek-aes "" A256KW "$DEK" >/dev/null
check "expired key: wrap 403" test "$(code)" = 403
check "ctl key list shows both keys" test "$(ctl key list | grep -c '^https://')" -eq 2
api "$TOK" PATCH "/keys/kek-aes?api-version=7.4" '{"attributes":{"exp":null},"key_ops":["unwrapKey"]}' >/dev/null
wrap "$TOK" kek-aes "" A256KW "$DEK" >/dev/null
check "key_ops without wrapKey: 403" test "$(code)" = 403
api "$TOK" PATCH "/keys/kek-aes?api-version=7.4" '{"key_ops":["wrapKey","unwrapKey"]}' >/dev/null
check "unwrap with the old oct version after REST rotate" \
	test "$(unwrap "$TOK" kek-aes "$AES_V1" A256KW "$WA")" = "$DEK"

# ---------------------------------------------------------------- RBAC
ATOK=$(token auditor auditor-secret)
api "$ATOK" GET "/keys/kek-rsa?api-version=7.4" >/dev/null
check "Crypto Auditor can read keys" test "$(code)" = 200
unwrap "$ATOK" kek-rsa "" RSA-OAEP-256 "$W2" >/dev/null
check "Crypto Auditor unwrap: 403 ForbiddenByRbac" \
	sh -c "test $(code) = 403 && jq -e '.error.innererror.code == \"ForbiddenByRbac\"' '$T/body' >/dev/null"
check "403 names the missing data action" \
	grep -q 'Microsoft.KeyVault/managedHsm/keys/unwrap/action' "$T/body"
STOK=$(token scoped app-secret-1)
check "key-scoped Service Encryption User unwraps its key" \
	test "$(unwrap "$STOK" kek-aes "$AES_V1" A256KW "$WA")" = "$DEK"
unwrap "$STOK" kek-rsa "" RSA-OAEP-256 "$W2" >/dev/null
check "key-scoped role: other key 403" test "$(code)" = 403
api "$STOK" POST "/keys/x1/create?api-version=7.4" '{"kty":"oct-HSM","key_size":256}' >/dev/null
check "Service Encryption User cannot create: 403" test "$(code)" = 403
api "$TOK" POST "/keys/x1/create?api-version=7.4" '{"kty":"oct","key_size":128,"attributes":{}}' >/dev/null
check "Crypto User creates oct 128 (returns oct-HSM)" \
	sh -c "test $(code) = 200 && jq -e '.key.kty == \"oct-HSM\"' '$T/body' >/dev/null"
api "$TOK" DELETE "/keys/x1?api-version=7.4" >/dev/null
check "delete returns DeletedKeyBundle" jqt '.recoveryId and .scheduledPurgeDate' "$T/body"
api "$TOK" GET "/keys/x1?api-version=7.4" >/dev/null
check "deleted key: 404" test "$(code)" = 404

# ---------------------------------------------------------------- soft delete
api "$TOK" POST "/keys/x1/create?api-version=7.4" '{"kty":"oct-HSM"}' >/dev/null
check "a deleted key's name is not reusable: 409 Conflict" \
	sh -c "test $(code) = 409 && jq -e '.error.code == \"Conflict\" and .error.innererror.code == \"ObjectIsDeletedButRecoverable\"' '$T/body' >/dev/null"
api "$TOK" GET "/deletedkeys/x1?api-version=7.4" >/dev/null
check "Crypto User cannot read deleted keys (403)" test "$(code)" = 403
quiet ctl client add officer --secret-file "$T/sec1"
quiet ctl role assign --principal officer --role "Managed HSM Crypto Officer" --scope /
OTOK=$(token officer app-secret-1)
api "$OTOK" POST "/keys/x2/create?api-version=7.4" '{"kty":"oct-HSM"}' >/dev/null
check "Crypto Officer cannot create keys (403 ForbiddenByRbac)" \
	sh -c "test $(code) = 403 && jq -e '.error.innererror.code == \"ForbiddenByRbac\"' '$T/body' >/dev/null"
api "$OTOK" GET "/deletedkeys/x1?api-version=7.4" >"$T/del.json"
check "GET /deletedkeys/x1: DeletedKeyBundle, recovery id, 90-day schedule" jqn \
	".recoveryId == \"$URL/deletedkeys/x1\" and .scheduledPurgeDate - .deletedDate == 90 * 86400 and (.key.kid | test(\"/keys/x1/[0-9a-f]{32}$\"))" \
	"$T/del.json"
api "$OTOK" GET "/deletedkeys?api-version=7.4" >"$T/dels.json"
check "GET /deletedkeys lists it" jqn '[.value[] | select(.kid | endswith("/keys/x1"))] | length == 1' "$T/dels.json"
api "$OTOK" POST "/deletedkeys/x1/recover?api-version=7.4" >/dev/null
check "recover: the key is back" sh -c "test $(code) = 200 && jq -e '.key.kty == \"oct-HSM\"' '$T/body' >/dev/null"
api "$TOK" DELETE "/keys/x1?api-version=7.4" >/dev/null
api "$OTOK" DELETE "/deletedkeys/x1?api-version=7.4" >/dev/null
check "purge: 204" test "$(code)" = 204
api "$OTOK" GET "/deletedkeys/x1?api-version=7.4" >/dev/null
check "purged: 404" test "$(code)" = 404
api "$TOK" POST "/keys/x1/create?api-version=7.4" '{"kty":"oct-HSM"}' >/dev/null
check "a purged key's name is free again" test "$(code)" = 200

# ---------------------------------------------------------------- other key operations
api "$TOK" POST "/keys/x1/backup?api-version=7.4" >"$T/bk.json"
BLOB=$(jq -r .value "$T/bk.json")
check "backup: an opaque blob, no key material in sight" \
	sh -c "test ${#BLOB} -gt 100 && ! printf '%s' '$BLOB' | basenc --base64url -d 2>/dev/null | grep -aqi private"
api "$TOK" POST "/keys/restore?api-version=7.4" "{\"value\":\"$BLOB\"}" >/dev/null
check "restore over an existing key: 409" test "$(code)" = 409
BAD=${BLOB:0:60}A${BLOB:61}
[[ $BAD == "$BLOB" ]] && BAD=${BLOB:0:60}B${BLOB:61}
api "$TOK" POST "/keys/restore?api-version=7.4" "{\"value\":\"$BAD\"}" >/dev/null
check "restore of a tampered blob: 400" test "$(code)" = 400
api "$TOK" POST "/rng?api-version=7.4" '{"count":129}' >/dev/null
check "rng: count over 128 is a 400" test "$(code)" = 400
api "$TOK" POST "/rng?api-version=7.4" '{"count":16}' >/dev/null
check "rng: 16 random bytes" test "$(jq -r .value "$T/body" | basenc --base64url -d 2>/dev/null | wc -c)" -eq 16
api "$TOK" GET "/settings?api-version=7.4" >/dev/null
check "settings: the account settings list" \
	jqn '.settings[0] == {"name":"AllowKeyManagementOperationsThroughARM","value":"false","type":"boolean"}' "$T/body"
api "$TOK" PUT "/keys/x1/rotationpolicy?api-version=7.4" '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P1D"},"action":{"type":"Rotate"}}]}' >/dev/null
check "rotation policy: rotating sooner than every 7 days is a 400" test "$(code)" = 400
api "$TOK" PUT "/keys/x1/rotationpolicy?api-version=7.4" '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P60D"}}' >/dev/null
api "$TOK" POST "/keys/x1/rotate?api-version=7.4" >/dev/null
check "rotate under a policy: the new version expires after expiryTime" \
	jqn "(.attributes.exp - .attributes.created) == 60 * 86400" "$T/body"

# ---------------------------------------------------------------- RBAC REST
api "$OTOK" GET "///providers/Microsoft.Authorization/roleDefinitions?api-version=7.4" >"$T/rd.json"
check "role definitions: the nine built-in roles with their ids" jqn \
	'[.value[] | select(.properties.type == "AKVBuiltInRole")] | length == 9 and (map(.name) | index("21dbd100-6940-42c2-9190-5d6cb909625b") != null)' \
	"$T/rd.json"
OID=$(ctl client list | awk '$1 == "auditor" {print $2}')
AID=$(cat /proc/sys/kernel/random/uuid)
api "$OTOK" PUT "//keys/kek-aes/providers/Microsoft.Authorization/roleAssignments/$AID?api-version=7.4" \
	"{\"properties\":{\"roleDefinitionId\":\"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/33413926-3206-4cdd-b39a-83574fe37a17\",\"principalId\":\"$OID\"}}" >/dev/null
check "role assignment over REST: 201 with the service's shape" sh -c \
	"test $(code) = 201 && jq -e '.id == \"/keys/kek-aes/providers/Microsoft.Authorization/roleAssignments/$AID\" and .properties.scope == \"/keys/kek-aes\" and .properties.principalId == \"$OID\"' '$T/body' >/dev/null"
check "the REST assignment grants: the auditor unwraps kek-aes" \
	test "$(unwrap "$(token auditor auditor-secret)" kek-aes "$AES_V1" A256KW "$WA")" = "$DEK"
api "$TOK" DELETE "//keys/kek-aes/providers/Microsoft.Authorization/roleAssignments/$AID?api-version=7.4" >/dev/null
check "Crypto User cannot delete role assignments (403)" test "$(code)" = 403
api "$OTOK" DELETE "//keys/kek-aes/providers/Microsoft.Authorization/roleAssignments/$AID?api-version=7.4" >/dev/null
check "Crypto Officer deletes it: 200" test "$(code)" = 200

# ---------------------------------------------------------------- robustness
head -c 70000 /dev/zero | tr '\0' 'a' >"$T/big"
api "$TOK" POST "/keys/kek-aes/wrapkey?api-version=7.4" "@$T/big" >/dev/null
check "body over 64 KiB: 413" test "$(code)" = 413
api "$TOK" POST "/keys/kek-aes/wrapkey?api-version=7.4" '{"alg":' >/dev/null
check "malformed JSON: 400" test "$(code)" = 400
api "$TOK" POST "/keys/kek-aes/wrapkey?api-version=7.4" '{"alg":"A256KW","value":"!!!"}' >/dev/null
check "bad base64: 400" test "$(code)" = 400
req POST "/$TENANT/oauth2/v2.0/token" --data-binary '%%%&&&==' >/dev/null
check "garbage form: 400" test "$(code)" = 400
api "$TOK" GET "/keys/bad_name?api-version=7.4" >/dev/null
check "invalid key name: 400" test "$(code)" = 400

# One client holding hundreds of idle keep-alive connections does not
# lock others out: its oldest idle ones are closed to make room.
check "530 idle connections from one client: another still gets in" python3 - "$URL" "$S/ca.pem" <<'PY'
import socket, ssl, subprocess, sys, urllib.parse
url, ca = sys.argv[1], sys.argv[2]
u = urllib.parse.urlparse(url)
ctx = ssl.create_default_context(cafile=ca)
held = []
for _ in range(530):
    try:
        s = socket.create_connection((u.hostname, u.port), timeout=3)
        held.append(ctx.wrap_socket(s, server_hostname=u.hostname))
    except OSError:
        break
# Well before the first of them idles out (30 s): a lockout shows.
r = subprocess.run(["curl", "-s", "--max-time", "10", "--cacert", ca, "-o", "/dev/null",
                    "-w", "%{http_code}", url + "/keys?api-version=7.4"],
                   capture_output=True, text=True)
sys.exit(0 if r.stdout == "401" else 1)
PY

# ---------------------------------------------------------------- other credentials
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/app.key" -out "$T/app.crt" \
	-subj /CN=certapp -days 2 2>/dev/null
check "ctl client add --cert" quiet ctl client add certapp --cert "$T/app.crt"
ctl role assign --principal certapp --role "Crypto Service Encryption User" --scope /keys >/dev/null
X5T=$(openssl x509 -in "$T/app.crt" -outform DER | openssl dgst -sha256 -binary | b64url)
NOW=$(date +%s)
AUD="$URL/$TENANT/oauth2/v2.0/token"
A=$(jwt "{\"alg\":\"PS256\",\"typ\":\"JWT\",\"x5t#S256\":\"$X5T\"}" \
	"{\"aud\":\"$AUD\",\"iss\":\"certapp\",\"sub\":\"certapp\",\"jti\":\"$RANDOM\",\"nbf\":$NOW,\"iat\":$NOW,\"exp\":$((NOW + 600))}" \
	"$T/app.key" pss)
CTOK=$(assertion_token certapp "$A")
check "certificate assertion (PS256, x5t#S256) gives a token" test -n "$CTOK"
check "certificate principal unwraps" \
	test "$(unwrap "$CTOK" kek-aes "$AES_V1" A256KW "$WA")" = "$DEK"
X5T1=$(openssl x509 -in "$T/app.crt" -outform DER | openssl dgst -sha1 -binary | b64url)
A=$(jwt "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"$X5T1\"}" \
	"{\"aud\":\"$AUD\",\"iss\":\"certapp\",\"sub\":\"certapp\",\"nbf\":$NOW,\"exp\":$((NOW + 600))}" "$T/app.key")
check "certificate assertion (RS256, x5t) gives a token" test -n "$(assertion_token certapp "$A")"
A=$(jwt "{\"alg\":\"PS256\",\"typ\":\"JWT\",\"x5t#S256\":\"$X5T\"}" \
	"{\"aud\":\"https://login.microsoftonline.com/x/oauth2/v2.0/token\",\"iss\":\"certapp\",\"sub\":\"certapp\",\"nbf\":$NOW,\"exp\":$((NOW + 600))}" \
	"$T/app.key" pss)
assertion_token certapp "$A" >/dev/null
check "certificate assertion with wrong aud: 401" test "$(code)" = 401
A=$(jwt "{\"alg\":\"PS256\",\"typ\":\"JWT\",\"x5t#S256\":\"$X5T\"}" \
	"{\"aud\":\"$AUD\",\"iss\":\"certapp\",\"sub\":\"certapp\",\"nbf\":$((NOW - 900)),\"exp\":$((NOW - 300))}" \
	"$T/app.key" pss)
assertion_token certapp "$A" >/dev/null
check "expired certificate assertion: 401" test "$(code)" = 401

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/idp.key" 2>/dev/null
openssl pkey -in "$T/idp.key" -pubout -out "$T/idp.pub"
check "ctl client add --federated-*" quiet ctl client add fedapp --federated-issuer https://idp.example \
	--federated-subject system:serviceaccount:ns:sa --federated-key "$T/idp.pub"
A=$(jwt '{"alg":"RS256","typ":"JWT","kid":"k1"}' \
	"{\"aud\":\"api://AzureADTokenExchange\",\"iss\":\"https://idp.example\",\"sub\":\"system:serviceaccount:ns:sa\",\"nbf\":$NOW,\"exp\":$((NOW + 3600))}" \
	"$T/idp.key")
check "federated assertion gives a token" test -n "$(assertion_token fedapp "$A")"
A=$(jwt '{"alg":"RS256","typ":"JWT"}' \
	"{\"aud\":\"api://AzureADTokenExchange\",\"iss\":\"https://idp.example\",\"sub\":\"other\",\"exp\":$((NOW + 3600))}" \
	"$T/idp.key")
assertion_token fedapp "$A" >/dev/null
check "federated assertion with wrong subject: 400" test "$(code)" = 400

check "ctl client add --managed-identity" quiet ctl client add mi-app --managed-identity
IMDS=$(cat "$S/imds_url")
check "IMDS without Metadata header: 400 bad_request_102" sh -c \
	"curl -s '$IMDS/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://managedhsm.azure.net' | jq -e '.error == \"bad_request_102\"' >/dev/null"
curl -s -H 'Metadata: true' \
	"$IMDS/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://managedhsm.azure.net" >"$T/imds.json"
check "IMDS token with string numbers" jqt \
	'(.access_token|length) > 20 and .expires_in == "3600" and (.expires_on|type) == "string" and .client_id == "mi-app"' \
	"$T/imds.json"
req GET "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://managedhsm.azure.net" \
	-H 'Metadata: true' >/dev/null
check "IMDS also on the HTTPS listener" test "$(code)" = 200

# ---------------------------------------------------------------- faults
ctl faults set --throttle-rate 1 --retry-after 7 --ops UnwrapKey >/dev/null
unwrap "$TOK" kek-rsa "" RSA-OAEP-256 "$W2" >/dev/null
check "fault: 429 Throttled" \
	sh -c "test $(code) = 429 && jq -e '.error.code == \"Throttled\"' '$T/body' >/dev/null"
check "fault: 429 with Retry-After: 7" grep -qi '^Retry-After: 7' "$T/hdr"
api "$TOK" GET "/keys/kek-rsa?api-version=7.4" >/dev/null
check "fault ops filter: GetKey unaffected" test "$(code)" = 200
ctl faults set --throttle-rate 1 >/dev/null
unwrap "$TOK" kek-rsa "" RSA-OAEP-256 "$W2" >/dev/null
check "fault: 429 without Retry-After" \
	sh -c "test $(code) = 429 && ! grep -qi '^Retry-After' '$T/hdr'"
ctl faults set --error-rate 1 --error-status 503 >/dev/null
unwrap "$TOK" kek-rsa "" RSA-OAEP-256 "$W2" >/dev/null
check "fault: 503" test "$(code)" = 503
ctl faults set --latency-ms 1500 --ops UnwrapKey >/dev/null
S0=$(date +%s%N)
( unwrap "$TOK" kek-rsa "$RSA_V2" RSA-OAEP-256 "$W2" >"$T/slow.out" ) &
SLOW=$!
sleep 0.2
api "$TOK" GET "/keys/kek-rsa?api-version=7.4" >/dev/null
FAST_MS=$(( ($(date +%s%N) - S0) / 1000000 ))
wait "$SLOW"
SLOW_MS=$(( ($(date +%s%N) - S0) / 1000000 ))
check "fault: latency applies (${SLOW_MS} ms)" test "$SLOW_MS" -ge 1500
check "fault: a delayed request does not block others (${FAST_MS} ms)" test "$FAST_MS" -lt 1200
check "fault: delayed request still answers" test "$(cat "$T/slow.out")" = "$DEK"
ctl faults set --outage true >/dev/null
check "fault: outage drops the connection" sh -c \
	"! curl -s --cacert '$S/ca.pem' -H 'Authorization: Bearer $TOK' -o /dev/null '$URL/keys/kek-rsa?api-version=7.4'"
check "faults show" sh -c "'$EMU' ctl --state '$S' faults show | jq -e '.outage == true' >/dev/null"
ctl faults clear >/dev/null
api "$TOK" GET "/keys/kek-rsa?api-version=7.4" >/dev/null
check "faults clear restores service" test "$(code)" = 200

# ---------------------------------------------------------------- audit
check "audit: one JSON object per line" sh -c "jq -c . '$S/audit.log' >/dev/null"
check "audit: successful UnwrapKey lines" test \
	"$(grep -c '"operation":"UnwrapKey".*"outcome":"ok"' "$S/audit.log")" -ge 8
check "audit: fields" sh -c "grep '\"operation\":\"UnwrapKey\"' '$S/audit.log' | tail -n1 | jq -e \
	'.principal == \"app1\" and .key == \"kek-rsa\" and (.version|length) == 32 and .status == 200 and .remote == \"127.0.0.1\" and (.time|test(\"^[0-9-]+T[0-9:]+\\\\.[0-9]{3}Z$\")) and (.latency_ms|type) == \"number\"' >/dev/null"
check "audit: RBAC denial logged" grep -q '"outcome":"ForbiddenByRbac"' "$S/audit.log"
check "audit: dropped request logged" grep -q '"outcome":"dropped"' "$S/audit.log"
check "audit: no secrets or tokens" sh -c \
	"! grep -q -e app-secret-1 -e '$TOK' -e auditor-secret '$S/audit.log'"

# ---------------------------------------------------------------- restart
check "SIGTERM: clean exit" stop "$PID"
PID=
start "$S" "127.0.0.1:$PORT" --token-lifetime 2
PID=$STARTED_PID
check "restart on the same port" test "$STARTED_URL" = "$URL"
check "restart keeps keys, versions and tokens" \
	test "$(unwrap "$TOK" kek-rsa "$RSA_V1" RSA-OAEP-256 "$W")" = "$DEK"
check "restart keeps role assignments" test "$(ctl role list | wc -l)" -eq 5
SHORT=$(token app1 app-secret-1)
api "$SHORT" GET "/keys/kek-rsa?api-version=7.4" >/dev/null
check "short-lived token works" test "$(code)" = 200
sleep 2.2
api "$SHORT" GET "/keys/kek-rsa?api-version=7.4" >/dev/null
check "expired token: 401" test "$(code)" = 401

# Failover: a copy of the state is a second HSM with the same keys.
cp -a "$S" "$T/state2"
start "$T/state2" 127.0.0.1:0
PID2=$STARTED_PID
URL2=$STARTED_URL
check "second instance from a copied state dir" test -n "$URL2" -a "$URL2" != "$URL"
V2=$(curl -sS --cacert "$T/state2/ca.pem" -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
	-d "{\"alg\":\"RSA-OAEP-256\",\"value\":\"$W\"}" "$URL2/keys/kek-rsa/$RSA_V1/unwrapkey?api-version=7.4" |
	jq -r '.value // empty')
check "second instance unwraps the first one's ciphertext" test "$V2" = "$DEK"
# Same security domain: the first instance's key backup restores there.
c2() { curl -sS --cacert "$T/state2/ca.pem" -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
	-H 'Content-Type: application/json' -X "$2" ${4:+--data-binary "$4"} "$URL2$3"; }
c2 "$TOK" DELETE "/keys/x1?api-version=7.4" >/dev/null
c2 "$OTOK" DELETE "/deletedkeys/x1?api-version=7.4" >/dev/null
check "a copy of the state (same security domain) restores the key backup" \
	test "$(c2 "$TOK" POST "/keys/restore?api-version=7.4" "{\"value\":\"$BLOB\"}")" = 200
check "second instance SIGTERM" stop "$PID2"
PID2=
check "SIGTERM after restart" stop "$PID"
PID=

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
