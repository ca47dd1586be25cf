#!/usr/bin/env python3
"""A hostile client of bpfmirror-agent's control channel (docs/protocol.md).

Usage: hostile_client.py HOST:PORT SCENARIO [ARG]

Encodes frames by hand (a few lines of protobuf varint code, no library) and
prints one line saying how the agent answered, for test_hostile_client.sh:
  error CODE fatal=0|1: MESSAGE   an Error frame (then "closed" when it hung up)
  reply BODY                      an expected answer
  closed                          the agent closed without an Error
Scenarios:
  good                  Hello + Heartbeat round trip (a well-behaved client)
  keepalive STOPFILE    one session heartbeating every 100 ms until STOPFILE exists
                        (120 s at most); exit 1 when an answer is missing
  big-prehello          a 65537-byte length prefix before Hello
  garbage-prehello      60 KiB of non-protobuf before Hello
  attach-prehello       an AttachRequest before Hello
  oversized             after Hello, a length prefix of 5 MiB
  empty-packets         after Hello, a 4 MiB PacketBatch of ~2 million empty Packets
  many-packets          after Hello, a batch of 2000 small packets
  big-control           after Hello, a 100 KiB Heartbeat (padded with unknown fields)
  deep-unknown          after Hello, a 4 MiB PacketBatch of ~1.4 million unknown fields
  bomb CID              Hello + attach to container CID, then compressed batches:
                        4 MiB of empty packets, and raw_len 16 MiB
  sessions N            opens N sessions at once; prints how many got HelloReply
                        and the first refusal
  partial N             N sessions each send all but the last byte of a 4 MiB frame
                        and hold it; prints how many the agent refused
  never-read            Hello, then heartbeats it never reads the answers of
  stall                 Hello, fills the agent's queue a little, then only sends
                        heartbeats the agent does not answer
"""
import os
import socket
import struct
import sys
import time
import zlib

ERROR_CODES = {1: "UNSUPPORTED_VERSION", 2: "MALFORMED_FRAME", 3: "FRAME_TOO_LARGE",
               4: "UNEXPECTED_MESSAGE", 5: "INVALID_ARGUMENT", 6: "NOT_FOUND",
               7: "PERMISSION_DENIED", 8: "CONFLICT", 9: "RESOURCE_EXHAUSTED",
               10: "UNAVAILABLE", 11: "INTERNAL"}
BODIES = {10: "hello", 11: "hello_reply", 12: "attach_request", 13: "attach_reply",
          16: "ack", 17: "packet_batch", 24: "heartbeat", 26: "error"}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def vi(field, n):
    return varint(field << 3) + varint(n)


def ld(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


def frame(body_field, body, req=0):
    payload = (vi(1, req) if req else b"") + ld(body_field, body)
    return struct.pack(">I", len(payload)) + payload


def fields(buf):
    """Yields (field, value) of a protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        wt = key & 7
        if wt == 0:
            val, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield key >> 3, val


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


HELLO = ld(2, "packet-zlib") + ld(3, "hostile@test") + ld(4, "test") + vi(1, 1)


def connect(addr, rcvbuf=None):
    host, port = addr.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect((host, int(port)))
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def recv_frame(s):
    """(body field, body bytes) of the next frame, or None at EOF/reset."""
    try:
        hdr = recv_exact(s, 4)
        if hdr is None:
            return None
        payload = recv_exact(s, struct.unpack(">I", hdr)[0])
    except (ConnectionResetError, socket.timeout):
        return None
    if payload is None:
        return None
    for f, v in fields(payload):
        if f >= 10:
            return f, v
    return 0, b""


def describe(body):
    if body is None:
        return "closed"
    f, v = body
    if f == 26:
        e = dict(fields(v))
        return "error %s fatal=%d: %s" % (ERROR_CODES.get(e.get(1, 0), e.get(1, 0)),
                                         e.get(3, 0), e.get(2, b"").decode(errors="replace"))
    return "reply " + BODIES.get(f, str(f))


def send_quietly(s, data):
    """Sends DATA; the agent may hang up half-way, which is an answer too."""
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def answer(s):
    """The agent's answer, and whether it then closed the connection."""
    first = describe(recv_frame(s))
    if first == "closed":
        return first
    rest = recv_frame(s)
    return first + ("; closed" if rest is None else "")


def hello(s):
    s.sendall(frame(10, HELLO, req=1))
    got = describe(recv_frame(s))
    if got != "reply hello_reply":
        raise SystemExit("hello failed: " + got)


def heartbeat(seq, req):
    return frame(24, vi(1, seq), req=req)


def sc_good(addr):
    s = connect(addr)
    hello(s)
    s.sendall(heartbeat(7, 2))
    print(describe(recv_frame(s)))


def sc_keepalive(addr, stopfile):
    s = connect(addr)
    hello(s)
    end = time.time() + 120
    n = 0
    while time.time() < end and not os.path.exists(stopfile):
        n += 1
        s.sendall(heartbeat(n, n + 1))
        got = describe(recv_frame(s))
        if got != "reply heartbeat":
            print("keepalive: beat %d got %s" % (n, got))
            sys.exit(1)
        time.sleep(0.1)
    print("keepalive: %d beats answered" % n)


def after_hello(addr, data):
    s = connect(addr)
    hello(s)
    send_quietly(s, data)
    print(answer(s))


def empty_packets_batch(total):
    """A PacketBatch body of empty Packets (2 bytes each) filling TOTAL bytes."""
    return b"\x0a\x00" * (total // 2)


def sc_bomb(addr, cid):
    s = connect(addr)
    hello(s)
    target = (ld(1, "default") + ld(2, "app-1") + ld(3, "1b2c3d4e-0000-4111-8222-123456789abc") + ld(4, "10.244.0.5") +
              ld(5, "containerd://" + cid))
    s.sendall(frame(12, ld(1, target), req=2))
    got = describe(recv_frame(s))
    if got != "reply attach_reply":
        raise SystemExit("attach failed: " + got)
    raw = empty_packets_batch(4 << 20)
    z = zlib.compress(raw, 9)
    send_quietly(s, frame(17, vi(2, 1) + ld(3, z) + vi(4, len(raw))))
    out = ["4MiB-empty: " + answer_one(s)]
    raw = empty_packets_batch(16 << 20)
    z = zlib.compress(raw, 9)
    send_quietly(s, frame(17, vi(2, 1) + ld(3, z) + vi(4, len(raw))))
    out.append("16MiB-empty: " + answer_one(s))
    s.sendall(heartbeat(1, 9))
    out.append("after: " + describe(recv_frame(s)))
    print(" | ".join(out))


def answer_one(s):
    return describe(recv_frame(s))


def sc_sessions(addr, n):
    socks, replies, refusal = [], 0, None
    for _ in range(int(n)):
        try:
            s = connect(addr)
        except OSError as e:
            refusal = refusal or "connect: %s" % e
            continue
        socks.append(s)
        s.sendall(frame(10, HELLO, req=1))
    for s in socks:
        got = describe(recv_frame(s))
        if got == "reply hello_reply":
            replies += 1
        elif refusal is None:
            refusal = got
    print("sessions: %d of %s got hello_reply; first refusal: %s" % (replies, n, refusal))
    for s in socks:
        s.close()


def sc_partial(addr, n):
    socks, refused = [], 0
    body = b"\x0a\x00" * ((4 << 20) // 2 - 16)
    data = frame(17, body)[:-1]
    for _ in range(int(n)):
        s = connect(addr)
        hello(s)
        s.settimeout(2)
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        socks.append(s)
    first = None
    for s in socks:
        s.settimeout(0.5)
        got = describe(recv_frame(s))
        if got != "closed" and not got.startswith("error"):
            continue
        if got.startswith("error"):
            refused += 1
            first = first or got
    print("partial: %d of %s refused; first: %s" % (refused, n, first))
    time.sleep(0.5)
    for s in socks:
        s.close()


def sc_never_read(addr):
    s = connect(addr, rcvbuf=4096)
    hello(s)
    # 40,000 answered heartbeats per chunk; bounded to 40 chunks (~20 MB of answers).
    chunk = b"".join(heartbeat(i, i + 2) for i in range(40000))
    sent = 0
    try:
        for _ in range(40):
            s.sendall(chunk)
            sent += 1
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    print("never-read: agent closed after %d chunks" % sent if sent < 40 else
          "never-read: agent kept the session")


def sc_stall(addr):
    s = connect(addr, rcvbuf=4096)
    hello(s)
    # Enough answers to fill the socket buffers and leave some queued in the agent.
    chunk = b"".join(heartbeat(i, i + 2) for i in range(40000))
    try:
        for _ in range(8):
            s.sendall(chunk)
        # Stay alive with heartbeats that need no answer (request_id 0), for at most 30 s.
        for _ in range(300):
            s.sendall(heartbeat(1, 0))
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        print("stall: agent closed the session")
        return
    print("stall: agent kept the session")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    addr, sc = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    if sc == "good":
        sc_good(addr)
    elif sc == "keepalive":
        sc_keepalive(addr, arg)
    elif sc == "big-prehello":
        s = connect(addr)
        send_quietly(s, struct.pack(">I", 65537) + b"\0" * 1024)
        print(answer(s))
    elif sc == "garbage-prehello":
        s = connect(addr)
        send_quietly(s, struct.pack(">I", 60 << 10) + b"\xff" * (60 << 10))
        print(answer(s))
    elif sc == "attach-prehello":
        s = connect(addr)
        send_quietly(s, frame(12, ld(1, ld(1, "default")), req=1))
        print(answer(s))
    elif sc == "oversized":
        after_hello(addr, struct.pack(">I", 5 << 20) + b"\0" * 4096)
    elif sc == "empty-packets":
        body = empty_packets_batch((4 << 20) - 16)
        after_hello(addr, frame(17, body))
    elif sc == "many-packets":
        body = b"".join(ld(1, ld(1, b"\x45" + b"\0" * 19)) for _ in range(2000))
        after_hello(addr, frame(17, body))
    elif sc == "big-control":
        after_hello(addr, frame(24, vi(1, 1) + ld(99, b"x" * (100 << 10)), req=3))
    elif sc == "deep-unknown":
        # Unknown fields are kept by the decoder: 1.4 million of them, 3 bytes each.
        after_hello(addr, frame(17, vi(99, 0) * ((4 << 20) // 3 - 8)))
    elif sc == "bomb":
        sc_bomb(addr, arg)
    elif sc == "sessions":
        sc_sessions(addr, arg)
    elif sc == "partial":
        sc_partial(addr, arg)
    elif sc == "never-read":
        sc_never_read(addr)
    elif sc == "stall":
        sc_stall(addr)
    else:
        raise SystemExit("unknown scenario " + sc + "\n" + __doc__)


if __name__ == "__main__":
    main()
