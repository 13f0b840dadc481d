#!/usr/bin/env bash
# The administrator's tools: hsmfs info on every frozen volume with no
# HSM, status --json, -o log=, the progress line of fsck, one-line errors
# with their hint, umount (only of hsmfs, -z, busy), hsmfs path both
# ways, hsmfs pin list|forget, --version. The test KEK: the HSM is not
# the point here.
. "$(dirname "$0")/lib.sh"

H=$HSMFS_TEST
F=$ROOT/tests/fixtures
testkek k

# json_has FILE KEY...: FILE is one JSON object holding every KEY (a.b
# for nested ones), whatever its value (null included).
json_has() {
	local f=$1
	shift
	jq -e --args 'def has_path($p): ($p | length) == 0 or
		(type == "object" and has($p[0]) and (.[$p[0]] | has_path($p[1:])));
		. as $o | all($ARGS.positional[]; . as $k | $o | has_path($k | split(".")))' \
		"$@" <"$f" >/dev/null
}

# json_get FILE FILTER: what a jq filter gives, compact.
json_get() {
	jq -rc "$2" "$1"
}

# one_line NAME MAX PATTERN CMD...: CMD fails with exactly one line on
# stderr, matching PATTERN (grep -E), of at most MAX characters.
one_line() {
	local name=$1 max=$2 pat=$3 out n
	shift 3
	out=$("$@" 2>&1 >/dev/null) && { bad "$name (it succeeded)"; return; }
	n=$(printf '%s\n' "$out" | wc -l)
	if ((n == 1 && ${#out} <= max)) && grep -Eq -- "$pat" <<<"$out"; then
		ok "$name"
	else
		bad "$name"
		printf '    %s\n' "$out"
	fi
}

# ---- hsmfs info, on every frozen volume, with no HSM and no key ------------

INFO_KEYS="cipherdir config.path config.size config.modified config.created
config.authenticated format creator volume_id features names wrap
wrap_conversion kek kek_versions wrapping_key_generations previous_keks
escrow_keks pin.file pin.state pin.legacy pin.volume_id pin.kek pin.error
fingerprint mounted_on"
for v in 1 2 3 3w 3c; do
	mkdir "$T/f$v"
	tar --xattrs --xattrs-include='user.*' -C "$T/f$v" -xf "$F/v$v.tar"
	fmt=${v:0:1}
	"$HSMFS" info "$T/f$v" >"$T/info$v" 2>&1
	check "info v$v (shipped binary, no HSM): format and KEK" \
		bash -c "grep -Eq '^format: +$fmt ' '$T/info$v' && grep -Eq '^kek: +testkek://frozen\$' '$T/info$v'"
	check "info v$v: says the config is not authenticated, fingerprint unknown" \
		bash -c "grep -q '^authenticated: NO' '$T/info$v' && grep -q 'unknown without the pin or the HSM' '$T/info$v'"
	"$HSMFS" info --json "$T/f$v" >"$T/info$v.json"
	# shellcheck disable=SC2086
	check "info --json v$v parses and has the documented keys" \
		json_has "$T/info$v.json" $INFO_KEYS
done
check "info v3w: the wrapping-key generation and volume mode" \
	grep -Eq '^wrapping keys: generation 1 ' "$T/info3w"
check "info --json v3w: the same" \
	test "$(json_get "$T/info3w.json" '[.wrapping_key_generations, .wrap]')" = '[[1],"volume"]'
check "info v3c: the unfinished conversion" \
	grep -q '^conversion: *to volume mode, unfinished' "$T/info3c"
check "info --json v3c: the same" \
	test "$(json_get "$T/info3c.json" .wrap_conversion)" = to-volume
check "info --json v1: file mode, the KEK version that wraps the volume key" \
	test "$(json_get "$T/info1.json" '[.wrap, .kek_versions]')" = '["file",["testkek://frozen/v1"]]'
check "inspect on a volume's directory points to info" \
	bash -c "! '$H' inspect '$T/f3' 2>'$T/err' && grep -q \"hsmfs info $T/f3\" '$T/err'"
check "inspect on hsmfs.conf points to info" \
	bash -c "! '$H' inspect '$T/f3/hsmfs.conf' 2>'$T/err' && grep -q \"hsmfs info $T/f3'\" '$T/err'"

# ---- a volume of our own: pin, fingerprint, status --json, log= -----------

C=$T/c
M=$T/m
mkdir -p "$M"
"$H" init --kek testkek://k "$C" >"$T/init.out"
FPR=$(sed -n 's/^  fingerprint: //p' "$T/init.out")
"$H" info --json "$C" >"$T/c.json"
check "info of a pinned volume: the pin matches, the fingerprint init printed" \
	test "$(json_get "$T/c.json" '.pin.state + " " + .fingerprint')" = "matches $FPR"

check "mount -o log=FILE" "$H" mount -o "log=$T/daemon.log" "$C" "$M"
check "the log file is 0600 and has timestamped lines" \
	bash -c "test \"\$(stat -c %a '$T/daemon.log')\" = 600 &&
		grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z hsmfs\[[0-9]+\]: info: mounted ' '$T/daemon.log'"
"$H" status --json "$M" >"$T/status.json"
check "status --json parses and has the documented keys" \
	json_has "$T/status.json" volume mountpoint pid uptime_s options kek \
	fingerprint wrap.mode wrap.conversion inodes descriptors.cached \
	descriptors.max descriptors.file_handles open_files dek_cache.entries \
	dek_cache.max_entries dek_cache.max_age_s dek_cache.hits \
	dek_cache.misses dek_cache.evictions dek_cache.expired \
	dek_cache.flushes keys.unwraps keys.unwrap_errors keys.wraps \
	keys.prefetched keys.prefetch_failed hsm.endpoint hsm.calls.unwrap.ok \
	hsm.calls.unwrap.client_error hsm.calls.unwrap.server_error hsm.retries \
	hsm.latency_ms.p50 hsm.latency_ms.p90 hsm.latency_ms.p99 hsm.last_error
check "status --json: the fingerprint" \
	test "$(json_get "$T/status.json" .fingerprint)" = "$FPR"
check "status --json: the options in effect" \
	grep -q "^rw,threads=16,.*log=$T/daemon.log" <<<"$(json_get "$T/status.json" .options)"
check "status (text) shows uptime and options" \
	bash -c "'$H' status '$M' | grep -q '^uptime: ' && '$H' status '$M' | grep -q '^options: .*dek_cache_size=100000'"

# ---- hsmfs path, both ways --------------------------------------------------

LONG=$(printf 'L%.0s' $(seq 200))
DEEP="/deep/a/b/c/d/e/f/g/h"
mkdir -p "$M/with space/sub dir" "$M$DEEP"
echo one >"$M/with space/sub dir/file one"
echo two >"$M/with space/$LONG"
echo three >"$M$DEEP/leaf"
roundtrip() {
	local p=$1 b back
	b=$("$H" path "$M" "$p") || return 1
	[[ -e $b && $b == "$C"/* ]] || return 1
	back=$("$H" path --backing "$C" "$b") || return 1
	[[ $back == "$p" ]] || { echo "got '$back' for '$p'" >&2; return 1; }
	# The form fsck prints (relative to CIPHERDIR) works too.
	back=$("$H" path --backing "$C" "${b#"$C"/}") && [[ $back == "$p" ]]
}
check "path: a name with spaces, both ways" roundtrip "/with space/sub dir/file one"
check "path: a long name (a sidecar entry), both ways" roundtrip "/with space/$LONG"
check "path: a long name's backing entry is hsmfs.longname.*, with its sidecar" \
	bash -c "b=\$('$H' path '$M' '/with space/$LONG') && [[ \$(basename \"\$b\") == hsmfs.longname.* && -f \$b.name ]]"
check "path: a deep directory, both ways" roundtrip "$DEEP/leaf"
check "path: MOUNTPOINT/a/b is the same as /a/b" \
	test "$("$H" path "$M" "$M$DEEP")" = "$("$H" path "$M" "$DEEP")"
check "path: the backing entry holds the file (its ciphertext)" \
	bash -c "test \"\$(stat -c %s \"\$('$H' path '$M' '$DEEP/leaf')\")\" -gt 4096"
one_line "path: a path that is not there says so" 200 "No such file" \
	"$H" path "$M" /nope
one_line "path: a mount point that is not hsmfs is refused" 200 "not a mount of hsmfs" \
	"$H" path "$T" /x

# ---- -o log=: an EIO with its backing path ----------------------------------

BF=$("$H" path "$M" "$DEEP/leaf")
umount_wait "$M"
check "path --backing on an unmounted volume opens it (the KEK) and answers" \
	test "$("$H" path --backing "$C" "$BF")" = "$DEEP/leaf"
flip "$BF" 100
"$H" mount -o "log=$T/daemon.log" "$C" "$M"
check "reading a file with a corrupt header gives EIO" bash -c "! cat '$M$DEEP/leaf' 2>/dev/null"
check "the EIO is in the log file, with the backing path" \
	grep -qF "error: $BF: bad header" "$T/daemon.log"
flip "$BF" 100

# ---- errors: one line, with the hint ----------------------------------------

one_line "usage error: one line naming what is missing and the help" 200 \
	"^hsmfs mount: missing MOUNTPOINT \(see 'hsmfs mount --help'\)$" "$H" mount "$C"
one_line "threads=0: a bad value, with the range" 200 \
	"^hsmfs mount: bad value for threads in 'threads=0' \(1\.\.256\)$" \
	"$H" mount -o threads=0 "$C" "$T/m2"
one_line "hsm_timeout=abc: a bad value, with the range" 200 \
	"bad value for hsm_timeout in 'hsm_timeout=abc' \(milliseconds, 0\.\.600000\)" \
	"$H" mount -o hsm_timeout=abc "$C" "$T/m2"
one_line "an unknown option is called unknown, with the help" 200 \
	"unknown option 'frob' \(see 'hsmfs mount --help'\)" \
	"$H" mount -o frob "$C" "$T/m2"
one_line "an unknown switch: one line" 200 "unknown switch --frob" \
	"$H" fsck --frob "$C"
one_line "an unknown command: one line" 200 "unknown command 'frob'" "$H" frob
umount_wait "$M"
check "kek= names the KEK in another case: accepted (host and key names have none)" \
	bash -c "'$H' mount -o kek=TESTKEK://K '$C' '$M' && '$H' umount '$M'"
one_line "kek= naming another KEK is still refused" 300 "not the expected" \
	"$H" mount -o kek=testkek://k2 "$C" "$M"

# A new volume made in the same directory: the pin refuses it and says
# how to forget the pin, and what that costs.
cp -a "$C" "$T/c.keep"
find "$C" -mindepth 1 -delete
"$H" init --kek testkek://k -o no_pin "$C" >/dev/null
n=$((210 + 2 * ${#C}))
one_line "pin mismatch: one line naming 'hsmfs pin forget' and the risk" "$n" \
	"another volume than this machine pinned there: refused before any request; .*hsmfs pin forget $C' \(the next mount trusts what it finds: give it -o volume=FINGERPRINT\)" \
	"$H" mount "$C" "$M"
check "info says the pin does not match" \
	bash -c "'$H' info '$C' | grep -q '^pin: .*MISMATCH'"

# ---- hsmfs pin list, forget --------------------------------------------------

check "pin list shows the volume's directory, KEK and pin file" \
	bash -c "'$H' pin list >'$T/pins' && grep -qx '$C' '$T/pins' && grep -q '^  kek: *testkek://k\$' '$T/pins' && grep -q '^  fingerprint: $FPR\$' '$T/pins'"
check "pin forget removes the pin, saying which" \
	bash -c "'$H' pin forget '$C' >'$T/forget' && grep -q '^removed .*/pins/dir-.*, the pin of $C' '$T/forget' && ! '$H' pin list | grep -qx '$C'"
one_line "pin forget of a directory without a pin is refused" 300 "no pin of $C" \
	"$H" pin forget "$C"
check "a mount after pin forget pins the new volume" \
	bash -c "'$H' mount '$C' '$M' && '$H' pin list | grep -qx '$C' && test \"\$('$H' info --json '$C' | jq -r .pin.state)\" = matches"

# ---- umount: only of hsmfs; busy; -z ----------------------------------------

echo held >"$M/held"
DPID=$("$H" status --json "$M" | jq .pid)
exec 7<"$M/held"
one_line "umount of a busy mount says who holds it" 400 \
	"is busy: in use by .*$BASHPID \(bash\).*hsmfs umount -z" "$H" umount "$M"
check "umount -z detaches it at once while a file is open" \
	bash -c "'$H' umount -z '$M' && ! mountpoint -q '$M'"
check "... and the open file still reads" bash -c "test \"\$(cat <&7)\" = held"
check "... and its daemon still serves it" kill -0 "$DPID"
exec 7<&-
for _ in $(seq 200); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
check "once the last file is closed, the daemon is gone" \
	bash -c "! kill -0 $DPID 2>/dev/null"

mkdir -p "$T/other" "$T/src"
if command -v bindfs >/dev/null && bindfs "$T/src" "$T/other" 2>/dev/null; then
	what="another FUSE file system (bindfs)"
else
	mount -t tmpfs -o size=1m tmpfs "$T/other"
	what="a tmpfs"
fi
one_line "umount refuses $what" 200 "is not a mount of hsmfs" "$H" umount "$T/other"
check "... and it stays mounted" mountpoint -q "$T/other"
umount "$T/other" 2>/dev/null || fusermount3 -u "$T/other"

check "--version and version print the version" \
	bash -c "'$HSMFS' --version | grep -Eq '^hsmfs [0-9]+\.[0-9]+' && test \"\$('$HSMFS' version)\" = \"\$('$HSMFS' --version)\""
finish
