#!/usr/bin/env bash
# Secret hygiene of the daemon: no core dumps, keys in locked memory, and
# no client secret or token in its logs (debug level included), its
# command line, or the files it writes outside the backing directory.
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
	# Control: an ordinary process in the same directory leaves a core.
	(cd "$T/cwd" && ulimit -c unlimited && sleep 60 & echo $! >"$T/sleep.pid"; wait) 2>/dev/null &
	sleep 0.3
	kill -SEGV "$(cat "$T/sleep.pid")"
	sleep 0.5
	check "an ordinary process here leaves a core file" bash -c "ls '$T/cwd' | grep -q '^core'"
	rm -f "$T/cwd"/core*
	kill -SEGV "$pid"
	sleep 1
	check "the daemon, killed the same way, leaves none (not dumpable)" \
		bash -c "! ls '$T/cwd' | grep -q '^core'"
else
	echo "# core_pattern is not 'core': the core dump check is skipped"
fi
finish
