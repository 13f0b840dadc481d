#!/usr/bin/env bash
# What an attacker with write access to the backing directory CAN do
# without detection, by design (SECURITY.md lists these): each case shows
# the documented behaviour, so that a change in it is noticed.
. "$(dirname "$0")/lib.sh"

testkek k
"$HSMFS_TEST" init --kek testkek://k "$T/c" >/dev/null
mount_fg "$T/c" "$T/m" || { bad mount; finish; }
yes old | head -c 12288 >"$T/m/rollback"
yes AAAA | head -c 12288 >"$T/m/blockroll"
yes data | head -c 12288 >"$T/m/cut"
echo "first" >"$T/m/swap1"
echo "second" >"$T/m/swap2"
echo "doomed" >"$T/m/deleted"
echo "meta" >"$T/m/meta"
sync
bn() { find "$T/c" -inum "$(stat -c %i "$T/m/$1")" | head -n 1; }
for f in rollback blockroll cut swap1 swap2 deleted meta; do
	declare "B_$f=$(bn "$f")"
done
umount_wait "$T/m"

# Formats 1 and 2 bind a symlink target to nothing and an xattr value to
# its name only (format 3 binds both: tests/integration/bindings.sh).
"$HSMFS_TEST" init --kek testkek://k --format 2 "$T/c2" >/dev/null
mount_fg "$T/c2" "$T/m2" || { bad "format 2 mount"; finish; }
ln -s first "$T/m2/link1"
ln -s second "$T/m2/link2"
echo x >"$T/m2/xattr1" && setfattr -n user.k -v first "$T/m2/xattr1"
echo x >"$T/m2/xattr2" && setfattr -n user.k -v second "$T/m2/xattr2"
for f in link1 link2 xattr1 xattr2; do
	declare "B_$f=$(find "$T/c2" -inum "$(stat -c %i "$T/m2/$f")")"
done
umount_wait "$T/m2"
cp -p "$B_rollback" "$T/rollback.old"
# Block 1: its page and its nonce and tag (crypto/FORMAT.md section 7.1).
dd if="$B_blockroll" of="$T/block1.old" bs=1 skip="$(blk_data 1)" count=4096 status=none
dd if="$B_blockroll" of="$T/rec1.old" bs=1 skip="$(blk_rec 1)" count=28 status=none

mount_fg "$T/c" "$T/m"
yes new | head -c 12288 >"$T/m/rollback"
dd if=/dev/zero bs=4096 count=1 seek=1 conv=notrunc of="$T/m/blockroll" status=none
sync
umount_wait "$T/m"

# The attacker's changes.
cp -p "$T/rollback.old" "$B_rollback"
dd if="$T/block1.old" of="$B_blockroll" bs=1 seek="$(blk_data 1)" conv=notrunc status=none
dd if="$T/rec1.old" of="$B_blockroll" bs=1 seek="$(blk_rec 1)" conv=notrunc status=none
truncate -s $(($(blk_data 0) + 4096)) "$B_cut"
mv "$B_swap1" "$T/s" && mv "$B_swap2" "$B_swap1" && mv "$T/s" "$B_swap2"
rm "$B_deleted"
chmod 600 "$B_meta" && touch -d 2001-01-01 "$B_meta"
t1=$(readlink "$B_link1")
ln -sfn -- "$(readlink "$B_link2")" "$B_link1"
ln -sfn -- "$t1" "$B_link2"
xn=$(getfattr -m user. -d "$B_xattr1" 2>/dev/null | grep '^user' | cut -d= -f1)
# Through a file and hex: the value is binary and may hold a NUL byte,
# which a shell variable cannot.
getfattr -n "$xn" --only-values "$B_xattr1" >"$T/xv" 2>/dev/null
setfattr -n "$xn" -v "0x$(xxd -p "$T/xv" | tr -d '\n')" "$B_xattr2"

mount_fg "$T/c" "$T/m"
mount_fg "$T/c2" "$T/m2"
check "a whole file rolled back to an older version reads the old content" \
	bash -c "head -n 1 '$T/m/rollback' | grep -qx old"
check "a single block rolled back reads the old block" \
	bash -c "test \$(dd if='$T/m/blockroll' bs=4096 skip=1 count=1 status=none | tr -d 'A\n' | wc -c) -eq 0"
check "a file truncated at a block boundary reads shorter, without error" \
	test "$(stat -c %s "$T/m/cut")" -eq 4096
check "two files swapped by name read each other's content" \
	bash -c "grep -qx second '$T/m/swap1' && grep -qx first '$T/m/swap2'"
check "a deleted file is simply gone" bash -c "! test -e '$T/m/deleted'"
check "permissions and times changed in the backing dir show through" \
	bash -c "test \$(stat -c %a '$T/m/meta') = 600 && stat -c %y '$T/m/meta' | grep -q ^2001"
check "format 2: two symlinks' targets swapped read as each other's" \
	test "$(readlink "$T/m2/link1") $(readlink "$T/m2/link2")" = "second first"
check "format 2: an xattr copied to the same name of another file reads" \
	test "$(getfattr --absolute-names --only-values -n user.k "$T/m2/xattr2")" = first
check "none of this was logged as an error" \
	bash -c "! grep -q error '$T/m.log' '$T/m2.log'"
finish
