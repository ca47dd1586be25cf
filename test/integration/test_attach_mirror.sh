#!/bin/sh
# The mirror twin in simcluster: `bpfmirror attach deployment/ip-visit-counter
# -- ip-visit-counter-local` runs a local build as the pod (its env and file;
# it answers with the pod's Redis, found by cluster DNS); 1,000 requests to
# the Service (fresh and keep-alive) are all answered by the pods and all
# copied to the local build, which sees the client's real IP. Also: a
# misspelt target gets a suggestion, the command's exit status is
# bpfmirror's. After SIGINT no twin process, temporary file, agent session or
# attached program remains.
# Root only; 77 = skipped.
. "$(dirname "$0")/lib.sh"
need jq bpftool /usr/bin/python3
start_cluster
METRICS=$(jq -r '.node.internalIP' "$STATE"):47101
CLIENT_IP=$($SC client -- sh -c "ip -4 -o addr show | awk '/eth0/ {print \$4}' | cut -d/ -f1")

# ---- user errors ------------------------------------------------------------
build/bpfmirror attach deployment/ip-visit-countr --connect direct -- true >"$T/e1" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "did you mean.*ip-visit-counter" "$T/e1" && ok "unknown target: $(grep -o 'did you mean[^)]*' "$T/e1" | head -1)" ||
	bad "unknown target (rc $rc): $(cat "$T/e1")"
build/bpfmirror attach deployment/ip-visit-counter --connect direct --exit-on-disconnect -- sh -c 'exit 7' >"$T/e2" 2>&1
rc=$?
[ $rc -eq 7 ] && ok "the command's exit status is bpfmirror's (7)" || bad "exit status $rc, want 7: $(tail -3 "$T/e2")"

# ---- the main job -----------------------------------------------------------
ls -d /tmp/bpfmirror-?????? 2>/dev/null | sort >"$T/tmp.before"
t0=$(date +%s%N)
build/bpfmirror attach deployment/ip-visit-counter --connect direct -- \
	build/apps/ip-visit-counter-local >"$T/local.out" 2>"$T/bm.err" &
BM=$!
wait_for "$T/local.out" "listening on" 50 || { cat "$T/bm.err" "$T/local.out"; give_up "local build did not start"; }
t1=$(date +%s%N)
ok "local build listening $(((t1 - t0) / 1000000)) ms after start ($(grep -o 'ready in [0-9]* ms' "$T/bm.err"))"
grep -q 'redis=redis-main:6379' "$T/local.out" && ok "pod's REDISADDRESS" || bad "REDISADDRESS: $(head -2 "$T/local.out")"
grep -q 'response="Hello from the ip-visit-counter pod' "$T/local.out" && ok "pod's /app/response.txt" || bad "response file: $(head -2 "$T/local.out")"
grep -q 'attached: 2 pod(s)' "$T/bm.err" && ok "both replicas attached" || bad "replicas: $(grep attached "$T/bm.err")"

$SC client -- python3 test/tools/loadgen.py ip-visit-counter 80 /count 500 500 >"$T/load.json"
echo "   load: $(head -c 160 "$T/load.json")"
[ "$(jq -r .ok "$T/load.json")" = 1000 ] && ok "pods answered 1000/1000" || bad "pods answered $(jq -r .ok "$T/load.json")/1000"
$SC client -- curl -s -m 3 http://ip-visit-counter/count >"$T/one.json"
[ "$(jq -r .build "$T/one.json")" = deployed ] && ok "answers come from the deployed build" || bad "answer: $(cat "$T/one.json")"

# The local build also talks to Redis and ip-info through the agent: allow it
# time to catch up (bounded).
wait_count "$T/local.out" "client=$CLIENT_IP \"GET /count\" 200" 1001 300
n=$(grep -c "client=$CLIENT_IP \"GET /count\" 200" "$T/local.out")
[ "$n" = 1001 ] && ok "local build got all 1001 requests from $CLIENT_IP and answered them with Redis" ||
	bad "local build got $n of 1001 ($(grep -c 'GET /count' "$T/local.out") any status)"

# ---- detach -----------------------------------------------------------------
kill -INT "$BM"
if ! wait_exit "$BM" 50; then bad "bpfmirror still runs 5 s after SIGINT"; else ok "SIGINT detached: $(grep detached "$T/bm.err" | head -c 100)"; fi
BM=
pgrep -f ip-visit-counter-local >/dev/null && bad "local build still running" || ok "no twin process left"
ls -d /tmp/bpfmirror-?????? 2>/dev/null | sort >"$T/tmp.after"
left=$(comm -13 "$T/tmp.before" "$T/tmp.after")
[ -z "$left" ] && ok "no temporary files left" || bad "temporary files left: $left"
sleep 0.3
s=$(ip netns exec bm-node curl -s "http://$METRICS/metrics" | awk '/^bpfmirror_sessions /{print $2}')
[ "$s" = 0 ] && ok "agent shows no session" || bad "agent sessions: $s"
n=$(our_links)
[ "$n" = 0 ] && ok "no program attached to any pod" || bad "$n links left"

finish
