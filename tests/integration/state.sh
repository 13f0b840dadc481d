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

# Holes: a truncate up costs what is written, not the new size, on a
# backing filesystem far smaller than the file.
mkdir "$T/small"
mount -t tmpfs -o size=100m tmpfs "$T/small" || bad "a 100 MB tmpfs"
"$HSMFS_TEST" init --kek testkek://k "$T/small/c" >/dev/null
mount_fg "$T/small/c" "$T/sm" || { bad "mount on tmpfs"; finish; }
check "truncate -s 10G on 100 MB succeeds" truncate -s 10G "$T/sm/big"
check "the file is 10 GiB" test "$(stat -c %s "$T/sm/big")" -eq $((10 << 30))
check "the backing filesystem holds almost nothing of it" \
	test "$(df --output=used -k "$T/small" | tail -n 1)" -lt 1024
check "it reads as zeros (at 0, 5 GiB and the end)" \
	bash -c "for o in 0 5120 10239; do dd if='$T/sm/big' bs=1M skip=\$o count=1 status=none | cmp -s - <(head -c 1048576 /dev/zero) || exit 1; done"
echo middle >"$T/mid"
check "a write into the middle reads back" \
	bash -c "dd if='$T/mid' of='$T/sm/big' bs=1 seek=$((5 << 30)) conv=notrunc status=none && test \"\$(dd if='$T/sm/big' bs=1 skip=$((5 << 30)) count=6 status=none)\" = middle"
check "a write past the end leaves a hole too" \
	bash -c "echo end | dd of='$T/sm/big' bs=1 seek=$((20 << 30)) conv=notrunc status=none && test \"\$(tail -c 4 '$T/sm/big')\" = end"
check "shrinking and growing again reads zeros where data was" \
	bash -c "truncate -s 4096 '$T/sm/big' && truncate -s 1G '$T/sm/big' && dd if='$T/sm/big' bs=1 skip=$((5 << 20)) count=6 status=none | cmp -s - <(head -c 6 /dev/zero)"
echo data >"$T/sm/sp" && truncate -s 100M "$T/sm/sp"
dd if="$T/mid" of="$T/sm/sp" bs=4096 seek=1000 conv=notrunc status=none
SP=$(find "$T/small/c" -inum "$(stat -c %i "$T/sm/sp")")
# Punch hole and SEEK_DATA/SEEK_HOLE: whole blocks become a hole, edges
# zeros, the size stays.
head -c $((64 * 4096)) /dev/urandom >"$T/ph.ref"
cp "$T/ph.ref" "$T/sm/ph"
check "fallocate --punch-hole in the middle of a file" \
	fallocate -p -o $((10 * 4096 + 100)) -l $((20 * 4096)) "$T/sm/ph"
dd if=/dev/zero of="$T/ph.ref" bs=1 seek=$((10 * 4096 + 100)) count=$((20 * 4096)) \
	conv=notrunc status=none
check "it reads as the same file with that range zeroed" cmp "$T/ph.ref" "$T/sm/ph"
check "its size is unchanged" test "$(stat -c %s "$T/sm/ph")" -eq $((64 * 4096))
seek() { /usr/bin/python3 -c "import os,sys; f=os.open(sys.argv[1],os.O_RDONLY); print(os.lseek(f,int(sys.argv[2]),getattr(os,'SEEK_'+sys.argv[3])))" "$@"; }
check "SEEK_HOLE from 0 finds the first whole block punched" \
	test "$(seek "$T/sm/ph" 0 HOLE)" -eq $((11 * 4096))
check "SEEK_DATA from there finds the block after the hole" \
	test "$(seek "$T/sm/ph" $((11 * 4096)) DATA)" -eq $((30 * 4096))
check "SEEK_HOLE in data past the hole finds the end of the file" \
	test "$(seek "$T/sm/ph" $((40 * 4096)) HOLE)" -eq $((64 * 4096))
check "SEEK_DATA in the 10 GiB file's hole finds the data written in it" \
	test "$(seek "$T/sm/sp" 8192 DATA)" -eq $((1000 * 4096))
# A state with all 28 holes listed, and a truncate into the middle of the
# last one: the hole must not split (no room) and fill its tail with
# zeros past the new end. Applied to a plain file alike, for reference.
fullstate() {
	/usr/bin/python3 - "$1" <<'EOF'
import os, sys
f = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
for k in range(28):
    os.pwrite(f, b"x%d" % k, 3 * k * 4096)
os.pwrite(f, b"last", 181 * 4096)
os.fsync(f)  # the daemon sees the writes before the truncate
os.ftruncate(f, 130 * 4096 + 100)
os.close(f)
EOF
}
fullstate "$T/full.ref"
check "truncate into a hole of a full state" fullstate "$T/sm/full"
check "gives the size asked for" \
	test "$(stat -c %s "$T/sm/full")" -eq $((130 * 4096 + 100))
check "and the content of a plain file" cmp "$T/full.ref" "$T/sm/full"
# fallocate reserves what it promises: more than the disk holds is ENOSPC
# with nothing changed; what fits is taken from the backing disk at once,
# though the file reads as zeros (a hole in its state).
used() { df --output=used -k "$T/small" | tail -n 1; }
check "fallocate of more than the disk holds: ENOSPC" \
	bash -c "fallocate -l 200M '$T/sm/fa' 2>&1 | grep -q 'No space left'"
check "and the file is unchanged" test "$(stat -c %s "$T/sm/fa")" -eq 0
U0=$(used)
check "fallocate of 20 MB" fallocate -l 20M "$T/sm/fa"
check "takes 20 MB of the backing disk at once" test $(($(used) - U0)) -ge 20000
check "and reads as zeros" cmp -s "$T/sm/fa" <(head -c $((20 << 20)) /dev/zero)
umount_wait "$T/sm"
check "fsck --deep: the sparse volume is clean" \
	"$HSMFS_TEST" fsck --deep "$T/small/c"
# An attacker zeroes block 1000 (data written into the hole) with its
# record: the state no longer lists it as a hole, so it is refused.
dd if=/dev/zero of="$SP" bs=1 seek="$(blk_data 1000)" count=4096 conv=notrunc status=none
dd if=/dev/zero of="$SP" bs=1 seek="$(blk_rec 1000)" count=28 conv=notrunc status=none
mount_fg "$T/small/c" "$T/sm" || { bad "remount on tmpfs"; finish; }
check "a zeroed block that was written into a hole gives EIO" \
	bash -c "! dd if='$T/sm/sp' bs=4096 skip=1000 count=1 of=/dev/null status=none 2>/dev/null"
check "the holes around it still read as zeros" \
	bash -c "dd if='$T/sm/sp' bs=4096 skip=2000 count=10 status=none | cmp -s - <(head -c 40960 /dev/zero)"
umount_wait "$T/sm"
umount "$T/small"

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
