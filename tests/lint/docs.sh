#!/usr/bin/env bash
# The man pages and the bash completion, checked against the code: every
# -o option mount takes (read from where the code parses them) has an
# entry in hsmfs(1)'s MOUNT OPTIONS and is offered by the completion,
# every command of the dispatcher table has a subsection with each of
# its switches, and both pages render without a warning.
. "$(dirname "$0")/../lib/lint.sh"
MAN1=dist/man/hsmfs.1
MAN5=dist/man/hsmfs.conf.5
COMP=dist/bash-completion/hsmfs

# body FILE FUNC: the lines of C function FUNC, from its definition to
# the closing brace in column 0.
body() {
	awk -v f="$2" '$0 ~ "^[a-z].*[ *]" f "\\(" && $0 !~ /;$/ { on = 1 }
		on { print } on && /^}/ { exit }' "$1"
}

# array FILE NAME: the string literals of the array NAME's initializer.
array() {
	awk -v a="$2" '$0 ~ a "\\[\\] = \\{" { on = 1 } on { print }
		on && /};/ { exit }' "$1" | grep -oE '"[^"]*"' | tr -d '"'
}

# The options of every command that opens a volume: vol_opts_parse's
# keys, and conf=, which cmd_parse_opts reads first.
vol_opts() {
	body fs/vol/opts.c vol_opts_parse | grep -oE 'KEY\("[a-z_]+"\)' |
		sed -E 's/KEY\("(.*)"\)/\1/'
	body fs/cli/main.c parse_conf | grep -oE 'strncmp\(opt, "[a-z_]+=' |
		sed -E 's/.*"(.*)=/\1/'
}

# The options of mount alone: daemon_opt's, and the kernel's it passes on.
mount_opts() {
	body fs/fuse/daemon.c daemon_opt |
		grep -oE 'strn?cmp\(opt, "[a-z_]+=?"' | sed -E 's/.*"([a-z_]+)=?"/\1/'
	array fs/fuse/daemon.c kernel_opts
}

# What mount takes from mount(8) and systemd and ignores: whole words,
# and prefixes (x-, comment=, setuid=).
ignored_opts() {
	array fs/cli/cmd_mount.c words
	body fs/cli/cmd_mount.c mount8_opt | grep -oE 'strncmp\(opt, "[^"]+"' |
		sed -E 's/.*"(.*)"/\1/'
}

VOL=$(vol_opts | sort -u)
MOUNT=$( (vol_opts && mount_opts) | sort -u)
CMDS=$(array fs/cli/main.c cmds | grep -E '^[a-z]+$')

# The extraction itself: a parser rewritten out of its reach must fail
# here, not leave the checks below with nothing to check.
must_have() {
	local list=$1 w
	shift
	for w in "$@"; do grep -qx -- "$w" <<<"$list" || echo "$w not found"; done
}
check "the code's options are found (vol_opts_parse, daemon_opt, kernel_opts, conf=)" \
	"$(must_have "$MOUNT" ca_file volume no_pin conf ro nodev timeout \
		follow_kek_versions log allow_other
	(($(wc -l <<<"$MOUNT") >= 35)) || echo "only $(wc -l <<<"$MOUNT") options")"
check "the mount(8) options mount ignores are found" \
	"$(must_have "$(ignored_opts)" _netdev nofail x- comment=)"
check "the dispatcher's commands are found" \
	"$(must_have "$CMDS" init mount umount version)"

# tags MANPAGE SECTION: the text of each .TP entry's tag line in the
# section (fonts and quotes dropped, "\-" as "-"), one a line.
tags() {
	python3 - "$1" "$2" <<'PY'
import re, shlex, sys
page, want = sys.argv[1], sys.argv[2]
section, tp = None, False
for line in open(page, encoding="utf-8"):
    line = line.rstrip("\n")
    if line.startswith(".SH"):
        section = line[3:].strip().strip('"')
        continue
    if section != want:
        continue
    if line.startswith(".TP"):
        tp = True
        continue
    if tp:
        tp = False
        if line.startswith(".PD"):
            tp = True
            continue
        m = re.match(r"\.(B|I|BI|BR|IB|IR|RB|RI)\s+(.*)", line)
        if m:
            args = shlex.split(m.group(2).replace("\\", "\\\\"))
            text = ("" if len(m.group(1)) > 1 else " ").join(args)
        else:
            text = line
        text = re.sub(r"\\f[BIRP]|\\&", "", text).replace("\\-", "-")
        print(text)
PY
}

# entries: the option names of MOUNT OPTIONS' entries ("log=PATH|syslog"
# is log; "follow_kek_versions[=S]" is follow_kek_versions).
ENTRIES=$(tags "$MAN1" "MOUNT OPTIONS" | tr ',' '\n' |
	sed -nE 's/^ *([a-z_]+)(=|\[|$| ).*/\1/p' | sort -u)
check "every -o option of mount has an entry in hsmfs.1 MOUNT OPTIONS" \
	"$(comm -23 <(echo "$MOUNT") <(echo "$ENTRIES") | sed 's/^/no entry: /')"
check "every entry there is an option the code takes" \
	"$(comm -13 <(echo "$MOUNT") <(echo "$ENTRIES") | sed 's/^/not an option: /')"

# text MANPAGE: the page with fonts and escapes dropped.
text() {
	sed -E 's/\\f[BIRP]//g; s/\\&//g; s/\\-/-/g' "$1"
}
missing_ignored=$(for w in $(ignored_opts); do
	text "$MAN1" | grep -qF -- "$w" || echo "not named: $w"
done)
check "the mount(8) options mount ignores are named in hsmfs.1" "$missing_ignored"
check "cipherdir= and mountpoint= (a volume's file) have an entry in hsmfs.conf.5" \
	"$(must_have "$(tags "$MAN5" OPTIONS | tr ',' '\n' |
		sed -nE 's/^ *([a-z_]+=).*/\1/p')" cipherdir= mountpoint=)"

# section NAME: the subsections of hsmfs.1 about command NAME.
section() {
	text "$MAN1" | awk -v c="$1" '
		/^\.S[SH]/ { on = $0 ~ "^\\.SS \"?hsmfs " c "( |\"|$)" }
		on { print }'
}
no_section=$(for c in $CMDS; do
	[[ -n $(section "$c") ]] || echo "no subsection: hsmfs $c"
done)
check "every command of the dispatcher table has a subsection in hsmfs.1" "$no_section"

# Each command's switches: getopt_long's names and getopt's letters.
switches() {
	awk '/struct option longopts\[\]/ { on = 1 } on { print } on && /};/ { on = 0 }' "$1" |
		grep -oE '\{ "[a-z-]+"' | sed -E 's/\{ "(.*)"/--\1/' | grep -vx -- --help
	grep -oE 'cmd_getopt\([^"]*"\+?[a-z:]+"' "$1" | sed -E 's/.*"\+?([a-z:]+)"/\1/' |
		tr -d ':' | grep -o . | grep -vx h | sed 's/^/-/'
}
no_switch=$(for f in fs/cli/cmd_*.c; do
	c=$(basename "$f" .c)
	c=${c#cmd_}
	s=$(section "$c")
	for w in $(switches "$f"); do
		grep -qE -- "(^|[^a-z-])$w([^a-z-]|$)" <<<"$s" || echo "hsmfs $c: $w"
	done
done)
check "every switch of every command is in its subsection" "$no_switch"

# The completion's lists are the code's.
comp_list() {
	bash -c '. "$1" && printf "%s\n" ${!2}' _ "$COMP" "$1" | sed 's/=$//' | sort -u
}
COMP_MOUNT=$( (comp_list _hsmfs_vol_opts && comp_list _hsmfs_mount_opts) | sort -u)
check "the completion offers mount every -o option of the code, and no other" \
	"$(diff <(echo "$MOUNT") <(echo "$COMP_MOUNT"))"
check "the completion offers init, fsck, rekey, kek and path their -o options, and no other" \
	"$(diff <(echo "$VOL") <(comp_list _hsmfs_vol_opts))"
check "the completion offers every command of the dispatcher table" \
	"$(diff <(sort <<<"$CMDS") <(comp_list _hsmfs_cmds))"

# groff's own checks (-ww: every warning), as man --warnings runs them.
for p in "$MAN1" "$MAN5"; do
	check "$p renders without a warning" \
		"$(LC_ALL=C.UTF-8 groff -man -ww -z "$p" 2>&1)"
done
if command -v man >/dev/null; then
	check "man -l --warnings renders both without a warning" \
		"$(MANWIDTH=80 man -l --warnings "$MAN1" "$MAN5" 2>&1 >/dev/null)"
fi
finish
