#!/usr/bin/env bash
# What a server gets: make builds both programs, make install puts
# exactly hsmfs, its man pages, the bash completion, the unit and the
# example files in place (not the emulator, which install-emulator adds),
# each naming the installed program, and uninstall takes them away; the
# installed man pages render; the completion completes commands, -o
# options, a volume's file and a real mount of hsmfs. Against the
# existing build: nothing is compiled here (make -q says so first).
. "$(dirname "$0")/lib.sh"

BUILD=$(cd "$ROOT/$B" && pwd)
# The version the build was made with: another one would rebuild main.c.
VER=$(cat "$BUILD/version.stamp" 2>/dev/null)
# make [B=...] ARGS...: this tree's make, not a make of whoever runs the
# tests (no jobserver of theirs).
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ROOT" --no-print-directory \
		B="$BUILD" HSMFS_VERSION="$VER" "$@"
}

# ---- make ---------------------------------------------------------------
# What make (the default goal) would link in an empty build directory.
links=$(mk -n B="$T/fresh" 2>&1 | grep -oE -- "-o $T/fresh/[a-z-]+ " | sort | xargs)
check "make (the default goal) links hsmfs and hsm-emulator ($links)" \
	test "$links" = "-o $T/fresh/hsm-emulator -o $T/fresh/hsmfs"
check "make, already built, has nothing to do (make -q)" mk -q
check "and the build has both programs" test -x "$BUILD/hsmfs" -a -x "$BUILD/hsm-emulator"
if ! mk -q "$BUILD/hsmfs" "$BUILD/hsm-emulator"; then
	bad "the build is out of date: run make first"
	finish
fi

# ---- make install -------------------------------------------------------
# files DIR: every file under DIR, "MODE PATH" relative to it, sorted.
files() {
	(cd "$1" && find . -type f -printf '%m %P\n' | sort)
}
mk install DESTDIR="$T/root" >"$T/install.log" 2>&1
check "make install DESTDIR= succeeds" test $? -eq 0 || cat "$T/install.log"
cat >"$T/want" <<'EOF'
644 usr/local/lib/systemd/system/hsmfs@.service
644 usr/local/share/bash-completion/completions/hsmfs
644 usr/local/share/doc/hsmfs/hsmfs.conf.example
644 usr/local/share/doc/hsmfs/volume.conf.example
644 usr/local/share/man/man1/hsmfs.1
644 usr/local/share/man/man5/hsmfs.conf.5
755 usr/local/bin/hsmfs
EOF
check "it installs exactly the program, man pages, completion, unit and examples, with their modes" \
	diff "$T/want" <(files "$T/root")
check "not the emulator" test ! -e "$T/root/usr/local/bin/hsm-emulator"
check "nothing into /etc" test ! -e "$T/root/etc"
check "the installed program is the build's" cmp "$BUILD/hsmfs" "$T/root/usr/local/bin/hsmfs"
MAN=$T/root/usr/local/share/man
if command -v man >/dev/null; then
	for p in man1/hsmfs.1 man5/hsmfs.conf.5; do
		out=$(MANWIDTH=80 man -l --warnings "$MAN/$p" 2>&1 >"$T/page")
		check "man -l renders the installed $p, without a warning" \
			test $? -eq 0 -a -z "$out" -a "$(wc -l <"$T/page")" -gt 50 || echo "$out"
	done
else
	echo "# man not found: the installed pages are not rendered"
fi
check "the pages name the program and the examples where they are" \
	grep -q /usr/local/bin/hsmfs "$MAN/man1/hsmfs.1"

mk install-emulator DESTDIR="$T/root" >>"$T/install.log" 2>&1
check "make install-emulator adds the emulator alone" \
	diff <(echo "755 usr/local/bin/hsm-emulator" | sort - "$T/want") <(files "$T/root")
mk uninstall uninstall-emulator DESTDIR="$T/root" >>"$T/install.log" 2>&1
check "make uninstall and uninstall-emulator leave no file" test -z "$(files "$T/root")"

# Elsewhere: the unit and the pages name the program where it went.
mk install DESTDIR="$T/opt" PREFIX=/opt/hsmfs >>"$T/install.log" 2>&1
O=$T/opt/opt/hsmfs
check "PREFIX=/opt/hsmfs: the unit runs /opt/hsmfs/bin/hsmfs" \
	bash -c "grep -q '^ExecStart=/opt/hsmfs/bin/hsmfs ' '$O/lib/systemd/system/hsmfs@.service' &&
		! grep -q /usr/local '$O/lib/systemd/system/hsmfs@.service'"
check "... and so do the man pages, with the unit and the examples under /opt/hsmfs" \
	bash -c "grep -q /opt/hsmfs/bin/hsmfs '$O/share/man/man1/hsmfs.1' &&
		grep -q /opt/hsmfs/lib/systemd/system/hsmfs@.service '$O/share/man/man1/hsmfs.1' &&
		grep -q /opt/hsmfs/share/doc/hsmfs '$O/share/man/man5/hsmfs.conf.5' &&
		! grep -E '/usr/local/(bin/hsmfs|lib|share)' '$O/share/man/man1/hsmfs.1' '$O/share/man/man5/hsmfs.conf.5'"

# ---- bash completion ----------------------------------------------------
# shellcheck source=../../dist/bash-completion/hsmfs
. "$ROOT/dist/bash-completion/hsmfs"
# comp LINE: COMPREPLY at the end of LINE, as bash fills COMP_* (words
# also split at '=' and ':'), space-separated.
comp() {
	local w=() t
	COMP_LINE=$1
	COMP_POINT=${#1}
	for t in $1; do
		while [[ $t =~ ^([=:]+|[^=:]+)(.*) ]]; do
			w+=("${BASH_REMATCH[1]}")
			t=${BASH_REMATCH[2]}
		done
	done
	[[ $1 == *' ' ]] && w+=("")
	COMP_WORDS=("${w[@]}")
	COMP_CWORD=$((${#w[@]} - 1))
	COMPREPLY=()
	_hsmfs
	echo "${COMPREPLY[*]}"
}
# has LINE WORD...: each WORD is among the completions of LINE.
has() {
	local got w
	got=" $(comp "$1") "
	shift
	for w in "$@"; do
		[[ $got == *" $w "* ]] || { echo "    missing $w in:$got" >&2; return 1; }
	done
}
check "complete -F _hsmfs hsmfs is registered" bash -c \
	". '$ROOT/dist/bash-completion/hsmfs' && complete -p hsmfs | grep -q -- '-F _hsmfs'"
check "the commands" has "hsmfs " init mount umount status cache rekey kek fsck info inspect path pin version
check "a command's prefix: um -> umount" test "$(comp "hsmfs um")" = umount
check "mount -o: every option, flags and values" has "hsmfs mount -o " ro allow_other volume= conf= readahead= follow_kek_versions
check "mount -o ro,all: the next option of the list" \
	test "$(comp "hsmfs mount -o ro,all")" = "ro,allow_other ro,allow_root ro,allow_unlocked_keys"
fsck_opts=" $(comp "hsmfs fsck -o ") "
check "fsck -o: the options of every command, not mount's" \
	bash -c "[[ '$fsck_opts' == *' volume= '* && '$fsck_opts' != *' allow_other '* ]]"
check "rekey --to-wrap: file and volume" test "$(comp "hsmfs rekey --to-wrap ")" = "file volume"
check "init's switches" has "hsmfs init --" --kek --wrap --plaintext-names --format

export HSMFS_CONF=$T/etc/hsmfs.conf
mkdir -p "$T/etc/volumes" "$T/dirs/cipher" "$T/dirs/mnt"
touch "$T/etc/volumes/secure.conf" "$T/etc/volumes/scratch.conf" "$T/dirs/afile"
check "-o conf=: the volumes' files beside the machine's file" \
	test "$(comp "hsmfs mount -o conf=")" = "=scratch =secure"
check "-o ro,conf=se: the rest of the name" test "$(comp "hsmfs mount -o ro,conf=se")" = secure
check "mount's operands: directories only" \
	test "$(comp "hsmfs mount $T/dirs/" | tr ' ' '\n' | sort | xargs)" = "$T/dirs/cipher $T/dirs/mnt"
check "init's CIPHERDIR: a directory" test "$(comp "hsmfs init --kek u $T/dirs/ci")" = "$T/dirs/cipher"

testkek k
"$HSMFS_TEST" init --kek testkek://k "$T/c" >/dev/null
mount_fg "$T/c" "$T/m"
check "umount: a real mount of hsmfs" has "hsmfs umount $T/" "$T/m"
check "... and nothing else" test "$(comp "hsmfs umount $T/")" = "$T/m"
check "status and cache flush: the same" \
	test "$(comp "hsmfs status $T/")|$(comp "hsmfs cache flush $T/")" = "$T/m|$T/m"
umount_wait "$T/m"
check "once unmounted, umount offers it no more" test -z "$(comp "hsmfs umount $T/")"
finish
