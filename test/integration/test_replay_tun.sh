#!/bin/sh
# Integration: the TCP replayer makes a real Linux kernel accept a copied client stream on a tun.
# In a fresh network namespace a tun holds the "pod IP" 10.244.0.5 and routes a fake client
# range to it; a listener on 10.244.0.5:8080 records what it receives and from whom; the driver
# feeds copies of a client's packets (handshake, keep-alive requests cut into reordered,
# duplicated and late segments, a large body, a reader that stalls, FIN) through the replayer. Pass when the listener
# got exactly the client's bytes from the client's own address and port (connections 1
# and 2 also checked for the peer address). Root only; 77 = skipped.
. "$(dirname "$0")/lib.sh"
need python3
[ -c /dev/net/tun ] || give_up "no /dev/net/tun"

NS="bpfm-replay-$$"
TUN=rtun0
POD=10.244.0.5
PORT=8080
make_temp
LPID=""

# shellcheck disable=SC2317 # called through trap
on_exit() {
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null && wait "$LPID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
}

fail() { # fail TEXT: a setup step failed, the rest cannot run
	[ -f "$T/listener.log" ] && sed 's/^/   listener: /' "$T/listener.log"
	give_up "$*"
}

# The driver is built by the Makefile (test/tools/tools.mk).
DRIVER=build/test/tools/replay_driver
{ make -s "$DRIVER" >/dev/null 2>&1 && [ -x "$DRIVER" ]; } || fail "cannot build the driver (make $DRIVER)"

ip netns add "$NS" || fail "ip netns add"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up || fail "lo up"
nsx ip tuntap add dev "$TUN" mode tun || fail "tuntap add"
nsx ip addr add "$POD/32" dev "$TUN" || fail "addr add"
nsx ip link set "$TUN" mtu 1500 up || fail "link up"
nsx ip route add 10.1.0.0/16 dev "$TUN" || fail "route add"

# The "local process": records peer and bytes per connection, answers each request like an
# HTTP server (those answers are absorbed by the replayer), closes on EOF. Bounded to 60 s.
cat >"$T/listener.py" <<'EOF'
import socket, sys, time
out, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(8)
s.settimeout(1.0)
open(out + "/ready", "w").close()
deadline = time.time() + 60
while time.time() < deadline:
    try:
        c, peer = s.accept()
    except socket.timeout:
        continue
    c.settimeout(20)
    if peer[1] == 51235:
        time.sleep(2)  # a process stopped at a breakpoint: the window closes
    name = "%s/%s_%d" % (out, peer[0], peer[1])
    with open(name + ".peer", "w") as f:
        f.write("%s:%d\n" % peer)
    data = b""
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
            if b.endswith(b"\r\n\r\n"):
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    except socket.timeout:
        print("timeout on", peer, flush=True)
    with open(name + ".data", "wb") as f:
        f.write(data)
    c.close()
EOF
nsx python3 "$T/listener.py" "$T" "$POD" "$PORT" >"$T/listener.log" 2>&1 &
LPID=$!
wait_file_exists() { # wait_file_exists FILE TENTHS
	_i=0
	while [ ! -e "$1" ]; do
		_i=$((_i + 1))
		[ $_i -gt "$2" ] && return 1
		sleep 0.1
	done
}
wait_file_exists "$T/ready" 50 || fail "listener did not start"

# Connection 1: three keep-alive requests, the first one spanning several segments.
printf 'GET /count HTTP/1.1\r\nHost: ip-visit-counter\r\nX-Pad: %s\r\n\r\n' \
	"$(head -c 2600 /dev/zero | tr '\0' 'a')" >"$T/req1"
printf 'GET /count HTTP/1.1\r\nHost: ip-visit-counter\r\n\r\n' >"$T/req2"
printf 'GET /health HTTP/1.1\r\nHost: ip-visit-counter\r\n\r\n' >"$T/req3"
nsx "$DRIVER" "$TUN" 10.1.0.7:40001 "$POD:$PORT" "$T/req1" "$T/req2" "$T/req3" ||
	fail "driver, connection 1"

# Connection 2: a POST whose 1 MiB body spans about a thousand segments.
head -c 1048576 /dev/urandom >"$T/body"
printf 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n' >"$T/post"
nsx "$DRIVER" "$TUN" 10.1.3.9:51234 "$POD:$PORT" "$T/post" "$T/body" ||
	fail "driver, connection 2"

# Connection 3: the same upload to a listener that stops reading for 2 s (zero window).
nsx "$DRIVER" "$TUN" 10.1.3.9:51235 "$POD:$PORT" "$T/post" "$T/body" ||
	fail "driver, connection 3 (slow reader)"

# Give the listener a moment to write its files after the close.
wait_file_exists "$T/10.1.3.9_51235.data" 50 || fail "listener wrote nothing for connection 3"

cat "$T/req1" "$T/req2" "$T/req3" >"$T/want1"
cat "$T/post" "$T/body" >"$T/want2"
check "connection 1: the listener saw the client's address" \
	[ "$(cat "$T/10.1.0.7_40001.peer" 2>/dev/null)" = "10.1.0.7:40001" ]
check "connection 2: the listener saw the client's address" \
	[ "$(cat "$T/10.1.3.9_51234.peer" 2>/dev/null)" = "10.1.3.9:51234" ]
check "connection 1: keep-alive requests byte for byte" cmp -s "$T/want1" "$T/10.1.0.7_40001.data"
check "connection 2: 1 MiB upload byte for byte" cmp -s "$T/want2" "$T/10.1.3.9_51234.data"
check "connection 3: upload to a stalled reader byte for byte" cmp -s "$T/want2" "$T/10.1.3.9_51235.data"
[ $FAILS -eq 0 ] || sed 's/^/   listener: /' "$T/listener.log"
finish
