#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make demo as CI runs it (no terminal, so no pauses): it must run to its
# end (it stops at any step that goes wrong), show each thing it claims,
# and leave nothing behind: no mount, no emulator, no files.
. "$(dirname "$0")/lib.sh"

out=$T/demo.out
check "the demo runs to its end" \
	bash -c "cd '$ROOT' && B='$B' tools/demo.sh </dev/null >'$out' 2>&1" ||
	tail -n 40 "$out"
D=$(sed -n 's|.*clients trust \(/.*\)/hsm/ca.pem$|\1|p' "$out" | head -n 1)
check "the backing directory held no plaintext name or content" \
	grep -q "grep finds neither 'Jane Doe' nor 'patients'" "$out"
check "opening a file cold cost one HSM unwrap" \
	grep -q "UnwrapKey calls: 1 before, 2 after opening one file" "$out"
check "a disabled key refused the file (Permission denied)" \
	grep -q "jane-doe.txt: Permission denied" "$out"
check "rekey after the rotation rewrapped every file" \
	grep -q "files: 3, rewrapped 3, already current 0, empty 0, gone 0, failed 0" "$out"
check "then only the current key version was needed" \
	grep -q "^only the current KEK version is needed" "$out"
check "with the old version disabled the files still read" \
	bash -c "sed -n '/old version can be disabled/,\$p' '$out' | grep -q '^Diagnosis: confidential'"
# nothing_left DIR: the demo's directory, mounts and emulator are gone.
nothing_left() {
	[[ -n $1 && ! -e $1 ]] && ! findmnt -rn -o TARGET | grep -qF "$1" &&
		! pgrep -f "state $1/" >/dev/null
}
check "the demo left nothing behind" nothing_left "$D"
finish
