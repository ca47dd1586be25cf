#!/bin/sh
# outgoing.local in simcluster: a Service the app uses by its cluster name
# (redis-main:6379) is served by an endpoint on the developer's machine (a
# Redis on 127.0.0.1), while other cluster traffic still reaches the cluster.
# Root only; 77 = skipped.
. "$(dirname "$0")/lib.sh"
need jq redis-server
start_cluster
PORT=16390
redis-server --port $PORT --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
	--pidfile "$T/redis.pid" >/dev/null
on_exit() { kill "$(cat "$T/redis.pid" 2>/dev/null)" 2>/dev/null; }
cat >"$T/bm.yaml" <<EOF2
agent:
  connect: direct
outgoing:
  local:
    - address: redis-main
      port: 6379
      local_port: $PORT
EOF2
build/bpfmirror attach deployment/ip-visit-counter -f "$T/bm.yaml" -- python3 -c '
import socket
s = socket.create_connection(("redis-main", 6379), timeout=3)
s.send(b"INFO server\r\n")
print([l for l in s.recv(4000).decode().split() if l.startswith("tcp_port")][0])
s = socket.create_connection(("ip-info", 80), timeout=3)
s.send(b"GET /ip/1.2.3.4 HTTP/1.0\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())
' >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 0 ] && ok "attach ran the command" || bad "exit $rc: $(tail -3 "$T/err")"
grep -q "tcp_port:$PORT" "$T/out" && ok "redis-main:6379 reached the local Redis on port $PORT" || bad "redis: $(cat "$T/out")"
grep -q "HTTP/1.1 200" "$T/out" && ok "ip-info still reached in the cluster" || bad "ip-info: $(cat "$T/out")"
grep -q "outgoing.local: redis-main:6379" "$T/err" && ok "progress line names the endpoint" || bad "no progress line"
finish
