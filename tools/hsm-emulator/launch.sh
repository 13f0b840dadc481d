# shellcheck shell=bash
# emu_launch STATE LISTEN [EMULATOR-ARGS...]: starts the emulator ($EMU)
# in the background on state directory STATE, its first line of output to
# STATE.out and its log to STATE.err; sets EMU_PID at once, then waits
# (bounded, 10 s) for the URL it prints and sets EMU_URL. Returns 1, with
# its log on stderr, if none came. Sourced by the tests, the bench and the
# demo, which each keep track of EMU_PID to stop it. The HSM starts
# activated (--activate-for-tests), unless EMU_PROVISIONED is set: then it
# is provisioned, not activated, and waits for its security domain.
emu_launch() {
	local st=$1 listen=$2
	shift 2
	# The emulator makes STATE itself, private; only its parent is made here.
	mkdir -p -- "$(dirname -- "$st")"
	[[ -n ${EMU_PROVISIONED:-} ]] || set -- --activate-for-tests "$@"
	"$EMU" --state "$st" --listen "$listen" "$@" >"$st.out" 2>"$st.err" &
	EMU_PID=$!
	for _ in $(seq 200); do
		EMU_URL=$(head -n 1 "$st.out" 2>/dev/null || true)
		[[ $EMU_URL == https://* ]] && return 0
		kill -0 "$EMU_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$st.err" >&2
	return 1
}
