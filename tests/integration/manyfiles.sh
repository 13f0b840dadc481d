#!/usr/bin/env bash
# Files in use are bounded by memory, not by descriptors: a daemon whose
# RLIMIT_NOFILE is 1,024 creates, stats, reads (checking content), renames
# and removes 50,000 files in one mount without an error, its open
# descriptors staying under the limit and its memory sane in every phase.
# Open files do need a descriptor each: when they use up the limit, those
# opens alone fail with EMFILE, one log line names the limit, and the
# mount works again once they are closed.
. "$(dirname "$0")/lib.sh"

N=${MANYFILES_N:-50000}
LIMIT=1024
FDS_MAX=$((LIMIT * 3 / 4)) # inodes cache half the limit
RSS_MAX=256                # MiB
PY=$ROOT/tests/integration/manyfiles.py

testkek k
vol_init "$T/c" >/dev/null
mount_fg "$T/c" "$T/m" || {
	bad "mount"
	finish
}
PID=${PIDS[-1]}
# After the mount: the daemon raises its own limit as far as it may.
check "the daemon's RLIMIT_NOFILE is set to $LIMIT" \
	prlimit --pid "$PID" --nofile=$LIMIT:$LIMIT

while read -r phase n errs fds rss secs first; do
	check "$phase: $n without an error in $secs s (first: $first)" \
		test "$errs" = 0
	[[ $phase == rmdir ]] && continue
	check "$phase: the daemon's descriptors stay well under $LIMIT (at most $fds)" \
		test "$fds" -lt $FDS_MAX
	check "$phase: its memory stays under $RSS_MAX MiB (at most $rss MiB)" \
		test "$rss" -lt $RSS_MAX
done < <(python3 "$PY" phases "$T/m" "$PID" "$N" || echo "helper 0 1 0 0 0 it failed")

read -r opened err after < <(python3 "$PY" exhaust "$T/m" $((LIMIT + 100)))
check "open files use up the limit: the open past it gets EMFILE (after $opened, got $err)" \
	test "$err" = EMFILE -a "$opened" -gt $((LIMIT / 4))
check "one log line names the limit and how to raise it" \
	test "$(grep -c "RLIMIT_NOFILE ($LIMIT, hard $LIMIT) is reached.*raise the hard limit" "$T/m.log")" = 1
check "once they are closed, files are created, read and removed again ($after)" \
	test "$after" = ok
check "the daemon is still serving" kill -0 "$PID"
check "the mount is empty again" \
	bash -c "ls -A '$T/m' >'$T/ls' && test ! -s '$T/ls'"
check "no other error was logged" \
	test "$(grep -c 'error' "$T/m.log")" = 1
umount_wait "$T/m"

# Without file handles (no CAP_DAC_READ_SEARCH, as for a user's mount)
# each inode the kernel keeps holds a descriptor: past the limit the
# requests that need one more fail with EMFILE, and the daemon, all its
# descriptors taken, still ends cleanly at unmount.
mkdir -p "$T/m2"
prlimit --nofile=64:64 capsh --drop=cap_dac_read_search -- -c \
	"exec '$HSMFS_TEST' mount -f '$T/c' '$T/m2'" >"$T/m2.log" 2>&1 &
NP=$!
for _ in $(seq 200); do mountpoint -q "$T/m2" && break; sleep 0.05; done
check "without file handles: the mount says so" \
	grep -q "no file handles" "$T/m2.log"
for i in $(seq 100); do echo "$i" >"$T/m2/f$i"; done 2>/dev/null
ls -l "$T/m2" >/dev/null 2>&1
check "without file handles: past the limit, a create gets EMFILE" \
	bash -c "echo x 2>&1 >'$T/m2/one-more' | grep -q 'Too many open files'"
cat "$T/m2"/f* >/dev/null 2>&1
# What the unmount needs is loaded before any descriptor is taken.
check "the daemon has the unwinder its unmount needs loaded already" \
	grep -q libgcc_s "/proc/$NP/maps"
fusermount3 -u "$T/m2"
wait "$NP"
check "and the daemon, out of descriptors, exits 0 at unmount (got $?)" \
	test "$?" = 0
finish
