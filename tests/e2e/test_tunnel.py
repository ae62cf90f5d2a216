"""Data-plane tests: bytes through source localproxy -> relay -> destination
localproxy -> local service and back, with real processes on loopback."""

import os
import socket
import subprocess
import threading
import time

from harness import (MiB, connect, start_sshd, expect, expect_closed, expect_echo,
                     fail, free_port, is_open, pump, rss_kib, scaled,
                     timeout, wait_until, READY, Writer, expect_rss_flat)


@timeout(240)
def test_one_connection_100mib(t):
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port})
    s = tun.connect()
    dt = expect_echo(s, 100 * MiB, "100 MiB connection", timeout=scaled(200))
    t.note("100 MiB each way in %.1fs (%.1f MiB/s)" % (dt, 100 / dt))
    tun.expect_alive()


@timeout(180)
def test_ten_concurrent_connections(t):
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port})
    socks = [tun.connect() for _ in range(10)]
    size = 8 * MiB
    results = [None] * 10

    def run(i):
        results[i] = pump(socks[i], size, scaled(150))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(10)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(scaled(160))
    for i, r in enumerate(results):
        expect(r is not None, "connection %d: pump did not finish" % i)
        s, h, n = r
        expect(n == size, "connection %d: %d of %d bytes came back" % (i, n, size))
        expect(s == h, "connection %d: sha256 mismatch" % i)
    expect(echo.accepted == 10, "echo service saw %d connections, expected 10" % echo.accepted)
    tun.expect_alive()


@timeout(120)
def test_eleventh_connection_refused_by_source(t):
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port})
    socks = [tun.connect() for _ in range(10)]
    # Make sure all ten are established end to end before the 11th.
    for i, s in enumerate(socks):
        expect_echo(s, 1000, "connection %d" % (i + 1))
    wait_until(lambda: echo.active == 10, scaled(5), "10 connections at the echo service")
    mark = tun.source.mark()
    eleventh = tun.connect()
    how = expect_closed(eleventh, scaled(5), "11th connection")
    t.note("11th connection ended: %s" % how)
    tun.source.wait_log(r"(?i)limit", scaled(5), since=mark,
                        what="source log line about the connection limit")
    for i, s in enumerate(socks):
        expect_echo(s, 256 * 1024, "connection %d after the 11th" % (i + 1))
    expect(echo.accepted == 10,
           "echo service saw %d connections: the 11th reached it" % echo.accepted)
    # The limit is on concurrent connections: free one slot, then a new
    # connection must work.
    socks[0].close()
    wait_until(lambda: echo.active == 9, scaled(5), "the closed connection to reach the service")
    deadline = time.monotonic() + scaled(5)
    while True:
        s = tun.connect()
        try:
            expect_echo(s, 64 * 1024, "connection after one of ten closed", timeout=scaled(10))
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    tun.expect_alive()


@timeout(120)
def test_relay_connection_limit(t):
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port}, max_connections=3)
    socks = [tun.connect() for _ in range(3)]
    for i, s in enumerate(socks):
        expect_echo(s, 1000, "connection %d" % (i + 1))
    mark = tun.relay.proc.mark()
    fourth = tun.connect()
    how = expect_closed(fourth, scaled(5), "4th connection (relay --max-connections 3)")
    t.note("4th connection ended: %s" % how)
    tun.relay.proc.wait_log(r"(?i)limit", scaled(5), since=mark,
                            what="relay log line about the connection limit")
    for i, s in enumerate(socks):
        expect_echo(s, 512 * 1024, "connection %d after the 4th" % (i + 1))
    expect(echo.accepted == 3, "echo service saw %d connections, expected 3" % echo.accepted)
    tun.expect_alive()


@timeout(90)
def test_local_service_down(t):
    port = free_port()  # nothing listens here (yet)
    tun = t.tunnel({"SSH": port})
    s = tun.connect()
    t0 = time.monotonic()
    how = expect_closed(s, scaled(5), "connection to a service that is down")
    t.note("closed after %.2fs (%s)" % (time.monotonic() - t0, how))
    time.sleep(0.5)
    tun.expect_alive()
    # Twice, to be sure the failed stream left nothing behind.
    s = tun.connect()
    expect_closed(s, scaled(5), "second connection to a service that is down")
    tun.expect_alive()
    echo = t.echo(port=port)
    s = tun.connect()
    expect_echo(s, 4 * MiB, "connection after the service came up")
    s2 = tun.connect()
    expect_echo(s2, 1 * MiB, "second connection after the service came up")
    expect_echo(s, 1 * MiB, "first connection again")
    tun.expect_alive()


@timeout(150)
def test_relay_restart(t):
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port})
    s = tun.connect()
    expect_echo(s, 1 * MiB, "connection before the relay restart")
    dmark, smark = tun.dest.mark(), tun.source.mark()
    tun.relay.proc.kill()
    # The live connection cannot survive its session: it must be closed,
    # not left hanging.
    expect_closed(s, scaled(15), "connection whose relay was killed")
    # Let both proxies fail at least one reconnect attempt first.
    time.sleep(1.5)
    tun.dest.expect_alive("after the relay died")
    tun.source.expect_alive("after the relay died")
    tun.relay.start()
    tun.dest.wait_log(READY, scaled(45), since=dmark, what="destination reconnect")
    tun.source.wait_log(READY, scaled(45), since=smark, what="source reconnect")
    s2 = connect(tun.src_port, scaled(5))
    t.defer(s2.close)
    expect_echo(s2, 8 * MiB, "connection after the relay restart")
    tun.expect_alive()


@timeout(90)
def test_no_destination_then_destination(t):
    """Source alone: a local client is refused promptly (the relay answers
    STREAM_START with STREAM_RESET); once the destination joins, it works."""
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port}, start_destination=False)
    s = tun.connect()
    expect_closed(s, scaled(5), "connection with no destination connected")
    tun.source.expect_alive()
    tun.start_destination()
    deadline = time.monotonic() + scaled(5)
    while True:  # the source may still hold the relay's reset briefly
        s = tun.connect()
        try:
            expect_echo(s, 2 * MiB, "connection after the destination joined",
                        timeout=scaled(20))
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    tun.expect_alive()


@timeout(90)
def test_destination_leaves(t):
    """Destination stops: the source's live connections close promptly and
    the source keeps running."""
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port})
    socks = [tun.connect() for _ in range(3)]
    for s in socks:
        expect_echo(s, 100000, "connection before the destination left")
    rc = tun.dest.stop()
    expect(rc == 0, "destination localproxy: exit code %s after SIGTERM, expected 0" % rc)
    for i, s in enumerate(socks):
        expect_closed(s, scaled(5), "connection %d after the destination left" % (i + 1))
    time.sleep(0.5)
    tun.source.expect_alive()
    tun.relay.proc.expect_alive()
    # And nothing reaches the old local service.
    before = echo.accepted
    s = tun.connect()
    expect_closed(s, scaled(5), "new connection with the destination gone")
    expect(echo.accepted == before, "a connection reached the service with no destination")


@timeout(90)
def test_two_services(t):
    a = t.echo(banner=b"service-A\n")
    b = t.echo(banner=b"service-B\n")
    tun = t.tunnel({"SSH": a.port, "HTTP": b.port})
    for svc, want in (("SSH", b"service-A\n"), ("HTTP", b"service-B\n"),
                      ("HTTP", b"service-B\n"), ("SSH", b"service-A\n")):
        s = tun.connect(svc)
        s.settimeout(scaled(5))
        got = b""
        while len(got) < len(want):
            chunk = s.recv(len(want) - len(got))
            if not chunk:
                break
            got += chunk
        expect(got == want, "service %s: banner %r, expected %r" % (svc, got, want))
        expect_echo(s, 1 * MiB, "service %s" % svc)
    tun.expect_alive()


@timeout(120)
def test_two_tunnels_one_relay(t):
    """Two tunnels on one relay are independent: closing one leaves the
    other's connection intact."""
    e1, e2 = t.echo(), t.echo()
    s1, s2 = t.spec("t1"), t.spec("t2")
    relay = t.relay([s1, s2])
    a = t.tunnel({"SSH": e1.port}, relay=relay, tid="t1")
    b = t.tunnel({"SSH": e2.port}, relay=relay, tid="t2")
    ca, cb = a.connect(), b.connect()
    expect_echo(ca, 1 * MiB, "tunnel 1")
    expect_echo(cb, 1 * MiB, "tunnel 2")
    expect(e1.accepted == 1 and e2.accepted == 1, "connections crossed tunnels")
    a.source.stop()
    a.dest.stop()
    time.sleep(0.5)
    expect(is_open(cb), "tunnel 2 connection closed when tunnel 1 went away")
    expect_echo(cb, 2 * MiB, "tunnel 2 after tunnel 1 went away")


@timeout(150)
def test_slow_reader_bounded_memory(t):
    """A client that stops reading: the writer must be throttled end to end
    (backpressure) instead of the proxies or relay buffering without bound;
    then every byte still arrives intact."""
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port})
    s = tun.connect()
    expect_echo(s, 1 * MiB, "warm-up")
    procs = [tun.source, tun.dest, tun.relay.proc]
    base = {p.name: rss_kib(p.pid) for p in procs}
    total = 96 * MiB
    import hashlib
    th = Writer(s, total, scaled(120))
    th.start()
    time.sleep(scaled(4))  # nobody reads meanwhile
    stalled_at = th.sent
    peak = {p.name: rss_kib(p.pid) for p in procs}
    t.note("writer stalled after %.1f MiB; rss KiB before %s, stalled %s" %
           (stalled_at / MiB, base, peak))
    expect(stalled_at < total, "all %d MiB were accepted with nobody reading: "
           "nothing pushes back" % (total // MiB))
    # Now read everything.
    h_recv = hashlib.sha256()
    got = 0
    deadline = time.monotonic() + scaled(120)
    while got < total and time.monotonic() < deadline:
        s.settimeout(scaled(20))  # a stall, not slowness
        try:
            b = s.recv(262144)
        except socket.timeout:
            break
        except OSError as e:
            fail("reading back: %r after %d of %d bytes" % (e, got, total))
        if not b:
            break
        h_recv.update(b)
        got += len(b)
    th.join(scaled(10))
    expect(got == total, "%d of %d bytes came back after the reader resumed" % (got, total))
    expect(not th.error, "writer failed: %s" % th.error)
    expect(th.hash.hexdigest() == h_recv.hexdigest(), "sha256 mismatch")
    expect_rss_flat(procs, base, peak, "while the reader was stalled")
    tun.expect_alive()


@timeout(120)
def test_ssh_through_tunnel(t):
    sshd_port, userkey = start_sshd(t)
    tun = t.tunnel({"SSH": sshd_port})
    data = os.urandom(2 * MiB)
    import hashlib
    want = hashlib.sha256(data).hexdigest()
    cmd = ["/usr/bin/ssh", "-p", str(tun.src_port), "-i", str(userkey),
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % scaled(10),
           "-o", "LogLevel=ERROR", "root@127.0.0.1", "echo tunnel-ok; sha256sum"]
    try:
        r = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=scaled(60))
    except subprocess.TimeoutExpired:
        fail("ssh through the tunnel did not finish within %.0fs" % scaled(60))
    out = r.stdout.decode(errors="replace")
    err = r.stderr.decode(errors="replace")
    expect(r.returncode == 0, "ssh exit code %d; stdout %r; stderr %r" % (r.returncode, out, err))
    lines = out.split("\n")
    expect(lines[0] == "tunnel-ok", "first line %r, expected 'tunnel-ok'" % lines[0])
    expect(len(lines) > 1 and lines[1].split()[:1] == [want],
           "remote sha256 %r, expected %s" % (lines[1:2], want))
    tun.expect_alive()


@timeout(60)
def test_tokens_not_readable_from_proc(t):
    # Both proxies got their token in the environment; once copied, it must
    # not stay readable in /proc/PID/environ (nor ever be in cmdline).
    tun = t.tunnel({"SSH": t.echo().port})
    for proc, token in ((tun.source, tun.spec.source_token),
                        (tun.dest, tun.spec.destination_token)):
        for what in ("environ", "cmdline"):
            data = open("/proc/%d/%s" % (proc.pid, what), "rb").read()
            expect(token.encode() not in data,
                   "%s: the access token is readable in /proc/PID/%s" % (proc.name, what))
    expect_echo(tun.connect(), 4096)
    tun.expect_alive()


@timeout(120)
def test_destination_restart_source_recovers(t):
    """The destination restarts (same client token): the source, told of
    each connection's end but keeping its stream, carries new connections
    to the new destination without restarting."""
    from harness import localproxy
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port}, start_destination=False)
    ct = {"AWSIOT_TUNNEL_CLIENT_TOKEN": "f" * 64}
    for round_ in range(3):
        dest = localproxy(t, "dest-%d" % round_, tun.dest_args(), tun.relay.port,
                          tun.spec.destination_token, env_extra=ct)
        dest.wait_log(READY, scaled(10))
        deadline = time.monotonic() + scaled(10)
        while True:  # the first try may still meet the old destination's reset
            s = tun.connect()
            try:
                expect_echo(s, 1 * MiB, "connection %d after destination start" % round_,
                            timeout=scaled(20))
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        held = tun.connect()
        expect_echo(held, 4096, "held connection %d" % round_)
        rc = dest.stop()
        expect(rc == 0, "destination: exit code %s after SIGTERM, expected 0" % rc)
        expect_closed(held, scaled(5), "held connection after its destination stopped")
        tun.source.expect_alive()
    tun.relay.proc.expect_alive()
    expect(tun.relay.proc.has_log(r"CONNECTION_START \(stream \d+, connection \d+\) as STREAM_START"),
           "the source's kept stream never reached a new destination as a STREAM_START")
