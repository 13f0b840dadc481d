#!/usr/bin/env bash
# Format 3's per-file state (crypto/FORMAT.md section 7.2): every block a
# file key encrypts is counted, across closes and remounts, and a key that
# reaches its budget refuses to write, with a line naming the file and the
# way out (rekey --data), instead of wearing its nonces thin. The state
# is authenticated: a torn copy leaves the other serving; both bad refuse
# the file.
. "$(dirname "$0")/lib.sh"

testkek k
"$HSMFS_TEST" init --kek testkek://k "$T/c" >/dev/null
L=$T/m.log
bfile() { find "$T/c" -inum "$(stat -c %i "$T/m/$1")" | head -n 1; }

# A budget of 300 blocks, for the test's sake (the default is 2^32).
mount_fg "$T/c" "$T/m" -o write_limit=300 || { bad mount; finish; }
head -c $((200 * 4096)) /dev/urandom >"$T/ref"
check "200 blocks write within a budget of 300" cp "$T/ref" "$T/m/f"
B=$(bfile f)
umount_wait "$T/m"

# After a remount the count goes on from where it was: 150 more blocks do
# not fit, and the writer is told.
mount_fg "$T/c" "$T/m" -o write_limit=300 || { bad remount; finish; }
check "the file reads back after the remount" cmp "$T/ref" "$T/m/f"
if dd if=/dev/zero of="$T/m/f" bs=4096 count=150 seek=200 conv=notrunc \
	status=none 2>"$T/dd.err"; then
	bad "a write past the budget is refused"
else
	check "a write past the budget is refused with EIO" \
		grep -q "Input/output error" "$T/dd.err"
fi
check "one log line names the file and rekey --data" \
	bash -c "grep -F '$B' '$L' | grep -q 'rekey --data'"
check "what was written before still reads" \
	bash -c "head -c $((200 * 4096)) '$T/m/f' | cmp - '$T/ref'"
check "other files still write" bash -c "echo x >'$T/m/g'"
umount_wait "$T/m"

# A fresh key, a fresh count.
check "rekey --data gives the file a fresh key" \
	"$HSMFS_TEST" rekey --data "$T/c" /f
mount_fg "$T/c" "$T/m" -o write_limit=300 || { bad remount; finish; }
check "after rekey --data the file reads the same" \
	bash -c "head -c $((200 * 4096)) '$T/m/f' | cmp - '$T/ref'"
check "and takes 90 more blocks" \
	dd if=/dev/zero of="$T/m/f" bs=4096 count=90 seek=200 conv=notrunc \
	status=none
umount_wait "$T/m"


# The state's two copies (bytes 2048..2559 and 2560..3071 of page 0).
B=$(find "$T/c" -type f -size +100k | head -n 1)
chmod u+w "$B"
flip "$B" 2100 0x10
mount_fg "$T/c" "$T/m" || { bad remount; finish; }
check "one damaged copy of the state: the other serves" \
	bash -c "head -c $((200 * 4096)) '$T/m/f' | cmp - '$T/ref'"
umount_wait "$T/m"
flip "$B" 2600 0x10
: >"$L"
mount_fg "$T/c" "$T/m" || { bad remount; finish; }
check "both copies damaged: the file is refused" \
	bash -c "! cat '$T/m/f' >/dev/null 2>&1"
check "with a line naming it" \
	bash -c "grep -F '$B' '$L' | grep -q 'file state'"
echo small >"$T/m/z"
Z=$(bfile z)
umount_wait "$T/m"
# Zeroing both copies would reset the count and drop the holes: refused.
dd if=/dev/zero of="$Z" bs=1 seek=2048 count=1024 conv=notrunc status=none
mount_fg "$T/c" "$T/m" || { bad remount; finish; }
check "a state zeroed in both copies: the file is refused" \
	bash -c "! cat '$T/m/z' >/dev/null 2>&1"
umount_wait "$T/m"
finish
