#!/bin/sh
# Port-forward in simcluster: the API endpoint serves pods/portforward the way
# kube-apiserver does for the real kubectl 1.35 (WebSocket-tunnelled SPDY, and
# the SPDY fallback): byte round trips to Redis, HTTP to a Deployment and a TCP
# connect to the agent pod; then `bpfmirror attach --connect port-forward`
# reaches the node agent through `kubectl port-forward` end to end, and
# `--connect direct` still works. Also the CLI's errors for a missing kubectl
# and for RBAC refusing pods/portforward. Root only; 77 = skipped.
# shellcheck disable=SC2015,SC2016 # ok/bad chains; $VARS are for the twin's shell
. "$(dirname "$0")/lib.sh"
need build/bpfmirror build/bpfmirror-agent /usr/bin/python3
KUBECTL=$PWD/build/tools/bin/kubectl
"$KUBECTL" version --client 2>/dev/null | grep -q 'Client Version: v1\.35\.' ||
	give_up "kubectl 1.35 not at build/tools/bin/kubectl (make deps)"
PFS=
on_exit() { for p in $PFS; do kill "$p" 2>/dev/null; done; }

# pf NAME KUBECTL-ARGS...: starts kubectl port-forward in the background, sets PORT.
pf() {
	name=$1
	shift
	"$KUBECTL" port-forward --address 127.0.0.1 "$@" >"$T/pf.$name" 2>&1 &
	PFS="$PFS $!"
	PID=$!
	PORT=
	i=0
	while [ -z "$PORT" ] && [ $i -lt 100 ] && kill -0 "$PID" 2>/dev/null; do
		PORT=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) -> .*/\1/p' "$T/pf.$name" | head -1)
		[ -n "$PORT" ] || sleep 0.1
		i=$((i + 1))
	done
	[ -n "$PORT" ]
}

start_cluster
grep -q "agent pod .* ready" "$T/up.log" || { cat "$T/up.log"; give_up "agent pod not ready"; }
AGENT=$("$KUBECTL" get pods -n bpfmirror -l app.kubernetes.io/name=bpfmirror-agent -o jsonpath='{.items[0].metadata.name}')
REDIS=$("$KUBECTL" get pods -o name | sed -n 's|^pod/\(redis-main-.*\)|\1|p' | head -1)

# ---- kubectl port-forward through the simcluster API --------------------------
# Redis ECHO of 200 kB: bytes both ways through pod netns -> SPDY -> WebSocket -> kubectl.
redis_echo() {
	python3 - "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
data = bytes((i * 7) % 251 for i in range(200000))
s.sendall(b"PING\r\n*2\r\n$4\r\nECHO\r\n$%d\r\n" % len(data) + data + b"\r\n")
want = b"+PONG\r\n$%d\r\n" % len(data) + data + b"\r\n"
got = b""
while len(got) < len(want):
    d = s.recv(65536)
    if not d:
        break
    got += d
sys.exit(0 if got == want else 1)
EOF
}
if pf redis "pod/$REDIS" :6379; then
	redis_echo "$PORT" && ok "kubectl port-forward (WebSocket) to pod $REDIS: PING + 200 kB ECHO round trip" ||
		bad "redis round trip through port $PORT: $(tail -3 "$T/pf.redis")"
	redis_echo "$PORT" && ok "second connection on the same port-forward" || bad "second connection"
else
	bad "kubectl port-forward pod/$REDIS did not start: $(tail -3 "$T/pf.redis")"
fi
"$KUBECTL" -v=6 port-forward --address 127.0.0.1 "pod/$REDIS" :6379 >"$T/pf.v6" 2>&1 &
V6=$!
sleep 1.5
kill "$V6" 2>/dev/null
grep -q 'negotiated protocol: portforward.k8s.io' "$T/pf.v6" && ! grep -q 'fallback to secondary' "$T/pf.v6" &&
	ok "kubectl negotiated the WebSocket tunnel (no SPDY fallback)" ||
	bad "protocol: $(grep -i 'protocol\|fallback' "$T/pf.v6" | head -2)"

KUBECTL_PORT_FORWARD_WEBSOCKETS=false pf spdy "pod/$REDIS" :6379 && redis_echo "$PORT" &&
	ok "SPDY upgrade path (KUBECTL_PORT_FORWARD_WEBSOCKETS=false) round trip" ||
	bad "SPDY path: $(tail -3 "$T/pf.spdy")"

if pf http deployment/ip-visit-counter :8080; then
	body=$(curl -s -m 5 "http://127.0.0.1:$PORT/count")
	echo "$body" | grep -q '"count"\|count' && ok "HTTP GET /count through port-forward to deployment/ip-visit-counter" ||
		bad "HTTP through port-forward: $body"
else
	bad "port-forward deployment/ip-visit-counter: $(tail -3 "$T/pf.http")"
fi

if pf agent -n bpfmirror "pod/$AGENT" :47100; then
	python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5).close()" "$PORT" &&
		ok "TCP connect to the agent pod $AGENT (hostNetwork, 169.254.123.2:47100) through port-forward" ||
		bad "connect to the agent through port-forward"
else
	bad "port-forward to the agent: $(tail -3 "$T/pf.agent")"
fi

pf closed "pod/$REDIS" :6390 && python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5); s.settimeout(5); s.recv(10)" "$PORT" 2>/dev/null
sleep 0.5
grep -q "error forwarding port 6390" "$T/pf.closed" && ok "closed port: kubectl reports the pod-side error" ||
	bad "closed port: $(tail -2 "$T/pf.closed")"

for p in $PFS; do kill "$p" 2>/dev/null; done
PFS=

# ---- bpfmirror attach --connect port-forward ------------------------------------
PATH="$PWD/build/tools/bin:$PATH" timeout -k 5 60 build/bpfmirror attach deployment/ip-visit-counter --connect port-forward \
	-- sh -c 'echo "REDIS=$REDISADDRESS"' >"$T/attach.out" 2>"$T/attach.err"
rc=$?
[ $rc -eq 0 ] && grep -qx 'REDIS=redis-main:6379' "$T/attach.out" &&
	ok "attach --connect port-forward: the command saw REDISADDRESS=redis-main:6379, exit 0" ||
	bad "attach --connect port-forward (rc $rc): $(cat "$T/attach.out") $(tail -5 "$T/attach.err")"
grep -q "port-forward to agent pod bpfmirror/$AGENT:47100 listens on 127.0.0.1:" "$T/attach.err" &&
	grep -q "through agent 127.0.0.1:" "$T/attach.err" && ok "the session went through the port-forward" ||
	bad "attach log: $(grep -i 'agent' "$T/attach.err" | head -3)"
sleep 0.3
pgrep -f "kubectl port-forward.* -n bpfmirror pod/$AGENT :47100" >/dev/null &&
	bad "kubectl port-forward left running" || ok "no kubectl left behind"

# Mirrored traffic flows through the port-forward too (packets in the control stream).
CLIENT_IP=$($SC client -- sh -c "ip -4 -o addr show | awk '/eth0/ {print \$4}' | cut -d/ -f1")
PATH="$PWD/build/tools/bin:$PATH" build/bpfmirror attach deployment/ip-visit-counter --connect port-forward \
	-- build/apps/ip-visit-counter-local >"$T/local.out" 2>"$T/local.err" &
BM=$!
wait_for "$T/local.out" "listening on" 100
$SC client -- python3 test/tools/loadgen.py ip-visit-counter 80 /count 100 100 >"$T/load.json"
wait_count "$T/local.out" "client=$CLIENT_IP \"GET /count\" 200" 200 300
n=$(grep -c "client=$CLIENT_IP \"GET /count\" 200" "$T/local.out")
[ "$n" = 200 ] && grep -q '"ok": 200' "$T/load.json" &&
	ok "mirror through port-forward: the local build got and answered 200/200 requests" ||
	bad "mirror through port-forward: local got $n of 200, load $(head -c 120 "$T/load.json"); $(grep -v 'GET /count' "$T/local.err" | tail -3)"
# kubectl dies mid-session (API server restart, network): the CLI runs it again
# on the same local port and the session re-attaches by itself.
KPID=$(pgrep -f "kubectl port-forward --address 127.0.0.1 -n bpfmirror pod/$AGENT :47100" | head -1)
[ -n "$KPID" ] && kill -KILL "$KPID"
wait_count "$T/local.err" 're-attached to' 2 150
$SC client -- python3 test/tools/loadgen.py ip-visit-counter 80 /count 20 0 >"$T/load2.json"
wait_count "$T/local.out" "client=$CLIENT_IP \"GET /count\" 200" 220 150
n=$(grep -c "client=$CLIENT_IP \"GET /count\" 200" "$T/local.out")
[ -n "$KPID" ] && grep -q "restored on 127.0.0.1:" "$T/local.err" && [ "$n" = 220 ] &&
	ok "kubectl killed mid-session: restarted on the same port, session re-attached, 20/20 more mirrored" ||
	bad "kubectl restart (pid ${KPID:-none}): local got $n of 220; $(grep -i 'port-forward\|attach' "$T/local.err" | tail -4)"
kill -INT "$BM"
if ! wait_exit "$BM" 50; then
	bad "bpfmirror still runs 5 s after SIGINT"
	kill -KILL "$BM"
else
	ok "SIGINT detached"
fi
BM=

# The default agent.connect is port-forward; kubectl found as $BPFMIRROR_KUBECTL.
BPFMIRROR_KUBECTL="$KUBECTL" timeout -k 5 60 build/bpfmirror attach deployment/ip-visit-counter -- sh -c 'echo "REDIS=$REDISADDRESS"' \
	>"$T/attach2.out" 2>"$T/attach2.err" && grep -qx 'REDIS=redis-main:6379' "$T/attach2.out" &&
	ok "default connect (port-forward) with BPFMIRROR_KUBECTL" || bad "BPFMIRROR_KUBECTL: $(tail -3 "$T/attach2.err")"

timeout -k 5 60 build/bpfmirror attach deployment/ip-visit-counter --connect direct -- sh -c 'echo "REDIS=$REDISADDRESS"' \
	>"$T/direct.out" 2>"$T/direct.err" && grep -qx 'REDIS=redis-main:6379' "$T/direct.out" &&
	ok "--connect direct still works" || bad "direct: $(tail -3 "$T/direct.err")"

# ---- as a kubectl plugin ------------------------------------------------------------
mkdir "$T/plugin"
ln -s "$PWD/build/bpfmirror" "$T/plugin/kubectl-bpfmirror"
PATH="$T/plugin:$PATH" timeout 30 "$KUBECTL" bpfmirror resolve deployment/ip-visit-counter >"$T/plugin.out" 2>&1 &&
	grep -q "ip-visit-counter-" "$T/plugin.out" && ok "kubectl bpfmirror resolve ... (kubectl-bpfmirror on PATH)" ||
	bad "kubectl plugin: $(head -3 "$T/plugin.out")"

# ---- clear errors ------------------------------------------------------------------
mkdir "$T/bin"
for t in sh cat; do ln -s "$(command -v $t)" "$T/bin/$t"; done
timeout -k 5 60 env -u BPFMIRROR_KUBECTL PATH="$T/bin" "$PWD/build/bpfmirror" attach deployment/ip-visit-counter --connect port-forward \
	-- true >"$T/nokubectl.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "kubectl is not installed" "$T/nokubectl.out" && grep -q "hint: install kubectl" "$T/nokubectl.out" &&
	ok "missing kubectl: $(grep -m1 'not installed' "$T/nokubectl.out" | cut -c1-90)..." ||
	bad "missing kubectl (rc $rc): $(cat "$T/nokubectl.out")"
BPFMIRROR_KUBECTL=/nonexistent/kubectl timeout -k 5 60 build/bpfmirror attach deployment/ip-visit-counter -- true >"$T/badenv.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "BPFMIRROR_KUBECTL=/nonexistent/kubectl" "$T/badenv.out" &&
	ok "BPFMIRROR_KUBECTL pointing nowhere is named" || bad "bad BPFMIRROR_KUBECTL: $(cat "$T/badenv.out")"

# simcluster's token may do anything: a stand-in kubectl answers like RBAC does.
cat >"$T/bin/kubectl" <<EOF
#!/bin/sh
echo 'error: error upgrading connection: pods "$AGENT" is forbidden: User "dev" cannot create resource "pods/portforward" in API group "" in the namespace "bpfmirror"' >&2
exit 1
EOF
chmod +x "$T/bin/kubectl"
BPFMIRROR_KUBECTL="$T/bin/kubectl" timeout -k 5 60 build/bpfmirror attach deployment/ip-visit-counter -- true >"$T/rbac.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "RBAC forbids port-forwarding to the agent pod bpfmirror/$AGENT" "$T/rbac.out" &&
	grep -q "create pods/portforward in namespace bpfmirror" "$T/rbac.out" &&
	ok "RBAC refusal names the permission (pods/portforward create in bpfmirror)" || bad "RBAC message: $(cat "$T/rbac.out")"

finish
