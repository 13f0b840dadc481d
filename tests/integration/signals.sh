#!/usr/bin/env bash
# SIGTERM and SIGINT stop the daemon promptly whatever its requests are
# doing: waiting on an HSM that fails every call (a retry loop that could
# last hsm_timeout=60000), waiting for an HSM answer that takes 30 s, or
# filling a file with encrypted zeros (truncate -s 20G on a format-2
# volume). Each time the daemon exits within 2 s, the mount point is
# unmounted (not a dead mount answering ENOTCONN), and the volume mounts
# again and checks clean.
. "$(dirname "$0")/lib.sh"

BOUND_MS=2000

# running PID: the process runs (an exited daemon that is not this
# shell's child may wait a while as a zombie for init to reap it).
running() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) && [[ $st != Z ]]
}

# stop_within PID SIG MNT: sends SIG to the daemon PID; true if it exits
# within BOUND_MS and leaves MNT unmounted and usable as a directory.
stop_within() {
	local pid=$1 t0 ms
	t0=${EPOCHREALTIME/./}
	kill -s "$2" "$pid" || return 1
	while running "$pid"; do
		ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
		((ms > BOUND_MS + 3000)) && break
		sleep 0.02
	done
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	echo "# SIG$2: the daemon was gone after $ms ms"
	if running "$pid"; then
		kill -9 "$pid" # or a truncate would go on to 20 GiB
		umount -l "$3"
		return 1
	fi
	((ms <= BOUND_MS)) && ! mountpoint -q "$3" && ls "$3" >/dev/null
}

# wait_for N CMD...: until CMD prints a number of at least N (5 s at most).
wait_for() {
	local n=$1
	shift
	for _ in $(seq 250); do
		(($("$@") >= n)) && return 0
		sleep 0.02
	done
	return 1
}

# ---- an HSM call in its retry loop, and one waiting for its answer ----

cp "$HSMFS" "$EMU" "$T/" || { bad "copy binaries"; finish; }
HSMFS=$T/hsmfs
EMU=$T/hsm-emulator
E=$T/emu
emu_start "$E" || { bad "emulator starts"; finish; }
emu_setup "$E" fskek RSA-HSM 2048 || { bad "emulator setup"; finish; }
IO=ca_file=$E/ca.pem,kek_scope=$SCOPE
O=$IO,hsm_timeout=60000,prefetch=0
M=$T/m
check "init against the HSM" "$HSMFS" init --kek "$EMU_URL/keys/fskek" \
	-o "$IO" "$T/c"
check "mount with hsm_timeout=60000" mount_hsm "$T/c" "$M" -o "$O"
mountpoint -q "$M" || finish
echo hello >"$M/f"

# hsm_case NAME SIG PID ASKED FAULT-OPTIONS...: an open stuck in the HSM
# client of daemon PID, then SIG. ASKED: unwrap requests the emulator
# has answered by then (a request it delays is logged once answered).
hsm_case() {
	local name=$1 sig=$2 pid=$3 asked=$4 reader rc u0
	shift 4
	"$HSMFS" cache flush "$M" >/dev/null
	emu_ctl "$E" faults set "$@" --ops UnwrapKey >/dev/null
	u0=$(unwraps "$E")
	cat "$M/f" >/dev/null 2>&1 &
	reader=$!
	check "$name: the open waits on the HSM" \
		wait_for $((u0 + asked)) unwraps "$E"
	sleep 0.5
	check "$name: SIG$sig stops the daemon within $BOUND_MS ms, unmounted" \
		stop_within "$pid" "$sig" "$M"
	wait "$reader"
	rc=$?
	check "$name: the open fails" test $rc -ne 0
	emu_ctl "$E" faults clear >/dev/null
	check "$name: the volume mounts again" mount_hsm "$T/c" "$M" -o "$O"
	check "$name: and the file reads back" grep -qx hello "$M/f"
	umount_wait "$M"
}

# 503 for every call: answered twice means the open is retrying. The
# daemon in the foreground, as a service manager runs it.
hsm_case "every call fails (503)" TERM "${PIDS[-1]}" 2 \
	--error-rate 1 --error-status 503
# The daemon hsmfs mount leaves, as one started from a terminal would be
# (a background job of this shell would ignore SIGINT). Its SIGINT is
# put back to the default: a test run started in the background of a
# shell has it ignored all the way down, and hsmfs keeps an ignored
# signal ignored, as libfuse does.
check "mount (a daemon)" env --default-signal=INT "$HSMFS" mount -o "$O" \
	"$T/c" "$M"
hsm_case "answers take 30 s" INT "$(pgrep -f -x "$HSMFS mount -o $O $T/c $M")" 0 \
	--latency-ms 30000
"$HSMFS" fsck --unwrap -o "$IO" "$T/c" >"$T/fsck.out" 2>&1
check "the HSM volume checks clean" test $? -eq 0

# ---- a long truncate: encrypted zeros, block by block ----

testkek k
check "a format-2 volume" vol_init --format 2 "$T/c2"
M2=$T/m2
check "mounted" mount_fg "$T/c2" "$M2"
printf 'head' >"$M2/big"
sync "$M2/big"
# biggest: the size of the largest backing file.
biggest() {
	find "$T/c2" -type f -printf '%s\n' | sort -n | tail -n 1
}
truncate -s 20G "$M2/big" 2>/dev/null &
tr=$!
check "truncate -s 20G is filling the file" wait_for 16777216 biggest
sleep 0.5
check "SIGTERM during the truncate stops the daemon within $BOUND_MS ms, unmounted" \
	stop_within "${PIDS[-1]}" TERM "$M2"
wait "$tr"
rc=$?
check "the truncate fails" test $rc -ne 0
check "the volume mounts again" mount_fg "$T/c2" "$M2"
# An interrupted growth is undone like a failed one: the file is as it
# was before the truncate, not a part of it.
check "the file is as it was before the truncate" \
	bash -c "test \"\$(cat '$M2/big')\" = head"
umount_wait "$M2"
check "the volume checks clean (every block)" "$HSMFS_TEST" fsck --deep "$T/c2"
finish
