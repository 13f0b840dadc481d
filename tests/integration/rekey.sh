#!/usr/bin/env bash
# hsmfs rekey against the HSM emulator: rotation then rekey then the old
# version disabled, with every file and name still reading back; --check
# before and after; a second run without unwraps; --to another key on a
# mounted volume; kill -9 at random points; a writer during the rekey;
# 429 bursts; and rekey --data with hard links and xattrs.
. "$(dirname "$0")/lib.sh"

emu_kek_suite
R() { "$HSMFS" rekey -q -o "$O" "$@"; }

# The version of the volume key's wrapping KEK, from the config.
vk_version() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["volume_key"]["kid"].rsplit("/",1)[1])' "$C/hsmfs.conf"; }
conf_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$C/hsmfs.conf" "$1"; }

check "init" bash -c "'$HSMFS' init --kek '$KEK' -o '$O' '$C' >'$T/init.out'"
FPR1=$(sed -n 's/^  fingerprint: //p' "$T/init.out")
check "mount" mount_hsm "$C" "$M" -o "$O"
for d in a b c; do
	mkdir -p "$M/$d/sub"
	for i in $(seq 1 50); do echo "$d $i $RANDOM" >"$M/$d/f$i"; done
	head -c 9000 /dev/urandom >"$M/$d/sub/big"
done
touch "$M/empty"
LONG=$(printf 'n%.0s' $(seq 1 200))
echo long >"$M/a/$LONG"
ln -s a/f1 "$M/link"
ln "$M/a/f2" "$M/b/hard"
setfattr -n user.color -v blue "$M/a/f3"
sync
manifest "$M" >"$T/man0"

# 1. Rotation, rekey, old version disabled.
V1=$(vk_version)
emu_ctl "$E" key rotate fskek >/dev/null
R --check "$C" >"$T/check1"
check "--check before: exit 1, names the old version" \
	bash -c "test $? -eq 1 && grep -q 'old .*$V1' '$T/check1'"
check "rekey on the mounted volume" bash -c "'$HSMFS' rekey -q -o '$O' '$C' >'$T/rk1' 2>&1"
check "it reports 0 failed" grep -q "failed 0" "$T/rk1"
R --check "$C" >"$T/check2"
check "--check after: exit 0, old version gone" \
	bash -c "test $? -eq 0 && ! grep -q '$V1' '$T/check2'"
emu_ctl "$E" key set fskek --version "$V1" --enabled false >/dev/null
"$HSMFS" cache flush "$M" >/dev/null
manifest "$M" >"$T/man1"
check "with the old version disabled every file reads back (mounted)" diff -u "$T/man0" "$T/man1"
umount_wait "$M"
check "and the volume mounts again (volume key rewrapped)" mount_hsm "$C" "$M" -o "$O"
manifest "$M" >"$T/man1b"
check "every file and name reads back after a remount" diff -u "$T/man0" "$T/man1b"

# 2. A second run has nothing to do: no unwrap at all.
u0=$(unwraps "$E")
R "$C" >"$T/rk2" 2>&1
u1=$(unwraps "$E")
check "a second run makes no UnwrapKey call ($u0 -> $u1)" test "$u0" -eq "$u1"
check "and finds every file current" grep -q "rewrapped 0" "$T/rk2"

# 3. --to another key (oct-HSM) while mounted and read.
emu_ctl "$E" key create fskek2 --kty oct-HSM --size 256 >/dev/null
emu_ctl "$E" role assign --principal hsmfs-mount \
	--role "Managed HSM Crypto Service Encryption User" --scope /keys/fskek2 >/dev/null
KEK2=$EMU_URL/keys/fskek2
(
	while [[ ! -e $T/stop_reader ]]; do
		"$HSMFS" cache flush "$M" >/dev/null 2>&1
		for f in "$M"/a/f*; do cat "$f" >/dev/null || echo "read failed: $f"; done
	done
) >"$T/reader.log" 2>&1 &
RD=$!
check "rekey --to an oct-HSM key on a mounted volume" \
	bash -c "'$HSMFS' rekey -q -o '$O' --to '$KEK2' '$C' >'$T/rk3' 2>&1 || { cat '$T/rk3' >&2; false; }"
touch "$T/stop_reader"
wait "$RD"
check "files stayed readable through the mount during the move" \
	bash -c "! grep -q 'read failed' '$T/reader.log'"
check "the config names the new KEK" test "$(conf_field kek)" = "$KEK2"
check "the daemon reloaded it" grep -q "reloaded" "$T/rk3"
check "previous_keks dropped once nothing needs the old KEK" \
	bash -c "test -z \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(\"previous_keks\",\"\"))' '$C/hsmfs.conf')\""
emu_ctl "$E" key set fskek --enabled false >/dev/null
"$HSMFS" cache flush "$M" >/dev/null
manifest "$M" >"$T/man2"
check "with the old KEK disabled every file reads through the mount" diff -u "$T/man0" "$T/man2"
umount_wait "$M"
check "the volume mounts with the new KEK (pin updated)" mount_hsm "$C" "$M" -o "$O"
manifest "$M" >"$T/man2b"
check "and reads back" diff -u "$T/man0" "$T/man2b"
# The fingerprint covers the KEK URL: --to printed the new one, which a
# new machine now needs; the old one is refused before any request.
FPR2=$(sed -n 's/^volume fingerprint: \([a-z2-7-]*\).*/\1/p' "$T/rk3")
check "rekey --to printed the new fingerprint" \
	bash -c "[[ -n '$FPR2' && '$FPR2' != '$FPR1' ]] && '$HSMFS' status '$M' | grep -q 'fingerprint: $FPR2'"
umount_wait "$M"
check "a new machine refuses the volume with the old fingerprint" \
	bash -c "HSMFS_STATE_DIR='$T/new' '$HSMFS' mount -o '$O,volume=$FPR1' '$C' '$M' 2>&1 | grep -q 'does not match the fingerprint'"
check "and mounts it with the new one" \
	env HSMFS_STATE_DIR="$T/new" "$HSMFS" mount -o "$O,volume=$FPR2" "$C" "$M"
umount_wait "$M"
mount_hsm "$C" "$M" -o "$O"

# 4. A writer during a rekey: no write lost.
emu_ctl "$E" key rotate fskek2 >/dev/null
(
	for i in $(seq 1 300); do
		echo "line $i" >>"$M/c/append" || echo "append $i failed"
		echo "version $i" >"$M/c/rewrite" || echo "rewrite $i failed"
		((i % 30 == 0)) && echo "new $i" >"$M/c/new$i"
	done
) >"$T/writer.log" 2>&1 &
WR=$!
R "$C" >"$T/rk4" 2>&1
rk4=$?
wait "$WR"
R "$C" >>"$T/rk4" 2>&1
check "rekey beside a writer completes" test "$rk4" -eq 0
check "the writer saw no error" test ! -s "$T/writer.log"
check "no appended line lost" bash -c "diff <(seq 1 300 | sed 's/^/line /') '$M/c/append'"
check "the last rewrite is there" grep -qx "version 300" "$M/c/rewrite"
check "files made during the rekey read" grep -qx "new 300" "$M/c/new300"
R --check "$C" >/dev/null
check "--check: only the current version after a final run" test $? -eq 0
umount_wait "$M"
mount_hsm "$C" "$M" -o "$O" && manifest "$M" >"$T/man4w" && umount_wait "$M"
check "every other file unchanged" bash -c "grep -v '^./c/\(append\|rewrite\|new\)' '$T/man4w' | diff -u <(grep -v '^./c/\(append\|rewrite\|new\)' '$T/man0') -"
manifest_ref=$T/man4w

# 5. kill -9 at random points; after each, every key slot still verifies.
kills=0
mid=0
fsck_bad=0
start=$(date +%s)
for n in $(seq 1 10); do
	emu_ctl "$E" key rotate fskek2 >/dev/null
	# Slow unwraps for the rekey only, so that the kill finds it mid-way.
	emu_ctl "$E" faults set --latency-ms 8 --ops UnwrapKey >/dev/null
	"$HSMFS" rekey -q --jobs 2 -o "$O" "$C" >/dev/null 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 5 + 2))$((RANDOM % 10))"
	kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
	wait "$pid" 2>/dev/null
	emu_ctl "$E" faults clear >/dev/null
	# Mid-way: some files on the new version, some still on an old one.
	"$HSMFS" rekey --check -o "$O" "$C" >"$T/chk.$n" 2>&1
	grep -q '^  current .*[1-9][0-9]* files' "$T/chk.$n" &&
		grep -q '^  old .*[1-9][0-9]* files' "$T/chk.$n" && mid=$((mid + 1))
	"$HSMFS" fsck --unwrap -o "$O" "$C" >"$T/fsck.$n" 2>&1 || fsck_bad=$((fsck_bad + 1))
done
echo "# $kills of 10 runs killed, $mid mid-way, $(($(date +%s) - start)) s"
check "after each kill -9 every file's key slots verify (fsck --unwrap)" test "$fsck_bad" -eq 0
check "most runs were killed mid-way ($mid/10 left old and new versions)" test "$mid" -ge 5
check "a final run completes with 0 failed" bash -c "'$HSMFS' rekey -q -o '$O' '$C' 2>&1 | grep -q 'failed 0'"
check "--check: 0 after the final run" bash -c "'$HSMFS' rekey --check -o '$O' '$C' >/dev/null"
mount_hsm "$C" "$M" -o "$O"
manifest "$M" >"$T/man5"
check "every file reads back exactly after the kills" diff -u "$manifest_ref" "$T/man5"

# 6. 429 bursts: slower, complete.
emu_ctl "$E" key rotate fskek2 >/dev/null
emu_ctl "$E" faults set --throttle-rate 0.3 --ops UnwrapKey >/dev/null
start=$(date +%s)
R --jobs 4 "$C" >"$T/rk6" 2>&1
rk6=$?
emu_ctl "$E" faults clear >/dev/null
echo "# throttled rekey: $(($(date +%s) - start)) s, $(grep -c '"outcome":"Throttled"' "$E/audit.log") throttled answers in all"
check "under 429s (no Retry-After) the rekey completes" test "$rk6" -eq 0
check "with 0 failed" grep -q "failed 0" "$T/rk6"
check "the emulator did throttle" grep -q '"outcome":"Throttled"' "$E/audit.log"
# Retry-After on a small volume (each throttled call waits a second).
"$HSMFS" init --kek "$KEK2" -o "$O" "$T/c2" >/dev/null
mount_hsm "$T/c2" "$T/m2" -o "$O"
for i in $(seq 1 12); do echo "small $i" >"$T/m2/s$i"; done
sync
manifest "$T/m2" >"$T/mans0"
emu_ctl "$E" key rotate fskek2 >/dev/null
emu_ctl "$E" faults set --throttle-rate 0.5 --retry-after 1 --ops UnwrapKey >/dev/null
start=$(date +%s)
check "429 with Retry-After: 1, --max-rate 20: completes with 0 failed" \
	bash -c "'$HSMFS' rekey -q --max-rate 20 -o '$O' '$T/c2' 2>&1 | grep -q 'failed 0'"
emu_ctl "$E" faults clear >/dev/null
echo "# throttled rekey with Retry-After: $(($(date +%s) - start)) s"
"$HSMFS" cache flush "$T/m2" >/dev/null
manifest "$T/m2" >"$T/mans1"
check "and its files read back" diff -u "$T/mans0" "$T/mans1"
umount_wait "$T/m2"

# 7. rekey --data: a file with a hard link, xattrs, mode, mtime.
echo "secret content" >"$M/b/dat"
ln "$M/b/dat" "$M/c/dat-link"
setfattr -n user.tag -v hello "$M/b/dat"
chmod 640 "$M/b/dat"
touch -d '2001-02-03 04:05:06' "$M/b/dat"
sync
check "--data refuses a mounted volume" bash -c "'$HSMFS' rekey --data -o '$O' '$C' /b/dat 2>&1 | grep -q 'unmounted'"
ino=$(stat -c %i "$M/b/dat")
umount_wait "$M"
bfile=$(find "$C" -type f -inum "$ino" | head -n 1)
before=$("$HSMFS" inspect "$bfile")
oldid=$(sed -n 's/^file id: *//p' <<<"$before")
oldfp=$(sed -n 's/.*sha256 //p' <<<"$before" | head -n 1)
check "rekey --data /b/dat" bash -c "'$HSMFS' rekey --data -o '$O' '$C' /b/dat >'$T/rk7' 2>&1"
after=$("$HSMFS" inspect "$bfile")
check "the file keeps its id (format 3 binds xattrs to it), with a new key" \
	bash -c "test -n '$oldid' && grep -q 'file id: *$oldid' <<<'$after' && ! grep -q 'sha256 $oldfp' <<<'$after'"
check "the old wrapped DEK is gone from every backing file" \
	bash -c "! (find '$C' -type f ! -name 'hsmfs.*' -print0 | xargs -0 -r -n 1 -P \"\$(nproc)\" '$HSMFS' inspect | grep -q 'sha256 $oldfp')"
mount_hsm "$C" "$M" -o "$O"
check "content preserved" grep -qx "secret content" "$M/b/dat"
check "hard link preserved (same inode)" test "$(stat -c %i "$M/b/dat")" = "$(stat -c %i "$M/c/dat-link")"
check "link count 2" test "$(stat -c %h "$M/b/dat")" = 2
check "mode preserved" test "$(stat -c %a "$M/b/dat")" = 640
check "mtime preserved" test "$(stat -c %Y "$M/b/dat")" = "$(date -d '2001-02-03 04:05:06' +%s)"
check "xattr preserved" bash -c "getfattr -n user.tag --only-values '$M/b/dat' | grep -qx hello"
manifest "$M" | grep -v 'dat' >"$T/man7"
check "the rest of the volume unchanged" bash -c "grep -v 'dat' '$T/man5' | diff -u - '$T/man7'"
umount_wait "$M"
check "fsck --deep: clean at the end" "$HSMFS" fsck --deep -o "$O" "$C"
finish
