"""Cluster DNS for the simulated node: A records for Services and pods from state.json, UDP and TCP on the DNS Service IP.

Answers <svc>.<ns>.svc.cluster.local (ClusterIP, or ready pod IPs for headless Services),
<host>.<svc>.<ns>.svc.cluster.local for pods with hostname+subdomain, and
<a-b-c-d>.<ns>.pod.cluster.local for known pod IPs; NXDOMAIN for everything else (no upstream:
nothing leaves the cluster). Usage: python3 -m simk8s.node.dns [--listen IP] [--port N]
"""
import os
import socket
import socketserver
import struct
import sys
import threading
import time

from simk8s import config, statefile

TTL = 5
QTYPE_A = 1
RCODE_FORMERR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_NOTIMP = 1, 2, 3, 4


class Zone:
    """Name -> [IPv4] table, rebuilt when state.json changes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.mtime = None
        self.names = {}

    def refresh(self):
        try:
            m = os.stat(config.STATE_FILE).st_mtime_ns
        except OSError:
            return
        if m == self.mtime:
            return
        st = statefile.load()
        if st is None:
            return
        dom = config.CLUSTER_DOMAIN
        names = {}
        pods = st.get("pods", [])
        for s in st.get("services", []):
            base = "%s.%s.svc.%s" % (s["name"], s["namespace"], dom)
            if s.get("headless"):
                names[base] = [e["ip"] for e in s.get("endpoints", []) if e.get("ready")]
            elif s.get("clusterIP"):
                names[base] = [s["clusterIP"]]
        for p in pods:
            if p.get("hostNetwork"):
                continue
            names["%s.%s.pod.%s" % (p["podIP"].replace(".", "-"), p["namespace"], dom)] = [p["podIP"]]
            spec = p.get("object", {}).get("spec", {})
            if spec.get("subdomain"):
                host = spec.get("hostname", p["name"])
                names["%s.%s.%s.svc.%s" % (host, spec["subdomain"], p["namespace"], dom)] = [p["podIP"]]
        with self.lock:
            self.names = names
            self.mtime = m

    def lookup(self, name):
        self.refresh()
        with self.lock:
            return self.names.get(name.lower().rstrip("."))


ZONE = Zone()


def parse_question(msg):
    """Return (id, flags, qname labels bytes end offset, name, qtype, qclass) or raise ValueError."""
    if len(msg) < 12:
        raise ValueError("short")
    qid, flags, qd, _an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    if qd != 1 or flags & 0x8000:
        raise ValueError("not one query")
    off = 12
    labels = []
    while True:
        if off >= len(msg):
            raise ValueError("truncated name")
        n = msg[off]
        if n & 0xC0:
            raise ValueError("compressed question")
        off += 1
        if n == 0:
            break
        if off + n > len(msg) or len(labels) > 127:
            raise ValueError("bad label")
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n
    if off + 4 > len(msg):
        raise ValueError("truncated question")
    qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
    return qid, flags, off + 4, ".".join(labels), qtype, qclass


def answer(msg):
    try:
        qid, flags, qend, name, qtype, qclass = parse_question(msg)
    except ValueError:
        if len(msg) >= 2:
            return msg[:2] + struct.pack("!HHHHH", 0x8000 | RCODE_FORMERR, 0, 0, 0, 0)
        return None
    rd = flags & 0x0100
    opcode = (flags >> 11) & 0xF
    question = msg[12:qend]
    hdr_flags = 0x8000 | 0x0400 | rd | 0x0080  # QR, AA, RD copied, RA
    if opcode != 0:
        return struct.pack("!HHHHHH", qid, hdr_flags | RCODE_NOTIMP, 1, 0, 0, 0) + question
    ips = ZONE.lookup(name)
    if ips is None:
        return struct.pack("!HHHHHH", qid, hdr_flags | RCODE_NXDOMAIN, 1, 0, 0, 0) + question
    rrs = b""
    count = 0
    if qtype in (QTYPE_A, 255) and qclass == 1:
        for ip in ips:
            rrs += struct.pack("!HHHIH", 0xC00C, QTYPE_A, 1, TTL, 4) + socket.inet_aton(ip)
            count += 1
    return struct.pack("!HHHHHH", qid, hdr_flags, 1, count, 0, 0) + question + rrs


class UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        out = answer(data)
        if out:
            sock.sendto(out, self.client_address)


class TCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(5)
        try:
            for _ in range(100):  # bounded per connection
                hdr = self._read(2)
                if not hdr:
                    return
                n = struct.unpack("!H", hdr)[0]
                msg = self._read(n)
                if msg is None:
                    return
                out = answer(msg)
                if not out:
                    return
                self.request.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            return

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.request.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf


class UDPServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = True


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv):
    listen, port = config.DNS_IP, 53
    if "--listen" in argv:
        listen = argv[argv.index("--listen") + 1]
    if "--port" in argv:
        port = int(argv[argv.index("--port") + 1])
    udp = UDPServer((listen, port), UDPHandler)
    tcp = TCPServer((listen, port), TCPHandler)
    for s in (udp, tcp):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    sys.stdout.write("dns: serving %s:%d\n" % (listen, port))
    sys.stdout.flush()
    deadline = time.time() + config.DAEMON_MAX_SECONDS
    while time.time() < deadline and os.path.exists(config.UP_MARKER):
        time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
