#!/usr/bin/env bash
# The local audit of file-key use (-o audit_log=PATH) against the HSM
# emulator, in both wrapping modes: a JSON line per key a file is created
# or opened with, naming the file by its plaintext path (escaped, or
# base64url when it is not UTF-8) and file id, the key slot's kid, where
# the key came from (hsm, wrapping-key, cache, new) and who asked; an
# open refused for want of its key is recorded too; and a record that
# cannot be written refuses the key (no use without a record).
. "$(dirname "$0")/lib.sh"

emu_kek_suite
mkdir -p "$M"

# q LOG PY: runs the Python expression PY (a bool) over the log's records
# (r: the list, each a dict); every line must be one JSON object.
q() {
	python3 - "$1" "$2" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
ok = eval("(" + sys.argv[2] + ")")
if not ok:
    print(json.dumps(r[-6:], indent=1), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

NAMES=("plain.txt" 'quote"back\slash' $'new\nline' "ünïcødé" $'\xff\xfe-not-utf8')

# mode WRAP SRC: a volume in that mode, audited through a mount, files
# made, then read cold after a remount; SRC is where cold keys come from.
mode() {
	local w=$1 src=$2 C=$T/c-$1 L=$T/audit-$1.log me
	me=$(id -u)
	"$HSMFS" init --wrap "$w" --kek "$KEK" -o "$O" "$C" >/dev/null ||
		{ bad "$w: init"; return; }
	mount_hsm "$C" "$M" -o "$O,audit_log=$L,prefetch=0" || { bad "$w: mount"; return; }
	mkdir "$M/dir"
	for n in "${NAMES[@]}"; do echo "$n" >"$M/dir/$n"; done
	sync
	check "$w: the log is private (0600)" test "$(stat -c %a "$L")" = 600
	check "$w: one create record per file, by plaintext path, with the requester" \
		q "$L" "len([x for x in r if x['event']=='create']) == 5 and
			{x['path'] for x in r if x['event']=='create' and 'path' in x} ==
			{'/dir/plain.txt', '/dir/quote\"back\\\\slash', '/dir/new\\nline', '/dir/ünïcødé'}
			and all(x['uid'] == $me and x['pid'] > 0 and x['key'] == 'new' and
				x['result'] == 'ok' for x in r if x['event']=='create')"
	check "$w: a name that is not UTF-8 is recorded in base64url" \
		q "$L" "any(__import__('base64').urlsafe_b64decode(x.get('path_b64', '') + '==') ==
			b'/dir/\\xff\\xfe-not-utf8' for x in r if x['event'] == 'create')"
	umount_wait "$M"
	: >"$L"
	mount_hsm "$C" "$M" -o "$O,audit_log=$L,prefetch=0" || { bad "$w: remount"; return; }
	cat "$M/dir/plain.txt" >/dev/null
	cat "$M/dir/plain.txt" >/dev/null
	check "$w: a cold open is recorded with its key's source ($src) and kid" \
		q "$L" "len(r) == 2 and r[0]['event'] == 'open' and r[0]['path'] == '/dir/plain.txt'
			and r[0]['key'] == '$src' and r[0]['result'] == 'ok' and
			len(r[0]['file_id']) == 22 and r[0]['kid'] and r[0]['uid'] == $me"
	check "$w: the next open is recorded too, its key from the cache" \
		q "$L" "r[1]['key'] == 'cache' and r[1]['file_id'] == r[0]['file_id'] and
			r[1]['pid'] != r[0]['pid']"
	check "$w: the kid is the slot's (KEK version or wrapping key)" \
		q "$L" "r[0]['kid'].startswith('$([ "$w" = file ] && echo "$KEK/" || echo hsmfs-wk:)')"
	for n in "${NAMES[@]}"; do cat "$M/dir/$n" >/dev/null; done
	check "$w: every open is one record" \
		q "$L" "len([x for x in r if x['event'] == 'open']) == 7"
}

mode file hsm
umount_wait "$M"
mode volume wrapping-key
umount_wait "$M"

# A refused key: the KEK disabled, a file-mode cold open gets EACCES and
# the log says so.
C=$T/c-file L=$T/audit-file.log
mount_hsm "$C" "$M" -o "$O,audit_log=$L,prefetch=0,dek_cache_ttl=1" || bad "remount file"
: >"$L"
emu_ctl "$E" key set fskek --enabled false >/dev/null
if cat "$M/dir/plain.txt" >/dev/null 2>"$T/err"; then bad "disabled key: the open fails"; else ok "disabled key: the open fails"; fi
check "the refused open is recorded (EACCES, no key)" \
	q "$L" "any(x['event'] == 'open' and x['result'] == 'EACCES' and x['key'] == 'none'
		and x['path'] == '/dir/plain.txt' for x in r)"
emu_ctl "$E" key set fskek --enabled true >/dev/null
umount_wait "$M"

# No key without its record: the log on a full file system.
mkdir -p "$T/full"
mount -t tmpfs -o size=64k tmpfs "$T/full" || bad "tmpfs"
mount_hsm "$C" "$M" -o "$O,audit_log=$T/full/audit.log,prefetch=0" || bad "mount, log on a tmpfs"
head -c 200k /dev/zero >"$T/full/fill" 2>/dev/null
if cat "$M/dir/ünïcødé" >/dev/null 2>"$T/err"; then
	bad "a record that cannot be written refuses the open"
else
	ok "a record that cannot be written refuses the open"
fi
check "the daemon's log says why" grep -q "audit_log: cannot write a record" "$M.log"
rm -f "$T/full/fill"
check "once there is room, the open works and is recorded" \
	bash -c "cat '$M/dir/ünïcødé' >/dev/null && grep -q '\"path\":\"/dir/ünïcødé\"' '$T/full/audit.log'"
umount_wait "$M"
umount "$T/full"

check "a log that cannot be opened refuses the mount, saying why" \
	bash -c "! '$HSMFS' mount -o '$O,audit_log=$T/no/such/dir/log' '$C' '$M' >'$T/out' 2>&1 &&
		grep -q 'audit_log $T/no/such/dir/log: No such file' '$T/out'"
finish
