#!/usr/bin/env bash
# Differential torture: build/tests/torture applies the same seeded random
# operations to a fresh hsmfs volume and to a plain directory on the
# backing file system, comparing every result and, every 1000 operations
# and at the end, the whole trees (tests/torture/torture.c).
#
# The seed is random and printed: each CI run explores new sequences, and
# any failure replays exactly with TORTURE_SEED=<seed> (same ops, threads).
#   TORTURE_OPS=N    operations of the main run (default 100000, 4 threads);
#                    the plaintext-names and no_writeback runs do N/4.
#                    A long run: TORTURE_OPS=5000000 tests/integration/torture.sh
#   TORTURE_SEED=S   replay
#   TORTURE_JOBS=J   threads (default 4)
#   HSMFS_TEST_FORMAT=N  the default-format volumes in format N
. "$(dirname "$0")/lib.sh"

TORTURE=$ROOT/$B/tests/torture
if [[ ! -x $TORTURE ]]; then
	make -s -C "$ROOT" -f Makefile -f tests/torture/module.mk "$B/tests/torture" >&2 ||
		{ bad "build torture"; finish; }
fi
# Private copies: other work may rebuild build/ while this runs.
cp "$HSMFS_TEST" "$TORTURE" "$T/" || { bad "copy binaries"; finish; }
HSMFS_TEST=$T/hsmfs-test
TORTURE=$T/torture

OPS=${TORTURE_OPS:-100000}
JOBS=${TORTURE_JOBS:-4}
SEED=${TORTURE_SEED:-0x$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')}
# A generous bound against a hung daemon, not a performance check: 100000
# operations take about 5 s here.
LIMIT=$((120 + OPS / 200))
# Whole trees every K operations per thread: often in CI, less in long runs
# (the trees grow to tens of MB, read back each time).
K=$((OPS / JOBS / 50))
((K < 500)) && K=500
echo "# torture seed $SEED (replay: TORTURE_SEED=$SEED TORTURE_OPS=$OPS TORTURE_JOBS=$JOBS)"

testkek k
# Format 3 (the default) refuses hard links to symlinks and exchanges
# with them.
BOUND="-b -p"
[[ ${HSMFS_TEST_FORMAT:-3} == [12] ]] && BOUND=

# run NAME INIT-OPTS MOUNT-OPTS OPS TORTURE-OPTS...: a fresh volume each.
# INIT and MOUNT: how (default: the test KEK and daemon).
run() {
	local name=$1 iopts=$2 mopts=$3 ops=$4 r
	shift 4
	# shellcheck disable=SC2086
	${INIT:-vol_init} $iopts "$T/c.$name" >/dev/null &&
		${MOUNT:-mount_fg} "$T/c.$name" "$T/m.$name" $mopts || return 1
	mkdir -p "$T/r.$name"
	timeout "$LIMIT" "$TORTURE" -s "$SEED" -n "$ops" -j "$JOBS" -k "$K" "$@" \
		"$T/m.$name" "$T/r.$name"
	r=$?
	((r == 124)) && echo "# torture $name: no end within ${LIMIT}s (hung?)"
	if ((r != 0)); then
		echo "# daemon log (last lines):"
		tail -n 20 "$T/m.$name.log" | sed 's/^/#   /'
	fi
	umount_wait "$T/m.$name"
	return $r
}

check "torture: encrypted names, writeback cache, $OPS ops" \
	run enc "" "" "$OPS" $BOUND
check "torture: plaintext names, $((OPS / 4)) ops" \
	run plain --plaintext-names "" $((OPS / 4)) $BOUND
if [[ ${HSMFS_TEST_FORMAT:-3} == 3 ]]; then
	check "torture: volume wrapping (file keys wrapped locally), $((OPS / 4)) ops" \
		run wrap "--wrap volume" "" $((OPS / 4)) $BOUND
fi
check "torture: a format 1 volume (packed blocks), $((OPS / 4)) ops" \
	run packed "--format 1" "" $((OPS / 4))
check "torture: a format 2 volume (unbound symlinks), $((OPS / 4)) ops" \
	run unbound "--format 2" "" $((OPS / 4))
# Each thread keeps to its own directory, so reads and writes of one file
# stay in one thread: write-through FUSE has a known kernel page-cache race
# with concurrent readers that would test the kernel, not hsmfs. Known bug
# avoided here and checked on its own below: -x rdonly-trunc.
check "torture: no_writeback, $((OPS / 4)) ops" \
	run nowb "" "-o no_writeback" $((OPS / 4)) -x rdonly-trunc $BOUND

# A KEK in a PKCS#11 token (SoftHSM2), the shipped daemon: a short run.
cp "$HSMFS" "$T/hsmfs-p11" || bad "copy hsmfs"
p11_init() { "$T/hsmfs-p11" init --kek "$(p11_uri hsmfs-torture fskek private)" "$@"; }
p11_mount() { run_daemon "$T/hsmfs-p11" "$@"; }
if p11_token hsmfs-torture rsa:fskek:01; then
	INIT=p11_init MOUNT=p11_mount check "torture: a PKCS#11 KEK, $((OPS / 20)) ops" \
		run p11 "" "" $((OPS / 20)) $BOUND
else
	bad "torture: a SoftHSM2 token"
fi

# Known bug: without writeback caching, open(O_RDONLY | O_TRUNC) of a
# non-empty file fails with EINVAL instead of truncating it (ext4 and
# hsmfs with writeback truncate): the backing descriptor is read-only and
# the truncate at open is an ftruncate on it.
rdonly_trunc() {
	local f=$1/rdonly-trunc
	echo data >"$f" &&
		perl -e 'use Fcntl; sysopen(F, $ARGV[0], O_RDONLY | O_TRUNC) or die "open: $!\n"; exit((-s $ARGV[0]) != 0)' "$f"
}
vol_init "$T/c.trunc" >/dev/null
mount_fg "$T/c.trunc" "$T/m.trunc" -o no_writeback
check "no_writeback: open(O_RDONLY|O_TRUNC) truncates (known bug: EINVAL)" \
	rdonly_trunc "$T/m.trunc"
umount_wait "$T/m.trunc"
finish
