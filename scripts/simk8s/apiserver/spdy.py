"""SPDY/3.1 framing for the simcluster API endpoint: frame parser, frame builders, header blocks.

Only what a server side of `kubectl port-forward` needs (kubectl speaks SPDY
through moby/spdystream, over a WebSocket tunnel or a plain upgraded stream):
SYN_STREAM in, SYN_REPLY / DATA / RST_STREAM / PING / GOAWAY out. Header
blocks are zlib streams primed with the SPDY/3 dictionary (one compression
context per direction per connection). spdystream does no flow control, so
WINDOW_UPDATE and SETTINGS are parsed and ignored.
"""

import struct
import zlib

VERSION = 3

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = \
    1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01

# RST_STREAM status codes (SPDY/3 section 2.6.3).
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR = 1, 2, 3, 5, 6

MAX_FRAME = 1 << 20  # far above anything kubectl sends; a bigger one is a protocol error
MAX_HEADER_BLOCK = 64 << 10
MAX_HEADERS = 100


def _dictionary():
    """The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1).

    It is the length-prefixed header names and common values below, then one
    run of raw text (status codes, dates, content types). Its Adler-32 is
    checked by zlib against the DICTID of the peer's stream.
    """
    words = ("options head post put delete trace accept accept-charset accept-encoding "
             "accept-language accept-ranges age allow authorization cache-control connection "
             "content-base content-encoding content-language content-length content-location "
             "content-md5 content-range content-type date etag expect expires from host "
             "if-match if-modified-since if-none-match if-range if-unmodified-since "
             "last-modified location max-forwards pragma proxy-authenticate "
             "proxy-authorization range referer retry-after server te trailer "
             "transfer-encoding upgrade user-agent vary via warning www-authenticate method "
             "get status").split() + ["200 OK"] + \
        "version HTTP/1.1 url public set-cookie keep-alive origin".split()
    codes = ("100 101 201 202 205 206 300 302 303 304 305 306 307 402 405 406 407 408 409 410 "
             "411 412 413 414 415 416 417 502 504 505").split()
    tail = ("".join(codes) +
            "203 Non-Authoritative Information204 No Content301 Moved Permanently"
            "400 Bad Request401 Unauthorized403 Forbidden404 Not Found"
            "500 Internal Server Error501 Not Implemented503 Service Unavailable"
            "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
            "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
            "chunked,text/html,image/png,image/jpg,image/gif,application/xml,"
            "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,"
            "deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    out = bytearray()
    for w in words:
        out += struct.pack(">I", len(w)) + w.encode()
    return bytes(out) + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3.1: the session ends."""


class Frame:
    """One parsed frame. Control frames: ftype, flags, payload; data frames: ftype None."""

    __slots__ = ("ftype", "flags", "stream_id", "payload", "headers", "status", "ping_id")

    def __init__(self, ftype, flags, stream_id=0, payload=b""):
        self.ftype, self.flags, self.stream_id, self.payload = ftype, flags, stream_id, payload
        self.headers, self.status, self.ping_id = None, None, None

    @property
    def fin(self):
        return bool(self.flags & FLAG_FIN)


class Codec:
    """Turns a byte stream into frames and frames into bytes, for one connection."""

    def __init__(self):
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 9,
                                         zlib.Z_DEFAULT_STRATEGY, DICTIONARY)

    # -- reading ---------------------------------------------------------------
    def feed(self, data):
        """Adds received bytes; returns the frames now complete."""
        self._buf += data
        frames = []
        while len(self._buf) >= 8:
            word, flags_len = struct.unpack_from(">II", self._buf)
            length = flags_len & 0xFFFFFF
            if length > MAX_FRAME:
                raise ProtocolError("frame of %d bytes" % length)
            if len(self._buf) < 8 + length:
                break
            payload = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            flags = flags_len >> 24
            if word & 0x80000000:
                version, ftype = (word >> 16) & 0x7FFF, word & 0xFFFF
                if version != VERSION:
                    raise ProtocolError("SPDY version %d" % version)
                frames.append(self._control(ftype, flags, payload))
            else:
                frames.append(Frame(None, flags, word & 0x7FFFFFFF, payload))
        return frames

    def _control(self, ftype, flags, payload):
        f = Frame(ftype, flags, payload=payload)
        if ftype == SYN_STREAM:
            if len(payload) < 10:
                raise ProtocolError("short SYN_STREAM")
            f.stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            f.headers = self._headers(payload[10:])
        elif ftype in (SYN_REPLY, HEADERS):
            if len(payload) < 4:
                raise ProtocolError("short frame type %d" % ftype)
            f.stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            f.headers = self._headers(payload[4:])
        elif ftype in (RST_STREAM, WINDOW_UPDATE):
            if len(payload) < 8:
                raise ProtocolError("short frame type %d" % ftype)
            sid, value = struct.unpack_from(">II", payload)
            f.stream_id, f.status = sid & 0x7FFFFFFF, value
        elif ftype == PING:
            if len(payload) < 4:
                raise ProtocolError("short PING")
            f.ping_id = struct.unpack_from(">I", payload)[0]
        elif ftype == GOAWAY:
            if len(payload) >= 8:
                f.stream_id, f.status = struct.unpack_from(">II", payload)
        return f

    def _headers(self, block):
        """Decodes a compressed header block into {lowercase name: [values]}."""
        # The context is shared by all blocks of the connection: always inflate.
        raw = self._inflate.decompress(block, MAX_HEADER_BLOCK)
        if self._inflate.unconsumed_tail:
            raise ProtocolError("header block larger than %d bytes" % MAX_HEADER_BLOCK)
        if len(raw) < 4:
            raise ProtocolError("short header block")
        count = struct.unpack_from(">I", raw)[0]
        if count > MAX_HEADERS:
            raise ProtocolError("%d headers" % count)
        pos, out = 4, {}
        for _ in range(count):
            fields = []
            for _part in range(2):
                if pos + 4 > len(raw):
                    raise ProtocolError("truncated header block")
                n = struct.unpack_from(">I", raw, pos)[0]
                pos += 4
                if pos + n > len(raw):
                    raise ProtocolError("truncated header block")
                fields.append(raw[pos:pos + n].decode("utf-8", "replace"))
                pos += n
            out.setdefault(fields[0].lower(), []).extend(fields[1].split("\0"))
        return out

    # -- writing -----------------------------------------------------------------
    @staticmethod
    def _control_frame(ftype, flags, payload):
        return struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload)) + payload

    def _header_block(self, headers):
        raw = bytearray(struct.pack(">I", len(headers)))
        for name, value in headers.items():
            for part in (name.lower().encode(), value.encode()):
                raw += struct.pack(">I", len(part)) + part
        return self._deflate.compress(bytes(raw)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_reply(self, stream_id, headers=None, fin=False):
        return self._control_frame(SYN_REPLY, FLAG_FIN if fin else 0,
                                   struct.pack(">I", stream_id) +
                                   self._header_block(headers or {}))

    @staticmethod
    def data(stream_id, data=b"", fin=False):
        out = bytearray()
        # Keep each frame small: spdystream hands one frame to the reader at a time.
        for off in range(0, max(len(data), 1), 32 << 10):
            chunk = data[off:off + (32 << 10)]
            last = off + (32 << 10) >= len(data)
            out += struct.pack(">II", stream_id & 0x7FFFFFFF,
                               ((FLAG_FIN if fin and last else 0) << 24) | len(chunk)) + chunk
        return bytes(out)

    def rst_stream(self, stream_id, status):
        return self._control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id):
        return self._control_frame(PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_stream_id, status=0):
        return self._control_frame(GOAWAY, 0, struct.pack(">II", last_stream_id, status))
