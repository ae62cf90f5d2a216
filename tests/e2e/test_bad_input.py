"""Bad (and borderline) input against the relay, with wsprobe. Every case
checks the exact HTTP status or WebSocket close code, the relay's log line,
and afterwards that a tunnel on the same relay -- one live connection and
one new one -- still carries its bytes intact."""

import os
import re
import ssl
import secrets
import struct
import time

import wsprobe
from wsprobe import (CONNECTION_RESET, CONNECTION_START, DATA, Msg,
                     SERVICE_IDS, STREAM_RESET, STREAM_START,
                     SUBPROTOCOL_V1, SUBPROTOCOL_V2, SUBPROTOCOL_V3,
                     ProbeClosed, ProbeTimeout, frame, frames)
from harness import (MiB, expect, expect_echo, expect_eq, fail, scaled,
                     skip, timeout)

# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


class Setup:
    pass


def setup(t, n=3, services=("SSH",), max_connections=None):
    """A relay with probe tunnels p0..p{n-1} and a tunnel 'healthy' carried
    by real localproxies with one live connection."""
    S = Setup()
    S.echo = t.echo()
    specs = [t.spec("p%d" % i, services) for i in range(n)]
    specs.append(t.spec("healthy"))
    S.relay = t.relay(specs, max_connections=max_connections)
    S.healthy = t.tunnel({"SSH": S.echo.port}, relay=S.relay, tid="healthy")
    S.conn = S.healthy.connect()
    expect_echo(S.conn, 64 * 1024, "healthy tunnel before the probe")
    return S


def still_healthy(S):
    S.relay.proc.expect_alive("after bad input")
    expect_echo(S.conn, 1 * MiB, "healthy tunnel's live connection after bad input")
    c = S.healthy.connect()
    expect_echo(c, 1 * MiB, "new connection on the healthy tunnel after bad input")
    S.healthy.expect_alive()


def line_rx(*words):
    """Regex for one log line containing every word (case-insensitive for
    words given as (?i:...))."""
    return "^" + "".join("(?=.*%s)" % w for w in words) + ".*$"


def warn_rx(kw):
    return line_rx(r"\b(WARN|ERROR)\b", kw)


def rejected_rx(status):
    return line_rx(r"\bWARN\b", "rejected", r"\b%d\b" % status)


def expect_http(S, status, what, mode="source", tid=None, token=None, logged=True, **kw):
    """Handshake that must be refused with `status` and a WARN 'rejected'
    log line carrying the status (logged=False: a repeat of a dead token's
    refusal, which the relay logs once per episode)."""
    mark = S.relay.proc.mark()
    w = S.relay.ws(mode, tid, token=token, **kw)
    expect(w.status == status, "%s: HTTP status %s (%s), expected %d" %
           (what, w.status, w.reason, status))
    expect_plain_refusal(w, what)
    if logged:
        S.relay.proc.wait_log(rejected_rx(status), scaled(5), since=mark,
                              what="WARN 'rejected' line with %d for %s" % (status, what))
    w.close()
    return w


def expect_plain_refusal(w, what):
    """HTTP/1.1 (strict clients cannot parse HTTP/1.0 here) with one plain
    line of text, whole (AWS's localproxy prints the body as it is)."""
    expect(w.status_line.startswith("HTTP/1.1 "),
           "%s: status line %r, expected HTTP/1.1" % (what, w.status_line))
    ctype = w.headers.get("content-type", "")
    expect(ctype.startswith("text/plain"), "%s: Content-Type %r, expected text/plain" % (what, ctype))
    body = w.body
    deadline = time.monotonic() + scaled(5)
    want = int(w.headers.get("content-length", "-1"))
    while len(body) < want and time.monotonic() < deadline:
        chunk = w.sock.recv(4096)
        if not chunk:
            break
        body += chunk
    expect(len(body) == want and body.endswith(b"\n") and body.count(b"\n") == 1
           and b"<" not in body,
           "%s: body %r (Content-Length %d), expected one plain line" % (what, body, want))


def open_ws(S, mode, tid, version=SUBPROTOCOL_V3, **kw):
    """Admitted connection; returns it with SERVICE_IDS already read
    (V2/V3)."""
    w = S.relay.ws(mode, tid, protocols=[version], **kw)
    expect(w.status == 101, "%s %s handshake: HTTP %s (%s), expected 101" %
           (mode, tid, w.status, w.reason))
    if version != SUBPROTOCOL_V1:
        m = w.recv_msg(scaled(5))
        expect(m.type == SERVICE_IDS, "first message to %s: %r, expected SERVICE_IDS" % (mode, m))
    return w


def open_pair(S, tid="p0"):
    dst = open_ws(S, "destination", tid)
    src = open_ws(S, "source", tid)
    return src, dst


def next_msg(w, timeout=5.0, skip=(SERVICE_IDS,)):
    deadline = time.monotonic() + scaled(timeout)
    while True:
        m = w.recv_msg(max(0.0, deadline - time.monotonic()))
        if m.type not in skip:
            return m


def msgs_within(w, seconds, skip=(SERVICE_IDS,)):
    """Every tunnel message received within `seconds` (pings answered)."""
    out = []
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return out
        try:
            m = w.recv_msg(left)
        except ProbeTimeout:
            return out
        except ProbeClosed:
            out.append("closed")
            return out
        if m.type not in skip:
            out.append(m)


def expect_close(S, w, code, kw, what):
    """The relay closes w with `code` and logs a WARN/ERROR line matching kw."""
    mark_rx = warn_rx(kw)
    got = w.wait_close(scaled(5))
    expect(got == code, "%s: close code %s, expected %d" % (what, got, code))
    S.relay.proc.wait_log(mark_rx, scaled(5), since=S.mark,
                          what="WARN/ERROR line for %s" % what)


def expect_up(w, what):
    payload = b"still-up-%d" % time.time_ns()
    try:
        got = w.ping_roundtrip(payload, scaled(5))
    except (ProbeClosed, ProbeTimeout) as e:
        fail("%s: connection did not stay up (%s)" % (what, e))
    expect(got == payload, "%s: pong %r, expected %r" % (what, got, payload))


def filler(total):
    """Frames of ignorable unknown-type messages, exactly `total` bytes."""
    parts = []
    left = total
    while left > 0:
        n = 50000 if left > 50100 else left
        parts.append(filler_exact_one(n))
        left -= n
    data = b"".join(parts)
    assert len(data) == total
    return data


def filler_exact_one(n):
    for p in range(n, -1, -1):
        f = frame(Msg(type=77, ignorable=True, payload=b"\0" * p))
        if len(f) == n:
            return f
        if len(f) < n - 8:
            break
    raise ValueError("no single frame of %d bytes" % n)


# --------------------------------------------------------------------------
# framing / message errors: close codes
# --------------------------------------------------------------------------

@timeout(60)
def test_text_message_closes_1003(t):
    S = setup(t)
    src = open_ws(S, "source", "p0")
    S.mark = S.relay.proc.mark()
    src.send_text("hello relay")
    expect_close(S, src, 1003, "(?i:text)", "text message")
    still_healthy(S)


@timeout(60)
def test_length_prefix_past_limit_closes_1002(t):
    S = setup(t)
    src, dst = open_pair(S)
    S.mark = S.relay.proc.mark()
    # The prefix alone is enough to refuse; send a little more, not the
    # whole 64 KiB, so a prompt close does not turn into a TCP reset.
    src.send_binary(b"\xff\xff" + os.urandom(1000), lenient=True)
    expect_close(S, src, 1002, "(?i:length|too big|too large|size|limit|frame)",
                 "length prefix 0xFFFF")
    got = [m for m in msgs_within(dst, 1.0) if m != "closed"]
    expect(not got, "destination received %r from a broken frame" % got)
    still_healthy(S)


@timeout(60)
def test_truncated_protobuf_closes_1002(t):
    S = setup(t)
    src, dst = open_pair(S)
    body = Msg(type=DATA, stream_id=1, service_id="SSH", connection_id=1,
               payload=os.urandom(100)).encode()[:-50]
    S.mark = S.relay.proc.mark()
    src.send_binary(frame(body), lenient=True)
    expect_close(S, src, 1002, "(?i:protobuf|garbage|malformed|decode|invalid|parse|bad)",
                 "truncated protobuf")
    still_healthy(S)


@timeout(60)
def test_garbage_closes_1002(t):
    S = setup(t)
    src = open_ws(S, "source", "p0")
    S.mark = S.relay.proc.mark()
    # field 0 / wire type 7, then an over-long varint: not a protobuf.
    src.send_binary(frame(b"\x07\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
    expect_close(S, src, 1002, "(?i:protobuf|garbage|malformed|decode|invalid|parse|bad)",
                 "garbage frame")
    still_healthy(S)


@timeout(60)
def test_unknown_type_not_ignorable_closes_1002(t):
    S = setup(t)
    src = open_ws(S, "source", "p0")
    S.mark = S.relay.proc.mark()
    src.send_msgs(Msg(type=42, stream_id=1, service_id="SSH"))
    expect_close(S, src, 1002, "(?i:type|unknown)", "unknown non-ignorable type 42")
    still_healthy(S)


@timeout(60)
def test_unknown_type_ignorable_is_skipped(t):
    S = setup(t)
    src, dst = open_pair(S)
    S.mark = S.relay.proc.mark()
    # Skipped messages, then a real one in the same WebSocket message: the
    # relay must keep its place in the byte stream.
    src.send_msgs(Msg(type=42, ignorable=True, stream_id=1),
                  Msg(type=99, ignorable=True, payload=b"x" * 300, service_id="SSH"),
                  Msg(type=STREAM_START, stream_id=1, service_id="SSH", connection_id=1))
    expect_up(src, "source after ignorable unknown types")
    m = next_msg(dst)
    expect(m.type == STREAM_START and m.stream_id == 1,
           "destination got %r, expected the STREAM_START after the skipped messages" % m)
    rest = msgs_within(dst, 0.5)
    expect(not any(m != "closed" and m.type in (42, 99) for m in rest),
           "relay forwarded an ignorable unknown type: %r" % rest)
    still_healthy(S)


@timeout(60)
def test_unknown_service_id_closes_1002(t):
    S = setup(t)
    src, dst = open_pair(S)
    S.mark = S.relay.proc.mark()
    src.send_msgs(Msg(type=STREAM_START, stream_id=1, service_id="NOPE", connection_id=1))
    expect_close(S, src, 1002, "(?i:service)", "unknown service id")
    got = msgs_within(dst, 1.0)
    expect(not any(m != "closed" and m.type == STREAM_START for m in got),
           "destination received the STREAM_START for an unknown service: %r" % got)
    still_healthy(S)


@timeout(60)
def test_data_payload_over_63k_closes_1002(t):
    S = setup(t)
    src, dst = open_pair(S)
    src.send_msgs(Msg(type=STREAM_START, stream_id=1, service_id="SSH", connection_id=1))
    expect(next_msg(dst).type == STREAM_START, "destination did not get STREAM_START")
    # exactly the limit passes intact...
    ok = os.urandom(64512)
    src.send_msgs(Msg(type=DATA, stream_id=1, service_id="SSH", connection_id=1, payload=ok))
    m = next_msg(dst)
    expect(m.type == DATA and m.payload == ok, "64512-byte DATA not forwarded intact: %r" % m)
    # ...one byte more is a protocol error.
    S.mark = S.relay.proc.mark()
    src.send_msgs(Msg(type=DATA, stream_id=1, service_id="SSH", connection_id=1,
                      payload=os.urandom(64513)))
    expect_close(S, src, 1002, "(?i:payload|too big|too large|size|limit)",
                 "DATA payload of 64513 bytes")
    still_healthy(S)


@timeout(60)
def test_ws_message_over_limit_closes_1009(t):
    S = setup(t)
    src = open_ws(S, "source", "p0")
    # exactly 131076 bytes of valid (ignorable) frames: accepted
    src.send_binary(filler(131076))
    expect_up(src, "source after a 131076-byte message")
    S.mark = S.relay.proc.mark()
    src.send_binary(filler(131077), lenient=True)
    expect_close(S, src, 1009, "(?i:too big|too large|size|limit|message)",
                 "131077-byte WebSocket message")
    still_healthy(S)


@timeout(60)
def test_fragmented_ws_message_over_limit_closes_1009(t):
    S = setup(t)
    src = open_ws(S, "source", "p0")
    src.send_fragmented(filler(131076), 4)
    expect_up(src, "source after a 131076-byte message in 4 fragments")
    S.mark = S.relay.proc.mark()
    src.send_fragmented(filler(131077), 3, lenient=True)
    expect_close(S, src, 1009, "(?i:too big|too large|size|limit|message)",
                 "131077-byte WebSocket message in 3 fragments")
    still_healthy(S)


# --------------------------------------------------------------------------
# forwarding rules
# --------------------------------------------------------------------------

@timeout(60)
def test_forwarding_and_reassembly(t):
    """Frames split across WebSocket messages and several frames in one
    message are forwarded intact, both ways."""
    S = setup(t)
    src, dst = open_pair(S)
    start = frame(Msg(type=STREAM_START, stream_id=1, service_id="SSH", connection_id=1))
    src.send_binary(start[:1])         # half of the length prefix
    src.send_binary(start[1:5])
    src.send_binary(start[5:])
    m = next_msg(dst)
    expect(m == Msg(type=STREAM_START, stream_id=1, service_id="SSH", connection_id=1),
           "destination got %r, expected STREAM_START stream 1 SSH conn 1" % m)
    payloads = [os.urandom(n) for n in (1, 1000, 64512, 30000)]
    blob = frames(*[Msg(type=DATA, stream_id=1, service_id="SSH", connection_id=1, payload=p)
                    for p in payloads])
    cut = len(blob) // 3
    src.send_binary(blob[:cut])
    src.send_binary(blob[cut:2 * cut])
    src.send_binary(blob[2 * cut:])
    for i, p in enumerate(payloads):
        m = next_msg(dst)
        expect(m.type == DATA and m.stream_id == 1 and m.payload == p,
               "DATA %d to destination: got %r" % (i, m))
    back = [os.urandom(n) for n in (5, 64512)]
    dst.send_msgs(*[Msg(type=DATA, stream_id=1, service_id="SSH", connection_id=1, payload=p)
                    for p in back])
    for i, p in enumerate(back):
        m = next_msg(src)
        expect(m.type == DATA and m.stream_id == 1 and m.payload == p,
               "DATA %d to source: got %r" % (i, m))
    expect_up(src, "source")
    expect_up(dst, "destination")
    still_healthy(S)


@timeout(60)
def test_data_for_unknown_connection_dropped(t):
    S = setup(t)
    src, dst = open_pair(S)
    src.send_msgs(Msg(type=DATA, stream_id=7, service_id="SSH", connection_id=3, payload=b"x"),
                  Msg(type=CONNECTION_RESET, stream_id=7, service_id="SSH", connection_id=3))
    expect_up(src, "source after DATA for an unknown connection")
    got = msgs_within(dst, 1.0)
    expect(not any(m != "closed" and m.type == DATA for m in got),
           "DATA for an unknown connection reached the destination: %r" % got)
    expect("closed" not in got, "destination was closed")
    # A real stream still works, and DATA for an unknown connection inside
    # it is dropped too.
    src.send_msgs(Msg(type=STREAM_START, stream_id=1, service_id="SSH", connection_id=1))
    expect(next_msg(dst).type == STREAM_START, "destination did not get STREAM_START")
    src.send_msgs(Msg(type=DATA, stream_id=1, service_id="SSH", connection_id=5, payload=b"ghost"),
                  Msg(type=DATA, stream_id=1, service_id="SSH", connection_id=1, payload=b"real"))
    m = next_msg(dst)
    expect(m.type == DATA and m.payload == b"real" and m.connection_id in (0, 1),
           "destination got %r, expected only the DATA for connection 1" % m)
    expect_up(src, "source")
    still_healthy(S)


@timeout(60)
def test_stream_start_without_destination_is_reset(t):
    S = setup(t)
    src = open_ws(S, "source", "p0")
    src.send_msgs(Msg(type=STREAM_START, stream_id=1, service_id="SSH", connection_id=1))
    m = next_msg(src)
    expect(m.type == STREAM_RESET and m.stream_id == 1,
           "answer to STREAM_START with no destination: %r, expected STREAM_RESET stream 1" % m)
    src.send_msgs(Msg(type=CONNECTION_START, stream_id=1, service_id="SSH", connection_id=2))
    m = next_msg(src)
    expect(m.type == CONNECTION_RESET and m.stream_id == 1 and m.connection_id == 2,
           "answer to CONNECTION_START with no destination: %r, "
           "expected CONNECTION_RESET stream 1 conn 2" % m)
    expect_up(src, "source")
    still_healthy(S)


def expect_no_more(w, what, seconds=1.0):
    got = [m for m in msgs_within(w, seconds) if m != "closed"]
    expect(not got, "%s got %r, expected nothing more" % (what, got))


def expect_msg(w, want, what):
    """want: (type, stream, connection, service)."""
    m = next_msg(w)
    got = (m.type, m.stream_id, m.connection_id, m.service_id)
    expect(got == want, "%s got %r, expected %s" % (what, m, want))


@timeout(60)
def test_destination_leaves_source_keeps_its_stream(t):
    # AWS's source stops reading after a STREAM_RESET or SESSION_RESET for
    # its live stream; CONNECTION_RESETs keep it reading. Its next
    # connection then continues the stream, which the new destination
    # receives as a STREAM_START.
    S = setup(t)
    ct = "c" * 40
    dst = open_ws(S, "destination", "p0", client_token=ct)
    src = open_ws(S, "source", "p0")
    src.send_msgs(Msg(type=STREAM_START, stream_id=7, service_id="SSH", connection_id=1),
                  Msg(type=CONNECTION_START, stream_id=7, service_id="SSH", connection_id=2))
    expect_msg(dst, (STREAM_START, 7, 1, "SSH"), "destination")
    expect_msg(dst, (CONNECTION_START, 7, 2, "SSH"), "destination")
    dst.send_close(1000)
    code = dst.wait_close(scaled(5))
    expect(code == 1000, "relay answered the destination's close 1000 with %s" % code)
    dst.close()
    resets = sorted((m.type, m.stream_id, m.connection_id, m.service_id)
                    for m in (next_msg(src), next_msg(src)))
    expect(resets == [(CONNECTION_RESET, 7, 1, "SSH"), (CONNECTION_RESET, 7, 2, "SSH")],
           "source got %r, expected a CONNECTION_RESET for each connection" % resets)
    expect_no_more(src, "source (no STREAM_RESET, no SESSION_RESET)")
    expect_up(src, "source after its destination left")

    # The destination reconnects with its client token; the source's next
    # connection on stream 7 starts the stream there.
    dst2 = open_ws(S, "destination", "p0", client_token=ct)
    src.send_msgs(Msg(type=CONNECTION_START, stream_id=7, service_id="SSH", connection_id=3),
                  Msg(type=DATA, stream_id=7, service_id="SSH", connection_id=3,
                      payload=b"after"))
    expect_msg(dst2, (STREAM_START, 7, 3, "SSH"), "new destination")
    m = next_msg(dst2)
    expect(m.type == DATA and m.payload == b"after", "new destination got %r, expected DATA" % m)
    expect_up(src, "source")
    still_healthy(S)


@timeout(60)
def test_source_vanish_resets_destination_stream(t):
    S = setup(t)
    src, dst = open_pair(S)
    src.send_msgs(Msg(type=STREAM_START, stream_id=3, service_id="SSH", connection_id=1))
    expect_msg(dst, (STREAM_START, 3, 1, "SSH"), "destination")
    src.abort()  # TCP reset, no close frame
    m = next_msg(dst, 10)
    expect((m.type, m.stream_id, m.service_id) == (STREAM_RESET, 3, "SSH"),
           "destination got %r, expected STREAM_RESET for stream 3" % m)
    expect_no_more(dst, "destination (no SESSION_RESET)")
    expect_up(dst, "destination after its source left")
    still_healthy(S)


@timeout(60)
def test_survivor_told_in_its_own_style(t):
    # A V2 source gets STREAM_RESET (CONNECTION_RESET is V3 only); a V3
    # source writing V1-style messages (AWS's -y V1) gets resets without a
    # service or connection id.
    S = setup(t)
    dst = open_ws(S, "destination", "p0", client_token="d" * 40)
    src = open_ws(S, "source", "p0", version=SUBPROTOCOL_V2)
    src.send_msgs(Msg(type=STREAM_START, stream_id=4, service_id="SSH"))
    expect_msg(dst, (STREAM_START, 4, 0, "SSH"), "destination")
    dst.abort()
    expect_msg(src, (STREAM_RESET, 4, 0, "SSH"), "V2 source")
    expect_no_more(src, "V2 source")

    dst = open_ws(S, "destination", "p1")
    src = open_ws(S, "source", "p1")
    src.send_msgs(Msg(type=STREAM_START, stream_id=9))
    expect_msg(dst, (STREAM_START, 9, 0, ""), "destination")
    dst.abort()
    expect_msg(src, (CONNECTION_RESET, 9, 0, ""), "V1-style source")
    expect_no_more(src, "V1-style source")
    still_healthy(S)


@timeout(60)
def test_relay_connection_limit_probe(t):
    S = setup(t)
    src, dst = open_pair(S)
    src.send_msgs(Msg(type=STREAM_START, stream_id=1, service_id="SSH", connection_id=1),
                  *[Msg(type=CONNECTION_START, stream_id=1, service_id="SSH", connection_id=c)
                    for c in range(2, 11)])
    seen = []
    for _ in range(10):
        m = next_msg(dst)
        seen.append((m.type, m.connection_id))
    want = [(STREAM_START, 1)] + [(CONNECTION_START, c) for c in range(2, 11)]
    expect(seen == want, "destination got %r, expected %r" % (seen, want))
    S.mark = S.relay.proc.mark()
    src.send_msgs(Msg(type=CONNECTION_START, stream_id=1, service_id="SSH", connection_id=11))
    m = next_msg(src)
    expect(m.type in (CONNECTION_RESET,) and m.connection_id == 11,
           "answer to the 11th connection: %r, expected CONNECTION_RESET conn 11" % m)
    S.relay.proc.wait_log(r"(?i)limit", scaled(5), since=S.mark, what="limit log line")
    got = msgs_within(dst, 0.5)
    expect(not any(m != "closed" and m.type == CONNECTION_START for m in got),
           "the 11th CONNECTION_START reached the destination: %r" % got)
    # free one and a 12th fits
    src.send_msgs(Msg(type=CONNECTION_RESET, stream_id=1, service_id="SSH", connection_id=5))
    m = next_msg(dst)
    expect(m.type == CONNECTION_RESET and m.connection_id == 5,
           "destination got %r, expected CONNECTION_RESET conn 5" % m)
    src.send_msgs(Msg(type=CONNECTION_START, stream_id=1, service_id="SSH", connection_id=12))
    m = next_msg(dst)
    expect(m.type == CONNECTION_START and m.connection_id == 12,
           "after freeing a slot, destination got %r, expected CONNECTION_START 12" % m)
    still_healthy(S)


# --------------------------------------------------------------------------
# keep-alive
# --------------------------------------------------------------------------

@timeout(60)
def test_ping_pong_echoes_payload(t):
    S = setup(t)
    src = open_ws(S, "source", "p0")
    for payload in (b"1732237323456", b"", b"\x00\xff\x80binary", os.urandom(125)):
        got = src.ping_roundtrip(payload, scaled(5))
        expect(got == payload, "pong %r for ping %r" % (got, payload))
    still_healthy(S)


@timeout(60)
def test_no_unsolicited_pong(t):
    S = setup(t)
    src = open_ws(S, "source", "p0")
    dst = open_ws(S, "destination", "p0")
    for w, who in ((src, "source"), (dst, "destination")):
        evs = w.expect_silence(3.0 if w is src else 0.5)
        pongs = [e for e in evs if e.kind == "pong"]
        expect(not pongs, "relay sent an unsolicited pong to the %s: %r" % (who, pongs))
        closes = [e for e in evs if e.kind in ("close", "eof")]
        expect(not closes, "relay closed the idle %s: %r" % (who, closes))
    still_healthy(S)


# --------------------------------------------------------------------------
# SERVICE_IDS and subprotocol versions
# --------------------------------------------------------------------------

@timeout(60)
def test_service_ids_by_version(t):
    S = setup(t, n=4)
    for tid, version in (("p0", SUBPROTOCOL_V3), ("p1", SUBPROTOCOL_V2)):
        w = S.relay.ws("source", tid, protocols=[version])
        expect(w.status == 101, "%s handshake: HTTP %s" % (version, w.status))
        expect(w.subprotocol == version, "%s handshake answered subprotocol %r" %
               (version, w.subprotocol))
        m = w.recv_msg(scaled(5))
        expect(m.type == SERVICE_IDS and m.available_service_ids == ["SSH"],
               "%s: first message %r, expected SERVICE_IDS ['SSH']" % (version, m))
    w = S.relay.ws("source", "p2", protocols=[SUBPROTOCOL_V1])
    expect(w.status == 101, "V1 handshake: HTTP %s" % w.status)
    expect(w.subprotocol == SUBPROTOCOL_V1, "V1 handshake answered %r" % w.subprotocol)
    got = msgs_within(w, 2.0, skip=())
    expect(not got, "V1 client received %r (expected no SERVICE_IDS)" % got)
    # several offered: the answer is one of them
    offered = ["chat", SUBPROTOCOL_V1, SUBPROTOCOL_V3]
    w = S.relay.ws("source", "p3", protocols=offered)
    expect(w.status == 101 and w.subprotocol in offered[1:],
           "offered %r: HTTP %s subprotocol %r" % (offered, w.status, w.subprotocol))
    still_healthy(S)


@timeout(60)
def test_service_ids_multi_service(t):
    S = setup(t, n=1, services=("SSH", "HTTP", "RDP"))
    w = open_ws(S, "destination", "p0", version=SUBPROTOCOL_V3)
    # open_ws read SERVICE_IDS already; read it again for its content
    w2 = S.relay.ws("source", "p0")
    m = w2.recv_msg(scaled(5))
    expect(m.type == SERVICE_IDS and sorted(m.available_service_ids) == ["HTTP", "RDP", "SSH"],
           "SERVICE_IDS %r, expected HTTP, RDP, SSH" % m)
    w.close()
    still_healthy(S)


# --------------------------------------------------------------------------
# handshake refusals
# --------------------------------------------------------------------------

@timeout(60)
def test_missing_token_401(t):
    S = setup(t)
    expect_http(S, 401, "no access-token header", token=None)
    still_healthy(S)


@timeout(60)
def test_refusal_read_by_a_standard_client(t):
    # python-websockets parses the status line strictly: it must see "401,
    # do not retry", not a broken connection.
    S = setup(t)
    bogus = secrets.token_urlsafe(32)
    t.secret(bogus)
    script = r"""
import asyncio, ssl, sys, websockets
async def main():
    ctx = ssl.create_default_context(cafile=sys.argv[2])
    try:
        async with websockets.connect(
                "wss://127.0.0.1:%s/tunnel?local-proxy-mode=source" % sys.argv[1], ssl=ctx,
                subprotocols=["aws.iot.securetunneling-3.0"],
                extra_headers={"access-token": sys.argv[3]}, open_timeout=10):
            print("ACCEPTED")
    except websockets.exceptions.InvalidStatusCode as e:
        print("STATUS", e.status_code)
    except Exception as e:
        print("BROKEN", type(e).__name__, e)
asyncio.run(main())
"""
    import subprocess
    from harness import pki
    r = subprocess.run(["/usr/bin/python3", "-c", script, str(S.relay.port), pki().ca, bogus],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(30))
    out = r.stdout.decode(errors="replace").strip()
    if "No module named 'websockets'" in r.stderr.decode(errors="replace"):
        skip("python3-websockets is not installed for /usr/bin/python3 (make deps installs it)")
    expect(out == "STATUS 401", "python-websockets saw %r (stderr %r), expected STATUS 401" %
           (out, r.stderr.decode(errors="replace")[-300:]))
    still_healthy(S)


@timeout(90)
def test_dead_token_one_log_line_per_episode(t):
    # AWS IoT Device Client retries a closed tunnel's token for ever: that
    # costs one WARN line, while /metrics counts every attempt.
    S = setup(t)
    bogus = secrets.token_urlsafe(32)
    t.secret(bogus)
    mark = S.relay.proc.mark()
    for _ in range(6):
        w = S.relay.ws("source", token=bogus)
        expect(w.status == 401, "dead token: HTTP %s, expected 401" % w.status)
        w.close()
    other = secrets.token_urlsafe(32)
    t.secret(other)
    w = S.relay.ws("source", token=other)
    w.close()
    S.relay.proc.wait_log(rejected_rx(401), scaled(5), since=mark)
    time.sleep(0.5)
    lines = [ln for ln in S.relay.proc.log_since(mark).splitlines()
             if re.search(rejected_rx(401), ln)]
    expect(len(lines) == 2, "expected one WARN line for the dead token and one for another "
           "token, got %d:\n%s" % (len(lines), "\n".join(lines)))
    import urllib.request
    from harness import pki
    ctx = ssl.create_default_context(cafile=pki().ca)
    text = urllib.request.urlopen("https://127.0.0.1:%d/metrics" % S.relay.port, context=ctx,
                                  timeout=scaled(5)).read().decode()
    counts = [float(ln.split()[-1]) for ln in text.splitlines()
              if ln.startswith("tunnel_relay_rejected_handshakes_total")]
    expect(counts and sum(counts) >= 7,
           "/metrics does not count every refused attempt: %r" % counts)
    still_healthy(S)


@timeout(60)
def test_channel_id_on_upgrade(t):
    # AWS's localproxy logs the channel-id header as its session id; the
    # relay's log names the same id.
    S = setup(t)
    w = open_ws(S, "destination", "p0")
    cid = w.headers.get("channel-id", "")
    expect(re.fullmatch(r"[0-9a-f]{32}", cid) is not None,
           "101 response channel-id %r, expected 32 hex digits" % cid)
    S.relay.proc.wait_log(r"channel %s" % cid, scaled(5), what="relay log naming the channel")
    w2 = open_ws(S, "source", "p0")
    expect(w2.headers.get("channel-id") not in (None, cid), "two connections, one channel-id")
    still_healthy(S)


@timeout(60)
def test_wrong_token_401(t):
    S = setup(t)
    bogus = secrets.token_urlsafe(32)
    t.secret(bogus)
    expect_http(S, 401, "unknown access token", token=bogus)
    expect_http(S, 401, "empty access token", token="")
    still_healthy(S)


@timeout(60)
def test_reused_token_403(t):
    S = setup(t)
    w1 = open_ws(S, "source", "p0")
    expect_http(S, 403, "second use of a source token (first still open)", tid="p0")
    expect_up(w1, "first connection after a refused second use")
    w1.send_close(1000)
    w1.wait_close(scaled(5))
    w1.close()
    time.sleep(0.3)
    expect_http(S, 403, "reuse of a source token after its connection closed", tid="p0",
                logged=False)
    still_healthy(S)


@timeout(60)
def test_reused_token_same_client_token_reconnects(t):
    S = setup(t)
    ct = secrets.token_hex(20)
    w1 = open_ws(S, "source", "p0", client_token=ct)
    w2 = open_ws(S, "source", "p0", client_token=ct)
    expect(w2.status == 101, "reconnect with the same client token: HTTP %s" % w2.status)
    # the new connection replaces the old one
    code = None
    try:
        code = w1.wait_close(scaled(5))
    except ProbeTimeout:
        fail("old connection still open after a reconnect with the same client token")
    t.note("old connection closed with %s" % code)
    expect_up(w2, "reconnected source")
    expect_http(S, 403, "same token, different client token", tid="p0",
                client_token=secrets.token_hex(20))
    expect_http(S, 403, "same token, no client token", tid="p0", logged=False)
    still_healthy(S)


@timeout(60)
def test_malformed_client_token_400(t):
    S = setup(t)
    expect_http(S, 400, "client token too short", tid="p0", client_token="abc")
    expect_http(S, 400, "client token with a bad character", tid="p0",
                client_token="a" * 40 + "!")
    expect_http(S, 400, "client token too long", tid="p0", client_token="b" * 129)
    # the refusals did not use up the token
    open_ws(S, "source", "p0", client_token="c" * 32)
    still_healthy(S)


@timeout(60)
def test_wrong_mode_403(t):
    S = setup(t)
    expect_http(S, 403, "destination token with mode=source", mode="source",
                token=S.relay.spec("p0").destination_token)
    expect_http(S, 403, "source token with mode=destination", mode="destination",
                token=S.relay.spec("p1").source_token)
    # neither token was used up by the refusal
    open_ws(S, "destination", "p0")
    open_ws(S, "source", "p1")
    still_healthy(S)


@timeout(60)
def test_bad_mode_400(t):
    S = setup(t)
    tok = S.relay.spec("p0").source_token
    expect_http(S, 400, "mode=sauce", token=tok, path="/tunnel?local-proxy-mode=sauce")
    expect_http(S, 400, "no mode", token=tok, path="/tunnel")
    expect_http(S, 400, "empty mode", token=tok, path="/tunnel?local-proxy-mode=")
    open_ws(S, "source", "p0")
    still_healthy(S)


@timeout(60)
def test_wrong_path_400(t):
    S = setup(t)
    tok = S.relay.spec("p0").source_token
    for path in ("/foo?local-proxy-mode=source", "/tunnelx?local-proxy-mode=source",
                 "/?local-proxy-mode=source"):
        expect_http(S, 400, "path %s" % path, token=tok, path=path)
    open_ws(S, "source", "p0")
    still_healthy(S)


@timeout(60)
def test_subprotocol_400(t):
    S = setup(t)
    expect_http(S, 400, "no Sec-WebSocket-Protocol", tid="p0", protocols=None)
    expect_http(S, 400, "unknown subprotocol", tid="p0", protocols=["chat"])
    expect_http(S, 400, "securetunneling-4.0", tid="p0",
                protocols=["aws.iot.securetunneling-4.0"])
    open_ws(S, "source", "p0")
    still_healthy(S)


@timeout(60)
def test_oversize_request_refused(t):
    S = setup(t)
    mark = S.relay.proc.mark()
    w = S.relay.ws("source", "p0", pad=5000)
    expect(w.status != 101, "a 5 KB upgrade request was accepted (HTTP 101)")
    S.relay.proc.wait_log(r"WARN rejected a request: its HTTP headers exceed 4096 bytes",
                          scaled(5), since=mark, what="relay log line about the oversize request")
    expect(w.status is None or 400 <= w.status < 500,
           "a 5 KB upgrade request got HTTP %s, expected 4xx or a closed connection" % w.status)
    t.note("5 KB request: status %s (%s)" % (w.status, w.reason))
    w.close()
    # the token was not used up
    open_ws(S, "source", "p0")
    still_healthy(S)
