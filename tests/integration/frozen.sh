#!/usr/bin/env bash
# The frozen example volume of format v1 (tests/fixtures/v1.tar, made once
# by make-v1.sh) still mounts and reads exactly as it did: no change to the
# code may break existing data.
. "$(dirname "$0")/lib.sh"
F=$ROOT/tests/fixtures

cp "$F/v1.key" "$T/keys/frozen.v1"
echo v1 >"$T/keys/frozen.current"
mkdir "$T/c"
tar --xattrs --xattrs-include='user.*' -C "$T/c" -xf "$F/v1.tar"
check "the frozen volume mounts" mount_fg "$T/c" "$T/m"
manifest "$T/m" >"$T/got"
check "every file, link, xattr and directory reads as recorded" \
	diff -u "$F/v1.manifest" "$T/got"
check "hard links still share an inode" \
	test "$(stat -c %i "$T/m/hello.txt")" = "$(stat -c %i "$T/m/dir/hello-link")"
check "a read-write mount can still append to an old file" \
	bash -c "echo more >>'$T/m/numbers.txt' && tail -n 1 '$T/m/numbers.txt' | grep -qx more"
finish
