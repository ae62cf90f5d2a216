#!/usr/bin/python3
"""bench_console.py - the console's browser terminal, measured: keystroke
echo against `ssh` through the same kind of tunnel, and memory with many
terminals open.

    make bench              (runs scripts/bench.py, then this)
    /usr/bin/python3 scripts/bench_console.py [--terminals N] [--devices N] [--no-doc]

Starts on 127.0.0.1 only, in a temp dir: mosquitto (the packaged ACL),
tunnel-relay with the console (--users, recordings off), one tunnel-agent
per device (each its own thing and certificate), and a throwaway sshd with a
fresh key for root (root only). Then:

1. Echo: one terminal as the browser's WebSocket client (Python, so that
   the browser's own rendering is not counted) and one `ssh -tt` through a
   tunnel opened with the API key to the same device and sshd, in a pty.
   Both run `cat` on the device; each keystroke is timed from its send to
   its echo, one at a time.
2. Memory: TERMINALS terminals across DEVICES devices, all signed in to a
   shell; VmRSS/RssAnon of the relay before and after, and of each
   terminal's helpers (tunnel-term and its localproxy).

Writes its section of docs/benchmarks.md (bench.py keeps it). Needs
python3-websockets (Debian's, under /usr/bin/python3).
"""

import argparse
import asyncio
import http.cookiejar
import json
import os
import pty
import re
import select
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (its process and document helpers)
from bench import BIN, ROOT, BenchError, free_port, mem_status, run, tool  # noqa: E402

HEADING = "## Console terminals (make bench)"
KEYS = 200             # keystrokes timed per path
KEY_GAP_S = 0.02       # between keystrokes (a fast typist: 50 per second)


# ---------------------------------------------------------------------------
# the rig
# ---------------------------------------------------------------------------

def start_broker(ctx, pki):
    bport = free_port()
    blog = ctx.tmp / "mosquitto.log"
    acl = ctx.tmp / "acl"
    acl.write_text((ROOT / "packaging" / "mosquitto" / "acl").read_text())
    lines = ["per_listener_settings false", "allow_anonymous false", "persistence false",
             "log_dest file %s" % blog, "log_type all", "acl_file %s" % acl,
             "listener %d 127.0.0.1" % bport, "cafile %s" % (pki / "ca.pem"),
             "certfile %s" % (pki / "broker.pem"), "keyfile %s" % (pki / "broker.key"),
             "require_certificate true", "use_identity_as_username true"]
    if os.geteuid() == 0:
        lines.insert(0, "user root")
    conf = ctx.tmp / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    broker = ctx.spawn("mosquitto", [tool("mosquitto"), "-c", conf])
    deadline = time.monotonic() + 10
    while "Opening ipv4 listen socket on port %d" % bport not in \
            (blog.read_text(errors="replace") if blog.exists() else ""):
        if time.monotonic() > deadline or not broker.alive():
            raise BenchError("mosquitto did not start: " + broker.tail())
        time.sleep(0.05)
    return bport


def start_sshd(ctx):
    d = ctx.tmp / "ssh"
    d.mkdir()
    for k in ("host_ed25519", "user_ed25519"):
        r = run([tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", d / k])
        if r.returncode != 0:
            raise BenchError("ssh-keygen: " + r.stdout.decode(errors="replace"))
    (d / "authorized_keys").write_text((d / "user_ed25519.pub").read_text())
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    port = free_port()
    cfg = d / "sshd_config"
    cfg.write_text("\n".join([
        "Port %d" % port, "ListenAddress 127.0.0.1", "HostKey %s" % (d / "host_ed25519"),
        "PidFile %s" % (d / "sshd.pid"), "AuthorizedKeysFile %s" % (d / "authorized_keys"),
        "StrictModes no", "UsePAM no", "PubkeyAuthentication yes",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password", "MaxSessions 100", "MaxStartups 100", ""]))
    sshd = ctx.spawn("sshd", [tool("sshd"), "-D", "-e", "-f", cfg])
    sshd.wait_log(r"Server listening on 127\.0\.0\.1 port %d" % port, 10)
    return port, d / "user_ed25519"


def start_relay(ctx, pki, bport):
    port = free_port()
    key = ctx.tmp / "api.key"
    api_key = os.urandom(24).hex()
    key.write_text(api_key + "\n")
    os.chmod(key, 0o600)
    users = ctx.tmp / "users"
    # --random prints the new password alone on stdout.
    r = subprocess.run([str(BIN / "tunnel-relay"), "adduser", "--users", str(users), "--random",
                        "bench", "admin"], stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    password = r.stdout.decode(errors="replace").strip()
    if r.returncode != 0 or not password or "\n" in password:
        raise BenchError("tunnel-relay adduser failed: " + r.stderr.decode(errors="replace"))
    ctx.secrets += [api_key, password]
    relay = ctx.spawn("tunnel-relay", [
        BIN / "tunnel-relay", "-p", port, "-b", "127.0.0.1",
        "--cert", pki / "relay.pem", "--key", pki / "relay.key",
        "--db", ctx.tmp / "relay.db", "--api-key-file", key,
        "--mqtt-uri", "ssl://127.0.0.1:%d" % bport, "--mqtt-ca", pki / "ca.pem",
        "--mqtt-cert", pki / "relay-mqtt.pem", "--mqtt-key", pki / "relay-mqtt.key",
        "--public-endpoint", "127.0.0.1:%d" % port,
        "--users", users, "--console-dir", ROOT / "console", "--no-recordings",
        "--console-ca", pki / "ca.pem", "--max-tunnels-per-thing", "64"])
    bench.wait_port(port, 15, relay)
    return relay, port, api_key, password


def start_agent(ctx, pki, bport, rport, thing, sshd_port):
    cfg = ctx.tmp / ("agent-%s.json" % thing)
    cfg.write_text(json.dumps({
        "thingName": thing,
        "broker": {"uri": "ssl://127.0.0.1:%d" % bport, "ca": str(pki / "ca.pem"),
                   "cert": str(pki / ("device-%s.pem" % thing)),
                   "key": str(pki / ("device-%s.key" % thing))},
        "relay": {"endpoint": "127.0.0.1:%d" % rport, "ca": str(pki / "ca.pem")},
        "localproxy": str(BIN / "localproxy"),
        "services": {"SSH": "127.0.0.1:%d" % sshd_port},
        "maxTunnels": 16,
    }, indent=1))
    os.chmod(cfg, 0o600)
    return ctx.spawn("agent-" + thing, [BIN / "tunnel-agent", "-c", cfg])


class Console:
    """A signed-in console user over HTTPS (cookie jar, CSRF token)."""

    def __init__(self, port, ca):
        self.base = "https://127.0.0.1:%d" % port
        self.sslctx = ssl.create_default_context(cafile=str(ca))
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.sslctx),
            urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""

    def call(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.csrf:
            req.add_header("X-CSRF-Token", self.csrf)
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def login(self, user, password):
        st, j = self.call("POST", "/console/api/login", {"user": user, "password": password})
        if st != 200:
            raise BenchError("console sign-in: HTTP %d %s" % (st, j))
        self.csrf = j["csrf"]

    def cookie_header(self):
        return "; ".join("%s=%s" % (c.name, c.value) for c in self.jar)

    def wait_online(self, things, timeout):
        deadline = time.monotonic() + timeout
        while True:
            st, j = self.call("GET", "/console/api/things")
            online = {t["thingName"] for t in j.get("things", []) if t.get("state") == "online"}
            if st == 200 and set(things) <= online:
                return
            if time.monotonic() > deadline:
                raise BenchError("devices not online within %.0f s: %s" % (timeout, j))
            time.sleep(0.3)


# ---------------------------------------------------------------------------
# a browser terminal, as the page's WebSocket client
# ---------------------------------------------------------------------------

class Terminal:
    def __init__(self, console, port, ca, thing, key_pem):
        self.c, self.port, self.ca, self.thing, self.key_pem = console, port, ca, thing, key_pem
        self.ws = None
        self.out = b""

    async def open(self, timeout=60):
        import websockets
        st, j = self.c.call("POST", "/console/api/terminals", {"thing": self.thing, "service": "SSH"})
        if st != 200:
            raise BenchError("open terminal on %s: HTTP %d %s" % (self.thing, st, j))
        self.id = j["terminalId"]
        sslctx = ssl.create_default_context(cafile=str(self.ca))
        self.ws = await websockets.connect(
            "wss://127.0.0.1:%d/console/term?id=%s&cols=100&rows=30" % (self.port, self.id),
            ssl=sslctx, subprotocols=["tunnel-console-term.v1"], max_size=None,
            extra_headers={"Cookie": self.c.cookie_header(),
                           "Origin": "https://127.0.0.1:%d" % self.port},
            open_timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            msg = await asyncio.wait_for(self.ws.recv(), max(0.1, deadline - time.monotonic()))
            kind, body = msg[:1], msg[1:]
            if kind == b"h":
                if json.loads(body)["status"] == "new":
                    await self.ws.send(b"y")
            elif kind == b"s":
                st = json.loads(body)
                if st["state"] == "auth":
                    if st.get("message"):
                        raise BenchError("terminal auth: %s" % st["message"])
                    await self.ws.send(b"a" + json.dumps({"user": "root", "key": self.key_pem}).encode())
                elif st["state"] == "ready":
                    break
            elif kind in (b"e", b"x"):
                raise BenchError("terminal %s: %s %s" % (self.thing, kind, body[:300]))
        await self.expect_after(b"i", b"", re.compile(rb"[#$] ?$"), timeout)

    async def expect_after(self, kind, data, rx, timeout):
        """Sends kind+data, then reads output until rx matches its tail."""
        if data or kind != b"i":
            await self.ws.send(kind + data)
        deadline = time.monotonic() + timeout
        while not rx.search(self.out[-200:]):
            msg = await asyncio.wait_for(self.ws.recv(), max(0.1, deadline - time.monotonic()))
            if msg[:1] == b"o":
                self.out += msg[1:]
            elif msg[:1] in (b"e", b"x"):
                raise BenchError("terminal ended: %r" % msg[:200])

    async def echo_times(self, n):
        await self.expect_after(b"i", b"cat\r", re.compile(rb"cat\r\n"), 30)
        times = []
        for i in range(n):
            ch = bytes([ord("a") + i % 26])
            t0 = time.perf_counter()
            await self.ws.send(b"i" + ch)
            got = b""
            while ch not in got:
                msg = await asyncio.wait_for(self.ws.recv(), 10)
                if msg[:1] == b"o":
                    got += msg[1:]
            times.append(time.perf_counter() - t0)
            await asyncio.sleep(KEY_GAP_S)
        await self.ws.send(b"i\x03")
        return times

    async def close(self):
        if self.ws:
            await self.ws.close()


def ssh_echo_times(ctx, api_key, rport, pki, thing, key, n):
    """The same keystrokes through `ssh -tt` over a tunnel opened with the API key."""
    body = json.dumps({"destinationConfig": {"thingName": thing, "services": ["SSH"]}}).encode()
    req = urllib.request.Request("https://127.0.0.1:%d/api/v1/tunnels" % rport, data=body,
                                 method="POST")
    req.add_header("Authorization", "Bearer " + api_key)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(pki / "ca.pem")),
                                timeout=30) as r:
        spec = json.loads(r.read())
    sport = free_port()
    src = bench.localproxy(ctx, "ssh-source", ["-s", str(sport), "-b", "127.0.0.1"], rport,
                           pki / "ca.pem", spec["sourceAccessToken"])
    src.wait_log(r"listening on 127\.0\.0\.1:%d\b" % sport, 10)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(tool("ssh"), ["ssh", "-tt", "-F", "/dev/null", "-p", str(sport), "-i", str(key),
                               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                               "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1"])
    try:
        def read_until(rx, timeout):
            buf, deadline = b"", time.monotonic() + timeout
            while not rx.search(buf[-200:]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError("ssh: no %r within %.0f s; got %r" % (rx.pattern, timeout, buf[-300:]))
                r, _, _ = select.select([fd], [], [], left)
                if r:
                    buf += os.read(fd, 65536)
            return buf
        read_until(re.compile(rb"[#$] ?$"), 60)   # the device waits for its notification first
        os.write(fd, b"cat\r")
        read_until(re.compile(rb"cat\r\n"), 30)
        times = []
        for i in range(n):
            ch = bytes([ord("a") + i % 26])
            t0 = time.perf_counter()
            os.write(fd, ch)
            got = b""
            while ch not in got:
                r, _, _ = select.select([fd], [], [], 10)
                if not r:
                    raise BenchError("ssh: keystroke echo lost")
                got += os.read(fd, 65536)
            times.append(time.perf_counter() - t0)
            time.sleep(KEY_GAP_S)
        os.write(fd, b"\x03exit\r")
        return times
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
        os.close(fd)
        src.stop()


def helpers_of(relay_pid):
    """[(tunnel-term pid, its localproxy pid or None)] under the relay."""
    table = bench.proc_table()
    out = []
    term_exe = str((BIN / "tunnel-term").resolve())
    lp_exe = str((BIN / "localproxy").resolve())
    for p in bench.descendants(relay_pid, table):
        try:
            if os.path.realpath("/proc/%d/exe" % p) != term_exe:
                continue
        except OSError:
            continue
        kids = [k for k in bench.descendants(p, table)
                if os.path.realpath("/proc/%d/exe" % k) == lp_exe]
        out.append((p, kids[0] if kids else None))
    return out


def mem_of(pid):
    """mem_status plus Pss (KiB): shared pages divided among the processes
    that map them, so that a sum over processes means something."""
    st = mem_status(pid)
    if st is None:
        return None
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for ln in f:
                if ln.startswith("Pss:"):
                    st["Pss"] = int(ln.split()[1])
    except OSError:
        pass
    return st


def ms(xs, q):
    return 1000 * bench.pct(xs, q)


async def measure(ctx, args, R):
    if os.geteuid() != 0:
        raise BenchError("needs root (a throwaway sshd)")
    for t in ("mosquitto", "sshd", "ssh", "ssh-keygen"):
        if not tool(t):
            raise BenchError("%s not installed" % t)
    things = ["bench-dev-%d" % (i + 1) for i in range(args.devices)]
    d = ctx.tmp / "pki"
    argv = ["bash", ROOT / "certs" / "mkpki.sh", "-o", d]
    for t in things:
        argv += ["--device", t]
    r = run(argv, timeout=120)
    if r.returncode != 0:
        raise BenchError("mkpki.sh: " + r.stdout.decode(errors="replace"))
    bport = start_broker(ctx, d)
    sshd_port, key = start_sshd(ctx)
    key_pem = key.read_text()
    relay, rport, api_key, password = start_relay(ctx, d, bport)
    for t in things:
        start_agent(ctx, d, bport, rport, t, sshd_port)
    con = Console(rport, d / "ca.pem")
    con.login("bench", password)
    con.wait_online(things, 30)
    time.sleep(1.0)
    R["relay_before"] = mem_status(relay.pid)

    # 1. echo
    term = Terminal(con, rport, d / "ca.pem", things[0], key_pem)
    await term.open()
    R["echo_console"] = await term.echo_times(KEYS)
    await term.close()
    R["echo_ssh"] = ssh_echo_times(ctx, api_key, rport, d, things[0], key, KEYS)

    # 2. memory with many terminals
    terms = []
    for i in range(args.terminals):
        t = Terminal(con, rport, d / "ca.pem", things[i % len(things)], key_pem)
        await t.open()
        terms.append(t)
    time.sleep(2.0)
    R["relay_open"] = mem_status(relay.pid)
    hs = helpers_of(relay.pid)
    R["helpers"] = [(mem_of(a), mem_of(b) if b else None) for a, b in hs]
    R["n_open"] = len(terms)
    for t in terms:
        await t.close()


def report(R, args):
    ec, es = R["echo_console"], R["echo_ssh"]
    rb, ro = R["relay_before"], R["relay_open"]
    terms = [a for a, _ in R["helpers"] if a]
    lps = [b for _, b in R["helpers"] if b]

    def mean(rows, key):
        vals = [r.get(key, 0) for r in rows]
        return statistics.mean(vals) / 1024 if vals else 0.0

    def total(rows, key):
        return sum(r.get(key, 0) for r in rows) / 1024

    lines = [
        "Keystroke echo and memory of the console's browser terminals (`scripts/bench_console.py`, "
        "run by `make bench` after `scripts/bench.py`). The terminal is driven as the page drives "
        "it, by a WebSocket client (Python), so the browser's own rendering is not counted; "
        "`ssh -tt` runs in a pty. Both reach the same sshd on the same device through the relay, "
        "each keystroke timed from its send to its echo by `cat` on the device, one at a time, "
        "%d keystrokes %d ms apart." % (KEYS, KEY_GAP_S * 1000), "",
        "| path | median | p95 | p99 |", "| --- | ---: | ---: | ---: |",
        "| `ssh -tt` → source localproxy → relay → device | %.2f ms | %.2f ms | %.2f ms |" %
        (ms(es, 50), ms(es, 95), ms(es, 99)),
        "| console: WebSocket → relay → tunnel-term (libssh) → localproxy --stdio → relay → device "
        "| %.2f ms | %.2f ms | %.2f ms |" % (ms(ec, 50), ms(ec, 95), ms(ec, 99)),
        "| difference | %+.2f ms | %+.2f ms | |" % (ms(ec, 50) - ms(es, 50), ms(ec, 95) - ms(es, 95)),
        "",
        "Memory with %d terminals open across %d devices, each signed in to a shell:" %
        (R["n_open"], args.devices), "",
        "| process | VmRSS | RssAnon | Pss |", "| --- | ---: | ---: | ---: |",
        "| tunnel-relay, before | %.1f MiB | %.1f MiB | |" % (rb["VmRSS"] / 1024, rb["RssAnon"] / 1024),
        "| tunnel-relay, %d terminals open | %.1f MiB | %.1f MiB | |" %
        (R["n_open"], ro["VmRSS"] / 1024, ro["RssAnon"] / 1024),
        "| tunnel-term, each (mean of %d) | %.1f MiB | %.2f MiB | %.2f MiB |" %
        (len(terms), mean(terms, "VmRSS"), mean(terms, "RssAnon"), mean(terms, "Pss")),
        "| its localproxy --stdio, each (mean of %d) | %.1f MiB | %.2f MiB | %.2f MiB |" %
        (len(lps), mean(lps, "VmRSS"), mean(lps, "RssAnon"), mean(lps, "Pss")),
        "| all helpers together | | %.1f MiB | %.1f MiB |" %
        (total(terms, "RssAnon") + total(lps, "RssAnon"), total(terms, "Pss") + total(lps, "Pss")),
        "",
        "VmRSS counts shared library pages in every process that maps them; Pss divides them "
        "among those processes, so its sum is what the helpers cost together.",
    ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description="Keystroke echo and memory of console terminals.")
    ap.add_argument("--terminals", type=int, default=20)
    ap.add_argument("--devices", type=int, default=5)
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    ctx = bench.Ctx()
    R = {}
    rc = 1
    try:
        asyncio.run(measure(ctx, args, R))
        text = report(R, args)
        print(HEADING + "\n\n" + text)
        leaks = ctx.leaked_secrets()
        if leaks:
            raise BenchError("a secret appears in: %s" % ", ".join(leaks))
        if not args.no_doc:
            bench.replace_doc_section(HEADING, text)
        rc = 0
    except BenchError as e:
        print("bench_console: FAILED: %s" % e, file=sys.stderr)
    finally:
        ctx.stop_all()
        if args.keep or rc:
            print("bench_console: logs kept in %s" % ctx.tmp, file=sys.stderr)
        else:
            import shutil
            shutil.rmtree(ctx.tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
