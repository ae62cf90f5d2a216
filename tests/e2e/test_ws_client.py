"""localproxy's own WebSocket client (proxy/ws_client.c): through an HTTP
CONNECT proxy, and against a fake relay that misbehaves on purpose (bad
upgrade answers, masked frames, close frames, pings, HTTP errors).

Everything listens on 127.0.0.1. The fake relay and the proxy are small
threaded Python servers stopped through t.defer whatever happens."""

import base64
import hashlib
import queue
import re
import secrets
import socket
import ssl
import struct
import time

from harness import (MiB, READY, LocalServer, close_quietly, copy_until_eof, expect,
                     expect_echo, expect_eq, fail, free_port, localproxy, pki, scaled, timeout,
                     wait_until)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBPROTOCOL_V3 = "aws.iot.securetunneling-3.0"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def new_token(t):
    tok = secrets.token_urlsafe(32)
    t.secret(tok)
    return tok


# --------------------------------------------------------------------------
# an HTTP CONNECT proxy
# --------------------------------------------------------------------------

class ConnectProxy(LocalServer):
    """Threaded HTTP CONNECT proxy. `answer` is the status line it gives;
    anything but 200 closes the connection after answering. Records each
    request's target and every byte each client sent it."""

    def __init__(self, t, answer="HTTP/1.1 200 Connection established"):
        self.answer = answer
        self.requests = []       # (request line, head bytes) per connection
        self.targets = []        # (host, port) per CONNECT
        self.from_client = []    # bytearray per connection: all it sent us
        self.errors = []
        super().__init__(t)

    def on_accept(self, c):
        self.spawn(self._serve, c)

    def _serve(self, c):
        seen = bytearray()
        with self.lock:
            self.from_client.append(seen)
        try:
            c.settimeout(scaled(10))
            head = b""
            while b"\r\n\r\n" not in head:
                b = c.recv(4096)
                if not b:
                    return
                head += b
                seen += b
                if len(head) > 16384:
                    self.errors.append("request head too long")
                    return
            head, rest = head.split(b"\r\n\r\n", 1)
            line = head.split(b"\r\n", 1)[0].decode(errors="replace")
            m = re.fullmatch(r"CONNECT (\S+):(\d+) HTTP/1\.[01]", line)
            with self.lock:
                self.requests.append((line, head + b"\r\n\r\n"))
            if not m:
                c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                return
            target = (m.group(1), int(m.group(2)))
            with self.lock:
                self.targets.append(target)
            if not self.answer.startswith("HTTP/1.1 200"):
                c.sendall(self.answer.encode() + b"\r\n\r\n")
                return
            try:
                u = socket.create_connection(target, timeout=scaled(5))
            except OSError:
                c.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                return
            if not self.track(u):
                return
            c.sendall(self.answer.encode() + b"\r\n\r\n")
            if rest:
                u.sendall(rest)
            c.settimeout(None)
            u.settimeout(None)
            back = self.spawn(copy_until_eof, u, c)
            copy_until_eof(c, u, seen)
            back.join(scaled(10))
        except OSError:
            pass
        finally:
            close_quietly(c)


# --------------------------------------------------------------------------
# a fake relay
# --------------------------------------------------------------------------

class FakeConn:
    """One TLS connection accepted by the FakeRelay, driven by the test."""

    def __init__(self, s):
        self.s = s
        self.buf = b""
        self.eof = False

    def _fill(self, deadline, what):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("fake relay: timed out waiting for %s" % what)
            self.s.settimeout(min(left, 0.5))
            try:
                b = self.s.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, ssl.SSLError, OSError):
                b = b""
            if not b:
                self.eof = True
                fail("fake relay: the connection ended while waiting for %s "
                     "(had %d bytes: %r)" % (what, len(self.buf), self.buf[:200]))
            self.buf += b
            return

    def read_head(self, timeout):
        """The client's request head (through the blank line)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline, "the upgrade request")
        i = self.buf.index(b"\r\n\r\n") + 4
        head, self.buf = self.buf[:i], self.buf[i:]
        return head

    def send(self, data):
        self.s.sendall(data)

    def read_frame(self, timeout, what="a frame"):
        """One client frame: (fin, opcode, masked, payload unmasked)."""
        deadline = time.monotonic() + timeout

        def need(n):
            while len(self.buf) < n:
                self._fill(deadline, what)

        need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            need(4)
            n = struct.unpack(">H", self.buf[2:4])[0]
            pos = 4
        elif n == 127:
            need(10)
            n = struct.unpack(">Q", self.buf[2:10])[0]
            pos = 10
        masked = bool(b1 & 0x80)
        key = b""
        if masked:
            need(pos + 4)
            key = self.buf[pos:pos + 4]
            pos += 4
        need(pos + n)
        payload = self.buf[pos:pos + n]
        self.buf = self.buf[pos + n:]
        if masked:
            payload = bytes(x ^ key[i & 3] for i, x in enumerate(payload))
        return bool(b0 & 0x80), b0 & 0x0F, masked, payload

    def frames_until(self, pred, timeout, what):
        """Reads client frames until pred(frame) is true; returns every frame
        read (the matching one last)."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("fake relay: no %s within %.1fs (frames seen: %r)" % (what, timeout, got))
            f = self.read_frame(left, what)
            got.append(f)
            if pred(f):
                return got

    def wait_eof(self, timeout, what="the client to close the connection"):
        """Discards input until the client ends the connection."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("fake relay: timed out waiting for %s" % what)
            self.s.settimeout(min(left, 0.5))
            try:
                b = self.s.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, ssl.SSLError, OSError):
                return
            if not b:
                return

    def close(self):
        close_quietly(self.s)


def server_frame(opcode, payload=b"", mask=None, fin=True):
    """A frame as a server writes it (unmasked unless mask is given)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n <= 0xFFFF:
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask is not None:
        payload = bytes(x ^ mask[i & 3] for i, x in enumerate(payload))
        head += mask
    return head + payload


def parse_request(head):
    """(request line, {lower-case name: [values]}) of an HTTP request head."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    headers = {}
    for ln in lines[1:]:
        if not ln:
            continue
        name, sep, value = ln.partition(":")
        expect(sep == ":", "malformed header line in the upgrade request: %r" % ln)
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers


def one_header(headers, name):
    v = headers.get(name.lower())
    expect(v is not None, "the upgrade request has no %s header (headers: %s)" %
           (name, sorted(headers)))
    expect(len(v) == 1, "the upgrade request has %d %s headers" % (len(v), name))
    return v[0]


def answer_101(head, accept=None, protocol=None):
    """A 101 answer to the request head: the right accept and the requested
    subprotocol unless told otherwise."""
    _, headers = parse_request(head)
    key = one_header(headers, "Sec-WebSocket-Key")
    if accept is None:
        accept = accept_for(key)
    if protocol is None:
        protocol = one_header(headers, "Sec-WebSocket-Protocol")
    return ("HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: %s\r\n"
            "Sec-WebSocket-Protocol: %s\r\n"
            "\r\n" % (accept, protocol)).encode()


class FakeRelay(LocalServer):
    """TLS listener on 127.0.0.1 with the relay's certificate. Each accepted
    connection (TLS handshake done) is queued for the test to drive."""

    def __init__(self, t):
        p = pki()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(p.cert, p.key)
        self.queue = queue.Queue()
        self.accepted = 0
        self.tls_errors = []
        super().__init__(t)

    def on_accept(self, c):
        c.settimeout(scaled(10))
        try:
            s = self.ctx.wrap_socket(c, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.tls_errors.append(repr(e))
            close_quietly(c)
            return
        if not self.track(s):
            return
        with self.lock:
            self.accepted += 1
        self.queue.put(FakeConn(s))

    def next_conn(self, timeout, what="a connection from localproxy"):
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            fail("fake relay: no %s within %.1fs (accepted so far: %d, TLS errors: %r)" %
                 (what, timeout, self.accepted, self.tls_errors))


def source_against(t, relay_port, token, name="source", extra_args=(), env_extra=None):
    return localproxy(t, name, ["-s", str(free_port()), "-b", "127.0.0.1"], relay_port,
                      token, extra_args=extra_args, env_extra=env_extra)


def open_fake(t, name="source", mode_args=None):
    """A fake relay, a localproxy connected to it, and that connection with
    the upgrade request read: (relay, proc, conn, head)."""
    fake = FakeRelay(t)
    tok = new_token(t)
    if mode_args is None:
        proc = source_against(t, fake.port, tok, name=name)
    else:
        proc = localproxy(t, name, mode_args, fake.port, tok)
    conn = fake.next_conn(scaled(10))
    head = conn.read_head(scaled(10))
    return fake, proc, conn, head


def close_code_of(frame):
    _, op, _, payload = frame
    expect(op == OP_CLOSE, "not a close frame: %r" % (frame,))
    expect(len(payload) >= 2, "close frame without a code: %r" % (payload,))
    return struct.unpack(">H", payload[:2])[0]


# --------------------------------------------------------------------------
# through an HTTP CONNECT proxy
# --------------------------------------------------------------------------

@timeout(90)
def test_https_proxy_connect(t):
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port}, start_source=False)
    proxy = ConnectProxy(t)
    tun.source = localproxy(t, "t1-source", tun.source_args(), tun.relay.port,
                            tun.spec.source_token,
                            env_extra={"HTTPS_PROXY": "http://127.0.0.1:%d" % proxy.port})
    tun.source.wait_log(READY, scaled(10), what="source through the proxy")
    s = tun.connect()
    expect_echo(s, 1 * MiB, "connection through the HTTPS proxy")
    tun.expect_alive()
    with proxy.lock:
        targets = list(proxy.targets)
        requests = list(proxy.requests)
        seen = [bytes(b) for b in proxy.from_client]
    expect_eq(targets, [("127.0.0.1", tun.relay.port)], "CONNECT targets the proxy saw")
    line, head = requests[0]
    expect_eq(line, "CONNECT 127.0.0.1:%d HTTP/1.1" % tun.relay.port, "CONNECT line")
    expect(re.search(rb"(?im)^Host: 127\.0\.0\.1:%d\r$" % tun.relay.port, head),
           "the CONNECT request has no 'Host: 127.0.0.1:%d' header: %r" % (tun.relay.port, head))
    expect_eq(len(seen), 1, "connections to the proxy")
    after = seen[0][len(head):]
    expect(after[:1] == b"\x16" and after[1:2] == b"\x03",
           "after the CONNECT head the client did not start TLS: %r" % after[:16])
    expect(len(after) > MiB, "the proxy carried only %d bytes from the client" % len(after))
    expect(tun.spec.source_token.encode() not in seen[0],
           "the access token went through the proxy in clear")
    expect(tun.spec.source_token.encode() not in head, "the access token is in the CONNECT head")


@timeout(60)
def test_https_proxy_refuses(t):
    """A proxy that answers 403: logged as a refusal, retried, never ready.
    (Uses the lower-case https_proxy variable.)"""
    spec = t.spec("t1")
    relay = t.relay([spec])
    proxy = ConnectProxy(t, answer="HTTP/1.1 403 Forbidden")
    src = localproxy(t, "source", ["-s", str(free_port()), "-b", "127.0.0.1"], relay.port,
                     spec.source_token,
                     env_extra={"https_proxy": "http://127.0.0.1:%d" % proxy.port})
    m = src.wait_log(r"^.*refused.*\b403\b.*$", scaled(10), what="the proxy's refusal")
    t.note("logged: %s" % m.group(0).strip())
    expect("cannot connect to the relay" in m.group(0),
           "the refusal is not reported as a failure to reach the relay: %r" % m.group(0))
    # Retries with back-off (1 s, then 2 s): wait for the third attempt.
    wait_until(lambda: len(proxy.targets) >= 3, scaled(15), "three CONNECT attempts")
    src.expect_alive("after the proxy refused it")
    expect(all(tg == ("127.0.0.1", relay.port) for tg in proxy.targets),
           "CONNECT targets: %r" % proxy.targets)
    expect(len(re.findall(r"(?m)refused.*\b403\b", src.log())) >= 2,
           "fewer than two refusals logged:\n%s" % src.tail(20))
    expect(not src.has_log(READY), "reached 'tunnel ready' although the proxy refused")
    expect(not src.has_log(r"connected to relay"), "logged 'connected to relay' through a refusing proxy")
    expect(not relay.proc.has_log(r"tunnel t1: source connected"),
           "the relay saw the source although the proxy refused")


# --------------------------------------------------------------------------
# a fake relay that misbehaves
# --------------------------------------------------------------------------

@timeout(60)
def test_fake_relay_bad_accept(t):
    fake, src, conn, head = open_fake(t)
    bad = accept_for("AAAAAAAAAAAAAAAAAAAAAA==")
    conn.send(answer_101(head, accept=bad))
    m = src.wait_log(r"^.*bad upgrade answer.*$", scaled(10), what="the bad accept")
    expect("Sec-WebSocket-Accept" in m.group(0), "the reason does not name the header: %r" % m.group(0))
    conn.wait_eof(scaled(10), "localproxy to drop the connection")
    # Not a 4xx: it retries.
    conn2 = fake.next_conn(scaled(10), "a reconnect after the bad accept")
    conn2.read_head(scaled(10))
    src.expect_alive("after a bad Sec-WebSocket-Accept")
    expect(not src.has_log(r"connected to relay"), "logged 'connected to relay' after a bad accept")
    expect(not src.has_log(READY), "reached 'tunnel ready' after a bad accept")


@timeout(60)
def test_fake_relay_masked_frame(t):
    fake, src, conn, head = open_fake(t)
    conn.send(answer_101(head))
    src.wait_log(r"connected to relay", scaled(10))
    conn.send(server_frame(OP_BINARY, b"\x00\x05hello", mask=b"\x01\x02\x03\x04"))
    frames = conn.frames_until(lambda f: f[1] == OP_CLOSE, scaled(10), "close frame")
    for f in frames:
        expect(f[2], "the client sent an unmasked frame: %r" % (f,))
    expect_eq(close_code_of(frames[-1]), 1002, "close code for a masked server frame")
    conn.wait_eof(scaled(10), "localproxy to drop the connection after its close")
    m = src.wait_log(r"^.*disconnected from the relay.*$", scaled(10))
    expect("WebSocket protocol" in m.group(0) and "mask" in m.group(0),
           "the disconnect does not say the relay broke the protocol by masking: %r" % m.group(0))
    conn2 = fake.next_conn(scaled(10), "a reconnect after the protocol error")
    conn2.read_head(scaled(10))
    src.expect_alive("after a masked frame")


@timeout(60)
def test_fake_relay_close_1000(t):
    fake, src, conn, head = open_fake(t)
    conn.send(answer_101(head))
    src.wait_log(r"connected to relay", scaled(10))
    conn.send(server_frame(OP_CLOSE, struct.pack(">H", 1000) + b"done"))
    frames = conn.frames_until(lambda f: f[1] == OP_CLOSE, scaled(10), "close frame")
    expect_eq(close_code_of(frames[-1]), 1000, "the client's answering close code")
    expect(frames[-1][2], "the client's close frame is not masked")
    rc = src.wait_exit(scaled(10))
    expect_eq(rc, 0, "localproxy exit code after close 1000")
    expect(src.has_log(r"closed the tunnel \(done\)"),
           "the log does not give the close reason:\n%s" % src.tail(20))
    expect_eq(fake.accepted, 1, "connections to the fake relay (no reconnect after 1000)")


@timeout(60)
def test_fake_relay_request_headers(t):
    client_token = "ct-" + secrets.token_hex(20)
    fake = FakeRelay(t)
    tok = new_token(t)
    src = source_against(t, fake.port, tok, extra_args=["-i", client_token])
    conn = fake.next_conn(scaled(10))
    head = conn.read_head(scaled(10))
    check_request(head, "source", tok, client_token)
    expect_eq(conn.buf, b"", "bytes after the upgrade request's blank line")
    src.expect_alive()

    # Destination mode, no -i: a random client token, the same one on a
    # reconnect (that is what it is for), and a fresh key per connection.
    fake2 = FakeRelay(t)
    tok2 = new_token(t)
    dst = localproxy(t, "destination", ["-d", "127.0.0.1:%d" % free_port()], fake2.port, tok2)
    conn = fake2.next_conn(scaled(10))
    head = conn.read_head(scaled(10))
    ct = check_request(head, "destination", tok2, None)
    expect_eq(conn.buf, b"", "bytes after the upgrade request's blank line")
    conn.close()  # dropped during the handshake: it must retry
    conn2 = fake2.next_conn(scaled(10), "a reconnect after a dropped handshake")
    head2 = conn2.read_head(scaled(10))
    ct2 = check_request(head2, "destination", tok2, None)
    expect_eq(ct2, ct, "client token on the reconnect")
    k1 = one_header(parse_request(head)[1], "Sec-WebSocket-Key")
    k2 = one_header(parse_request(head2)[1], "Sec-WebSocket-Key")
    expect(k1 != k2, "the same Sec-WebSocket-Key on two connections: %s" % k1)
    dst.expect_alive()


def check_request(head, mode, token, client_token):
    """Checks an upgrade request; returns its client token."""
    expect(head.endswith(b"\r\n\r\n"), "the request head does not end with CRLFCRLF")
    line, headers = parse_request(head)
    expect_eq(line, "GET /tunnel?local-proxy-mode=%s HTTP/1.1" % mode, "request line")
    expect_eq(one_header(headers, "Host"), "127.0.0.1", "Host header (no port)")
    expect_eq(one_header(headers, "Upgrade").lower(), "websocket", "Upgrade header")
    conn_tokens = [x.strip().lower() for x in one_header(headers, "Connection").split(",")]
    expect("upgrade" in conn_tokens, "Connection header lacks 'upgrade': %r" % conn_tokens)
    expect_eq(one_header(headers, "Sec-WebSocket-Version"), "13", "Sec-WebSocket-Version")
    expect_eq(one_header(headers, "Sec-WebSocket-Protocol"), SUBPROTOCOL_V3,
              "Sec-WebSocket-Protocol")
    key = one_header(headers, "Sec-WebSocket-Key")
    try:
        nonce = base64.b64decode(key, validate=True)
    except ValueError:
        nonce = b""
    expect(len(nonce) == 16, "Sec-WebSocket-Key is not base64 of 16 bytes: %r" % key)
    expect(one_header(headers, "access-token") == token,
           "the access-token header is not the token")  # never print the token
    ct = one_header(headers, "client-token")
    if client_token is not None:
        expect_eq(ct, client_token, "client-token header (given with -i)")
    else:
        # Documented: "default: a random one per run" (proxy/options.c).
        expect(re.fullmatch(r"[A-Za-z0-9-]{32,128}", ct),
               "the generated client token is malformed: %r" % ct)
    expect(not any(k in headers for k in ("authorization", "sec-websocket-extensions")),
           "unexpected headers: %s" % sorted(headers))
    return ct


@timeout(60)
def test_fake_relay_http_401(t):
    fake, src, conn, head = open_fake(t)
    conn.send(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
    rc = src.wait_exit(scaled(10))
    expect_eq(rc, 1, "localproxy exit code after HTTP 401")
    expect(src.has_log(r"HTTP 401"), "the log does not mention HTTP 401:\n%s" % src.tail(20))
    expect(not src.has_log(r"reconnecting"), "it planned a reconnect after a 401:\n%s" % src.tail(20))
    expect_eq(fake.accepted, 1, "connections to the fake relay (no retry after 401)")


@timeout(60)
def test_fake_relay_pings(t):
    fake, src, conn, head = open_fake(t)
    # The server's ping in the same write as the 101: frames that arrive
    # with the upgrade answer are delivered too.
    conn.send(answer_101(head) + server_frame(OP_PING, b"hello"))
    seen = {}

    def want(f):
        _, op, masked, payload = f
        expect(masked, "the client sent an unmasked frame: %r" % (f,))
        expect(op in (OP_PING, OP_PONG), "unexpected frame from the client: %r" % (f,))
        seen.setdefault(op, []).append(payload)
        return OP_PING in seen and OP_PONG in seen

    conn.frames_until(want, scaled(10), "both a ping and a pong from the client")
    expect_eq(seen[OP_PONG][0], b"hello", "pong payload")
    ping = seen[OP_PING][0]
    expect(re.fullmatch(rb"[0-9]{10,16}", ping), "ping payload is not decimal ms: %r" % ping)
    skew = abs(int(ping) - time.time() * 1000)
    expect(skew < 60000, "ping payload %s is %.0f ms away from now" % (ping.decode(), skew))
    # Answer its ping and ping again with an empty payload: still up.
    conn.send(server_frame(OP_PONG, ping) + server_frame(OP_PING, b""))
    frames = conn.frames_until(lambda f: f[1] == OP_PONG, scaled(10), "a pong to an empty ping")
    expect_eq(frames[-1][3], b"", "pong payload to an empty ping")
    src.expect_alive()
    expect(not src.has_log(r"disconnected|cannot connect"),
           "the pings upset the connection:\n%s" % src.tail(20))


def test_fake_relay_close_bad_code(t):
    """Close code 1005 may not be sent in a frame: localproxy answers 1002,
    drops the connection and reconnects (it does not exit)."""
    fake, src, conn, head = open_fake(t)
    conn.send(answer_101(head))
    src.wait_log(r"connected to relay", scaled(10))
    conn.send(server_frame(OP_CLOSE, struct.pack(">H", 1005)))
    frames = conn.frames_until(lambda f: f[1] == OP_CLOSE, scaled(10), "close frame")
    expect_eq(close_code_of(frames[-1]), 1002, "close code answering a forbidden code")
    src.wait_log(r"disconnected from the relay: the relay sent close code 1005", scaled(10))
    fake.next_conn(scaled(10), "a reconnect after the forbidden close code")
    src.expect_alive("after close code 1005")


def test_fake_relay_close_reason_cannot_forge_log_lines(t):
    """A close reason with a line break is logged on one line."""
    fake, src, conn, head = open_fake(t)
    conn.send(answer_101(head))
    src.wait_log(r"connected to relay", scaled(10))
    conn.send(server_frame(OP_CLOSE, struct.pack(">H", 1000) + b"bye\nFATAL forged"))
    expect_eq(src.wait_exit(scaled(10)), 0, "localproxy exit code after close 1000")
    expect(src.has_log(r"closed the tunnel \(bye\?FATAL forged\)"),
           "the reason is not logged on one line with the break replaced:\n%s" % src.tail(20))
    expect(not src.has_log(r"^FATAL forged"), "a forged log line:\n%s" % src.tail(20))
