#!/usr/bin/env bash
# Backing paths longer than PATH_MAX (4096 bytes): a chain of 120
# directories of 8-byte names, whose backing path is some 5,300 bytes
# (each backing name is 43 bytes). hsmfs's own tools reach every entry
# from its parent directory: rekey rewraps the deepest file and --check
# counts it, rekey --data re-encrypts it, fsck checks its blocks, xattrs
# and symlink and names it in full, inspect reads it by its long path.
# Where a tool cannot go on (no descriptor left for the next level), it
# says so and fails: --check cannot tell, rekey fails, fsck reports it.
# And the control socket: hsmfs path gets a long answer whole, and the
# daemon refuses a request longer than it reads rather than answer for
# the part it read.
. "$(dirname "$0")/lib.sh"

emu_kek_suite
R() { "$HSMFS" rekey -q -o "$O" "$@"; }
# deep OP PATH [ARG]: what the shell cannot do on a path the kernel
# refuses whole, done one name at a time (python's dir_fd).
deep() { python3 "$T/deep.py" "$@"; }
cat >"$T/deep.py" <<'EOF'
import os, sys

def parent(path):
    names = [n for n in path.split('/') if n]
    fd = os.open('/' if path.startswith('/') else '.', os.O_RDONLY | os.O_DIRECTORY)
    for n in names[:-1]:
        nfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return fd, names[-1]

def ask(mnt, req):  # one request on the daemon's control socket (mnt.h)
    import hashlib, socket
    run = os.environ.get('HSMFS_RUN_DIR') or (
        '/run/hsmfs' if os.geteuid() == 0 else
        os.environ['XDG_RUNTIME_DIR'] + '/hsmfs')
    h = hashlib.sha256(os.path.realpath(mnt).encode()).hexdigest()[:16]
    s = socket.socket(socket.AF_UNIX)
    s.connect('%s/%s.sock' % (run, h))
    s.sendall(req.encode())
    s.shutdown(socket.SHUT_WR)
    out = b''
    try:  # a daemon that did not read all of it resets the connection
        while (b := s.recv(4096)):
            out += b
    except ConnectionResetError:
        pass
    print(out.decode())

op, path = sys.argv[1], sys.argv[2]
if op == 'ask':  # ask MOUNTPOINT REQUEST
    ask(path, sys.argv[3])
    sys.exit(0)
d, name = parent(path)
if op == 'flip':  # flip OFFSET: one byte of the file
    fd = os.open(name, os.O_RDWR, dir_fd=d)
    off = int(sys.argv[3])
    b = os.pread(fd, 1, off)
    os.pwrite(fd, bytes([b[0] ^ 1]), off)
elif op == 'xflip':  # one byte of the file's first user xattr's value
    fd = os.open(name, os.O_RDONLY, dir_fd=d)
    x = [n for n in os.listxattr(fd) if n.startswith('user.')][0]
    v = bytearray(os.getxattr(fd, x))
    v[len(v) // 2] ^= 1
    os.setxattr(fd, x, bytes(v))
elif op == 'readlink':
    print(os.readlink(name, dir_fd=d))
elif op == 'relink':  # relink TARGET: the symlink points there instead
    os.unlink(name, dir_fd=d)
    os.symlink(sys.argv[3], name, dir_fd=d)
EOF

check "init" bash -c "'$HSMFS' init --kek '$KEK' -o '$O' '$C' >/dev/null"
check "mount" mount_hsm "$C" "$M" -o "$O"
CHAIN=$(printf 'level%03d/' $(seq 1 120))
mkdir -p "$M/$CHAIN"
head -c 20000 /dev/urandom >"$M/${CHAIN}deepest"
setfattr -n user.tag -v deep "$M/${CHAIN}deepest"
ln -s deepest "$M/${CHAIN}link"
echo middle >"$M/$(printf 'level%03d/' $(seq 1 60))middle"
echo top >"$M/top"
sync
ino=$(stat -c %i "$M/${CHAIN}deepest")
manifest "$M" >"$T/man0"
DEEP=$(find "$C" -type f -inum "$ino")
REL=${DEEP#"$C"/}
LINK=$(find "$C" -type l)
longest=$(find "$C" | awk '{ print length }' | sort -n | tail -n 1)
echo "# deepest backing path: ${#REL} bytes from the volume root, plaintext $((${#CHAIN} + 7))"
check "backing paths pass 4096 bytes ($longest)" test "$longest" -gt 4096

# 1. A rotation: the deepest file counts, is rewrapped, reads without
# the old version.
V1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["volume_key"]["kid"])' "$C/hsmfs.conf")
check "inspect reads the deepest file by its whole path" \
	bash -c "'$HSMFS' inspect '$DEEP' >'$T/insp0' && grep -q 'plaintext size:  20000' '$T/insp0'"
emu_ctl "$E" key rotate fskek >/dev/null
R --check "$C" >"$T/check1"
rc=$?
check "--check before the rekey: exit 1, the old version in all 3 files" \
	bash -c "test $rc -eq 1 && grep -Eq '^  old +3 files' '$T/check1'" ||
	cut -c 1-300 "$T/check1"
check "rekey (mounted, 4 workers): 3 rewrapped, none gone, 0 failed" \
	bash -c "'$HSMFS' rekey -q --jobs 4 -o '$O' '$C' >'$T/rk1' 2>&1 && grep -q 'rewrapped 3, .* gone 0, failed 0' '$T/rk1'" ||
	cut -c 1-300 "$T/rk1"
"$HSMFS" inspect "$DEEP" >"$T/insp1"
check "inspect: the deepest file's slot names the new version" \
	bash -c "test -n '$V1' && grep -q 'kid:' '$T/insp1' && ! grep -qF '$V1' '$T/insp1'"
R --check "$C" >"$T/check2"
rc=$?
check "--check after: exit 0, the current version in all 3 files" \
	bash -c "test $rc -eq 0 && grep -Eq '^  current +3 files' '$T/check2' && grep -q 'only the current KEK version is needed' '$T/check2'" ||
	cut -c 1-300 "$T/check2"
emu_ctl "$E" key set fskek --version "${V1##*/}" --enabled false >/dev/null
umount_wait "$M"
mount_hsm "$C" "$M" -o "$O"
manifest "$M" >"$T/man1"
check "with the old version disabled every file reads back" diff -u "$T/man0" "$T/man1"
umount_wait "$M"

# 2. Out of descriptors for the walk's levels: said, never "gone".
check "--check out of descriptors: exit 8, cannot tell" \
	bash -c "(ulimit -n 40; '$HSMFS' rekey --check -o '$O' '$C') >'$T/check3' 2>&1; rc=\$?; test \$rc -eq 8 && grep -q 'Too many open files' '$T/check3' && ! grep -q 'only the current' '$T/check3'" ||
	cut -c 1-300 "$T/check3"
check "rekey out of descriptors: exit 1, names what it could not reach" \
	bash -c "(ulimit -n 40; '$HSMFS' rekey -q -o '$O' '$C') >'$T/rk2' 2>&1; rc=\$?; test \$rc -eq 1 && grep -q 'FAILED.*Too many open files' '$T/rk2'" ||
	cut -c 1-300 "$T/rk2"
check "fsck out of descriptors: a problem, exit 1" \
	bash -c "(ulimit -n 40; '$HSMFS' fsck -o '$O' '$C') >'$T/fsck0' 2>&1; test \$? -eq 1 && grep -q 'Too many open files' '$T/fsck0'" ||
	cut -c 1-300 "$T/fsck0"

# 3. rekey --data on the deepest file.
fp0=$(sed -n 's/.*sha256 //p' "$T/insp1" | head -n 1)
check "rekey --data on the deepest file" \
	bash -c "'$HSMFS' rekey --data -o '$O' '$C' '/${CHAIN}deepest' >'$T/rd' 2>&1 && grep -q 'rekeyed 1 (1 names).*failed 0' '$T/rd'" ||
	cut -c 1-300 "$T/rd"
"$HSMFS" inspect "$DEEP" >"$T/insp2"
check "it has a new key" bash -c "test -n '$fp0' && grep -q sha256 '$T/insp2' && ! grep -q '$fp0' '$T/insp2'"
mount_hsm "$C" "$M" -o "$O"
manifest "$M" >"$T/man2"
check "and reads back, its xattr with it" diff -u "$T/man0" "$T/man2"
umount_wait "$M"

# 4. fsck: clean, then each corruption of the deepest entries found and
# named by its whole backing path.
check "fsck --deep: clean, every file and the symlink seen" \
	bash -c "'$HSMFS' fsck --deep -o '$O' '$C' >'$T/fsck1' 2>&1 && grep -q '3 files, 120 directories, 1 symlinks.*: 0 problems' '$T/fsck1'" ||
	cut -c 1-300 "$T/fsck1"
# expect NAME WHAT: fsck --deep exits 1 with a line naming the deepest
# file's whole backing path and WHAT.
expect() {
	local rc=0
	"$HSMFS" fsck --deep -o "$O" "$C" >"$T/out" 2>&1 || rc=$?
	if ((rc == 1)) && grep -F "$2" "$T/out" | grep -qF "$C/$3 ("; then
		ok "$1"
	else
		bad "$1 (exit $rc)"
		cut -c 1-300 "$T/out"
	fi
}
deep flip "$DEEP" $(($(blk_data 2) + 7))
expect "fsck --deep: a flipped ciphertext byte of the deepest file" "block 2" "$REL"
deep flip "$DEEP" $(($(blk_data 2) + 7))
deep xflip "$DEEP"
expect "fsck: a flipped xattr byte of the deepest file" "xattr" "$REL"
deep xflip "$DEEP"
target=$(deep readlink "$LINK")
last=A
[[ ${target: -1} == A ]] && last=B
deep relink "$LINK" "${target:0:-1}$last"
expect "fsck: a changed target of the deepest symlink" "symlink target" "${LINK#"$C"/}"
deep relink "$LINK" "$target"
check "fsck --deep: clean again" "$HSMFS" fsck --deep -o "$O" "$C"

# 5. hsmfs path asks the daemon: an answer naming a long backing directory
# and a backing path of nearly 4096 bytes comes back whole.
LD=$T/$(printf 'w%.0s' $(seq 1 200))/$(printf 'x%.0s' $(seq 1 200))/$(printf 'y%.0s' $(seq 1 200))/$(printf 'z%.0s' $(seq 1 200))
mkdir -p "$LD"
C2=$LD/c
M2=$T/m2
"$HSMFS" init --kek "$KEK" -o "$O" "$C2" >/dev/null
mount_hsm "$C2" "$M2" -o "$O"
CHAIN2=$(printf 'level%03d/' $(seq 1 89))
mkdir -p "$M2/$CHAIN2" && echo x >"$M2/${CHAIN2}f"
F2=$(find "$C2" -type f ! -name 'hsmfs.*')
echo "# hsmfs path: ${#F2} bytes"
check "hsmfs path: the whole backing path, past 4608 bytes with its directory" \
	bash -c "test \"\$('$HSMFS' path '$M2' '/${CHAIN2}f')\" = '$F2'"
# A request longer than the daemon reads is refused whole, not answered
# for the part of it that was read.
req="plain-path $(printf 'x/%.0s' $(seq 1 2100))"
check "a path request too long for the daemon: refused as such" \
	bash -c "python3 '$T/deep.py' ask '$M2' '$req' | grep -q 'request too long'"
umount_wait "$M2"
finish
