#!/bin/sh
# Brings the simulated node up with the demo manifests and checks it like a
# cluster user would: DNS, Services, the demo's /count, Redis, kubelet-style
# cgroups, probes, restarts, the API endpoint, isolation and a complete
# cleanup by `down`. Root only; exit 77 = skipped. Removes everything it made.
. "$(dirname "$0")/lib.sh"
need ip nft curl redis-cli jq getent /usr/bin/python3 build/apps/ip-visit-counter build/apps/ip-info
make_temp
# shellcheck disable=SC2034 # lib.sh's cleanup: down on every exit
CLUSTER=1
STATE=$($SC state)
q() { jq -r "$1" "$STATE"; }
alive() { # a PID that runs and is not a zombie
	[ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]
}

# ---- up -------------------------------------------------------------------
t0=$(date +%s)
$SC up >"$T/up.log" 2>&1 || { cat "$T/up.log"; give_up "up"; }
t1=$(date +%s)
ok "up in $((t1 - t0))s: $(tail -1 "$T/up.log")"
check "up takes under 20 s" [ $((t1 - t0)) -lt 20 ]
check "state has the 4 demo pods ready" [ "$(q '[.pods[] | select(.namespace == "default" and .ready)] | length')" = 4 ]
check "node facts" [ "$(q '.node.name + " " + .node.internalIP + " " + .node.podCIDR')" = "sim-node-1 169.254.123.2 10.244.0.0/24" ]
check "pods are named like a ReplicaSet's" \
	sh -c "jq -r '.pods[].name' '$STATE' | grep -Eq '^ip-visit-counter-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$'"
SVC_IP=$(q '.services[] | select(.name=="ip-visit-counter") | .clusterIP')
REDIS_IP=$(q '.services[] | select(.name=="redis-main") | .clusterIP')
REDIS_POD_IP=$(q '.pods[] | select(.name|startswith("redis-main-")) | .podIP')

# ---- DNS --------------------------------------------------------------------
check "DNS short name" [ "$($SC client -- getent hosts ip-visit-counter | awk '{print $1}')" = "$SVC_IP" ]
check "DNS FQDN" [ "$($SC client -- getent ahostsv4 redis-main.default.svc.cluster.local | awk 'NR==1{print $1}')" = "$REDIS_IP" ]
POD_NAME=$(echo "$REDIS_POD_IP" | tr . -).default.pod.cluster.local
check "DNS pod record" [ "$($SC client -- getent hosts "$POD_NAME" | awk '{print $1}')" = "$REDIS_POD_IP" ]
check "DNS NXDOMAIN" sh -c "! $SC client -- getent hosts nosuch.default.svc.cluster.local"
check "DNS over TCP" [ "$($SC client -- /usr/bin/python3 -c '
import socket, struct
q = struct.pack("!HHHHHH", 7, 0x100, 1, 0, 0, 0) + b"".join(
    bytes([len(l)]) + l for l in b"kubernetes.default.svc.cluster.local".split(b".")) + b"\0\0\1\0\1"
s = socket.create_connection(("10.96.0.10", 53), timeout=3)
s.sendall(struct.pack("!H", len(q)) + q)
r = s.recv(512)[2:]
print(socket.inet_ntoa(r[-4:]))')" = 10.96.0.1 ]
check "pod resolv.conf" sh -c "$SC exec redis-main -- cat /etc/resolv.conf | grep -q 'options ndots:5'"

# ---- the demo through its Service -------------------------------------------
$SC client -- curl -s -m 5 -H 'X-PG-Tenant: acme' http://ip-visit-counter/count >"$T/c1.json"
$SC client -- curl -s -m 5 http://ip-visit-counter/count >"$T/c2.json"
echo "   /count: $(cat "$T/c2.json")"
C1=$(jq -r .count "$T/c1.json" 2>/dev/null)
C2=$(jq -r .count "$T/c2.json" 2>/dev/null)
check "/count answers JSON with the caller IP" [ "$(jq -r .ip "$T/c1.json" 2>/dev/null)" = "$(q .client.ip)" ]
check "/count increments ($C1 -> $C2)" [ -n "$C1" -a "$C2" = "$((${C1:-0} + 1))" ]
check "/count returns the ConfigMap text" sh -c "jq -r .response '$T/c1.json' | grep -q 'Hello from the ip-visit-counter'"
check "/count embeds ip-info's answer" [ "$(jq -r .info.ip "$T/c1.json")" = "$(q .client.ip)" ]
check "X-PG-Tenant forwarded to ip-info" [ "$(jq -r .info.tenant "$T/c1.json")" = acme ]
i=0
: >"$T/pods"
while [ $i -lt 40 ] && [ "$(sort -u "$T/pods" | wc -l)" -lt 2 ]; do
	$SC client -- curl -s -m 5 http://ip-visit-counter/count | jq -r .pod >>"$T/pods"
	i=$((i + 1))
done
check "the Service reaches both replicas ($i requests)" [ "$(sort -u "$T/pods" | wc -l)" = 2 ]
SELF=$(head -1 "$T/pods")
i=0
seen=""
while [ $i -lt 30 ] && [ "$seen" != "$SELF" ]; do
	seen=$($SC exec "$SELF" -- curl -s -m 5 http://ip-visit-counter/count | jq -r .pod)
	i=$((i + 1))
done
check "a pod reaches itself through its Service (hairpin)" [ "$seen" = "$SELF" ]
check "bad request gets 400" [ "$($SC client -- curl -s -o /dev/null -w '%{http_code}' -X 'BAD REQ' http://ip-visit-counter/count)" = 400 ]
LAST=$($SC client -- curl -s -m 5 http://ip-visit-counter/count | jq -r .count)
check "Redis holds the key" [ "$($SC exec redis-main -- redis-cli GET "visits:$(q .client.ip)")" = "$LAST" ]
check "the key has a TTL" [ "$($SC exec redis-main -- redis-cli TTL "visits:$(q .client.ip)")" -gt 0 ]
check "/app/response.txt exists only in the pod" sh -c "$SC exec ip-visit-counter -- test -s /app/response.txt && ! test -e /app/response.txt"
check "env from ConfigMap and Service links" sh -c "$SC exec ip-visit-counter -- env | grep -q '^REDISADDRESS=redis-main:6379$' && $SC exec ip-visit-counter -- env | grep -q '^REDIS_MAIN_SERVICE_HOST=$REDIS_IP$'"

# ---- cgroups, probes ----------------------------------------------------------
n=0
total=$(q '[.pods[].containers[]] | length')
for row in $(q '.pods[].containers[] | "\(.pid),\(.id),\(.cgroup)"'); do
	pid=${row%%,*}
	rest=${row#*,}
	id=${rest%%,*}
	cg=${rest#*,}
	if grep -q "cri-containerd-$id.scope" "/proc/$pid/cgroup" &&
		grep -qx "$pid" "/sys/fs/cgroup/unified$cg/cgroup.procs" &&
		echo "$cg" | grep -Eq "^/kubepods.slice/(kubepods-(besteffort|burstable).slice/kubepods-(besteffort|burstable)-pod|kubepods-pod)[0-9a-f_]{36}\.slice/cri-containerd-$id.scope$"; then
		n=$((n + 1))
	fi
done
check "every container's cgroup names its container ID ($n/$total)" [ "$n" = "$total" ]
check "containerID in pod status" [ "$(q '[.pods[].object.status.containerStatuses[].containerID | test("^containerd://[0-9a-f]{64}$")] | all')" = true ]
check "readiness/liveness probes come from the node with kube-probe UA" \
	sh -c "$SC logs ip-visit-counter | grep '/health' | grep -q 'client=10.244.0.1 .*ua=\"kube-probe/1.35\"'"

# ---- API endpoint -----------------------------------------------------------
check "the API server package is in the tree" [ -d scripts/simk8s/apiserver ]
if [ -d scripts/simk8s/apiserver ]; then
	KC=$($SC kubeconfig)
	check "kubeconfig written" [ -s "$KC" ]
	# make deps puts kubectl in build/tools/bin; one on PATH serves as well.
	KUBECTL=build/tools/bin/kubectl
	[ -x "$KUBECTL" ] || KUBECTL=$(command -v kubectl)
	if [ -n "$KUBECTL" ]; then
		"$KUBECTL" --kubeconfig "$KC" get pods -A -o wide >"$T/pods.txt" 2>&1
		check "kubectl get pods -A lists the 4 demo pods" [ "$(grep -c '^default .* Running ' "$T/pods.txt")" = 4 ]
		check "API pod IP matches state" [ "$("$KUBECTL" --kubeconfig "$KC" get pod "$(q '.pods[0].name')" -o jsonpath='{.status.podIP}')" = "$(q '.pods[0].podIP')" ]
	else
		bad "kubectl missing (make deps)"
	fi
fi

# ---- agent slot -----------------------------------------------------------------
AGENT_POD=$(q '.pods[] | select(.labels["app.kubernetes.io/name"] == "bpfmirror-agent") | .name')
if [ -n "$AGENT_POD" ]; then
	check "agent pod runs on the node's network (hostNetwork)" [ "$(q ".pods[] | select(.name == \"$AGENT_POD\") | .podIP + \" \" + .netns")" = "169.254.123.2 bm-node" ]
	check "agent control port answers from the root namespace (direct mode)" \
		/usr/bin/python3 -c 'import socket; socket.create_connection(("169.254.123.2", 47100), timeout=3).close()'
else
	bad "no agent pod (build/bpfmirror-agent is built by make all)"
fi

# ---- isolation ----------------------------------------------------------------
check "no route to the cluster ranges in the root namespace" sh -c "! ip route show | grep -Eq '^10\.(244|96)\.'"
check "only the /30 uplink in the root namespace" [ "$(ip -4 -o addr show dev bm-node0 | awk '{print $4}')" = 169.254.123.1/30 ]
check "the node answers on its InternalIP from the root namespace" sh -c "ping -c1 -W2 169.254.123.2 >/dev/null"
check "pods cannot reach the root namespace" sh -c "! $SC client -- ping -c1 -W1 169.254.123.1 >/dev/null 2>&1"

# ---- restart ----------------------------------------------------------------
OLD_ID=$(q '.pods[] | select(.name|startswith("ip-info-")) | .containers[0].id')
OLD_PID=$(q '.pods[] | select(.name|startswith("ip-info-")) | .containers[0].pid')
kill -9 "$OLD_PID"
i=0
while [ $i -lt 100 ]; do
	[ "$(q '.pods[] | select(.name|startswith("ip-info-")) | "\(.ready) \(.containers[0].restartCount)"')" = "true 1" ] && break
	sleep 0.1
	i=$((i + 1))
done
NEW_ID=$(q '.pods[] | select(.name|startswith("ip-info-")) | .containers[0].id')
check "a killed container is restarted with a new ID ($((i / 10)) s)" [ $i -lt 100 -a "$NEW_ID" != "$OLD_ID" ]
check "ip-info answers after the restart" [ "$($SC client -- curl -s -m 5 http://ip-visit-counter/count | jq -r .info.ip)" = "$(q .client.ip)" ]

# ---- crash, up again, down ------------------------------------------------------
KUBELET=$(cat build/simcluster/run/kubelet.pid)
kill -9 "$KUBELET"
check "up after a crash removes the leftovers" sh -c "$SC up >'$T/up2.log' 2>&1"
PIDS=$(q '[.pods[].containers[].pid] | map(tostring) | join(" ")')
DAEMONS=$(cat build/simcluster/run/*.pid 2>/dev/null | tr '\n' ' ')
CGS=$(q '.pods[].containers[].podCgroup' | sort -u)
t0=$(date +%s)
check "down" sh -c "$SC down >/dev/null"
t1=$(date +%s)
ok "down in $((t1 - t0))s"
sleep 0.3
check "no namespace left" sh -c "! ip netns list | grep -Eq '^bm-'"
check "no link left" sh -c "! ip -o link | grep -Eq 'bm-node0'"
left=""
for p in $PIDS $DAEMONS; do
	if alive "$p"; then left="$left $p"; fi
done
check "no process left${left}" [ -z "$left" ]
cgleft=""
for cg in $CGS; do
	if [ -d "/sys/fs/cgroup/unified$cg" ]; then cgleft="$cgleft $cg"; fi
done
check "no cgroup left${cgleft}" [ -z "$cgleft" ]
check "no mount point left" [ ! -e /app ]
check "state removed" [ ! -e "$STATE" ]
check "down again succeeds" sh -c "$SC down >/dev/null"

finish
