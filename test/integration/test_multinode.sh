#!/bin/sh
# simcluster with 3 nodes (`up --nodes 3 --scale ip-visit-counter=3`): one
# replica per node, Node objects and pod placement in the API, one agent per
# node, cross-node Service traffic and DNS, probes from each pod's own node,
# isolation of the root namespace; then bpfmirror attach covering the three
# replicas, each through its own node's agent: mirror (--connect direct),
# steal and filtered steal (through port-forward), the twin's outgoing calls
# (Redis and ip-info on other nodes), and kill -9 of one node's agent: that
# node's pod serves, the other nodes' sessions keep stealing.
# Root only; 77 = skipped. KEEP=1 keeps the temporary directory as /tmp/keep_multinode.
. "$(dirname "$0")/lib.sh"
need jq /usr/bin/python3
KUBECTL=build/tools/bin/kubectl
A=
on_exit() {
	[ -n "$KEEP" ] && rm -rf /tmp/keep_multinode && cp -r "$T" /tmp/keep_multinode
	[ -n "$A" ] && kill "$A" 2>/dev/null
}
make_temp
CLUSTER=1
t0=$(date +%s)
$SC up --nodes 3 --scale ip-visit-counter=3 >"$T/up.log" 2>&1 || { cat "$T/up.log"; give_up "simcluster up --nodes 3"; }
ok "up --nodes 3 in $(($(date +%s) - t0)) s"
STATE=$($SC state)
KUBECONFIG=$($SC kubeconfig)
export KUBECONFIG
q() { jq -r "$1" "$STATE"; }

# ---- nodes, placement, the API ---------------------------------------------
[ "$(q '.nodes | map(.name) | join(" ")')" = "sim-node-1 sim-node-2 sim-node-3" ] && ok "three nodes in state.json" || bad "nodes: $(q '.nodes')"
for k in 1 2 3; do
	ns=$(q ".nodes[$((k - 1))].netns")
	ip netns list | grep -q "^$ns " && ok "node $k: namespace $ns" || bad "node $k: no namespace $ns"
done
if [ -x "$KUBECTL" ]; then
	$KUBECTL get nodes -o wide --no-headers >"$T/nodes" 2>&1
	[ "$(awk '{print $1 "=" $2 "=" $6}' "$T/nodes" | tr '\n' ' ')" = "sim-node-1=Ready=169.254.123.2 sim-node-2=Ready=169.254.123.6 sim-node-3=Ready=169.254.123.10 " ] &&
		ok "kubectl get nodes: three Ready nodes with their InternalIPs" || bad "nodes: $(cat "$T/nodes")"
	$KUBECTL get pods -A -o wide --no-headers >"$T/pods" 2>&1
	n=$(grep ' ip-visit-counter-' "$T/pods" | awk '{print $8}' | sort -u | wc -l)
	[ "$n" = 3 ] && ok "kubectl get pods -o wide: the 3 replicas on 3 nodes" || bad "replica nodes: $(grep ip-visit-counter "$T/pods")"
	n=$(grep '^bpfmirror ' "$T/pods" | grep -c ' Running ')
	[ "$n" = 3 ] && [ "$(grep '^bpfmirror ' "$T/pods" | awk '{print $8}' | sort -u | wc -l)" = 3 ] &&
		ok "one agent pod per node" || bad "agents: $(grep '^bpfmirror ' "$T/pods")"
	$KUBECTL get pods -A --field-selector spec.nodeName=sim-node-3 --no-headers >"$T/n3" 2>&1
	grep -q ' ip-visit-counter-' "$T/n3" && ! grep -q "$(q '.pods[] | select(.node == "sim-node-1" and .hostNetwork) | .name')" "$T/n3" &&
		ok "field selector spec.nodeName=sim-node-3 lists that node's pods" || bad "node 3 pods: $(cat "$T/n3")"
else
	bad "kubectl not at $KUBECTL (make deps)"
fi
# Replicas: "name ip node k" where node k's pod CIDR is 10.244.(k-1).0/24.
q '.pods[] | select(.owner.name // "" | startswith("ip-visit-counter-")) | "\(.name) \(.podIP) \(.node)"' >"$T/replicas"
bad_cidr=$(awk '{split($3, n, "-"); split($2, a, "."); if (a[3] != n[3] - 1) print}' "$T/replicas")
[ -z "$bad_cidr" ] && ok "each pod IP is in its node's pod CIDR: $(tr '\n' ' ' <"$T/replicas")" || bad "pod IPs: $bad_cidr"
IPS=$(awk '{print $2}' "$T/replicas")

# ---- network ---------------------------------------------------------------
ip route | grep -Eq '10\.244\.|10\.96\.' && bad "root namespace routes the pod or Service CIDR" || ok "no pod or Service route in the root namespace"
for p in $IPS; do
	r=$($SC client -- curl -s -m 3 "http://$p:8080/count" | jq -r '"\(.pod) \(.info.ip)"')
	case "$r" in ip-visit-counter-*" 10.244.0.254") ok "client -> pod $p across nodes, and its call to ip-info" ;; *) bad "client -> $p: $r" ;; esac
done
i=0
while [ $i -lt 30 ]; do
	$SC client -- curl -s -m 3 http://ip-visit-counter/count | jq -r .pod
	i=$((i + 1))
done | sort -u >"$T/served"
[ "$(wc -l <"$T/served")" = 3 ] && ok "30 requests through the Service reached all 3 replicas" || bad "served by: $(tr '\n' ' ' <"$T/served")"
$SC exec redis-main -- redis-cli KEYS 'visits:*' | grep -q 'visits:10.244.0.254' && ok "Redis (node 1) counted the visits" || bad "no Redis key"
while read -r name ip node; do
	a=$($SC exec "$name" -- getent hosts redis-main.default.svc.cluster.local | awk '{print $1}')
	[ "$a" = "$(q '.services[] | select(.name == "redis-main") | .clusterIP')" ] && ok "DNS on $node" || bad "DNS on $node: '$a'"
	k=${node#sim-node-}
	grep -q "client=10.244.$((k - 1)).1 .*kube-probe" "$(q '.paths.logs')/default_${name}_ip-visit-counter.log" &&
		ok "probes of $name come from $node (10.244.$((k - 1)).1)" || bad "no probe from $node in $name's log"
done <"$T/replicas"
PN3=$(q '.pods[] | select(.node == "sim-node-3" and (.hostNetwork | not)) | .netns' | head -1)
ip netns exec "$PN3" ping -c1 -W1 169.254.123.9 >/dev/null 2>&1 && bad "a pod on node 3 reaches the root namespace" ||
	ok "a pod on node 3 cannot reach the root namespace"

# ---- mirror through each node's agent (direct) -------------------------------
build/bpfmirror attach deployment/ip-visit-counter --connect direct -- \
	build/apps/ip-visit-counter-local >"$T/m.out" 2>"$T/m.err" &
A=$!
wait_for "$T/m.out" "listening on" 100 || { cat "$T/m.err"; give_up "mirror attach"; }
for k in 1 2 3; do
	grep -q "on node sim-node-$k through agent 169.254.123.$((4 * k - 2)):47100" "$T/m.err" && ok "mirror: node $k's replica through node $k's agent" ||
		bad "mirror node $k: $(grep attaching "$T/m.err")"
done
for p in $IPS; do
	$SC client -- python3 test/tools/loadgen.py "$p" 8080 /count 10 10 >"$T/l.json"
	[ "$(jq -r .ok "$T/l.json")" = 20 ] || bad "pod $p answered $(jq -r .ok "$T/l.json")/20"
done
wait_count "$T/m.out" 'client=10.244.0.254 "GET /count" 200' 60 100
n=$(grep -c 'client=10.244.0.254 "GET /count" 200' "$T/m.out")
[ "$n" = 60 ] && ok "mirror: 20 requests to each of the 3 pods reached the twin, answered with Redis" || bad "mirror: twin got $n of 60"
kill -INT "$A"
wait_exit "$A" 50 || bad "mirror: bpfmirror still runs 5 s after SIGINT"
A=

# ---- steal through port-forward --------------------------------------------
build/bpfmirror attach deployment/ip-visit-counter --steal -- build/apps/ip-visit-counter-local >"$T/s.out" 2>"$T/s.err" &
A=$!
wait_for "$T/s.err" "stealing port 8080" 150 || { cat "$T/s.err"; give_up "steal attach"; }
[ "$(grep -c 'port-forward to agent pod' "$T/s.err")" = 3 ] && ok "steal: one port-forward per node's agent" || bad "steal: $(grep port-forward "$T/s.err")"
sleep 0.5
for p in $IPS; do
	r=$($SC client -- curl -s -m 3 "http://$p:8080/count" | jq -r '"\(.build)|\(.count|type)|\(.info.ip)"')
	[ "$r" = "local build|number|10.244.0.254" ] && ok "steal: pod $p's request answered by the twin (Redis and ip-info reached from it)" || bad "steal $p: $r"
done
kill -INT "$A"
wait_exit "$A" 50 || bad "steal: bpfmirror still runs 5 s after SIGINT"
A=
sleep 0.3
for p in $IPS; do
	[ "$($SC client -- curl -s -m 3 "http://$p:8080/count" | jq -r .build)" = deployed ] || bad "after steal: pod $p not serving"
done

# ---- filtered steal through port-forward, then one node's agent dies --------
LOCAL_TAG=team-a build/bpfmirror attach deployment/ip-visit-counter --steal --header '^X-Dev: team-a$' -- \
	build/apps/ip-visit-counter-local >"$T/f.out" 2>"$T/f.err" &
A=$!
wait_for "$T/f.err" "stealing port 8080" 150 || { cat "$T/f.err"; give_up "filtered steal attach"; }
sleep 0.5
fsteal() { # fsteal IP: "<build with header>/<build without>"
	echo "$($SC client -- curl -s -m 8 -H 'X-Dev: team-a' "http://$1:8080/count" | jq -r .build)/$($SC client -- curl -s -m 8 "http://$1:8080/count" | jq -r .build)"
}
for p in $IPS; do
	r=$(fsteal "$p")
	[ "$r" = "local build (team-a)/deployed" ] && ok "filtered steal on pod $p: header -> twin, others -> pod" || bad "filtered steal $p: $r"
done
P3=$(awk '$3 == "sim-node-3" {print $2}' "$T/replicas")
AG3=$(q '.pods[] | select(.node == "sim-node-3" and .hostNetwork) | .containers[0].pid')
kill -9 "$AG3" 2>/dev/null && ok "killed node 3's agent (pid $AG3)" || bad "no agent pid on node 3"
sleep 0.5
r=$($SC client -- curl -s -m 3 -H 'X-Dev: team-a' "http://$P3:8080/count" | jq -r .build)
[ "$r" = deployed ] && ok "node 3's pod serves after its agent died" || bad "node 3's pod after the kill: $r"
for p in $IPS; do
	[ "$p" = "$P3" ] && continue
	t0=$(date +%s%N)
	r=$(fsteal "$p")
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$r" = "local build (team-a)/deployed" ] && ok "pod $p's session still steals after node 3's agent died ($ms ms for 2 requests)" ||
		bad "pod $p after the kill: '$r' after $ms ms"
done
kill -0 "$A" 2>/dev/null && ok "bpfmirror keeps running" || bad "bpfmirror exited: $(tail -3 "$T/f.err")"
kill -INT "$A" 2>/dev/null
wait_exit "$A" 50 || bad "filtered steal: bpfmirror still runs 5 s after SIGINT"
A=

# ---- down --------------------------------------------------------------------
$SC down >/dev/null 2>&1 && ok "down" || bad "down"
CLUSTER=
ip netns list | grep -Eq '^bm-' && bad "namespaces left: $(ip netns list | grep '^bm-' | tr '\n' ' ')" || ok "no namespace left"
ip -o link | grep -Eq 'bm-node[0-9]' && bad "uplinks left" || ok "no uplink left"
finish
