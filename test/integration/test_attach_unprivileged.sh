#!/bin/sh
# The twin needs no root: `bpfmirror attach` as an ordinary user (nobody)
# gets the pod's identity, env, file, hostname and reaches Redis by name. The
# only privilege is a usable tun device node; instead of changing /dev/net/tun
# the test makes its own 0666 node for the same device (BPFMIRROR_TUN).
# Root only (to set up); 77 = skipped.
. "$(dirname "$0")/lib.sh"
need setpriv mknod
start_cluster
chmod 0755 "$T"
mknod -m 0666 "$T/tun" c 10 200 || give_up "cannot create a tun device node"
cp "$KUBECONFIG" "$T/kubeconfig" && chmod 0644 "$T/kubeconfig"
NOBODY=65534
(cd "$T" && HOME="$T" KUBECONFIG="$T/kubeconfig" BPFMIRROR_TUN="$T/tun" timeout 30 \
	setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$OLDPWD/build/bpfmirror" attach \
	deployment/ip-visit-counter --connect direct -- sh -c '
id -u; echo "$REDISADDRESS"; cat /app/response.txt; hostname
python3 -c "
import socket
s = socket.create_connection((\"redis-main\", 6379), timeout=3)
s.send(b\"PING\r\n\")
print(s.recv(20))"') >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 0 ] && ok "attach as uid $NOBODY ran the command" || bad "exit $rc: $(tail -3 "$T/err")"
[ "$(head -1 "$T/out")" = $NOBODY ] && ok "the command runs as the developer's own uid" || bad "uid: $(head -1 "$T/out")"
grep -q '^redis-main:6379$' "$T/out" && ok "pod's env" || bad "env: $(cat "$T/out")"
grep -q 'Hello from the ip-visit-counter pod' "$T/out" && ok "pod's file" || bad "file: $(cat "$T/out")"
grep -q '^ip-visit-counter-' "$T/out" && ok "pod's hostname" || bad "hostname: $(cat "$T/out")"
grep -q 'PONG' "$T/out" && ok "Redis reached by its cluster name" || bad "redis: $(cat "$T/out")"
finish
