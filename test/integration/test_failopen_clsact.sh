#!/bin/sh
# Fail open on clsact (the fallback for kernels < 6.6, forced here with
# --force-clsact): the agent's filters outlive it, so when it is killed with
# SIGKILL during a steal the programs themselves must step aside once its
# heartbeat is a second old. New connections reach the pods within ~2 s while
# the filters stay attached; a restarted agent removes the stale filters.
# The agent runs outside simcluster's kubelet (which would restart it with
# its own flags). Root only; 77 = skipped.
. "$(dirname "$0")/lib.sh"
need jq bpftool
SIMCLUSTER_AGENT=0
export SIMCLUSTER_AGENT
AGENT_PID=
on_exit() { [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null; }

builds() { # builds N: N fresh requests through the Service, "build" of each answer
	i=0
	while [ $i -lt "$1" ]; do
		$SC client -- curl -s -m 3 http://ip-visit-counter/count | jq -r .build
		i=$((i + 1))
	done | sort | uniq -c | tr '\n' ' '
}
filters() { # clsact filters of ours on the node's links (both directions)
	ip netns exec bm-node sh -c 'for l in $(ls /sys/class/net); do
		tc filter show dev $l egress; tc filter show dev $l ingress; done 2>/dev/null' |
		grep -c 'bm_to_pod\|bm_from_pod'
}
start_agent() {
	ip netns exec bm-node build/bpfmirror-agent --listen "$NODE_IP:47100" \
		--metrics "$NODE_IP:47101" --node-name sim-node-1 --force-clsact >>"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	_i=0
	until ip netns exec bm-node curl -sf "$NODE_IP:47101/healthz" >/dev/null 2>&1; do
		_i=$((_i + 1))
		[ $_i -gt 50 ] && { cat "$T/agent.log"; give_up "agent not up"; }
		sleep 0.1
	done
}

start_cluster
NODE_IP=$(jq -r '.node.internalIP' "$STATE")
start_agent

build/bpfmirror attach deployment/ip-visit-counter --steal --connect direct \
	--agent "$NODE_IP:47100" -- build/apps/ip-visit-counter-local >"$T/local.out" 2>"$T/bm.err" &
BM=$!
wait_for "$T/bm.err" "stealing port 8080" 100 || { cat "$T/bm.err"; give_up "steal never became active"; }
b=$(builds 6)
[ "$b" = "      6 local build " ] && ok "stolen while the agent runs: $b" || bad "while stealing: $b"
n=$(filters)
[ "$n" -ge 2 ] && ok "attached with clsact: $n filters" || give_up "expected clsact filters, got $n"

# SIGKILL: nothing detaches the filters; the heartbeat stops. Six requests in
# one client, each line "time-ns build": the first SYNs may meet a heartbeat
# not yet a second old (dropped, resent by the client after 1 s).
t0=$(date +%s%N)
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
$SC client -- sh -c 'i=0; while [ $i -lt 6 ]; do
	b=$(curl -s -m 3 http://ip-visit-counter/count | jq -r .build)
	echo "$(date +%s%N) $b"; i=$((i + 1)); done' >"$T/after"
b=$(cut -d' ' -f2- "$T/after" | sort | uniq -c | tr '\n' ' ')
[ "$b" = "      6 deployed " ] && ok "after SIGKILL new connections reach the pods: $b" ||
	bad "after SIGKILL: '$b' (expected 6 deployed)"
first=$(grep ' deployed$' "$T/after" | head -1 | cut -d' ' -f1)
ms=$(((${first:-$((t0 + 99000000000))} - t0) / 1000000))
[ $ms -lt 2500 ] && ok "first answer $ms ms after the kill (< 2500)" ||
	bad "first answer $ms ms after the kill (>= 2500)"
n=$(filters)
[ "$n" -ge 2 ] && ok "the filters stayed behind ($n): the programs passed the traffic" ||
	bad "expected the dead agent's filters to stay, got $n"
# BM_R_FAIL_OPEN's counter in the dead agent's stats map (kept alive by its filters).
r=$(awk '/^enum bm_reason/ { f = 1; n = 0; next } f && /^\tBM_R_/ { if ($1 == "BM_R_FAIL_OPEN,") { print n; exit } n++ }' bpf/bpfmirror_abi.h)
fo=$(bpftool -j map dump name bm_stats 2>/dev/null |
	jq --argjson r "${r:-99}" '[.[] | (.formatted // .) | select(.key == $r) | .values[].value.packets] | add // 0')
[ "${fo:-0}" -gt 0 ] && ok "fail-open passes counted: $fo" || bad "fail_open_passed not counted (${fo:-none})"

kill -INT "$BM" 2>/dev/null
wait_exit "$BM" 100 || kill -9 "$BM" 2>/dev/null
BM=

# A new agent removes the stale filters at start and leaves the pods alone.
start_agent
n=$(filters)
[ "$n" = 0 ] && ok "restarted agent removed the stale filters" || bad "after restart: $n filters left"
b=$(builds 3)
[ "$b" = "      3 deployed " ] && ok "pods answer with the new agent: $b" || bad "with the new agent: $b"
grep -q 'stale' "$T/agent.log" && echo "   log: $(grep 'stale' "$T/agent.log" | tail -1 | cut -c1-100)"
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=

finish
