#!/usr/bin/env bash
# The daemon under AddressSanitizer + UndefinedBehaviorSanitizer, and under
# ThreadSanitizer (it is multithreaded: FUSE workers, prefetchers, the
# control socket), driven by the POSIX checker and the random tester:
# every sanitizer report fails the test.
. "$(dirname "$0")/lib.sh"
FSCHECK=$ROOT/$B/tests/fscheck
TORTURE=$ROOT/$B/tests/torture
export FSCHECK_SYMLINK_MAX=3043 FSCHECK_XATTR_BIG=3000 FSCHECK_RANDOM_MB=8

quietly() {
	"$@" >/dev/null
}

# exercise LABEL MNT: the workload; its own results count as checks.
# Cache flushes run all along: each one wipes every thread's cipher
# context while the threads use them.
exercise() {
	local out flusher
	(while :; do
		"$HSMFS_TEST" cache flush "$2" >/dev/null 2>&1
		sleep 0.2
	done) &
	flusher=$!
	mkdir -p "$2/$1"
	out=$("$FSCHECK" -x readdir_large,readers_writer "$2/$1" 2>&1)
	check "$1: fscheck passes" grep -q "fscheck: [0-9]* passed, 0 failed" <<<"$out" ||
		echo "$out" | grep FAIL
	mkdir -p "$T/ref-$1"
	mkdir -p "$2/$1/torture"
	check "$1: torture passes" quietly "$TORTURE" -n 3000 -j 2 -b \
		"$2/$1/torture" "$T/ref-$1"
	kill "$flusher"
	wait "$flusher" 2>/dev/null
	check "$1: caches were flushed during the workload" bash -c \
		"'$HSMFS_TEST' status '$2' | grep -Eq ' ([2-9]|[1-9][0-9]+) flushes'"
	"$HSMFS_TEST" cache flush "$2" >/dev/null
}

testkek k
"$HSMFS_TEST" init --kek testkek://k "$T/c" >/dev/null

export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:exitcode=66
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if run_daemon "$ROOT/$B/tests/hsmfs-test-san" "$T/c" "$T/a"; then
	exercise asan "$T/a"
	umount_wait "$T/a"
	gone "${PIDS[-1]}"
	check "asan: no AddressSanitizer, LeakSanitizer or UBSan report" \
		bash -c "! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/a.log'" ||
		grep -A40 -m 1 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/a.log"
else
	bad "asan: the daemon mounts"
fi

# ThreadSanitizer needs a narrower address-space layout than this kernel
# randomizes into; setarch -R runs it without randomization.
export TSAN_OPTIONS=halt_on_error=0:exitcode=0
tsan_mount() {
	mkdir -p "$T/t"
	setarch "$(uname -m)" -R "$ROOT/$B/tests/hsmfs-test-tsan" mount -f \
		"$T/c" "$T/t" >"$T/t.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 400); do
		mountpoint -q "$T/t" && return 0
		kill -0 "$!" 2>/dev/null || break
		sleep 0.05
	done
	cat "$T/t.log" >&2
	return 1
}
if tsan_mount; then
	exercise tsan "$T/t"
	umount_wait "$T/t"
	gone "${PIDS[-1]}"
	check "tsan: no ThreadSanitizer report" \
		bash -c "! grep -q 'WARNING: ThreadSanitizer' '$T/t.log'" ||
		grep -A40 -m 1 'WARNING: ThreadSanitizer' "$T/t.log"
else
	bad "tsan: the daemon mounts"
fi
finish
