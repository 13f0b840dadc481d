#!/usr/bin/env bash
# A full or size-limited backing file system. Writers get its errno
# (ENOSPC, EFBIG), never EIO, with and without the write-back cache; each
# file is left as its acknowledged writes made it: fsynced files read back
# exactly, a file that was being written holds its acknowledged bytes and
# nothing after them, and `fsck --deep` finds no bad block, also after a
# remount. A writer that never syncs is stopped within the mount's dirty
# page limit and the daemon goes idle. Sizes past what the backing file
# system holds are EFBIG (ext4 on a loop device, when there is one); a
# size it may hold but has no room for is ENOSPC in format 2 and a hole in
# format 3; nothing is written either way. Xattrs
# get the backing fs's ENOSPC and E2BIG, and ENOSPC before a backing list
# of names too long for listxattr would make them all unreadable.
# The volumes are of $HSMFS_TEST_FORMAT (default 3), and of format 2.
. "$(dirname "$0")/lib.sh"
[[ -d ${T:-} ]] || exit 1 # every mount below goes under $T

testkek k
MiB=1048576
FORMATS=("${HSMFS_TEST_FORMAT:-3}")
[[ ${FORMATS[0]} != 2 ]] && FORMATS+=(2)
FORMAT=${FORMATS[0]}
# Python as Debian has it: a version manager's shim takes a second to start.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

# backing NAME MIB: a tmpfs of MIB MiB at $T/NAME, holding a volume of
# format FORMAT at $T/NAME/c.
backing() {
	mkdir -p "$T/$1" && mount -t tmpfs -o "size=$2M" tmpfs "$T/$1" &&
		vol_init --format "$FORMAT" "$T/$1/c" >/dev/null
}

# up NAME [OPTS...]: mounts $T/NAME/c on $T/m.NAME; DPID is the daemon.
up() {
	local n=$1
	shift
	mount_fg "$T/$n/c" "$T/m.$n" "$@" || return 1
	DPID=${PIDS[-1]}
}

# down NAME: unmounts and waits for the daemon to let go of the backing.
down() {
	umount_wait "$T/m.$1"
	wait "$DPID" 2>/dev/null
}

# bfile NAME FILE: the backing file of FILE in the mount of NAME.
bfile() {
	find "$T/$1/c" -inum "$(stat -c %i "$T/m.$1/$2")" | head -n 1
}

# avail NAME: the bytes the backing fs has free.
avail() { sync -f "$T/$1"; df -B1 --output=avail "$T/$1" | tail -n 1; }

fsck_clean() { "$HSMFS_TEST" fsck --deep "$T/$1/c" >"$T/fsck.out" 2>&1; }

# The writer: writes $T/stream to FILE in chunks of CHUNK bytes, fsyncing
# each, until an error; prints the errno and the bytes acknowledged by
# write() and by fsync.
head -c $((32 * MiB)) /dev/urandom >"$T/stream"
writer() {
	"$PY" - "$T/stream" "$1" "$2" <<'EOF'
import os, sys
data = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
chunk, written, synced, err = int(sys.argv[3]), 0, 0, 0
try:
    while written + chunk <= len(data):
        written += os.write(fd, data[written:written + chunk])
        os.fsync(fd)
        synced = written
except OSError as e:
    err = e.errno
try:
    os.close(fd)
except OSError:
    pass
print(err, written, synced)
EOF
}

# holds FILE LO HI: FILE is the stream's first LO to HI bytes.
holds() {
	local n
	n=$(stat -c %s "$1")
	if ((n < $2 || n > $3)); then
		echo "$1: $n bytes, not $2 to $3" >&2
		return 1
	fi
	cmp -n "$n" "$1" "$T/stream"
}

# fill NAME OPTS: fsynced files, then a writer until the backing fs is
# full; checks what each left behind, before and after a remount.
fill() {
	local n=$1 opts=$2 what="format $FORMAT${2:+, $2}" err written synced
	backing "$n" 12 && up "$n" ${opts:+-o "$opts"} || { bad "$what: mount"; return; }
	for i in 1 2 3; do
		head -c $((i * 300000 + 17)) /dev/urandom >"$T/ref$i"
		dd if="$T/ref$i" of="$T/m.$n/kept$i" bs=64k conv=fsync status=none
	done
	read -r err written synced < <(writer "$T/m.$n/big" 100000)
	check "$what: the writer gets ENOSPC, not EIO ($err)" test "$err" = 28
	check "$what: some of its writes were acknowledged" test "$synced" -gt 0
	if [[ $opts == *no_writeback* ]]; then
		check "$what: the file holds exactly the acknowledged bytes" \
			holds "$T/m.$n/big" "$synced" "$synced"
	fi
	down "$n"
	check "$what: fsck --deep finds nothing" fsck_clean "$n"
	up "$n" ${opts:+-o "$opts"} || { bad "$what: remount"; return; }
	# With the write-back cache, write() acknowledges data that fsync
	# may then fail to store: anything from the fsynced bytes to the
	# written ones, as long as it is what was written.
	check "$what: after a remount, the acknowledged bytes and no others" \
		holds "$T/m.$n/big" "$synced" "$written"
	for i in 1 2 3; do
		check "$what: fsynced file $i reads back exactly" \
			cmp "$T/ref$i" "$T/m.$n/kept$i"
	done
	check "$what: no write failed with EIO" \
		bash -c "! grep -q 'Input/output' '$T/m.$n.log'"
	down "$n"
	check "$what: fsck --deep after the remount" fsck_clean "$n"
}

# nosync NAME OPTS: dd without fsync into a full backing fs.
nosync() {
	local n=$1 opts=$2 what="format $FORMAT${2:+, $2}" rc dev lim
	local kernel stored c0 c1
	backing "$n" 8 && up "$n" ${opts:+-o "$opts"} || { bad "$what: mount"; return; }
	dev=$(mountpoint -d "$T/m.$n")
	timeout 60 dd if=/dev/zero of="$T/m.$n/dd" bs=1M 2>"$T/dd.err"
	rc=$?
	check "$what: dd without fsync stops (not by timeout)" test "$rc" = 1
	check "$what: ... with ENOSPC" grep -q "No space left on device" "$T/dd.err"
	c0=$(awk '{print $14 + $15}' "/proc/$DPID/stat")
	sleep 0.5
	c1=$(awk '{print $14 + $15}' "/proc/$DPID/stat")
	check "$what: the daemon is idle afterwards ($((c1 - c0)) ticks in 0.5 s)" \
		test $((c1 - c0)) -lt 10
	kernel=$(stat -c %s "$T/m.$n/dd")
	down "$n"
	check "$what: fsck --deep finds nothing" fsck_clean "$n"
	up "$n" ${opts:+-o "$opts"} || { bad "$what: remount"; return; }
	stored=$(stat -c %s "$T/m.$n/dd")
	check "$what: what is stored reads back" \
		bash -c "cmp -n $stored '$T/m.$n/dd' /dev/zero"
	# The kernel takes cached writes up to the mount's share of dirty
	# pages (strict per-FUSE-mount limit); the first write after a
	# failed write-back is refused.
	lim=$(cat "/sys/class/bdi/$dev/max_bytes" 2>/dev/null || echo $((256 * MiB)))
	check "$what: cached past what fit: $(((kernel - stored) / MiB)) MiB, at most the mount's dirty limit ($((lim / MiB)) MiB)" \
		test $((kernel - stored)) -le $((lim + MiB))
	down "$n"
}

for FORMAT in "${FORMATS[@]}"; do
	fill "f${FORMAT}wb" ""
	fill "f${FORMAT}nw" no_writeback
	nosync "n${FORMAT}wb" ""
done
FORMAT=${FORMATS[0]}
nosync nnw no_writeback

# try FILE OP ARG: the errno of one call (0: it worked). The file is cut
# back to 10000 bytes after it, so that each starts from the same file:
# also after a cached write that failed, whose size the kernel would show
# until it forgets the file.
try() {
	"$PY" - "$@" <<'EOF'
import os, sys
f, op, arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(f, os.O_WRONLY)
try:
    if op == "truncate":
        os.ftruncate(fd, arg)
    elif op == "pwrite":
        os.pwrite(fd, b"x" * 100, arg)
        os.fsync(fd)
    else:
        os.posix_fallocate(fd, 0, arg)
    print(0)
except OSError as e:
    print(e.errno)
os.ftruncate(fd, 10000)
EOF
}

# huge NAME OPTS FS: sizes far past what the backing fs holds. Past its
# largest file (ext4: 16 TiB) a truncate or pwrite is EFBIG at once; a
# size it may hold but has no room for is ENOSPC in format 2, which must
# store every byte, and costs nothing in format 3, where the gap is a
# hole; fallocate is ENOSPC in both (it reserves the whole range). With
# the write-back cache the pwrite is cached and its fsync fails. Nothing
# changes the file or the backing fs's free space.
huge() {
	local n=$1 opts=$2 what="$1${2:+, $2}" b size0 free0 big mid
	mid=0
	((FORMAT == 2)) && mid=28
	big=$mid
	[[ $3 == ext4 ]] && big=27
	up "$n" ${opts:+-o "$opts"} || { bad "$what: mount"; return; }
	head -c 10000 /dev/urandom >"$T/m.$n/f"
	cp "$T/m.$n/f" "$T/ref"
	sync "$T/m.$n/f"
	b=$(bfile "$n" f)
	size0=$(stat -c %s "$b")
	free0=$(avail "$n")
	check "$what: truncate -s 999999999999999: errno $big" \
		test "$(try "$T/m.$n/f" truncate 999999999999999)" = $big
	check "$what: truncate to 4 EiB and more: EFBIG" \
		test "$(try "$T/m.$n/f" truncate $(((1 << 62) + 1)))" = 27
	check "$what: pwrite at 16 TiB (or its fsync): errno $big" \
		test "$(try "$T/m.$n/f" pwrite $((16 << 40)))" = $big
	check "$what: truncate to 100 MiB: errno $mid" \
		test "$(try "$T/m.$n/f" truncate $((100 * MiB)))" = $mid
	check "$what: fallocate of 100 MiB: ENOSPC" \
		test "$(try "$T/m.$n/f" fallocate $((100 * MiB)))" = 28
	check "$what: the backing file is as it was" test "$(stat -c %s "$b")" = "$size0"
	check "$what: so is the free space (within a page)" \
		test $(($(avail "$n") - free0)) -le 4096 -a $((free0 - $(avail "$n"))) -le 4096
	down "$n"
	up "$n" ${opts:+-o "$opts"} || { bad "$what: remount"; return; }
	check "$what: the file reads as before" cmp "$T/ref" "$T/m.$n/f"
	down "$n"
	check "$what: fsck --deep finds nothing" fsck_clean "$n"
}

for FORMAT in "${FORMATS[@]}"; do
	backing "t$FORMAT" 16 || bad "tmpfs"
	huge "t$FORMAT" no_writeback tmpfs
	huge "t$FORMAT" "" tmpfs
done
FORMAT=${FORMATS[0]}

# ext4 allows files of 16 TiB at most (4 KiB blocks).
mkdir -p "$T/ext4"
if truncate -s 48M "$T/ext4.img" && mkfs.ext4 -q -F -b 4096 "$T/ext4.img" &&
	mount -o loop "$T/ext4.img" "$T/ext4" 2>/dev/null; then
	vol_init "$T/ext4/c" >/dev/null
	huge ext4 no_writeback ext4
	huge ext4 "" ext4
	EXT4=1
else
	echo "ok - # SKIP ext4 on a loop device: none here"
	EXT4=
fi

# xattrs NAME: the backing fs's own limits and hsmfs's.
xattrs() {
	local n=$1 what="$1 xattrs"
	up "$n" || { bad "$what: mount"; return; }
	echo x >"$T/m.$n/x"
	"$PY" - "$T/m.$n/x" "$n" >"$T/x.out" 2>&1 <<'EOF'
import errno, os, sys
p, fs = sys.argv[1], sys.argv[2]
def err(f):
    try:
        f()
        return 0
    except OSError as e:
        return e.errno
# Names no longer than format 3's backing ones, so that listing them
# stays within 64 KiB too.
def name(i):
    return ("user.k%d" % i).ljust(20, "-")
def say(what, got, want):
    print("%s - %s xattrs: %s (%s)" % ("ok" if got == want else "FAIL", fs,
                                     what, errno.errorcode.get(got, got)))
say("a value over 64 KiB is E2BIG", err(lambda: os.setxattr(p, "user.big", b"v" * 65537)), errno.E2BIG)
say("a value whose backing form passes 64 KiB is E2BIG",
    err(lambda: os.setxattr(p, "user.big", b"v" * 65510)), errno.E2BIG)
if fs == "ext4":
    say("a value larger than an ext4 block is ENOSPC",
        err(lambda: os.setxattr(p, "user.big", b"v" * 5000)), errno.ENOSPC)
e = 0
for i in range(4000):
    e = err(lambda: os.setxattr(p, name(i), b"v" * 100))
    if e:
        break
say("xattrs until there is no room: ENOSPC", e, errno.ENOSPC)
say("... and they all still read", err(lambda: [os.getxattr(p, k) for k in os.listxattr(p)]), 0)
say("... and one is replaced in place", err(lambda: os.setxattr(p, name(0), b"w" * 100)), 0)
say("... and one removed makes room", err(lambda: (os.removexattr(p, name(1)),
                                                    os.setxattr(p, "user.new", b"v" * 100))), 0)
EOF
	cat "$T/x.out"
	PASS=$((PASS + $(grep -c '^ok' "$T/x.out")))
	FAILS=$((FAILS + $(grep -c '^FAIL' "$T/x.out")))
	grep -q '^ok' "$T/x.out" || bad "$what: the checks ran"
	down "$n"
}

for FORMAT in "${FORMATS[@]}"; do
	backing "x$FORMAT" 16 && xattrs "x$FORMAT"
done
FORMAT=${FORMATS[0]}
[[ -n $EXT4 ]] && xattrs ext4
finish
