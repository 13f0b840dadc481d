#!/usr/bin/env bash
# Secret hygiene of the daemon: no core dumps, keys in locked memory, a
# closed file's keys wiped from all of its memory, and no client secret or
# token in its logs (debug level included), its command line, or the
# files it writes outside the backing directory.
. "$(dirname "$0")/lib.sh"

E=$T/emu
emu_start "$E" || { bad "emulator starts"; finish; }
emu_setup "$E" fskek RSA-HSM 2048 || { bad "emulator setup"; finish; }
O=ca_file=$E/ca.pem,kek_scope=$SCOPE
export HSMFS_RUN_DIR=$T/run
"$HSMFS" init --kek "$EMU_URL/keys/fskek" -o "$O" "$T/c" >/dev/null

mkdir -p "$T/cwd"
(cd "$T/cwd" && ulimit -c unlimited && mount_hsm "$T/c" "$T/m" -d -o "$O")
pid=$(pgrep -f "hsmfs mount -f -d -o $O $T/c $T/m" | head -n 1)
check "the daemon runs" test -n "$pid"
for i in $(seq 30); do echo "record $i" >"$T/m/f$i"; done
"$HSMFS" cache flush "$T/m" >/dev/null
cat "$T/m"/f* >/dev/null
"$HSMFS" status "$T/m" >/dev/null

secret=$AZURE_CLIENT_SECRET
check "the log (debug level) has no client secret" bash -c "! grep -qF -- '$secret' '$T/m.log'"
check "nor an access token (JWT) or token response" \
	bash -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{10,}|access_token' '$T/m.log'"
check "the debug log did say something" test -s "$T/m.log"
check "the command line has no secret" bash -c "! tr '\0' ' ' </proc/$pid/cmdline | grep -qF -- '$secret'"
check "pins and control sockets hold no secret" \
	bash -c "! grep -rqaF -- '$secret' '$HSMFS_STATE_DIR' '$T/run'"
check "key memory is locked (VmLck > 0)" \
	bash -c "awk '/^VmLck:/ { exit !(\$2 > 0) }' /proc/$pid/status"

# A file's keys in the daemon's memory, looked for byte by byte
# (tests/tools/memscan.py): the DEK, also in base64 as the HSM's answer
# carried it, the content key, and round keys 2-3 of its AES key schedule
# (only a thread's cipher context holds those). While the file is open
# the DEK, content key and schedule are there (the scanner works), the
# HSM's answer is not; the last close wipes content key and schedule, a
# cache flush the DEK; a flush also wipes the schedule of a file still
# open (its content key stays, in locked memory).
KEYDUMP=$ROOT/$B/tests/keydump
head -c 1M /dev/urandom >"$T/m/keyed"
"$HSMFS" cache flush "$T/m" >/dev/null
backing=$(find "$T/c" -type f -size +1000k)
keys=$("$KEYDUMP" --test-tool -o "$O" "$T/c" "$backing")
dek=$(awk '$1 == "dek" { print $2 }' <<<"$keys")
ck=$(awk '$1 == "content" { print $2 }' <<<"$keys")
check "the test tool prints the file's DEK and content key" \
	test ${#dek} -eq 64 -a ${#ck} -eq 64
check "the test tool refuses to run without --test-tool" \
	bash -c "! '$KEYDUMP' -o '$O' '$T/c' '$backing' >/dev/null 2>&1"
# read_keyed: opens the file as fd 3 and reads it past the page cache,
# so that the daemon's threads decrypt it.
read_keyed() {
	exec 3<"$T/m/keyed"
	python3 -c 'import os
os.posix_fadvise(3, 0, 0, os.POSIX_FADV_DONTNEED)
assert len(os.pread(3, 1 << 20, 0)) == 1 << 20'
}
# scan [PATTERN]: the scanner's answer, "NAME COUNT [MAPPINGS]" lines;
# with a PATTERN (an egrep of those lines that must not match), retried
# while it does for up to 10 s: the kernel sends a release after close
# returns.
scan() {
	local out
	for _ in $(seq 40); do
		out=$("$ROOT/tests/tools/memscan.py" "$pid" "$dek" "$ck")
		[[ $# -eq 0 ]] || ! grep -Eq "$1" <<<"$out" && break
		sleep 0.25
	done
	echo "$out"
}
# show LABEL SCAN: the scan in the test's output.
show() {
	local line
	while read -r line; do echo "# $1: $line"; done <<<"$2"
}
# found NAME SCAN: the scanner found NAME.
found() {
	awk -v n="$1" '$1 == n { exit !($2 > 0) }' <<<"$2"
}
# absent "NAME..." SCAN: none of them found.
absent() {
	awk -v n=" $1 " 'index(n, " " $1 " ") && $2 > 0 { bad = 1 }
		END { exit bad }' <<<"$2"
}
read_keyed
s=$(scan)
show "open" "$s"
check "file open: its DEK is in the daemon's memory (the cache)" found dek "$s"
check "file open: but not the HSM's answer that carried it (base64)" \
	absent dek_b64 "$s"
check "file open: its content key is there" found content "$s"
# Other AES code than AES-NI (vpaes, bsaes) keeps the schedule in
# another layout, which the scanner does not know.
if grep -qw aes /proc/cpuinfo; then
	check "file open: its key schedule is there (a thread's cipher context)" \
		found schedule "$s"
else
	echo "# no AES-NI: the key schedule's layout is not known, not looked for"
fi
exec 3<&-
s=$(scan '^(content|schedule) [1-9]')
show "closed" "$s"
check "closed: its content key is nowhere in the daemon's memory" \
	absent content "$s"
check "closed: nor its key schedule" absent schedule "$s"
check "closed: its DEK stays cached until a flush" found dek "$s"
"$HSMFS" cache flush "$T/m" >/dev/null
s=$(scan)
show "closed and flushed" "$s"
check "closed and flushed: none of its keys is in the daemon's memory" \
	absent "dek dek_b64 content schedule" "$s"
read_keyed
"$HSMFS" cache flush "$T/m" >/dev/null
s=$(scan)
show "open and flushed" "$s"
check "open and flushed: no DEK, no key schedule" \
	absent "dek dek_b64 schedule" "$s"
check "open and flushed: the content key stays (locked memory)" \
	found content "$s"
exec 3<&-

# Key memory that cannot be locked (a small RLIMIT_MEMLOCK, no
# CAP_IPC_LOCK): the mount is refused with the reason and the fix, unless
# the operator says otherwise.
testkek k
"$HSMFS_TEST" init --kek testkek://k "$T/c2" >/dev/null
nolock() {
	setpriv --bounding-set -ipc_lock --inh-caps -ipc_lock \
		prlimit --memlock=65536:65536 "$@"
}
mkdir -p "$T/m2"
out=$(nolock "$HSMFS_TEST" mount "$T/c2" "$T/m2" 2>&1)
check "unlockable key memory refuses the mount, saying why and what to do" \
	bash -c "! mountpoint -q '$T/m2' && grep -q 'cannot lock memory for keys' <<<\"\$1\" && grep -q 'allow_unlocked_keys' <<<\"\$1\"" _ "$out"
nolock "$HSMFS_TEST" mount -f -o allow_unlocked_keys "$T/c2" "$T/m2" >"$T/m2.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do mountpoint -q "$T/m2" && break; sleep 0.05; done
check "-o allow_unlocked_keys mounts anyway, with a warning" \
	bash -c "mountpoint -q '$T/m2' && grep -q 'swapped out' '$T/m2.log'"
umount_wait "$T/m2"

if [[ $(cat /proc/sys/kernel/core_pattern) == core ]]; then
	# Control: an ordinary process in the same directory leaves a core
	# (killed once it is sleep, its core limit raised).
	(
		(cd "$T/cwd" && ulimit -c unlimited && exec sleep 60) &
		echo $! >"$T/sleep.pid.tmp" && mv "$T/sleep.pid.tmp" "$T/sleep.pid"
		wait
	) 2>/dev/null &
	for _ in $(seq 200); do
		[[ -s $T/sleep.pid && $(cat "/proc/$(cat "$T/sleep.pid")/comm" 2>/dev/null) == sleep ]] && break
		sleep 0.05
	done
	kill -SEGV "$(cat "$T/sleep.pid")"
	# A core is written by the time the process has ended.
	gone "$(cat "$T/sleep.pid")"
	check "an ordinary process here leaves a core file" bash -c "ls '$T/cwd' | grep -q '^core'"
	rm -f "$T/cwd"/core*
	kill -SEGV "$pid"
	gone "$pid"
	check "the daemon, killed the same way, leaves none (not dumpable)" \
		bash -c "! ls '$T/cwd' | grep -q '^core'"
else
	echo "# core_pattern is not 'core': the core dump check is skipped"
fi
finish
