#!/usr/bin/env bash
# Converting a volume between the wrap modes (hsmfs rekey --to-wrap),
# against the HSM emulator over HTTPS, counted in its audit log: to
# volume mode and back, every file identical after each, a cold read
# costing one unwrap for the mount after the first and one per file after
# the second, and a header of the other mode's kind put back refused;
# each direction killed with -9 mid-way, the mixed volume mounting and
# reading everything (new files included), plain rekeys refused naming
# the command that finishes, and the same command finishing; a
# conversion turned round; wrap_conversion added or removed by hand
# refused by the config MAC.
. "$(dirname "$0")/lib.sh"

emu_kek_suite
N=120

# mode: the config's wrap mode: "file", "volume", or "volume to-file"
# (a conversion under way); "file+" if a wrapping key is left over.
mode() {
	local f=$C/hsmfs.conf m=file
	grep -q '"volume-wrap"' "$f" && m=volume
	grep -qE 'wrapping_keys|HSMFS-WK-AES-SIV' "$f" && [[ $m == file ]] && m=file+
	m="$m $(sed -nE 's/.*"wrap_conversion":[[:space:]]*"([a-z-]+)".*/\1/p' "$f")"
	echo "${m% }"
}
is_mode() { test "$(mode)" = "$1" || { echo "    mode: $(mode)"; return 1; }; }
rekey() { "$HSMFS" rekey -q -o "$O" "$@"; }
# says CODE PATTERN CMD...: CMD exits with CODE and says PATTERN.
says() {
	local code=$1 pat=$2 rc
	shift 2
	"$@" >"$T/said" 2>&1
	rc=$?
	((rc == code)) && grep -q -- "$pat" "$T/said" && return 0
	echo "    exit $rc:"
	sed 's/^/    /' "$T/said"
	return 1
}
# coldread: mounts, reads every file, unmounts; prints the UnwrapKey
# calls that took.
coldread() {
	local u0
	u0=$(unwraps "$E")
	mount_hsm "$C" "$M" -o "$O" || return 1
	find "$M" -type f -exec cat {} + >/dev/null
	umount_wait "$M"
	echo $(($(unwraps "$E") - u0))
}
# sums DIR: every file's sha256, every link's target, every xattr, in a
# few processes (files made mid-way left aside).
sums() {
	(
		cd "$1" || exit 1
		find . -type f ! -name 'new*' -print0 | sort -z | xargs -0 sha256sum
		find . -type l -printf '%p -> %l\n' | sort
		getfattr -R -d -m '^user\.' . 2>/dev/null
	)
}
# same WHAT: the mount shows what was written first.
same() {
	mount_hsm "$C" "$M" -o "$O" || { bad "$1: mounts"; return; }
	sums "$M" >"$T/got"
	umount_wait "$M"
	check "$1: every file reads as written" diff -u "$T/man0" "$T/got"
}
# killed DIRECTION: a conversion killed with -9 mid-walk (headers at 30 a
# second, the kill within 1.2 s): 0 once the config says it is under way
# and --check counts slots of both kinds.
killed() {
	local pid
	for _ in 1 2 3; do
		"$HSMFS" rekey -q --to-wrap "$1" --jobs 1 --max-rate 30 -o "$O" "$C" >/dev/null 2>&1 &
		pid=$!
		sleep "0.$((RANDOM % 6 + 6))"
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rekey --check "$C" >"$T/chk" 2>&1
		grep -qE 'key slots: [1-9][0-9]* files wrapped locally, [1-9][0-9]* by a KEK' "$T/chk" &&
			return 0
	done
	sed 's/^/    /' "$T/chk"
	return 1
}
# reads FILE TEXT: the mount shows FILE holding TEXT.
reads() {
	local r=1
	mount_hsm "$C" "$M" -o "$O" || return 1
	grep -qx "$2" "$M/$1" && r=0
	umount_wait "$M"
	return "$r"
}
# refused PATTERN: with no conversion under way, a header of the other
# mode's kind put back in place of d/f3's: EIO, and a log line naming
# the file and PATTERN.
refused() {
	local r=1
	mount_hsm "$C" "$M" -o "$O" || return 1
	! cat "$M/d/f3" 2>/dev/null && grep -q -e "${B3##*/}.*$1" "$M.log" && r=0
	umount_wait "$M"
	return "$r"
}
# macfails CIPHERDIR: fsck refuses the config as modified.
macfails() { says 1 "hsmfs.conf failed authentication" "$HSMFS" fsck -o "$O,kek=$KEK" "$1"; }

check "init (file mode)" bash -c "'$HSMFS' init --kek '$KEK' -o '$O' '$C' >/dev/null"
mount_hsm "$C" "$M" -o "$O"
mkdir -p "$M/d/sub"
for i in $(seq "$N"); do echo "file $i" >"$M/d/f$i"; done
head -c $((1024 * 1024 + 5)) /dev/urandom >"$M/d/sub/big"
: >"$M/empty"
ln -s d/f1 "$M/link"
setfattr -n user.note -v kept "$M/d/f2"
sums "$M" >"$T/man0"
# d/f3's backing file, to put back older copies of it.
B3=$(find "$C" -type f -inum "$(stat -c %i "$M/d/f3")")
umount_wait "$M"
cp "$B3" "$T/f3.kek"
# Files with a key (a header): the N small ones and big.
NH=$((N + 1))

# 1. To volume mode and back, whole.
check "to volume mode" rekey --to-wrap volume "$C"
check "the config: volume-wrap, no conversion left" is_mode volume
check "--check: clean, every file wrapped locally" \
	says 0 "key slots: $NH files wrapped locally, 0 by a KEK" rekey --check "$C"
u=$(coldread)
check "a mount and $NH cold reads in volume mode: exactly 1 UnwrapKey ($u)" test "$u" = 1
same "volume mode"
check "converting again: nothing to do, exit 0" \
	says 0 "in volume mode already: nothing to do" rekey --to-wrap volume "$C"
cp "$B3" "$T/f3.local"
cp "$T/f3.kek" "$B3"
check "volume mode: a KEK-wrapped header put back is refused" \
	refused "not by this volume's wrapping key"
cp "$T/f3.local" "$B3"
mount_hsm "$C" "$M" -o "$O"
check "refused while mounted, saying why" \
	says 1 "is in use: mounted.*not mounted" rekey --to-wrap file "$C"
umount_wait "$M"
check "to file mode" rekey --to-wrap file "$C"
check "the config: file mode, no wrapping key or conversion" is_mode file
check "--check: clean, no slot wrapped locally" \
	bash -c "'$HSMFS' rekey --check -o '$O' '$C' >'$T/chk1' && ! grep -q hsmfs-wk: '$T/chk1'"
u=$(coldread)
check "a mount and $NH cold reads in file mode: 1 + $NH UnwrapKey ($u)" test "$u" = $((NH + 1))
same "file mode again"
check "converting again: nothing to do, exit 0" \
	says 0 "in file mode already: nothing to do" rekey --to-wrap file "$C"
cp "$B3" "$T/f3.kek"
cp "$T/f3.local" "$B3"
check "file mode: a locally wrapped header put back is refused" \
	refused "not a version of"
cp "$T/f3.kek" "$B3"

# 2. To volume mode, killed mid-walk: a mixed volume.
check "to volume mode killed with -9 mid-walk: keys of both kinds" killed volume
check "the config says the conversion is under way" is_mode "volume to-volume"
check "--check: exit 1, naming the command that finishes" \
	says 1 "unfinished (hsmfs rekey --to-wrap volume finishes it)" rekey --check "$C"
check "a plain rekey is refused, naming the command that finishes" \
	says 1 "hsmfs rekey --to-wrap volume" rekey "$C"
check "so is a wrapping-key rotation" \
	says 1 "hsmfs rekey --to-wrap volume" rekey --wrapping-key "$C"
mkdir "$T/mid" && cp "$C/hsmfs.conf" "$T/mid/"
same "mixed, to volume mode"
mount_hsm "$C" "$M" -o "$O"
check "status shows the conversion" \
	says 0 "^conversion: *to volume mode, unfinished" "$HSMFS" status "$M"
echo "made mid-way" >"$M/d/new1"
umount_wait "$M"
check "fsck --unwrap on the mixed volume: clean" "$HSMFS" fsck --unwrap -o "$O" "$C"
check "the same command finishes it" \
	says 0 "finishing it" rekey --to-wrap volume "$C"
check "volume mode" is_mode volume
mkdir "$T/added" && cp "$C/hsmfs.conf" "$T/added/"
check "--check: clean" rekey --check "$C"
check "the file made mid-way reads" reads d/new1 "made mid-way"

# 3. To file mode, killed mid-walk; then turned round, and finished.
check "to file mode killed with -9 mid-walk: keys of both kinds" killed file
check "the config says so" is_mode "volume to-file"
check "a plain rekey is refused, naming the command that finishes" \
	says 1 "hsmfs rekey --to-wrap file" rekey "$C"
same "mixed, to file mode"
mount_hsm "$C" "$M" -o "$O"
echo "made mid-way too" >"$M/d/new2"
umount_wait "$M"
check "turned round: to volume mode again" \
	says 0 "turned round" rekey --to-wrap volume "$C"
check "volume mode" is_mode volume
check "and to file mode, whole" rekey --to-wrap file "$C"
check "file mode" is_mode file
check "no slot wrapped locally, the new files' neither" \
	bash -c "'$HSMFS' rekey --check -o '$O' '$C' >'$T/chk3' && ! grep -q hsmfs-wk: '$T/chk3'"
same "file mode at the end"
check "the file made mid-way reads" reads d/new2 "made mid-way too"

# 4. wrap_conversion is covered by the config MAC: removed from the
# mixed config, or added to a volume-wrap one, the volume is refused.
# edit NAME CODE: the config kept as NAME after the Python statement CODE
# on c.
edit() {
	python3 - "$T/$1/hsmfs.conf" "$2" <<-'EOF'
		import json, sys
		c = json.load(open(sys.argv[1]))
		exec(sys.argv[2])
		open(sys.argv[1], "w").write(json.dumps(c))
	EOF
}
edit mid 'del c["wrap_conversion"]'
edit added 'c["wrap_conversion"] = "to-file"'
both_refused() { macfails "$T/mid" && macfails "$T/added"; }
check "wrap_conversion removed or added by hand: the config fails its MAC" both_refused
finish
