#!/bin/sh
# bpfmirror ls / resolve against the simcluster fake API server (HTTPS on loopback, fixture
# state): the table and JSON output, resolve of a deployment, a statefulset and a container,
# and the errors a user meets. Needs no root. Starts one python process and a temp dir; both
# go on exit.
. "$(dirname "$0")/lib.sh"

APISERVER=scripts/simk8s/apiserver
FIXTURE=${SIMCLUSTER_FIXTURE:-test/cluster/apiserver-fixture-state.json}
BIN=build/bpfmirror

[ -d "$APISERVER" ] || give_up "$APISERVER not found (the simcluster API server)"
[ -f "$FIXTURE" ] || give_up "$FIXTURE not found"
# openssl: the server makes its certificates.
need_tools "$BIN" python3 openssl
make_temp
tmp=$T
server=""
on_exit() {
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null
		wait "$server" 2>/dev/null
	fi
}

PYTHONPATH=scripts python3 -B -m simk8s.apiserver --state "$FIXTURE" --listen 127.0.0.1:0 --certdir "$tmp" \
	--kubeconfig-out "$tmp/kubeconfig" >"$tmp/server.log" 2>&1 &
server=$!
# The kubeconfig appears once the server accepts connections.
wait_file "$tmp/kubeconfig" "$server" 150 || { cat "$tmp/server.log"; give_up "the API server did not start"; }
KC="$tmp/kubeconfig"

# run NAME EXPECTED_STATUS ARGS...: runs bpfmirror, keeps stdout/stderr in $tmp/NAME.{out,err}.
run() {
	name=$1
	want=$2
	shift 2
	"$BIN" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad "$name: 'bpfmirror $*' exited $rc, expected $want"
		sed 's/^/    /' "$tmp/$name.err"
		return 1
	fi
	ok "$name: 'bpfmirror $*' exited $want"
}
# has NAME FILE-SUFFIX TEXT: the output contains TEXT.
has() {
	if grep -qF -- "$3" "$tmp/$1.$2"; then
		ok "$1: '$3' in its std$2"
	else
		bad "$1: '$3' not in its std$2"
		sed 's/^/    /' "$tmp/$1.$2"
	fi
}

# --- ls: table and JSON ------------------------------------------------------
if run ls 0 ls --kubeconfig "$KC"; then
	has ls out "TARGET"
	grep -Eq '^deployment/ip-visit-counter +2/2 +http:8080/TCP' "$tmp/ls.out" &&
		ok "ls: ready row for deployment/ip-visit-counter" ||
		bad "ls: no ready row for deployment/ip-visit-counter: $(cat "$tmp/ls.out")"
	has ls out "statefulset/postgres"
	has ls out "pod/ip-visit-counter-"
	grep -q '^replicaset/' "$tmp/ls.out" && bad "ls: lists a deployment's replicaset" ||
		ok "ls: no replicaset of a deployment"
	grep -q 'bpfmirror-agent' "$tmp/ls.out" && bad "ls: lists another namespace" ||
		ok "ls: only the current namespace"
fi
if run lsjson 0 ls -o json --kubeconfig "$KC"; then
	python3 - "$tmp/lsjson.out" <<'EOF' && ok "ls -o json: content" || bad "ls -o json: unexpected content"
import json, sys
rows = json.load(open(sys.argv[1]))
by = {r["target"]: r for r in rows}
d = by["deployment/ip-visit-counter"]
assert d["ready"] == 2 and d["desired"] == 2, d
assert d["ports"][0]["port"] == 8080 and d["ports"][0]["name"] == "http", d
assert "statefulset/postgres" in by
assert all(r["kind"] in ("deployment", "statefulset", "replicaset", "pod") for r in rows)
EOF
fi
if run lsns 0 ls -n bpfmirror --kubeconfig "$KC"; then
	has lsns out "pod/bpfmirror-agent-"
fi

# --- resolve: a deployment, through $KUBECONFIG ------------------------------
if KUBECONFIG="$tmp/missing:$KC" run resolve 0 resolve deployment/ip-visit-counter; then
	python3 - "$tmp/resolve.out" "$FIXTURE" <<'EOF' && ok "resolve: content" || bad "resolve: unexpected content"
import json, sys
t = json.load(open(sys.argv[1]))
state = json.load(open(sys.argv[2]))
want = sorted(p["name"] for p in state["pods"]
              if p["namespace"] == "default" and p["name"].startswith("ip-visit-counter-")
              and p["phase"] == "Running" and p["ready"])
assert t["target"] == "deployment/ip-visit-counter" and t["namespace"] == "default", t
assert [p["name"] for p in t["pods"]] == want, (t["pods"], want)
node_ip = state["node"]["internalIP"]
for p in t["pods"]:
    sp = next(s for s in state["pods"] if s["name"] == p["name"])
    assert p["podIPs"][0] == sp["podIP"], p
    assert p["node"] == sp["nodeName"] and p["hostIP"] == sp["hostIP"], p
    assert p["container"] == "app", p
    cid = next(c["containerID"] for c in sp["containers"] if c["name"] == "app")
    assert p["runtime"] + "://" + p["containerID"] == cid, (p, cid)
    assert {"name": "http", "port": 8080, "protocol": "TCP"} in p["ports"], p
    a = p["agent"]
    assert a["namespace"] == "bpfmirror" and a["pod"].startswith("bpfmirror-agent"), a
    assert a["address"] == node_ip and a["port"] == 47100, a
EOF
fi
if run resolvests 0 resolve --kubeconfig "$KC" sts/postgres; then
	has resolvests out '"name":"postgres-0"'
fi
if run resolvepod 0 resolve --kubeconfig "$KC" -n default pod/postgres-0/container/postgres; then
	has resolvepod out '"container":"postgres"'
fi

# --- errors a user meets -------------------------------------------------------
run typo 1 resolve --kubeconfig "$KC" deploy/ip-visit-countr &&
	has typo err "did you mean deployment/ip-visit-counter?"
run bare 1 resolve --kubeconfig "$KC" ip-visit-counter &&
	has bare err "did you mean deployment/ip-visit-counter?"
run notready 1 resolve --kubeconfig "$KC" deployment/ip-info &&
	has notready err "has no ready pod"
run nocontainer 1 resolve --kubeconfig "$KC" pod/postgres-0/container/nope &&
	has nocontainer err "no container 'nope'"
run noagent 1 resolve --kubeconfig "$KC" --agent-namespace nowhere sts/postgres &&
	has noagent err "docs/install.md"
run badkind 2 resolve --kubeconfig "$KC" daemonset/bpfmirror-agent &&
	has badkind err "unknown target kind"
run badctx 1 ls --kubeconfig "$KC" --context nope &&
	has badctx err "context 'nope'"
mkdir -p "$tmp/home"
HOME="$tmp/home" KUBECONFIG="" run nokc 1 ls && has nokc err "no kubeconfig found"
sed 's/^\( *token:\).*/\1 wrong-token/' "$KC" >"$tmp/badtoken"
run badtoken 1 ls --kubeconfig "$tmp/badtoken" && has badtoken err "401"
grep -q 'token:' "$KC" || bad "the generated kubeconfig has no token: check badtoken test"

if [ $FAILS -ne 0 ]; then
	echo "   server log:"
	sed 's/^/    /' "$tmp/server.log"
fi
finish
