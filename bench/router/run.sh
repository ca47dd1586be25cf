#!/bin/sh
# Filtered-steal router benchmark: requests that match no filter,
# GET /health over keep-alive connections, wrk with a fixed duration, all in
# one run on the same machine:
#   direct  client -> pod B:8080 (no router)
#   router  client -> pod A:8080, steered into the agent's L7 router (one
#           developer attached to pod A with a filter nobody sends) -> app
#   nginx   client -> nginx (in the client's namespace) routing by
#           `map $http_x_dev` (same filter) -> pod B:8080, keep-alive upstream
# Prints throughput and p50/p99 latency per path and the ratios.
# Root only. Run it as: flock /tmp/bpfmirror-simcluster.lock sh bench/router/run.sh
# Knobs: DURATION (s, default 10), CONNS (default 16), THREADS (default 2).
cd "$(dirname "$0")/../.." || exit 1
SC=scripts/simcluster
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
[ "$(id -u)" = 0 ] || { echo "bench: needs root"; exit 77; }
for t in wrk nginx jq; do command -v $t >/dev/null || { echo "bench: $t missing"; exit 77; }; done
T=$(mktemp -d /tmp/bench_router.XXXXXX)
chmod 755 "$T"
BM=
cleanup() {
	[ -n "$BM" ] && kill -INT "$BM" 2>/dev/null && sleep 0.5
	$SC down >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

$SC up >"$T/up.log" 2>&1 || { cat "$T/up.log"; exit 1; }
STATE=$($SC state)
export KUBECONFIG="$($SC kubeconfig)"
PODA=$(jq -r '.pods[] | select(.name | startswith("ip-visit-counter-")) | .name' "$STATE" | sed -n 1p)
IPA=$(jq -r ".pods[] | select(.name == \"$PODA\") | (.podIP // .ip)" "$STATE")
IPB=$(jq -r '.pods[] | select(.name | startswith("ip-visit-counter-")) | (.podIP // .ip)' "$STATE" | grep -vx "$IPA" | head -1)

build/bpfmirror attach "pod/$PODA" --steal --header '^X-Dev: nobody$' --connect direct -- \
	build/apps/ip-visit-counter-local >"$T/local.out" 2>"$T/bm.err" &
BM=$!
i=0
until grep -q "stealing port 8080" "$T/bm.err"; do
	i=$((i + 1))
	[ $i -gt 150 ] && { cat "$T/bm.err"; echo "bench: attach failed"; exit 1; }
	sleep 0.1
done
sleep 0.5

cat >"$T/nginx.conf" <<NGX
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err;
events { worker_connections 1024; }
http {
	access_log off;
	map \$http_x_dev \$dev_upstream { default app; "~*^nobody\$" dev; }
	upstream app { server $IPB:8080; keepalive 64; }
	upstream dev { server $IPB:8080; keepalive 8; }
	server {
		listen 127.0.0.1:8090;
		location / {
			proxy_pass http://\$dev_upstream;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
NGX
cat >"$T/run.sh" <<EOS
set -e
nginx -c $T/nginx.conf
sleep 0.3
for t in direct:http://$IPB:8080/health router:http://$IPA:8080/health nginx:http://127.0.0.1:8090/health; do
	name=\${t%%:*}; url=\${t#*:}
	wrk -t$THREADS -c$CONNS -d${DURATION}s --latency "\$url" >$T/wrk.\$name 2>&1 || true
done
kill \$(cat $T/nginx.pid)
EOS
$SC client -- sh "$T/run.sh"

# wrk prints "Requests/sec: N" and "50% 1.23ms" / "99% 4.56ms" under --latency.
us() { # wrk latency text -> microseconds
	echo "$1" | awk '/us$/{sub("us","");print $1+0;next} /ms$/{sub("ms","");print $1*1000;next} /s$/{sub("s","");print $1*1000000}'
}
printf "%-8s %12s %10s %10s %8s\n" path req/s p50_us p99_us errors
for n in direct router nginx; do
	f=$T/wrk.$n
	rps=$(awk '/Requests\/sec/{print $2}' "$f")
	p50=$(us "$(awk '$1=="50%"{print $2}' "$f")")
	p99=$(us "$(awk '$1=="99%"{print $2}' "$f")")
	err=$(awk '/Non-2xx|Socket errors/{s=s $0 " "} END{print s==""?0:s}' "$f")
	eval "RPS_$n=$rps P50_$n=$p50 P99_$n=$p99"
	printf "%-8s %12s %10s %10s %8s\n" "$n" "$rps" "$p50" "$p99" "$err"
done
awk -v rd="$RPS_direct" -v rr="$RPS_router" -v rn="$RPS_nginx" \
	-v ld="$P50_direct" -v lr="$P50_router" -v ln="$P50_nginx" \
	-v qd="$P99_direct" -v qr="$P99_router" -v qn="$P99_nginx" 'BEGIN {
	printf "router/direct: throughput %.2f, p50 %.2fx, p99 %.2fx\n", rr/rd, lr/ld, qr/qd
	printf "router/nginx:  throughput %.2f, p50 %.2fx, p99 %.2fx\n", rr/rn, lr/ln, qr/qn
}'
echo "(wrk -t$THREADS -c$CONNS -d${DURATION}s, GET /health, keep-alive; $(nproc) CPUs)"
tail -3 "$T/local.out" | grep -q "GET /health" && echo "WARNING: the local build got benchmark requests"
exit 0
