#!/bin/sh
# Whole-connection steal in simcluster: new connections go to the local build
# only while it listens; kubelet probes never do and the pods stay Ready; a
# second steal of the same port is refused naming the holder; after SIGINT the
# pods answer again, detach plus six requests taking under 5 s.
# Root only; 77 = skipped.
. "$(dirname "$0")/lib.sh"
need jq
builds() { # builds N: N fresh requests through the Service, "build" of each answer
	i=0
	while [ $i -lt "$1" ]; do
		$SC client -- curl -s -m 3 http://ip-visit-counter/count | jq -r .build
		i=$((i + 1))
	done | sort | uniq -c | tr '\n' ' '
}

start_cluster

# The local build starts listening only once the test creates $T/go (at most
# 30 s later), so the "before listening" check does not race a timer.
build/bpfmirror attach deployment/ip-visit-counter --steal --connect direct -- \
	sh -c 'i=0; while [ ! -e "$0" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
		exec build/apps/ip-visit-counter-local' "$T/go" >"$T/local.out" 2>"$T/bm.err" &
BM=$!
wait_for "$T/bm.err" "ready in" 50 || { cat "$T/bm.err"; give_up "attach"; }
b=$(builds 6)
case "$b" in *local*) bad "stolen before the local build listens: $b" ;; *) ok "before listening, the pods answer: $b" ;; esac
touch "$T/go"

# A second whole-connection steal of the same port is refused.
BPFMIRROR_IDENTITY=bob@laptop build/bpfmirror attach deployment/ip-visit-counter --steal --connect direct -- true >"$T/second.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "already stolen by" "$T/second.out"; then
	ok "second steal refused: $(grep -o 'port 8080.*' "$T/second.out" | head -1)"
else
	bad "second steal (rc $rc): $(tail -2 "$T/second.out")"
fi

wait_for "$T/bm.err" "stealing port 8080" 100 || { cat "$T/bm.err"; bad "steal never became active"; }
b=$(builds 10)
[ "$b" = "     10 local build " ] && ok "while listening, every new connection is stolen: $b" || bad "while listening: $b"
sleep 1
$SC status | grep -E '^default +ip-visit-counter-' | grep -qv '1/1' && bad "a pod lost readiness" || ok "probes keep passing (pods Ready)"
grep -q 'kube-probe' "$T/local.out" && bad "a kubelet probe was stolen" || ok "no probe reached the local build"

t0=$(date +%s%N)
kill -INT "$BM"
wait "$BM" 2>/dev/null
BM=
b=$(builds 6)
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$b" = "      6 deployed " ] && ok "after detach the pods answer again" || bad "after detach: $b"
# Typically well under a second; the bound leaves room for a loaded machine.
[ $ms -lt 5000 ] && ok "detach + 6 requests in $ms ms (< 5000)" || bad "detach + 6 requests took $ms ms (>= 5000)"

finish
