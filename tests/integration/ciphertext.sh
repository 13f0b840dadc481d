#!/usr/bin/env bash
# Nothing of a file's name, content, symlink target or xattr reaches the
# backing directory in plaintext, for short and long names, in nested
# directories; and the backing files have the documented sizes. Format 3
# too, where xattr names are hashed and travel inside the values.
. "$(dirname "$0")/lib.sh"

testkek k
"$HSMFS_TEST" init --kek testkek://k "$T/c" >/dev/null
mount_fg "$T/c" "$T/m" || { bad mount; finish; }

MARK=QZXWplaintextmarker
long=$(printf "${MARK}%.0s" $(seq 12)) # 228 bytes: a long name
mkdir -p "$T/m/dir_$MARK/sub_$MARK"
for i in $(seq 20); do
	yes "$MARK-$i" | head -c 5000 >"$T/m/dir_$MARK/file_${MARK}_$i"
done
yes "$MARK" | head -c 300000 >"$T/m/dir_$MARK/sub_$MARK/big_$MARK"
echo "$MARK" >"$T/m/$long"
ln -s "target_$MARK" "$T/m/link_$MARK"
setfattr -n "user.name_$MARK" -v "value_$MARK" "$T/m/dir_$MARK/file_${MARK}_1"
sync

check "content, names, targets and xattrs are not in the backing dir" \
	bash -c "! grep -r -a -q '$MARK' '$T/c' && ! find '$T/c' -name '*$MARK*' | grep -q . && ! find '$T/c' -type l -lname '*$MARK*' | grep -q . && ! getfattr -R -d -m - '$T/c' 2>/dev/null | grep -q '$MARK'"
check "nor any 16-byte piece of the content" \
	bash -c "! grep -r -a -q 'plaintextmarker' '$T/c'"

# 5000 bytes: the header page (header, the file's state, then the blocks'
# nonces and tags), a page for the full block, 904 bytes of the last.
n=$(find "$T/c" -type f -printf '%s\n' | grep -c '^9096$')
check "a 5000-byte file takes 9096 backing bytes (20 of them)" test "$n" -eq 20
check "stat shows the plaintext size" \
	test "$(stat -c %s "$T/m/dir_$MARK/file_${MARK}_1")" -eq 5000
check "a long name is stored under a hashed name with a sidecar" \
	bash -c "ls '$T/c' | grep -q '^hsmfs.longname\..\{43\}$' && ls '$T/c' | grep -q '^hsmfs.longname\..\{43\}\.name$'"
check "the long name reads back" test "$(cat "$T/m/$long")" = "$MARK"
check "an empty file stays empty on disk" bash -c "touch '$T/m/empty' && test \$(find '$T/c' -maxdepth 1 -type f -empty | wc -l) -eq 1"
umount_wait "$T/m"

"$HSMFS_TEST" init --kek testkek://k --format 3 "$T/c3" >/dev/null
mount_fg "$T/c3" "$T/m3" || { bad "format 3 mount"; finish; }
mkdir "$T/m3/dir_$MARK"
ln -s "target_$MARK" "$T/m3/dir_$MARK/link_$MARK"
touch "$T/m3/empty_$MARK"
setfattr -n "user.name_$MARK" -v "value_$MARK" "$T/m3/empty_$MARK"
setfattr -n "user.dir_$MARK" -v "dvalue_$MARK" "$T/m3/dir_$MARK"
sync
check "format 3: no name, target or xattr in the backing dir" \
	bash -c "! grep -r -a -q '$MARK' '$T/c3' && ! find '$T/c3' -name '*$MARK*' | grep -q . && ! find '$T/c3' -type l -lname '*$MARK*' | grep -q . && ! getfattr -R -d -m - '$T/c3' 2>/dev/null | grep -q '$MARK'"
check "format 3: an xattr's backing name is a 22-character hash" \
	bash -c "getfattr -R -d -m - '$T/c3' 2>/dev/null | grep -q '^user\.[A-Za-z0-9_-]\{22\}='"
check "format 3: an empty file given an xattr gets its header and state" \
	bash -c "find '$T/c3' -maxdepth 1 -type f -size 3072c ! -name 'hsmfs.*' | grep -q ."
check "format 3: and still reads as empty" \
	test "$(stat -c %s "$T/m3/empty_$MARK")" -eq 0
finish
