# shellcheck shell=bash
# Helpers for tools/bench/run: logging, timing, samples, caches, the HSM
# emulator, the peers (set up, mount, unmount, remount cold), and the
# FUSE request trace and strace of the reqs group.
#
# Globals set by run: W (work directory), RES (results directory), DATA
# (generated inputs), BIN (helpers built for this run), HSMFS, EMU,
# PT_BIN (passthrough_ll), ROUND (current round), PIDS (every process
# started, stopped by the EXIT trap).

declare -A MPID=()  # FUSE daemon pid per mounted peer
declare -A MOPTS=() # extra mount options per peer (hsmfs, hsmfs-vol)
KEK_NAME=benchkek
SCOPE=https://managedhsm.azure.net/.default

# log MSG...: a timestamped progress line on stderr and in run.log.
log() {
	printf '[%(%H:%M:%S)T] %s\n' -1 "$*" | tee -a "$RES/run.log" >&2
}

# note MSG...: a line printed under the tables (skips, caveats).
note() {
	printf -- '- %s\n' "$*" >>"$RES/notes.md"
	log "note: $*"
}

# timed CMD...: runs CMD, sets ELAPSED to its wall time in seconds, and
# returns CMD's status.
timed() {
	local t0=$EPOCHREALTIME rc=0
	"$@" || rc=$?
	ELAPSED=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')
	return "$rc"
}

# per_sec COUNT: COUNT divided by ELAPSED.
per_sec() {
	awk -v n="$1" -v t="$ELAPSED" 'BEGIN { printf "%.3f", (t > 0 ? n / t : 0) }'
}

# record GROUP WORKLOAD UNIT FS VALUE: one sample of the current round.
record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$ROUND" "$5" >>"$RES/samples.tsv"
	log "  $4: $2 = $5 $3"
}

# drop_caches: writes back dirty data and drops the kernel's page, dentry
# and inode caches.
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# wait_gone PID: waits (bounded, 20 s) for PID to exit, then kills it.
wait_gone() {
	local pid=$1
	for _ in $(seq 400); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- emulator

# emu_start: starts the HSM emulator on loopback and sets EMU_URL.
emu_start() {
	local r=0
	E=$W/emu
	emu_launch "$E" 127.0.0.1:0 --log-level error || r=$?
	PIDS+=("$EMU_PID")
	return $r
}

# emu_ctl ARGS...: the emulator's control client.
emu_ctl() {
	"$EMU" ctl --state "$E" "$@"
}

# emu_setup: the KEK (RSA-HSM 3072, or oct-HSM 256 with --kek-type aes),
# a client with a random secret and the Crypto Service Encryption User
# role on it; exports what hsmfs reads.
emu_setup() {
	if [[ $KEK_TYPE == aes ]]; then
		emu_ctl key create "$KEK_NAME" --kty oct-HSM --size 256 >/dev/null
		KEK_ALG=A256KW
	else
		emu_ctl key create "$KEK_NAME" --kty RSA-HSM --size 3072 >/dev/null
		KEK_ALG=RSA-OAEP-256
	fi
	head -c 24 /dev/urandom | base64 >"$E.secret"
	emu_ctl client add bench --secret-file "$E.secret" >/dev/null
	emu_ctl role assign --principal bench \
		--role "Managed HSM Crypto Service Encryption User" \
		--scope "/keys/$KEK_NAME" >/dev/null
	AZURE_TENANT_ID=$(cat "$E/tenant")
	AZURE_CLIENT_SECRET=$(cat "$E.secret")
	export AZURE_TENANT_ID AZURE_CLIENT_ID=bench AZURE_CLIENT_SECRET
	export AZURE_AUTHORITY_HOST=$EMU_URL
	HSMFS_O=ca_file=$E/ca.pem,kek_scope=$SCOPE
}

# unwraps: UnwrapKey requests in the emulator's audit log so far.
unwraps() {
	grep -c '"operation":"UnwrapKey"' "$E/audit.log" 2>/dev/null || true
}

# keyops: every key operation in the emulator's audit log so far (not
# tokens, not the emulator's own control requests).
keyops() {
	grep -cE '"operation":"(GetKey|WrapKey|UnwrapKey|CreateKey|RotateKey|UpdateKey|DeleteKey|ListKeys|ListKeyVersions)"' \
		"$E/audit.log" 2>/dev/null || true
}

# ------------------------------------------------------------- PKCS#11

# p11_setup: a SoftHSM2 token "bench" in W/softhsm with an RSA-2048 key
# pair (label benchkek, CKA_ID 01); sets P11_MODULE (the module's file,
# as p11-kit registered "softhsm2"), P11_PIN and P11_KEK (its KEK URL,
# the PIN in a file). 1 if SoftHSM2 is not registered.
p11_setup() {
	P11_MODULE=$(p11-kit list-modules 2>/dev/null | awk '$1 == "softhsm2:" { print $2 }')
	[[ -n $P11_MODULE ]] || return 1
	export SOFTHSM2_CONF=$W/softhsm/softhsm2.conf
	mkdir -p "$W/softhsm/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$W/softhsm/tokens" >"$SOFTHSM2_CONF"
	P11_PIN=4711-bench
	(umask 077 && echo "$P11_PIN" >"$W/softhsm/pin")
	softhsm2-util --init-token --free --label bench --so-pin 4711-so --pin "$P11_PIN" >/dev/null
	pkcs11-tool --module "$P11_MODULE" --token-label bench --login --pin "$P11_PIN" \
		--keypairgen --key-type rsa:2048 --label benchkek --id 01 >/dev/null 2>&1
	P11_KEK="pkcs11:token=bench;object=benchkek;type=private?module-name=softhsm2&pin-source=$W/softhsm/pin"
}

# ------------------------------------------------------------------ peers

# back_of FS: the backing directory of FS.
back_of() { printf '%s/%s.back' "$W" "$1"; }

# mnt_of FS: the mount point of FS.
mnt_of() { printf '%s/%s.mnt' "$W" "$1"; }

# dir_of FS: where the workloads run on FS.
dir_of() {
	if [[ $1 == raw ]]; then back_of raw; else mnt_of "$1"; fi
}

# init_peer FS: creates FS's backing directory (and volume).
init_peer() {
	local b
	b=$(back_of "$1")
	mkdir -p "$b"
	case $1 in
	gocryptfs)
		head -c 32 /dev/urandom | base64 >"$W/gocryptfs.pass"
		gocryptfs -init -q -passfile "$W/gocryptfs.pass" "$b" >"$W/gocryptfs.init" 2>&1
		;;
	securefs)
		head -c 32 /dev/urandom >"$W/securefs.key"
		securefs create --keyfile "$W/securefs.key" "$b" >"$W/securefs.init" 2>&1
		;;
	hsmfs)
		"$HSMFS" init --kek "$EMU_URL/keys/$KEK_NAME" -o "$HSMFS_O" "$b" >"$W/hsmfs.init" 2>&1
		;;
	hsmfs-vol)
		"$HSMFS" init --wrap volume --kek "$EMU_URL/keys/$KEK_NAME" -o "$HSMFS_O" "$b" >"$W/hsmfs-vol.init" 2>&1
		;;
	hsmfs-p11)
		"$HSMFS" init --kek "$P11_KEK" "$b" >"$W/hsmfs-p11.init" 2>&1
		;;
	esac
}

# start_daemon FS: starts FS's FUSE daemon in the foreground (in this
# shell's background), logging to W/FS.log.
start_daemon() {
	local b m
	b=$(back_of "$1")
	m=$(mnt_of "$1")
	# exec: the background job's pid is the daemon's own.
	case $1 in
	bindfs) exec bindfs -f "$b" "$m" ;;
	passthrough_ll) exec "$PT_BIN" -f -o "source=$b" "$m" ;;
	gocryptfs) exec gocryptfs -fg -q -passfile "$W/gocryptfs.pass" "$b" "$m" ;;
	securefs) exec securefs mount --keyfile "$W/securefs.key" "$b" "$m" ;;
	hsmfs | hsmfs-vol) exec "$HSMFS" mount -f -o "$HSMFS_O${MOPTS[$1]:+,${MOPTS[$1]}}" "$b" "$m" ;;
	hsmfs-p11) exec "$HSMFS" mount -f "$b" "$m" ;;
	esac >>"$W/$1.log" 2>&1 &
	MPID[$1]=$!
	PIDS+=("$!")
}

# mount_peer FS: mounts FS and waits (bounded, 60 s) until it is up.
mount_peer() {
	local m
	[[ $1 == raw ]] && return 0
	m=$(mnt_of "$1")
	mkdir -p "$m"
	start_daemon "$1"
	for _ in $(seq 1200); do
		mountpoint -q "$m" && return 0
		kill -0 "${MPID[$1]}" 2>/dev/null || break
		sleep 0.05
	done
	tail -n 20 "$W/$1.log" >&2
	echo "bench: $1 did not mount" >&2
	return 1
}

# umount_peer FS: unmounts FS and waits for its daemon to exit.
umount_peer() {
	local m
	[[ $1 == raw ]] && return 0
	m=$(mnt_of "$1")
	if findmnt --mountpoint "$m" >/dev/null; then
		fusermount3 -u "$m" 2>/dev/null || umount -l "$m"
	fi
	wait_gone "${MPID[$1]}"
	unset 'MPID[$1]'
}

# cold FS: unmount and mount FS again (a fresh daemon: no cached keys,
# handles or blocks), then drop the kernel's caches.
cold() {
	if [[ $1 != raw ]]; then
		umount_peer "$1"
		mount_peer "$1"
	fi
	drop_caches
}

# daemon_kib FS FIELD: FIELD (VmHWM, VmRSS) of FS's daemon, in KiB.
daemon_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/${MPID[$1]}/status"
}

# ---------------------------------------------- FUSE requests and syscalls

# The kernel tracepoint fuse:fuse_request_send is read through a tracing
# instance of this run (its own buffer, event switch and filter), so the
# global trace buffer, its size and the event's global enable are never
# changed; removing the instance (trace_close, also from the EXIT trap)
# is the whole restore.
TRACEFS=/sys/kernel/tracing
TRACE_I=""   # this run's tracing instance, while it exists
STRACE_PID=""

# trace_open: creates the tracing instance with a large buffer and the
# event enabled but tracing off; returns 1 (nothing left behind) when
# tracefs, instances or the event are unavailable.
trace_open() {
	[[ -d $TRACEFS/events/fuse/fuse_request_send && -d $TRACEFS/instances ]] || return 1
	TRACE_I=$TRACEFS/instances/hsmfs-bench.$$
	mkdir "$TRACE_I" 2>/dev/null || { TRACE_I="" && return 1; }
	# 8 MiB per CPU: room for some 200,000 events, where a 2,000-file
	# step sends up to about 30,000 requests
	if ! { echo 0 >"$TRACE_I/tracing_on" && echo 8192 >"$TRACE_I/buffer_size_kb" &&
		echo 1 >"$TRACE_I/events/fuse/fuse_request_send/enable"; } 2>/dev/null; then
		trace_close
		return 1
	fi
}

# trace_close: removes the tracing instance, if any.
trace_close() {
	[[ -n $TRACE_I ]] || return 0
	echo 0 >"$TRACE_I/tracing_on" 2>/dev/null
	echo 0 >"$TRACE_I/events/fuse/fuse_request_send/enable" 2>/dev/null
	rmdir "$TRACE_I" 2>/dev/null || log "warning: could not remove tracing instance $TRACE_I"
	TRACE_I=""
}

# trace_start MNT: empties the buffer and traces the requests of MNT's
# FUSE connection only (its anonymous device, as the kernel numbers it).
trace_start() {
	local mm
	mm=$(mountpoint -d "$1")
	echo "connection == $(((${mm%%:*} << 20) | ${mm#*:}))" \
		>"$TRACE_I/events/fuse/fuse_request_send/filter"
	: >"$TRACE_I/trace"
	echo 1 >"$TRACE_I/tracing_on"
}

# trace_stop OUT: stops tracing and writes "OPCODE COUNT" lines to OUT;
# returns 1 if the buffer lost events.
trace_stop() {
	echo 0 >"$TRACE_I/tracing_on"
	awk -v out="$1" '
		/^# entries-in-buffer\/entries-written:/ { split($3, e, "/"); lost = e[1] != e[2] }
		/fuse_request_send:/ {
			for (i = 1; i < NF; i++)
				if ($i == "opcode") { op = $(i + 2); gsub(/[()]/, "", op); n[op]++ }
		}
		END { for (op in n) print op, n[op] > out; close(out); exit lost }' "$TRACE_I/trace"
}

# traced_by PID TRACER: whether every thread of PID is traced by TRACER.
traced_by() {
	local t
	for t in /proc/"$1"/task/*; do
		[[ $(awk '$1 == "TracerPid:" { print $2 }' "$t/status" 2>/dev/null) == "$2" ]] || return 1
	done
}

# strace_start PID RAW: attaches `strace -c` to every thread of PID (and
# the threads it starts), which writes its summary to RAW when detached;
# waits (bounded, 10 s) until every thread is traced.
strace_start() {
	strace -c -f -q -p "$1" -o "$2" 2>>"$W/strace.log" &
	STRACE_PID=$!
	PIDS+=("$STRACE_PID")
	for _ in $(seq 200); do
		traced_by "$1" "$STRACE_PID" && return 0
		sleep 0.05
	done
	echo "bench: strace did not attach to $1" >&2
	return 1
}

# strace_stop RAW OUT: detaches strace, then writes "SYSCALL CALLS" lines
# from its summary RAW to OUT.
strace_stop() {
	kill -INT "$STRACE_PID" 2>/dev/null || true
	wait "$STRACE_PID" 2>/dev/null || true
	STRACE_PID=""
	: >"$2"
	[[ -f $1 ]] || return 0
	# strace -c rows: "% time, seconds, usecs/call, calls, [errors,] syscall"
	awk '$1 ~ /^[0-9.]+$/ && $NF != "total" && $4 + 0 > 0 { print $NF, $4 }' "$1" >"$2"
}

# cleanup: the EXIT trap. Unmounts everything under W, stops every process
# started, removes W.
cleanup() {
	local m p
	set +e
	trap - EXIT INT TERM
	trace_close
	[[ -n ${W:-} && -d $W ]] || return 0
	for m in $(findmnt -rn -o TARGET | grep -F "$W/" | sort -r); do
		fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait_gone "$p"
	done
	if [[ ${TMPFS:-0} == 1 ]] && mountpoint -q "$W"; then
		umount "$W" || umount -l "$W"
	fi
	rm -rf "$W"
}
