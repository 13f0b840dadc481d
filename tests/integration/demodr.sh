#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make demo-dr's drill as CI runs it (no terminal, so no pauses): it must
# run to its end (it stops at any step that goes wrong), show what it is
# about, and leave nothing behind: no mount, no emulator, no files.
. "$(dirname "$0")/lib.sh"

out=$T/demo-dr.out
check "the disaster-recovery drill runs to its end" \
	bash -c "cd '$ROOT' && B='$B' tools/demo-dr.sh </dev/null >'$out' 2>&1" ||
	tail -n 40 "$out"
D=$(sed -n 's/^ *work directory //p' "$out" | head -n 1)
check "one officer alone could not recover the HSM" \
	grep -q "the quorum of this security domain is 2: 1 of the keys given hold a share" "$out"
check "every file read back byte-exact through the recovered HSM" \
	grep -q "All 4 files read back byte-exact" "$out"
check "the recovered HSM's audit log showed the unwraps, with the volume's key version" \
	grep -q "the same kid as in the first HSM" "$out"
check "the backup was of no use without its security domain" \
	grep -q "it belongs to security domain" "$out"
# nothing_left DIR: the drill's directory, mounts and emulators are gone.
nothing_left() {
	[[ -n $1 && ! -e $1 ]] && ! findmnt -rn -o TARGET | grep -qF "$1" &&
		! pgrep -f "state $1/" >/dev/null
}
check "the drill left nothing behind" nothing_left "$D"
finish
