# Shared prelude of every integration test (sourced, not run). A test reports
# each check through these, so all tests count and print alike:
#   ok TEXT         a check passed
#   bad TEXT        a check failed; the test goes on, finish exits 1
#   skip TEXT       a check cannot run on this machine; TEXT says why. Only for
#                   what is genuinely optional: a tool `make deps` installs
#                   is required (need), and its absence is a failure.
#   give_up TEXT    a step the rest depends on failed: one failure, exit 1 now
#   skip_test TEXT  the whole test cannot run (not root): exit 77
#   finish          the summary line; exit 0 when nothing failed, else 1
# When BM_COUNTS names a file (run.sh sets it), finish appends
# "NAME PASSED FAILED SKIPPED" to it so the run can total all checks.
# Cleanup on every exit, after make_temp or start_cluster: the test's own
# on_exit function when it defines one, the bpfmirror whose pid is in $BM,
# the cluster start_cluster brought up, and the temporary directory $T.
# shellcheck shell=sh
cd "$(dirname "$0")/../.." || exit 1
SC=scripts/simcluster
TEST=$(basename "$0" .sh)
PASSES=0
FAILS=0
SKIPS=0
BM=
T=
CLUSTER=

ok() {
	PASSES=$((PASSES + 1))
	echo "   ok   $1"
}
bad() {
	FAILS=$((FAILS + 1))
	echo "   FAIL $1"
}
skip() {
	SKIPS=$((SKIPS + 1))
	echo "   skip $1"
}
check() { # check NAME CMD...: ok when CMD succeeds, else bad
	_name=$1
	shift
	if "$@"; then ok "$_name"; else bad "$_name"; fi
}

finish() {
	echo "$TEST: $PASSES passed, $FAILS failed, $SKIPS skipped"
	[ -n "$BM_COUNTS" ] && echo "$TEST $PASSES $FAILS $SKIPS" >>"$BM_COUNTS"
	[ $FAILS -eq 0 ] && exit 0
	exit 1
}
give_up() {
	bad "$1"
	finish
}
skip_test() {
	echo "   skip $TEST: $1"
	exit 77
}

need_tools() { # need_tools TOOL|PATH...: each one missing is a failure
	_missing=0
	for _tool in "$@"; do
		if ! command -v "$_tool" >/dev/null 2>&1; then
			bad "$_tool missing (make deps / make all provide it)"
			_missing=1
		fi
	done
	[ $_missing -eq 0 ] || finish
}
need() { # need TOOL...: root (else the test is skipped) and the tools
	[ "$(id -u)" = 0 ] || skip_test "needs root"
	need_tools "$@"
}

cleanup() {
	command -v on_exit >/dev/null 2>&1 && on_exit
	[ -n "$BM" ] && kill "$BM" 2>/dev/null
	[ -n "$CLUSTER" ] && $SC down >/dev/null 2>&1
	[ -n "$T" ] && rm -rf "$T"
}

make_temp() { # make_temp: $T, and cleanup on every exit
	T=$(mktemp -d "/tmp/$TEST.XXXXXX") || exit 1
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

# start_cluster: make_temp, simcluster up, $STATE and $KUBECONFIG.
start_cluster() {
	[ -n "$T" ] || make_temp
	CLUSTER=1
	$SC up >"$T/up.log" 2>&1 || { cat "$T/up.log"; give_up "simcluster up"; }
	# shellcheck disable=SC2034 # read by the tests
	STATE=$($SC state)
	KUBECONFIG=$($SC kubeconfig)
	export KUBECONFIG
}

wait_for() { # wait_for FILE TEXT TENTHS: 0 when TEXT shows up in FILE in time
	_i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -gt "$3" ] && return 1
		sleep 0.1
	done
}

wait_count() { # wait_count FILE TEXT N TENTHS: 0 when N lines of FILE have TEXT in time
	_i=0
	while [ "$(grep -c "$2" "$1" 2>/dev/null)" -lt "$3" ]; do
		_i=$((_i + 1))
		[ $_i -gt "$4" ] && return 1
		sleep 0.1
	done
}

wait_file() { # wait_file FILE PID TENTHS: 0 when FILE is non-empty in time (PID still runs)
	_i=0
	until [ -s "$1" ]; do
		_i=$((_i + 1))
		if [ $_i -gt "$3" ] || ! kill -0 "$2" 2>/dev/null; then
			[ -s "$1" ]
			return
		fi
		sleep 0.1
	done
}

wait_exit() { # wait_exit PID TENTHS: 0 when PID has ended in time
	_i=0
	while kill -0 "$1" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -gt "$2" ] && return 1
		sleep 0.1
	done
}

agent_pid() { pgrep -f 'bpfmirror-agent --listen' | head -1; }

# Links whose program is one of ours (bpftool 7.1 does not list tcx in `net`).
our_links() {
	bpftool -j prog show 2>/dev/null |
		jq -r '.[] | select(.name == "bm_to_pod" or .name == "bm_from_pod") | .id' >"$T/progs"
	_n=$(bpftool -j link show 2>/dev/null | jq -r '.[].prog_id' | grep -cxFf "$T/progs")
	echo "${_n:-0}"
}
