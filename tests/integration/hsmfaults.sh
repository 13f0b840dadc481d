#!/usr/bin/env bash
# The shipped hsmfs against the HSM emulator under injected faults:
# latency spikes, 503 bursts, 429 storms with and without Retry-After, an
# outage and its end, and an emulator restart on the same port and state.
# A workload opens many files with the DEK cache flushed in between, so
# each open unwraps. Checks: no call outlives the bound (hsm_timeout=3000
# here, so one open may take ~3 s; "hung" means over 20 s), failures are
# EIO or EACCES with a log line, access comes back by itself, nothing
# written before or during the faults is lost, and hsmfs status counts
# retries and errors.
. "$(dirname "$0")/lib.sh"

# Private copies: other work may rebuild build/ while this runs.
cp "$HSMFS" "$EMU" "$T/" || { bad "copy binaries"; finish; }
HSMFS=$T/hsmfs
EMU=$T/hsm-emulator

emu_kek_suite
BOUND=20 # seconds: an open slower than this counts as hung
N=8      # files opened per phase

check "init against the HSM" "$HSMFS" init --kek "$KEK" -o "$O" "$T/c"
check "mount with hsm_timeout=3000" mount_hsm "$T/c" "$M" -o "$O,hsm_timeout=3000"
mkdir -p "$T/expect"

# put NAME: a file with distinct content, and its expected copy.
put() {
	seq -f "$1 line %g" 1 $((2000 + RANDOM % 3000)) >"$T/expect/$1"
	cp "$T/expect/$1" "$M/$1"
}
for i in $(seq $N); do put base$i; done
sync

faults() {
	emu_ctl "$E" faults set "$@" >/dev/null
}

# phase NAME: flushes the DEK cache before each of N opens, so that each
# unwraps; counts ok / EIO-or-EACCES / other / hung, and the slowest.
phase() {
	local name=$1 i t0 t1 r err
	P_OK=0 P_ERR=0 P_OTHER=0 P_HUNG=0 P_MAX=0
	for i in $(seq $N); do
		"$HSMFS" cache flush "$M" >/dev/null
		t0=${EPOCHREALTIME/./}
		err=$(timeout $BOUND cat "$M/base$i" 2>&1 >"$T/got")
		r=$?
		t1=${EPOCHREALTIME/./}
		(((t1 - t0) / 1000 > P_MAX)) && P_MAX=$(((t1 - t0) / 1000))
		if ((r == 124)); then
			P_HUNG=$((P_HUNG + 1))
		elif ((r == 0)) && cmp -s "$T/got" "$T/expect/base$i"; then
			P_OK=$((P_OK + 1))
		elif [[ $err == *"Input/output error"* || $err == *"Permission denied"* ]]; then
			P_ERR=$((P_ERR + 1))
		else
			P_OTHER=$((P_OTHER + 1))
			echo "# $name base$i: rc $r: $err" >&2
		fi
	done
	echo "# $name: $P_OK ok, $P_ERR EIO/EACCES, $P_OTHER other, $P_HUNG hung, slowest ${P_MAX} ms"
	# Writes go on whatever the HSM does: RSA wraps are local, and open
	# files keep their key.
	put "during-$name" && sync "$M/during-$name"
}

no_hang() {
	((P_HUNG == 0 && P_OTHER == 0))
}

# wait_access: polls until an uncached open works again (bounded).
wait_access() {
	for _ in $(seq 60); do
		"$HSMFS" cache flush "$M" >/dev/null
		cmp -s "$M/base1" "$T/expect/base1" && return 0
		sleep 0.5
	done
	return 1
}

faults --latency-ms 200 --jitter-ms 150 --ops UnwrapKey
phase latency
check "latency 200±150 ms: every open works" test "$P_OK" -eq $N
check "latency: nothing hangs" no_hang

faults --error-rate 0.3 --error-status 503 --ops UnwrapKey
phase errors503
check "30% 503: retries make most opens work" test "$P_OK" -ge $((N / 2))
check "30% 503: failures are EIO/EACCES, nothing hangs" no_hang

faults --throttle-rate 0.5 --retry-after 1 --ops UnwrapKey
phase throttle-retry-after
# Each throttled call waits the second it is asked to, within a 3 s
# deadline and the client's retry budget (which keeps a storm from being
# amplified): some opens get through, the rest fail cleanly.
check "429 with Retry-After 1: opens get through" test "$P_OK" -ge 1
check "429 with Retry-After: nothing hangs" no_hang

faults --throttle-rate 0.8 --retry-after none --ops UnwrapKey
phase throttle-bare
check "429 storm without Retry-After: nothing hangs" no_hang

faults --outage true
phase outage
check "outage: uncached opens fail" test "$P_OK" -eq 0
check "outage: with EIO/EACCES, nothing hangs" no_hang
check "outage: failures are logged" grep -q "cannot unwrap" "$M.log"
faults clear
check "after the outage, access returns by itself" wait_access

# Restart: the same port and state directory, so the same URL and keys.
kill "$EMU_PID"
wait "$EMU_PID" 2>/dev/null
phase emulator-down
check "emulator down: opens fail, nothing hangs" \
	bash -c "test $P_OK -eq 0 && test $P_HUNG -eq 0 && test $P_OTHER -eq 0"
emu_start "$E" "${EMU_URL#https://}" || bad "the emulator restarts on its port"
check "after the restart, access returns by itself" wait_access
phase restarted
check "after the restart, every open works" test "$P_OK" -eq $N

# Nothing written before or during the faults is lost.
verify_all() {
	local f bad_n=0
	"$HSMFS" cache flush "$M" >/dev/null
	for f in "$T/expect"/*; do
		cmp -s "$f" "$M/${f##*/}" || { echo "# ${f##*/} differs" >&2; bad_n=$((bad_n + 1)); }
	done
	((bad_n == 0))
}
check "every file written before or during the faults reads back" verify_all

# The counters of the mount that saw the faults.
STATUS=$("$HSMFS" status "$M" 2>&1)
echo "$STATUS" | sed 's/^/#   /'
check "status counts HSM retries" bash -c "grep -Eq '^hsm retries: *[1-9]' <<<\"\$1\"" _ "$STATUS"
check "status counts unwrap server errors" \
	bash -c "grep -Eq '^hsm unwrap .*, [1-9][0-9]* server errors' <<<\"\$1\"" _ "$STATUS"
check "status counts failed unwraps" bash -c "grep -Eq '^unwraps: .*\([1-9][0-9]* failed\)' <<<\"\$1\"" _ "$STATUS"

umount_wait "$M"
check "the volume mounts again" mount_hsm "$T/c" "$M" -o "$O"
check "and every file reads back after the remount" verify_all
finish
