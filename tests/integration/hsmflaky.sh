#!/usr/bin/env bash
# The shipped hsmfs against HSM emulators that fail calls at random, each
# drawn on its own, as a busy or failing-over service does: 503 and 429
# (without Retry-After, as the real service often sends them) on 20% and
# on 50% of unwrap calls. Each case opens NF files whose keys are not
# cached, NP at a time, so that each open is exactly one unwrap (checked
# against the mount's counters and the emulator's audit log). Retries
# must hide the faults: at least 99.5% of the opens work at 20%, at least
# 95% at 50%, with the default hsm_timeout. Then a full outage: the first
# open fails within hsm_timeout, the next ones at once (the circuit
# breaker) without a request to the HSM, and access returns within
# seconds once the HSM answers again.
#
# Most of a case is waiting (backing off), so the 503 and 429 cases run
# side by side, each on a volume and an emulator of its own.
. "$(dirname "$0")/lib.sh"

# Private copies: other work may rebuild build/ while this runs.
cp "$HSMFS" "$EMU" "$T/" || { bad "copy binaries"; finish; }
HSMFS=$T/hsmfs
EMU=$T/hsm-emulator

NF=400 # cold opens per case
NP=64  # opened at a time: most of them wait, backing off
declare -A EURL

# vol NAME: an emulator ($T/e-NAME) with a KEK, a volume under it with NF
# files, mounted on $T/m-NAME (the Azure variables emu_setup exports are
# the new emulator's: each daemon keeps those it started with).
vol() {
	local e=$T/e-$1 m=$T/m-$1 i
	emu_start "$e" && emu_setup "$e" fskek RSA-HSM 2048 || return 1
	EURL[$1]=$EMU_URL
	"$HSMFS" init --kek "$EMU_URL/keys/fskek" -o "$(opts "$1")" "$T/c-$1" >/dev/null &&
		mount_hsm "$T/c-$1" "$m" -o "$(opts "$1"),prefetch=0,threads=$((NP + 8))" &&
		mkdir "$m/d" || return 1
	for ((i = 0; i < NF; i++)); do echo "$i" >"$m/d/f$i"; done
}

opts() {
	echo "ca_file=$T/e-$1/ca.pem,kek_scope=$SCOPE"
}

# faults VOL set OPTIONS... | faults VOL clear
faults() {
	local v=$1
	shift
	emu_ctl "$T/e-$v" faults "$@" >/dev/null
}

# counter VOL unwraps|failed: a count from the mount's hsmfs status.
counter() {
	local s
	s=$("$HSMFS" status "$T/m-$1" | grep '^unwraps:')
	case $2 in
	unwraps) sed -E 's/^unwraps: *([0-9]+).*/\1/' <<<"$s" ;;
	failed) sed -E 's/.*\(([0-9]+) failed\).*/\1/' <<<"$s" ;;
	esac
}

# ok_unwraps VOL: unwrap calls its emulator answered 200.
ok_unwraps() {
	grep '"operation":"UnwrapKey"' "$T/e-$1/audit.log" | grep -c '"status":200'
}

# opener DIR K: opens every NP-th file of DIR from K once and reads its
# line; prints how many worked. Bash opens the files itself: no process
# per open.
opener() {
	local i ok=0 line
	for ((i = $2; i < NF; i += NP)); do
		if { exec 3<"$1/f$i"; } 2>/dev/null; then
			read -r line <&3 && [[ $line == "$i" ]] && ok=$((ok + 1))
			exec 3<&-
		fi
	done
	echo "$ok"
}

# measure VOL FAULT-OPTIONS...: sets the faults, forgets every key, opens
# all NF files, NP at a time, and clears the faults; writes "opens that
# worked, unwraps, failed unwraps, unwraps answered 200, ms" to
# $T/res-VOL.
measure() {
	local v=$1 k u0 f0 a0 t0 ms n=0 pids=()
	shift
	faults "$v" set "$@" --latency-ms 2 --jitter-ms 3 --ops UnwrapKey
	"$HSMFS" cache flush "$T/m-$v" >/dev/null
	u0=$(counter "$v" unwraps) f0=$(counter "$v" failed) a0=$(ok_unwraps "$v")
	t0=${EPOCHREALTIME/./}
	for ((k = 0; k < NP; k++)); do
		opener "$T/m-$v/d" $k >"$T/open-$v.$k" &
		pids+=($!)
	done
	wait "${pids[@]}"
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	faults "$v" clear
	for ((k = 0; k < NP; k++)); do n=$((n + $(<"$T/open-$v.$k"))); done
	echo "$n $(($(counter "$v" unwraps) - u0)) $(($(counter "$v" failed) - f0)) \
$(($(ok_unwraps "$v") - a0)) $ms" >"$T/res-$v"
}

# judge VOL NAME MIN_PERMILLE: the checks on what measure found.
judge() {
	local n u f a ms
	read -r n u f a ms <"$T/res-$1" || { bad "$2: measured"; return; }
	echo "# $2: $n/$NF opens worked in $ms ms ($u unwraps, $f failed, $a answered 200)"
	check "$2: each open was one unwrap" \
		test "$u" -eq $NF -a "$f" -eq $((NF - n)) -a "$a" -eq "$n"
	check "$2: at least $3 permille of the opens work" \
		test $((n * 1000)) -ge $(($3 * NF))
}

if vol a && vol b; then
	ok "two emulators, two volumes of $NF files each, mounted"
else
	bad "two emulators, two volumes of $NF files each, mounted"
	finish
fi

t0=${EPOCHREALTIME/./}
measure a --error-rate 0.2 --error-status 503 &
p1=$!
measure b --throttle-rate 0.2 --retry-after none &
wait $p1 $!
judge a "503 on 20%" 995
judge b "429 on 20%" 995
measure a --error-rate 0.5 --error-status 503 &
p1=$!
measure b --throttle-rate 0.5 --retry-after none &
wait $p1 $!
judge a "503 on 50%" 950
judge b "429 on 50%" 950
echo "# the four cases took $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
umount_wait "$T/m-b"
umount_wait "$T/m-a"

# A full outage, on a mount with a short bound on each HSM call.
H=2000
M=$T/m-a
# The Azure variables of emulator a again (vol b exported its own).
AZURE_CLIENT_SECRET=$(cat "$T/e-a.secret")
export AZURE_CLIENT_SECRET AZURE_AUTHORITY_HOST=${EURL[a]}
check "mount with hsm_timeout=$H" \
	mount_hsm "$T/c-a" "$M" -o "$(opts a),prefetch=0,hsm_timeout=$H"
"$HSMFS" cache flush "$M" >/dev/null

# open_ms FILE: opens FILE; sets O_RC (0: it worked) and O_MS.
open_ms() {
	local t0=${EPOCHREALTIME/./}
	{ exec 3<"$1"; } 2>/dev/null
	O_RC=$?
	((O_RC == 0)) && exec 3<&-
	O_MS=$(((${EPOCHREALTIME/./} - t0) / 1000))
}

hsm_unwraps() {
	grep -c '"operation":"UnwrapKey"' "$T/e-a/audit.log"
}

faults a set --error-rate 1 --error-status 503 --ops UnwrapKey
open_ms "$M/d/f0"
echo "# outage: the first open: rc $O_RC after $O_MS ms"
check "outage: the first open fails" test $O_RC -ne 0
check "outage: ... within hsm_timeout ($H ms)" test $O_MS -le $H
u0=$(hsm_unwraps)
slow=0
for i in 1 2 3 4 5 6 7 8; do
	open_ms "$M/d/f$i"
	((O_RC != 0 && O_MS < 300)) || slow=$((slow + 1))
	echo "# outage: open $i: rc $O_RC after $O_MS ms"
done
check "outage: the next opens fail at once" test $slow -eq 0
# (Unless the breaker's cool-down ran out meanwhile: then one probes.)
check "outage: ... with one request to the HSM at most" \
	test "$(hsm_unwraps)" -le $((u0 + 1))
check "outage: failures are logged" grep -q "cannot unwrap" "$M.log"
faults a clear
t0=${EPOCHREALTIME/./}
back=0
for _ in $(seq 40); do
	open_ms "$M/d/f9"
	((O_RC == 0)) && { back=1; break; }
	sleep 0.1
done
ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
echo "# outage over: access is back after $ms ms"
check "outage over: access is back within 3 s" test $back -eq 1 -a $ms -le 3000
umount_wait "$M"
finish
