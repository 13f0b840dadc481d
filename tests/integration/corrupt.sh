#!/usr/bin/env bash
# Corrupted names and directory IVs are loud: a directory whose IV is
# changed, missing or malformed gives EIO to listings, lookups and every
# new entry in it (never an empty directory that takes new files), and a
# name that fails authentication fails its directory's listing with EIO,
# unless the mount says -o skip_bad_names; each with a log line naming the
# backing file. The rest of the volume goes on working.
. "$(dirname "$0")/lib.sh"

testkek k
C=$T/c
M=$T/m
L=$M.log
EIO="Input/output error"

# A volume: files in the root, a directory of several files, an empty
# directory, a directory of several names to damage one of, and one with
# a long name.
make_volume() { # make_volume DIR [INIT ARGS...]
	local dir=$1
	shift
	"$HSMFS_TEST" init --kek testkek://k "$@" "$dir" >/dev/null
	mount_fg "$dir" "$M" || return 1
	echo a >"$M/a" && echo b >"$M/b" && echo c >"$M/c"
	mkdir "$M/sub" "$M/empty" "$M/names" "$M/long"
	for f in x y z; do echo "$f" >"$M/sub/$f"; done
	for f in n1 n2 n3 n4; do echo "$f" >"$M/names/$f"; done
	LONGNAME=$(printf 'L%.0s' $(seq 200))
	echo long >"$M/long/$LONGNAME"
	echo k >"$M/long/k"
	umount_wait "$M"
}

make_volume "$T/pristine" || { bad "make the volume"; finish; }
# Backing paths, relative to the volume, found by inode number.
declare -A B
mount_fg "$T/pristine" "$M" || { bad mount; finish; }
for p in sub empty names names/n3 long/k; do
	B[$p]=$(find "$T/pristine" -inum "$(stat -c %i "$M/$p")" | head -n 1)
	B[$p]=${B[$p]#"$T/pristine/"}
done
umount_wait "$M"
# The daemon logs canonical paths.
CR=$(realpath -m "$C")

fresh() { rm -rf "$C" && cp -a "$T/pristine" "$C"; }

# fails_eio NAME CMD...: CMD fails, saying EIO.
fails_eio() {
	local name=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	if ((rc != 0)) && grep -q "$EIO" <<<"$out"; then
		ok "$name"
	else
		bad "$name (exit $rc: $out)"
	fi
}

logged() { # logged NAME FIXED-STRING...: one line holds them all
	local name=$1 line
	shift
	line=$(grep -F -- "$1" "$L")
	for s in "$@"; do line=$(grep -F -- "$s" <<<"$line"); done
	check "$name" test -n "$line"
}

# snap BACKING-DIR, then same_entries BACKING-DIR: nothing was added.
snap() { ls -A "$C/$1" >"$T/snap"; }
same_entries() { ls -A "$C/$1" | diff -q "$T/snap" - >/dev/null; }

# Positive control: an untouched volume lists exactly its files.
fresh
mount_fg "$C" "$M" || { bad mount; finish; }
check "untouched: the root lists exactly its entries" \
	test "$(ls -A "$M" | tr '\n' ' ')" = "a b c empty long names sub "
check "untouched: a directory lists exactly its files" \
	test "$(ls -A "$M/names" | tr '\n' ' ')" = "n1 n2 n3 n4 "
check "untouched: the empty directory lists empty" \
	bash -c "ls -A '$M/empty' && test -z \"\$(ls -A '$M/empty')\""
check "untouched: the long name is there" test -f "$M/long/$LONGNAME"
check "untouched: nothing is logged as wrong" \
	bash -c "! grep -qiE 'error|fail|invalid' '$L'"
umount_wait "$M"

# The root's IV with one bit flipped: the whole volume refuses, loudly.
# Format 3 IVs carry a tag, which refuses a changed IV before any name is
# tried; older formats learn it from the names the IV no longer decrypts.
root_iv_case() { # root_iv_case LABEL WHY
	local t=$1 why=$2
	flip "$C/hsmfs.diriv" 7 0x08
	snap .
	mount_fg "$C" "$M" || { bad "$t: mount"; return; }
	fails_eio "$t: ls of the root fails with EIO" ls "$M"
	fails_eio "$t: stat of a known name fails with EIO" stat "$M/a"
	fails_eio "$t: touch newfile is refused with EIO" touch "$M/newfile"
	fails_eio "$t: mkdir is refused with EIO" mkdir "$M/newdir"
	check "$t: nothing was created" same_entries .
	logged "$t: one log line names the root's IV" "$CR/hsmfs.diriv:" \
		"$why"
	check "$t: logged once" test "$(grep -c -F "$CR/hsmfs.diriv" "$L")" -eq 1
	umount_wait "$M"
}
fresh
root_iv_case "root IV" "directory IV failed authentication"
# The same on a volume of format 1.
rm -rf "$C"
make_volume "$C" --format 1 || bad "make a format-1 volume"
root_iv_case "format 1, root IV" "decrypts with its IV"
# The pristine volume comes back where the format-1 one was made (and
# pinned by init): forget that pin, as an operator would.
rm -f "$HSMFS_STATE_DIR"/pins/dir-*

# A subdirectory's IV flipped: that directory refuses, the rest works.
fresh
flip "$C/${B[sub]}/hsmfs.diriv" 0 0x08
snap "${B[sub]}"
mount_fg "$C" "$M" || { bad mount; finish; }
fails_eio "sub IV: ls of it fails with EIO" ls "$M/sub"
fails_eio "sub IV: stat of a known name in it fails with EIO" stat "$M/sub/x"
fails_eio "sub IV: touch in it is refused with EIO" touch "$M/sub/new"
fails_eio "sub IV: mkdir in it is refused with EIO" mkdir "$M/sub/newdir"
fails_eio "sub IV: a symlink in it is refused with EIO" ln -s a "$M/sub/sym"
fails_eio "sub IV: a rename into it is refused with EIO" mv "$M/a" "$M/sub/a"
fails_eio "sub IV: a hard link into it is refused with EIO" ln "$M/b" "$M/sub/b"
check "sub IV: nothing was created in it" same_entries "${B[sub]}"
logged "sub IV: one log line names its backing IV" \
	"$CR/${B[sub]}/hsmfs.diriv:" "directory IV failed authentication"
check "sub IV: the root still lists everything" \
	test "$(ls -A "$M" | tr '\n' ' ')" = "a b c empty long names sub "
check "sub IV: other directories still list and read" \
	bash -c "test \"\$(ls '$M/names' | wc -l)\" -eq 4 && test \"\$(cat '$M/names/n1')\" = n1"
check "sub IV: new files elsewhere still work" \
	bash -c "echo new >'$M/fine' && test \"\$(cat '$M/fine')\" = new"
umount_wait "$M"

# An empty directory's IV with one bit flipped: no name can tell, its
# tag does (format 3).
fresh
flip "$C/${B[empty]}/hsmfs.diriv" 5 0x08
snap "${B[empty]}"
mount_fg "$C" "$M" || { bad mount; finish; }
fails_eio "empty dir IV: ls of it fails with EIO" ls "$M/empty"
fails_eio "empty dir IV: touch in it is refused with EIO" touch "$M/empty/f"
fails_eio "empty dir IV: mkdir in it is refused with EIO" mkdir "$M/empty/d"
check "empty dir IV: nothing was created in it" same_entries "${B[empty]}"
logged "empty dir IV: one log line names its backing IV" \
	"$CR/${B[empty]}/hsmfs.diriv:" "directory IV failed authentication"
umount_wait "$M"

# An empty directory's IV replaced with a file of the wrong size.
fresh
iv=$C/${B[empty]}/hsmfs.diriv
chmod u+w "$iv" && head -c 15 /dev/urandom >"$iv"
snap "${B[empty]}"
mount_fg "$C" "$M" || { bad mount; finish; }
fails_eio "short IV: ls of the empty directory fails with EIO" ls "$M/empty"
fails_eio "short IV: touch in it is refused with EIO" touch "$M/empty/f"
fails_eio "short IV: stat of a name in it fails with EIO" stat "$M/empty/f"
check "short IV: nothing was created in it" same_entries "${B[empty]}"
logged "short IV: one log line names its backing IV" \
	"$CR/${B[empty]}/hsmfs.diriv:" "missing or invalid directory IV"
umount_wait "$M"

# One encrypted name changed in a directory of several.
fresh
n=${B[names/n3]##*/}
c=${n:5:1}
[[ $c == A ]] && r=B || r=A
changed=${n:0:5}$r${n:6}
mv "$C/${B[names/n3]}" "$C/${B[names]}/$changed"
mount_fg "$C" "$M" || { bad mount; finish; }
fails_eio "changed name: ls of its directory fails with EIO" ls "$M/names"
logged "changed name: a log line names the backing entry and why" \
	"$CR/${B[names]}/$changed:" "name failed authentication"
check "changed name: the other names still open" \
	bash -c "test \"\$(cat '$M/names/n1')\" = n1"
check "changed name: new files in its directory still work" \
	bash -c "echo new >'$M/names/n5' && test \"\$(cat '$M/names/n5')\" = new"
rm -f "$M/names/n5"
umount_wait "$M"
mount_fg "$C" "$M" -o skip_bad_names || { bad "mount -o skip_bad_names"; finish; }
check "changed name, skip_bad_names: ls succeeds with the other names" \
	test "$(ls -A "$M/names" | tr '\n' ' ')" = "n1 n2 n4 "
logged "changed name, skip_bad_names: the log still names it" \
	"$CR/${B[names]}/$changed:" "name failed authentication"
umount_wait "$M"
fresh
flip "$C/${B[sub]}/hsmfs.diriv" 3 0x08
mount_fg "$C" "$M" -o skip_bad_names || { bad "mount -o skip_bad_names"; finish; }
fails_eio "skip_bad_names: a changed IV still fails the listing with EIO" \
	ls "$M/sub"
umount_wait "$M"

# A long name whose sidecar was changed: its lookup fails, not misses.
fresh
side=$(find "$C/${B[long/k]%/*}" -name 'hsmfs.longname.*.name')
entry=${side%.name}
entry=${entry#"$C/"}
s=$(cat "$side")
[[ ${s:5:1} == A ]] && r=B || r=A
chmod u+w "$side" && printf '%s' "${s:0:5}$r${s:6}" >"$side"
mount_fg "$C" "$M" || { bad mount; finish; }
fails_eio "changed sidecar: stat of the long name fails with EIO" \
	stat "$M/long/$LONGNAME"
logged "changed sidecar: a log line names the backing entry and why" \
	"$CR/$entry:" "sidecar"
check "changed sidecar: its neighbour still reads" \
	bash -c "test \"\$(cat '$M/long/k')\" = k"
umount_wait "$M"

# Plaintext names have no IVs: nothing to judge, nothing changes.
rm -rf "$C"
make_volume "$C" --plaintext-names || bad "make a plaintext-names volume"
mount_fg "$C" "$M" || { bad mount; finish; }
check "plaintext names: the root lists exactly its entries" \
	test "$(ls -A "$M" | tr '\n' ' ')" = "a b c empty long names sub "
check "plaintext names: new entries work" \
	bash -c "touch '$M/sub/new' && mkdir '$M/empty/d' && test -d '$M/empty/d'"
umount_wait "$M"
finish
