#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS on a copy of its committed seed
# corpus; a crash, leak, timeout or broken invariant fails the target.
# Targets run FUZZ_JOBS at a time (default: one per CPU); each is one
# process on one CPU, so each gets its FUZZ_SECONDS in full either way.
set -u
B=${B:-build}
SECS=${FUZZ_SECONDS:-10}
JOBS=${FUZZ_JOBS:-$(nproc)}
cd "$(dirname "$0")/../.."
pass=0
fail=0
mkdir -p "$B/fuzz/artifacts"

# fuzz TARGET: runs it, its exit status in $B/fuzz/TARGET.rc.
fuzz() {
	local t=$1 w=$B/fuzz/work/$1
	rm -rf "$w" && mkdir -p "$w" && cp tests/fuzz/corpus/"$t"/* "$w"/
	"$B/fuzz/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$B/fuzz/artifacts/$t-" \
		"$w" >"$B/fuzz/$t.log" 2>&1
	echo $? >"$B/fuzz/$t.rc"
}

targets=()
for bin in "$B"/fuzz/fuzz_*; do
	[[ -x $bin ]] || continue
	targets+=("$(basename "$bin")")
done
running=0
for t in "${targets[@]}"; do
	rm -f "$B/fuzz/$t.rc"
	if ((running >= JOBS)); then
		wait -n
		running=$((running - 1))
	fi
	fuzz "$t" &
	running=$((running + 1))
done
wait
for t in "${targets[@]}"; do
	if [[ $(cat "$B/fuzz/$t.rc" 2>/dev/null) == 0 ]]; then
		pass=$((pass + 1))
		echo "ok - $t ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$B/fuzz/$t.log" | grep -o '[0-9]*$') runs in ${SECS}s)"
	else
		fail=$((fail + 1))
		tail -n 40 "$B/fuzz/$t.log"
		echo "FAIL - $t (log: $B/fuzz/$t.log, inputs: $B/fuzz/artifacts/)"
	fi
done
echo "$pass passed, $fail failed"
((fail == 0 && pass > 0))
