#!/usr/bin/env bash
# Volume wrapping (hsmfs init --wrap volume) against the HSM emulator
# over HTTPS, counted in its audit log: one unwrap per mount however many
# files are read cold; KEK rotation in a fixed number of HSM calls; a
# disabled key ends access within kek_check, and at once on cache flush;
# an outage (503) wipes nothing; a wrapping-key rotation killed with -9
# and resumed; tampered key slots refused with a log line.
. "$(dirname "$0")/lib.sh"

emu_kek_suite

ops() { emu_ops "$E" "$1"; }
keyops() { emu_keyops "$E"; }
readall() { cat "$M"/d/* >/dev/null 2>&1; }
# sums: every file's content, one line each (one process: the machine
# may be busy).
sums() { (cd "$M/d" && sha256sum -- *); }

check "init --wrap volume" bash -c "'$HSMFS' init --wrap volume --kek '$KEK' -o '$O' '$C' | grep -q 'wrap: volume'"
check "the config wraps a wrapping key, the volume key locally" \
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert "volume-wrap" in c["features"] and len(c["wrapping_keys"]) == 1 and c["volume_key"]["alg"] == "HSMFS-WK-AES-SIV"' "$C/hsmfs.conf"

# 1. 200 files, remounted, read cold: one unwrap, the mount's.
mount_hsm "$C" "$M" -o "$O"
mkdir "$M/d"
for i in $(seq 200); do echo "file $i" >"$M/d/f$i"; done
sync
umount_wait "$M"
u0=$(ops UnwrapKey)
mount_hsm "$C" "$M" -o "$O"
readall
u1=$(ops UnwrapKey)
check "a mount and 200 cold reads: exactly 1 UnwrapKey ($((u1 - u0)))" test $((u1 - u0)) -eq 1
check "the 200 file keys were unwrapped locally" \
	bash -c "'$HSMFS' status '$M' | grep -q '200 file keys unwrapped locally'"
check "status shows the mode" bash -c "'$HSMFS' status '$M' | grep -q 'wrap: *volume (wrapping key generation 1)'"
"$HSMFS" cache flush "$M" >/dev/null
readall
u2=$(ops UnwrapKey)
check "cache flush re-validates the KEK: 1 UnwrapKey, 0 for 200 files ($((u2 - u1)))" test $((u2 - u1)) -eq 1
sums >"$T/man0"

# 2. KEK rotation: the config alone, a fixed number of HSM calls.
V1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wrapping_keys"][0]["kid"].rsplit("/",1)[1])' "$C/hsmfs.conf")
emu_ctl "$E" key rotate fskek >/dev/null
k0=$(keyops) u0=$(ops UnwrapKey) w0=$(ops WrapKey) g0=$(ops GetKey)
check "rekey after a rotation, mounted" bash -c "'$HSMFS' rekey -q -o '$O' '$C' >'$T/rk1' 2>&1"
k1=$(keyops) u1=$(ops UnwrapKey) w1=$(ops WrapKey) g1=$(ops GetKey)
echo "# KEK rekey: $((u1 - u0)) UnwrapKey, $((w1 - w0)) WrapKey, $((g1 - g0)) GetKey"
check "KEK rekey: 1 UnwrapKey, 0 WrapKey (RSA wraps locally)" \
	test $((u1 - u0)) -eq 1 -a $((w1 - w0)) -eq 0
# GetKey: the rekey reads the key's current version, re-reads it with the
# config it wrote, and the mounted daemon reads it when told to reload.
check "KEK rekey: 4 HSM key operations in all, none per file ($((k1 - k0)))" test $((k1 - k0)) -eq 4
check "no header was written" bash -c "test -z \"\$(find '$C' -type f -newer '$T/man0' ! -name 'hsmfs.*')\""
emu_ctl "$E" key set fskek --version "$V1" --enabled false >/dev/null
check "old version disabled: the flush's re-validation passes" \
	bash -c "'$HSMFS' cache flush '$M' | grep -q 'kek check: ok'"
sums >"$T/man1"
check "every file reads back" diff -u "$T/man0" "$T/man1"
umount_wait "$M"
check "and mounts again" mount_hsm "$C" "$M" -o "$O"
sums >"$T/man2"
check "and reads back after the remount" diff -u "$T/man0" "$T/man2"
umount_wait "$M"

# 3. Revocation. A long kek_check first: only a flush can notice.
mount_hsm "$C" "$M" -o "$O,kek_check=3600"
cat "$M/d/f1" >/dev/null
emu_ctl "$E" key set fskek --enabled false >/dev/null
check "before a flush the disabled key is not noticed (the control)" \
	bash -c "cat '$M/d/f2' >/dev/null"
"$HSMFS" cache flush "$M" >"$T/flush" 2>&1
check "cache flush with the key disabled: refused, keys wiped" grep -q "refused" "$T/flush"
check "at once no file reads, cached ones neither" \
	bash -c "! cat '$M/d/f3' 2>/dev/null && ! cat '$M/d/f1' 2>/dev/null"
check "and no file can be written" bash -c "! (echo x | dd of='$M/new' conv=fsync status=none 2>/dev/null)"
rm -f "$M/new"
check "the log says why" grep -q "refused re-validation" "$M.log"
check "status says revoked" bash -c "'$HSMFS' status '$M' | grep -q 'REVOKED'"
emu_ctl "$E" key set fskek --enabled true >/dev/null
"$HSMFS" cache flush "$M" >/dev/null
check "re-enabled: the next re-validation restores access" bash -c "grep -qx 'file 3' '$M/d/f3'"
umount_wait "$M"

# Within kek_check, with no flush; an open file keeps reading.
mount_hsm "$C" "$M" -o "$O,kek_check=2"
cat "$M/d/f5" >/dev/null
exec 7<"$M/d/f4"
emu_ctl "$E" key set fskek --enabled false >/dev/null
start=$(date +%s.%N)
wait_for 8 bash -c "! cat '$M/d/f6' 2>/dev/null && ! cat '$M/d/f5' 2>/dev/null"
r=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
check "a disabled key ends access to files not open within kek_check=2 (${took}s)" \
	bash -c "test $r -eq 0 && echo '$took < 4.5' | bc | grep -qx 1"
check "a file open before keeps reading" bash -c "grep -qx 'file 4' <&7"
exec 7<&-
emu_ctl "$E" key set fskek --enabled true >/dev/null
check "re-enabled: access returns within kek_check" wait_for 8 bash -c "grep -qx 'file 6' '$M/d/f6' 2>/dev/null"
umount_wait "$M"

# 4. An outage (503 to every unwrap) is not a revocation: nothing wiped.
mount_hsm "$C" "$M" -o "$O,kek_check=1,hsm_timeout=1500"
emu_ctl "$E" faults set --error-rate 1 --error-status 503 --ops UnwrapKey >/dev/null
f0=$(ops UnwrapKey)
"$HSMFS" cache flush "$M" >"$T/flush2" 2>&1
check "cache flush during a 503 outage keeps the keys" grep -q "no answer: keys kept" "$T/flush2"
sleep 3
check "re-validations failed meanwhile" test "$(ops UnwrapKey)" -gt $((f0 + 2))
check "and every file still reads" bash -c "cat '$M'/d/* | wc -l | grep -qx 200"
check "the log says keys were kept" grep -q "keys kept" "$M.log"
emu_ctl "$E" faults clear >/dev/null
umount_wait "$M"

# 5. A wrapping-key rotation killed with -9, mounted, then resumed.
mount_hsm "$C" "$M" -o "$O"
mid=0
for n in 1 2 3; do
	# 200 headers at 100 a second: killed well inside.
	"$HSMFS" rekey -q --wrapping-key --jobs 1 --max-rate 100 -o "$O" "$C" >/dev/null 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 5 + 5))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	"$HSMFS" rekey --check -o "$O" "$C" >"$T/chk.$n" 2>&1
	if grep -q '^  old .* hsmfs-wk:' "$T/chk.$n" && grep -q '^  current .* hsmfs-wk:' "$T/chk.$n"; then
		mid=$((mid + 1))
		break
	fi
done
check "a kill -9 left headers on both generations" test "$mid" -eq 1
check "the config holds both generations meanwhile" \
	python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))["wrapping_keys"]) == 2' "$C/hsmfs.conf"
"$HSMFS" cache flush "$M" >/dev/null
sums >"$T/man5"
check "mid-way, every file reads through the mount" diff -u "$T/man0" "$T/man5"
check "fsck --unwrap mid-way: clean" "$HSMFS" fsck --unwrap -o "$O" "$C"
check "a re-run finishes it" bash -c "'$HSMFS' rekey -q --wrapping-key -o '$O' '$C' >'$T/rk5' 2>&1 && grep -q 'finishing' '$T/rk5'"
check "the old generation left the config" \
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert len(c["wrapping_keys"]) == 1 and c["wrapping_keys"][0]["generation"] == 2' "$C/hsmfs.conf"
check "--check: nothing old referenced" "$HSMFS" rekey --check -o "$O" "$C"
check "--check names the wrapping key the KEK wraps" \
	bash -c "'$HSMFS' rekey --check -o '$O' '$C' | grep -q '^wrapping key: $KEK/.* (current)'"
"$HSMFS" cache flush "$M" >/dev/null
sums >"$T/man6"
check "every file reads back" diff -u "$T/man0" "$T/man6"
check "fsck --unwrap --deep: clean" "$HSMFS" fsck --unwrap --deep -o "$O" "$C"

# 6. Tampered slots: EIO and one log line naming the file.
for i in 1 2 3; do echo "tamper $i" >"$M/t$i"; done
ino1=$(stat -c %i "$M/t1") ino2=$(stat -c %i "$M/t2") ino3=$(stat -c %i "$M/t3")
umount_wait "$M"
b1=$(find "$C" -type f -inum "$ino1") b2=$(find "$C" -type f -inum "$ino2") b3=$(find "$C" -type f -inum "$ino3")
# Slot 0 (new files): kid at 32 + 8, wrapped at 32 + 264 (72 bytes).
kid=$(dd if="$b1" bs=1 skip=40 count=255 status=none | tr -d '\0')
kl=${#kid}
chmod u+w "$b1" "$b2" "$b3"
printf '9' | dd of="$b1" bs=1 seek=$((40 + kl - 1)) conv=notrunc status=none
dd if="$b3" of="$b2" bs=1 skip=296 seek=296 count=72 conv=notrunc status=none
mount_hsm "$C" "$M" -o "$O"
check "a kid naming a generation the config lacks: EIO" bash -c "! cat '$M/t1' 2>/dev/null"
check "logged with the file" grep -q -e "$(basename "$b1").*generation 9, which the config does not hold" "$M.log"
check "another file's wrapped key: EIO" bash -c "! cat '$M/t2' 2>/dev/null"
check "logged with the file" grep -q -e "$(basename "$b2").*another file" "$M.log"
check "the untouched file reads" grep -qx "tamper 3" "$M/t3"
umount_wait "$M"
finish
