#!/bin/sh
# HTTP-filtered steal in simcluster: two developers attached to
# deployment/ip-visit-counter with --steal --header 'X-Dev: team-a' and
# 'X-Dev: team-b', each running the local build (LOCAL_TAG tells them apart).
# Over ONE keep-alive connection through the Service, 999 requests
# alternating team-a / team-b / no header are each answered by the right
# party, and a 1000th on a fresh connection too; the pods stay Ready and no
# probe reaches a developer; after team-a detaches its requests go to the pod
# while team-b's still reach team-b. Also: a second whole-connection steal of
# the port is refused naming the holder, and kill -9 of the agent fails open
# (the pod serves, the router's veth is gone). Unmarked requests reach the pod
# from the client's own address (its IP in the answer, its visit count going
# up by one per request), not from the node. Root only; 77 = skipped.
# KEEP=1 keeps the temporary directory as /tmp/keep_fsteal.
. "$(dirname "$0")/lib.sh"
need jq /usr/bin/python3
A=
B=
W=
on_exit() {
	[ -n "$KEEP" ] && cp -r "$T" /tmp/keep_fsteal
	for p in $A $B $W; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in $A $B $W; do kill -9 "$p" 2>/dev/null; done
}
start_cluster
METRICS=$(jq -r '.node.internalIP' "$STATE"):47101

# Starts a developer: $1 = tag, prints the pid; waits for the steal to be active.
start_dev() {
	LOCAL_TAG=$1 build/bpfmirror attach deployment/ip-visit-counter --steal \
		--header "^X-Dev: $1\$" --connect direct -- \
		build/apps/ip-visit-counter-local >"$T/$1.out" 2>"$T/$1.err" &
	echo $!
}
wait_stealing() {
	wait_for "$T/$1.err" 'stealing port 8080' 150 || { cat "$T/$1.err" "$T/$1.out"; return 1; }
	sleep 0.5 # the Subscribe reaches the agent
}

# The client's visit count before anyone attaches: every later request of
# the client counts once more, whoever answers it.
K0=$($SC client -- curl -s -m 5 http://ip-visit-counter/count | jq -r '.count // empty')
A=$(start_dev team-a)
B=$(start_dev team-b)
wait_stealing team-a || give_up "team-a never stole"
wait_stealing team-b || give_up "team-b never stole"
ok "two developers attached with header filters"

count() { jq -r --arg v "$2" --arg b "$3" '.by_value[$v][$b] // 0' "$1"; }
$SC client -- python3 test/tools/altclient.py ip-visit-counter 80 /count 999 X-Dev team-a team-b - >"$T/r1.json"
echo "   load: $(head -c 300 "$T/r1.json")"
[ "$(jq -r .ok "$T/r1.json")" = 999 ] && [ "$(jq -r .reconnects "$T/r1.json")" = 0 ] &&
	ok "999 requests answered on one keep-alive connection" || bad "answers: $(cat "$T/r1.json")"
[ "$(count "$T/r1.json" team-a 'local build (team-a)')" = 333 ] && ok "333 team-a requests answered by team-a" || bad "team-a: $(jq -c '.by_value["team-a"]' "$T/r1.json")"
[ "$(count "$T/r1.json" team-b 'local build (team-b)')" = 333 ] && ok "333 team-b requests answered by team-b" || bad "team-b: $(jq -c '.by_value["team-b"]' "$T/r1.json")"
[ "$(count "$T/r1.json" - deployed)" = 333 ] && ok "333 requests without header answered by the pod" || bad "no header: $(jq -c '.by_value["-"]' "$T/r1.json")"
$SC client -- curl -s -m 5 -H 'X-Dev: team-a' http://ip-visit-counter/count >"$T/one.json"
[ "$(jq -r .build "$T/one.json")" = "local build (team-a)" ] && ok "request 1000 (curl, fresh connection): team-a" || bad "curl: $(cat "$T/one.json")"

# ---- the app sees the real caller ----------------------------------------
# Unmarked requests reach the pod from the client's own address: the demo's
# "ip" is the client's, and its per-IP count goes up by one per request, on
# fresh connections and on one keep-alive connection alike.
CIP=$(jq -r '.client.ip' "$STATE")
: >"$T/ip.json"
for i in 1 2 3 4 5; do
	$SC client -- curl -s -m 5 http://ip-visit-counter/count >>"$T/ip.json" || echo '{"curl":"failed"}' >>"$T/ip.json"
	echo >>"$T/ip.json"
done
URLS=$(for i in 1 2 3 4 5; do printf 'http://ip-visit-counter/count '; done)
$SC client -- curl -s -m 10 $URLS >>"$T/ip.json"
IPS=$(jq -r '.ip // "none"' "$T/ip.json" | sort | uniq -c | tr -s ' ' | tr '\n' ';')
[ "$IPS" = " 10 $CIP;" ] && ok "10 unmarked answers show the client's own IP $CIP" || bad "callers seen by the app: $IPS (client $CIP)"
COUNTS=$(jq -r '.count // 0' "$T/ip.json" | tr '\n' ' ')
# 999 + 1 requests of the load and curl above, then these ten.
echo "$COUNTS" | awk -v k="$K0" '{ if (k == "" || $1 != k + 1001) exit 1
	for (i = 2; i <= NF; i++) if ($i != $(i - 1) + 1) exit 1; exit NF != 10 }' &&
	ok "the client's visit count keeps counting as if nobody were attached: $K0, then $COUNTS" ||
	bad "visit counts: $K0 before attaching, then $COUNTS"
# Each replica directly (pod IP:8080 is routed per pod).
for ip in $(jq -r '.pods[] | select(.name | startswith("ip-visit-counter-")) | (.podIP // .ip)' "$STATE"); do
	got=$($SC client -- curl -s -m 5 "http://$ip:8080/count" | jq -r '.ip // "none"')
	[ "$got" = "$CIP" ] && ok "replica $ip sees the client's IP" || bad "replica $ip sees $got"
done

ip netns exec bm-node curl -s "http://$METRICS/metrics" >"$T/m1"
grep -q 'bpfmirror_router_requests_total{target="session"}' "$T/m1" && ok "router metrics: $(grep '^bpfmirror_router_requests_total' "$T/m1" | tr '\n' ' ')" || bad "no router metrics"
grep -q '^bpfmirror_router_app_from_node_total 0$' "$T/m1" && grep -q 'packets_total{reason="router_reply"} [1-9]' "$T/m1" &&
	ok "every app connection came from the client's address, the pod's answers returned to the router" ||
	bad "transparent upstream metrics: $(grep -E 'app_from_node|router_reply|router_upstream' "$T/m1" | tr '\n' ' ')"

# ---- probes keep passing --------------------------------------------------
$SC status >"$T/status" 2>&1
PODS=$(grep -E 'ip-visit-counter-[a-z0-9]+-[a-z0-9]+ ' "$T/status")
if [ "$(echo "$PODS" | grep -cE ' 1/1 +Running +0 ')" = 2 ]; then ok "both pods still Ready, no restart"; else bad "pods: $PODS"; fi
grep -q "kube-probe" "$T/team-a.out" "$T/team-b.out" && bad "a probe reached a developer" || ok "no probe reached a developer"

# ---- second whole-connection steal --------------------------------------
build/bpfmirror attach deployment/ip-visit-counter --steal --connect direct -- sleep 30 >"$T/w.out" 2>"$T/w.err" &
W=$!
sleep 3
BPFMIRROR_IDENTITY=second build/bpfmirror attach deployment/ip-visit-counter --steal --connect direct -- true >"$T/w2.out" 2>"$T/w2.err"
rc=$?
[ $rc -ne 0 ] && grep -q "already stolen by" "$T/w2.err" && ok "second whole steal refused: $(grep -o 'already stolen by [^ ]*' "$T/w2.err" | head -1)" || bad "second whole steal (rc $rc): $(tail -2 "$T/w2.err")"
kill $W 2>/dev/null
wait $W 2>/dev/null
W=

# ---- team-a detaches -----------------------------------------------------
kill -INT "$A"
wait_exit "$A" 50 || bad "team-a still runs 5 s after SIGINT"
A=
sleep 0.3
$SC client -- python3 test/tools/altclient.py ip-visit-counter 80 /count 300 X-Dev team-a team-b - >"$T/r2.json"
echo "   after team-a left: $(jq -c .by_value "$T/r2.json")"
[ "$(count "$T/r2.json" team-a deployed)" = 100 ] && ok "team-a's requests now go to the pod" || bad "team-a after detach: $(jq -c '.by_value["team-a"]' "$T/r2.json")"
[ "$(count "$T/r2.json" team-b 'local build (team-b)')" = 100 ] && ok "team-b's still reach team-b" || bad "team-b after team-a left: $(jq -c '.by_value["team-b"]' "$T/r2.json")"

# ---- fail open: agent killed ---------------------------------------------
AGENT=$(agent_pid)
if [ -z "$AGENT" ]; then
	bad "no agent process to kill"
else
	kill -9 "$AGENT"
	sleep 0.5
	$SC client -- curl -s -m 5 -H 'X-Dev: team-b' http://ip-visit-counter/count >"$T/fo.json"
	[ "$(jq -r .build "$T/fo.json" 2>/dev/null)" = deployed ] && ok "agent killed: the pod serves team-b's request" || bad "after kill -9: $(cat "$T/fo.json")"
	ip netns exec bm-node ip link show bpfmr0 >/dev/null 2>&1 && bad "router veth left behind" || ok "router namespace and veth gone with the agent"
fi

finish
