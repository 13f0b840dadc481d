#!/usr/bin/env bash
# POSIX behaviour through a real mount, checked by tests/posix/fscheck
# (which passes on ext4 too): with the kernel write-back cache (default),
# without it, on a plaintext-names volume (all in format 3, the default:
# bound symlinks and xattrs), on volumes of formats 1 and 2, and on a
# volume-wrap volume.
# HSMFS_TEST_FORMAT=N runs the default-format volumes in format N.
. "$(dirname "$0")/lib.sh"
FSCHECK=$ROOT/$B/tests/fscheck
# Documented limits (README): encrypted symlink targets must fit a
# 4095-byte backing symlink; an xattr carries 28 bytes more and a longer
# name, and ext4 keeps one block of xattrs per inode.
export FSCHECK_SYMLINK_MAX=3043 FSCHECK_XATTR_BIG=3000

# run_fscheck LABEL DIR [ARGS]: adds fscheck's own counts to ours.
run_fscheck() {
	local out p f
	out=$("$FSCHECK" "${@:3}" "$2" 2>&1)
	echo "$out" | sed "s/^/[$1] /"
	p=$(sed -nE 's/^fscheck: ([0-9]+) passed, ([0-9]+) failed$/\1/p' <<<"$out")
	f=$(sed -nE 's/^fscheck: ([0-9]+) passed, ([0-9]+) failed$/\2/p' <<<"$out")
	[[ -n $p ]] || { bad "$1: fscheck finished"; return; }
	PASS=$((PASS + p))
	FAILS=$((FAILS + f))
}

# The volumes are independent and fscheck keeps about one CPU busy: two
# lanes of them run side by side, each in a subshell whose output and
# counts are taken in, in order, once both are done.
lane_a() {
	vol_init "$T/c" >/dev/null
	mount_fg "$T/c" "$T/m" && run_fscheck writeback "$T/m"
	umount_wait "$T/m"
	check "no error was logged" bash -c "! grep -E 'error|warning' '$T/m.log'"

	# Without the write-back cache, Linux FUSE's write-through page cache
	# lets a reader racing a writer keep stale pages (libfuse's
	# passthrough_ll shows the same), so readers_writer is left to the
	# default mode.
	mount_fg "$T/c" "$T/m2" -o no_writeback &&
		run_fscheck no_writeback "$T/m2" -x readers_writer
	umount_wait "$T/m2"

	# A KEK in a PKCS#11 token (SoftHSM2), the shipped daemon: the same
	# behaviour, a smaller random part.
	if p11_token hsmfs-posix rsa:fskek:01 &&
		"$HSMFS" init --kek "$(p11_uri hsmfs-posix fskek private)" "$T/k" >/dev/null &&
		mount_hsm "$T/k" "$T/mk"; then
		FSCHECK_RANDOM_MB=2 run_fscheck pkcs11 "$T/mk"
	else
		bad "pkcs11: a SoftHSM2 token, a volume, a mount"
	fi
	umount_wait "$T/mk"
	check "pkcs11: no error was logged" bash -c "! grep -E 'error|warning' '$T/mk.log'"
}

lane_b() {
	# Volumes of format 1 (blocks packed after the header) keep working.
	"$HSMFS_TEST" init --kek testkek://k --format 1 "$T/f1" >/dev/null
	if mount_fg "$T/f1" "$T/m1"; then
		FSCHECK_RANDOM_MB=8 run_fscheck format1 "$T/m1"
		check "a format 1 volume keeps packed blocks" \
			bash -c "echo x >'$T/m1/one' && sync && find '$T/f1' -type f -size 2078c | grep -q ."
	fi
	umount_wait "$T/m1"

	vol_init --plaintext-names "$T/p" >/dev/null
	if mount_fg "$T/p" "$T/mp"; then
		FSCHECK_RANDOM_MB=8 run_fscheck plaintext_names "$T/mp"
		check "plaintext names are visible, content is not" \
			bash -c "ls '$T/p' | grep -q . && ! grep -rqa 'fscheck' '$T/p' --exclude=hsmfs.conf"
		echo data >"$T/mp/donor" && chown 4321:4321 "$T/mp/donor"
	fi
	umount_wait "$T/mp"
	# A file put into the backing directory behind the mount while the
	# kernel still takes its name for missing (a long entry timeout): an
	# O_CREAT open of the name opens the file as it is and gives it to
	# nobody.
	if mount_fg "$T/p" "$T/mp" -o timeout=3600; then
		ls "$T/mp/late" 2>/dev/null
		cp -p "$T/p/donor" "$T/p/late"
		: >>"$T/mp/late"
		check "an O_CREAT open of a file already there keeps its owner" \
			test "$(stat -c %u:%g "$T/mp/late")" = 4321:4321
		check "and its content" grep -qx data "$T/mp/late"
	fi
	umount_wait "$T/mp"

	# Format 2 volumes, made by earlier versions, keep working.
	"$HSMFS_TEST" init --kek testkek://k --format 2 "$T/f2" >/dev/null
	if mount_fg "$T/f2" "$T/m2f"; then
		FSCHECK_RANDOM_MB=8 run_fscheck format2 "$T/m2f"
	fi
	umount_wait "$T/m2f"
	check "format 2: no error was logged" \
		bash -c "! grep -E 'error|warning' '$T/m2f.log'"

	# Volume wrapping: file keys wrapped locally, the same behaviour.
	"$HSMFS_TEST" init --kek testkek://k --wrap volume "$T/w" >/dev/null
	if mount_fg "$T/w" "$T/mw"; then
		FSCHECK_RANDOM_MB=8 run_fscheck volume_wrap "$T/mw"
	fi
	umount_wait "$T/mw"
	check "volume wrap: no error was logged" \
		bash -c "! grep -E 'error|warning' '$T/mw.log'"

}

# lane NAME: runs lane_NAME in the background; its output goes to
# $T/lane.NAME, its counts to $T/lane.NAME.counts at its end.
lane() {
	(
		PASS=0 FAILS=0
		"lane_$1"
		echo "$PASS $FAILS" >"$T/lane.$1.counts"
	) >"$T/lane.$1" 2>&1 &
}

testkek k
lane a
lane b
wait
for l in a b; do
	cat "$T/lane.$l"
	if read -r p f <"$T/lane.$l.counts"; then
		PASS=$((PASS + p))
		FAILS=$((FAILS + f))
	else
		bad "lane $l of volumes ran to its end"
	fi
done
finish
