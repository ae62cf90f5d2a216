#!/usr/bin/env python3
"""bench.py - throughput, latency and memory of the secure tunnel, next to
direct loopback TCP and `ssh -L`, all measured in the same run on loopback.

    make bench              (builds with SAN=0, then runs this)
    python3 scripts/bench.py [--quick] [--no-doc]

Prints the tables and writes docs/benchmarks.md (overwritten). Starts, on
127.0.0.1 only: a sink/echo server (this script with --serve, in its own
process so it does not share the load generator's interpreter), a throwaway
sshd and `ssh -N -L` (root only; otherwise that column is left out),
tunnel-relay with a --tunnels file, a destination and a source localproxy
(tokens in AWSIOT_TUNNEL_ACCESS_TOKEN, never on a command line), a chain of
three minimal C forwarders (scripts/bench_fwd.c, built with cc into the
temporary directory) as the round trip's reference, and, when
build/bin/tunnel-agent and mosquitto exist, a broker and the agent.
Everything runs in its own process group and is stopped at the end, also on
failure or Ctrl-C. Every wait has a deadline.

Python 3 standard library only.
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("BIN_DIR") or (ROOT / "build" / "bin")).resolve()
DOC = ROOT / "docs" / "benchmarks.md"

MiB = 1 << 20
GiB = 1 << 30
MB = 1e6
GB = 1e9
CHUNK = MiB
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Sink protocol: a 16-byte header, then the payload. COUNT: the sink reads
# exactly `size` bytes and answers with the 8-byte count it received. STREAM:
# the sink reads until EOF and answers nothing.
HDR = struct.Struct("!4sIQ")
MAGIC = b"TBNC"
MODE_COUNT, MODE_STREAM = 1, 2
ACK = struct.Struct("!Q")

LAT_MSG = 64          # bytes per ping-pong message
LAT_ROUNDS = 4        # turns the paths take at the round trip
INTEGRITY_BYTES = 64 * MiB
MULTI_CONNS = 10


class BenchError(Exception):
    pass



LIMITS_TEXT = """\
The tunnel is CPU-bound on a 2-core machine: five processes (load generator, source localproxy,
relay, destination localproxy, sink) share two cores, and the data crosses TLS twice. A profile
(`perf record` on the three tunnel processes during a one-way transfer) now puts their time in the
kernel's TCP path (about 40%) and in libcrypto's AES-GCM (about 35%), with libwebsockets at about
7% (the relay's server side) and localproxy's own code at about 3%. Earlier, three quarters of
the destination localproxy's time went to libwebsockets' WebSocket *client* code (a function call
per received payload byte, a byte-by-byte mask with a /dev/urandom read per frame); localproxy
now has its own client (proxy/ws_client.c: TLS over an OpenSSL BIO pair, bulk frame parsing,
word-wise masking), which cut its CPU per GB by about four. Ten connections share the tunnel
evenly because each has its own send queue and messages take one frame from each in turn; the
earlier single queue with a global pause favoured whichever socket the event loop served first.
The relay is now the busiest process. Resident memory is mostly shared library pages (libcrypto
alone is about 4 MiB of them); RssAnon is each process's own memory.
"""

def say(msg):
    print("bench: " + msg, flush=True)


# ============================================================================
# The sink / echo server (runs as `bench.py --serve` in its own process)
# ============================================================================

def _listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def _recv_exact_into(c, mv):
    got = 0
    while got < len(mv):
        n = c.recv_into(mv[got:])
        if n == 0:
            return got
        got += n
    return got


def _sink_conn(c):
    buf = bytearray(CHUNK)
    mv = memoryview(buf)
    try:
        c.settimeout(120)
        if _recv_exact_into(c, mv[:HDR.size]) < HDR.size:
            return                      # a probe connection: nothing to do
        magic, mode, size = HDR.unpack_from(buf)
        if magic != MAGIC:
            return
        count = 0
        if mode == MODE_COUNT:
            while count < size:
                n = c.recv_into(buf, min(CHUNK, size - count))
                if n == 0:
                    break
                count += n
            c.sendall(ACK.pack(count))
            c.settimeout(10)
            c.recv(1)                   # let the client close first
        else:
            while True:
                n = c.recv_into(buf)
                if n == 0:
                    break
    except OSError:
        pass
    finally:
        c.close()


def _echo_conn(c):
    buf = bytearray(CHUNK)
    mv = memoryview(buf)
    try:
        c.settimeout(120)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            n = c.recv_into(buf)
            if n == 0:
                break
            c.sendall(mv[:n])
    except OSError:
        pass
    finally:
        c.close()


def _accept_loop(ls, handler):
    while True:
        try:
            c, _ = ls.accept()
        except OSError:
            return
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def serve_main():
    sink, echo = _listener(), _listener()
    for ls, h in ((sink, _sink_conn), (echo, _echo_conn)):
        threading.Thread(target=_accept_loop, args=(ls, h), daemon=True).start()
    print("ports %d %d" % (sink.getsockname()[1], echo.getsockname()[1]), flush=True)
    # Live as long as the parent holds our stdin open (it dies: we see EOF).
    try:
        sys.stdin.buffer.read()
    except (OSError, KeyboardInterrupt):
        pass
    os._exit(0)


# ============================================================================
# /proc helpers
# ============================================================================

def proc_stat(pid):
    """(ppid, utime+stime ticks, starttime) or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): field n is fields[n - 3]
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])


def proc_table():
    """{pid: (ppid, ticks, starttime)} of every process."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                out[int(name)] = st
    return out


def descendants(pid, table=None):
    table = table if table is not None else proc_table()
    kids = {}
    for p, (pp, _, _) in table.items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def mem_status(pid):
    """{'VmRSS': KiB, 'VmHWM': KiB, 'RssAnon': KiB} or None when the process
    is gone. VmRSS counts shared library pages too; RssAnon is the process's
    own heap and stacks."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith(("VmRSS:", "VmHWM:", "RssAnon:")):
                    k, v = ln.split(":", 1)
                    out[k] = int(v.split()[0])
    except OSError:
        return None
    return out


OTHER = "(rest of the machine)"


class CpuMeter:
    """CPU seconds of named process groups between start() and stop().
    Each entry is a pid, with tree=True counting its descendants too (sshd
    does the work in per-connection children)."""

    def __init__(self, entries):
        self.entries = entries          # [(name, pid, tree)]

    def _sample(self):
        table = proc_table()
        out = {}
        for name, pid, tree in self.entries:
            pids = [pid] + (descendants(pid, table) if tree else [])
            out[name] = {(p, table[p][2]): table[p][1] for p in pids if p in table}
        return out

    @staticmethod
    def _machine_busy():
        """Busy ticks of all CPUs (user nice system irq softirq steal)."""
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)

    def start(self):
        self.t0 = time.monotonic()
        self.busy0 = self._machine_busy()
        self.s0 = self._sample()

    def stop(self):
        """{name: cpu seconds}, wall seconds. The name OTHER is whatever the
        rest of the machine used meanwhile (other processes, steal)."""
        s1 = self._sample()
        busy = (self._machine_busy() - self.busy0) / CLK_TCK
        wall = time.monotonic() - self.t0
        res = {}
        for name, _, _ in self.entries:
            a, b = self.s0.get(name, {}), s1.get(name, {})
            ticks = sum(v - a.get(k, 0) for k, v in b.items())
            res[name] = ticks / CLK_TCK
        res[OTHER] = max(0.0, busy - sum(res.values()))
        return res, wall


# ============================================================================
# processes
# ============================================================================

def child_env(extra=None, home=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWSIOT_") and k.lower() not in (
               "https_proxy", "http_proxy", "all_proxy", "no_proxy")}
    if home is not None:
        env["HOME"] = str(home)
    env.update(extra or {})
    return env


class Child:
    """A process in its own process group, output to a log file."""

    def __init__(self, ctx, name, argv, env=None, stdin=subprocess.DEVNULL, stdout=None):
        self.name = name
        self.log_path = ctx.tmp / ("%s.log" % name)
        self.logf = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            [str(a) for a in argv], stdin=stdin,
            stdout=stdout if stdout is not None else self.logf, stderr=self.logf,
            env=env if env is not None else child_env(home=ctx.tmp), cwd=str(ctx.tmp),
            start_new_session=True)
        self.pid = self.popen.pid
        self.stopped = False
        ctx.children.append(self)

    def alive(self):
        return self.popen.poll() is None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, regex, timeout, what=None):
        rx = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while True:
            exited = not self.alive()
            m = rx.search(self.log())
            if m:
                return m
            if exited:
                raise BenchError("%s exited (rc=%s) before logging /%s/; its log ends:\n%s" %
                                 (self.name, self.popen.returncode, regex, self.tail()))
            if time.monotonic() > deadline:
                raise BenchError("%s did not log /%s/ within %.0f s%s; its log ends:\n%s" %
                                 (self.name, regex, timeout,
                                  " (%s)" % what if what else "", self.tail()))
            time.sleep(0.05)

    def tail(self, n=15):
        return "\n".join("    " + ln for ln in self.log().splitlines()[-n:])

    def stop(self, timeout=5.0):
        """SIGTERM to the process group, SIGKILL after `timeout`; then any
        descendant that left the group (a setsid'd child) by pid, checked
        against its start time so a reused pid is never hit."""
        if self.stopped:
            return self.popen.returncode
        self.stopped = True
        table = proc_table()
        kids = [(p, table[p][2]) for p in descendants(self.pid, table)]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.popen.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.popen.poll() is None:
            self.popen.wait(5)
        for p, start in kids:
            deadline = time.monotonic() + timeout
            for sig in (signal.SIGTERM, signal.SIGKILL):
                st = proc_stat(p)
                if not st or st[2] != start:
                    break
                try:
                    os.kill(p, sig)
                except OSError:
                    break
                while time.monotonic() < deadline:
                    st = proc_stat(p)
                    if not st or st[2] != start:
                        break
                    time.sleep(0.05)
                deadline = time.monotonic() + 2
        try:
            self.logf.close()
        except OSError:
            pass
        return self.popen.returncode


class Ctx:
    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tunnel-bench-"))
        self.children = []
        self.secrets = []

    def spawn(self, name, argv, **kw):
        return Child(self, name, argv, **kw)

    def stop_all(self):
        for c in reversed(self.children):
            try:
                c.stop()
            except Exception as e:  # keep stopping the others
                print("bench: stopping %s: %r" % (c.name, e), file=sys.stderr)

    def leaked_secrets(self):
        hits = []
        for p in sorted(self.tmp.glob("*.log")):
            text = p.read_text(errors="replace")
            if any(s and s in text for s in self.secrets):
                hits.append(p.name)
        return hits


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and not proc.alive():
            raise BenchError("%s exited (rc=%s); its log ends:\n%s" %
                             (proc.name, proc.popen.returncode, proc.tail()))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BenchError("127.0.0.1:%d did not accept connections within %.0f s" %
                             (port, timeout))
        time.sleep(0.05)


def run(argv, timeout=30, **kw):
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout, **kw)


def tool(name):
    p = shutil.which(name)
    if p:
        return p
    for d in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


# ============================================================================
# load generators (client side, in this process)
# ============================================================================

PAYLOAD = memoryview(os.urandom(CHUNK))


def _connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def send_count(port, size, deadline_s, on_start=None):
    """Sends `size` bytes one way to the sink; returns (seconds from the first
    byte to the sink's acknowledgement, bytes acknowledged)."""
    s = _connect(port)
    try:
        s.settimeout(30)
        if on_start:
            on_start()
        t0 = time.perf_counter()
        deadline = time.monotonic() + deadline_s
        s.sendall(HDR.pack(MAGIC, MODE_COUNT, size))
        full, rest = divmod(size, CHUNK)
        for i in range(full):
            s.sendall(PAYLOAD)
            if (i & 31) == 0 and time.monotonic() > deadline:
                raise BenchError("transfer to port %d: over %.0f s after %d MiB of %d" %
                                 (port, deadline_s, i, size // MiB))
        if rest:
            s.sendall(PAYLOAD[:rest])
        s.settimeout(max(1.0, min(60.0, deadline - time.monotonic())))
        ack = bytearray(ACK.size)
        if _recv_exact_into(s, memoryview(ack)) < ACK.size:
            raise BenchError("transfer to port %d: connection closed before the sink's "
                             "acknowledgement" % port)
        dt = time.perf_counter() - t0
        (count,) = ACK.unpack(ack)
        if count != size:
            raise BenchError("transfer to port %d: sent %d bytes, the sink counted %d" %
                             (port, size, count))
        return dt, count
    except socket.timeout:
        raise BenchError("transfer to port %d: timed out" % port)
    finally:
        s.close()


def send_stream(port, seconds, stop_event):
    """Sends for `seconds` (or until stop_event), then closes. Returns bytes
    handed to the kernel and seconds."""
    s = _connect(port)
    sent = 0
    try:
        s.settimeout(30)
        t0 = time.monotonic()
        s.sendall(HDR.pack(MAGIC, MODE_STREAM, 0))
        while time.monotonic() - t0 < seconds and not stop_event.is_set():
            s.sendall(PAYLOAD)
            sent += CHUNK
        return sent, time.monotonic() - t0
    finally:
        s.close()


def echo_integrity(port, nbytes, timeout):
    """Sends nbytes of fresh random data through the echo service while
    reading the echo back; raises unless every byte came back intact."""
    data = os.urandom(nbytes)
    want = hashlib.sha256(data).hexdigest()
    s = _connect(port)
    err = []
    deadline = time.monotonic() + timeout

    def writer():
        mv = memoryview(data)
        try:
            for off in range(0, nbytes, 256 * 1024):
                if time.monotonic() > deadline:
                    raise BenchError("writer timed out")
                s.sendall(mv[off:off + 256 * 1024])
        except (OSError, BenchError) as e:
            err.append("writer: %r" % (e,))

    s.settimeout(10)
    th = threading.Thread(target=writer, daemon=True)
    th.start()
    h = hashlib.sha256()
    got = 0
    buf = bytearray(CHUNK)
    try:
        while got < nbytes:
            if time.monotonic() > deadline:
                raise BenchError("timed out after %d of %d bytes" % (got, nbytes))
            n = s.recv_into(buf, min(CHUNK, nbytes - got))
            if n == 0:
                raise BenchError("EOF after %d of %d bytes" % (got, nbytes))
            h.update(memoryview(buf)[:n])
            got += n
    except socket.timeout:
        raise BenchError("stalled after %d of %d bytes" % (got, nbytes))
    finally:
        th.join(max(0.0, deadline - time.monotonic()) + 2)
        s.close()
    if err:
        raise BenchError("; ".join(err))
    if h.hexdigest() != want:
        raise BenchError("sha256 of the echo %s != sent %s" % (h.hexdigest(), want))


def ping_pong(port, n, warmup):
    """Round-trip times (µs) of LAT_MSG-byte messages through the echo."""
    s = _connect(port)
    s.settimeout(5)
    msg = os.urandom(LAT_MSG)
    buf = bytearray(LAT_MSG)
    mv = memoryview(buf)
    out = []
    try:
        for i in range(warmup + n):
            t0 = time.perf_counter_ns()
            s.sendall(msg)
            got = 0
            while got < LAT_MSG:
                k = s.recv_into(mv[got:])
                if k == 0:
                    raise BenchError("echo closed the connection")
                got += k
            t1 = time.perf_counter_ns()
            if buf != msg:
                raise BenchError("echo returned different bytes")
            if i >= warmup:
                out.append((t1 - t0) / 1000.0)
    except socket.timeout:
        raise BenchError("no echo within 5 s")
    finally:
        s.close()
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, int(math.ceil(p / 100.0 * len(xs))) - 1))]


# ============================================================================
# the paths
# ============================================================================

class Path_:
    """One way to reach the sink and the echo service."""

    def __init__(self, key, label, sink_port, echo_port, cpu_entries):
        self.key, self.label = key, label
        self.sink_port, self.echo_port = sink_port, echo_port
        self.cpu_entries = cpu_entries   # [(name, pid, tree)]
        self.rate = None                 # bytes/s estimate from the warm-up


def start_servers(ctx):
    c = ctx.spawn("sink-echo", [sys.executable, str(Path(__file__).resolve()), "--serve"],
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 10
    line = b""
    import select
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not c.alive():
            raise BenchError("the sink/echo server did not start:\n" + c.tail())
        r, _, _ = select.select([c.popen.stdout], [], [], left)
        if r:
            b = os.read(c.popen.stdout.fileno(), 100)
            if not b:
                raise BenchError("the sink/echo server exited:\n" + c.tail())
            line += b
    m = re.match(rb"ports (\d+) (\d+)", line)
    if not m:
        raise BenchError("the sink/echo server said %r" % line)
    return c, int(m.group(1)), int(m.group(2))


def make_pki(ctx, device=None):
    d = ctx.tmp / "pki"
    argv = ["bash", ROOT / "certs" / "mkpki.sh", "-o", d]
    if device:
        argv += ["--device", device]
    r = run(argv, timeout=120)
    if r.returncode != 0:
        raise BenchError("certs/mkpki.sh failed:\n" + r.stdout.decode(errors="replace"))
    return d


def start_ssh(ctx, sink_port, echo_port):
    """(ssh Child, sshd Child, fwd sink port, fwd echo port, cipher) or a
    string saying why not."""
    if os.geteuid() != 0:
        return "not root: sshd needs root for its privilege-separation directory /run/sshd"
    tools = {n: tool(n) for n in ("sshd", "ssh", "ssh-keygen")}
    missing = [n for n, p in tools.items() if not p]
    if missing:
        return "%s not installed (Debian: openssh-server openssh-client)" % ", ".join(missing)
    try:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        d = ctx.tmp / "ssh"
        d.mkdir()
        for k in ("host_ed25519", "user_ed25519"):
            r = run([tools["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-f", d / k])
            if r.returncode != 0:
                return "ssh-keygen failed: " + r.stdout.decode(errors="replace").strip()
        (d / "authorized_keys").write_text((d / "user_ed25519.pub").read_text())
        port = free_port()
        cfg = d / "sshd_config"
        cfg.write_text("\n".join([
            "Port %d" % port, "ListenAddress 127.0.0.1",
            "HostKey %s" % (d / "host_ed25519"), "PidFile %s" % (d / "sshd.pid"),
            "AuthorizedKeysFile %s" % (d / "authorized_keys"), "StrictModes no",
            "UsePAM no", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            "AllowTcpForwarding yes", ""]))
        r = run([tools["sshd"], "-t", "-f", cfg])
        if r.returncode != 0:
            return "sshd rejects its configuration: " + r.stdout.decode(errors="replace").strip()
        sshd = ctx.spawn("sshd", [tools["sshd"], "-D", "-e", "-f", cfg])
        sshd.wait_log(r"Server listening on 127\.0\.0\.1 port %d" % port, 10)
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        return "sshd did not start: %s" % e
    f_sink, f_echo = free_port(), free_port()
    ssh = ctx.spawn("ssh", [
        tools["ssh"], "-F", "/dev/null", "-N", "-v", "-p", port, "-i", d / "user_ed25519",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "ConnectTimeout=10",
        "-L", "127.0.0.1:%d:127.0.0.1:%d" % (f_sink, sink_port),
        "-L", "127.0.0.1:%d:127.0.0.1:%d" % (f_echo, echo_port),
        "root@127.0.0.1"])
    wait_port(f_sink, 15, ssh)
    wait_port(f_echo, 15, ssh)
    m = re.search(r"kex: client->server cipher: (\S+) MAC: (\S+)", ssh.log())
    cipher = m.group(1) + ("" if m.group(2) == "<implicit>" else " + " + m.group(2)) if m else "?"
    return ssh, sshd, f_sink, f_echo, cipher


FWD_CHAIN = 3   # processes on the tunnel's path: source localproxy, relay, destination localproxy


def start_forwarders(ctx, target_port):
    """Port of a chain of FWD_CHAIN bench_fwd processes (scripts/bench_fwd.c:
    epoll, read, write; no TLS) ending at target_port, or a string saying
    why there is none. The round trip through it is the least any path
    through that many processes costs on this machine."""
    cc = tool("cc") or tool("gcc")
    if not cc:
        return "no C compiler (cc)"
    exe = ctx.tmp / "bench_fwd"
    r = run([cc, "-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-o", exe,
             ROOT / "scripts" / "bench_fwd.c"], timeout=60)
    if r.returncode:
        return "scripts/bench_fwd.c did not build: " + r.stdout.decode(errors="replace").strip()
    port = target_port
    for i in range(FWD_CHAIN):
        p = free_port()
        fwd = ctx.spawn("bench_fwd%d" % (i + 1), [exe, p, port])
        wait_port(p, 5, fwd)
        port = p
    return port


def localproxy(ctx, name, mode_args, relay_port, ca, token):
    ctx.secrets.append(token)
    argv = [BIN / "localproxy"] + mode_args + ["-e", "127.0.0.1:%d" % relay_port, "-c", ca]
    return ctx.spawn(name, argv, env=child_env({"AWSIOT_TUNNEL_ACCESS_TOKEN": token},
                                               home=ctx.tmp))


def tls_cipher(port, ca):
    try:
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", ca,
                 "-brief"], timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "?"
    text = r.stdout.decode(errors="replace")
    v = re.search(r"Protocol version: (\S+)", text)
    c = re.search(r"Ciphersuite: (\S+)", text)
    return "%s %s" % (v.group(1), c.group(1)) if v and c else "?"


# ============================================================================
# measurements
# ============================================================================

def throughput_single(path, quick):
    """Warm-up (sizes the runs), then 3 runs; best MB/s plus CPU s/GB over
    the 3 runs."""
    warm = (32 if quick else 128) * MiB
    dt, _ = send_count(path.sink_port, warm, 120)
    path.rate = warm / dt
    if quick:
        size = 256 * MiB
    else:
        # >= 5 s, and 1 GiB when that takes at most 10 s; at most 4 GiB.
        size = max(path.rate * 5, min(GiB, path.rate * 10))
        size = int(min(4 * GiB, max(64 * MiB, size)) // (64 * MiB) * (64 * MiB))
    meter = CpuMeter(path.cpu_entries)
    times = []
    meter.start()
    for _ in range(3):
        dt, _ = send_count(path.sink_port, size, 3 * size / path.rate + 30)
        times.append(dt)
    cpu, wall = meter.stop()
    return {"size": size, "times": times, "best": size / min(times),
            "cpu": cpu, "wall": wall, "bytes": 3 * size}


def throughput_multi(path, per_conn, conns, rss_pids=None):
    """`conns` connections at once, each `per_conn` bytes."""
    barrier = threading.Barrier(conns + 1, timeout=30)
    results = [None] * conns
    errors = []
    est = max(path.rate or 0, 20 * MB)
    deadline_s = 4 * conns * per_conn / est + 30

    def one(i):
        try:
            t = {}
            dt, _ = send_count(path.sink_port, per_conn, deadline_s,
                               on_start=lambda: (barrier.wait(), t.update(t0=time.monotonic())))
            results[i] = (t["t0"], t["t0"] + dt, dt)
        except (BenchError, OSError, threading.BrokenBarrierError) as e:
            errors.append("connection %d: %s" % (i + 1, e))
            barrier.abort()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(conns)]
    for th in threads:
        th.start()
    rss_max = {}
    stop = threading.Event()

    def sample_rss():
        while not stop.is_set():
            for name, pid in (rss_pids or {}).items():
                m = mem_status(pid)
                if m:
                    cur = rss_max.setdefault(name, {"VmRSS": 0, "RssAnon": 0})
                    for k in cur:
                        cur[k] = max(cur[k], m.get(k, 0))
            stop.wait(0.1)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    meter = CpuMeter(path.cpu_entries)
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    meter.start()
    sampler.start()
    hard = time.monotonic() + deadline_s + 60
    for th in threads:
        th.join(max(0.0, hard - time.monotonic()))
    cpu, wall = meter.stop()
    stop.set()
    sampler.join(2)
    if any(th.is_alive() for th in threads):
        errors.append("connections still running after %.0f s" % (deadline_s + 60))
    if errors:
        raise BenchError("%s, %d connections: %s" % (path.label, conns, "; ".join(errors)))
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    per = sorted(per_conn / r[2] for r in results)
    return {"aggregate": conns * per_conn / (end - start), "per": per,
            "spread": (per[-1] - per[0]) / per[-1], "cpu": cpu, "wall": wall,
            "bytes": conns * per_conn, "rss_max": rss_max, "per_conn": per_conn}


def rss_flat(path, pids, seconds):
    """Sustained single-connection transfer for `seconds`; samples RSS of
    each pid every second."""
    stop = threading.Event()
    res = {}

    def sender():
        try:
            res["sent"], res["secs"] = send_stream(path.sink_port, seconds, stop)
        except (OSError, BenchError) as e:
            res["error"] = repr(e)

    th = threading.Thread(target=sender, daemon=True)
    samples = {name: [] for name in pids}
    th.start()
    t0 = time.monotonic()
    try:
        for k in range(1, int(seconds) + 1):
            time.sleep(max(0.0, t0 + k - time.monotonic()))
            for name, pid in pids.items():
                m = mem_status(pid)
                if m:
                    samples[name].append(m["VmRSS"])
            if not th.is_alive():
                break
    finally:
        stop.set()
        th.join(40)
    if "error" in res:
        raise BenchError("sustained transfer: " + res["error"])
    if th.is_alive():
        raise BenchError("sustained transfer did not stop")
    return samples, res["sent"] / res["secs"]


# ============================================================================
# the agent (optional)
# ============================================================================

AGENT_THING = "bench-device"


def measure_agent(ctx, pki_dir, relay_port, spec, echo_port):
    """Dict of results, or a string saying why it was not measured."""
    agent_bin = BIN / "tunnel-agent"
    if not agent_bin.exists():
        return "%s not built yet" % agent_bin
    tools = {n: tool(n) for n in ("mosquitto", "mosquitto_pub")}
    if not all(tools.values()):
        return "mosquitto / mosquitto_pub not installed"
    try:
        h = run([agent_bin, "--help"], timeout=10).stdout.decode(errors="replace")
    except (OSError, subprocess.SubprocessError) as e:
        return "tunnel-agent --help failed: %s" % e
    for key in ('"thingName"', '"broker"', '"uri"', '"ca"', '"cert"', '"key"', '"relay"',
                '"endpoint"', '"localproxy"', '"services"', "-c, --config"):
        if key not in h:
            return "its configuration interface is not the one this script knows " \
                   "(--help does not mention %s)" % key
    # broker: TLS with client certificates, CN as user name, the packaged ACL
    bport = free_port()
    blog = ctx.tmp / "mosquitto-broker.log"
    acl = ctx.tmp / "mosquitto.acl"
    acl.write_text("user tunnel-relay\ntopic write $aws/things/+/tunnels/notify\n\n"
                   "pattern read $aws/things/%u/tunnels/notify\n")
    conf = ctx.tmp / "mosquitto.conf"
    lines = ["per_listener_settings false", "allow_anonymous false", "persistence false",
             "log_dest file %s" % blog, "log_type all", "connection_messages true",
             "acl_file %s" % acl, "listener %d 127.0.0.1" % bport,
             "cafile %s" % (pki_dir / "ca.pem"), "certfile %s" % (pki_dir / "broker.pem"),
             "keyfile %s" % (pki_dir / "broker.key"), "require_certificate true",
             "use_identity_as_username true"]
    if os.geteuid() == 0:
        lines.insert(0, "user root")
    conf.write_text("\n".join(lines) + "\n")
    broker = ctx.spawn("mosquitto", [tools["mosquitto"], "-c", conf])

    def broker_log(needle, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if needle in blog.read_text(errors="replace"):
                    return
            except OSError:
                pass
            if not broker.alive():
                raise BenchError("mosquitto exited: " + broker.tail())
            if time.monotonic() > deadline:
                raise BenchError("%s: mosquitto did not log %r within %.0f s" %
                                 (what, needle, timeout))
            time.sleep(0.05)

    broker_log("Opening ipv4 listen socket on port %d" % bport, 10, "broker start")
    cfg = ctx.tmp / "agent.json"
    cfg.write_text(json.dumps({
        "thingName": AGENT_THING,
        "broker": {"uri": "ssl://127.0.0.1:%d" % bport, "ca": str(pki_dir / "ca.pem"),
                   "cert": str(pki_dir / ("device-%s.pem" % AGENT_THING)),
                   "key": str(pki_dir / ("device-%s.key" % AGENT_THING))},
        "relay": {"endpoint": "127.0.0.1:%d" % relay_port, "ca": str(pki_dir / "ca.pem")},
        "localproxy": str(BIN / "localproxy"),
        "services": {"SSH": "127.0.0.1:%d" % echo_port},
    }, indent=1))
    os.chmod(cfg, 0o600)
    r = run([agent_bin, "-c", cfg, "--check"], timeout=10)
    if r.returncode != 0:
        return "tunnel-agent --check refused the configuration this script wrote: " + \
               r.stdout.decode(errors="replace").strip().replace("\n", " / ")[:300]
    agent = ctx.spawn("tunnel-agent", [agent_bin, "-c", cfg])
    broker_log("Sending SUBACK to %s" % AGENT_THING, 15, "agent subscription")
    time.sleep(1.0)
    idle = mem_status(agent.pid)
    if not idle:
        raise BenchError("tunnel-agent exited: " + agent.tail())
    # The relay's notification, published as the relay would (its MQTT identity).
    note = json.dumps({"clientAccessToken": spec["destinationAccessToken"],
                       "clientMode": "destination", "region": "self-hosted",
                       "services": ["SSH"], "tunnelId": spec["id"]})
    r = run([tools["mosquitto_pub"], "-h", "127.0.0.1", "-p", bport,
             "--cafile", pki_dir / "ca.pem", "--cert", pki_dir / "relay-mqtt.pem",
             "--key", pki_dir / "relay-mqtt.key", "-q", "1",
             "-t", "$aws/things/%s/tunnels/notify" % AGENT_THING, "-s"],
            timeout=15, input=note.encode())
    if r.returncode != 0:
        raise BenchError("mosquitto_pub failed: " + r.stdout.decode(errors="replace"))
    sport = free_port()
    src = localproxy(ctx, "agent-source", ["-s", str(sport), "-b", "127.0.0.1"], relay_port,
                     pki_dir / "ca.pem", spec["sourceAccessToken"])
    src.wait_log(r"listening on 127\.0\.0\.1:%d\b" % sport, 10)
    # The agent's destination localproxy: wait until the tunnel carries bytes.
    deadline = time.monotonic() + 20
    while True:
        try:
            echo_integrity(sport, 4 * MiB, 15)
            break
        except (BenchError, OSError) as e:
            if time.monotonic() > deadline or not agent.alive():
                raise BenchError("no echo through the agent's tunnel within 20 s (%s); "
                                 "agent log:\n%s" % (e, agent.tail()))
            time.sleep(0.3)
    kids = [p for p in descendants(agent.pid)
            if os.path.realpath("/proc/%d/exe" % p) == str((BIN / "localproxy").resolve())]
    time.sleep(1.0)
    open_ = mem_status(agent.pid)
    child = mem_status(kids[0]) if kids else None
    src.stop()
    agent.stop()
    broker.stop()
    return {"idle": idle, "open": open_, "child": child}


# ============================================================================
# reporting
# ============================================================================

class Table:
    def __init__(self, title, headers, rows, notes=()):
        self.title, self.headers, self.rows, self.notes = title, headers, rows, list(notes)

    def text(self):
        cols = list(zip(*([self.headers] + self.rows)))
        w = [max(len(str(x)) for x in c) for c in cols]

        def line(r):
            return "  ".join((str(x).ljust(w[i]) if i == 0 else str(x).rjust(w[i]))
                             for i, x in enumerate(r)).rstrip()
        out = [self.title, line(self.headers), "  ".join("-" * x for x in w)]
        out += [line(r) for r in self.rows]
        out += ["  " + n for n in self.notes]
        return "\n".join(out)

    def md(self):
        out = ["| " + " | ".join(self.headers) + " |",
               "| " + " | ".join(["---"] + ["---:"] * (len(self.headers) - 1)) + " |"]
        out += ["| " + " | ".join(str(x) for x in r) + " |" for r in self.rows]
        if self.notes:
            out += [""] + ["- " + n for n in self.notes]
        return "\n".join(out)


def mbs(x):
    return "%.0f" % (x / MB) if x >= 100 * MB else "%.1f" % (x / MB)


def mib(kib):
    return "%.1f" % (kib / 1024.0) if kib is not None else "-"


def machine():
    info = {}
    model = None
    flags = ""
    extra = {}
    try:
        for ln in open("/proc/cpuinfo"):
            k, _, v = ln.partition(":")
            k, v = k.strip(), v.strip()
            if k in ("model name", "Hardware", "Model") and not model:
                model = v
            if k in ("flags", "Features") and not flags:
                flags = v
            if k in ("cpu family", "model", "cpu MHz") and k not in extra:
                extra[k] = v
    except OSError:
        pass
    details = []
    if "cpu family" in extra and "model" in extra:
        details.append("family %s model %s" % (extra["cpu family"], extra["model"]))
    if "cpu MHz" in extra:
        details.append("%.0f MHz" % float(extra["cpu MHz"]))
    if " hypervisor" in " " + flags:
        details.append("virtual machine")
    info["CPU"] = (model or platform.processor() or "?") + \
        (" (%s)" % ", ".join(details) if details else "")
    info["AES instructions"] = "yes" if re.search(r"\b(aes|pmull)\b", flags) else "no"
    n = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = n
    info["Cores"] = "%d" % n + ("" if usable == n else " (%d usable)" % usable)
    try:
        for ln in open("/proc/meminfo"):
            if ln.startswith("MemTotal:"):
                info["Memory"] = "%.1f GiB" % (int(ln.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    u = os.uname()
    info["Kernel"] = "%s %s %s" % (u.sysname, u.release, u.machine)

    def cmd(argv):
        try:
            r = run(argv, timeout=10)
            return r.stdout.decode(errors="replace").strip().splitlines()[0] \
                if r.returncode == 0 and r.stdout.strip() else "?"
        except (OSError, subprocess.SubprocessError, IndexError):
            return "?"
    info["OpenSSL"] = cmd(["openssl", "version"])
    info["libwebsockets"] = cmd(["pkg-config", "--modversion", "libwebsockets"])
    info["OpenSSH"] = cmd(["ssh", "-V"]) if tool("ssh") else "not installed"
    info["Python (load generator)"] = platform.python_version()
    info["Source"] = cmd(["git", "-C", str(ROOT), "describe", "--always", "--dirty"])
    try:
        info["Load average before the run"] = " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        pass
    info["Date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return info


def verdict(ok):
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


# ============================================================================
# main
# ============================================================================

UDP_SIZE = 1200      # bytes per datagram: a typical DNS/CoAP/QUIC-sized payload
UDP_WINDOW = 64      # datagrams a flow keeps in flight


def udp_echo_server():
    """A UDP echo on 127.0.0.1 in a thread; returns its port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                data, addr = s.recvfrom(65535)
                s.sendto(data, addr)
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    return s.getsockname()[1]


def udp_run(port, flows, per_flow, size=UDP_SIZE, window=UDP_WINDOW, stall=0.3):
    """flows UDP sockets each send per_flow datagrams of size bytes to port,
    keeping at most window in flight, and count the echoes. A datagram not
    back within `stall` seconds of silence counts as lost. Returns (sent,
    received, seconds)."""
    import selectors
    sel = selectors.DefaultSelector()
    state = []
    for _ in range(flows):
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        c.connect(("127.0.0.1", port))
        c.setblocking(False)
        st = {"sock": c, "sent": 0, "out": 0, "got": 0}
        state.append(st)
        sel.register(c, selectors.EVENT_READ, st)
    payload = os.urandom(size)
    t0 = time.monotonic()
    while True:
        for st in state:
            while st["sent"] < per_flow and st["out"] < window:
                try:
                    st["sock"].send(payload)
                except BlockingIOError:
                    break
                st["sent"] += 1
                st["out"] += 1
        if all(st["sent"] == per_flow and st["out"] == 0 for st in state):
            break
        events = sel.select(stall)
        if not events:   # silence: what is still out is lost
            for st in state:
                st["out"] = 0
            continue
        for key, _ in events:
            st = key.data
            while True:
                try:
                    st["sock"].recv(65535)
                except BlockingIOError:
                    break
                st["got"] += 1
                st["out"] = max(0, st["out"] - 1)
    dt = time.monotonic() - t0
    for st in state:
        st["sock"].close()
    sel.close()
    return (sum(st["sent"] for st in state), sum(st["got"] for st in state), dt)


def measure_udp(ctx, rport, ca, spec, quick):
    """Datagram rate and loss, direct and through a UDP service of a tunnel,
    with one flow and with ten."""
    echo = udp_echo_server()
    dst = localproxy(ctx, "localproxy-udp-dst", ["-d", "UDP=udp:127.0.0.1:%d" % echo],
                     rport, ca, spec["destinationAccessToken"])
    dst.wait_log(r"tunnel ready", 10)
    port = free_port()
    # Flows idle for 1 s end, so that each run starts with all 10 connections free.
    src = localproxy(ctx, "localproxy-udp-src", ["-s", "UDP=udp:%d" % port, "-b", "127.0.0.1",
                                                 "--udp-idle-timeout", "1"],
                     rport, ca, spec["sourceAccessToken"])
    src.wait_log(r"tunnel ready", 10)
    time.sleep(0.3)
    out = {}
    for key, p in (("direct", echo), ("tunnel", port)):
        for flows, per in ((1, 4000 if quick else 20000), (MULTI_CONNS, 500 if quick else 4000)):
            time.sleep(1.5)   # the previous run's flows have ended
            sent, got, dt = udp_run(p, flows, per)
            out[(key, flows)] = (sent, got, dt)
            say("UDP %s, %d flow(s): %d of %d datagrams back (%.2f%% lost), %.0f/s" %
                (key, flows, got, sent, 100.0 * (sent - got) / sent, got / dt))
    for c in (src, dst):
        if not c.alive():
            raise BenchError("%s exited during the UDP run:\n%s" % (c.name, c.tail()))
    return out


def bench(ctx, args, R):
    quick = args.quick
    for b in ("tunnel-relay", "localproxy"):
        if not (BIN / b).exists():
            raise BenchError("%s not found: run make (or make bench)" % (BIN / b))
    R["machine"] = machine()
    say("machine: %s, %s cores" % (R["machine"]["CPU"], R["machine"]["Cores"]))

    pki_dir = make_pki(ctx, device=AGENT_THING)
    ca = pki_dir / "ca.pem"
    servers, sink_port, echo_port = start_servers(ctx)
    say("sink on 127.0.0.1:%d, echo on 127.0.0.1:%d" % (sink_port, echo_port))

    # --- tunnel: relay, destination, source -------------------------------
    specs = [{"id": tid, "services": svcs,
              "sourceAccessToken": secrets.token_urlsafe(32),
              "destinationAccessToken": secrets.token_urlsafe(32)}
             for tid, svcs in (("bench", ["SINK", "ECHO"]), ("agent", ["SSH"]),
                               ("udp", ["UDP"]))]
    for s in specs:
        ctx.secrets += [s["sourceAccessToken"], s["destinationAccessToken"]]
    tfile = ctx.tmp / "tunnels.json"
    fd = os.open(tfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"tunnels": specs}, f)
    rport = free_port()
    relay = ctx.spawn("tunnel-relay", [BIN / "tunnel-relay", "--bind", "127.0.0.1",
                                       "--port", rport, "--cert", pki_dir / "relay.pem",
                                       "--key", pki_dir / "relay.key", "--tunnels", tfile])
    relay.wait_log(r"listening on 127\.0\.0\.1:%d\b" % rport, 10)
    dst = localproxy(ctx, "localproxy-dst",
                     ["-d", "SINK=127.0.0.1:%d,ECHO=127.0.0.1:%d" % (sink_port, echo_port)],
                     rport, ca, specs[0]["destinationAccessToken"])
    dst.wait_log(r"tunnel ready", 10)
    t_sink, t_echo = free_port(), free_port()
    src = localproxy(ctx, "localproxy-src",
                     ["-s", "SINK=%d,ECHO=%d" % (t_sink, t_echo), "-b", "127.0.0.1"],
                     rport, ca, specs[0]["sourceAccessToken"])
    for p in (t_sink, t_echo):
        src.wait_log(r"listening on 127\.0\.0\.1:%d\b" % p, 10)
    R["tls"] = tls_cipher(rport, ca)
    time.sleep(1.0)
    tun_pids = {"tunnel-relay": relay.pid, "localproxy (source)": src.pid,
                "localproxy (destination)": dst.pid}
    R["rss_idle"] = {n: mem_status(p) for n, p in tun_pids.items()}
    say("tunnel up (relay :%d, %s)" % (rport, R["tls"]))

    me = os.getpid()
    paths = [Path_("direct", "direct", sink_port, echo_port,
                   [("load generator", me, False), ("sink/echo", servers.pid, False)])]
    ssh = start_ssh(ctx, sink_port, echo_port)
    if isinstance(ssh, str):
        R["ssh_skipped"] = ssh
        say("ssh -L: not measured (%s)" % ssh)
    else:
        ssh_c, sshd_c, f_sink, f_echo, R["ssh_cipher"] = ssh
        paths.append(Path_("ssh", "ssh -L", f_sink, f_echo,
                           [("load generator", me, False), ("ssh", ssh_c.pid, False),
                            ("sshd", sshd_c.pid, True), ("sink/echo", servers.pid, False)]))
        say("ssh -L up (cipher %s)" % R["ssh_cipher"])
    tunnel = Path_("tunnel", "tunnel", t_sink, t_echo,
                   [("load generator", me, False), ("localproxy (source)", src.pid, False),
                    ("tunnel-relay", relay.pid, False),
                    ("localproxy (destination)", dst.pid, False),
                    ("sink/echo", servers.pid, False)])
    paths.append(tunnel)
    R["paths"] = [(p.key, p.label) for p in paths]
    floor_port = start_forwarders(ctx, echo_port)
    if isinstance(floor_port, str):
        say("%d plain forwarders: not measured (%s)" % (FWD_CHAIN, floor_port))

    # --- integrity ---------------------------------------------------------
    nint = (8 if quick else 64) * MiB
    for p in paths:
        echo_integrity(p.echo_port, nint, 60)
        say("%s: %d MiB echoed intact (sha256 both ways)" % (p.label, nint // MiB))
    R["integrity"] = nint

    # --- 1. one connection -------------------------------------------------
    R["single"] = {}
    for p in paths:
        r = throughput_single(p, quick)
        R["single"][p.key] = r
        say("%s: one connection %s MB/s (best of 3 x %d MiB: %s s)" %
            (p.label, mbs(r["best"]), r["size"] // MiB,
             ", ".join("%.2f" % t for t in r["times"])))

    # --- 3. latency --------------------------------------------------------
    # The paths take turns, LAT_ROUNDS times, so a drift in the machine's
    # speed (tens of percent here within minutes) falls on all of them alike.
    n_rt = 500 if quick else 2000
    ports = [(p.key, p.echo_port) for p in paths]
    if not isinstance(floor_port, str):
        ports.append(("floor", floor_port))
    rts = {k: [] for k, _ in ports}
    for rnd in range(LAT_ROUNDS):
        for k, port in ports:
            rts[k] += ping_pong(port, n_rt // LAT_ROUNDS, 200 if rnd == 0 else 50)
    summary = {k: (statistics.median(v), pct(v, 99), len(v)) for k, v in rts.items()}
    R["latency"] = {p.key: summary[p.key] for p in paths}
    R["latency_floor"] = summary.get("floor", floor_port)
    for p in paths:
        say("%s: round trip median %.0f µs, p99 %.0f µs" % ((p.label,) + R["latency"][p.key][:2]))
    if "floor" in summary:
        say("%d plain forwarders: round trip median %.0f µs, p99 %.0f µs" %
            ((FWD_CHAIN,) + summary["floor"][:2]))

    # --- 2. ten connections ------------------------------------------------
    time.sleep(0.5)   # let the tunnel forget the earlier connections
    R["multi"] = {}
    per_conn = (32 if quick else 200) * MiB
    for p in paths:
        r = throughput_multi(p, per_conn, MULTI_CONNS,
                             rss_pids=tun_pids if p is tunnel else None)
        R["multi"][p.key] = r
        say("%s: %d connections %s MB/s in all, each %s..%s MB/s (spread %.0f%%)" %
            (p.label, MULTI_CONNS, mbs(r["aggregate"]), mbs(r["per"][0]), mbs(r["per"][-1]),
             100 * r["spread"]))
    R["rss_load"] = {n: R["multi"]["tunnel"]["rss_max"].get(n) for n in tun_pids}

    # --- 4. memory flat over time -----------------------------------------
    secs = 5 if quick else 30
    samples, rate = rss_flat(tunnel, tun_pids, secs)
    R["flat"] = {"samples": samples, "rate": rate, "seconds": secs}
    d = samples["localproxy (destination)"]
    say("sustained %d s at %s MB/s: destination localproxy RSS first %s, last %s, max %s MiB" %
        (secs, mbs(rate), mib(d[0]), mib(d[-1]), mib(max(d))))
    time.sleep(0.5)
    echo_integrity(tunnel.echo_port, 1 * MiB, 20)   # the tunnel still works afterwards
    R["hwm_end"] = {n: (mem_status(p) or {}).get("VmHWM") for n, p in tun_pids.items()}
    for c in (relay, src, dst):
        if not c.alive():
            raise BenchError("%s exited during the benchmark:\n%s" % (c.name, c.tail()))

    # --- the agent ---------------------------------------------------------
    try:
        R["agent"] = measure_agent(ctx, pki_dir, rport, specs[1], echo_port)
    except (BenchError, OSError, ValueError, subprocess.SubprocessError) as e:
        R["agent"] = "failed: %s" % (str(e).splitlines() or [repr(e)])[0]
    if isinstance(R["agent"], str):
        say("agent: not measured (%s)" % R["agent"])

    # --- UDP ----------------------------------------------------------------
    try:
        R["udp"] = measure_udp(ctx, rport, ca, specs[2], quick)
    except (BenchError, OSError) as e:
        R["udp"] = "failed: %s" % (str(e).splitlines() or [repr(e)])[0]
        say("UDP: not measured (%s)" % R["udp"])

    # --- odd things in the logs --------------------------------------------
    odd = []
    for c in (relay, src, dst):
        bad = [ln for ln in c.log().splitlines()
               if re.search(r"\b(warn|warning|error|err)\b", ln, re.I)]
        if bad:
            odd.append("%s logged %d warning/error line(s), e.g. `%s`" %
                       (c.name, len(bad), bad[0].strip()[:160]))
    R["log_notes"] = odd


def report(R, args):
    paths = R["paths"]
    labels = dict(paths)
    keys = [k for k, _ in paths]
    has_ssh = "ssh" in keys
    tables = []
    S = R["single"]

    # 1. one connection
    rows = []
    for k in keys:
        r = S[k]
        rows.append([labels[k], mbs(r["best"]), "%d" % (r["size"] // MiB),
                     " / ".join("%.2f" % t for t in r["times"])])
    notes = ["tunnel / direct: %.0f%%" % (100 * S["tunnel"]["best"] / S["direct"]["best"])]
    if has_ssh:
        notes.insert(0, "tunnel / ssh -L: %.0f%%" % (100 * S["tunnel"]["best"] / S["ssh"]["best"]))
    tables.append(("single", Table("1. One connection, one way (client -> sink), best of 3",
                                   ["path", "MB/s", "MiB per run", "seconds per run"],
                                   rows, notes)))

    def cpu_table(title, data):
        names = []
        for k in keys:
            for n in data[k]["cpu"]:
                if n not in names and n != OTHER:
                    names.append(n)
        rows = []
        for n in names:
            row = [n]
            for k in keys:
                c = data[k]["cpu"].get(n)
                row.append("-" if c is None else "%.2f (%.0f%%)" %
                           (c / (data[k]["bytes"] / GB), 100 * c / data[k]["wall"]))
            rows.append(row)
        tot = ["all of the above"]
        for k in keys:
            ours = sum(v for n, v in data[k]["cpu"].items() if n != OTHER)
            tot.append("%.2f" % (ours / (data[k]["bytes"] / GB)))
        rows.append(tot)
        other = [OTHER]
        for k in keys:
            other.append("%.0f%% of a core" % (100 * data[k]["cpu"][OTHER] / data[k]["wall"]))
        rows.append(other)
        busiest = max(((n, v) for n, v in data["tunnel"]["cpu"].items() if n != OTHER),
                      key=lambda kv: kv[1])
        util = 100 * busiest[1] / data["tunnel"]["wall"]
        notes = ["CPU seconds per GB carried (in brackets: share of one core during the runs; "
                 "%d cores in all). Busiest process on the tunnel path: %s at %.0f%% of a core. "
                 "%s: CPU used meanwhile by other processes and the hypervisor (steal)." %
                 (os.cpu_count(), busiest[0], util, OTHER)]
        return Table(title, ["process"] + [labels[k] for k in keys], rows, notes)

    tables.append(("cpu1", cpu_table("CPU per GB, one connection", S)))

    M = R["multi"]
    rows = []
    for k in keys:
        r = M[k]
        rows.append([labels[k], mbs(r["aggregate"]), mbs(r["per"][0]),
                     mbs(statistics.median(r["per"])), mbs(r["per"][-1]),
                     "%.0f%%" % (100 * r["spread"])])
    tables.append(("multi", Table(
        "2. %d connections at once, %d MiB each" % (MULTI_CONNS, M["tunnel"]["per_conn"] // MiB),
        ["path", "aggregate MB/s", "per-conn min", "median", "max", "spread (max-min)/max"],
        rows)))
    tables.append(("cpu10", cpu_table("CPU per GB, %d connections" % MULTI_CONNS, M)))

    L = R["latency"]
    rows = [[labels[k], "%.0f" % L[k][0], "%.0f" % L[k][1]] for k in keys]
    lat_notes = []
    floor = R.get("latency_floor")
    if isinstance(floor, str):
        lat_notes.append("%d plain forwarders: not measured (%s)." % (FWD_CHAIN, floor))
    elif floor:
        rows.append(["(reference) %d plain forwarders" % FWD_CHAIN, "%.0f" % floor[0],
                     "%.0f" % floor[1]])
        lat_notes.append(
            "(reference) %d plain forwarders: a chain of %d minimal C processes "
            "(scripts/bench_fwd.c: epoll_wait, read, write; no TLS, no framing) in front of "
            "the same echo. The tunnel has %d processes on its path (source localproxy, relay, "
            "destination localproxy) where ssh -L has 2, so this row is the least any "
            "%d-process path costs on this machine: each process adds its wake-ups and a "
            "loopback hop." % (FWD_CHAIN, FWD_CHAIN, FWD_CHAIN, FWD_CHAIN))
        if has_ssh:
            lat_notes.append("Round trip against ssh -L's: tunnel %.2fx, %d plain forwarders "
                             "%.2fx." % (L["tunnel"][0] / L["ssh"][0], FWD_CHAIN,
                                         floor[0] / L["ssh"][0]))
    tables.append(("lat", Table("3. Round trip of a %d-byte message (%d round trips per path, "
                                "in %d turns taken by the paths in order)" %
                                (LAT_MSG, L["tunnel"][2], LAT_ROUNDS),
                                ["path", "median µs", "p99 µs"], rows, lat_notes)))

    rows = []
    for n in R["rss_idle"]:
        idle = R["rss_idle"][n] or {}
        load = R["rss_load"].get(n) or {}
        rows.append([n, mib(idle.get("VmRSS")), mib(idle.get("RssAnon")),
                     mib(load.get("VmRSS")), mib(load.get("RssAnon")),
                     mib(R["hwm_end"].get(n))])
    tables.append(("rss", Table(
        "4. Memory (MiB): idle after connecting; under load = max sampled every 100 ms "
        "during the %d-connection run" % MULTI_CONNS,
        ["process", "idle VmRSS", "idle RssAnon", "load VmRSS", "load RssAnon",
         "VmHWM at end"], rows,
        ["VmRSS includes the shared libraries' resident pages (libcrypto, libwebsockets, ...); "
         "RssAnon is the process's own memory. VmHWM at end: peak VmRSS over the whole run."])))

    F = R["flat"]
    rows = []
    for n, xs in F["samples"].items():
        rows.append([n, mib(xs[0]), mib(xs[-1]), mib(max(xs)), "%d" % len(xs)])
    tables.append(("flat", Table(
        "Memory over time (MiB): VmRSS each second during a %d s single-connection transfer "
        "through the tunnel (%s MB/s)" % (F["seconds"], mbs(F["rate"])),
        ["process", "first", "last", "max", "samples"], rows)))

    A = R["agent"]
    if isinstance(A, str):
        agent_text = "agent: not measured (%s)" % A
        tables.append(("agent", agent_text))
    else:
        rows = [["tunnel-agent, idle (subscribed)", mib(A["idle"]["VmRSS"]),
                 mib(A["idle"]["VmHWM"])],
                ["tunnel-agent, one tunnel open", mib((A["open"] or {}).get("VmRSS")),
                 mib((A["open"] or {}).get("VmHWM"))],
                ["its localproxy (destination)", mib((A["child"] or {}).get("VmRSS")),
                 mib((A["child"] or {}).get("VmHWM"))]]
        tables.append(("agent", Table(
            "Agent memory (MiB)", ["process", "VmRSS", "VmHWM"], rows,
            ["tunnel-agent subscribed to a mosquitto broker on loopback (mutual TLS, the "
             "packaged ACL); the notification was published with mosquitto_pub under the "
             "relay's MQTT certificate. \"One tunnel open\": after 4 MiB went through the "
             "tunnel to the localproxy the agent started."])))

    U = R.get("udp")
    if isinstance(U, str) or U is None:
        tables.append(("udp", "UDP: not measured (%s)" % U))
    else:
        rows = []
        for (key, flows), (sent, got, dt) in sorted(U.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            rows.append(["%s, %d flow%s" % (labels.get(key, key), flows, "s" if flows > 1 else ""),
                         "%d" % sent, "%.2f%%" % (100.0 * (sent - got) / sent),
                         "%.0f" % (got / dt), "%.1f" % (got * UDP_SIZE / dt / 1e6)])
        tables.append(("udp", Table(
            "UDP: %d-byte datagrams echoed, at most %d in flight per flow" % (UDP_SIZE, UDP_WINDOW),
            ["path", "sent", "lost", "datagrams/s back", "MB/s back"], rows,
            ["A UDP service of a tunnel (-s UDP=udp:PORT, -d UDP=udp:127.0.0.1:PORT): each "
             "datagram is one DATA message, each client address one connection. A datagram "
             "not back after 0.3 s of silence counts as lost."])))

    # targets
    ratio = S["tunnel"]["best"] / S["ssh"]["best"] if has_ssh else None
    spread = M["tunnel"]["spread"]
    dn = "localproxy (destination)"
    d_load = max(x for x in ((R["rss_load"].get(dn) or {}).get("VmRSS"),
                             max(F["samples"][dn]), R["hwm_end"].get(dn)) if x is not None)
    d = F["samples"][dn]
    flat = d[-1] - d[0] <= 1024
    targets = [
        ["one connection >= 60% of ssh -L",
         "%.0f%%" % (100 * ratio) if ratio is not None else "ssh -L not measured",
         verdict(ratio >= 0.6 if ratio is not None else None)],
        ["%d connections within 20%% of each other" % MULTI_CONNS,
         "spread %.0f%%" % (100 * spread), verdict(spread <= 0.20)],
        ["destination localproxy < 8 MiB RSS under load (peak VmRSS)",
         "%.2f MiB (%d KiB)" % (d_load / 1024.0, d_load), verdict(d_load < 8 * 1024)],
        ["destination localproxy RSS flat over time (last - first <= 1 MiB)",
         "%s -> %s MiB (max %s)" % (mib(d[0]), mib(d[-1]), mib(max(d))), verdict(flat)],
    ]
    ttab = Table("Targets", ["target", "measured", "result"], targets)

    notes = []
    if not has_ssh:
        notes.append("ssh -L: not measured (%s); its column is left out." % R["ssh_skipped"])
    if min(S["direct"]["times"]) < 5:
        notes.append("Direct runs are capped at 4 GiB, so they last under 5 s: direct "
                     "loopback is only a ceiling for the other two.")
    notes.append("Peak VmRSS of the destination localproxy for the target: the highest of its "
                 "max during the %d-connection run, its samples during the %d s run and its "
                 "VmHWM at the end." % (MULTI_CONNS, F["seconds"]))
    if F["rate"] < 0.75 * S["tunnel"]["best"]:
        notes.append("The %d s transfer ran at %s MB/s, %.0f%% of the best one-connection run "
                     "(%s MB/s): the tunnel's rate varies from run to run on this machine." %
                     (F["seconds"], mbs(F["rate"]), 100 * F["rate"] / S["tunnel"]["best"],
                      mbs(S["tunnel"]["best"])))
    notes += R.get("log_notes", [])
    if R.get("leaks"):
        notes.append("AN ACCESS TOKEN APPEARS IN: %s" % ", ".join(R["leaks"]))
    return tables, ttab, notes


def minutes_text(seconds):
    """A run's length in whole minutes, at least one: "1 minute", "12 minutes"."""
    n = max(1, round(seconds / 60.0))
    return "%d minute%s" % (n, "" if n == 1 else "s")


def write_doc(R, tables, ttab, notes, elapsed):
    m = R["machine"]
    out = ["# Benchmarks", "",
           "Numbers from one run of `make bench` (`scripts/bench.py`), all measured in the same "
           "run on one machine over loopback, so the paths compare with each other; absolute "
           "numbers depend on the machine. The file is overwritten by every run.", "",
           "To reproduce: `make bench` (as root for the `ssh -L` column: it starts a throwaway "
           "sshd; about %s on this machine)." % minutes_text(elapsed), "",
           "## Machine", "", "| | |", "| --- | --- |"]
    out += ["| %s | %s |" % (k, v) for k, v in m.items()]
    out += ["| Tunnel TLS | %s (relay, as offered to `openssl s_client`) |" % R.get("tls", "?")]
    if "ssh_cipher" in R:
        out += ["| ssh -L cipher | %s (OpenSSH defaults) |" % R["ssh_cipher"]]
    out += ["", "## Targets", "", ttab.md(), "",
            "## What was measured", "",
            "- **direct**: the load generator connects to the sink on 127.0.0.1.",
            "- **ssh -L**: `ssh -N -L` to a throwaway sshd on loopback (ed25519 keys, default "
            "ciphers, `-F /dev/null`), forwarding to the same sink." if "ssh_cipher" in R else
            "- **ssh -L**: not measured (%s)." % R.get("ssh_skipped"),
            "- **tunnel**: source localproxy -> tunnel-relay -> destination localproxy -> "
            "sink, each hop TLS WebSocket on loopback; the relay reads a `--tunnels` file and "
            "the proxies get their tokens in `AWSIOT_TUNNEL_ACCESS_TOKEN`.",
            "- The load generator sends a prebuilt 1 MiB buffer with `sendall`; the sink "
            "(another Python process) reads with `recv_into` into a preallocated buffer and "
            "acknowledges the byte count, which must equal what was sent. A run is timed from "
            "the first byte to the acknowledgement. Before timing, %d MiB of random data go "
            "through each path's echo service and back, and must match by SHA-256." %
            (R["integrity"] // MiB),
            "- MB = 10^6 bytes, GB = 10^9 bytes. One-connection runs are sized for at least "
            "5 s (1 GiB when that takes at most 10 s, never more than 4 GiB) after a warm-up.",
            ""]
    for key, t in tables:
        if isinstance(t, str):
            out += [t, ""]
            continue
        level = "##" if t.title[:2] in ("1.", "2.", "3.", "4.") else "###"
        out += ["%s %s" % (level, t.title), "", t.md(), ""]
    if notes:
        out += ["## Notes from this run", ""] + ["- " + n for n in notes] + [""]
    out += ["## What limits the tunnel", "", LIMITS_TEXT]
    text = "\n".join(out)
    for heading, body in kept_sections():   # e.g. bench_scale.py's, not ours to drop
        text = with_section(text, heading, body)
    write_doc_text(text)


# Sections other scripts write into docs/benchmarks.md under their own
# "## " heading: bench.py rewrites the file but keeps them.
FOREIGN_HEADINGS = ("## Scale: N idle tunnels (make bench-scale)",
                    "## Scale: where an idle tunnel's memory goes",
                    "## Console terminals (make bench)")


def section_span(text, heading):
    """(start, end) of heading's section in text, or None."""
    at = text.find("\n" + heading + "\n")
    if at < 0:
        return None
    nxt = text.find("\n## ", at + 1 + len(heading))
    return at, (nxt if nxt >= 0 else len(text))


def with_section(text, heading, body):
    """text with heading's section replaced by body (appended if absent)."""
    new = "\n" + heading + "\n\n" + body.rstrip("\n") + "\n"
    span = section_span(text, heading)
    if span is None:
        return text.rstrip("\n") + "\n" + new
    return text[:span[0]] + new + text[span[1]:]


def kept_sections():
    try:
        old = DOC.read_text()
    except OSError:
        return []
    out = []
    for h in FOREIGN_HEADINGS:
        span = section_span(old, h)
        if span:
            out.append((h, old[span[0] + len(h) + 2:span[1]].strip("\n")))
    return out


def write_doc_text(text):
    tmp = DOC.with_name(".benchmarks.md.tmp")
    tmp.write_text(text)
    os.replace(tmp, DOC)


def replace_doc_section(heading, body):
    """Writes body under heading in docs/benchmarks.md, leaving the rest."""
    try:
        old = DOC.read_text()
    except OSError:
        old = "# Benchmarks\n"
    write_doc_text(with_section(old, heading, body))


def main():
    ap = argparse.ArgumentParser(description="Benchmark the tunnel against direct TCP and ssh -L.")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true",
                    help="small transfers, for checking the script itself (numbers meaningless)")
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = ap.parse_args()
    if args.serve:
        serve_main()
        return 0

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    t0 = time.monotonic()
    ctx = Ctx()
    R = {}
    rc = 1
    try:
        bench(ctx, args, R)
        rc = 0
    except BenchError as e:
        print("bench: FAILED: %s" % e, file=sys.stderr)
    except KeyboardInterrupt:
        print("bench: interrupted; stopping everything", file=sys.stderr)
        rc = 130
    except Exception:
        traceback.print_exc()
        print("bench: FAILED (a bug in the benchmark or an unexpected error)", file=sys.stderr)
    finally:
        ctx.stop_all()
        R["leaks"] = ctx.leaked_secrets()
        if args.keep or rc == 1:
            print("bench: logs kept in %s" % ctx.tmp, file=sys.stderr)
        else:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
    if rc:
        return rc
    elapsed = time.monotonic() - t0
    tables, ttab, notes = report(R, args)
    print()
    print("Machine: " + "; ".join("%s: %s" % kv for kv in R["machine"].items()))
    print("Tunnel TLS: %s; ssh cipher: %s" % (R.get("tls"), R.get("ssh_cipher", "-")))
    for _, t in tables:
        print()
        print(t if isinstance(t, str) else t.text())
    print()
    print(ttab.text())
    for n in notes:
        print("note: " + n)
    if args.quick or args.no_doc:
        print("\n(%s: docs/benchmarks.md not written)" % ("--quick" if args.quick else "--no-doc"))
    else:
        write_doc(R, tables, ttab, notes, elapsed)
        print("\nwrote %s (%.0f s)" % (DOC.relative_to(ROOT), elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
