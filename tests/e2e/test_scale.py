"""The relay at scale (issue 13): a full descriptor table is a state the
relay reports once and leaves when clients go, never a spin."""

import os
import random
import resource
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor

from harness import TunnelSpec, expect, expect_eq, pki, scaled, timeout
import wsprobe
from wsprobe import DATA, SERVICE_IDS, STREAM_START, Msg

CLK_TCK = 100  # os.sysconf("SC_CLK_TCK") on Linux


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK  # utime + stime


def metric(relay, name):
    ctx = ssl.create_default_context(cafile=pki().ca)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=scaled(5)) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            body = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                body += b
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    return None


# fd_limit.h: FD_HEADROOM 32 (the count includes lws's wake-up pipe).
NOFILE = 80
CAPACITY = NOFILE - 32 - 1


@timeout(120)
def test_full_is_a_state_not_a_spin(t):
    specs = [TunnelSpec(t, "t%d" % i) for i in range(40)]
    relay = t.relay(specs, prefix=["prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE), "--"])
    relay.proc.wait_log(r"descriptor limit: %d \(soft" % NOFILE, scaled(5))
    admitted, refused_at = [], None
    for spec in specs:
        for mode in ("source", "destination"):
            try:
                w = wsprobe.WS.connect(relay.port, pki().ca, token=spec.token(mode),
                                       path="/tunnel?local-proxy-mode=%s" % mode,
                                       timeout=scaled(2))
            except (wsprobe.ProbeError, OSError):
                refused_at = (spec, mode)
                break
            expect_eq(w.status, 101, "upgrade %s %s" % (spec.id, mode))
            admitted.append(w)
        if refused_at:
            break
    expect(refused_at is not None, "all %d connections admitted under a limit of %d descriptors"
           % (len(admitted), NOFILE))
    expect(CAPACITY - 4 <= len(admitted) <= CAPACITY + 2,
           "admitted %d connections, expected about %d" % (len(admitted), CAPACITY))
    # More clients knock while the relay is full: closed on arrival.
    waiting = [socket.create_connection(("127.0.0.1", relay.port), timeout=5) for _ in range(20)]
    relay.proc.wait_log(r"WARN.*full: \d+ connections open", scaled(5))
    before, t0 = cpu_seconds(relay.proc.pid), time.monotonic()
    time.sleep(3)
    used = (cpu_seconds(relay.proc.pid) - before) / (time.monotonic() - t0)
    expect(used < 0.05, "relay used %.0f%% of a core while full" % (100 * used))
    expect_eq(len([ln for ln in relay.proc.log().splitlines() if "full:" in ln]), 1,
              "WARN lines about being full")
    # Clients leave: the relay accepts again and serves the one refused.
    for s in waiting:
        s.close()
    for w in admitted[:10]:
        w.close()
    relay.proc.wait_log(r"accepting again", scaled(10))
    spec, mode = refused_at
    w = wsprobe.WS.connect(relay.port, pki().ca, token=spec.token(mode),
                           path="/tunnel?local-proxy-mode=%s" % mode, timeout=scaled(5))
    expect_eq(w.status, 101, "upgrade after clients left")
    w.close()
    expect_eq(metric(relay, "tunnel_relay_full_total"), 1, "tunnel_relay_full_total")
    for w in admitted[10:]:
        w.close()



SCALE_TUNNELS = 500
DATA_TUNNELS = 20


def next_msg(w, timeout_s):
    deadline = time.monotonic() + timeout_s
    while True:
        m = w.recv_msg(max(0.0, deadline - time.monotonic()))
        if m.type != SERVICE_IDS:
            return m


@timeout(180)
def test_500_tunnels_both_ends_20_carry_data(t):
    """500 tunnels, both ends connected (1000 TLS WebSockets on one relay),
    then 20 random ones each carry 64 KiB one way, byte for byte."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * SCALE_TUNNELS + 64
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    specs = [TunnelSpec(t, "s%d" % i) for i in range(SCALE_TUNNELS)]
    relay = t.relay(specs)

    def open_end(job):
        spec, mode = job
        w = wsprobe.WS.connect(relay.port, pki().ca, token=spec.token(mode),
                               path="/tunnel?local-proxy-mode=%s" % mode, timeout=scaled(20))
        return w

    jobs = [(s, m) for s in specs for m in ("destination", "source")]
    with ThreadPoolExecutor(8) as pool:
        ends = list(pool.map(open_end, jobs))
    for w in ends:
        t.defer(w.close)
    bad = [(j[0].id, j[1], w.status) for j, w in zip(jobs, ends) if w.status != 101]
    expect(not bad, "%d of %d ends refused, e.g. %r" % (len(bad), len(ends), bad[:3]))
    by_tunnel = {j[0].id: {} for j in jobs}
    for (spec, mode), w in zip(jobs, ends):
        by_tunnel[spec.id][mode] = w
    for tid in random.sample(sorted(by_tunnel), DATA_TUNNELS):
        src, dst = by_tunnel[tid]["source"], by_tunnel[tid]["destination"]
        blob = os.urandom(64 * 1024)
        src.send_msgs(Msg(type=STREAM_START, stream_id=1, service_id="SSH", connection_id=1))
        m = next_msg(dst, scaled(10))
        expect(m.type == STREAM_START, "tunnel %s: destination got %r, not STREAM_START" % (tid, m))
        chunks = [blob[i:i + 16384] for i in range(0, len(blob), 16384)]
        src.send_msgs(*[Msg(type=DATA, stream_id=1, service_id="SSH", connection_id=1, payload=c)
                        for c in chunks])
        got = b""
        while len(got) < len(blob):
            m = next_msg(dst, scaled(10))
            expect(m.type == DATA, "tunnel %s: destination got %r, not DATA" % (tid, m))
            got += m.payload
        expect(got == blob, "tunnel %s: the 64 KiB arrived altered" % tid)
    relay.proc.expect_alive("after 500 tunnels")


@timeout(90)
def test_keep_closed_then_purged(t):
    """Closed tunnels stay listed for --keep-closed, then leave memory and
    the database; open ones and recently closed ones stay."""
    import sqlite3
    from test_api import ApiRelay
    relay = ApiRelay(t)
    ids = [relay.open()["tunnelId"] for _ in range(4)]
    old, soon, recent, still_open = ids
    for tid in (old, soon, recent):
        relay.delete(tid)
    relay.stop_term()
    now = int(time.time())
    with sqlite3.connect(relay.db) as db:   # as if closed a while ago
        db.execute("UPDATE tunnels SET closed_at = ? WHERE id = ?", (now - 1000, old))
        db.execute("UPDATE tunnels SET closed_at = ? WHERE id = ?", (now - 27, soon))
    db.close()
    relay.extra_args = ["--keep-closed", "30s"]
    relay.start()
    relay.proc.wait_log(r"tunnel %s: closed \d+ s ago; purged" % old, scaled(5))
    relay.call("GET", "/api/v1/tunnels/%s" % old, want=404)
    expect_eq(relay.describe(soon)["status"], "CLOSED", "a tunnel closed 27 s ago")
    relay.proc.wait_log(r"tunnel %s: closed \d+ s ago; purged" % soon, scaled(10))
    relay.call("GET", "/api/v1/tunnels/%s" % soon, want=404)
    expect_eq(relay.describe(recent)["status"], "CLOSED", "a tunnel closed just now")
    expect_eq(relay.describe(still_open)["status"], "OPEN", "an open tunnel")
    relay.stop_term()
    with sqlite3.connect(relay.db) as db:
        rows = {r[0] for r in db.execute("SELECT id FROM tunnels")}
    db.close()
    expect_eq(rows, {recent, still_open}, "tunnels left in the database")
