#!/usr/bin/env bash
# One daemon per volume, and a mount point that is safe to mount on: the
# lock in the backing root (one read-write mount, or read-only ones, on
# any host; rekey --data takes it too), released however the daemon
# exits; and the mount point checks (a directory, empty unless nonempty,
# not already an hsmfs mount, not a dead mount).
. "$(dirname "$0")/lib.sh"

testkek k
H=$HSMFS_TEST
C=$T/c
"$H" init --kek testkek://k "$C" >/dev/null
"$H" init --kek testkek://k "$T/c2" >/dev/null
mkdir -p "$T/m1" "$T/m2" "$T/m3"

# refused WHAT PATTERN CMD...: CMD fails, saying PATTERN, mounting nothing
# new under $T.
refused() {
	local name=$1 pat=$2 out n
	shift 2
	n=$(findmnt -rn -o TARGET | grep -cF "$T/")
	if out=$("$@" 2>&1); then
		bad "$name (it succeeded)"
	elif ! grep -qE -- "$pat" <<<"$out"; then
		bad "$name (said: $out)"
	elif [[ $(findmnt -rn -o TARGET | grep -cF "$T/") != "$n" ]]; then
		bad "$name (something was mounted)"
	else
		ok "$name"
	fi
}

# The volume mounted read-write, then every other claim on it.
"$H" mount "$C" "$T/m1"
check "a read-write mount holds hsmfs.lock, naming itself" \
	grep -q "^mounted read-write on $T/m1 by pid [0-9]* on $(hostname)\$" "$C/hsmfs.lock"
refused "a second mount of the volume is refused, naming the holder" \
	"$C is in use: mounted read-write on $T/m1 by pid [0-9]+ on " \
	"$H" mount "$C" "$T/m2"
refused "so is a read-only one while it is mounted read-write" \
	"is in use: mounted read-write on $T/m1" \
	"$H" mount -o ro "$C" "$T/m2"
refused "a second mount stacked on the mount point is refused" \
	"$T/m1 is already an hsmfs mount of $C" \
	"$H" mount "$T/c2" "$T/m1"
refused "the same volume stacked on its own mount point too" \
	"already an hsmfs mount" "$H" mount "$C" "$T/m1"
refused "rekey --data is refused while mounted" "mounted on $T/m1" \
	"$H" rekey --data "$C"
check "the lock file is not listed in the mount" \
	bash -c "echo x >'$T/m1/f' && test \"\$(ls -A '$T/m1')\" = f"
"$H" umount "$T/m1"
check "fsck reports nothing of the lock file" \
	bash -c "'$H' fsck '$C' >'$T/fsck.out' 2>&1 && ! grep -q hsmfs.lock '$T/fsck.out' || { cat '$T/fsck.out'; false; }"

# With plaintext names the lock file is the volume's, like hsmfs.conf.
"$H" init --plaintext-names --kek testkek://k "$T/pt" >/dev/null
"$H" mount "$T/pt" "$T/m3"
check "plaintext names: the lock file is neither listed nor creatable" \
	bash -c "test -f '$T/pt/hsmfs.lock' && test -z \"\$(ls -A '$T/m3')\" && ! touch '$T/m3/hsmfs.lock' 2>/dev/null"
"$H" umount "$T/m3"

# Mount points.
touch "$T/file"
refused "a mount onto a regular file is refused" "$T/file is not a directory" \
	"$H" mount "$C" "$T/file"
mkdir -p "$T/full" && echo keep >"$T/full/mine"
refused "a mount onto a non-empty directory is refused" \
	"$T/full is not empty .*-o nonempty" "$H" mount "$C" "$T/full"
check "-o nonempty mounts over it" \
	bash -c "'$H' mount -o nonempty '$C' '$T/full' && test -f '$T/full/f' && '$H' umount '$T/full' && test -f '$T/full/mine'"
refused "a missing mount point is refused" "$T/nope: No such file" \
	"$H" mount "$C" "$T/nope"

# Read-only mounts share the lock, and exclude writers.
check "two read-only mounts of the volume together" \
	bash -c "'$H' mount -o ro '$C' '$T/m1' && '$H' mount -o ro '$C' '$T/m2' && cat '$T/m2/f' >/dev/null"
refused "a read-write mount is refused while read-only ones are" \
	"$C is in use: mounted read-only on $T/m[12] by pid" \
	"$H" mount "$C" "$T/m3"
refused "rekey --data is refused while mounted read-only" "is in use|mounted on" \
	"$H" rekey --data "$C"
"$H" umount "$T/m1"
"$H" umount "$T/m2"

# Another host (or anything outside the local mount table) holding the
# lock: flock(1) on the file, as an NFS client's daemon would be seen.
flock -x -o "$C/hsmfs.lock" sleep 30 &
PIDS+=($!)
holder=$!
for _ in $(seq 100); do
	flock -n -s "$C/hsmfs.lock" true || break
	sleep 0.02
done
refused "rekey --data is refused when the lock is held elsewhere" \
	"$C is in use" "$H" rekey --data "$C"
refused "and so is a mount" "$C is in use" "$H" mount "$C" "$T/m1"
kill "$holder"
wait "$holder" 2>/dev/null
check "rekey --data runs once the lock is free" \
	bash -c "'$H' rekey --data '$C' >/dev/null 2>&1"

# Two mounts racing for one volume: exactly one wins.
"$H" mount "$C" "$T/m1" 2>"$T/race1" &
r1=$!
"$H" mount "$C" "$T/m2" 2>"$T/race2" &
r2=$!
wait $r1
s1=$?
wait $r2
s2=$?
up=0
for m in m1 m2; do
	mountpoint -q "$T/$m" && up=$((up + 1))
done
check "two racing mounts of one volume: exactly one succeeds" \
	test "$up:$((s1 == 0)):$((s2 == 0))" = "1:1:0" -o \
	"$up:$((s1 == 0)):$((s2 == 0))" = "1:0:1"
check "the loser names the winner" \
	bash -c "cat '$T/race1' '$T/race2' | grep -q 'is in use: mounted read-write'"
mountpoint -q "$T/m1" && "$H" umount "$T/m1"
mountpoint -q "$T/m2" && "$H" umount "$T/m2"

# kill -9: the lock goes with the daemon; the dead mount point says what
# to do, and hsmfs umount clears it.
mount_fg "$C" "$T/m1"
pid=${PIDS[-1]}
# A file still open in the dead mount: a plain unmount would be EBUSY.
exec 9<"$T/m1/f"
kill -9 "$pid"
wait "$pid" 2>/dev/null
refused "a dead mount point says to run hsmfs umount" \
	"$T/m1 is a dead mount .*hsmfs umount $T/m1" "$H" mount "$C" "$T/m1"
check "the volume mounts elsewhere at once (the lock went with the daemon)" \
	bash -c "'$H' mount '$C' '$T/m2' && '$H' umount '$T/m2'"
check "hsmfs umount clears the dead mount point, a file open in it" \
	bash -c "'$H' umount '$T/m1' && ! mountpoint -q '$T/m1'"
exec 9<&-
check "and the volume mounts there again" \
	bash -c "'$H' mount '$C' '$T/m1' && test -f '$T/m1/f' && '$H' umount '$T/m1'"

finish
