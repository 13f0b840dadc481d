# shellcheck shell=bash
# Shared by the lint suites (tests/lint): they run from the checkout's
# root, and each check passes when what it found wrong is empty.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pass=0
fail=0

# check NAME FOUND: passes if FOUND (the offending lines) is empty;
# otherwise fails and shows them.
check() {
	local name=$1 bad=$2
	if [[ -z $bad ]]; then
		pass=$((pass + 1))
		echo "ok - $name"
	else
		fail=$((fail + 1))
		echo "FAIL - $name"
		sed 's/^/    /' <<<"$bad"
	fi
}

finish() {
	echo "$pass passed, $fail failed"
	((fail == 0))
}
