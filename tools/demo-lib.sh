# shellcheck shell=bash
# The narration of the demos (tools/demo.sh, tools/demo-dr.sh): bold steps,
# dim notes, commands shown before they run, and pauses only when someone
# watches at a terminal (none in CI or with the output redirected).
# Sourced from the top of the tree; B names the build directory.
B=${B:-build}
# shellcheck disable=SC2034 # for the demos
HSMFS=$PWD/$B/hsmfs
EMU=$PWD/$B/hsm-emulator
# shellcheck source=hsm-emulator/launch.sh
. tools/hsm-emulator/launch.sh

if [[ -t 1 ]]; then
	BOLD=$'\e[1m' DIM=$'\e[2m' CYAN=$'\e[36m' RESET=$'\e[0m'
else
	BOLD= DIM= CYAN= RESET=
fi

say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$RESET"; }
note() { printf '%s    %s%s\n' "$DIM" "$*" "$RESET"; }
# show CMD...: shows a command line without running it.
show() { printf '%s$ %s%s\n' "$CYAN" "$*" "$RESET"; }
# run CMD...: shows a command, then runs it.
run() {
	show "$@"
	"$@"
}
pause() { [[ -t 0 && -t 1 ]] && sleep "${1:-1}" || true; }
