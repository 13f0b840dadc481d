#!/usr/bin/env bash
# Runs every test program and integration test. Each prints its own line
# "... N passed, N failed"; this adds them up into the closing line.
#   TESTS=glob   run only the suites whose name matches (e.g. TESTS='unit/*')
set -u
B=${B:-build}
export B
cd "$(dirname "$0")/.."
TESTS=${TESTS:-*}
pass=0
fail=0
failed_suites=()
times=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Runs one suite, shows its output, and adds up its closing line. A suite
# that dies without one counts as one failure.
suite() {
	local name=$1
	shift
	# shellcheck disable=SC2053
	[[ $name == $TESTS ]] || return 0
	printf '=== %s\n' "$name"
	local t0=$SECONDS
	"$@" >"$log" 2>&1
	local rc=$?
	cat "$log"
	times+=("$((SECONDS - t0)) $name")
	local line p f
	line=$(grep -oE '(^|[^0-9])[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [[ -n $line ]]; then
		read -r p f <<<"$(sed -E 's/[^0-9]*([0-9]+) passed, ([0-9]+) failed/\1 \2/' <<<"$line")"
	else
		p=0
		f=1
	fi
	((rc != 0 && f == 0)) && f=1
	pass=$((pass + p))
	fail=$((fail + f))
	((f > 0)) && failed_suites+=("$name")
	return 0
}

for t in tests/lint/*.sh; do
	suite "lint/$(basename "$t" .sh)" bash "$t"
done
for t in "$B"/tests/unit/*_test; do
	[[ -x $t ]] && suite "unit/$(basename "$t")" "$t"
done
for t in "$B"/tests/san/*_test; do
	[[ -x $t ]] && suite "san/$(basename "$t")" "$t"
done
# Unit tests once more under valgrind's memcheck: no invalid access, no
# definite leak.
if command -v valgrind >/dev/null; then
	for t in "$B"/tests/unit/*_test; do
		[[ -x $t ]] && suite "valgrind/$(basename "$t")" \
			valgrind -q --error-exitcode=1 --leak-check=full \
			--errors-for-leak-kinds=definite "$t"
	done
fi
if [[ -x $B/tests/hsmclient_test ]]; then
	suite "hsm/hsmclient_test" "$B/tests/hsmclient_test"
fi
if [[ -x $B/tests/hsmclient_test-san ]]; then
	suite "san/hsmclient_test" "$B/tests/hsmclient_test-san"
fi
if compgen -G "$B/fuzz/fuzz_*" >/dev/null; then
	suite "fuzz/smoke" tests/fuzz/smoke.sh
fi
for t in tests/integration/*.sh; do
	[[ $(basename "$t") == lib.sh ]] && continue
	suite "integration/$(basename "$t" .sh)" bash "$t"
done

# Where the time went: the whole run is kept under 15 minutes on 2 cores.
echo
echo "all suites: $SECONDS s; the slowest (seconds):"
printf '%s\n' "${times[@]}" | sort -rn | head -n 8 | sed 's/^/  /'
echo
if ((${#failed_suites[@]})); then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "$pass passed, $fail failed"
((fail == 0))
