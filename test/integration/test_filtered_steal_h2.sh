#!/bin/sh
# HTTP/2 filtered steal in simcluster: deployment/h2-echo runs nghttpd (h2c
# prior knowledge, what gRPC uses in clusters) serving /who = "deployed".
# Two developers attach with --steal --header '^x-dev: team-a$' and a path
# filter for team-b's own prefix, each running nghttpd on a directory whose
# files say who they are. Over ONE HTTP/2 connection through the Service,
# 300 streams (up to 90 concurrent) alternating x-dev team-a / team-b / none
# are each answered by the right party, none lost; a 3 MiB answer crosses
# the router under flow control; the pod stays Ready and the router's metrics
# count the streams. Then gRPC (python3-grpcio on both sides): two
# developers with header filters on deployment/grpc-echo plus unmarked
# calls; 300 concurrent unary calls on one channel, server streaming, client
# streaming, bidirectional, a 4 MiB answer and a deadline (the cancellation
# reaches the developer's server) each land on the right party. The services
# come from test/cluster/manifests/h2/. Root only; 77 = skipped. KEEP=1 keeps
# the temporary directory as /tmp/keep_fsteal_h2.
. "$(dirname "$0")/lib.sh"
need jq nghttpd /usr/bin/python3
/usr/bin/python3 -c 'import h2, grpc' 2>/dev/null || { echo "skip: python3-h2 or python3-grpcio missing"; exit 77; }
A=
B=
GA=
GB=
on_exit() {
	if [ -n "$KEEP" ]; then
		$SC logs "$(jq -r '.pods[] | select(.name|startswith("bpfmirror-agent")) | .name' "$STATE" | head -1)" \
			-n bpfmirror >"$T/agent.log" 2>&1
		rm -rf /tmp/keep_fsteal_h2
		cp -r "$T" /tmp/keep_fsteal_h2
	fi
	for p in $A $B $GA $GB; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in $A $B $GA $GB; do kill -9 "$p" 2>/dev/null; done
}
# start_cluster with the HTTP/2 services added to the default manifests
make_temp
CLUSTER=1
$SC up test/cluster/manifests/*.yaml test/cluster/manifests/h2/*.yaml >"$T/up.log" 2>&1 || { cat "$T/up.log"; give_up "simcluster up"; }
STATE=$($SC state)
KUBECONFIG=$($SC kubeconfig)
export KUBECONFIG
METRICS=$(jq -r '.node.internalIP' "$STATE"):47101

# Content of each developer's local server: /who and /b/who say who answers.
for d in team-a team-b; do
	mkdir -p "$T/$d/b"
	echo "$d" >"$T/$d/who"
	echo "$d" >"$T/$d/b/who"
done
head -c 3145728 /dev/zero | tr '\0' 'x' >"$T/team-a/big"

# Starts a developer: $1 = tag, $2 = filter flag, $3 = regex; prints the pid.
start_dev() {
	build/bpfmirror attach deployment/h2-echo --steal "$2" "$3" --connect direct -- \
		nghttpd --no-tls -d "$T/$1" 8080 >"$T/$1.out" 2>"$T/$1.err" &
	echo $!
}
wait_stealing() {
	wait_for "$T/$1.err" 'stealing port 8080' 150 || { cat "$T/$1.err" "$T/$1.out"; return 1; }
	sleep 0.5 # the Subscribe reaches the agent
}

A=$(start_dev team-a --header '^x-dev: team-a$')
B=$(start_dev team-b --path '^/b/')
wait_stealing team-a || give_up "team-a never stole"
wait_stealing team-b || give_up "team-b never stole"
ok "two developers attached to an HTTP/2 service (header filter, path filter)"

count() { jq -r --arg v "$2" --arg b "$3" '.by_value[$v][$b] // 0' "$1"; }
$SC client -- /usr/bin/python3 test/tools/h2client.py h2-echo 80 /who 300 team-a - >"$T/r1.json"
echo "   /who: $(cat "$T/r1.json")"
[ "$(jq -r .ok "$T/r1.json")" = 300 ] && [ "$(jq -r .max_open "$T/r1.json")" -ge 50 ] &&
	ok "300 streams answered on one connection, up to $(jq -r .max_open "$T/r1.json") at once" || bad "answers: $(cat "$T/r1.json")"
[ "$(count "$T/r1.json" team-a team-a)" = 150 ] && ok "150 x-dev: team-a streams answered by team-a" || bad "team-a: $(jq -c '.by_value["team-a"]' "$T/r1.json")"
[ "$(count "$T/r1.json" - deployed)" = 150 ] && ok "150 unmarked streams answered by the pod" || bad "unmarked: $(jq -c '.by_value["-"]' "$T/r1.json")"

# team-b's filter is the path: /b/who goes to team-b unless team-a's header matches first
$SC client -- /usr/bin/python3 test/tools/h2client.py h2-echo 80 /b/who 200 team-a - >"$T/r2.json"
echo "   /b/who: $(jq -c .by_value "$T/r2.json")"
[ "$(count "$T/r2.json" - team-b)" = 100 ] && [ "$(count "$T/r2.json" team-a team-a)" = 100 ] &&
	ok "path filter: /b/ streams to team-b, team-a's header (attached first) wins" || bad "path: $(cat "$T/r2.json")"

$SC client -- /usr/bin/python3 test/tools/h2client.py h2-echo 80 /big 4 team-a >"$T/r3.json"
[ "$(jq -r .bytes "$T/r3.json")" = 12582912 ] && ok "4 x 3 MiB answers from team-a through the router (flow control)" || bad "big: $(cat "$T/r3.json")"

ip netns exec bm-node curl -s "http://$METRICS/metrics" >"$T/m1"
S=$(sed -n 's/^bpfmirror_router_requests_total{target="session"} //p' "$T/m1")
[ "${S:-0}" -ge 354 ] && ok "router metrics count the streams: $(grep '^bpfmirror_router_requests_total' "$T/m1" | tr '\n' ' ')" || bad "metrics: $(grep '^bpfmirror_router' "$T/m1" | tr '\n' ' ')"

$SC status >"$T/status" 2>&1
POD=$(grep -E 'h2-echo-[a-z0-9]+-[a-z0-9]+ ' "$T/status")
echo "$POD" | grep -qE ' 1/1 +Running +0 ' && ok "the pod is still Ready, no restart" || bad "pod: $POD"

# ---- team-a's local app goes away: its streams go to the pod ----------------
kill -INT "$A"
wait_exit "$A" 50 || bad "team-a still runs 5 s after SIGINT"
A=
sleep 0.3
$SC client -- /usr/bin/python3 test/tools/h2client.py h2-echo 80 /who 100 team-a - >"$T/r4.json"
[ "$(count "$T/r4.json" team-a deployed)" = 50 ] && [ "$(jq -r .ok "$T/r4.json")" = 100 ] &&
	ok "after team-a left its streams go to the pod" || bad "after detach: $(cat "$T/r4.json")"

# ---- gRPC -----------------------------------------------------------------
start_grpc_dev() {
	build/bpfmirror attach deployment/grpc-echo --steal --header "^x-dev: $1\$" --connect direct -- \
		env NAME="$1" PORT=8080 test/cluster/apps/grpc-echo >"$T/g-$1.out" 2>"$T/g-$1.err" &
	echo $!
}
GA=$(start_grpc_dev team-a)
GB=$(start_grpc_dev team-b)
wait_stealing g-team-a || give_up "gRPC team-a never stole"
wait_stealing g-team-b || give_up "gRPC team-b never stole"
wait_for "$T/g-team-a.out" listening 100
wait_for "$T/g-team-b.out" listening 100
ok "two developers attached to a gRPC service with header filters"
GIP=$($SC client -- getent hosts grpc-echo | awk '{print $1}') # the Service's ClusterIP
$SC client -- /usr/bin/python3 test/tools/grpcclient.py "$GIP:80" 300 team-a team-b - >"$T/g.json" 2>"$T/g.err"
echo "   gRPC: $(head -c 600 "$T/g.json")"
for v in team-a team-b -; do
	a=$v
	[ "$v" = - ] && a=deployed
	[ "$(jq -r --arg v "$v" --arg a "$a" '.unary[$v][$a] // 0' "$T/g.json")" = 100 ] &&
		ok "gRPC $v: 100 concurrent unary calls answered by $a" || bad "gRPC unary $v: $(jq -c --arg v "$v" '.unary[$v]' "$T/g.json")"
	jq -e --arg v "$v" --arg a "$a" '.stream[$v] == [50, [$a]] and .sum[$v] == ($a + " 10000") and
		.chat[$v] == [($a + " 1"), ($a + " 2"), ($a + " 3")] and .big[$v][0] == 4194304 and
		(.big[$v][1] | startswith($a[0:6])) and .deadline[$v] == "StatusCode.DEADLINE_EXCEEDED"' "$T/g.json" >/dev/null &&
		ok "gRPC $v: server/client/bidi streaming, 4 MiB, deadline, all by $a" ||
		bad "gRPC $v: $(jq -c --arg v "$v" '[.stream[$v], .sum[$v], .chat[$v], .big[$v], .deadline[$v]]' "$T/g.json") $(tail -3 "$T/g.err")"
done
grep -q cancelled "$T/g-team-a.out" && grep -q cancelled "$T/g-team-b.out" &&
	ok "the deadline's cancellation reached the developers' servers" || bad "no cancellation seen by a developer"
$SC status >"$T/status2" 2>&1
POD=$(grep -E 'grpc-echo-[a-z0-9]+-[a-z0-9]+ ' "$T/status2")
echo "$POD" | grep -qE ' 1/1 +Running +0 ' && ok "the gRPC pod is still Ready, no restart" || bad "gRPC pod: $POD"
finish
