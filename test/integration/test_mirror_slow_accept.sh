#!/bin/sh
# In simcluster: a mirrored local app that accepts slowly (listen
# backlog 1, 50 ms before each accept()) still receives every request of a
# burst of fresh connections plus keep-alive traffic: the replayer retransmits
# SYNs, handshake ACKs and data until the local stack takes them, like a real
# client would. The CLI's summary at detach says every connection was
# delivered and none given up. Root only; 77 = skipped.
. "$(dirname "$0")/lib.sh"
need jq bpftool /usr/bin/python3
FRESH=300
KEEP=300
start_cluster
CLIENT_IP=$($SC client -- sh -c "ip -4 -o addr show | awk '/eth0/ {print \$4}' | cut -d/ -f1")

build/bpfmirror -v attach deployment/ip-visit-counter --connect direct -- \
	/usr/bin/python3 test/tools/slow_accept_server.py 8080 1 50 >"$T/local.out" 2>"$T/bm.err" &
BM=$!
wait_for "$T/local.out" "listening on" 100 || { cat "$T/bm.err" "$T/local.out"; give_up "local app did not start"; }
ok "slow local app listening (backlog 1, 50 ms per accept)"

$SC client -- python3 test/tools/loadgen.py ip-visit-counter 80 /count $FRESH $KEEP >"$T/load.json"
echo "   load: $(head -c 160 "$T/load.json")"
want=$((FRESH + KEEP))
[ "$(jq -r .ok "$T/load.json")" = $want ] && ok "pods answered $want/$want" ||
	bad "pods answered $(jq -r .ok "$T/load.json")/$want"

# The local app is seconds behind (300 accepts at 50 ms each): wait, bounded.
t0=$(date +%s)
wait_count "$T/local.out" "^req $CLIENT_IP GET /count" $want 600
n=$(grep -c "^req $CLIENT_IP GET /count" "$T/local.out")
[ "$n" = $want ] && ok "local app got all $want requests ($(($(date +%s) - t0)) s after the load)" ||
	bad "local app got $n of $want requests"

# The kubelet's health probes of the pods are mirrored too (about one every
# 2 s): detach once the app has had nothing new for 2 s (bounded), so that
# normally no probe is on its way when the app stops.
last=-1
i=0
while [ $i -lt 10 ]; do
	cur=$(wc -l <"$T/local.out")
	[ "$cur" = "$last" ] && break
	last=$cur
	sleep 2
	i=$((i + 1))
done

kill -INT "$BM"
wait_exit "$BM" 50 || bad "bpfmirror still runs 5 s after SIGINT"
BM=
sum=$(grep 'mirror: .* connections' "$T/bm.err" | tail -1)
echo "   summary: ${sum#*mirror: }"
# Every connection counted; at least the client's FRESH + 1 delivered. A probe
# that reaches the twin while it stops may end "reset by a peer first" or
# "open at detach" (at most one), never a client's connection.
total=$(echo "$sum" | sed -n 's/.*mirror: \([0-9]*\) connections replayed: .*/\1/p')
delivered=$(echo "$sum" | sed -n 's/.*replayed: \([0-9]*\) delivered, 0 given up; .*/\1/p')
if [ -n "$total" ] && [ -n "$delivered" ] && [ "$delivered" -ge $((FRESH + 1)) ] &&
	[ $((total - delivered)) -le 1 ]; then
	ok "summary: $delivered of $total connections delivered, none given up"
else
	bad "summary does not say all of at least $((FRESH + 1)) connections were delivered: $sum"
fi
early=$(grep -c "reset $CLIENT_IP:.* before delivery" "$T/bm.err")
[ "$early" = 0 ] && ok "no connection of the client reset before delivery" ||
	bad "$early connections of the client reset before delivery"
gu=$(grep -c 'replay: gave up' "$T/bm.err")
[ "$gu" = 0 ] && ok "no give-up logged" || bad "$gu give-ups logged: $(grep 'replay: gave up' "$T/bm.err" | head -3)"

# On failure: what the replayer logged, by kind.
[ $FAILS -gt 0 ] && grep 'replay: ' "$T/bm.err" | sed 's/ [0-9.]*:[0-9]* -> .*//' | sort | uniq -c | head -10
finish
