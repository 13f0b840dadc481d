#!/usr/bin/env bash
# -o follow_kek_versions against the HSM emulator, counted in its audit
# log: a rotation with a writer and a reader running (new files on the
# new version within the interval, every header moved in the background,
# rekey --check clean, the old version disabled and everything reads);
# the daemon killed with -9 mid-way and the move resumed by the next
# mount; rekey_rate bounding unwraps per second; hsmfs rekey run beside
# the daemon; a volume-wrap volume moving its config alone, in a counted
# number of HSM calls.
. "$(dirname "$0")/lib.sh"

emu_kek_suite

ops() { emu_ops "$E" "$1"; }
keyops() { emu_keyops "$E"; }
st() { "$HSMFS" status "$1" 2>/dev/null; }
version() { sed 's|.*/||' <<<"$1"; }
# The version of a key the config wraps: volume_key, or wrapping_keys.
conf_version() { python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); k=c["wrapping_keys"][-1] if sys.argv[2] == "wk" else c["volume_key"]; print(k["kid"].rsplit("/",1)[1])' "$1/hsmfs.conf" "$2"; }
# The kid of a plaintext file's header: its backing file (same inode).
file_kid() { "$HSMFS" inspect "$(find "$1" -type f -inum "$(stat -c %i "$2")")" | sed -n 's/^  kid: *//p' | head -n 1; }
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
export -f conf_version
# rekey --check: 0 when only the current version is referenced.
clean() { "$HSMFS" rekey --check -o "$O" "$1" >"$T/check.out" 2>&1 || { cat "$T/check.out"; false; }; }

# 1. File mode: a rotation while a writer and a reader run.
check "init (file mode)" bash -c "'$HSMFS' init --kek '$KEK' -o '$O' '$C' >/dev/null"
check "mount -o follow_kek_versions=1" mount_hsm "$C" "$M" -o "$O,follow_kek_versions=1,rekey_rate=200"
for d in a b c; do
	mkdir "$M/$d"
	for i in $(seq 60); do echo "$d $i $RANDOM" >"$M/$d/f$i"; done
done
sync
sums "$M" >"$T/sums0"
V1=$(conf_version "$C" vk)
check "status: the version in use, following" \
	wait_for 10 bash -c "'$HSMFS' status '$M' | grep -q 'kek version: $V1 (following every 1 s'"
(
	for i in $(seq 100); do
		[[ -e $T/stop ]] && break
		echo "new $i" >"$M/w$i" || echo "write $i failed"
		sleep 0.02
	done
) >"$T/writer.log" 2>&1 &
WR=$!
(
	while [[ ! -e $T/stop ]]; do
		"$HSMFS" cache flush "$M" >/dev/null 2>&1
		sums "$M" | grep -vE '/(w[0-9]+|after)$' | diff -q "$T/sums0" - >/dev/null ||
			echo "read mismatch"
	done
) >"$T/reader.log" 2>&1 &
RD=$!
V2=$(version "$(emu_ctl "$E" key rotate fskek)")
check "within the interval the daemon uses the new version" \
	wait_for 10 bash -c "'$HSMFS' status '$M' | grep -q 'kek version: $V2'"
echo "fresh" >"$M/after"
check "a file made after that is wrapped by it" test "$(version "$(file_kid "$C" "$M/after")")" = "$V2"
check "status shows the background rewrap, then done" \
	wait_for 30 bash -c "'$HSMFS' status '$M' | grep -q 'rewrap: *done: every header'"
touch "$T/stop"
wait "$WR" "$RD"
check "the writer saw no error" test ! -s "$T/writer.log"
check "the reader saw no error or mismatch" test ! -s "$T/reader.log"
check "the config's volume key followed last" test "$(conf_version "$C" vk)" = "$V2"
check "rekey --check: only the current version" clean "$C"
emu_ctl "$E" key set fskek --version "$V1" --enabled false >/dev/null
"$HSMFS" cache flush "$M" >/dev/null
sums "$M" | grep -vE '/(w[0-9]+|after)$' >"$T/sums1"
check "the old version disabled: every file reads (mounted)" diff -u "$T/sums0" "$T/sums1"
umount_wait "$M"
"$HSMFS" mount -o "$O" "$C" "$M" && sums "$M" | grep -vE '/(w[0-9]+|after)$' >"$T/sums1b"
umount_wait "$M"
check "and a fresh mount reads everything" diff -u "$T/sums0" "$T/sums1b"

# 2. kill -9 in the middle of the rewrap; the next mount resumes it.
# Unwraps are bounded by rekey_rate=10 meanwhile (below what one
# thread rewraps on this machine unbounded, about 15 a second).
mount_hsm "$C" "$M" -o "$O,follow_kek_versions=1,rekey_rate=10"
PID=$!
a0=$(wc -l <"$E/audit.log")
V3=$(version "$(emu_ctl "$E" key rotate fskek)")
wait_for 20 bash -c "'$HSMFS' status '$M' | grep -qE 'rewrap: *([3-9][0-9]|1[0-9][0-9])/[0-9]+ headers'"
st "$M" >"$T/st.mid"
kill -9 "$PID"
wait "$PID" 2>/dev/null
tail -n +"$((a0 + 1))" "$E/audit.log" >"$T/audit.rate"
"$HSMFS" umount "$M" 2>/dev/null || fusermount3 -u "$M" 2>/dev/null
check "killed mid-way: status had shown progress" grep -qE 'rewrap: *[0-9]+/[0-9]+ headers' "$T/st.mid"
"$HSMFS" rekey --check -o "$O" "$C" >"$T/chk.mid" 2>&1
check "headers on both versions after the kill" \
	bash -c "grep -qE '^  current +[1-9][0-9]* files.*$V3' '$T/chk.mid' && grep -qE '^  old +[1-9][0-9]* files.*$V2' '$T/chk.mid'" ||
	cat "$T/chk.mid"
check "every key slot verifies after the kill (fsck --unwrap)" "$HSMFS" fsck --unwrap -o "$O" "$C"
python3 - "$T/audit.rate" 10 >"$T/rate.out" <<'EOF'
import collections, datetime, json, sys
n = int(sys.argv[2])
ts = [json.loads(l)["time"] for l in open(sys.argv[1]) if '"UnwrapKey"' in l]
per = collections.Counter(t[:19] for t in ts)
t = [datetime.datetime.fromisoformat(x.replace("Z", "+00:00")).timestamp() for x in ts]
span = t[-1] - t[0] if len(t) > 1 else 0
print(f"{len(t)} unwraps over {span:.2f} s, at most {max(per.values(), default=0)} in one second")
sys.exit(0 if len(t) >= 25 and max(per.values()) <= n + 1 and len(t) <= n * span + 2 else 1)
EOF
r=$?
echo "# rekey_rate=10: $(cat "$T/rate.out")"
check "rekey_rate=10: at most 11 UnwrapKey in any second, 10/s over the run" test "$r" -eq 0
mount_hsm "$C" "$M" -o "$O,follow_kek_versions=1,rekey_rate=100"
: >"$T/st.log"
for _ in $(seq 150); do
	st "$M" | grep '^rewrap:' >>"$T/st.log"
	grep -q 'rewrap: *done' "$T/st.log" && break
	sleep 0.2
done
check "the next mount resumes it: progress shown" grep -qE 'rewrap: *[0-9]+/[0-9]+ headers' "$T/st.log"
check "then done" grep -q 'rewrap: *done: every header' "$T/st.log"
check "rekey --check after the resumed rewrap: clean" clean "$C"
emu_ctl "$E" key set fskek --version "$V2" --enabled false >/dev/null
"$HSMFS" cache flush "$M" >/dev/null
sums "$M" | grep -vE '/(w[0-9]+|after)$' >"$T/sums2"
check "with $V2 disabled too, every file reads" diff -u "$T/sums0" "$T/sums2"

# 3. hsmfs rekey beside the daemon: it holds still while rekey runs.
V4=$(version "$(emu_ctl "$E" key rotate fskek)")
check "hsmfs rekey on a following mount completes, 0 failed" \
	bash -c "'$HSMFS' rekey -q -o '$O' '$C' 2>&1 | grep -q 'failed 0'"
check "rekey --check: clean" clean "$C"
check "the daemon held still while rekey ran" grep -q "holding still while hsmfs rekey runs" "$M.log"
check "the daemon follows on to $V4" wait_for 10 bash -c "'$HSMFS' status '$M' | grep -q 'kek version: $V4'"
# Keys in use stay cached through the background rewrap: once every
# header is on the next version, reading the files again asks the HSM
# for nothing.
sums "$M" >/dev/null
V4=$(version "$(emu_ctl "$E" key rotate fskek)")
check "the daemon rewraps every header to $V4" wait_for 30 clean "$C"
u0=$(ops UnwrapKey)
sums "$M" >/dev/null
u1=$(ops UnwrapKey)
check "then the files read with their cached keys: no UnwrapKey ($((u1 - u0)))" test "$u1" -eq "$u0"
umount_wait "$M"

# 4. Volume-wrap: the config alone, in a counted number of HSM calls.
C2=$T/c2
M2=$T/m2
"$HSMFS" init --wrap volume --kek "$KEK" -o "$O" "$C2" >/dev/null
mount_hsm "$C2" "$M2" -o "$O"
mkdir "$M2/d"
for i in $(seq 100); do echo "v $i" >"$M2/d/f$i"; done
sums "$M2" >"$T/vsums0"
umount_wait "$M2"
k0=$(keyops) u0=$(ops UnwrapKey) w0=$(ops WrapKey) g0=$(ops GetKey)
mount_hsm "$C2" "$M2" -o "$O,follow_kek_versions=1,kek_check=3600"
sums "$M2" >/dev/null
check "volume-wrap: status says the version" \
	wait_for 10 bash -c "'$HSMFS' status '$M2' | grep -q 'kek version: $V4'"
V5=$(version "$(emu_ctl "$E" key rotate fskek)")
check "within the interval the config's wrapping key is on the new version" \
	wait_for 10 bash -c "test \"\$(conf_version '$C2' wk 2>/dev/null)\" = '$V5'"
check "no header was written" bash -c "test -z \"\$(find '$C2' -type f -newer '$T/vsums0' ! -name 'hsmfs.*')\""
echo "v new" >"$M2/d/new"
umount_wait "$M2"
k1=$(keyops) u1=$(ops UnwrapKey) w1=$(ops WrapKey) g1=$(ops GetKey)
n=$(sed -n 's/.*KEK versions followed: \([0-9]*\) checks.*/\1/p' "$M2.log")
echo "# volume-wrap mount through a rotation: $((u1 - u0)) UnwrapKey, $((w1 - w0)) WrapKey, $((g1 - g0)) GetKey, $n checks"
check "the whole mount: 1 UnwrapKey (its own), 0 WrapKey, 1 GetKey per check, nothing else" \
	test "$((u1 - u0))" -eq 1 -a "$((w1 - w0))" -eq 0 -a "$((g1 - g0))" -eq "${n:--1}" -a "$((k1 - k0))" -eq $((n + 1))
emu_ctl "$E" key set fskek --version "$V4" --enabled false >/dev/null
mount_hsm "$C2" "$M2" -o "$O"
sums "$M2" | grep -v '/d/new$' >"$T/vsums1"
check "the old version disabled: a fresh mount reads everything" diff -u "$T/vsums0" "$T/vsums1"
check "and the file made after the rotation" grep -qx "v new" "$M2/d/new"
umount_wait "$M2"
finish
