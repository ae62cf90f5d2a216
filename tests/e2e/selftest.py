#!/usr/bin/python3
"""Self-test of the e2e tooling itself (no project binaries needed):
wsprobe against a tiny TLS WebSocket responder written here, the protobuf
codec against hand-computed bytes, and the harness's Proc/echo/pump.

    python3 tests/e2e/selftest.py        (needs certs/mkpki.sh)
"""

import base64
import hashlib
import os
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import wsprobe  # noqa: E402
from wsprobe import Msg  # noqa: E402


# ---- a tiny server ---------------------------------------------------------

def _recv_exact(c, n, buf):
    while len(buf) < n:
        b = c.recv(65536)
        if not b:
            raise EOFError
        buf += b
    out = bytes(buf[:n])
    del buf[:n]
    return out


def _send(c, op, payload, fin=True):
    n = len(payload)
    b0 = (0x80 if fin else 0) | op
    if n < 126:
        h = struct.pack(">BB", b0, n)
    elif n < 65536:
        h = struct.pack(">BBH", b0, 126, n)
    else:
        h = struct.pack(">BBQ", b0, 127, n)
    c.sendall(h + payload)


def serve_one(c):
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        b = c.recv(4096)
        if not b:
            return
        buf += b
        if len(buf) > 4096:
            c.sendall(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n")
            return
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    buf = bytearray(rest)
    lines = head.decode().split("\r\n")
    path = lines[0].split()[1]
    hdr = {}
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        hdr[k.strip().lower()] = v.strip()
    if not path.startswith("/tunnel"):
        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad")
        return
    if "access-token" not in hdr:
        c.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        return
    protos = [p.strip() for p in hdr.get("sec-websocket-protocol", "").split(",")]
    proto = next((p for p in protos if p.startswith("aws.iot.securetunneling-")), None)
    if not proto:
        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        return
    accept = base64.b64encode(hashlib.sha1(
        (hdr["sec-websocket-key"] + wsprobe.WS_GUID).encode()).digest()).decode()
    c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
               "Sec-WebSocket-Protocol: %s\r\n\r\n" % (accept, proto)).encode())
    # SERVICE_IDS split over two fragmented messages, with a ping between
    sid = wsprobe.frame(Msg(type=wsprobe.SERVICE_IDS, available_service_ids=["SSH", "HTTP"]))
    _send(c, wsprobe.OP_BINARY, sid[:3], fin=False)
    _send(c, wsprobe.OP_PING, b"srv-ping")
    _send(c, wsprobe.OP_CONT, sid[3:], fin=True)
    msg = bytearray()
    while True:
        b0, b1 = _recv_exact(c, 2, buf)
        op = b0 & 0x0F
        n = b1 & 0x7F
        assert b1 & 0x80, "client frame not masked"
        if n == 126:
            n = struct.unpack(">H", _recv_exact(c, 2, buf))[0]
        elif n == 127:
            n = struct.unpack(">Q", _recv_exact(c, 8, buf))[0]
        key = _recv_exact(c, 4, buf)
        data = bytes(x ^ key[i % 4] for i, x in enumerate(_recv_exact(c, n, buf)))
        if op == wsprobe.OP_PING:
            _send(c, wsprobe.OP_PONG, data)
        elif op == wsprobe.OP_PONG:
            assert data == b"srv-ping", data
        elif op == wsprobe.OP_TEXT:
            _send(c, wsprobe.OP_CLOSE, struct.pack(">H", 1003))
        elif op == wsprobe.OP_CLOSE:
            _send(c, wsprobe.OP_CLOSE, data[:2])
            return
        elif op in (wsprobe.OP_BINARY, wsprobe.OP_CONT):
            msg += data
            if b0 & 0x80:
                if len(msg) > wsprobe.MAX_WS_MESSAGE:
                    _send(c, wsprobe.OP_CLOSE, struct.pack(">H", 1009))
                    continue
                # echo back as one message in 3 fragments
                third = max(1, len(msg) // 3)
                parts = [msg[:third], msg[third:2 * third], msg[2 * third:]]
                _send(c, wsprobe.OP_BINARY, bytes(parts[0]), fin=False)
                _send(c, wsprobe.OP_CONT, bytes(parts[1]), fin=False)
                _send(c, wsprobe.OP_CONT, bytes(parts[2]), fin=True)
                msg = bytearray()


def server(pki, port, stop):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert, pki.key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    ls.settimeout(0.2)
    while not stop.is_set():
        try:
            raw, _ = ls.accept()
        except socket.timeout:
            continue
        raw.settimeout(None)

        def run(raw=raw):
            try:
                c = ctx.wrap_socket(raw, server_side=True)
                serve_one(c)
                c.close()
            except (OSError, EOFError, ssl.SSLError):
                pass
        threading.Thread(target=run, daemon=True).start()
    ls.close()


# ---- checks ----------------------------------------------------------------

def check_protobuf():
    m = Msg(type=wsprobe.DATA, stream_id=1, service_id="SSH", connection_id=2, payload=b"hi")
    want = bytes([0x08, 0x01, 0x10, 0x01, 0x22, 0x02]) + b"hi" + \
        bytes([0x2a, 0x03]) + b"SSH" + bytes([0x38, 0x02])
    assert m.encode() == want, m.encode().hex()
    assert Msg.decode(want) == m
    assert Msg().encode() == b""
    neg = Msg(stream_id=-1).encode()
    assert neg == bytes([0x10] + [0xff] * 9 + [0x01]), neg.hex()
    assert Msg.decode(neg).stream_id == -1
    m2 = Msg(type=wsprobe.SERVICE_IDS, available_service_ids=["A", "B"], ignorable=True)
    assert Msg.decode(m2.encode()) == m2
    assert wsprobe.frame(b"abc") == b"\x00\x03abc"
    fr = wsprobe.FrameReader()
    blob = wsprobe.frames(m, m2)
    for i in range(len(blob)):
        fr.feed(blob[i:i + 1])
    assert Msg.decode(fr.next_body()) == m
    assert Msg.decode(fr.next_body()) == m2
    assert fr.next_body() is None
    try:
        Msg.decode(m.encode()[:-3] + b"")
        Msg.decode(bytes([0x22, 0x10, 0x00]))
        raise AssertionError("truncated field decoded")
    except wsprobe.ProbeError:
        pass
    big = wsprobe.frame(Msg(type=77, ignorable=True, payload=b"\0" * 49990))
    assert len(big) == 50000, len(big)
    print("ok protobuf")


def check_wsprobe(pki):
    port = harness.free_port()
    stop = threading.Event()
    th = threading.Thread(target=server, args=(pki, port, stop), daemon=True)
    th.start()
    harness.wait_port(port, 5)
    try:
        w = wsprobe.WS.connect(port, pki.ca, token="tok")
        assert w.status == 101, (w.status, w.reason)
        assert w.subprotocol == wsprobe.SUBPROTOCOL_V3
        m = w.recv_msg(5)
        assert m.type == wsprobe.SERVICE_IDS and m.available_service_ids == ["SSH", "HTTP"], m
        assert w.pings_seen == [b"srv-ping"], w.pings_seen
        for p in (b"", b"123", os.urandom(125)):
            assert w.ping_roundtrip(p) == p
        big = os.urandom(70000)
        w.send_binary(big)
        ev = w.recv(5)
        assert ev.kind == "binary" and ev.data == big and ev.fragments == 3, ev
        w.send_fragmented(b"abcdefgh", 4)
        ev = w.recv(5)
        assert ev.data == b"abcdefgh", ev
        w.send_binary(b"\0" * (wsprobe.MAX_WS_MESSAGE + 1))
        assert w.wait_close(5) == 1009
        w.close()

        w = wsprobe.WS.connect(port, pki.ca, token="tok")
        w.recv_msg(5)
        w.send_text("hi")
        assert w.wait_close(5) == 1003
        w.close()

        w = wsprobe.WS.connect(port, pki.ca, token="tok")
        w.send_close(1000)
        assert w.wait_close(5) == 1000
        w.close()

        w = wsprobe.WS.connect(port, pki.ca, token=None)
        assert w.status == 401, w.status
        w = wsprobe.WS.connect(port, pki.ca, token="x", path="/nope")
        assert w.status == 400 and w.body == b"bad", (w.status, w.body)
        w = wsprobe.WS.connect(port, pki.ca, token="x", protocols=None)
        assert w.status == 400
        w = wsprobe.WS.connect(port, pki.ca, token="x", pad=5000)
        assert w.status in (431, None), w.status
        # silence
        w = wsprobe.WS.connect(port, pki.ca, token="tok")
        w.recv_msg(5)
        assert w.expect_silence(0.5) == []
        w.abort()
        # TLS verification: a CA that did not sign the server's cert fails
        with tempfile.TemporaryDirectory() as d:
            other = harness.make_pki(d)
            try:
                wsprobe.WS.connect(port, other.ca, token="tok")
                raise AssertionError("connected with the wrong CA")
            except ssl.SSLCertVerificationError:
                pass
    finally:
        stop.set()
    print("ok wsprobe")


class _Ctx(harness.TestCtx):
    pass


def check_harness():
    t = _Ctx("selftest")
    try:
        echo = t.echo()
        s = harness.connect(echo.port)
        dt = harness.expect_echo(s, 20 * harness.MiB, "echo")
        print("ok pump 20 MiB through the echo server in %.2fs" % dt)
        s.close()
        p = t.spawn("sleeper", [sys.executable, "-c",
                                "import signal,sys,time\n"
                                "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
                                "print('ready', flush=True)\n"
                                "time.sleep(60)"])
        p.wait_log("^ready$", 5)
        m = p.mark()
        assert p.stop() == 0
        assert p.mark() >= m
        p2 = t.spawn("stubborn", [sys.executable, "-c",
                                  "import signal,time\n"
                                  "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                  "print('x', flush=True); time.sleep(60)"])
        p2.wait_log("x", 5)
        t0 = time.monotonic()
        rc = p2.stop(timeout=1)
        assert rc == -9 and time.monotonic() - t0 < 5, rc
        assert any("did not exit" in f for f in t.post_failures), t.post_failures
        t.post_failures.clear()
        p3 = t.spawn("leaky", [sys.executable, "-c",
                               "import sys; print('SECRET-TOKEN-123 ==ERROR: AddressSanitizer');"
                               "sys.exit(0)"])
        t.secret("SECRET-TOKEN-123")
        p3.wait_exit(5)
        assert any("sanitizer" in f for f in t.post_failures), t.post_failures
        t.teardown()
        assert any("access token" in f for f in t.post_failures), t.post_failures
        # a closed peer is detected
        c = harness.connect(harness.EchoServer(t).port)
        assert harness.is_open(c)
    finally:
        t.teardown()
        t.remove()
    print("ok harness")


def main():
    d = tempfile.mkdtemp(prefix="e2e-selftest-")
    pki = harness.make_pki(d)
    check_protobuf()
    check_wsprobe(pki)
    check_harness()
    print("selftest: all ok")


if __name__ == "__main__":
    main()
