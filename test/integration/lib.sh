# Shared prelude of the simcluster integration tests (sourced, not run):
# root and tool checks, a temporary directory, cleanup on every exit, and the
# ok/bad/wait_for/finish helpers. A test sets BM to the pid of a bpfmirror it
# started in the background so cleanup can stop it.
# shellcheck shell=sh
cd "$(dirname "$0")/../.." || exit 1
SC=scripts/simcluster
FAILS=0
BM=
T=

need() { # need TOOL...: skip (77) when one is missing
	if [ "$(id -u)" != 0 ]; then
		echo "skip: needs root"
		exit 77
	fi
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || { echo "skip: $tool missing (make deps)"; exit 77; }
	done
}

cleanup() {
	[ -n "$BM" ] && kill "$BM" 2>/dev/null
	$SC down >/dev/null 2>&1
	[ -n "$T" ] && rm -rf "$T"
}

# start_cluster NAME: temp dir, traps, simcluster up, KUBECONFIG.
start_cluster() {
	T=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP
	$SC up >"$T/up.log" 2>&1 || { cat "$T/up.log"; echo "FAIL: simcluster up"; exit 1; }
	STATE=$($SC state)
	KUBECONFIG=$($SC kubeconfig)
	export KUBECONFIG
}

ok() { echo "   ok   $1"; }
bad() {
	echo "   FAIL $1"
	FAILS=$((FAILS + 1))
}

wait_for() { # wait_for FILE TEXT TENTHS: 0 when TEXT shows up in FILE in time
	_i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -gt "$3" ] && return 1
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

finish() { # finish NAME: the summary line and the exit status
	echo "$1: $((FAILS == 0 ? 1 : 0)) passed, $((FAILS > 0 ? 1 : 0)) failed"
	[ $FAILS -eq 0 ]
}
