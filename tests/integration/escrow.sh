#!/usr/bin/env bash
# Escrow KEKs of a volume-wrap volume (hsmfs kek list|add|remove), with
# the volume's KEK in one emulator (A) and an escrow KEK in another (B),
# each with a CA of its own (one ca_file bundle holds both): the volume
# mounts with either one down, through the other, and says which; a
# removed escrow KEK no longer opens it; a forged config on a pinned
# machine never makes hsmfs ask a host its pin does not list (emulator C,
# whose audit log must stay empty); rekey --wrapping-key wraps the new
# generation for the escrow KEK too; the independent reader opens the
# volume through the escrow KEK; rekey --to the escrow KEK promotes it.
. "$(dirname "$0")/lib.sh"

# I stands for Entra ID: it issues the tokens and stays up. A, B and C are
# HSMs made from a copy of its state (the same token key and client, so
# they accept its tokens), B and C with CAs of their own.
I=$T/idp
emu_start "$I" || { bad "emulator starts"; finish; }
emu_setup "$I" unused RSA-HSM 2048 || { bad "emulator setup"; finish; }
for h in A B C; do
	cp -a "$I" "$T/$h"
	rm -f "$T/$h/audit.log" "$T/$h/url"
	[[ $h == A ]] || rm -f "$T/$h"/ca.* "$T/$h"/server.*
done
A=$T/A B=$T/B C=$T/C
# hsm NAME: starts emulator NAME (again, on its port if it had one); sets
# URL_NAME and PID_NAME.
hsm() {
	local port=${PORT[$1]:-0}
	emu_start "$T/$1" "127.0.0.1:$port" || return 1
	PORT[$1]=${EMU_URL##*:}
	printf -v "URL_$1" %s "$EMU_URL"
	printf -v "PID_$1" %s "$EMU_PID"
}
# down NAME: stops it (connections refused from now on).
down() {
	local p="PID_$1"
	kill "${!p}" && wait "${!p}" 2>/dev/null
	return 0
}
declare -A PORT
hsm A && hsm B && hsm C || { bad "emulators start"; finish; }
grant() {
	emu_ctl "$1" key create "$2" --kty RSA-HSM --size 2048 >/dev/null &&
		emu_ctl "$1" role assign --principal hsmfs-mount \
			--role "Managed HSM Crypto Service Encryption User" \
			--scope "/keys/$2" >/dev/null
}
grant "$A" fskek && grant "$B" esc && grant "$C" evil || { bad "keys"; finish; }
KA=$URL_A/keys/fskek KB=$URL_B/keys/esc KC=$URL_C/keys/evil
cat "$A/ca.pem" "$B/ca.pem" "$C/ca.pem" >"$T/cas.pem"
# Connections to a stopped HSM are refused at once; the bound keeps the
# retries short.
O=ca_file=$T/cas.pem,kek_scope=$SCOPE,hsm_timeout=1500
CD=$T/c
M=$T/m

# ops STATE OP: requests of that operation the emulator answered.
ops() { grep -c "\"operation\":\"$2\"" "$1/audit.log" 2>/dev/null || true; }
# keyops STATE: every key request (token requests go to I).
keyops() { grep -cE '"operation":"(GetKey|WrapKey|UnwrapKey)"' "$1/audit.log" 2>/dev/null || true; }
# sums DIR: every file's content, by path.
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
# conf JQ: the config satisfies the jq expression.
conf() { jq -e "$1" "$CD/hsmfs.conf" >/dev/null; }
pinfile() { grep -l "^dir=$(realpath "$CD")\$" "$HSMFS_STATE_DIR"/pins/*; }
key_enabled() { emu_ctl "$A" key set fskek --enabled "$1" >/dev/null; }

check "init --wrap volume, KEK in A" bash -c "'$HSMFS' init --wrap volume --kek '$KA' -o '$O' '$CD' >/dev/null"
mount_hsm "$CD" "$M" -o "$O"
mkdir -p "$M/d/e"
for i in $(seq 40); do head -c $((i * 97)) /dev/urandom >"$M/d/f$i"; done
echo deep >"$M/d/e/deep"
sums "$M" >"$T/man0"
umount_wait "$M"

# 1. kek add, kek list.
ub0=$(ops "$B" UnwrapKey)
check "kek add: an escrow KEK in B" bash -c "'$HSMFS' kek add -o '$O' '$KB' '$CD' >'$T/add' 2>&1"
check "it says what it wrapped" grep -q "escrow KEK $KB added: wrapping key generation 1 wrapped by $KB/" "$T/add"
check "B unwrapped what it wrapped, once (the proof it serves)" test "$(ops "$B" UnwrapKey)" -eq $((ub0 + 1))
check "the config holds B's entry, generation 1" conf ".escrow_keks | length == 1 and .[0].kek == \"$KB\" and [.[0].wrapping_keys[].generation] == [1]"
check "this machine's pin lists B" grep -qx "escrow=$KB" "$(pinfile)"
"$HSMFS" kek list "$CD" >"$T/list" 2>&1
check "kek list: A, the volume's own" grep -q "^kek: *$KA (the volume's own)" "$T/list"
check "kek list: B, pinned, with its kid" bash -c "grep -q '^escrow: $KB (listed in this machine.s pin)' '$T/list' && grep -q 'generation 1: $KB/' '$T/list'"
"$HSMFS" kek add -o "$O" "$KB" "$CD" >"$T/add2" 2>&1
check "kek add of B again: refused, saying so" grep -q "is an escrow KEK of the volume already" "$T/add2"
sha_e=$(sha256sum <"$CD/hsmfs.conf")
"$HSMFS" rekey -q --to-wrap file -o "$O" "$CD" >"$T/tofile" 2>&1
check "rekey --to-wrap file with an escrow KEK: refused, naming kek remove" \
	bash -c "grep -q 'has escrow KEKs, which file mode cannot have' '$T/tofile' && test \"\$(sha256sum <'$CD/hsmfs.conf')\" = '$sha_e'"

# 2. A down: the volume mounts through B, every file reads.
down A
ub0=$(ops "$B" UnwrapKey)
check "A down: mounts through escrow KEK B" mount_hsm "$CD" "$M" -o "$O"
sums "$M" >"$T/man1"
check "every file reads back" diff -u "$T/man0" "$T/man1"
check "one log line names B" grep -q "opened with escrow KEK $KB" "$M.log"
"$HSMFS" status "$M" >"$T/st1"
check "status names B" grep -q "^opened by: *$KB (escrow KEK" "$T/st1"
"$HSMFS" cache flush "$M" >"$T/fl1"
check "cache flush re-validates with B" bash -c "grep -q 'kek check: ok' '$T/fl1' && test $(ops "$B" UnwrapKey) -ge $((ub0 + 2))"
umount_wait "$M"

# 3. B down, A up again: through A.
hsm A && down B
check "B down: mounts through A" mount_hsm "$CD" "$M" -o "$O"
sums "$M" >"$T/man2"
check "every file reads back" diff -u "$T/man0" "$T/man2"
check "status names A" bash -c "'$HSMFS' status '$M' | grep -qx 'opened by: *$KA'"
umount_wait "$M"

# 4. rekey --wrapping-key: every escrow KEK must serve, or nothing changes.
sha0=$(sha256sum <"$CD/hsmfs.conf")
"$HSMFS" rekey -q --wrapping-key -o "$O" "$CD" >"$T/rk0" 2>&1
rc=$?
check "rekey --wrapping-key with B down: refused, naming B" \
	bash -c "test $rc -ne 0 && grep -q 'cannot use escrow KEK $KB' '$T/rk0'"
check "and the config is unchanged" test "$(sha256sum <"$CD/hsmfs.conf")" = "$sha0"
hsm B
check "rekey --wrapping-key" bash -c "'$HSMFS' rekey -q --wrapping-key -o '$O' '$CD' >'$T/rk1' 2>&1"
check "both KEKs wrap generation 2 alone" conf "[.wrapping_keys[].generation] == [2] and [.escrow_keks[0].wrapping_keys[].generation] == [2]"
ua0=$(ops "$A" UnwrapKey)
check "then kek= naming B opens it through B alone" mount_hsm "$CD" "$M" -o "$O,kek=$KB"
sums "$M" >"$T/man3"
check "every file reads back" diff -u "$T/man0" "$T/man3"
check "A was asked nothing" test "$(ops "$A" UnwrapKey)" -eq "$ua0"
umount_wait "$M"

# 5. The independent reader, through B, with A's key disabled.
key_enabled false
check "the reader opens the volume through escrow KEK B" \
	/usr/bin/python3 "$ROOT/tests/reader/hsmfs_read.py" -q --ca-file "$T/cas.pem" \
	--scope "$SCOPE" --kek "$KA" --escrow-kek "$KB" "$CD" "$T/out"
check "and reads every file" diff -u "$T/man0" <(sums "$T/out")

# 6. Forged configs on this (pinned) machine, A refusing: C, which the
# pin does not list, is never asked; with A serving, the MAC refuses them.
cp "$CD/hsmfs.conf" "$T/conf.good"
# forge prepend|edit: an entry like B's, its URL and kids C's.
forge() {
	local put='.escrow_keks = [$e] + .escrow_keks'
	[[ $1 == edit ]] && put='.escrow_keks[0] = $e'
	jq --arg b "$KB" --arg c "$KC" \
		"(.escrow_keks[0] | tojson | split(\$b) | join(\$c) | fromjson) as \$e | $put" \
		"$T/conf.good" >"$CD/hsmfs.conf"
}
# prepend: C's entry before B's (B then opens it, and the MAC refuses);
# edit: B's entry turned into C's (nothing opens it).
for how in prepend edit; do
	chmod u+w "$CD/hsmfs.conf"
	forge "$how"
	mount_hsm "$CD" "$M" -o "$O" 2>/dev/null && umount_wait "$M"
	check "forged config ($how C), A refusing: C not asked, said so" \
		grep -q "escrow KEK $KC not asked: this machine's pin does not list it" "$M.log"
	[[ $how == prepend ]] && check "forged config (prepend C): B opens it, the MAC refuses it" \
		grep -q "failed authentication: it has been modified" "$M.log"
	check "C's audit log has no key request" test "$(keyops "$C")" -eq 0
	key_enabled true
	mount_hsm "$CD" "$M" -o "$O" 2>/dev/null && umount_wait "$M"
	check "forged config ($how C), A serving: the MAC refuses it" \
		grep -q "failed authentication: it has been modified" "$M.log"
	check "C still asked nothing" test "$(keyops "$C")" -eq 0
	key_enabled false
done
cp "$T/conf.good" "$CD/hsmfs.conf"

# 7. kek remove: B no longer opens the volume.
key_enabled true
"$HSMFS" kek remove -o "$O" "$KA" "$CD" >"$T/rmA" 2>&1
check "kek remove of the volume's own KEK: refused" grep -q "is the volume's KEK, which is never removed" "$T/rmA"
check "kek remove B" bash -c "'$HSMFS' kek remove -o '$O' '$KB' '$CD' >'$T/rm' 2>&1"
check "the config has no escrow KEK left" conf 'has("escrow_keks") | not'
check "the pin no longer lists B" bash -c "! grep -q '^escrow=' '$(pinfile)'"
key_enabled false
ub0=$(keyops "$B")
mount_hsm "$CD" "$M" -o "$O" 2>/dev/null && umount_wait "$M"
check "A refusing, B removed: the mount fails, saying why" \
	grep -q "cannot unwrap wrapping key generation 2 with $KA" "$M.log"
mount_hsm "$CD" "$M" -o "$O,kek=$KB" 2>/dev/null && umount_wait "$M"
check "kek=B: refused before any request" grep -q "not the expected $KB" "$M.log"
check "B was asked nothing for either" test "$(keyops "$B")" -eq "$ub0"

# 8. rekey --to an escrow KEK promotes it: the volume's KEK becomes B.
key_enabled true
check "kek add B again" bash -c "'$HSMFS' kek add -o '$O' '$KB' '$CD' >/dev/null 2>&1"
key_enabled false
check "A refusing: rekey --to B" bash -c "'$HSMFS' rekey -q --to '$KB' -o '$O' '$CD' >'$T/rk2' 2>&1"
check "it says B is now the volume's KEK" grep -q "escrow KEK $KB becomes the volume's KEK" "$T/rk2"
check "the config names B, with no escrow KEK" conf ".kek == \"$KB\" and (has(\"escrow_keks\") or has(\"previous_keks\") | not)"
check "and mounts through B, its own KEK now" mount_hsm "$CD" "$M" -o "$O"
sums "$M" >"$T/man5"
check "every file reads back" diff -u "$T/man0" "$T/man5"
umount_wait "$M"

# 9. A file-mode volume has no escrow KEKs.
key_enabled true
"$HSMFS" init --kek "$KA" -o "$O" "$T/fm" >/dev/null
"$HSMFS" kek add -o "$O" "$KB" "$T/fm" >"$T/fm.add" 2>&1
check "file mode: kek add refused, saying escrow needs volume mode" \
	grep -q "escrow KEKs need a volume-wrap volume" "$T/fm.add"
finish
