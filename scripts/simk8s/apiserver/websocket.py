"""Server side of RFC 6455 WebSocket for the simcluster API endpoint: handshake values and frames.

The port-forward tunnel (`SPDY/3.1+portforward.k8s.io`) carries a byte stream
in binary messages: message boundaries mean nothing, so the decoder hands out
the payload bytes of data frames as they arrive and answers control frames.
"""

import base64
import hashlib
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL, CLOSE_PROTOCOL, CLOSE_TOO_BIG = 1000, 1002, 1009
MAX_FRAME = 1 << 20


class ProtocolError(Exception):
    """The client broke RFC 6455: the connection is closed with `code`."""

    def __init__(self, message, code=CLOSE_PROTOCOL):
        super().__init__(message)
        self.code = code


def accept_key(key):
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key.strip() + GUID).encode()).digest()).decode()


def is_upgrade(headers):
    conn = [t.strip().lower() for t in headers.get("Connection", "").split(",")]
    return "upgrade" in conn and headers.get("Upgrade", "").strip().lower() == "websocket"


def offered_protocols(headers):
    out = []
    for value in headers.get_all("Sec-WebSocket-Protocol") or []:
        out.extend(p.strip() for p in value.split(",") if p.strip())
    return out


def frame(opcode, payload=b""):
    """One unmasked, unfragmented server frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    return head + payload


def close_frame(code=CLOSE_NORMAL, reason=""):
    return frame(OP_CLOSE, struct.pack(">H", code) + reason.encode()[:120])


class Decoder:
    """Client frames in; payload bytes of binary messages, replies and a close flag out."""

    def __init__(self):
        self._buf = bytearray()
        self._in_message = False
        self.closed = False  # a close frame arrived

    def feed(self, data):
        """Returns (payload bytes, bytes to send back) for the frames now complete."""
        self._buf += data
        payload, replies = bytearray(), bytearray()
        while not self.closed:
            got = self._one()
            if got is None:
                break
            opcode, fin, body = got
            if opcode in (OP_CONT, OP_BINARY, OP_TEXT):
                if opcode == OP_TEXT:
                    raise ProtocolError("text message in a binary tunnel")
                if (opcode == OP_CONT) != self._in_message:
                    raise ProtocolError("bad fragmentation")
                self._in_message = not fin
                payload += body
            elif opcode == OP_PING:
                replies += frame(OP_PONG, body)
            elif opcode == OP_PONG:
                pass
            elif opcode == OP_CLOSE:
                self.closed = True
                code = struct.unpack(">H", body[:2])[0] if len(body) >= 2 else CLOSE_NORMAL
                replies += close_frame(code if code == CLOSE_NORMAL else CLOSE_NORMAL)
            else:
                raise ProtocolError("opcode %d" % opcode)
        return bytes(payload), bytes(replies)

    def _one(self):
        b = self._buf
        if len(b) < 2:
            return None
        fin, rsv, opcode = b[0] & 0x80, b[0] & 0x70, b[0] & 0x0F
        masked, n = b[1] & 0x80, b[1] & 0x7F
        if rsv:
            raise ProtocolError("reserved bits set (no extension was negotiated)")
        if not masked:
            raise ProtocolError("unmasked client frame")
        pos = 2
        if n == 126:
            if len(b) < 4:
                return None
            n, pos = struct.unpack_from(">H", b, 2)[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, pos = struct.unpack_from(">Q", b, 2)[0], 10
        if opcode >= 0x8 and (n > 125 or not fin):
            raise ProtocolError("bad control frame")
        if n > MAX_FRAME:
            raise ProtocolError("frame of %d bytes" % n, CLOSE_TOO_BIG)
        if len(b) < pos + 4 + n:
            return None
        mask = bytes(b[pos:pos + 4])
        body = bytes(b[pos + 4:pos + 4 + n])
        del b[:pos + 4 + n]
        if n:
            # XOR with the repeated mask, done on whole integers for speed.
            reps = mask * (n // 4 + 1)
            body = (int.from_bytes(body, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(
                n, "big")
        return opcode, bool(fin), body
