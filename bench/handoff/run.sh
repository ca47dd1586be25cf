#!/bin/sh
# Handoff benchmark: nginx "pod" behind a node namespace, wrk from a client
# namespace; compares no program, mirror via tun + one read() per packet,
# mirror via ring buffer (reader woken per record), and ring buffer with
# batched wakeups (per 64 KiB, or a 2 ms poll timer). Prints req/s ratios vs the baseline and how many
# mirrored packets the consumer received. Root; everything is created in
# namespaces bmh-* and removed on exit.
# Usage: bench/handoff/run.sh [SECONDS_PER_RUN] [ROUNDS] [CONNECTIONS]
set -eu

DUR=${1:-5}
ROUNDS=${2:-2}
CONNS=${3:-32}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
CONSUMER=$BUILD/bench/handoff-consumer
TMP=$(mktemp -d /tmp/bmh.XXXXXX)
NS_C=bmh-cli
NS_N=bmh-node
NS_S=bmh-srv
POD=10.201.2.2

[ "$(id -u)" = 0 ] || { echo "handoff bench: needs root" >&2; exit 77; }
for t in wrk nginx ip; do
	command -v $t >/dev/null || { echo "handoff bench: $t missing" >&2; exit 77; }
done

# Another run (or a crashed one) owns the names: do not touch its namespaces.
for ns in $NS_C $NS_N $NS_S; do
	if ip netns list | grep -qw "$ns"; then
		echo "handoff bench: namespace $ns exists (another run?); remove it first" >&2
		rm -rf "$TMP"
		exit 1
	fi
done

cleanup() {
	set +e
	[ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null
	[ -n "${CPID:-}" ] && kill "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
	for ns in $NS_C $NS_N $NS_S; do ip netns del $ns 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# ---- build the consumer against the agent's archives ----------------------
make -C "$ROOT" --no-print-directory -s all >/dev/null
mkdir -p "$BUILD/bench"
# The include path as the Makefile builds it: every folder under agent/ and userspace/.
# shellcheck disable=SC2046
gcc -O2 -std=gnu11 -D_GNU_SOURCE -I"$ROOT/bpf" $(find "$ROOT/agent" "$ROOT/userspace" -type d -printf '-I%p ') \
	-I"$BUILD/gen" -o "$CONSUMER" "$ROOT/bench/handoff/consumer.c" \
	"$BUILD/libagent.a" "$BUILD/libbpfmirror.a" $(pkg-config --libs libbpf) -lelf -lz

# ---- namespaces: cli --veth-- node --veth-- srv ---------------------------
for ns in $NS_C $NS_N $NS_S; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add bmh-c0 netns $NS_C type veth peer name bmh-c1 netns $NS_N
ip link add bmh-s1 netns $NS_N type veth peer name bmh-s0 netns $NS_S
ip -n $NS_C addr add 10.201.1.2/24 dev bmh-c0
ip -n $NS_N addr add 10.201.1.1/24 dev bmh-c1
ip -n $NS_N addr add 10.201.2.1/24 dev bmh-s1
ip -n $NS_S addr add $POD/24 dev bmh-s0
for l in "$NS_C bmh-c0" "$NS_N bmh-c1" "$NS_N bmh-s1" "$NS_S bmh-s0"; do
	set -- $l
	ip -n "$1" link set "$2" up
done
ip -n $NS_C route add default via 10.201.1.1
ip -n $NS_S route add default via 10.201.2.1
ip netns exec $NS_N sysctl -qw net.ipv4.ip_forward=1

cat >"$TMP/nginx.conf" <<NGX
worker_processes 1;
daemon on;
pid $TMP/nginx.pid;
error_log $TMP/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	server {
		listen $POD:80;
		location / { return 200 "ok\n"; }
	}
}
NGX
ip netns exec $NS_S nginx -p "$TMP" -c "$TMP/nginx.conf"
sleep 0.3

# wrk: prints requests/sec and total requests
run_wrk() {
	ip netns exec $NS_C wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "http://$POD/" >"$TMP/wrk.out" 2>&1
	rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk.out")
	reqs=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
	p99=$(awk '$1 == "99%" {print $2}' "$TMP/wrk.out")
}

# run_mode MODE: one wrk run with the consumer MODE (none = no program)
run_mode() {
	CPID=
	rm -f "$TMP/cons.out"
	if [ "$1" != none ]; then
		ip netns exec $NS_N "$CONSUMER" "$1" bmh-s1 $POD 80 $((DUR + 20)) >"$TMP/cons.out" 2>&1 &
		CPID=$!
		i=0
		until grep -q ready "$TMP/cons.out" 2>/dev/null; do
			i=$((i + 1))
			[ $i -lt 100 ] || { cat "$TMP/cons.out"; exit 1; }
			sleep 0.05
		done
	fi
	run_wrk
	extra=""
	if [ -n "$CPID" ]; then
		sleep 0.2
		kill -TERM "$CPID"
		wait "$CPID" || true
		CPID=
		extra=$(tail -n 1 "$TMP/cons.out")
	fi
	echo "$rps $reqs $p99 wrk_requests=$reqs $extra"
}

echo "handoff bench: wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS rounds, nginx pod, mirror on port 80"
printf '%-8s %-6s %12s %8s %10s  %s\n' mode round req/s ratio p99 consumer
r=1
while [ $r -le "$ROUNDS" ]; do
	base=""
	for mode in none tun ringbuf batch; do
		set -- $(run_mode $mode)
		rps=$1
		[ -n "$base" ] || base=$rps
		ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
		shift 3
		printf '%-8s %-6s %12s %8s %10s  %s\n' "$mode" "$r" "$rps" "$ratio" \
			"$(awk '$1 == "99%" {print $2}' "$TMP/wrk.out")" "$*"
	done
	r=$((r + 1))
done
