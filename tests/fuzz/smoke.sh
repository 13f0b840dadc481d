#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS on a copy of its committed seed
# corpus; a crash, leak, timeout or broken invariant fails the target.
set -u
B=${B:-build}
SECS=${FUZZ_SECONDS:-10}
cd "$(dirname "$0")/../.."
pass=0
fail=0
mkdir -p "$B/fuzz/artifacts"
for bin in "$B"/fuzz/fuzz_*; do
	[[ -x $bin ]] || continue
	t=$(basename "$bin")
	w=$B/fuzz/work/$t
	rm -rf "$w" && mkdir -p "$w" && cp tests/fuzz/corpus/"$t"/* "$w"/
	if "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$B/fuzz/artifacts/$t-" \
		"$w" >"$B/fuzz/$t.log" 2>&1; then
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
