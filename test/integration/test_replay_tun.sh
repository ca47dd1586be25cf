#!/bin/sh
# Integration: the TCP replayer makes a real Linux kernel accept a copied client stream on a tun.
# In a fresh network namespace a tun holds the "pod IP" 10.244.0.5 and routes a fake client
# range to it; a listener on 10.244.0.5:8080 records what it receives and from whom; the driver
# feeds copies of a client's packets (handshake, keep-alive requests cut into reordered,
# duplicated and late segments, a large body, a reader that stalls, FIN) through the replayer. Pass when the listener
# got exactly the client's bytes from the client's own address and port.
# Exit 0 pass, 77 skip (not root, no tun, no python3), anything else fail.
set -u
cd "$(dirname "$0")/../.." || exit 1

[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
[ -c /dev/net/tun ] || { echo "skip: no /dev/net/tun"; exit 77; }
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }

NS="bpfm-replay-$$"
TUN=rtun0
POD=10.244.0.5
PORT=8080
TMP=$(mktemp -d /tmp/bpfm-replay.XXXXXX) || exit 1
LPID=""

# shellcheck disable=SC2317 # called through trap
cleanup() {
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null && wait "$LPID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	[ -f "$TMP/listener.log" ] && sed 's/^/   listener: /' "$TMP/listener.log"
	exit 1
}

# The driver: built by the Makefile (test/tools/tools.mk) or, failing that, compiled here.
DRIVER=build/test/tools/replay_driver
if ! make -s "$DRIVER" >/dev/null 2>&1 || [ ! -x "$DRIVER" ]; then
	DRIVER="$TMP/replay_driver"
	# shellcheck disable=SC2046
	${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -Iuserspace/lib -o "$DRIVER" \
		test/tools/replay_driver.c userspace/lib/pkt.c userspace/lib/replay.c \
		userspace/lib/replay_buf.c userspace/lib/log.c $(pkg-config --cflags --libs libbpf) ||
		fail "cannot build the driver"
fi

ip netns add "$NS" || fail "ip netns add"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up || fail "lo up"
nsx ip tuntap add dev "$TUN" mode tun || fail "tuntap add"
nsx ip addr add "$POD/32" dev "$TUN" || fail "addr add"
nsx ip link set "$TUN" mtu 1500 up || fail "link up"
nsx ip route add 10.1.0.0/16 dev "$TUN" || fail "route add"

# The "local process": records peer and bytes per connection, answers each request like an
# HTTP server (those answers are absorbed by the replayer), closes on EOF. Bounded to 60 s.
cat >"$TMP/listener.py" <<'EOF'
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
nsx python3 "$TMP/listener.py" "$TMP" "$POD" "$PORT" >"$TMP/listener.log" 2>&1 &
LPID=$!
i=0
while [ ! -e "$TMP/ready" ]; do
	i=$((i + 1))
	[ $i -gt 50 ] && fail "listener did not start"
	sleep 0.1
done

# Connection 1: three keep-alive requests, the first one spanning several segments.
printf 'GET /count HTTP/1.1\r\nHost: ip-visit-counter\r\nX-Pad: %s\r\n\r\n' \
	"$(head -c 2600 /dev/zero | tr '\0' 'a')" >"$TMP/req1"
printf 'GET /count HTTP/1.1\r\nHost: ip-visit-counter\r\n\r\n' >"$TMP/req2"
printf 'GET /health HTTP/1.1\r\nHost: ip-visit-counter\r\n\r\n' >"$TMP/req3"
nsx "$DRIVER" "$TUN" 10.1.0.7:40001 "$POD:$PORT" "$TMP/req1" "$TMP/req2" "$TMP/req3" ||
	fail "driver, connection 1"

# Connection 2: a POST whose 1 MiB body spans about a thousand segments.
head -c 1048576 /dev/urandom >"$TMP/body"
printf 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n' >"$TMP/post"
nsx "$DRIVER" "$TUN" 10.1.3.9:51234 "$POD:$PORT" "$TMP/post" "$TMP/body" ||
	fail "driver, connection 2"

# Connection 3: the same upload to a listener that stops reading for 2 s (zero window).
nsx "$DRIVER" "$TUN" 10.1.3.9:51235 "$POD:$PORT" "$TMP/post" "$TMP/body" ||
	fail "driver, connection 3 (slow reader)"

# Give the listener a moment to write its files after the close.
i=0
while [ ! -e "$TMP/10.1.3.9_51235.data" ]; do
	i=$((i + 1))
	[ $i -gt 50 ] && fail "listener wrote nothing for connection 2"
	sleep 0.1
done

cat "$TMP/req1" "$TMP/req2" "$TMP/req3" >"$TMP/want1"
cat "$TMP/post" "$TMP/body" >"$TMP/want2"
[ "$(cat "$TMP/10.1.0.7_40001.peer" 2>/dev/null)" = "10.1.0.7:40001" ] ||
	fail "connection 1: listener saw the wrong peer"
[ "$(cat "$TMP/10.1.3.9_51234.peer" 2>/dev/null)" = "10.1.3.9:51234" ] ||
	fail "connection 2: listener saw the wrong peer"
cmp -s "$TMP/want1" "$TMP/10.1.0.7_40001.data" || fail "connection 1: bytes differ"
cmp -s "$TMP/want2" "$TMP/10.1.3.9_51234.data" || fail "connection 2: bytes differ"
cmp -s "$TMP/want2" "$TMP/10.1.3.9_51235.data" || fail "connection 3: bytes differ"
echo "ok: the local kernel accepted all three replayed streams byte for byte, client addresses kept"
exit 0
