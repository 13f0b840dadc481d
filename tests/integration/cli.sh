#!/usr/bin/env bash
# The command line: init refusals, mount that returns only when ready and
# fails with a reason, the KEK pin, help texts, exit codes.
. "$(dirname "$0")/lib.sh"

testkek k
H=$HSMFS_TEST

check "init creates a volume" "$H" init --kek testkek://k "$T/c"
check "init refuses an existing volume" bash -c "! '$H' init --kek testkek://k '$T/c' 2>&1 | grep -q . || ! '$H' init --kek testkek://k '$T/c' 2>/dev/null"
mkdir -p "$T/full" && touch "$T/full/x"
check "init refuses a non-empty directory" bash -c "'$H' init --kek testkek://k '$T/full' 2>&1 | grep -q 'not empty'"
check "init without --kek is a usage error (2)" bash -c "'$H' init '$T/c2' 2>/dev/null; test \$? -eq 2"
check "init with an unknown KEK says why" bash -c "'$H' init --kek testkek://nope '$T/c3' 2>&1 | grep -q 'nope'"

for c in init mount umount; do
	check "$c --help" bash -c "'$H' $c --help | grep -q Usage"
done
check "unknown command is a usage error" bash -c "'$H' frobnicate 2>/dev/null; test \$? -eq 2"
check "the shipped binary has no software KEK" \
	bash -c "'$HSMFS' init --kek testkek://k '$T/shipped' 2>&1 | grep -q \"no KEK provider for URL scheme 'testkek'\""

mkdir -p "$T/m"
check "mount (daemon) returns once the mount is ready" \
	bash -c "'$H' mount '$T/c' '$T/m' && mountpoint -q '$T/m' && echo hi >'$T/m/f' && test \"\$(cat '$T/m/f')\" = hi"
check "the mount is of type fuse.hsmfs" bash -c "findmnt -n -o FSTYPE '$T/m' | grep -qx fuse.hsmfs"
check "hsmfs umount unmounts" bash -c "'$H' umount '$T/m' && ! mountpoint -q '$T/m'"

check "mount of a non-volume fails with a reason" \
	bash -c "mkdir -p '$T/empty'; out=\$('$H' mount '$T/empty' '$T/m' 2>&1); test \$? -eq 1 && grep -q 'not an hsmfs volume' <<<\"\$out\""
check "mount with an unknown option fails" \
	bash -c "'$H' mount -o frob '$T/c' '$T/m' 2>&1 | grep -q 'unknown option'"
check "mount -o kek= with another KEK is refused" \
	bash -c "'$H' mount -o kek=testkek://other '$T/c' '$T/m' 2>&1 | grep -q 'not the expected'"
check "mount -o kek= with the right KEK works" \
	bash -c "'$H' mount -o kek=testkek://k '$T/c' '$T/m' && '$H' umount '$T/m'"
check "mount -o ro is read-only" \
	bash -c "'$H' mount -o ro '$T/c' '$T/m' && ! touch '$T/m/new' 2>/dev/null; r=\$?; '$H' umount '$T/m'; exit \$r"

# Device nodes: the mount is nodev (opening one gives EACCES) unless
# -o dev, which only root may give; the same for nosuid and -o suid.
if ((EUID == 0)); then
	check "without -o dev, a device node in the mount gives EACCES" \
		bash -c "'$H' mount '$T/c' '$T/m' && mknod '$T/m/null' c 1 3 &&
			out=\$({ echo x >'$T/m/null'; } 2>&1); r=\$?; '$H' umount '$T/m'
			((r != 0)) && grep -q 'Permission denied' <<<\"\$out\""
	check "with -o dev, it is /dev/null: takes writes, reads empty" \
		bash -c "'$H' mount -o dev '$T/c' '$T/m' && echo x >'$T/m/null' &&
			test \"\$(head -c 10 '$T/m/null' | wc -c)\" = 0; r=\$?; '$H' umount '$T/m'; exit \$r"
	check "-o suid mounts without nosuid" \
		bash -c "'$H' mount -o suid '$T/c' '$T/m' &&
			! findmnt -n -o OPTIONS '$T/m' | grep -q nosuid; r=\$?; '$H' umount '$T/m'; exit \$r"
	check "-o dev from another user is refused, saying why" \
		bash -c "out=\$(setpriv --reuid=65534 --regid=65534 --clear-groups '$H' mount -o dev '$T/c' '$T/m' 2>&1)
			test \$? = 1 && grep -q 'needs root' <<<\"\$out\" && ! mountpoint -q '$T/m'"
fi

# The root of a mount shows the volume's own mode: a new volume's is
# what mkdir would make (0777 less the umask), and a chmod of it is
# kept in the volume, while the backing directory init made stays 0700,
# so that allow_other lets other users into the mount and not into the
# backing tree. Another user must reach the mount point: $T is made
# passable (not listable) for it.
if ((EUID == 0)); then
	chmod 711 "$T"
	mkdir -m 755 "$T/pub" "$T/pub/m"
	(umask 022 && "$H" init --kek testkek://k "$T/pub/c" >/dev/null)
	P=$T/pub/m
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	modes() { echo "$(stat -c %a "$P") $(stat -c %a "$T/pub/c")"; }
	remount() { "$H" umount "$P" && "$H" mount -o allow_other "$T/pub/c" "$P"; }
	"$H" mount -o allow_other "$T/pub/c" "$P"
	check "a new volume's root is 0755 (umask 022), its backing directory 0700 ($(modes))" \
		test "$(modes)" = "755 700"
	check "allow_other: another user lists the mount's root" nobody ls "$P"
	check "chmod 700 of the mount's root: another user is refused" \
		bash -c "chmod 700 '$P' && ! setpriv --reuid=65534 --regid=65534 --clear-groups ls '$P' 2>/dev/null"
	remount
	check "the root's 0700 persists across a remount ($(modes))" \
		test "$(modes)" = "700 700"
	chmod 755 "$P" && remount
	check "chmod 755 of the root persists across a remount, the backing directory stays 0700 ($(modes))" \
		test "$(modes)" = "755 700"
	check "... and another user lists the root again" nobody ls "$P"
	"$H" umount "$P"
fi

# ra_after_open [OPTS...]: the mount's kernel readahead (KiB) once a file
# has been opened (the daemon sets it on the first open).
ra_after_open() {
	"$H" mount "$@" "$T/c" "$T/m" || return 1
	cat "$T/m/f" >/dev/null
	cat "/sys/class/bdi/$(mountpoint -d "$T/m")/read_ahead_kb"
	"$H" umount "$T/m"
}
check "mount raises the readahead to 4096 KiB" test "$(ra_after_open)" = 4096
check "mount -o readahead=1024 sets 1024 KiB" test "$(ra_after_open -o readahead=1024)" = 1024
ra=$(ra_after_open -o readahead=0)
check "mount -o readahead=0 leaves the kernel's ($ra KiB)" bash -c "[[ '$ra' =~ ^[0-9]+\$ && '$ra' != 4096 ]]"
check "mount -o readahead=abc is refused" \
	bash -c "'$H' mount -o readahead=abc '$T/c' '$T/m' 2>&1 | grep -q 'readahead=abc' && ! mountpoint -q '$T/m'"
for o in timeout=abc prefetch=abc threads=0 prefetch=65 dek_cache_size=1x hsm_timeout=; do
	check "mount -o $o is refused as a bad value" \
		bash -c "out=\$('$H' mount -o $o '$T/c' '$T/m' 2>&1); test \$? -eq 2 && grep -q \"bad value for ${o%%=*} in '$o' (\" <<<\"\$out\" && ! mountpoint -q '$T/m'"
done
check "rekey --jobs 0 is a usage error" \
	bash -c "'$H' rekey --jobs 0 '$T/c' 2>/dev/null; test \$? -eq 2"

# A config pointed at another KEK: the pin store refuses it before any
# request goes to that KEK.
testkek evil
cp "$T/c/hsmfs.conf" "$T/conf.orig"
chmod u+w "$T/c/hsmfs.conf"
sed -i 's|"kek":\t"testkek://k"|"kek":\t"testkek://evil"|' "$T/c/hsmfs.conf"
check "a config naming another KEK is refused by the pin" \
	bash -c "'$H' mount '$T/c' '$T/m' 2>&1 | grep -q 'pinned'"
cp "$T/conf.orig" "$T/c/hsmfs.conf"

# A whole new config (same volume id, attacker's volume key, MAC valid for
# it) is refused by the key check value.
"$H" init --kek testkek://k "$T/other" >/dev/null
python3 - "$T/c/hsmfs.conf" "$T/other/hsmfs.conf" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
b["volume_id"] = a["volume_id"]
json.dump(b, open(sys.argv[1], "w"))
PY
check "a replaced config is refused" bash -c "'$H' mount '$T/c' '$T/m' 2>&1 | grep -Eq 'failed authentication|not for this volume|pinned'"
cp "$T/conf.orig" "$T/c/hsmfs.conf"
check "the original config mounts again" bash -c "'$H' mount '$T/c' '$T/m' && cat '$T/m/f' | grep -q hi && '$H' umount '$T/m'"

# A foreground daemon stopped as asked (SIGTERM, as systemd stops a
# service) exits 0: the stop is not a failure.
"$H" mount -f "$T/c" "$T/m" >"$T/fg.log" 2>&1 &
fg=$!
for _ in $(seq 200); do mountpoint -q "$T/m" && break; sleep 0.05; done
kill -TERM "$fg"
wait "$fg"
check "mount -f stopped by SIGTERM exits 0" test $? -eq 0
finish
