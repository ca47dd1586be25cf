#!/bin/sh
# Starts the simcluster API server (python3 -m simk8s.apiserver) on a free loopback port with the
# fixture state and checks its answers with curl and kubectl (build/tools/bin,
# from make deps, or on PATH). Needs no root and touches nothing outside its
# temp dir.
. "$(dirname "$0")/lib.sh"
need_tools python3 openssl curl
make_temp
PID=""
# shellcheck disable=SC2317 # called through trap
on_exit() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null
		wait_exit "$PID" 50 || kill -KILL "$PID" 2>/dev/null
	fi
}

cp test/cluster/apiserver-fixture-state.json "$T/state.json"
KC="$T/kube/kubeconfig"

start_server() {
	PYTHONPATH=scripts python3 -B -m simk8s.apiserver --state "$T/state.json" \
		--listen 127.0.0.1:0 --kubeconfig-out "$KC" --certdir "$T/certs" \
		2>>"$T/server.log" &
	PID=$!
	# The kubeconfig is written once the socket accepts connections.
	wait_file "$KC" "$PID" 150 || { cat "$T/server.log"; give_up "server did not start"; }
	SERVER=$(awk '$1 == "server:" { print $2 }' "$KC")
	TOKEN=$(cat "$T/certs/token")
}

# req METHOD PATH [curl args] -> body in $T/body, HTTP status in $CODE
req() {
	m=$1
	p=$2
	shift 2
	CODE=$(curl -sS --max-time 10 -o "$T/body" -w '%{http_code}' \
		--cacert "$T/certs/ca.crt" -H "Authorization: Bearer $TOKEN" \
		-X "$m" "$@" "$SERVER$p") || CODE=000
}

# expect DESC CODE PYTHON-EXPR: j is the parsed body; names(j) lists item names
expect() {
	if [ "$CODE" != "$2" ]; then
		bad "$1 (HTTP $CODE, want $2: $(head -c 300 "$T/body"))"
		return
	fi
	if python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
names = lambda j: sorted(i["metadata"]["name"] for i in j["items"])
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$T/body" "$3" 2>"$T/pyerr"; then
		ok "$1"
	else
		bad "$1 (check failed: $3; $(head -c 300 "$T/pyerr")) body: $(head -c 400 "$T/body")"
	fi
}

get() { req GET "$@"; }

start_server
echo "server at $SERVER"

# --- TLS, auth, public endpoints --------------------------------------------
PODS=/api/v1/namespaces/default/pods
VC=ip-visit-counter-7d9f8c6b5d-x2k4p
CODE=$(curl -sS --max-time 10 -o "$T/body" -w '%{http_code}' --cacert "$T/certs/ca.crt" \
	"$SERVER/version") || CODE=000
expect "/version without token" 200 'j["major"] == "1" and j["gitVersion"].startswith("v1.")'
if curl -sS --max-time 5 -o /dev/null "$SERVER/version" 2>/dev/null; then
	bad "server certificate accepted without the CA"
else
	ok "server certificate needs the simcluster CA"
fi
CODE=$(curl -sS --max-time 10 -o "$T/body" -w '%{http_code}' --cacert "$T/certs/ca.crt" \
	"$SERVER/api/v1/pods") || CODE=000
expect "no token -> 401 Status" 401 'j["kind"] == "Status" and j["reason"] == "Unauthorized" and j["code"] == 401'
CODE=$(curl -sS --max-time 10 -o "$T/body" -w '%{http_code}' --cacert "$T/certs/ca.crt" \
	-H "Authorization: Bearer wrong$TOKEN" "$SERVER/api/v1/pods") || CODE=000
expect "bad token -> 401 Status" 401 'j["status"] == "Failure" and j["message"] == "Unauthorized"'
if grep -q 'certificate-authority-data:' "$KC" && grep -q "token: $TOKEN" "$KC" &&
	grep -q 'current-context: simcluster' "$KC" && grep -q 'namespace: default' "$KC"; then
	ok "kubeconfig has CA data, token, context simcluster"
else
	bad "kubeconfig content"
fi

# --- discovery ----------------------------------------------------------------
get /api
expect "/api APIVersions" 200 'j["kind"] == "APIVersions" and j["versions"] == ["v1"]'
get /apis
expect "/apis APIGroupList with apps/v1" 200 'j["kind"] == "APIGroupList" and any(g["name"] == "apps" and g["preferredVersion"]["groupVersion"] == "apps/v1" for g in j["groups"])'
get /api/v1
expect "/api/v1 APIResourceList" 200 'j["kind"] == "APIResourceList" and j["groupVersion"] == "v1" and {"pods", "namespaces", "services", "configmaps", "nodes", "pods/portforward"} <= {r["name"] for r in j["resources"]} and [r for r in j["resources"] if r["name"] == "pods"][0]["namespaced"]'
get /apis/apps/v1
expect "/apis/apps/v1 APIResourceList" 200 'j["groupVersion"] == "apps/v1" and {"deployments", "replicasets", "statefulsets", "daemonsets"} <= {r["name"] for r in j["resources"]} and "deploy" in [r for r in j["resources"] if r["name"] == "deployments"][0]["shortNames"]'

# --- namespaces, nodes ------------------------------------------------------
get /api/v1/namespaces
expect "namespaces list" 200 'j["kind"] == "NamespaceList" and {"default", "kube-system", "bpfmirror"} <= set(names(j)) and j["metadata"]["resourceVersion"]'
get /api/v1/namespaces/bpfmirror
expect "namespace get" 200 'j["kind"] == "Namespace" and j["status"]["phase"] == "Active" and j["metadata"]["labels"]["app.kubernetes.io/part-of"] == "bpfmirror"'
get /api/v1/nodes/sim-node-1
expect "node InternalIP and Ready" 200 '{"type": "InternalIP", "address": "169.254.123.2"} in j["status"]["addresses"] and any(c["type"] == "Ready" and c["status"] == "True" for c in j["status"]["conditions"]) and j["spec"]["podCIDR"] == "10.244.0.0/24"'

# --- pods ------------------------------------------------------------------------
get /api/v1/pods
expect "pods across namespaces" 200 'j["kind"] == "PodList" and j["apiVersion"] == "v1" and len(j["items"]) == 7 and "bpfmirror-agent-7xk2p" in names(j) and int(j["metadata"]["resourceVersion"]) > 0'
get $PODS
expect "pods in default" 200 'len(j["items"]) == 6'
get $PODS/$VC
expect "pod get: IPs, node, containerID, conditions" 200 '
j["kind"] == "Pod" and j["status"]["podIP"] == "10.244.0.5" and j["status"]["podIPs"] == [{"ip": "10.244.0.5"}]
and j["status"]["hostIP"] == "169.254.123.2" and j["spec"]["nodeName"] == "sim-node-1"
and j["status"]["phase"] == "Running"
and j["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
and len(j["status"]["containerStatuses"][0]["containerID"]) == 77
and j["status"]["containerStatuses"][0]["ready"] and "running" in j["status"]["containerStatuses"][0]["state"]
and {"Ready", "ContainersReady", "PodScheduled", "Initialized"} <= {c["type"] for c in j["status"]["conditions"]}
and j["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
and j["metadata"]["ownerReferences"][0]["uid"] == "0b6a7f0e-5f1e-4c64-9a43-1c2b8d7f0001"
and j["metadata"]["uid"] and j["metadata"]["resourceVersion"] and j["metadata"]["creationTimestamp"]'
get $PODS/ip-info-6f5d4c7b8-fghij
expect "unready pod: Ready False" 200 '[c["status"] for c in j["status"]["conditions"] if c["type"] == "Ready"] == ["False"]'
get $PODS/debug-shell
expect "manifest pod not started: Pending" 200 'j["status"]["phase"] == "Pending" and "podIP" not in j["status"]'

# --- label selectors --------------------------------------------------------------
sel() { get "$1" -G --data-urlencode "labelSelector=$2"; }
sel $PODS 'app=ip-visit-counter'
expect "labelSelector a=b" 200 'names(j) == ["ip-visit-counter-7d9f8c6b5d-q8m2z", "ip-visit-counter-7d9f8c6b5d-x2k4p"]'
sel $PODS 'app==ip-visit-counter,tier=web'
expect "labelSelector a==b,c=d" 200 'len(j["items"]) == 2'
sel $PODS 'app!=ip-visit-counter'
expect "labelSelector a!=b" 200 'len(j["items"]) == 4 and not any(n.startswith("ip-visit") for n in names(j))'
sel $PODS 'app in (redis-main, ip-info)'
expect "labelSelector a in (x,y)" 200 'names(j) == ["ip-info-6f5d4c7b8-fghij", "redis-main-5c6b7d8f9-abcde"]'
sel $PODS 'app notin (redis-main,ip-info),!tier'
expect "labelSelector notin + !a" 200 'names(j) == ["debug-shell", "postgres-0"]'
sel /api/v1/pods 'pod-template-hash'
expect "labelSelector exists" 200 'len(j["items"]) == 4'
sel $PODS 'app in (x'
expect "bad labelSelector -> 400 Status" 400 'j["kind"] == "Status" and j["reason"] == "BadRequest"'

# --- field selectors ----------------------------------------------------------------
fsel() { get "$1" -G --data-urlencode "fieldSelector=$2"; }
fsel /api/v1/pods 'metadata.name=postgres-0'
expect "fieldSelector metadata.name" 200 'names(j) == ["postgres-0"]'
fsel /api/v1/pods 'metadata.namespace=bpfmirror'
expect "fieldSelector metadata.namespace" 200 'names(j) == ["bpfmirror-agent-7xk2p"]'
fsel /api/v1/pods 'spec.nodeName=sim-node-1,status.phase!=Running'
expect "fieldSelector spec.nodeName + status.phase!=" 200 'len(j["items"]) == 0'
fsel /api/v1/pods 'status.phase=Pending'
expect "fieldSelector status.phase" 200 'names(j) == ["debug-shell"]'
fsel /api/v1/pods 'spec.bogus=1'
expect "unsupported fieldSelector -> 400" 400 'j["reason"] == "BadRequest" and "spec.bogus" in j["message"]'

# --- workloads --------------------------------------------------------------------
APPS=/apis/apps/v1/namespaces/default
get $APPS/deployments/ip-visit-counter
expect "deployment status and selector" 200 'j["kind"] == "Deployment" and j["apiVersion"] == "apps/v1" and j["status"]["replicas"] == 2 and j["status"]["readyReplicas"] == 2 and j["status"]["availableReplicas"] == 2 and j["spec"]["selector"]["matchLabels"] == {"app": "ip-visit-counter"}'
DEP_UID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["uid"])' "$T/body")
get $APPS/replicasets
expect "replicasets own by deployments" 200 'j["kind"] == "ReplicaSetList" and len(j["items"]) == 3 and all(i["metadata"]["ownerReferences"][0]["kind"] == "Deployment" for i in j["items"])'
get $APPS/replicasets/ip-visit-counter-7d9f8c6b5d
expect "replicaset ownerReference uid = deployment uid" 200 "j['metadata']['ownerReferences'][0]['uid'] == '$DEP_UID' and j['metadata']['uid'] == '0b6a7f0e-5f1e-4c64-9a43-1c2b8d7f0001' and j['status']['readyReplicas'] == 2"
get $APPS/replicasets/ip-info-6f5d4c7b8
expect "replicaset derived from pod owner" 200 'j["metadata"]["labels"]["pod-template-hash"] == "6f5d4c7b8" and j["status"]["replicas"] == 1'
get /apis/apps/v1/statefulsets
expect "statefulsets" 200 'j["kind"] == "StatefulSetList" and names(j) == ["postgres"] and j["items"][0]["status"]["readyReplicas"] == 1'
get /apis/apps/v1/namespaces/bpfmirror/daemonsets/bpfmirror-agent
expect "daemonset" 200 'j["kind"] == "DaemonSet" and j["status"]["numberReady"] == 1 and j["status"]["desiredNumberScheduled"] == 1'
get /apis/apps/v1/deployments
expect "deployments across namespaces" 200 'j["kind"] == "DeploymentList" and names(j) == ["ip-info", "ip-visit-counter", "redis-main"]'

# --- services, endpoints, configmaps ------------------------------------------------
get /api/v1/namespaces/default/services/ip-visit-counter
expect "service clusterIP, ports, selector" 200 'j["spec"]["clusterIP"] == "10.96.0.10" and j["spec"]["ports"][0]["port"] == 80 and j["spec"]["ports"][0]["protocol"] == "TCP" and j["spec"]["selector"] == {"app": "ip-visit-counter"} and j["spec"]["type"] == "ClusterIP"'
get /api/v1/namespaces/default/endpoints/ip-visit-counter
expect "endpoints resolve named targetPort" 200 'sorted(a["ip"] for a in j["subsets"][0]["addresses"]) == ["10.244.0.5", "10.244.0.6"] and j["subsets"][0]["ports"][0]["port"] == 8080'
get /api/v1/namespaces/default/configmaps/ip-visit-counter-response
expect "configmap" 200 'j["kind"] == "ConfigMap" and j["data"]["response.txt"].startswith("hello")'

# --- errors --------------------------------------------------------------------------
get $PODS/nope
expect "404 pod Status" 404 'j["kind"] == "Status" and j["status"] == "Failure" and j["reason"] == "NotFound" and j["code"] == 404 and j["message"] == "pods \"nope\" not found" and j["details"] == {"name": "nope", "kind": "pods"}'
get $APPS/deployments/nope
expect "404 deployment Status" 404 'j["message"] == "deployments.apps \"nope\" not found" and j["details"]["group"] == "apps"'
get /api/v1/nosuchthing
expect "404 unknown resource" 404 'j["reason"] == "NotFound" and j["message"] == "the server could not find the requested resource"'
get /api/v1/namespaces/default/secrets
expect "403 secrets Status" 403 'j["kind"] == "Status" and j["reason"] == "Forbidden" and j["code"] == 403 and "cannot list resource \"secrets\"" in j["message"]'
req DELETE $PODS/$VC
expect "403 on delete" 403 'j["reason"] == "Forbidden" and j["message"].startswith("pods \"%s\" is forbidden" % "ip-visit-counter-7d9f8c6b5d-x2k4p")'
req POST $PODS/$VC/portforward
expect "portforward hook answers 400 Status" 400 'j["kind"] == "Status" and j["reason"] == "BadRequest" and "portforward" in j["message"]'
req POST $PODS/nope/portforward
expect "portforward on missing pod: 404" 404 'j["reason"] == "NotFound"'

# --- Table, watch, reload ------------------------------------------------------------
get /api/v1/pods -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json'
expect "Table for kubectl" 200 'j["kind"] == "Table" and j["columnDefinitions"][0]["name"] == "Name" and len(j["rows"]) == 7 and j["rows"][0]["object"]["kind"] == "PartialObjectMetadata"'
get "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1"
if [ "$CODE" = 200 ] && [ "$(grep -c '"type":"ADDED"' "$T/body")" = 6 ]; then
	ok "watch streams ADDED events and ends at timeoutSeconds"
else
	bad "watch (HTTP $CODE, $(grep -c ADDED "$T/body") ADDED events)"
fi
get /api/v1/pods
RV1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["resourceVersion"])' "$T/body")
python3 - "$T/state.json" <<'EOF'
import json, os, sys
path = sys.argv[1]
st = json.load(open(path))
st["pods"] = [p for p in st["pods"] if p["name"] != "postgres-0"]
st["pods"][0]["ready"] = False
json.dump(st, open(path + ".tmp", "w"))
os.replace(path + ".tmp", path)
EOF
get /api/v1/pods
expect "state file change is picked up" 200 "len(j['items']) == 6 and int(j['metadata']['resourceVersion']) > int('$RV1')"
printf '{"pods": [' >"$T/state.json.tmp" && mv "$T/state.json.tmp" "$T/state.json"
get /api/v1/pods
expect "half-written state keeps the previous view" 200 'len(j["items"]) == 6'
cp test/cluster/apiserver-fixture-state.json "$T/state.json"

# --- kubectl ---------------------------------------------------------------------------
KUBECTL=build/tools/bin/kubectl
[ -x "$KUBECTL" ] || KUBECTL=$(command -v kubectl)
if [ -n "$KUBECTL" ]; then
	K="$KUBECTL --kubeconfig $KC --cache-dir $T/kcache --request-timeout=10s"
	if $K get pods -A >"$T/out" 2>&1 && grep -q '^default  *ip-visit-counter-7d9f8c6b5d-x2k4p  *1/1  *Running' "$T/out" &&
		grep -q '^bpfmirror  *bpfmirror-agent' "$T/out"; then
		ok "kubectl get pods -A"
	else
		bad "kubectl get pods -A: $(cat "$T/out")"
	fi
	if $K get deploy,rs,svc,ds,sts -A >"$T/out" 2>&1 &&
		grep -q 'deployment.apps/ip-visit-counter  *2/2' "$T/out" &&
		grep -q 'replicaset.apps/ip-visit-counter-7d9f8c6b5d' "$T/out" &&
		grep -q 'service/ip-visit-counter  *ClusterIP  *10.96.0.10' "$T/out" &&
		grep -q 'daemonset.apps/bpfmirror-agent' "$T/out" &&
		grep -q 'statefulset.apps/postgres  *1/1' "$T/out"; then
		ok "kubectl get deploy,rs,svc,ds,sts -A"
	else
		bad "kubectl get deploy,rs,svc,ds,sts -A: $(cat "$T/out")"
	fi
	if $K get pod $VC -o json >"$T/body" 2>"$T/err"; then
		CODE=200
		expect "kubectl get pod -o json" 200 'j["status"]["podIP"] == "10.244.0.5"'
	else
		bad "kubectl get pod -o json: $(cat "$T/err")"
	fi
	if $K get pods -l app=ip-visit-counter --no-headers >"$T/out" 2>&1 &&
		[ "$(wc -l <"$T/out")" -eq 2 ]; then
		ok "kubectl get pods -l app=ip-visit-counter"
	else
		bad "kubectl get pods -l: $(cat "$T/out")"
	fi
	if ! $K get pod nope >"$T/out" 2>&1 && grep -q 'pods "nope" not found' "$T/out"; then
		ok "kubectl get pod nope -> NotFound"
	else
		bad "kubectl get pod nope: $(cat "$T/out")"
	fi
else
	bad "kubectl missing (make deps)"
fi

# --- logging, SIGTERM, credential reuse ----------------------------------------------
if grep -q 'GET /api/v1/namespaces/default/pods/nope 404' "$T/server.log"; then
	ok "one log line per request"
else
	bad "request log: $(tail -3 "$T/server.log")"
fi
CA_SUM=$(cksum <"$T/certs/ca.crt")
OLD_TOKEN=$TOKEN
kill -TERM "$PID"
if ! wait_exit "$PID" 50; then
	bad "server still running 5 s after SIGTERM"
else
	wait "$PID"
	rc=$?
	if [ $rc -eq 0 ]; then
		ok "clean exit on SIGTERM"
	else
		bad "exit status $rc after SIGTERM"
	fi
fi
rm -f "$KC"
start_server
if [ "$(cksum <"$T/certs/ca.crt")" = "$CA_SUM" ] && [ "$TOKEN" = "$OLD_TOKEN" ]; then
	ok "restart reuses CA and token"
else
	bad "restart made new credentials"
fi
get $PODS/$VC
expect "restarted server answers" 200 'j["metadata"]["name"] == "ip-visit-counter-7d9f8c6b5d-x2k4p"'

if [ $FAILS -ne 0 ]; then
	echo "   server log:"
	tail -20 "$T/server.log"
fi
finish
