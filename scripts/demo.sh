#!/bin/sh
# `make demo`: brings up the simulated staging node with the ip-visit-counter
# demo, calls it twice through its Service like another pod would, shows the
# count Redis keeps, and brings the node down again (KEEP=1 leaves it up).
# Later issues extend this with the bpfmirror attach scenario.
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

if [ "${KEEP:-0}" = 1 ]; then
	step "left up (KEEP=1): scripts/simcluster down removes it"
else
	step "bring it down"
fi
