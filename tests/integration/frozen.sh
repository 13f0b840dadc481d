#!/usr/bin/env bash
# The frozen example volumes of formats 1, 2 and 3, and 3 with volume
# wrapping (tests/fixtures/vN.tar and v3w.tar,
# each made once by make-frozen.sh N) still mount and read exactly as they
# did: no change to the code may break existing data. v3c is format 3 in
# the middle of a conversion to volume mode: file keys of both kinds.
. "$(dirname "$0")/lib.sh"
F=$ROOT/tests/fixtures

for v in 1 2 3 3w 3c; do
	# Both fixtures name their test KEK "frozen": a key directory each.
	mkdir "$T/keys$v" "$T/c$v"
	cp "$F/v$v.key" "$T/keys$v/frozen.v1"
	echo v1 >"$T/keys$v/frozen.current"
	tar --xattrs --xattrs-include='user.*' -C "$T/c$v" -xf "$F/v$v.tar"
	export HSMFS_TESTKEK_DIR=$T/keys$v
	check "v$v: the frozen volume mounts" mount_fg "$T/c$v" "$T/m$v"
	manifest "$T/m$v" >"$T/got$v"
	check "v$v: every file, link, xattr and directory reads as recorded" \
		diff -u "$F/v$v.manifest" "$T/got$v"
	check "v$v: hard links still share an inode" \
		test "$(stat -c %i "$T/m$v/hello.txt")" = "$(stat -c %i "$T/m$v/dir/hello-link")"
	check "v$v: a read-write mount can still append to an old file" \
		bash -c "echo more >>'$T/m$v/numbers.txt' && tail -n 1 '$T/m$v/numbers.txt' | grep -qx more"
done
finish
