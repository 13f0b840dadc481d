#!/usr/bin/env bash
# Files in use are bounded by memory, not by descriptors: a daemon whose
# RLIMIT_NOFILE is 1,024 creates, stats, reads (checking content), renames
# and removes 100,000 files in one mount without an error, its open
# descriptors staying under the limit and its memory sane in every phase.
# Open files do need a descriptor each: when they use up the limit, those
# opens alone fail with EMFILE, one log line names the limit, and the
# mount works again once they are closed.
. "$(dirname "$0")/lib.sh"

N=${MANYFILES_N:-100000}
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
finish
