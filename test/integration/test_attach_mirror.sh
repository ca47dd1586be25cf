#!/bin/sh
# Issue 5 in simcluster: `bpfmirror attach deployment/ip-visit-counter --
# ip-visit-counter-local` runs a local build as the pod: the pod's env, file,
# DNS and Redis; 1,000 requests to the Service (fresh and keep-alive) are all
# answered by the pods and all copied to the local build, which sees the
# client's real IP. Afterwards nothing of the twin or the session remains.
# Root only; 77 = skipped.
. "$(dirname "$0")/lib.sh"
need jq bpftool /usr/bin/python3
start_cluster test_attach_mirror
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
i=0
until grep -q "listening on" "$T/local.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$BM" 2>/dev/null; then
		cat "$T/bm.err" "$T/local.out"
		echo "FAIL: local build did not start"
		exit 1
	fi
	sleep 0.05
done
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

i=0
# The local build also talks to Redis and ip-info through the agent: allow it
# time to catch up (bounded).
while [ "$(grep -c "client=$CLIENT_IP \"GET /count\" 200" "$T/local.out")" -lt 1001 ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
n=$(grep -c "client=$CLIENT_IP \"GET /count\" 200" "$T/local.out")
[ "$n" = 1001 ] && ok "local build got all 1001 requests from $CLIENT_IP and answered them with Redis" ||
	bad "local build got $n of 1001 ($(grep -c 'GET /count' "$T/local.out") any status)"

# ---- detach -----------------------------------------------------------------
kill -INT "$BM"
i=0
while kill -0 "$BM" 2>/dev/null && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
if kill -0 "$BM" 2>/dev/null; then bad "bpfmirror still runs 5 s after SIGINT"; else ok "SIGINT detached: $(grep detached "$T/bm.err" | head -c 100)"; fi
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

finish test_attach_mirror
