#!/bin/sh
# `make demo`: brings up the simulated staging node with the ip-visit-counter
# demo, calls it through its Service like another pod would, then plays the
# main job: a local build of ip-visit-counter attached with bpfmirror in mirror
# mode (the pods keep answering; the local build gets every request with the
# caller's real IP, the pod's env, file and Redis), then whole-connection
# steal. Brings the node down again (KEEP=1 leaves it up).
set -eu
cd "$(dirname "$0")/.."
SC=scripts/simcluster
if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (network namespaces, cgroups)" >&2
	exit 1
fi
cleanup() {
	if [ "${KEEP:-0}" != 1 ]; then
		$SC down
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() {
	printf '$ %s\n' "$*"
	"$@"
}

step "bring up the simulated node (manifests: test/cluster/manifests/)"
$SC up
$SC status

step "call the Service from another workload on the cluster network"
show $SC client -- curl -s -H 'X-PG-Tenant: demo' http://ip-visit-counter/count
show $SC client -- curl -s http://ip-visit-counter/count

step "Redis really holds the visit count"
IP=$(jq -r .client.ip "$($SC state)")
show $SC exec redis-main -- redis-cli GET "visits:$IP"
show $SC exec redis-main -- redis-cli TTL "visits:$IP"

step "the container's cgroup carries its container ID"
POD=$(jq -r '.pods[] | select(.name | startswith("ip-visit-counter-")) | .name' "$($SC state)" | head -1)
PID=$(jq -r ".pods[] | select(.name == \"$POD\") | .containers[0].pid" "$($SC state)")
show cat "/proc/$PID/cgroup"

step "the kubelet's probes in the pod's log"
$SC logs "$POD" | grep kube-probe | tail -2

if [ -f "$($SC kubeconfig 2>/dev/null)" ] && command -v kubectl >/dev/null 2>&1; then
	step "the API endpoint"
	show kubectl --kubeconfig "$($SC kubeconfig)" get pods -o wide
fi

BM_PID=
stop_bm() {
	if [ -n "$BM_PID" ]; then
		kill -INT "$BM_PID" 2>/dev/null || true
		wait "$BM_PID" 2>/dev/null || true
		BM_PID=
	fi
}
wait_for() { # wait_for FILE TEXT: up to 10 s
	i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 200 ] && { echo "demo: timed out waiting for '$2'" >&2; cat "$1" >&2; return 1; }
		sleep 0.05
	done
}
KUBECONFIG=$($SC kubeconfig)
export KUBECONFIG
LOG=$(mktemp -d /tmp/bpfmirror-demo.XXXXXX)
trap 'stop_bm; rm -rf "$LOG"; cleanup' EXIT

step "mirror: run a local build as the deployment (the pods keep serving)"
echo "\$ bpfmirror attach deployment/ip-visit-counter --connect direct -- build/apps/ip-visit-counter-local"
build/bpfmirror attach deployment/ip-visit-counter --connect direct -- \
	build/apps/ip-visit-counter-local >"$LOG/local.out" 2>"$LOG/bm.err" &
BM_PID=$!
wait_for "$LOG/local.out" "listening on"
sed 's/^/  [bpfmirror] /' "$LOG/bm.err"
sed 's/^/  [local build] /' "$LOG/local.out"
step "requests to the Service are answered by the pods as before..."
for i in 1 2 3; do
	$SC client -- curl -s http://ip-visit-counter/count | jq -c '{ip, count, build, pod}'
done
sleep 0.5
step "...and the local build received the same requests, with the caller's IP"
echo "  (the count grows by two per request: the local build really talks to the cluster's"
echo "   Redis too; mirror shares side effects, see docs/attach.md)"
grep 'GET /count' "$LOG/local.out" | sed 's/^/  [local build] /'
stop_bm
grep detached "$LOG/bm.err" | sed 's/^/  [bpfmirror] /'

step "steal: new connections go to the local build while it listens"
echo "\$ bpfmirror attach deployment/ip-visit-counter --steal --connect direct -- build/apps/ip-visit-counter-local"
build/bpfmirror attach deployment/ip-visit-counter --steal --connect direct -- \
	build/apps/ip-visit-counter-local >"$LOG/steal.out" 2>"$LOG/steal.err" &
BM_PID=$!
wait_for "$LOG/steal.err" "stealing port"
for i in 1 2; do
	$SC client -- curl -s http://ip-visit-counter/count | jq -c '{ip, count, build, pod}'
done
stop_bm
step "after detach the pods answer again"
$SC client -- curl -s http://ip-visit-counter/count | jq -c '{ip, count, build, pod}'

# ---- filtered steal ----------------------------------------------------------
demo_filtered_steal() {
	step "filtered steal: only requests with the developer's header go to the local build"
	echo "\$ LOCAL_TAG=alice bpfmirror attach deployment/ip-visit-counter --steal --header '^X-Dev: alice\$' --connect direct -- build/apps/ip-visit-counter-local"
	LOCAL_TAG=alice build/bpfmirror attach deployment/ip-visit-counter --steal \
		--header '^X-Dev: alice$' --connect direct -- \
		build/apps/ip-visit-counter-local >"$LOG/fsteal.out" 2>"$LOG/fsteal.err" &
	BM_PID=$!
	wait_for "$LOG/fsteal.err" "stealing port"
	sleep 0.5
	echo "  without the header: the pod answers"
	echo "\$ curl -s http://ip-visit-counter/count"
	$SC client -- curl -s http://ip-visit-counter/count | jq -c '{ip, count, build, pod}'
	echo "  with 'X-Dev: alice': the local build answers (build \"local build (alice)\")"
	echo "\$ curl -s -H 'X-Dev: alice' http://ip-visit-counter/count"
	$SC client -- curl -s -H 'X-Dev: alice' http://ip-visit-counter/count | jq -c '{ip, count, build, pod}'
	stop_bm
}
demo_filtered_steal

if [ "${KEEP:-0}" = 1 ]; then
	step "left up (KEEP=1): scripts/simcluster down removes it"
else
	step "bring it down"
fi
