#!/usr/bin/env bash
# The shipped hsmfs against the HSM emulator over real HTTPS (certificate
# verification on): the DEK cache (audited in the HSM's log), flush and
# expiry, revocation, outage and recovery, failover, and mounts that fail
# fast with a reason.
. "$(dirname "$0")/lib.sh"

E=$T/emu
emu_start "$E" || { bad "emulator starts"; finish; }
emu_setup "$E" fskek RSA-HSM 3072 || { bad "emulator setup"; finish; }
KEK=$EMU_URL/keys/fskek
O=ca_file=$E/ca.pem,kek_scope=$SCOPE

check "init against the HSM" "$HSMFS" init --kek "$KEK" -o "$O" "$T/c"
check "mount against the HSM" mount_hsm "$T/c" "$T/m" -o "$O"
for i in 1 2 3 4 5; do
	seq 1 $((i * 1000)) >"$T/m/f$i"
done
sync
check "files read back" test "$(tail -n 1 "$T/m/f5")" = 5000

"$HSMFS" cache flush "$T/m" >/dev/null
u0=$(unwraps "$E")
cat "$T/m/f1" >/dev/null
u1=$(unwraps "$E")
cat "$T/m/f1" >/dev/null
u2=$(unwraps "$E")
check "an open after a flush unwraps once" test $((u1 - u0)) -eq 1
check "a second open makes no HSM call" test "$u2" -eq "$u1"
check "status counts cache hits and HSM unwraps" \
	bash -c "'$HSMFS' status '$T/m' | grep -Eq 'dek cache: .* [1-9][0-9]* hits' && '$HSMFS' status '$T/m' | grep -q 'hsm unwrap   [1-9]'"

# A scan of a directory (here in name order, as a shell glob gives it):
# keys are unwrapped ahead, in parallel, and each exactly once.
mkdir "$T/m/scan"
for i in $(seq 200); do echo "$i" >"$T/m/scan/f$i"; done
"$HSMFS" cache flush "$T/m" >/dev/null
u0=$(unwraps "$E")
cat "$T/m/scan"/* >/dev/null
u1=$(unwraps "$E")
check "a scan of 200 files unwraps 200 keys, no more" test $((u1 - u0)) -eq 200
check "keys were unwrapped ahead of the reader" \
	bash -c "'$HSMFS' status '$T/m' | grep -Eq 'prefetched: +[1-9]'"

# A recursive scan (find order: one directory after another) keeps its
# prefetch window from each directory to the next: only the first
# directory starts slowly (its first 3 files are not prefetched; without
# the carry every directory would, leaving at most 5 x 17 prefetched).
for d in 1 2 3 4 5; do
	mkdir -p "$T/m/tree/d$d"
	for i in $(seq 20); do echo "$i" >"$T/m/tree/d$d/f$i"; done
done
prefetched() { "$HSMFS" status "$T/m" | sed -nE 's/.*prefetched: +([0-9]+).*/\1/p'; }
emu_ctl "$E" faults set --latency-ms 20 >/dev/null
# Twice: the second scan finds each directory's state from the first.
for scan in first second; do
	"$HSMFS" cache flush "$T/m" >/dev/null
	u0=$(unwraps "$E") p0=$(prefetched)
	find "$T/m/tree" -type f -print0 | xargs -0 cat >/dev/null
	u1=$(unwraps "$E") p1=$(prefetched)
	check "$scan recursive scan of 100 files unwraps 100 keys, no more" \
		test $((u1 - u0)) -eq 100
	check "$scan scan prefetched past each directory's first file ($((p1 - p0)) of 100)" \
		test $((p1 - p0)) -gt 85
done
emu_ctl "$E" faults set --latency-ms 0 >/dev/null

# Revocation: disable the key; uncached opens fail, open files go on.
exec 7<"$T/m/f2"
emu_ctl "$E" key set fskek --enabled false >/dev/null
"$HSMFS" cache flush "$T/m" >/dev/null
check "a disabled key ends access to uncached files (EACCES/EIO)" \
	bash -c "! cat '$T/m/f3' >/dev/null 2>&1"
check "and says so in the log" grep -q "f3\|cannot unwrap" "$T/m.log"
check "an open file keeps working" bash -c "head -n 1 <&7 | grep -qx 1"
emu_ctl "$E" key set fskek --enabled true >/dev/null
check "re-enabling the key restores access" bash -c "tail -n 1 '$T/m/f3' | grep -qx 3000"
exec 7<&-

# Outage: cached keys keep serving, uncached opens fail in bounded time.
cat "$T/m/f4" >/dev/null # cached now
"$HSMFS" cache flush "$T/m" >/dev/null
cat "$T/m/f4" >/dev/null
emu_ctl "$E" faults set --outage true >/dev/null
check "during an outage a cached file reads" bash -c "tail -n 1 '$T/m/f4' | grep -qx 4000"
echo "written during the outage" >"$T/m/new" && sync
start=$(date +%s)
"$HSMFS" cache flush "$T/m" >/dev/null
r=0
cat "$T/m/f5" >/dev/null 2>&1 || r=$?
took=$(($(date +%s) - start))
check "an uncached open fails during an outage" test "$r" -ne 0
check "within a bounded time (${took}s <= 20s)" test "$took" -le 20
emu_ctl "$E" faults clear >/dev/null
ok_again=1
for _ in $(seq 40); do
	tail -n 1 "$T/m/f5" 2>/dev/null | grep -qx 5000 && { ok_again=0; break; }
	sleep 0.5
done
check "access returns by itself when the HSM does" test "$ok_again" -eq 0
check "nothing written before or during the outage is lost" \
	bash -c "grep -qx 'written during the outage' '$T/m/new' && tail -n 1 '$T/m/f1' | grep -qx 1000"

# Expiry: with a 1 s cache lifetime, a later open unwraps again.
umount_wait "$T/m"
mount_hsm "$T/c" "$T/m" -o "$O,dek_cache_ttl=1"
cat "$T/m/f1" >/dev/null
u1=$(unwraps "$E")
sleep 1.5
cat "$T/m/f1" >/dev/null
check "a cached key expires after dek_cache_ttl" test "$(unwraps "$E")" -gt "$u1"
umount_wait "$T/m"

# Failover: a second HSM from the same state (same keys).
kill "$EMU_PID"
wait "$EMU_PID" 2>/dev/null
cp -a "$E" "$T/emu2"
rm -f "$T/emu2/url" "$T/emu2/audit.log"
emu_start "$E" "${EMU_URL#https://}" || bad "the emulator restarts on its port"
P1=$EMU_URL
emu_start "$T/emu2" || bad "a second emulator starts"
P2=$EMU_URL
check "mount with a failover endpoint" mount_hsm "$T/c" "$T/m" -o "$O,hsm_endpoint=$P1,hsm_endpoint=$P2"
kill "$(pgrep -f "state $E --listen")" 2>/dev/null
"$HSMFS" cache flush "$T/m" >/dev/null
check "with the first HSM gone, files still open" bash -c "tail -n 1 '$T/m/f2' | grep -qx 2000"
check "served by the second HSM" test "$(unwraps "$T/emu2")" -ge 1
check "the switch is logged" grep -q "switching to" "$T/m.log"
umount_wait "$T/m"

# Mounts that cannot reach or use the KEK fail fast, with the reason. The
# first emulator is gone: tokens come from the second.
export AZURE_AUTHORITY_HOST=$P2
AZURE_CLIENT_SECRET=wrong check "a wrong secret refuses the mount with Entra's reason" \
	bash -c "'$HSMFS' mount -o '$O,hsm_endpoint=$P1,hsm_endpoint=$P2' '$T/c' '$T/m' 2>&1 | grep -q 'AADSTS'"
emu_ctl "$T/emu2" client add auditor --secret-file "$E.secret" >/dev/null
emu_ctl "$T/emu2" role assign --principal auditor --role "Managed HSM Crypto Auditor" --scope / >/dev/null
AZURE_CLIENT_ID=auditor check "a principal without unwrap rights is told which role it needs" \
	bash -c "'$HSMFS' mount -o '$O,hsm_endpoint=$P1,hsm_endpoint=$P2' '$T/c' '$T/m' 2>&1 | grep -q 'Crypto Service Encryption User'"
kill "$(pgrep -f "state $T/emu2 --listen")" 2>/dev/null
start=$(date +%s)
check "an unreachable HSM refuses the mount" \
	bash -c "! '$HSMFS' mount -o '$O' '$T/c' '$T/m' 2>/dev/null"
check "quickly ($(($(date +%s) - start))s <= 20s)" test $(($(date +%s) - start)) -le 20
finish
