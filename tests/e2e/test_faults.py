"""Faults and recovery: the relay killed and restarted, the broker killed
and restarted, a destination service down then up, a slow and lossy path,
a frozen destination localproxy, and a path that dies without any socket
closing. Each test checks that bytes arrive intact (sha256) or that the
failure is the documented one; deadlines are generous, speed is never
asserted.

The lossy and dead paths are real packets: two network namespaces made by
the test, joined by lossy_link.py, a forwarder between two TUN devices that
drops and delays IP packets. Those tests need root and /dev/net/tun, and
skip (with the reason) without them.
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import harness
from harness import (MiB, READY, TunnelSpec, binary, child_env, connect, expect,
                     expect_closed, expect_echo, expect_rss_flat, fail, free_port, pki, rss_kib, scaled,
                     skip, timeout, wait_until)
from lossy_link import enter_netns, setns_fd
from test_agent import SUBSCRIBED, AgentRig, through_retry
from test_api import ApiRelay, tunnel_with_proxies

# common/tcp_liveness.h: TCP_LIVENESS_SECONDS, plus localproxy's 20 s
# polling cadence (its ping timer) and the relay's 5 s one.
LIVENESS_S = 45
DEAD_PATH_DEADLINE_S = 90


# --------------------------------------------------------------------------
# a slow, lossy (or dead) path between two network namespaces
# --------------------------------------------------------------------------

EDGE_ADDR, RELAY_ADDR = "10.201.0.1", "10.201.0.2"


def _ip(*args):
    r = subprocess.run(["ip"] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    return r.returncode, r.stdout.decode(errors="replace").strip()


class LossyPath:
    """Namespace "edge" (this test process moves into it: the localproxies,
    the echo service and the test's own sockets live there, on its
    loopback) and namespace "relay" (the relay, started through `ip netns
    exec`), joined by TUN devices and lossy_link.py. Both relay legs cross
    it. Everything is removed at teardown."""

    def __init__(self, t, loss, delay_ms):
        self.t = t
        if os.geteuid() != 0:
            skip("network namespaces need root")
        if not os.path.exists("/dev/net/tun"):
            skip("no /dev/net/tun")
        tag = "e2ef%d" % os.getpid()
        self.edge, self.relay_ns = tag + "e", tag + "r"
        for ns in (self.edge, self.relay_ns):
            rc, out = _ip("netns", "add", ns)
            if rc != 0:
                skip("cannot make a network namespace (ip netns add: %s)" % out)
            t.defer(_ip, "netns", "del", ns)
        for ns, addr in ((self.edge, EDGE_ADDR), (self.relay_ns, RELAY_ADDR)):
            for cmd in (["tuntap", "add", "dev", "ftun", "mode", "tun"],
                        ["link", "set", "lo", "up"],
                        ["addr", "add", addr + "/30", "dev", "ftun"],
                        ["link", "set", "ftun", "up"]):
                rc, out = _ip("-n", ns, *cmd)
                if rc != 0:
                    fail("ip -n %s %s: %s" % (ns, " ".join(cmd), out))
        self.fwd = t.spawn("lossy-link", [sys.executable, str(harness.HERE / "lossy_link.py"),
                                          self.edge, "ftun", self.relay_ns, "ftun",
                                          loss, delay_ms, random.randrange(1 << 30)])
        self.fwd.wait_log(r"^forwarding ", scaled(10))
        # Into the edge namespace; back out at teardown, after everything
        # started later has stopped (cleanups run last registered first), and
        # before the forwarder stops and the namespaces are deleted.
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        t.defer(self._go_home, home)
        enter_netns(self.edge)

    @staticmethod
    def _go_home(fd):
        try:
            setns_fd(fd)
        finally:
            os.close(fd)

    def kill_path(self):
        self.fwd.popen.send_signal(signal.SIGUSR1)

    def heal_path(self):
        self.fwd.popen.send_signal(signal.SIGUSR2)

    def start_relay(self, spec, name="relay"):
        """The relay in the relay namespace, listening on its TUN address."""
        port = 4443
        tf = self.t.tmp / ("%s-tunnels.json" % name)
        tf.write_text(json.dumps({"tunnels": [spec.json()]}))
        p = pki()
        proc = self.t.spawn(name, ["ip", "netns", "exec", self.relay_ns, binary("tunnel-relay"),
                                   "--bind", RELAY_ADDR, "--port", port, "--cert", p.cert,
                                   "--key", p.key, "--tunnels", tf])
        proc.wait_log(r"listening on %s:%d\b" % (RELAY_ADDR.replace(".", r"\."), port),
                      scaled(10))
        return proc, port

    def proxy(self, name, mode_args, port, token):
        """A localproxy in the edge namespace. -k: the development
        certificate names 127.0.0.1, not the relay's namespace address; the
        TLS checks are test_tunnel's business, not this one's."""
        argv = [binary("localproxy")] + list(mode_args) + [
            "-e", "%s:%d" % (RELAY_ADDR, port), "-k"]
        return self.t.spawn(name, argv, env=child_env({"AWSIOT_TUNNEL_ACCESS_TOKEN": token},
                                                      home=self.t.tmp))


def lossy_tunnel(t, loss, delay_ms):
    path = LossyPath(t, loss, delay_ms)
    echo = t.echo()   # in the edge namespace: LossyPath moved us there
    spec = TunnelSpec(t, "t1")
    relay, port = path.start_relay(spec)
    dest = path.proxy("dest", ["-d", "127.0.0.1:%d" % echo.port], port, spec.destination_token)
    src_port = free_port()
    src = path.proxy("source", ["-s", str(src_port), "-b", "127.0.0.1"], port, spec.source_token)
    dest.wait_log(READY, scaled(30), what="destination ready over the lossy path")
    src.wait_log(READY, scaled(30), what="source ready over the lossy path")
    return path, echo, relay, dest, src, src_port


def parallel_echo(t, port, n, nbytes, what, deadline):
    """n connections, each pumping nbytes through and checking the echo."""
    errs = []

    def one(i):
        try:
            s = connect(port, scaled(10))
            t.defer(s.close)
            expect_echo(s, nbytes, "%s %d" % (what, i + 1), timeout=deadline)
        except AssertionError as e:
            errs.append(str(e))
        except OSError as e:
            errs.append("%s %d: %r" % (what, i + 1, e))

    ths = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(deadline + 10)
    expect(not errs, "; ".join(errs))


# ==========================================================================

@timeout(150)
def test_relay_sigkill_mid_transfer_same_db(t):
    """The relay dies (SIGKILL) in the middle of a transfer and comes back on
    the same port and SQLite database: both localproxies reconnect by
    themselves (their client tokens make the used tokens valid again) and
    new connections carry data intact."""
    relay = ApiRelay(t, verbose=5)
    j, echo, dest, src, src_port = tunnel_with_proxies(t, relay)
    s = connect(src_port, scaled(5))
    t.defer(s.close)
    result = {}
    th = threading.Thread(target=lambda: result.update(
        r=harness.pump(s, 256 * MiB, timeout=scaled(60), stall=scaled(10))), daemon=True)
    th.start()
    wait_until(lambda: echo.accepted >= 1, scaled(10), "the transfer to reach the service")
    time.sleep(1.0)
    dmark, smark = dest.mark(), src.mark()
    relay.proc.kill()
    t0 = time.monotonic()
    th.join(scaled(30))
    expect("r" in result, "the transfer cut by the relay's death did not end")
    got = result["r"][2]
    expect(0 < got < 256 * MiB, "%d bytes came back through a relay killed mid-transfer" % got)
    time.sleep(1.0)
    relay.start()
    dest.wait_log(READY, scaled(45), since=dmark, what="destination reconnect after SIGKILL")
    src.wait_log(READY, scaled(45), since=smark, what="source reconnect after SIGKILL")
    t.note("killed after %.1f MiB; both proxies ready again %.1fs after the kill" %
           (got / MiB, time.monotonic() - t0))
    through_retry(t, src_port, 8 * MiB, "connection after the relay's restart", within=10)
    s3 = connect(src_port, scaled(5))
    t.defer(s3.close)
    expect_echo(s3, 4 * MiB, "second connection after the restart")
    for p in (dest, src, relay.proc):
        p.expect_alive()


@timeout(120)
def test_broker_sigkill_restart_agent_reachable(t):
    """mosquitto killed (SIGKILL) and restarted while the agent is
    connected: a tunnel opened afterwards through the API reaches the
    device; the agent starts its destination and data flows."""
    rig = AgentRig(t)
    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    rig.broker.proc.kill()
    t0 = time.monotonic()
    rig.broker.start()
    m = rig.agent.wait_log(r"reconnected to broker", scaled(40), since=amark,
                           what="the agent reconnecting after the broker's SIGKILL")
    rig.agent.wait_log(SUBSCRIBED, scaled(15), since=amark + m.end(),
                       what="the agent resubscribing")
    rig.relay.proc.wait_log(r"MQTT: (connected to broker|connection to broker .* restored)",
                            scaled(40), since=rmark, what="the relay reconnecting")
    t.note("agent and relay back on the broker %.1fs after its SIGKILL" %
           (time.monotonic() - t0))
    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    j = rig.open()
    rig.wait_started(j["tunnelId"], amark, "localproxy after the broker's SIGKILL")
    rig.wait_dest_connected(j["tunnelId"], rmark, "destination after the broker's SIGKILL")
    src_port = free_port()
    rig.relay.source_proxy(j["sourceAccessToken"], src_port)
    through_retry(t, src_port, 2 * MiB, "tunnel opened after the broker's SIGKILL")
    rig.agent.expect_alive()


@timeout(90)
def test_destination_service_down_then_up(t):
    """The service behind the destination goes away: a connection to it is
    closed promptly, the tunnel stays up, and once the service is back a
    new connection works."""
    echo = t.echo()
    port = echo.port
    tun = t.tunnel({"SSH": port})
    s = tun.connect()
    expect_echo(s, 1 * MiB, "connection while the service is up")
    echo.stop()   # closes its listener and its connections
    how = expect_closed(s, scaled(5), "connection whose service went away")
    for i in range(2):
        s = tun.connect()
        t0 = time.monotonic()
        how = expect_closed(s, scaled(5), "connection %d while the service is down" % (i + 1))
        t.note("service down: closed after %.2fs (%s)" % (time.monotonic() - t0, how))
    tun.expect_alive()
    t.echo(port=port)
    s = tun.connect()
    expect_echo(s, 4 * MiB, "connection after the service came back")
    tun.expect_alive()


@timeout(180)
def test_lossy_slow_path_ten_transfers(t):
    """3% of the packets lost and 20 ms added each way on both relay legs
    (real packets, lossy_link.py): 10 parallel transfers arrive intact."""
    path, echo, relay, dest, src, src_port = lossy_tunnel(t, "0.03", "20")
    t0 = time.monotonic()
    parallel_echo(t, src_port, 10, 1 * MiB, "lossy-path transfer", scaled(120))
    t.note("10 x 1 MiB echoed over the lossy path in %.1fs" % (time.monotonic() - t0))
    for p in (relay, dest, src):
        p.expect_alive()
    expect(echo.accepted == 10, "the service saw %d connections, expected 10" % echo.accepted)


@timeout(180)
def test_destination_frozen_one_minute(t):
    """The destination localproxy is stopped (SIGSTOP) for a minute under
    load: backpressure holds the relay's and the source's memory flat, no
    side takes the frozen (but ACKing) peer for a dead path, and after
    SIGCONT every byte arrives intact."""
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port})
    s = tun.connect()
    expect_echo(s, 1 * MiB, "warm-up")
    watch = [tun.relay.proc, tun.source]
    base = {p.name: rss_kib(p.pid) for p in watch}
    marks = {p.name: p.mark() for p in watch + [tun.dest]}
    total = 96 * MiB
    h_recv = hashlib.sha256()
    got, errs = [0], []
    wt = harness.Writer(s, total, scaled(150))

    def reader():
        try:
            s.settimeout(scaled(150))
            while got[0] < total:
                b = s.recv(262144)
                if not b:
                    errs.append("reader: EOF after %d bytes" % got[0])
                    return
                h_recv.update(b)
                got[0] += len(b)
        except OSError as e:
            errs.append("reader: %r after %d bytes" % (e, got[0]))

    rt = threading.Thread(target=reader, daemon=True)
    wt.start()
    rt.start()
    wait_until(lambda: got[0] >= 4 * MiB, scaled(30), "4 MiB to flow before the freeze")
    tun.dest.popen.send_signal(signal.SIGSTOP)
    t.defer(lambda: tun.dest.popen.poll() is None and tun.dest.popen.send_signal(signal.SIGCONT))
    frozen_at = wt.sent
    peak = dict(base)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:   # longer than TCP_LIVENESS_SECONDS on purpose
        for p in watch:
            r = rss_kib(p.pid)
            if r and (peak[p.name] is None or r > peak[p.name]):
                peak[p.name] = r
        time.sleep(1.0)
    during = wt.sent - frozen_at
    tun.dest.popen.send_signal(signal.SIGCONT)
    wt.join(scaled(120))
    rt.join(scaled(120))
    t.note("frozen 60s: the writer got %.1f MiB in meanwhile; rss KiB before %s, peak %s" %
           (during / MiB, base, peak))
    expect(not errs and not wt.error, "; ".join(errs + [wt.error or ""]))
    expect(got[0] == total, "%d of %d bytes came back after SIGCONT" % (got[0], total))
    expect(wt.hash.hexdigest() == h_recv.hexdigest(), "sha256 of sent != received")
    # The kernel's socket buffers on the way (autotuned, several MiB each)
    # take some; the programs must take nothing more.
    expect(frozen_at + during < total, "all %d MiB were accepted while the destination was "
           "frozen: nothing pushes back" % (total // MiB))
    expect_rss_flat(watch, base, peak, "while the destination was frozen")
    for p in watch + [tun.dest]:
        expect(not p.has_log(r"dead path|disconnected", since=marks[p.name]),
               "%s took the frozen destination for a dead path:\n%s" % (p.name, p.tail(10)))
    tun.expect_alive()


@timeout(240)
def test_dead_path_noticed(t):
    """The path under both relay connections goes silent (the forwarder
    drops every packet; no socket is closed): localproxy notices within
    about a minute, logs it and reconnects; the relay drops its peers; once
    the path heals the tunnel carries data again."""
    path, echo, relay, dest, src, src_port = lossy_tunnel(t, "0", "5")
    s = connect(src_port, scaled(5))
    t.defer(s.close)
    expect_echo(s, 1 * MiB, "connection before the path died")
    # Keep data outstanding on every leg: a transfer that cannot finish.
    th = threading.Thread(target=harness.pump, args=(s, 512 * MiB),
                          kwargs={"timeout": scaled(200), "stall": scaled(200)}, daemon=True)
    th.start()
    time.sleep(1.0)
    smark, dmark, rmark = src.mark(), dest.mark(), relay.mark()
    path.kill_path()
    t0 = time.monotonic()
    limit = scaled(DEAD_PATH_DEADLINE_S)
    src.wait_log(r"disconnected from the relay: .*dead path", limit, since=smark,
                 what="the source noticing the dead path")
    t_src = time.monotonic() - t0
    dest.wait_log(r"disconnected from the relay: .*dead path", limit - t_src, since=dmark,
                  what="the destination noticing the dead path")
    t_dest = time.monotonic() - t0
    relay.wait_log(r"dead path; dropping", max(5.0, limit - t_dest), since=rmark,
                   what="the relay dropping a peer on the dead path")
    t_relay = time.monotonic() - t0
    t.note("dead path noticed after: source %.1fs, destination %.1fs, relay %.1fs" %
           (t_src, t_dest, t_relay))
    expect(t_src >= LIVENESS_S - 5, "the source gave up after %.1fs, before the %d s of silence"
           % (t_src, LIVENESS_S))
    src.wait_log(r"reconnecting to the relay", scaled(10), since=smark)
    path.heal_path()
    t1 = time.monotonic()
    src.wait_log(READY, scaled(60), since=smark, what="the source back after the path healed")
    dest.wait_log(READY, scaled(60), since=dmark, what="the destination back")
    t.note("both proxies ready %.1fs after the path healed" % (time.monotonic() - t1))
    through_retry(t, src_port, 1 * MiB, "connection after the path healed", within=20)
    for p in (relay, dest, src):
        p.expect_alive()
