#!/usr/bin/env bash
# A KEK on a second PKCS#11 implementation: opencryptoki's soft token,
# which does CKM_RSA_PKCS_OAEP with SHA-256 and MGF1-SHA-256 itself
# (SoftHSM2 2.6 does not: there the token decrypts raw RSA and hsmfs
# checks the OAEP encoding). A volume under an RSA-3072 key on it:
# files written, read after a remount, and status naming the mechanism
# the token ran, OAEP-SHA-256 and not the raw-RSA fallback; a header's
# wrapped key changed is EIO. Between the two tokens: rekey --to from
# SoftHSM2 to opencryptoki and back. An escrow KEK given as a PKCS#11
# URL (kek add), opening the volume alone (-o kek=) and when the
# volume's own KEK is gone (its token absent, or its private key
# deleted).
# The key has CKA_UNWRAP and CKA_DECRYPT (pkcs11-tool's default):
# opencryptoki refuses the unwrap template (CKR_ATTRIBUTE_READ_ONLY) and
# hsmfs unwraps by C_Decrypt.
#
# opencryptoki keeps its token in fixed paths (/var/lib/opencryptoki,
# /run/pkcsslotd.socket, /dev/shm and System V shared memory; 3.8's
# PKCS_APP_STORE writes the token's files into / instead), so it runs in
# mount and IPC namespaces of its own: those paths are directories of
# $T there, with a pkcsslotd of the suite's, and p11-kit's module
# directory a copy that registers the module as "opencryptoki". A
# pkcsslotd or a token of the machine is neither seen nor touched, and
# nothing is left behind.
if [[ -z ${HSMFS_OCK_NS:-} ]]; then
	if ! unshare --mount --ipc --propagation private true 2>/dev/null; then
		echo "FAIL - unshare --mount --ipc (root, CAP_SYS_ADMIN)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	exec env HSMFS_OCK_NS=1 unshare --mount --ipc --propagation private \
		bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

# ock_token LABEL OBJECT: a fresh opencryptoki soft token LABEL (slot
# 0, the only one) served by a pkcsslotd of this suite, its user PIN in
# $OCK_PIN, an RSA-3072 key pair OBJECT of CKA_ID 01 made in the token.
# OCK_MODULE: the module's file.
ock_token() {
	local s=$T/ock so=87654321 f
	OCK_MODULE=
	for f in /usr/lib/*/pkcs11/libopencryptoki.so; do
		[[ -e $f ]] && OCK_MODULE=$f
	done
	[[ -n $OCK_MODULE ]] && command -v pkcsslotd >/dev/null || return 1
	mkdir -p "$s/lib/swtok/TOK_OBJ" "$s/run/lock/opencryptoki/swtok" \
		"$s/shm" "$s/p11-modules" || return 1
	chgrp -R pkcs11 "$s/lib" "$s/run/lock/opencryptoki" &&
		chmod -R 0770 "$s/lib" "$s/run/lock/opencryptoki" || return 1
	printf 'version opencryptoki-3.1\nslot 0\n{\nstdll = libpkcs11_sw.so\n}\n' \
		>"$s/opencryptoki.conf"
	cp /usr/share/p11-kit/modules/* "$s/p11-modules/" 2>/dev/null
	echo "module: $OCK_MODULE" >"$s/p11-modules/opencryptoki.module"
	# /var/lock is /run/lock: /run first.
	mount --bind "$s/run" /run &&
		mount --bind "$s/lib" /var/lib/opencryptoki &&
		mount --bind "$s/opencryptoki.conf" /etc/opencryptoki/opencryptoki.conf &&
		mount --bind "$s/shm" /dev/shm &&
		mount --bind "$s/p11-modules" /usr/share/p11-kit/modules || return 1
	pkcsslotd || return 1
	PIDS+=("$(cat /run/pkcsslotd.pid)")
	OCK_PIN=$s/pin
	(umask 077 && echo 4711ock >"$OCK_PIN") # 4 to 8 characters
	local t=(pkcs11-tool --module "$OCK_MODULE")
	"${t[@]}" --slot 0 --init-token --so-pin $so --label "$1" >/dev/null 2>&1 &&
		"${t[@]}" --token-label "$1" --login --login-type so --so-pin $so \
			--init-pin --pin "$(cat "$OCK_PIN")" >/dev/null 2>&1 &&
		"${t[@]}" --token-label "$1" --login --pin "$(cat "$OCK_PIN")" \
			--keypairgen --key-type rsa:3072 --label "$2" --id 01 >/dev/null 2>&1
}

ock_token hsmfs-ock ockkek || { bad "opencryptoki: pkcsslotd, token and key"; finish; }
ok "opencryptoki: a token of the suite's own pkcsslotd, an RSA-3072 key made in it"
OCK="pkcs11:token=hsmfs-ock;object=ockkek;type=private?module-name=opencryptoki&pin-source=$OCK_PIN"
p11_token hsmfs-it rsa:fskek:01 || { bad "SoftHSM2 token and key"; finish; }
SOFT=$(p11_uri hsmfs-it fskek private)

# unwrap_by MNT MECH: status says the token ran MECH for the last unwrap.
unwrap_by() {
	"$HSMFS" status "$1" | grep -q "^p11 unwrap:  $2 by C_"
}
OAEP='CKM_RSA_PKCS_OAEP (SHA-256, MGF1-SHA-256)'
RAW='CKM_RSA_X_509 (OAEP-SHA-256 decoded here)'
NORAW='does not do RSA-OAEP with SHA-256'

# A volume under the opencryptoki key.
C=$T/c M=$T/m
check "init --kek with the opencryptoki key" bash -c "'$HSMFS' init --kek '$OCK' '$C' >'$T/init' 2>&1"
mount_hsm "$C" "$M" || bad "mount"
p11_files "$M" 20
umount_wait "$M"
mount_hsm "$C" "$M" || bad "remount"
check "20 files read back after a remount" p11_readback "$M" 20
check "status: the token ran OAEP-SHA-256 ($OAEP)" unwrap_by "$M" "$OAEP"
check "status --json: hsm.pkcs11.unwrap names CKM_RSA_PKCS_OAEP" \
	bash -c "'$HSMFS' status --json '$M' | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"hsm\"][\"pkcs11\"][\"unwrap\"].startswith(\"CKM_RSA_PKCS_OAEP (SHA-256\")'"
check "no raw-RSA fallback in the log" bash -c "! grep -q '$NORAW' '$M.log' '$T/init'"
F1=$(find "$C" -inum "$(stat -c %i "$M/d/f1")" | head -n 1)
umount_wait "$M"

# A header's wrapped key changed: the token's OAEP check refuses it
# (opencryptoki answers CKR_FUNCTION_FAILED), the open fails with EIO.
flip "$F1" 300 # key slot 0's wrapped DEK record (FORMAT.md 3.1)
mount_hsm "$C" "$M" -o prefetch=0 || bad "remount for the tamper check"
check "tamper: a header's wrapped key changed: EIO" \
	bash -c "cat '$M/d/f1' 2>&1 >/dev/null | grep -q 'Input/output error'"
check "tamper: a log line names the backing file" grep -qF -- "${F1##*/}: cannot unwrap" "$M.log"
check "tamper: the other files read" p11_readback "$M" 20 2
check "tamper: still no raw-RSA fallback" bash -c "! grep -q '$NORAW' '$M.log'"
umount_wait "$M"
flip "$F1" 300

# Between the tokens: a volume on SoftHSM2 (raw RSA there) moved to
# opencryptoki and back by rekey --to; every file reads after each.
X=$T/cx XM=$T/mx
"$HSMFS" init --kek "$SOFT" "$X" >/dev/null 2>&1 || bad "init on SoftHSM2"
mount_hsm "$X" "$XM" || bad "mount on SoftHSM2"
p11_files "$XM" 20
umount_wait "$XM"
mount_hsm "$X" "$XM" || bad "remount on SoftHSM2"
check "SoftHSM2: files read back" p11_readback "$XM" 20
check "SoftHSM2: status names the raw-RSA fallback ($RAW)" unwrap_by "$XM" "$RAW"
umount_wait "$XM"
check "rekey --to the opencryptoki key" \
	bash -c "'$HSMFS' rekey -q --to '$OCK' '$X' >'$T/rk-to-ock' 2>&1"
check "rekey --check: only the opencryptoki key is needed" \
	bash -c "'$HSMFS' rekey --check '$X' | grep -q 'only the current KEK version is needed'"
mount_hsm "$X" "$XM" || bad "mount after the rekey to opencryptoki"
check "after the rekey to opencryptoki: files read" p11_readback "$XM" 20
check "after the rekey to opencryptoki: OAEP in the token" unwrap_by "$XM" "$OAEP"
umount_wait "$XM"
check "rekey --to the SoftHSM2 key, back" \
	bash -c "'$HSMFS' rekey -q --to '$SOFT' '$X' >'$T/rk-to-soft' 2>&1"
mount_hsm "$X" "$XM" || bad "mount after the rekey back"
check "after the rekey back: files read" p11_readback "$XM" 20
umount_wait "$XM"

# An escrow KEK on opencryptoki for a volume-wrap volume whose own KEK
# is another SoftHSM2 key.
p11_key hsmfs-it rsa fsown 01 || bad "a second SoftHSM2 key"
V=$T/cv VM=$T/mv
"$HSMFS" init --wrap volume --kek "$(p11_uri hsmfs-it fsown private)" "$V" >/dev/null 2>&1 ||
	bad "init --wrap volume on SoftHSM2"
mount_hsm "$V" "$VM" || bad "mount the volume-wrap volume"
p11_files "$VM" 10
umount_wait "$VM"
check "kek add with a PKCS#11 URL (opencryptoki)" \
	bash -c "'$HSMFS' kek add '$OCK' '$V' >'$T/kek-add' 2>&1"
check "kek list: the escrow KEK, listed in this machine's pin" \
	bash -c "'$HSMFS' kek list '$V' | grep '^escrow: .*object=ockkek' | grep -q 'listed in this machine'"
mount_hsm "$V" "$VM" -o "kek=$OCK" || bad "mount with -o kek= naming the escrow KEK"
"$HSMFS" status "$VM" >"$T/st-esc"
check "-o kek=escrow: opened by the opencryptoki key alone" \
	bash -c "grep '^opened by:' '$T/st-esc' | grep -q 'object=ockkek.*escrow KEK'"
check "-o kek=escrow: files read" p11_readback "$VM" 10
# (status shows the volume's own KEK's counters, not the escrow KEK's)
check "-o kek=escrow: no raw-RSA fallback logged" bash -c "! grep -q '$NORAW' '$VM.log'"
umount_wait "$VM"
# The volume's own token absent (a disaster at the first HSM): the
# mount, and one with -o kek= naming the escrow KEK, are opened by the
# escrow KEK; the own KEK's token is reported unavailable, not fatal.
mv "$T/softhsm/tokens" "$T/softhsm/away" && mkdir "$T/softhsm/tokens"
mount_hsm "$V" "$VM" || bad "mount with the own token absent"
check "own token absent: opened by the escrow KEK, and the log says why" \
	bash -c "'$HSMFS' status '$VM' | grep '^opened by:' | grep -q 'object=ockkek' &&
		grep -q \"token 'hsmfs-it' is unavailable\" '$VM.log'"
check "own token absent: files read" p11_readback "$VM" 10
umount_wait "$VM"
mount_hsm "$V" "$VM" -o "kek=$OCK" || bad "mount -o kek=escrow with the own token absent"
check "own token absent, -o kek=escrow: files read" p11_readback "$VM" 10
umount_wait "$VM"
rm -rf "$T/softhsm/tokens" && mv "$T/softhsm/away" "$T/softhsm/tokens"

# The volume's own KEK gone (its private key deleted): the mount falls
# back to the escrow KEK the pin lists.
p11_tool hsmfs-it --delete-object --type privkey --label fsown --id 01 ||
	bad "delete the own KEK's private key"
mount_hsm "$V" "$VM" || bad "mount with the own KEK gone"
check "own KEK gone: opened by the escrow KEK, and the log says so" \
	bash -c "'$HSMFS' status '$VM' | grep '^opened by:' | grep -q 'object=ockkek' &&
		grep -q 'opened with escrow KEK pkcs11:.*ockkek' '$VM.log'"
check "own KEK gone: files read" p11_readback "$VM" 10
umount_wait "$VM"
finish
