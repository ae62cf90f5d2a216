"""wsprobe: a minimal, deliberately permissive WebSocket-over-TLS client for
poking the relay with good and bad input, plus a hand-written protobuf codec
for the tunnel Message and its 2-byte length-prefix framing.

Python 3.11 standard library only. Nothing here validates what it sends:
the point is to be able to send anything.
"""

import base64
import hashlib
import os
import select
import socket
import ssl
import struct
import time

SUBPROTOCOL_V1 = "aws.iot.securetunneling-1.0"
SUBPROTOCOL_V2 = "aws.iot.securetunneling-2.0"
SUBPROTOCOL_V3 = "aws.iot.securetunneling-3.0"

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

# Message.Type
UNKNOWN = 0
DATA = 1
STREAM_START = 2
STREAM_RESET = 3
SESSION_RESET = 4
SERVICE_IDS = 5
CONNECTION_START = 6
CONNECTION_RESET = 7
TYPE_NAMES = {0: "UNKNOWN", 1: "DATA", 2: "STREAM_START", 3: "STREAM_RESET",
              4: "SESSION_RESET", 5: "SERVICE_IDS", 6: "CONNECTION_START",
              7: "CONNECTION_RESET"}

MAX_WS_MESSAGE = 131076
MAX_PAYLOAD = 64512


class ProbeError(Exception):
    pass


class ProbeTimeout(ProbeError):
    pass


class ProbeClosed(ProbeError):
    """The TCP/TLS stream ended (with or without a close frame)."""


# --------------------------------------------------------------------------
# protobuf
# --------------------------------------------------------------------------

def enc_varint(v):
    if v < 0:
        v &= (1 << 64) - 1  # int32 negatives: 10-byte two's complement
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def dec_varint(buf, pos):
    shift = 0
    result = 0
    while True:
        if pos >= len(buf):
            raise ProbeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProbeError("varint too long")


def enc_key(field, wire):
    return enc_varint((field << 3) | wire)


def enc_field_varint(field, v):
    return enc_key(field, 0) + enc_varint(v)


def enc_field_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return enc_key(field, 2) + enc_varint(len(b)) + b


class Msg:
    """The tunnel Message. Defaults (0, False, b"", "", []) are omitted on
    the wire, as proto3 does."""

    __slots__ = ("type", "stream_id", "ignorable", "payload", "service_id",
                 "available_service_ids", "connection_id", "unknown_fields")

    def __init__(self, type=0, stream_id=0, ignorable=False, payload=b"",
                 service_id="", available_service_ids=None, connection_id=0):
        self.type = type
        self.stream_id = stream_id
        self.ignorable = ignorable
        self.payload = payload
        self.service_id = service_id
        self.available_service_ids = list(available_service_ids or [])
        self.connection_id = connection_id
        self.unknown_fields = []

    def encode(self):
        out = bytearray()
        if self.type:
            out += enc_field_varint(1, self.type)
        if self.stream_id:
            out += enc_field_varint(2, self.stream_id)
        if self.ignorable:
            out += enc_field_varint(3, 1)
        if self.payload:
            out += enc_field_bytes(4, self.payload)
        if self.service_id:
            out += enc_field_bytes(5, self.service_id)
        for s in self.available_service_ids:
            out += enc_field_bytes(6, s)
        if self.connection_id:
            out += enc_field_varint(7, self.connection_id)
        return bytes(out)

    @classmethod
    def decode(cls, buf):
        m = cls()
        pos = 0
        n = len(buf)
        while pos < n:
            key, pos = dec_varint(buf, pos)
            field, wire = key >> 3, key & 7
            if field == 0:
                raise ProbeError("field number 0")
            if wire == 0:
                v, pos = dec_varint(buf, pos)
                if field == 1:
                    m.type = v & 0xFFFFFFFF
                    if m.type & 0x80000000:
                        m.type -= 1 << 32
                elif field == 2:
                    v &= 0xFFFFFFFF
                    m.stream_id = v - (1 << 32) if v & 0x80000000 else v
                elif field == 3:
                    m.ignorable = bool(v)
                elif field == 7:
                    m.connection_id = v & 0xFFFFFFFF
                else:
                    m.unknown_fields.append((field, wire, v))
            elif wire == 2:
                ln, pos = dec_varint(buf, pos)
                if pos + ln > n:
                    raise ProbeError("truncated length-delimited field")
                val = bytes(buf[pos:pos + ln])
                pos += ln
                if field == 4:
                    m.payload = val
                elif field == 5:
                    m.service_id = val.decode()
                elif field == 6:
                    m.available_service_ids.append(val.decode())
                else:
                    m.unknown_fields.append((field, wire, val))
            elif wire == 1:
                if pos + 8 > n:
                    raise ProbeError("truncated fixed64")
                m.unknown_fields.append((field, wire, buf[pos:pos + 8]))
                pos += 8
            elif wire == 5:
                if pos + 4 > n:
                    raise ProbeError("truncated fixed32")
                m.unknown_fields.append((field, wire, buf[pos:pos + 4]))
                pos += 4
            else:
                raise ProbeError("bad wire type %d" % wire)
        return m

    def __eq__(self, other):
        return isinstance(other, Msg) and all(
            getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self):
        parts = [TYPE_NAMES.get(self.type, "type=%d" % self.type)]
        if self.stream_id:
            parts.append("stream=%d" % self.stream_id)
        if self.connection_id:
            parts.append("conn=%d" % self.connection_id)
        if self.service_id:
            parts.append("service=%r" % self.service_id)
        if self.ignorable:
            parts.append("ignorable")
        if self.payload:
            parts.append("payload=%d bytes" % len(self.payload))
        if self.available_service_ids:
            parts.append("services=%r" % self.available_service_ids)
        if self.unknown_fields:
            parts.append("unknown=%r" % self.unknown_fields)
        return "Msg(%s)" % " ".join(parts)


def frame(body):
    """2-byte big-endian length prefix + body (a Msg or raw bytes). Raw bytes
    longer than 65535 are not representable; the caller may build any
    prefix by hand instead."""
    if isinstance(body, Msg):
        body = body.encode()
    if len(body) > 0xFFFF:
        raise ValueError("frame body over 65535 bytes")
    return struct.pack(">H", len(body)) + body


def frames(*msgs):
    return b"".join(frame(m) for m in msgs)


class FrameReader:
    """Reassembles length-prefixed frames across WebSocket messages."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data

    def next_body(self):
        if len(self.buf) < 2:
            return None
        n = struct.unpack(">H", self.buf[:2])[0]
        if len(self.buf) < 2 + n:
            return None
        body = bytes(self.buf[2:2 + n])
        del self.buf[:2 + n]
        return body

    def pending(self):
        return len(self.buf)


# --------------------------------------------------------------------------
# WebSocket
# --------------------------------------------------------------------------

def tls_context(cafile=None, verify=True):
    if verify:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def build_request(path, host, key, protocols=None, headers=(), pad=0):
    lines = ["GET %s HTTP/1.1" % path,
             "Host: %s" % host,
             "Upgrade: websocket",
             "Connection: Upgrade",
             "Sec-WebSocket-Key: %s" % key,
             "Sec-WebSocket-Version: 13"]
    if protocols:
        if isinstance(protocols, str):
            protocols = [protocols]
        lines.append("Sec-WebSocket-Protocol: %s" % ", ".join(protocols))
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if pad:
        lines.append("X-Pad: %s" % ("a" * pad))
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Event:
    """One thing received: a whole data message (kind 'binary'/'text'),
    or a control frame ('ping'/'pong'/'close')."""

    __slots__ = ("kind", "data", "fragments")

    def __init__(self, kind, data, fragments=1):
        self.kind = kind
        self.data = data
        self.fragments = fragments

    @property
    def close_code(self):
        if self.kind != "close":
            return None
        if len(self.data) >= 2:
            return struct.unpack(">H", self.data[:2])[0]
        return 1005

    def __repr__(self):
        d = self.data if len(self.data) <= 32 else self.data[:32] + b"..."
        return "Event(%s, %d bytes: %r)" % (self.kind, len(self.data), d)


class WS:
    """A WebSocket client connection. Use WS.connect(...)."""

    def __init__(self):
        self.sock = None
        self.status = None          # HTTP status of the upgrade response
        self.reason = ""
        self.headers = {}           # lower-case name -> value
        self.body = b""             # response body bytes read with the head
        self.subprotocol = None
        self.rbuf = bytearray()
        self.frames = FrameReader()
        self.closed = False         # TCP/TLS stream ended
        self.close_event = None     # the close frame received, if any
        self.auto_pong = True       # answer server pings
        self.pings_seen = []        # payloads of server pings
        self.send_error = None      # see send_frame(lenient=True)
        self._partial = None        # a fragmented message interrupted by a control frame

    # ---- handshake ------------------------------------------------------
    @classmethod
    def connect(cls, port, cafile, path="/tunnel?local-proxy-mode=source",
                token=None, client_token=None, protocols=(SUBPROTOCOL_V3,),
                headers=(), host="127.0.0.1", pad=0, timeout=5.0,
                verify=True, raw_request=None):
        """Opens TLS to host:port, sends the upgrade request and reads the
        status line + headers. Never raises on an HTTP refusal: check
        .status (None when the server closed without answering)."""
        ws = cls()
        hdrs = list(headers)
        if token is not None:
            hdrs.append(("access-token", token))
        if client_token is not None:
            hdrs.append(("client-token", client_token))
        key = base64.b64encode(os.urandom(16)).decode()
        req = raw_request if raw_request is not None else build_request(
            path, "%s:%d" % (host, port), key, protocols, hdrs, pad)
        raw = socket.create_connection((host, port), timeout=timeout)
        try:
            ctx = tls_context(cafile, verify)
            ws.sock = ctx.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
        ws.sock.settimeout(timeout)
        try:
            ws.sock.sendall(req)
            ws._read_head(timeout)
        except (ConnectionError, ssl.SSLError, OSError) as e:
            if isinstance(e, socket.timeout):
                raise ProbeTimeout("no HTTP response within %.1fs" % timeout)
            ws.status = None
            ws.reason = "connection ended: %r" % (e,)
            ws.closed = True
            return ws
        if ws.status == 101:
            accept = base64.b64encode(hashlib.sha1(
                (key + WS_GUID).encode()).digest()).decode()
            if raw_request is None and ws.headers.get(
                    "sec-websocket-accept") != accept:
                raise ProbeError("bad Sec-WebSocket-Accept: %r" %
                                 ws.headers.get("sec-websocket-accept"))
            ws.subprotocol = ws.headers.get("sec-websocket-protocol")
        return ws

    def _read_head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.rbuf:
            if len(self.rbuf) > 65536:
                raise ProbeError("HTTP response head too long")
            if time.monotonic() > deadline:
                raise socket.timeout()
            chunk = self.sock.recv(16384)
            if not chunk:
                if not self.rbuf:
                    self.status = None
                    self.reason = "connection closed without a response"
                    self.closed = True
                    return
                break
            self.rbuf += chunk
        head, sep, rest = bytes(self.rbuf).partition(b"\r\n\r\n")
        self.rbuf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ProbeError("bad status line %r" % lines[0])
        self.status_line = lines[0]
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        if self.status != 101:
            self.body = bytes(self.rbuf)
            self.rbuf.clear()

    @property
    def accepted(self):
        return self.status == 101

    # ---- sending --------------------------------------------------------
    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0, lenient=False):
        """Sends one frame. lenient: a peer that closes while we are still
        sending (it may reject bad input before reading all of it) is not an
        error here; the error is kept in self.send_error and the close code
        can still be read with wait_close()."""
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            head = struct.pack(">BB", b0, mbit | n)
        elif n < 65536:
            head = struct.pack(">BBH", b0, mbit | 126, n)
        else:
            head = struct.pack(">BBQ", b0, mbit | 127, n)
        if mask:
            key = os.urandom(4)
            head += key
            payload = _mask(payload, key)
        try:
            self.sock.sendall(head + payload)
        except (OSError, ssl.SSLError) as e:
            if not lenient:
                raise
            self.send_error = e
            return False
        return True

    def send_binary(self, data, lenient=False):
        return self.send_frame(OP_BINARY, data, lenient=lenient)

    def send_text(self, text):
        self.send_frame(OP_TEXT, text)

    def send_fragmented(self, data, parts, opcode=OP_BINARY, lenient=False):
        """One data message split into `parts` frames."""
        step = max(1, (len(data) + parts - 1) // parts)
        chunks = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
        for i, c in enumerate(chunks):
            op = opcode if i == 0 else OP_CONT
            if not self.send_frame(op, c, fin=(i == len(chunks) - 1), lenient=lenient):
                return False
        return True

    def send_ping(self, payload=b""):
        self.send_frame(OP_PING, payload)

    def send_pong(self, payload=b""):
        self.send_frame(OP_PONG, payload)

    def send_close(self, code=1000, reason=b""):
        payload = b"" if code is None else struct.pack(">H", code) + reason
        self.send_frame(OP_CLOSE, payload)

    def send_msgs(self, *msgs):
        """Tunnel messages, each framed, all in one binary WebSocket message."""
        self.send_binary(frames(*msgs))

    # ---- receiving ------------------------------------------------------
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeTimeout("timed out")
        if self.sock.pending() == 0:
            r, _, _ = select.select([self.sock], [], [], remaining)
            if not r:
                raise ProbeTimeout("timed out")
        self.sock.settimeout(max(0.05, remaining))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ProbeTimeout("timed out")
        except (ConnectionError, ssl.SSLError, OSError) as e:
            self.closed = True
            raise ProbeClosed("stream ended: %r" % (e,))
        if not chunk:
            self.closed = True
            raise ProbeClosed("stream ended (EOF)")
        self.rbuf += chunk

    def _need(self, n, deadline):
        while len(self.rbuf) < n:
            self._fill(deadline)

    def recv_frame(self, timeout=5.0):
        """One raw frame: (fin, opcode, payload). Checks that the server did
        not mask (RFC 6455 5.1)."""
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.rbuf[0], self.rbuf[1]
        fin = bool(b0 & 0x80)
        opcode = b0 & 0x0F
        if b0 & 0x70:
            raise ProbeError("server set RSV bits: 0x%02x" % b0)
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack(">H", self.rbuf[2:4])[0]
            pos = 4
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack(">Q", self.rbuf[2:10])[0]
            pos = 10
        if masked:
            raise ProbeError("server sent a masked frame")
        self._need(pos + n, deadline)
        payload = bytes(self.rbuf[pos:pos + n])
        del self.rbuf[:pos + n]
        return fin, opcode, payload

    def recv(self, timeout=5.0):
        """Next Event. Reassembles fragmented data messages; control frames
        (even between fragments) come back as their own events. Server
        pings are answered automatically (still returned) if auto_pong."""
        deadline = time.monotonic() + timeout
        parts = []
        kind = None
        while True:
            fin, op, payload = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if op in (OP_PING, OP_PONG, OP_CLOSE):
                if op == OP_PING:
                    self.pings_seen.append(payload)
                    if self.auto_pong:
                        try:
                            self.send_pong(payload)
                        except OSError:
                            pass
                    ev = Event("ping", payload)
                elif op == OP_PONG:
                    ev = Event("pong", payload)
                else:
                    ev = Event("close", payload)
                    self.close_event = ev
                    try:
                        self.send_frame(OP_CLOSE, payload[:2])
                    except OSError:
                        pass
                if parts:
                    # Control frame between fragments: keep the partial data.
                    self._partial = (kind, parts)
                return ev
            if op == OP_CONT:
                if kind is None:
                    partial = self._partial
                    if not partial:
                        raise ProbeError("continuation without a start frame")
                    kind, parts = partial
                    self._partial = None
                parts.append(payload)
            elif op in (OP_TEXT, OP_BINARY):
                if kind is not None:
                    raise ProbeError("new data frame inside a fragmented message")
                kind = "text" if op == OP_TEXT else "binary"
                parts.append(payload)
            else:
                raise ProbeError("reserved opcode 0x%x from server" % op)
            if fin:
                return Event(kind, b"".join(parts), len(parts))

    def wait_close(self, timeout=5.0):
        """Reads until a close frame or end of stream; returns the close code
        (1005 for an empty close frame, None if the stream ended without
        one). Raises ProbeTimeout if neither happens in time. Data messages
        received meanwhile are kept in self.skipped."""
        deadline = time.monotonic() + timeout
        self.skipped = []
        while True:
            try:
                ev = self.recv(max(0.0, deadline - time.monotonic()))
            except ProbeClosed:
                return self.close_event.close_code if self.close_event else None
            if ev.kind == "close":
                return ev.close_code
            self.skipped.append(ev)

    def recv_msg(self, timeout=5.0, skip_control=True):
        """Next tunnel Msg, reassembling frames across WebSocket messages.
        Raises ProbeClosed if a close frame or end of stream comes first."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.frames.next_body()
            if body is not None:
                return Msg.decode(body)
            ev = self.recv(max(0.0, deadline - time.monotonic()))
            if ev.kind == "binary":
                self.frames.feed(ev.data)
            elif ev.kind == "close":
                raise ProbeClosed("close frame, code %s" % ev.close_code)
            elif ev.kind == "text":
                raise ProbeError("text message from server: %r" % ev.data[:64])
            elif not skip_control:
                raise ProbeError("unexpected control frame %r" % ev)

    def expect_silence(self, seconds, allow_ping=True):
        """Reads for `seconds`; returns the list of events received (server
        pings are answered and, if allow_ping, not reported)."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return got
            try:
                ev = self.recv(remaining)
            except ProbeTimeout:
                return got
            except ProbeClosed as e:
                got.append(Event("eof", str(e).encode()))
                return got
            if ev.kind == "ping" and allow_ping:
                continue
            got.append(ev)
            if ev.kind == "close":
                return got

    def ping_roundtrip(self, payload=b"probe", timeout=5.0):
        """Sends a ping and waits for its pong; returns the pong payload.
        Data messages arriving meanwhile are fed to the frame reader."""
        self.send_ping(payload)
        deadline = time.monotonic() + timeout
        while True:
            ev = self.recv(max(0.0, deadline - time.monotonic()))
            if ev.kind == "pong":
                return ev.data
            if ev.kind == "binary":
                self.frames.feed(ev.data)
            elif ev.kind == "close":
                raise ProbeClosed("close frame, code %s" % ev.close_code)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def abort(self):
        """Drops the TCP connection without a close frame or TLS close_notify."""
        if self.sock is not None:
            try:
                raw = socket.socket(fileno=os.dup(self.sock.fileno()))
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                               struct.pack("ii", 1, 0))
                raw.close()
            except OSError:
                pass
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _mask(data, key):
    if not data:
        return b""
    n = len(data)
    k = int.from_bytes((key * ((n + 3) // 4))[:n], "big")
    return (int.from_bytes(data, "big") ^ k).to_bytes(n, "big")


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="probe a tunnel relay")
    ap.add_argument("port", type=int)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--mode", default="source")
    ap.add_argument("--token")
    args = ap.parse_args()
    w = WS.connect(args.port, args.ca, "/tunnel?local-proxy-mode=" + args.mode,
                   token=args.token)
    print("status", w.status, w.reason, w.headers)
    if w.accepted:
        try:
            print(w.recv_msg(3))
        except ProbeError as e:
            print("no message:", e)
        print("pong", w.ping_roundtrip(b"123"))
        w.send_close()
        print("close", w.wait_close())
