#!/usr/bin/env bash
# Format 3 binds a symlink target to its directory and name, and an xattr
# to its entry (a file's id, a directory's IV). On format-3 volumes with
# encrypted and with plaintext names: targets swapped between links and
# xattr values copied or swapped between entries read as EIO with a log
# line naming the backing file, and fsck reports them; renames of
# symlinks re-encrypt them (same directory, another one, over a link);
# hard links to symlinks are EPERM, RENAME_EXCHANGE with one is EINVAL;
# xattr names of any byte up to 255; rekey --data keeps xattrs.
. "$(dirname "$0")/lib.sh"

H=$HSMFS_TEST
testkek k

# rename2 FROM TO FLAGS: renameat2; prints "ok" or the error.
rename2() {
	python3 - "$@" <<'EOF'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, os.fsencode(sys.argv[1]), -100,
                   os.fsencode(sys.argv[2]), int(sys.argv[3]))
print(os.strerror(ctypes.get_errno()) if r else "ok")
EOF
}
NOREPLACE=1
EXCHANGE=2

# hardlink FROM TO: link(2) of the entry itself; prints "ok" or the error.
hardlink() {
	python3 -c 'import os, sys
try:
    os.link(sys.argv[1], sys.argv[2], follow_symlinks=False); print("ok")
except OSError as e:
    print(os.strerror(e.errno))' "$@"
}

# Backing xattrs, binary-safe: names (one a line), copy one value to
# another name (of the same or another file), swap two values.
xnames() {
	python3 -c 'import os, sys
print("\n".join(n for n in os.listxattr(sys.argv[1]) if n.startswith("user.")))' "$1"
}
xcopy() { # SRC SNAME DST DNAME
	python3 -c 'import os, sys
os.setxattr(sys.argv[3], sys.argv[4], os.getxattr(sys.argv[1], sys.argv[2]))' "$@"
}
xswap() { # FILE NAME1 NAME2
	python3 -c 'import os, sys
f, a, b = sys.argv[1:]
va, vb = os.getxattr(f, a), os.getxattr(f, b)
os.setxattr(f, a, vb); os.setxattr(f, b, va)' "$@"
}

eio() { # CMD...: fails with EIO
	"$@" 2>&1 | grep -q "Input/output error"
}

# attacks MODE INIT-OPTS: the swaps and copies, then what the mount and
# fsck make of them.
attacks() {
	local m=$1 C=$T/c.$1 M=$T/m.$1
	shift
	"$H" init --kek testkek://k --format 3 "$@" "$C" >/dev/null &&
		mount_fg "$C" "$M" || { bad "$m: format-3 volume mounts"; return; }
	mkdir "$M/d1" "$M/d2"
	ln -s target-A "$M/d1/la"
	ln -s target-B "$M/d2/lb"
	ln -s target-C "$M/d1/lc"
	ln -s target-D "$M/d1/ld"
	ln -s target-E "$M/d1/keep"
	for f in f1 f2 f3 f5 f6; do echo "$f" >"$M/$f"; done
	touch "$M/f4"
	setfattr -n user.k -v one "$M/f1"
	setfattr -n user.k -v two "$M/f2"
	setfattr -n user.x -v ex "$M/f3"
	setfattr -n user.y -v why "$M/f3"
	setfattr -n user.k -v five "$M/f5"
	setfattr -n user.k -v six "$M/f6"
	setfattr -n user.k -v dir1 "$M/d1"
	setfattr -n user.k -v dir2 "$M/d2"
	declare -A B
	for p in d1/la d2/lb d1/lc d1/ld f1 f2 f3 f4 f5 f6 d1 d2; do
		B[$p]=$(find "$C" -inum "$(stat -c %i "$M/$p")" | head -n 1)
	done
	umount_wait "$M"
	check "$m: fsck finds the volume clean" bash -c "'$H' fsck '$C' >/dev/null"

	# Targets swapped between directories, and within one.
	local ta tb tc td
	ta=$(readlink "${B[d1/la]}")
	tb=$(readlink "${B[d2/lb]}")
	tc=$(readlink "${B[d1/lc]}")
	td=$(readlink "${B[d1/ld]}")
	ln -sfn -- "$tb" "${B[d1/la]}"
	ln -sfn -- "$ta" "${B[d2/lb]}"
	ln -sfn -- "$td" "${B[d1/lc]}"
	ln -sfn -- "$tc" "${B[d1/ld]}"
	# A value copied to the same name of another file (its own backing
	# name there); two values of one file swapped; a file's xattr copied
	# onto an empty file (no header, no id) and beside another file's
	# own; a directory's onto another's.
	xcopy "${B[f1]}" "$(xnames "${B[f1]}")" "${B[f2]}" "$(xnames "${B[f2]}")"
	mapfile -t f3n < <(xnames "${B[f3]}")
	xswap "${B[f3]}" "${f3n[0]}" "${f3n[1]}"
	xcopy "${B[f5]}" "$(xnames "${B[f5]}")" "${B[f4]}" "$(xnames "${B[f5]}")"
	local f5n
	f5n=$(xnames "${B[f5]}")
	[[ $f5n == user.k ]] && f5n=user.k5
	xcopy "${B[f5]}" "$(xnames "${B[f5]}")" "${B[f6]}" "$f5n"
	xcopy "${B[d1]}" "$(xnames "${B[d1]}")" "${B[d2]}" "$(xnames "${B[d2]}")"

	"$H" fsck "$C" >"$T/fsck.$m" 2>&1
	check "$m: fsck exits 1 on the tampered volume" test $? -eq 1
	for p in d1/la d2/lb d1/lc d1/ld; do
		check "$m: fsck names the swapped target of $p" \
			grep -qF "${B[$p]} (/$p): symlink target failed authentication" "$T/fsck.$m"
	done
	for p in f2 f3 f4 f6 d2; do
		check "$m: fsck names the moved xattr of $p" \
			grep -qF "${B[$p]} (/$p): " "$T/fsck.$m"
	done
	check "$m: fsck finds nothing else" \
		test "$(grep -cE 'failed authentication|not authentic' "$T/fsck.$m")" -eq 10

	mount_fg "$C" "$M" || { bad "$m: remount"; return; }
	local L=$M.log
	for p in d1/la d2/lb d1/lc d1/ld; do
		check "$m: swapped target of $p: EIO" eio readlink -v "$M/$p"
		check "$m: and a log line names ${B[$p]##*/}" \
			grep -qF "${B[$p]}: symlink target failed authentication" "$L"
	done
	check "$m: the names of swapped links still list" \
		bash -c "ls '$M/d1' | grep -qx la && ls '$M/d1' | grep -qx lc"
	check "$m: ls -l reports the swapped link, shows the others" \
		bash -c "ls -l '$M/d1' 2>&1 | grep -q 'la.*Input/output error' && ls -l '$M/d1' 2>/dev/null | grep -q 'keep -> target-E'"
	check "$m: an untouched link in the same directory reads" \
		test "$(readlink "$M/d1/keep")" = target-E
	check "$m: a value copied from another file: EIO" \
		eio getfattr --absolute-names -n user.k "$M/f2"
	check "$m: the file it came from still reads" \
		test "$(getfattr --absolute-names --only-values -n user.k "$M/f1")" = one
	check "$m: two values swapped within a file: EIO (1)" \
		eio getfattr --absolute-names -n user.x "$M/f3"
	check "$m: two values swapped within a file: EIO (2)" \
		eio getfattr --absolute-names -n user.y "$M/f3"
	check "$m: listxattr of that file: EIO" eio getfattr --absolute-names -d "$M/f3"
	check "$m: an xattr copied onto an empty file: EIO" \
		eio getfattr --absolute-names -n user.k "$M/f4"
	check "$m: and its list: EIO" eio getfattr --absolute-names -d "$M/f4"
	check "$m: an xattr copied beside a file's own: its list is EIO" \
		eio getfattr --absolute-names -d "$M/f6"
	check "$m: a directory's value copied onto another's: EIO" \
		eio getfattr --absolute-names -n user.k "$M/d2"
	check "$m: a log line names the file and the xattr's backing name" \
		grep -qF "${B[f3]}: xattr ${f3n[0]} failed authentication" "$L"
	check "$m: a log line names the empty file" \
		grep -qF "${B[f4]}: user xattrs on a file without a header" "$L"
	umount_wait "$M"
}

attacks enc
attacks plain --plaintext-names

# use MODE INIT-OPTS: renames, links and xattr names on a clean volume.
use() {
	local m=$1 C=$T/u.$1 M=$T/um.$1 r
	shift
	"$H" init --kek testkek://k --format 3 "$@" "$C" >/dev/null &&
		mount_fg "$C" "$M" || { bad "$m: format-3 volume mounts"; return; }
	mkdir "$M/d1" "$M/d2"
	ln -s t-one "$M/d1/s1"
	ln -s t-two "$M/d2/s2"
	ln -s t-three "$M/d2/s3"
	mv "$M/d1/s1" "$M/d1/s1b"
	check "$m: rename in one directory keeps the target" \
		test "$(readlink "$M/d1/s1b")" = t-one
	check "$m: the renamed link stats as a link of one name" \
		test "$(stat -c '%h %F' "$M/d1/s1b")" = "1 symbolic link"
	mv "$M/d1/s1b" "$M/d2/s1c"
	check "$m: rename to another directory keeps the target" \
		test "$(readlink "$M/d2/s1c")" = t-one
	check "$m: the old names are gone" \
		bash -c "! ls '$M/d1' | grep -q . && ! test -L '$M/d1/s1'"
	mv "$M/d2/s1c" "$M/d2/s2"
	check "$m: rename over a link replaces it" \
		bash -c "test \"\$(readlink '$M/d2/s2')\" = t-one && ! test -L '$M/d2/s1c'"
	r=$(rename2 "$M/d2/s2" "$M/d2/s3" $NOREPLACE)
	check "$m: RENAME_NOREPLACE onto a link: EEXIST, both intact" \
		test "$r $(readlink "$M/d2/s2") $(readlink "$M/d2/s3")" = "File exists t-one t-three"
	echo f >"$M/d1/file"
	r=$(rename2 "$M/d2/s2" "$M/d1/file" $EXCHANGE)
	check "$m: RENAME_EXCHANGE with a link: EINVAL, both intact" \
		test "$r $(readlink "$M/d2/s2") $(cat "$M/d1/file")" = "Invalid argument t-one f"
	echo g >"$M/d1/other"
	check "$m: RENAME_EXCHANGE of two files works" \
		test "$(rename2 "$M/d1/file" "$M/d1/other" $EXCHANGE) $(cat "$M/d1/file")" = "ok g"
	mkdir "$M/d1/sub"
	check "$m: a link renamed onto a directory: EISDIR" \
		test "$(rename2 "$M/d2/s2" "$M/d1/sub" 0)" = "Is a directory"
	check "$m: a hard link to a symlink: EPERM" \
		test "$(hardlink "$M/d2/s3" "$M/d2/hl")" = "Operation not permitted"
	check "$m: a hard link to a file still works" \
		test "$(hardlink "$M/d1/file" "$M/d2/fl") $(cat "$M/d2/fl")" = "ok g"
	check "$m: no temporary entry is left" \
		bash -c "! find '$C' -name 'hsmfs.tmp.*' | grep -q ."

	# xattr names: '/', 255 bytes, bytes that are not UTF-8; values with
	# NUL bytes; on a file, an empty file and a directory.
	local n250
	n250=$(printf 'n%.0s' $(seq 250))
	touch "$M/empty"
	for f in d1/file empty d1; do
		python3 - "$M/$f" "$n250" <<'EOF' >"$T/x.$m" 2>&1
import errno, os, sys
p, n250 = sys.argv[1], sys.argv[2]
odd = b"user.\x01\xff\x80 /\n\xc3".decode("utf-8", "surrogateescape")
vals = {"user.a/b/c": b"slash", "user." + n250: b"long",
        odd: b"\x00\x01binary\x00", "user.e": b""}
for n, v in vals.items():
    os.setxattr(p, n, v)
for n, v in vals.items():
    assert os.getxattr(p, n) == v, n
assert sorted(os.listxattr(p)) == sorted(vals), os.listxattr(p)
try:
    os.setxattr(p, "user." + n250 + "x", b"v")
    sys.exit("a 256-byte name was taken")
except OSError as e:
    assert e.errno == errno.ERANGE, e
os.setxattr(p, odd, b"new", os.XATTR_REPLACE)
assert os.getxattr(p, odd) == b"new"
try:
    os.setxattr(p, "user.a/b/c", b"x", os.XATTR_CREATE)
    sys.exit("XATTR_CREATE replaced")
except OSError as e:
    assert e.errno == errno.EEXIST, e
for n in vals:
    os.removexattr(p, n)
assert os.listxattr(p) == [], os.listxattr(p)
print("fine")
EOF
		check "$m: xattr names and values of any byte on $f" \
			grep -qx fine "$T/x.$m"
	done
	check "$m: an empty file with xattrs reads as empty" \
		test "$(stat -c %s "$M/empty")" = 0
	# A value too big for the backing file system gives its own errno.
	python3 - "$M/d1/file" "$T" <<'EOF' >"$T/big.$m" 2>&1
import os, sys
def err(p):
    try:
        os.setxattr(p, "user.big", b"v" * 20000); return "ok"
    except OSError as e:
        return os.strerror(e.errno)
ref = os.path.join(sys.argv[2], "ref")
open(ref, "w").close()
print(err(sys.argv[1]), "|", err(ref))
EOF
	check "$m: a value the backing fs refuses: its errno ($(cat "$T/big.$m"))" \
		bash -c "r=\$(cat '$T/big.$m'); test \"\${r% | *}\" = \"\${r#* | }\""

	# rekey --data keeps xattrs (the file keeps its id).
	head -c 10000 /dev/urandom >"$M/d1/data"
	cp "$M/d1/data" "$T/data.$m"
	setfattr -n user.tag -v kept "$M/d1/data"
	setfattr -n user.tag -v kept-too "$M/empty"
	manifest "$M" >"$T/man.$m"
	local bdata bempty
	bdata=$(find "$C" -inum "$(stat -c %i "$M/d1/data")")
	bempty=$(find "$C" -inum "$(stat -c %i "$M/empty")")
	umount_wait "$M"
	local id0 fp0
	id0=$("$H" inspect "$bdata" | sed -n 's/^file id: *//p')
	fp0=$("$H" inspect "$bdata" | sed -n 's/.*sha256 //p' | head -n 1)
	check "$m: rekey --data" bash -c "'$H' rekey --data '$C' >'$T/rk.$m' 2>&1"
	check "$m: a file keeps its id under a new key" \
		bash -c "'$H' inspect '$bdata' | grep -q 'file id: *$id0' && ! '$H' inspect '$bdata' | grep -q 'sha256 $fp0'"
	check "$m: an empty file with xattrs is a valid header-only file" \
		test "$(stat -c %s "$bempty")" = 3072
	check "$m: fsck --deep is clean after the rekey" \
		bash -c "'$H' fsck --deep '$C' >/dev/null"
	mount_fg "$C" "$M" || { bad "$m: remount after rekey"; return; }
	manifest "$M" >"$T/man2.$m"
	check "$m: content, names, targets and xattrs survive rekey --data" \
		diff -u "$T/man.$m" "$T/man2.$m"
	check "$m: xattrs of a file and an empty file read after it" \
		test "$(getfattr --absolute-names --only-values -n user.tag "$M/d1/data") $(getfattr --absolute-names --only-values -n user.tag "$M/empty")" = "kept kept-too"
	check "$m: content reads after it" cmp -s "$M/d1/data" "$T/data.$m"
	umount_wait "$M"
	check "$m: no error was logged" bash -c "! grep -E 'error|warning' '$M.log'"
}

use enc
use plain --plaintext-names

finish
