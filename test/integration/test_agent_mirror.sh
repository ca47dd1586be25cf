#!/bin/sh
# Mirroring through the node agent in simcluster: a protocol client (bpfmirror
# tap, not attach) is refused for an unknown container, then mirrors one
# ip-visit-counter pod while 1,000 requests (fresh and keep-alive) are sent to
# that pod: every request is answered by the pod, every one is copied into the
# pcap, and the agent's metrics count mirrored packets. Then kill -9 of the
# agent: no bpfmirror program stays attached and the pod keeps answering.
# Root only; 77 = skipped.
. "$(dirname "$0")/lib.sh"
need jq bpftool /usr/bin/python3
start_cluster
AGENT=$(jq -r '.node.internalIP' "$STATE"):47100
POD_IP=$(jq -r '[.pods[] | select(.name | startswith("ip-visit-counter"))][0].podIP' "$STATE")
CID=$(jq -r '[.pods[] | select(.name | startswith("ip-visit-counter"))][0].containers[0].containerID' "$STATE")
# The agent verifies the whole claim: namespace, pod name and UID too.
POD="-n default --pod $(jq -r '[.pods[] | select(.name | startswith("ip-visit-counter"))][0].name' "$STATE")"
POD="$POD --pod-uid $(jq -r '[.pods[] | select(.name | startswith("ip-visit-counter"))][0].uid' "$STATE")"
echo "   pod $POD_IP, agent $AGENT"

# Protocol errors first: an unknown container is refused, nothing attached.
if build/bpfmirror tap --agent "$AGENT" --pod-ip "$POD_IP" --container-id \
	containerd://0000000000000000000000000000000000000000000000000000000000000000 \
	-p 8080 --seconds 2 >"$T/bad.out" 2>&1; then
	bad "unknown container must be refused"
else
	grep -q "is not running" "$T/bad.out" && ok "unknown container refused: $(grep -o 'container [^ ]* of pod.*' "$T/bad.out" | head -c 80)" ||
		bad "unknown container error text: $(cat "$T/bad.out")"
fi

# shellcheck disable=SC2086 # POD is several options
build/bpfmirror tap --agent "$AGENT" --pod-ip "$POD_IP" --container-id "$CID" $POD -p 8080 \
	--seconds 90 -w "$T/mirror.pcap" >"$T/tap.out" 2>"$T/tap.err" &
BM=$!
wait_for "$T/tap.out" ready 50 || { cat "$T/tap.err"; give_up "tap not ready"; }
ok "tap attached"

$SC client -- python3 test/tools/loadgen.py "$POD_IP" 8080 /count 500 500 >"$T/load.json"
echo "   load: $(cat "$T/load.json" | head -c 200)"
[ "$(jq -r .ok "$T/load.json")" = 1000 ] && ok "pod answered 1000/1000" || bad "pod answered $(jq -r .ok "$T/load.json")/1000"

# Copies may trail the answers by a batch interval: give them a moment.
sleep 1
kill "$BM" 2>/dev/null
wait "$BM" 2>/dev/null
BM=
got=$(python3 test/tools/pcap_requests.py "$T/mirror.pcap" "GET /count")
if [ "$got" = 1000 ]; then
	ok "copies received: $got of 1000 requests ($(tail -1 "$T/tap.out"))"
else
	bad "copies received: ${got:-none} of 1000"
	cat "$T/tap.err"
fi
[ -s "$T/mirror.pcap" ] && ok "pcap written ($(wc -c <"$T/mirror.pcap") bytes)" || bad "pcap empty"

# Metrics: the agent served a session and counted its packets.
m=$(ip netns exec bm-node curl -s "$(jq -r '.node.internalIP' "$STATE"):47101/metrics")
echo "$m" | grep -q '^bpfmirror_datapath_packets_total{reason="mirrored"} [1-9]' &&
	ok "metrics count mirrored packets" || bad "metrics: no mirrored packets"

# Fail open: kill -9 the agent while a session holds the pod.
# shellcheck disable=SC2086 # POD is several options
build/bpfmirror tap --agent "$AGENT" --pod-ip "$POD_IP" --container-id "$CID" $POD -p 8080 \
	--seconds 30 >"$T/tap2.out" 2>&1 &
BM=$!
sleep 1
n=$(our_links)
[ "$n" -ge 2 ] && ok "attached: $n links" || bad "expected tcx links while attached, got $n"
APID=$(agent_pid)
kill -9 "$APID"
sleep 0.5
n=$(our_links)
n=${n:-0}
[ "$n" = 0 ] && ok "after kill -9: no bpfmirror link left" || bad "after kill -9: $n links left"
$SC client -- python3 test/tools/loadgen.py "$POD_IP" 8080 /count 20 0 >"$T/after.json"
[ "$(jq -r .ok "$T/after.json")" = 20 ] && ok "pod answers after the agent died" || bad "after kill: $(cat "$T/after.json")"
wait "$BM" 2>/dev/null
BM=

finish
