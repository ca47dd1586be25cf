"""pods/portforward for the simcluster API endpoint, spoken like kube-apiserver + kubelet do.

kubectl >= 1.31 opens `GET .../pods/NAME/portforward` with a WebSocket upgrade
and subprotocol `SPDY/3.1+portforward.k8s.io`: the binary messages tunnel a
SPDY/3.1 session. Older clients (and kubectl's fallback) `POST` with
`Upgrade: SPDY/3.1` and `X-Stream-Protocol-Version: portforward.k8s.io` and
speak SPDY on the upgraded stream itself. Either way the portforward.k8s.io
protocol is the same: for every local connection the client opens two
streams with headers `streamType` (`error` then `data`), `port` and
`requestID`; the server connects to the port inside the pod's network
namespace (localhost first, as the CRI does, then the pod IP: the simcluster
agent listens on the node address), copies bytes between the data stream and
the socket, writes a failure text to the error stream, and closes both when
the pod side ends.

One thread per port-forward connection runs a selector loop over the TLS
socket and the pod sockets (never two threads on one TLS object). Pod
sockets are made by a short-lived helper thread that enters the pod's
network namespace with setns(2), so the server itself stays in the root
namespace. Buffers are bounded; the session ends when the client closes, on
a protocol error, when the server stops, or after MAX_SESSION seconds.
"""

import ctypes
import os
import selectors
import socket
import ssl
import threading
import time

from simk8s.apiserver import spdy, websocket as ws

TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
STREAM_PROTOCOL = "portforward.k8s.io"
CLONE_NEWNET = 0x40000000
CONNECT_TIMEOUT = 3.0
MAX_SESSION = 12 * 3600
MAX_STREAMS = 256
HIGH_WATER = 4 << 20  # bytes queued toward one side before we stop reading the other
READ_BUDGET = 256 << 10  # bytes read from the client per loop turn (TLS buffers hide readiness)
POLL = 0.5

_libc = ctypes.CDLL(None, use_errno=True)


class Refused(Exception):
    """The request cannot become a port-forward: answered as an HTTP error Status."""

    def __init__(self, code, reason, message):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


# -- pod side -------------------------------------------------------------------------
def _connect_in_netns(netns, addrs, port, result):
    try:
        if netns:
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, "setns %s: %s" % (netns, os.strerror(err)))
            finally:
                os.close(fd)
        errors = []
        for addr in addrs:
            s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET,
                              socket.SOCK_STREAM)
            s.settimeout(CONNECT_TIMEOUT)
            try:
                s.connect((addr, port))
                # A relay of small request/response writes: without this each
                # write waits for a delayed ACK (40 ms a round trip).
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.setblocking(False)
                result["sock"] = s
                return
            except OSError as err:
                s.close()
                errors.append("dial tcp %s:%d: %s" % (addr, port, err.strerror or err))
        result["error"] = ", ".join(errors) or "no address to dial"
    except OSError as err:
        result["error"] = str(err)


def dial_pod(netns, addrs, port):
    """A connected non-blocking socket to PORT in the pod's network namespace, or an error text.

    A new thread enters the namespace, so this thread's namespace never changes.
    """
    result = {}
    t = threading.Thread(target=_connect_in_netns, args=(netns, addrs, port, result),
                         name="portforward-dial", daemon=True)
    t.start()
    t.join(CONNECT_TIMEOUT * len(addrs) + 2)
    if t.is_alive():
        return None, "timed out connecting to port %d" % port
    return result.get("sock"), result.get("error")


class PodTarget:
    """Where a pod's ports are: its network namespace file and the addresses to try."""

    def __init__(self, pod_name, namespace, uid, netns, addrs):
        self.pod_name, self.namespace, self.uid = pod_name, namespace, uid
        self.netns, self.addrs = netns, addrs


# -- streams -----------------------------------------------------------------------------
class Request:
    """The error and data stream pair of one forwarded connection (one `requestID`)."""

    def __init__(self, rid, port):
        self.rid, self.port = rid, port
        self.error_sid = self.data_sid = None
        self.sock = None
        self.to_pod = bytearray()  # client bytes not yet written to the pod
        self.client_fin = False  # the client closed its side of the data stream
        self.shut_wr = False
        self.done = False


class Session:
    """One upgraded connection: a SPDY session, over WebSocket or raw, relayed to pod sockets."""

    def __init__(self, conn, websocket, target, stopping, log):
        self.conn, self.websocket, self.target = conn, websocket, target
        self.stopping, self.log = stopping, log
        self.codec = spdy.Codec()
        self.wsdec = ws.Decoder() if websocket else None
        self.out = bytearray()
        self.streams = {}  # stream id -> Request
        self.requests = {}  # request id -> Request
        self.last_sid = 0
        self.sel = selectors.DefaultSelector()
        self.ending = False
        self.forwarded = 0

    # -- output --------------------------------------------------------------------------
    def send(self, data):
        self.out += ws.frame(ws.OP_BINARY, data) if self.websocket else data

    def _finish(self, req, error_text=None):
        """Ends a request: the error text (if any), then FIN on both streams (kubelet's order)."""
        if req.done:
            return
        req.done = True
        if req.sock is not None:
            self._want(req.sock, 0, None)
            req.sock.close()
            req.sock = None
        if req.error_sid is not None:
            if error_text:
                self.send(self.codec.data(req.error_sid, error_text.encode()))
            self.send(self.codec.data(req.error_sid, fin=True))
        if req.data_sid is not None:
            self.send(self.codec.data(req.data_sid, fin=True))
        for sid in (req.error_sid, req.data_sid):
            self.streams.pop(sid, None)
        self.requests.pop(req.rid, None)

    # -- SPDY frames from the client ---------------------------------------------------------
    def on_frame(self, f):
        if f.ftype is None:
            req = self.streams.get(f.stream_id)
            if req is None or req.done:
                return
            if f.stream_id == req.data_sid:
                req.to_pod += f.payload
                if f.fin:
                    req.client_fin = True
            return
        if f.ftype == spdy.SYN_STREAM:
            self.on_syn_stream(f)
        elif f.ftype == spdy.RST_STREAM:
            req = self.streams.get(f.stream_id)
            if req is not None:
                self._finish(req)
        elif f.ftype == spdy.PING:
            self.send(self.codec.ping(f.ping_id))
        elif f.ftype == spdy.GOAWAY:
            self.ending = True
        # SETTINGS, WINDOW_UPDATE, HEADERS, NOOP: nothing to do (spdystream has no flow control).

    def on_syn_stream(self, f):
        sid = f.stream_id
        if sid % 2 == 0 or sid <= self.last_sid:
            raise spdy.ProtocolError("bad stream id %d after %d" % (sid, self.last_sid))
        self.last_sid = sid
        hdr = {k: v[0] for k, v in f.headers.items()}
        kind = hdr.get("streamtype", "")
        if kind not in ("error", "data") or len(self.streams) >= 2 * MAX_STREAMS:
            self.send(self.codec.rst_stream(sid, spdy.REFUSED_STREAM if kind in ("error", "data")
                                            else spdy.PROTOCOL_ERROR))
            return
        # Clients without requestID pair the data stream with the error stream before it.
        rid = hdr.get("requestid") or str(sid if kind == "error" else sid - 2)
        self.send(self.codec.syn_reply(sid))
        req = self.requests.get(rid)
        if req is None:
            req = self.requests[rid] = Request(rid, hdr.get("port", ""))
        if (req.error_sid if kind == "error" else req.data_sid) is not None:
            self.send(self.codec.rst_stream(sid, spdy.PROTOCOL_ERROR))
            return
        if kind == "error":
            req.error_sid = sid
        else:
            req.data_sid = sid
            req.client_fin = f.fin
        self.streams[sid] = req
        if req.error_sid is not None and req.data_sid is not None:
            self.start(req)

    def start(self, req):
        t = self.target
        try:
            port = int(req.port)
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            return self._finish(req, "invalid port %r" % req.port)
        sock, err = dial_pod(t.netns, t.addrs, port)
        if sock is None:
            self.log("apiserver: portforward %s/%s:%d: %s" % (t.namespace, t.pod_name, port, err))
            return self._finish(req, "error forwarding port %d to pod %s, uid %s: failed to "
                                     "connect to port %d inside namespace %r: %s" % (
                                         port, t.pod_name, t.uid, port, t.netns or "(host)", err))
        req.sock = sock
        self.forwarded += 1

    # -- loop -------------------------------------------------------------------------------
    def _want(self, fileobj, events, data):
        """Registers, modifies or unregisters fileobj so the selector watches exactly `events`."""
        try:
            key = self.sel.get_key(fileobj)
        except KeyError:
            key = None
        if not events:
            if key is not None:
                self.sel.unregister(fileobj)
        elif key is None:
            self.sel.register(fileobj, events, data)
        elif key.events != events:
            self.sel.modify(fileobj, events, data)

    def _client_readable(self):
        return not self.ending and all(len(r.to_pod) < HIGH_WATER
                                       for r in self.requests.values())

    def _interest(self):
        for req in self.requests.values():
            if req.sock is not None:
                self._want(req.sock, (selectors.EVENT_READ if len(self.out) < HIGH_WATER else 0) |
                           (selectors.EVENT_WRITE if req.to_pod else 0), req)
        self._want(self.conn, (selectors.EVENT_READ if self._client_readable() else 0) |
                   (selectors.EVENT_WRITE if self.out else 0), None)

    def _read_client(self):
        got = 0
        while got < READ_BUDGET:
            try:
                data = self.conn.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return False
            if not data:
                raise EOFError
            got += len(data)
            if self.websocket:
                data, replies = self.wsdec.feed(data)
                self.out += replies
                if self.wsdec.closed:
                    self.ending = True
            for f in self.codec.feed(data):
                self.on_frame(f)
            if self.ending:
                return False
        return True  # budget spent: more may wait inside the TLS object

    def _write_client(self):
        while self.out:
            try:
                n = self.conn.send(self.out[:65536])
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            del self.out[:n]

    def _pod_event(self, req, mask):
        if req.done:
            return
        if mask & selectors.EVENT_WRITE and req.to_pod:
            try:
                n = req.sock.send(req.to_pod)
                del req.to_pod[:n]
            except BlockingIOError:
                pass
            except OSError:
                return self._finish(req)
        if req.client_fin and not req.to_pod and not req.shut_wr:
            req.shut_wr = True
            try:
                req.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if mask & selectors.EVENT_READ and len(self.out) < HIGH_WATER:
            try:
                data = req.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                self.send(self.codec.data(req.data_sid, data))
            else:
                self._finish(req)

    def run(self):
        self.conn.setblocking(False)
        deadline = time.monotonic() + MAX_SESSION
        more = False  # the TLS object may hold decrypted bytes the selector cannot see
        try:
            while not self.ending and time.monotonic() < deadline and \
                    not self.stopping.is_set():
                self._interest()
                events = self.sel.select(0 if more else POLL)
                read_now = more or self.conn.pending() > 0
                for key, mask in events:
                    if key.data is None:
                        read_now = read_now or bool(mask & selectors.EVENT_READ)
                    else:
                        self._pod_event(key.data, mask)
                more = read_now and self._client_readable() and self._read_client()
                # Push what just arrived without waiting for the next turn.
                for req in list(self.requests.values()):
                    if req.sock is not None and (req.to_pod or req.client_fin):
                        self._pod_event(req, selectors.EVENT_WRITE)
                self._write_client()
        except EOFError:
            pass
        except (spdy.ProtocolError, ws.ProtocolError) as err:
            self.log("apiserver: portforward %s/%s: protocol error: %s" % (
                self.target.namespace, self.target.pod_name, err))
            if self.websocket:
                self.out += ws.close_frame(getattr(err, "code", ws.CLOSE_PROTOCOL), str(err))
            else:
                self.out += self.codec.goaway(self.last_sid, 1)
        except (ConnectionError, ssl.SSLError, OSError) as err:
            self.log("apiserver: portforward %s/%s: connection ended: %s" % (
                self.target.namespace, self.target.pod_name, err))
        finally:
            self._close()

    def _close(self):
        for req in list(self.requests.values()):
            if req.sock is not None:
                self._want(req.sock, 0, None)
                req.sock.close()
                req.sock = None
        if self.websocket and not (self.wsdec and self.wsdec.closed):
            self.out += ws.close_frame(ws.CLOSE_NORMAL)
        deadline = time.monotonic() + 1.0
        try:
            while self.out and time.monotonic() < deadline:
                self._write_client()
                if self.out:
                    time.sleep(0.01)
        except (OSError, ssl.SSLError):
            pass
        self.sel.close()


# -- HTTP side -------------------------------------------------------------------------
def upgrade(handler, target, stopping, log):
    """Answers the upgrade on `handler` (a BaseHTTPRequestHandler) and runs the session.

    Raises Refused before anything was sent when the request cannot be upgraded.
    Returns the number of forwarded connections.
    """
    h = handler.headers
    if ws.is_upgrade(h):
        offered = ws.offered_protocols(h)
        if TUNNEL_PROTOCOL not in offered:
            raise Refused(400, "BadRequest", "unable to upgrade: no supported WebSocket "
                          "subprotocol in %s (want %s)" % (offered or "[]", TUNNEL_PROTOCOL))
        if h.get("Sec-WebSocket-Version", "").strip() != "13" or not h.get("Sec-WebSocket-Key"):
            raise Refused(400, "BadRequest", "unable to upgrade: bad WebSocket handshake")
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", ws.accept_key(h["Sec-WebSocket-Key"]))
        handler.send_header("Sec-WebSocket-Protocol", TUNNEL_PROTOCOL)
        websocket = True
    elif h.get("Upgrade", "").strip().lower() == "spdy/3.1":
        versions = [v.strip() for v in ",".join(h.get_all("X-Stream-Protocol-Version") or [])
                    .split(",") if v.strip()]
        if versions and STREAM_PROTOCOL not in versions:
            raise Refused(403, "Forbidden", "unable to upgrade: unsupported stream protocol %s "
                          "(want %s)" % (versions, STREAM_PROTOCOL))
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Upgrade", "SPDY/3.1")
        handler.send_header("X-Stream-Protocol-Version", STREAM_PROTOCOL)
        websocket = False
    else:
        raise Refused(400, "BadRequest", "Upgrade request required (pods/portforward speaks "
                      "WebSocket %s or SPDY/3.1 %s)" % (TUNNEL_PROTOCOL, STREAM_PROTOCOL))
    handler.end_headers()
    handler.wfile.flush()
    session = Session(handler.connection, websocket, target, stopping, log)
    session.run()
    return session.forwarded


def target_for(state_pod, pod_obj):
    """The PodTarget of a simcluster state entry (`netns`) and its API object (podIP, uid)."""
    meta, status = pod_obj["metadata"], pod_obj.get("status") or {}
    netns = (state_pod or {}).get("netns")
    path = None
    if netns:
        path = netns if netns.startswith("/") else os.path.join("/run/netns", netns)
        if not os.path.exists(path):
            raise Refused(500, "InternalError", "pod %s/%s: network namespace %s is gone" % (
                meta.get("namespace"), meta["name"], path))
    addrs = ["127.0.0.1"]
    if status.get("podIP") and status["podIP"] not in addrs:
        addrs.append(status["podIP"])
    return PodTarget(meta["name"], meta.get("namespace"), meta.get("uid", ""), path, addrs)

