#!/usr/bin/env bash
# hsmfs fsck and hsmfs inspect: a clean volume is clean; each injected
# corruption is found with exit 1 and a line naming its backing path;
# operational errors exit 8; inspect on a file, an empty file, garbage.
. "$(dirname "$0")/lib.sh"

testkek k
H=$HSMFS_TEST
C=$T/c
M=$T/m
"$H" init --kek testkek://k "$C" >/dev/null
mount_fg "$C" "$M"
mkdir -p "$M/d/e"
for i in 1 2 3 4 5 6; do head -c $((i * 3000)) /dev/urandom >"$M/d/f$i"; done
touch "$M/empty"
LONG=$(printf 'L%.0s' $(seq 1 200))
echo long >"$M/d/$LONG"
ln -s d/f1 "$M/sym"
setfattr -n user.a -v b "$M/d/f1"
echo x >"$M/d/e/g"
sync
umount_wait "$M"
cp -a "$C" "$T/pristine"

check "a clean volume: exit 0" bash -c "'$H' fsck --deep '$C' >'$T/out' 2>&1"
check "and says 0 problems" grep -q ": 0 problems" "$T/out"
check "structure-only fsck is clean too" "$H" fsck "$C"

# Backing paths of some entries, found through their plaintext names.
bpath() { # plaintext name under d/ -> backing path
	"$H" fsck "$C" >/dev/null 2>&1
	mount_fg "$C" "$M" >/dev/null
	local ino
	ino=$(stat -c %i "$M/$1")
	umount_wait "$M"
	find "$C" -inum "$ino" | head -n 1
}
F3=$(bpath d/f3)
F4=$(bpath d/f4)
F5=$(bpath d/f5)
G=$(bpath d/e/g)
DIR_E=$(dirname "$G")
SIDE=$(find "$C" -name 'hsmfs.longname.*.name' | head -n 1)

restore() { rm -rf "$C" && cp -a "$T/pristine" "$C"; }

# expect NAME BACKING_PATH [FSCK ARGS...]: exit 1 and a line naming it.
expect() {
	local name=$1 path=$2 rc=0
	shift 2
	"$H" fsck "$@" "$C" >"$T/out" 2>&1 || rc=$?
	if [[ $rc -eq 1 ]] && grep -qF "$path" "$T/out"; then
		ok "$name"
	else
		bad "$name (exit $rc)"
		cat "$T/out"
	fi
	restore
}

corrupt() { # corrupt FILE OFFSET: flips one byte
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(((b ^ 1) & 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

chmod u+w "$F3" "$F4" "$F5" "$C/hsmfs.conf"
corrupt "$F3" 100
expect "a header byte (in a key slot's kid)" "$F3"
corrupt "$F3" 900
expect "a header byte (in a wrapped key, --unwrap)" "$F3" --unwrap
corrupt "$F4" $(($(blk_data 0) + 100))
check "a block byte is invisible without --deep" "$H" fsck --unwrap "$C"
expect "a block byte (--deep)" "$F4" --deep
truncate -s 1000 "$F5"
expect "a truncated header" "$F5"
truncate -s 2060 "$F5"
expect "a size that is no valid encrypted size" "$F5"
mv "$G" "$DIR_E/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
expect "a name that fails authentication" "$DIR_E/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
rm -f "$SIDE"
expect "a missing long-name sidecar" "${SIDE%.name}"
touch "$(dirname "$SIDE")/hsmfs.longname.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.name"
expect "an orphan sidecar" "hsmfs.longname.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.name"
chmod u+w "$DIR_E/hsmfs.diriv" && rm -f "$DIR_E/hsmfs.diriv"
expect "a missing directory IV" "$DIR_E/hsmfs.diriv"
# A changed IV fails its tag (format 3), reported in the words the
# daemon logs.
chmod u+w "$DIR_E/hsmfs.diriv" && corrupt "$DIR_E/hsmfs.diriv" 3
"$H" fsck "$C" >"$T/ivout" 2>&1
check "a changed directory IV, in the daemon's words" \
	bash -c "grep -F '$DIR_E/hsmfs.diriv' '$T/ivout' | grep -qF 'directory IV failed authentication'"
expect "a changed directory IV" "$DIR_E/hsmfs.diriv"
chmod u+w "$C/hsmfs.conf" && sed -i 's/"creator":.*"hsmfs 0.1"/"creator": "hsmfs 0.2"/' "$C/hsmfs.conf"
expect "a changed config (MAC)" "$C/hsmfs.conf"
chmod u+w "$C/hsmfs.conf" && echo '{' >"$C/hsmfs.conf"
expect "a config that does not parse" "$C/hsmfs.conf"
touch "$(dirname "$F3")/hsmfs.tmp.0123456789abcdef"
expect "a leftover rekey --data temporary file" "hsmfs.tmp.0123456789abcdef"
ln -s x "$(dirname "$F3")/hsmfs.tmp.0123456789abcdef"
"$H" fsck "$C" >"$T/out" 2>&1
check "a leftover temporary symlink is one of a rename" \
	grep -q "hsmfs.tmp.0123456789abcdef.*temporary symlink of an interrupted rename" "$T/out"
restore

check "a directory that does not exist: exit 8" \
	bash -c "'$H' fsck '$T/nope' 2>/dev/null; test \$? -eq 8"
check "a directory that is no volume: exit 8" \
	bash -c "mkdir -p '$T/empty'; '$H' fsck '$T/empty' 2>/dev/null; test \$? -eq 8"
touch "$T/keys/k.v1.disabled"
check "--unwrap with the KEK unusable: exit 8" \
	bash -c "'$H' fsck --unwrap '$C' >/dev/null 2>&1; test \$? -eq 8"
check "without --unwrap: structure only, says so, exit 0" \
	bash -c "'$H' fsck '$C' 2>&1 | grep -q 'not verified'"
rm -f "$T/keys/k.v1.disabled"
check "fsck changed nothing" diff -r --no-dereference "$C" "$T/pristine"
check "usage error: exit 2" bash -c "'$H' fsck 2>/dev/null; test \$? -eq 2"

# A config that fails authentication, in every mode: a problem or an
# operational error with its reason, never a crash (exit 1 or 8, not a
# signal's 128+N).
cp -a "$T/pristine" "$T/badconf"
chmod u+w "$T/badconf/hsmfs.conf"
sed -i 's/"creator":\t"hsmfs/"creator":\t"hsmfx/' "$T/badconf/hsmfs.conf"
for mode in "" --unwrap --deep; do
	check "a tampered config, fsck $mode: exit 1 or 8 with a reason" \
		bash -c "out=\$('$H' fsck $mode -o no_pin '$T/badconf' 2>&1); rc=\$?; (( rc == 1 || rc == 8 )) && grep -q 'hsmfs.conf' <<<\"\$out\""
done

# inspect
"$H" inspect "$F3" >"$T/insp"
check "inspect: file id, slot, kid, sizes, blocks" \
	bash -c "grep -Eq '^file id: +[0-9a-f]{32}$' '$T/insp' && grep -q 'generation 1, CKM_AES_KEY_WRAP_PAD' '$T/insp' && grep -q 'kid: *testkek://k/v1' '$T/insp' && grep -q 'plaintext size:  9000' '$T/insp' && grep -q 'blocks: *2 full + 1 partial' '$T/insp' && grep -q 'slot 1: *empty' '$T/insp'"
check "inspect: the volume's format, from its config" grep -q 'volume format:   3 (page-aligned blocks, file state in page 0)' "$T/insp"
cp "$F3" "$T/copied"
check "inspect: a copy out of its volume assumes format 3, says so" \
	bash -c "'$H' inspect '$T/copied' | grep -q 'unknown, no hsmfs.conf' && '$H' inspect '$T/copied' | grep -q 'plaintext size:  9000'"
# Packed: 4124-byte blocks after a 2048-byte header, 28 bytes of each
# being nonce and tag.
s=$(stat -c %s "$T/copied")
packed=$(((s - 2048) / 4124 * 4096 + (s - 2048) % 4124 - 28))
check "inspect --format 1 reads the sizes as packed" \
	bash -c "'$H' inspect --format 1 '$T/copied' | grep -q 'plaintext size:  $packed'"
check "inspect --format 4 is a usage error" \
	bash -c "'$H' inspect --format 4 '$T/copied' 2>/dev/null; test \$? -eq 2"
EMPTY=$(find "$C" -type f -size 0 ! -name 'hsmfs.*' | head -n 1)
check "inspect: an empty file" bash -c "'$H' inspect '$EMPTY' | grep -q 'empty file (no header)'"
head -c 4000 /dev/urandom >"$T/garbage"
check "inspect: garbage is a bad header, exit 1" \
	bash -c "out=\$('$H' inspect '$T/garbage'); test \$? -eq 1 && grep -q 'bad header' <<<\"\$out\""
check "inspect --help" bash -c "'$H' inspect --help | grep -q Usage"
for c in rekey fsck; do
	check "$c --help" bash -c "'$H' $c --help | grep -q Usage"
done
check "the command list names rekey, fsck, inspect" \
	bash -c "'$H' --help | grep -q rekey && '$H' --help | grep -q fsck && '$H' --help | grep -q inspect"
finish
