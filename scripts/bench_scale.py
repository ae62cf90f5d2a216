#!/usr/bin/env python3
"""bench_scale.py - how the relay scales with idle tunnels: admission,
memory, idle CPU, start-up, and whether tunnels still carry data.

    python3 scripts/bench_scale.py                      (N = 1000,5000; the relay as built)
    python3 scripts/bench_scale.py --tunnels 1000 --idle 20
    python3 scripts/bench_scale.py --doc                (make bench-scale: also docs/benchmarks.md)

For each backend and each N it: writes an SQLite database of N tunnels
(the relay's --db schema; tokens are only ever stored hashed), starts
tunnel-relay on 127.0.0.1 and times its start-up, starts client worker
processes (this script with --worker: asyncio + ssl, tokens passed on stdin,
never argv) that open both ends of every tunnel as real TLS WebSocket
clients (access-token header, subprotocol aws.iot.securetunneling-3.0,
?local-proxy-mode=...) and ping every --ping seconds like localproxy, then
measures from /proc/PID: relay CPU (utime+stime) per admitted connection,
RssAnon per tunnel, CPU% while idle with pings, and finally sends DATA one
way through 20 random tunnels and checks it arrives byte for byte.

Backends: "built" runs --relay as it is (since issue 13: lws on a libev loop
of the relay's own; the "loop seen" column reads /proc/PID/maps). "uv", "ev"
and "glib" run --evlib-relay, a relay of the tree before issue 13 built with
scripts/experiments/relay-evlib.patch, with TUNNEL_RELAY_EVLIB set (the
measurements of docs/event-loops.md).

--doc writes the table into docs/benchmarks.md under its own heading
(replacing that section only; scripts/bench.py keeps it when it rewrites
the file).

--per-message also runs the 64-byte round trip and relay CPU per GB of one
transfer through a localproxy pair (borrowing scripts/bench.py's pieces).

Everything runs on 127.0.0.1, every wait has a deadline, and every process
started is stopped at the end, also on failure or Ctrl-C.
Python 3 standard library only.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import wsprobe  # noqa: E402  (tunnel Message encoding, shared with the e2e tests)
sys.path.insert(0, str(ROOT / "scripts"))
import bench  # noqa: E402  (scripts/bench.py: its echo/sink server and latency probe)

CLK_TCK = os.sysconf("SC_CLK_TCK")
SUBPROTOCOL = "aws.iot.securetunneling-3.0"
SERVICE = "SSH"
DATA_TUNNELS = 20
DATA_BYTES = 64 * 1024
FD_HEADROOM = 64


class ScaleError(Exception):
    pass


def say(msg):
    print("bench-scale: " + msg, file=sys.stderr, flush=True)


# ============================================================================
# the client worker (runs as `bench_scale.py --worker`)
# ============================================================================

def ws_frame(opcode, payload):
    """A masked client frame."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    masked = (int.from_bytes(payload, "little") ^ k).to_bytes(n, "little") if n else b""
    return head + key + masked


class Peer:
    """One end of a tunnel: a TLS WebSocket to the relay."""

    def __init__(self, tunnel, side):
        self.tunnel, self.side = tunnel, side
        self.reader = self.writer = None
        self.open = False
        self.frames = wsprobe.FrameReader()
        self.data = bytearray()       # DATA payloads received
        self.got_data = None          # asyncio.Event, set when DATA arrives

    async def connect(self, port, ctx, token, timeout):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1"),
            timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET /tunnel?local-proxy-mode=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n"
               "access-token: %s\r\n\r\n" % (self.side, port, key, SUBPROTOCOL, token))
        self.writer.write(req.encode())
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ScaleError("handshake answered %r" % status.decode(errors="replace"))
        self.open = True

    async def read_loop(self):
        r = self.reader
        try:
            while True:
                h = await r.readexactly(2)
                op, n = h[0] & 0x0F, h[1] & 0x7F
                if n == 126:
                    n = struct.unpack("!H", await r.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", await r.readexactly(8))[0]
                payload = await r.readexactly(n) if n else b""
                if op == wsprobe.OP_PING:
                    self.writer.write(ws_frame(wsprobe.OP_PONG, payload))
                elif op == wsprobe.OP_CLOSE:
                    break
                elif op in (wsprobe.OP_BINARY, wsprobe.OP_CONT) and self.got_data is not None:
                    self.take(payload)
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        self.open = False

    def take(self, payload):
        self.frames.feed(payload)
        while True:
            body = self.frames.next_body()
            if body is None:
                return
            m = wsprobe.Msg.decode(body)
            if m.type == wsprobe.DATA:
                self.data += m.payload
                if len(self.data) >= DATA_BYTES:
                    self.got_data.set()

    def send_msgs(self, *msgs):
        self.writer.write(ws_frame(wsprobe.OP_BINARY, wsprobe.frames(*msgs)))


async def worker_main_async():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 << 20)   # the first line holds every token
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def out(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    cfg = json.loads(await reader.readline())
    ctx = ssl.create_default_context(cafile=cfg["ca"])
    tunnels = cfg["tunnels"]           # [[source token, destination token], ...]
    peers = []
    tasks = []
    errors = []
    sem = asyncio.Semaphore(cfg["concurrency"])

    async def open_peer(i, side, token):
        p = Peer(i, side)
        async with sem:
            try:
                await p.connect(cfg["port"], ctx, token, cfg["timeout"])
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError, ssl.SSLError, ScaleError) as e:
                if len(errors) < 5:
                    errors.append("%s: %s" % (type(e).__name__, e))
                return None
        tasks.append(asyncio.ensure_future(p.read_loop()))
        return p

    t0 = time.monotonic()
    pairs = await asyncio.gather(*(asyncio.gather(open_peer(i, "destination", d),
                                                  open_peer(i, "source", s))
                                   for i, (s, d) in enumerate(tunnels)))
    peers = [p for pair in pairs for p in pair if p]
    out({"ev": "connected", "ok": len(peers), "want": 2 * len(tunnels),
         "seconds": time.monotonic() - t0, "errors": errors})

    async def pinger():
        # Spread the pings over the interval, as independent localproxies would.
        interval = cfg["ping"]
        while True:
            live = [p for p in peers if p.open]
            gap = interval / max(1, len(live))
            for p in live:
                if p.open:
                    p.writer.write(ws_frame(wsprobe.OP_PING, b"bench"))
                await asyncio.sleep(gap)
            if not live:
                await asyncio.sleep(interval)

    ping_task = asyncio.ensure_future(pinger())

    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        if cmd["cmd"] == "data":
            out(await data_check(pairs, cmd["idx"], cfg["timeout"]))
        elif cmd["cmd"] == "count":
            out({"ev": "count", "open": sum(p.open for p in peers)})
        elif cmd["cmd"] == "stop":
            break
    ping_task.cancel()
    for p in peers:
        p.writer.close()
    out({"ev": "bye"})


async def data_check(pairs, idx, timeout):
    """DATA_BYTES one way (source to destination) through each tunnel in idx."""
    ok, bad = 0, []
    payload = os.urandom(DATA_BYTES)
    for i in idx:
        dst, src = pairs[i]
        if not (dst and src and dst.open and src.open):
            bad.append("tunnel %d: not connected" % i)
            continue
        dst.data.clear()
        dst.got_data = asyncio.Event()
        start = wsprobe.Msg(type=wsprobe.STREAM_START, stream_id=1, service_id=SERVICE,
                            connection_id=1)
        src.send_msgs(start)
        chunk = 16 * 1024
        for off in range(0, DATA_BYTES, chunk):
            src.send_msgs(wsprobe.Msg(type=wsprobe.DATA, stream_id=1, connection_id=1,
                                      service_id=SERVICE, payload=payload[off:off + chunk]))
        try:
            await asyncio.wait_for(dst.got_data.wait(), timeout)
        except asyncio.TimeoutError:
            bad.append("tunnel %d: %d of %d bytes arrived" % (i, len(dst.data), DATA_BYTES))
            continue
        if bytes(dst.data[:DATA_BYTES]) == payload:
            ok += 1
        else:
            bad.append("tunnel %d: the bytes differ" % i)
    return {"ev": "data", "ok": ok, "bad": bad}


def worker_main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(worker_main_async())


# ============================================================================
# measuring a process
# ============================================================================

def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime + stime


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


# ============================================================================
# the database, the relay, the workers
# ============================================================================

def make_pki(tmp):
    d = tmp / "pki"
    r = subprocess.run(["bash", str(ROOT / "certs" / "mkpki.sh"), "-o", str(d)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    if r.returncode:
        raise ScaleError("certs/mkpki.sh failed:\n" + r.stdout.decode(errors="replace"))
    return d


def make_db(path, n):
    """N open tunnels in the relay's schema (relay/store.c, version 1);
    returns their [source token, destination token] pairs."""
    tokens = [[secrets.token_urlsafe(24), secrets.token_urlsafe(24)] for _ in range(n)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    db = sqlite3.connect(str(path))
    db.executescript("""
        PRAGMA journal_mode=WAL;
        CREATE TABLE tunnels (id TEXT PRIMARY KEY, thing TEXT NOT NULL,
          description TEXT NOT NULL, services TEXT NOT NULL,
          lifetime_minutes INTEGER NOT NULL, created_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL, closed_at INTEGER NOT NULL,
          source_token_hash BLOB NOT NULL, source_used INTEGER NOT NULL,
          source_client_token TEXT, destination_token_hash BLOB NOT NULL,
          destination_used INTEGER NOT NULL, destination_client_token TEXT,
          source_changed_at INTEGER NOT NULL, destination_changed_at INTEGER NOT NULL);
        CREATE INDEX tunnels_thing ON tunnels(thing);
        PRAGMA user_version = 1;""")
    now = int(time.time())
    h = lambda t: hashlib.sha256(t.encode()).digest()  # noqa: E731
    db.executemany("INSERT INTO tunnels VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (("scale-%06d" % i, "thing-%d" % i, "", json.dumps([SERVICE]), 720, now,
                     0, 0, h(s), 0, None, h(d), 0, None, 0, 0)
                    for i, (s, d) in enumerate(tokens)))
    db.commit()
    db.close()
    return tokens


class Proc:
    def __init__(self, argv, log, env=None, stdin=subprocess.DEVNULL, stdout=None):
        self.log_path = log
        self.logf = open(log, "wb")
        self.p = subprocess.Popen([str(a) for a in argv], stdin=stdin,
                                  stdout=stdout or self.logf, stderr=self.logf,
                                  env=env, start_new_session=True)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    def stop(self, grace=3.0):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.p.kill()   # lws's own uv/ev loop ignores our SIGTERM flag
                self.p.wait(5)
        self.logf.close()


def start_relay(args, backend, tmp, db, n):
    env = dict(os.environ)
    env.pop("TUNNEL_RELAY_EVLIB", None)
    binary = args.relay
    if backend != "built":
        binary = args.evlib_relay
        env["TUNNEL_RELAY_EVLIB"] = backend
    port = bench.free_port()
    t0 = time.monotonic()
    relay = Proc([binary, "--bind", "127.0.0.1", "--port", port, "--cert", tmp / "pki/relay.pem",
                  "--key", tmp / "pki/relay.key", "--db", db, "-v", "3" if n > 100 else "4"],
                 tmp / ("relay-%s-%d.log" % (backend, n)), env=env)
    deadline = t0 + 60
    while True:
        if not relay.alive():
            raise ScaleError("the relay exited:\n" + relay.log()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            relay.stop()
            raise ScaleError("the relay did not listen within 60 s")
        time.sleep(0.01)
    return relay, port, time.monotonic() - t0


class Worker:
    def __init__(self, tmp, k, cfg):
        self.proc = Proc([sys.executable, Path(__file__).resolve(), "--worker"],
                         tmp / ("worker-%d.log" % k), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
        self.send(cfg)

    def send(self, obj):
        self.proc.p.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.p.stdin.flush()

    def recv(self, timeout):
        import select
        r, _, _ = select.select([self.proc.p.stdout], [], [], timeout)
        line = self.proc.p.stdout.readline() if r else b""
        if not line:
            raise ScaleError("a client worker did not answer (waited at most %.0f s):\n%s" %
                             (timeout, self.proc.log()[-1500:]))
        return json.loads(line)


# ============================================================================
# one run: a backend, N tunnels
# ============================================================================

def run_one(args, tmp, backend, n):
    R = {"backend": backend, "n": n}
    db = tmp / ("tunnels-%s-%d.db" % (backend, n))
    say("%s, %d tunnels: writing the database" % (backend, n))
    tokens = make_db(db, n)
    relay, port, R["startup"] = start_relay(args, backend, tmp, db, n)
    workers = []
    try:
        time.sleep(0.5)
        R["rss0"] = status_kib(relay.pid, "RssAnon")
        with open("/proc/%d/maps" % relay.pid) as f:   # proof that lws loaded the plugin
            maps = f.read()
        R["loop"] = next(("evlib " + b for b in ("ev", "uv", "glib") if "evlib_" + b in maps),
                         "poll()")
        say("%s: started in %.2f s, RssAnon %d KiB; connecting %d clients over %d workers" %
            (backend, R["startup"], R["rss0"], 2 * n, args.workers))
        cpu0, t0 = cpu_seconds(relay.pid), time.monotonic()
        share = [tokens[k::args.workers] for k in range(args.workers)]
        owner = [(i % args.workers, i // args.workers) for i in range(n)]
        for k in range(args.workers):
            workers.append(Worker(tmp, k, {"ca": str(tmp / "pki/ca.pem"), "port": port,
                                           "tunnels": share[k], "ping": args.ping,
                                           "concurrency": args.concurrency,
                                           "timeout": 20}))
        budget = 60 + n * 0.05
        done = [w.recv(budget) for w in workers]
        # The rate counts from the workers' first handshake, not their start-up.
        R["admit_wall"] = max(d["seconds"] for d in done)
        R["admit_cpu"] = cpu_seconds(relay.pid) - cpu0
        R["admitted"] = sum(d["ok"] for d in done)
        R["errors"] = [e for d in done for e in d["errors"]][:3]
        R["rate"] = R["admitted"] / R["admit_wall"]
        time.sleep(2)   # let the last SERVICE_IDS go out
        R["rss1"] = status_kib(relay.pid, "RssAnon")
        say("%s: %d of %d connections admitted in %.1f s (%.0f/s), relay CPU %.1f s" %
            (backend, R["admitted"], 2 * n, R["admit_wall"], R["rate"], R["admit_cpu"]))
        if R["errors"]:
            say("%s: e.g. %s" % (backend, "; ".join(R["errors"])))

        say("%s: idle for %d s with pings every %d s" % (backend, args.idle, args.ping))
        cpu0, t0 = cpu_seconds(relay.pid), time.monotonic()
        time.sleep(args.idle)
        R["idle_cpu"] = 100 * (cpu_seconds(relay.pid) - cpu0) / (time.monotonic() - t0)
        R["rss_idle"] = status_kib(relay.pid, "RssAnon")
        for w in workers:
            w.send({"cmd": "count"})
        R["still_open"] = sum(w.recv(30)["open"] for w in workers)

        pick = random.sample(range(n), min(args.data_tunnels, n))
        per = {}
        for i in pick:
            k, j = owner[i]
            per.setdefault(k, []).append(j)
        ok, bad = 0, []
        for k, idx in per.items():
            workers[k].send({"cmd": "data", "idx": idx})
            d = workers[k].recv(60)
            ok += d["ok"]
            bad += d["bad"]
        R["data_ok"], R["data_n"], R["data_bad"] = ok, len(pick), bad[:3]
        time.sleep(1)
        R["rss_data"] = status_kib(relay.pid, "RssAnon")
        say("%s: idle CPU %.2f%%, RssAnon %d KiB; %d/%d connections open; data through %d/%d "
            "tunnels%s" % (backend, R["idle_cpu"], R["rss_idle"], R["still_open"], R["admitted"],
                           ok, len(pick), (": " + "; ".join(bad[:3])) if bad else ""))
        if not relay.alive():
            raise ScaleError("the relay died:\n" + relay.log()[-2000:])
    finally:
        for w in workers:
            try:
                w.send({"cmd": "stop"})
            except OSError:
                pass
        for w in workers:
            w.proc.stop(10)
        relay.stop()
        db.unlink()
    return R


# ============================================================================
# per message: round trip and CPU per GB through a localproxy pair
# ============================================================================

def per_message(args, tmp, backend):
    bench.BIN = Path(args.relay).resolve().parent
    ctx = bench.Ctx()
    try:
        pki_dir = tmp / "pki"
        servers, sink_port, echo_port = bench.start_servers(ctx)
        spec = {"id": "msg", "services": ["SINK", "ECHO"],
                "sourceAccessToken": secrets.token_urlsafe(32),
                "destinationAccessToken": secrets.token_urlsafe(32)}
        tfile = tmp / "msg-tunnels.json"
        fd = os.open(tfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"tunnels": [spec]}, f)
        rport = bench.free_port()
        binary = args.relay if backend == "built" else args.evlib_relay
        env = bench.child_env({"TUNNEL_RELAY_EVLIB": backend} if backend != "built" else None)
        relay = ctx.spawn("tunnel-relay", [binary, "--bind", "127.0.0.1", "--port", rport,
                                           "--cert", pki_dir / "relay.pem", "--key",
                                           pki_dir / "relay.key", "--tunnels", tfile], env=env)
        relay.wait_log(r"listening on 127\.0\.0\.1:%d\b" % rport, 10)
        ca = pki_dir / "ca.pem"
        dst = bench.localproxy(ctx, "localproxy-dst",
                               ["-d", "SINK=127.0.0.1:%d,ECHO=127.0.0.1:%d" % (sink_port, echo_port)],
                               rport, ca, spec["destinationAccessToken"])
        dst.wait_log(r"tunnel ready", 10)
        t_sink, t_echo = bench.free_port(), bench.free_port()
        src = bench.localproxy(ctx, "localproxy-src",
                               ["-s", "SINK=%d,ECHO=%d" % (t_sink, t_echo), "-b", "127.0.0.1"],
                               rport, ca, spec["sourceAccessToken"])
        for p in (t_sink, t_echo):
            src.wait_log(r"listening on 127\.0\.0\.1:%d\b" % p, 10)
        time.sleep(0.5)
        rts = bench.ping_pong(t_echo, 2000, 200)
        size = args.gb_mib * (1 << 20)
        cpu0 = cpu_seconds(relay.pid)
        dt, _ = bench.send_count(t_sink, size, 180)
        cpu = cpu_seconds(relay.pid) - cpu0
        return {"rtt_med": statistics.median(rts), "rtt_p99": bench.pct(rts, 99),
                "mbs": size / dt / 1e6, "cpu_gb": cpu / (size / 1e9)}
    finally:
        ctx.stop_all()
        shutil.rmtree(ctx.tmp, ignore_errors=True)


# ============================================================================
# the report
# ============================================================================

def table(results):
    head = ["backend", "loop seen", "tunnels", "admitted", "admit/s", "relay CPU ms/conn", "RssAnon KiB/tunnel",
            "idle CPU % (pings)", "start-up s", "still open", "data ok",
            "RssAnon KiB/tunnel after data"]
    rows = []
    for R in results:
        rows.append([R["backend"], R["loop"], str(R["n"]), "%d/%d" % (R["admitted"], 2 * R["n"]),
                     "%.0f" % R["rate"],
                     "%.2f" % (1000 * R["admit_cpu"] / max(1, R["admitted"])),
                     "%.1f" % ((R["rss_idle"] - R["rss0"]) / R["n"]),
                     "%.2f" % R["idle_cpu"], "%.2f" % R["startup"],
                     "%d" % R["still_open"], "%d/%d" % (R["data_ok"], R["data_n"]),
                     "%.1f" % ((R["rss_data"] - R["rss0"]) / R["n"])])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


SCALE_HEADING = "## Scale: N idle tunnels (make bench-scale)"


def write_doc(args, results):
    m = {k: v for k, v in bench.machine().items() if k in ("CPU", "Cores", "Kernel", "libwebsockets")}
    m["load average"] = "%.1f" % os.getloadavg()[0]
    lines = ["One run of `make bench-scale` (`scripts/bench_scale.py --doc`; method in "
             "docs/event-loops.md): N tunnels in the relay's database, both ends of each "
             "connected by %d client processes on the same machine, pinging every %d s; idle "
             "CPU over %d s; %d random tunnels carry %d KiB at the end. Rates and start-up vary "
             "2-3x with the machine's load; CPU per connection and RssAnon are steadier."
             % (args.workers, args.ping, args.idle, args.data_tunnels, DATA_BYTES // 1024),
             "", table(results)]
    if m:
        lines += ["", "Machine: " + "; ".join("%s: %s" % kv for kv in m.items())]
    bench.replace_doc_section(SCALE_HEADING, "\n".join(lines))


def msg_table(msgs):
    out = ["| backend | 64 B round trip median µs | p99 µs | one connection MB/s | relay CPU s/GB |",
           "|---|---|---|---|---|"]
    for b, m in msgs:
        out.append("| %s | %.0f | %.0f | %.0f | %.2f |" %
                   (b, m["rtt_med"], m["rtt_p99"], m["mbs"], m["cpu_gb"]))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(
        description="Relay scale benchmark: N idle tunnels (both ends connected), per backend.",
        epilog="Runs only on 127.0.0.1; each run is bounded (about 2 min + 0.1 s per tunnel).")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tunnels", default="1000,5000",
                    help="comma-separated numbers of tunnels (default 1000,5000; at most 9900)")
    ap.add_argument("--backends", default="built",
                    help="comma-separated: built, uv, ev, glib (default built; uv/ev/glib need "
                         "--evlib-relay)")
    ap.add_argument("--relay", default=str(ROOT / "build" / "bin" / "tunnel-relay"),
                    help="the relay as built (default build/bin/tunnel-relay)")
    ap.add_argument("--evlib-relay",
                    help="a relay built with scripts/experiments/relay-evlib.patch")
    ap.add_argument("--workers", type=int, default=2, help="client processes (default 2)")
    ap.add_argument("--concurrency", type=int, default=32,
                    help="handshakes in flight per worker (default 32)")
    ap.add_argument("--idle", type=int, default=60, help="idle measurement, s (default 60)")
    ap.add_argument("--ping", type=int, default=20, help="ping interval, s (default 20)")
    ap.add_argument("--data-tunnels", type=int, default=DATA_TUNNELS,
                    help="tunnels that carry %d KiB one way at the end (default %d)" %
                         (DATA_BYTES // 1024, DATA_TUNNELS))
    ap.add_argument("--per-message", action="store_true",
                    help="also measure the 64-byte round trip and relay CPU per GB")
    ap.add_argument("--gb-mib", type=int, default=1024,
                    help="MiB sent for the CPU-per-GB figure (default 1024)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    ap.add_argument("--doc", action="store_true",
                    help="write the table into docs/benchmarks.md (its own section)")
    args = ap.parse_args()
    if args.worker:
        worker_main()
        return 0

    ns = [int(x) for x in args.tunnels.split(",") if x]
    backends = [b for b in args.backends.split(",") if b]
    for b in backends:
        if b not in ("built", "uv", "ev", "glib"):
            ap.error("unknown backend %r" % b)
        if b != "built" and not args.evlib_relay:
            ap.error("backend %s needs --evlib-relay" % b)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))   # the relay inherits it
    for n in ns:
        if not 1 <= n or 2 * n + FD_HEADROOM > hard:
            ap.error("%d tunnels need %d descriptors in the relay; the hard limit is %d" %
                     (n, 2 * n + FD_HEADROOM, hard))
        if 2 * n / args.workers + FD_HEADROOM > hard:
            ap.error("%d tunnels need more --workers" % n)

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    results, msgs, rc = [], [], 1
    try:
        make_pki(tmp)
        for b in backends:
            for n in ns:
                results.append(run_one(args, tmp, b, n))
            if args.per_message:
                say("%s: per message (64-byte round trip, %d MiB one way)" % (b, args.gb_mib))
                msgs.append((b, per_message(args, tmp, b)))
        rc = 0
    except ScaleError as e:
        say("FAILED: %s" % e)
    except KeyboardInterrupt:
        say("interrupted")
        rc = 130
    finally:
        if args.keep or rc:
            say("logs kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if results:
        print(table(results))
    if results and args.doc and rc == 0:
        write_doc(args, results)
        print("\n(docs/benchmarks.md: section \"%s\" written)" % SCALE_HEADING[3:])
    if msgs:
        print()
        print(msg_table(msgs))
    return rc


if __name__ == "__main__":
    sys.exit(main())
