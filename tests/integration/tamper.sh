#!/usr/bin/env bash
# Any change to a header, block, name, directory IV, symlink target, xattr
# or the config is refused (EIO or a refused mount) with one log line that
# names the backing file, and never read back as wrong plaintext.
. "$(dirname "$0")/lib.sh"

testkek k
"$HSMFS_TEST" init --kek testkek://k ${HSMFS_TEST_WRAP:+--wrap "$HSMFS_TEST_WRAP"} "$T/c" >/dev/null
mount_fg "$T/c" "$T/m" || { bad mount; finish; }
for f in hdr_magic hdr_kid hdr_wrapped hdr_mac hdr_fileid block0 block1 \
	record0 zeroblock swapblocks truncated badsize swaphdr_a swaphdr_b torn; do
	head -c 20000 /dev/urandom >"$T/m/$f"
	cp "$T/m/$f" "$T/ref_$f"
done
mkdir "$T/m/d" "$T/m/ld" "$T/m/ivdir"
# Each damaged name has an intact neighbour: its directory's IV still
# decrypts a name there, so the name is what is refused, not the IV.
echo hello >"$T/m/d/renamed"
echo kept >"$T/m/d/kept"
echo hi >"$T/m/ivdir/inside"
long=$(printf 'L%.0s' $(seq 200))
echo long >"$T/m/ld/$long"
echo kept >"$T/m/ld/kept"
ln -s target "$T/m/link"
echo x >"$T/m/xattr" && setfattr -n user.k -v secretvalue "$T/m/xattr"
umount_wait "$T/m"

# bname PLAINPATH: the backing path of a file, found by its inode number,
# which the mount reports unchanged.
declare -A B
mount_fg "$T/c" "$T/m" || { bad remount; finish; }
for f in hdr_magic hdr_kid hdr_wrapped hdr_mac hdr_fileid block0 block1 \
	record0 zeroblock swapblocks truncated badsize swaphdr_a swaphdr_b xattr link torn; do
	B[$f]=$(find "$T/c" -inum "$(stat -c %i "$T/m/$f")" | head -n 1)
done
B[d]=$(find "$T/c" -inum "$(stat -c %i "$T/m/d")")
B[ld]=$(find "$T/c" -inum "$(stat -c %i "$T/m/ld")")
B[renamed]=$(find "$T/c" -inum "$(stat -c %i "$T/m/d/renamed")")
B[ivdir]=$(find "$T/c" -inum "$(stat -c %i "$T/m/ivdir")")
umount_wait "$T/m"

flip "${B[hdr_magic]}" 0
flip "${B[hdr_fileid]}" 20
flip "${B[hdr_kid]}" 50
flip "${B[hdr_wrapped]}" 300
flip "${B[hdr_mac]}" 830
data() { blk_data "$1"; }
rec() { blk_rec "$1"; }
flip "${B[block0]}" $(($(data 0) + 100))
flip "${B[block1]}" $(($(data 1) + 5))
flip "${B[record0]}" $(($(rec 0) + 20))
dd if=/dev/zero of="${B[zeroblock]}" bs=1 seek="$(data 1)" count=4096 conv=notrunc status=none
# Swap blocks 0 and 1 of one file, each with its nonce and tag.
for b in 0 1; do
	dd if="${B[swapblocks]}" of="$T/b$b" bs=1 skip="$(data $b)" count=4096 status=none
	dd if="${B[swapblocks]}" of="$T/r$b" bs=1 skip="$(rec $b)" count=28 status=none
done
for b in 0 1; do
	dd if="$T/b$((1 - b))" of="${B[swapblocks]}" bs=1 seek="$(data $b)" conv=notrunc status=none
	dd if="$T/r$((1 - b))" of="${B[swapblocks]}" bs=1 seek="$(rec $b)" conv=notrunc status=none
done
truncate -s 1000 "${B[truncated]}"
# A size inside the header page: no valid file ends there.
truncate -s 3000 "${B[badsize]}"
# Swap the headers of two files.
dd if="${B[swaphdr_a]}" of="$T/ha" bs=2048 count=1 status=none
dd if="${B[swaphdr_b]}" of="${B[swaphdr_a]}" bs=2048 count=1 conv=notrunc status=none
dd if="$T/ha" of="${B[swaphdr_b]}" bs=2048 count=1 conv=notrunc status=none
# A changed encrypted name, a changed symlink target, xattr value, IV.
n=${B[renamed]##*/}
c=${n:5:1}
[[ $c == A ]] && r=B || r=A
changed=${n:0:5}$r${n:6}
mv "${B[renamed]}" "${B[d]}/$changed"
t=$(readlink "${B[link]}")
ln -sfn -- "${t:0:10}$([[ ${t:10:1} == A ]] && echo B || echo A)${t:11}" "${B[link]}"
xn=$(getfattr -m user. -d "${B[xattr]}" 2>/dev/null | grep '^user' | cut -d= -f1)
getfattr -n "$xn" --only-values "${B[xattr]}" >"$T/xv" 2>/dev/null
flip "$T/xv" 20
setfattr -n "$xn" -v "0x$(xxd -p "$T/xv" | tr -d '\n')" "${B[xattr]}"
chmod u+w "${B[ivdir]}/hsmfs.diriv"
head -c 16 /dev/urandom >"${B[ivdir]}/hsmfs.diriv"
# A rewrap torn by a power cut: garbage in the spare slot (slot 1).
head -c 700 /dev/urandom | dd of="${B[torn]}" bs=1 seek=$((32 + 1008 + 100)) conv=notrunc status=none
# A long name whose sidecar is gone.
rm -f "${B[ld]}"/hsmfs.longname.*.name

mount_fg "$T/c" "$T/m" || { bad "remount after tampering"; finish; }
L=$T/m.log
for f in hdr_magic hdr_kid hdr_wrapped hdr_mac hdr_fileid block0 block1 \
	record0 zeroblock swapblocks truncated badsize swaphdr_a swaphdr_b; do
	out=$(cat "$T/m/$f" 2>&1 >/dev/null)
	check "$f: read fails with EIO" grep -q "Input/output error" <<<"$out"
	check "$f: one log line names the backing file" \
		test "$(grep -c -F -- "${B[$f]##*/}" "$L")" -ge 1
done
check "a torn spare key slot is set aside: the file reads exactly" \
	cmp -s "$T/m/torn" "$T/ref_torn"
check "block0: the untouched second block still reads" \
	bash -c "dd if='$T/m/block0' bs=4096 skip=1 count=1 status=none | cmp -s - <(dd if='$T/ref_block0' bs=4096 skip=1 count=1 status=none)"
check "a changed name fails its directory's listing with EIO" \
	bash -c "! ls '$T/m/d' 2>&1 | grep -q renamed && ls '$T/m/d' 2>&1 | grep -q 'Input/output error'"
check "and its original name is gone" bash -c "! test -e '$T/m/d/renamed'"
check "the changed name is logged" \
	grep -q -F -- "$changed: name failed authentication" "$L"
check "a long name without its sidecar fails the listing with EIO" \
	bash -c "ls '$T/m/ld' 2>&1 | grep -q 'Input/output error'"
check "and its lookup with EIO, logged" \
	bash -c "stat '$T/m/ld/$long' 2>&1 | grep -q 'Input/output error' && grep -q 'hsmfs.longname.*sidecar' '$L'"
check "a changed symlink target gives EIO" \
	bash -c "readlink '$T/m/link' 2>&1 | grep -q 'Input/output error' || ! readlink '$T/m/link'"
check "a changed xattr value gives EIO" \
	bash -c "getfattr -n user.k '$T/m/xattr' 2>&1 | grep -q 'Input/output error'"
check "a changed directory IV fails the directory's listing with EIO" \
	bash -c "ls '$T/m/ivdir' 2>&1 | grep -q 'Input/output error'"
umount_wait "$T/m"

# The key prefetcher logs what it cannot do, with the cause: a scan in
# directory order reaches a file whose header was damaged ahead of the
# scan's own open of it.
mount_fg "$T/c" "$T/m" || { bad "mount for the scan"; finish; }
mkdir "$T/m/scan"
for i in $(seq 12); do echo "file $i" >"$T/m/scan/f$i"; done
mapfile -t order < <(ls -U "$T/m/scan")
victim=$(find "$T/c" -inum "$(stat -c %i "$T/m/scan/${order[8]}")")
umount_wait "$T/m"
flip "$victim" 0
mount_fg "$T/c" "$T/m" || { bad "mount for the scan"; finish; }
for f in "${order[@]:0:6}"; do cat "$T/m/scan/$f" >/dev/null; done
# The prefetch runs in the background: its log line comes when it does.
logged() {
	for _ in $(seq 100); do
		grep -q "$1" "$T/m.log" && return 0
		sleep 0.1
	done
	return 1
}
if [[ -z ${HSMFS_TEST_WRAP:-} ]]; then
	check "a prefetch that fails is logged with the file and its cause" \
		logged "prefetch: .*${victim##*/}: cannot read the header: "
else
	# Opens cost no HSM call there: nothing to prefetch.
	sleep 0.5
	check "no prefetching where file keys are wrapped locally" \
		bash -c "! grep -q 'prefetch: ' '$T/m.log'"
fi
umount_wait "$T/m"

chmod u+w "$T/c/hsmfs.conf"
sed -i 's/"creator":\t"hsmfs/"creator":\t"hsmfx/' "$T/c/hsmfs.conf"
check "a changed config refuses the mount" \
	bash -c "'$HSMFS_TEST' mount '$T/c' '$T/m' 2>&1 | grep -q 'failed authentication'"

# The same on a volume whose file keys are wrapped locally (volume mode):
# its own run, its checks named so and counted here.
if [[ -z ${HSMFS_TEST_WRAP:-} && ${HSMFS_TEST_FORMAT:-3} == 3 ]]; then
	HSMFS_TEST_WRAP=volume bash "$0" >"$T/wrap.out" 2>&1
	sed -E 's/^(ok|FAIL) - /\1 - volume mode: /' "$T/wrap.out" | grep -v ' passed, '
	read -r p f <<<"$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$T/wrap.out" | tail -n 1)"
	if [[ -n ${p:-} ]]; then
		PASS=$((PASS + p)) FAILS=$((FAILS + f))
	else
		bad "volume mode: the run ended without its count"
	fi
fi
finish
