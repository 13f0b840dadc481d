#!/usr/bin/env bash
# Runs every test program and integration test. Each prints its own line
# "... N passed, N failed"; this adds them up into the closing line.
#   TESTS=glob     run only the suites whose name matches (e.g. TESTS='unit/*')
#   TEST_JOBS=N    suites of the shared phase at a time (default: one per
#                  CPU; 1 runs everything one after another)
#
# Two phases. First the suites that share nothing but the CPUs and assert
# nothing about elapsed time (no time bound on what they test, no fixed
# wait for another process to act; a poll with a generous bound is fine):
# the integration suites named in SHARED, and the lint and unit tests;
# they run TEST_JOBS at a time. Then every other suite, alone: the
# ones that time what they test, kill at random moments, or already keep
# every CPU busy (the fuzz smoke, posix.sh's two lanes). A new integration
# suite runs alone until it is added to SHARED. Each suite's output is
# shown whole once it ends, in the order the suites started.
set -u
B=${B:-build}
export B
cd "$(dirname "$0")/.."
TESTS=${TESTS:-*}
JOBS=${TEST_JOBS:-$(nproc)}
# Longest first, so that the short unit tests fill in at the end.
SHARED=(manyfiles reader torture diskfull sanitizers bindings frozen corrupt
	secrets adversary onemount fsck state cli sdk tamper undetected ciphertext
	dist demo demodr lifecycle deep pkcs11 pkcs11ock tools audit boot)
pass=0
fail=0
failed_suites=()
times=()
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

started=0 # suites started; suite i logs to $out/i, its end to $out/i.end
shown=0   # suites shown
running=0 # suites running now
names=()

# start NAME CMD...: runs a suite in the background.
start() {
	local i=$started
	names[i]=$1
	shift
	(
		t0=$SECONDS
		"$@" >"$out/$i" 2>&1
		echo "$? $((SECONDS - t0))" >"$out/$i.end"
	) &
	started=$((started + 1))
	running=$((running + 1))
}

# show I: shows suite I's output and adds up its closing line. A suite
# that dies without one counts as one failure.
show() {
	local name=${names[$1]} log=$out/$1 rc=1 secs=0 line p f
	read -r rc secs <"$out/$1.end"
	printf '=== %s\n' "$name"
	cat "$log"
	times+=("$secs $name")
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
}

# Shows, in order, each suite that has ended after all those before it.
show_ended() {
	while ((shown < started)) && [[ -e $out/$shown.end ]]; do
		show "$shown"
		shown=$((shown + 1))
	done
}

# Waits until at most N suites run (N=0: all have ended).
drain() {
	while ((running > $1)); do
		wait -n
		running=$((running - 1))
		show_ended
	done
}

# shared NAME CMD...: a suite of the first phase.
shared() {
	# shellcheck disable=SC2053
	[[ $1 == $TESTS ]] || return 0
	drain $((JOBS - 1))
	start "$@"
}

# is_shared NAME: an integration suite of the first phase.
is_shared() {
	local n
	for n in "${SHARED[@]}"; do
		[[ $n == "$1" ]] && return 0
	done
	return 1
}

# alone NAME CMD...: a suite of the second phase.
alone() {
	# shellcheck disable=SC2053
	[[ $1 == $TESTS ]] || return 0
	drain 0
	start "$@"
	drain 0
}

for n in "${SHARED[@]}"; do
	t=tests/integration/$n.sh
	[[ -f $t ]] && shared "integration/$n" bash "$t"
done
for t in tests/lint/*.sh; do
	shared "lint/$(basename "$t" .sh)" bash "$t"
done
for t in "$B"/tests/unit/*_test; do
	[[ -x $t ]] && shared "unit/$(basename "$t")" "$t"
done
for t in "$B"/tests/san/*_test; do
	[[ -x $t ]] && shared "san/$(basename "$t")" "$t"
done
# The PKCS#11 provider against SoftHSM2: its own token directory, no
# timing, a few seconds.
if [[ -x $B/tests/pkcs11_test ]]; then
	shared "hsm/pkcs11_test" "$B/tests/pkcs11_test"
fi
if [[ -x $B/tests/pkcs11_test-san ]]; then
	shared "san/pkcs11_test" "$B/tests/pkcs11_test-san"
fi
# Unit tests once more under valgrind's memcheck: no invalid access, no
# definite leak.
if command -v valgrind >/dev/null; then
	for t in "$B"/tests/unit/*_test; do
		[[ -x $t ]] && shared "valgrind/$(basename "$t")" \
			valgrind -q --error-exitcode=1 --leak-check=full \
			--errors-for-leak-kinds=definite "$t"
	done
fi
if [[ -x $B/tests/hsmclient_test ]]; then
	alone "hsm/hsmclient_test" "$B/tests/hsmclient_test"
fi
if [[ -x $B/tests/hsmclient_test-san ]]; then
	alone "san/hsmclient_test" "$B/tests/hsmclient_test-san"
fi
if compgen -G "$B/fuzz/fuzz_*" >/dev/null; then
	alone "fuzz/smoke" tests/fuzz/smoke.sh
fi
for t in tests/integration/*.sh; do
	n=$(basename "$t" .sh)
	[[ $n == lib ]] || is_shared "$n" && continue
	alone "integration/$n" bash "$t"
done
drain 0
while ((shown < started)); do # only if a suite's runner was killed
	show "$shown"
	shown=$((shown + 1))
done

# Where the time went: the whole run is kept under 15 minutes on 2 cores.
# A suite's time is its own wall time, shared CPUs or not.
echo
echo "all suites: $SECONDS s; the slowest (seconds):"
printf '%s\n' "${times[@]}" | sort -rn | head -n 8 | sed 's/^/  /'
echo
if ((${#failed_suites[@]})); then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "$pass passed, $fail failed"
((fail == 0))
