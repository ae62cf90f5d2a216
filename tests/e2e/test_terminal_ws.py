"""The browser terminal's relay side (issue 10): POST /console/api/terminals
opens the terminal's own tunnel, wss://HOST/console/term?id=ID runs a
tunnel-term helper for it and passes frames both ways, host keys are
remembered per thing. Real processes on loopback: mosquitto, tunnel-relay
with --users, tunnel-agent for nanopi-01 and a real sshd behind it; the
browser is played by wsprobe (a WebSocket client of the standard library)
with the session cookie and the Origin a browser would send."""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time

from harness import (SAN, binary, expect, expect_eq, fail, pki, rss_kib, scaled, start_sshd,
                     timeout, wait_until)
from test_agent import AgentRig
from test_api import THING, ApiRelay
from test_term import Term
from wsprobe import WS, ProbeClosed, ProbeTimeout

PROTOCOL = "tunnel-console-term.v1"


# --------------------------------------------------------------------------
# the console's users, sign-in, and the terminal's HTTP calls
# --------------------------------------------------------------------------

def console_files(t):
    """A console directory as --console-dir wants it (the pages are the web
    branch's; only the terminal's relay side is tested here)."""
    d = t.tmp / "console"
    (d / "node_modules" / "@xterm").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>console</title>\n")
    return d


def add_users(t, names):
    """{name: (role, password)} into a users file made by tunnel-relay adduser."""
    path = t.tmp / "users"
    creds = {}
    for name, role in names.items():
        pw = "pw-" + secrets.token_hex(10)
        t.secret(pw)
        r = subprocess.run([binary("tunnel-relay"), "adduser", "--users", str(path), name, role],
                           input=(pw + "\n").encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=scaled(60))
        expect(r.returncode == 0, "adduser %s: %s" % (name, r.stderr.decode(errors="replace")))
        creds[name] = pw
    return path, creds


def console_args(t, users):
    return ["--users", str(users), "--console-dir", str(console_files(t)),
            "--audit-log", str(t.tmp / "audit.log"), "--recordings", str(t.tmp / "rec"),
            "--console-ca", pki().ca, "--terminal-lifetime-minutes", "5",
            "--term-helper", str(token_catcher(t))]


def token_catcher(t):
    """tunnel-term behind a script that keeps the token it is given (in
    its environment) for the test, then runs it with the same pid."""
    script = t.tmp / "tunnel-term"
    script.write_text('#!/bin/sh\nprintf %%s "$TUNNEL_TERM_TOKEN" >> "%s"\nprintf "\\n" >> "%s"\n'
                      'exec "%s" "$@"\n' % (t.tmp / "tokens", t.tmp / "tokens",
                                            binary("tunnel-term")))
    script.chmod(0o700)
    return script


def tokens_given(t):
    path = t.tmp / "tokens"
    return path.read_text().split() if path.exists() else []


class Session:
    """A signed-in console user: cookie and CSRF token."""

    def __init__(self, relay, user, password):
        self.relay = relay
        self.user = user
        r = relay.curl("POST", "/console/api/login", {"user": user, "password": password},
                       key=None)
        expect(r.status == 200, "sign-in of %s: HTTP %d %s" % (user, r.status, r.text))
        m = re.match(r"tc_session=([^;]+)", r.headers.get("set-cookie", ""))
        expect(m, "sign-in of %s: no session cookie in %r" % (user, r.headers))
        self.cookie = m.group(1)
        relay.t.secret(self.cookie)
        self.csrf = r.json["csrf"]

    def post(self, path, body=None, csrf=True):
        headers = ["Cookie: tc_session=%s" % self.cookie]
        if csrf:
            headers.append("X-CSRF-Token: %s" % self.csrf)
        return self.relay.curl("POST", path, body if body is not None else {}, key=None,
                               headers=headers)

    def open_terminal(self, thing=THING, service="SSH", want=200):
        r = self.post("/console/api/terminals", {"thing": thing, "service": service})
        expect(r.status == want, "open a terminal: HTTP %d %s (wanted %d)" %
               (r.status, r.text, want))
        return r.json

    def close_terminal(self, tid):
        r = self.post("/console/api/terminals/%s/close" % tid)
        expect_eq((r.status, r.json), (200, {}), "close terminal")

    def ws(self, term_id, origin=None, cols=None, rows=None, protocols=(PROTOCOL,)):
        port = self.relay.port
        path = "/console/term?id=%s" % term_id
        if cols:
            path += "&cols=%d&rows=%d" % (cols, rows)
        headers = [("Cookie", "tc_session=%s" % self.cookie),
                   ("Origin", origin or "https://127.0.0.1:%d" % port)]
        return Terminal(WS.connect(port, self.relay.ca, path=path, protocols=protocols,
                                   headers=headers, timeout=scaled(10)))


class Terminal:
    """The browser's side of one terminal WebSocket: [type][payload] messages."""

    def __init__(self, ws):
        self.ws = ws
        self.closed_code = None
        self.closed_reason = b""

    @property
    def status(self):
        return self.ws.status

    def send(self, kind, payload=b""):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode()
        self.ws.send_binary(kind.encode() + payload)

    def recv(self, timeout_s):
        """(type, payload), or (None, None) once closed."""
        ev = self.ws.recv(timeout_s)
        while ev.kind in ("ping", "pong"):
            ev = self.ws.recv(timeout_s)
        if ev.kind == "close":
            self.closed_code = ev.close_code
            self.closed_reason = ev.data[2:]
            return None, None
        expect(ev.kind == "binary" and ev.data, "a text or empty message: %r" % ev)
        return chr(ev.data[0]), ev.data[1:]

    def wait_frame(self, kinds, what, timeout_s=30, pred=None):
        deadline = time.monotonic() + scaled(timeout_s)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("%s: no %s message in time" % (what, kinds))
            try:
                kind, payload = self.recv(left)
            except (ProbeTimeout, ProbeClosed) as e:
                fail("%s: %r" % (what, e))
            if kind is None:
                fail("%s: the socket closed (%s %r)" % (what, self.closed_code,
                                                          self.closed_reason))
            if kind == "e" and "e" not in kinds:
                fail("%s: error message %s" % (what, payload))
            if kind in kinds and (pred is None or pred(payload)):
                return kind, payload

    # The same as tunnel-term's own test, over a WebSocket instead of pipes.
    json_frame = Term.json_frame
    output_until = Term.output_until

    def wait_closed(self, what, timeout_s=30):
        deadline = time.monotonic() + scaled(timeout_s)
        while self.closed_code is None:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("%s: the socket is still open" % what)
            try:
                self.recv(left)
            except ProbeClosed:
                break
        return self.closed_code

    def close(self):
        self.ws.close()


# --------------------------------------------------------------------------
# the system: broker, relay with the console, agent, sshd
# --------------------------------------------------------------------------

class TermRig:
    def __init__(self, t, max_tunnels=4, sshd=True):
        self.t = t
        self.password = "root-" + secrets.token_hex(10)
        t.secret(self.password)
        if sshd:
            self.sshd_port, _ = start_sshd(t, password=self.password)
            services = {"SSH": self.sshd_port}
        else:
            services = None  # an echo service
        users, self.creds = add_users(t, {"alice": "operator", "bob": "operator",
                                          "ada": "admin"})
        self.rig = AgentRig(t, services=services, max_tunnels=max_tunnels,
                            relay_args=console_args(t, users))
        self.relay = self.rig.relay
        self.wait_state("online")

    def session(self, user):
        return Session(self.relay, user, self.creds[user])

    def wait_state(self, state):
        def ok():
            r = self.relay.curl("GET", "/api/v1/things/%s" % THING)
            return r.status == 200 and r.json.get("state") == state
        wait_until(ok, scaled(20), "%s %s in /api/v1/things" % (THING, state))

    def tunnel_status(self, tid):
        return self.relay.describe(tid)["status"]

    def wait_closed_tunnel(self, tid, what):
        wait_until(lambda: self.tunnel_status(tid) == "CLOSED", scaled(15),
                   "%s: tunnel %s CLOSED" % (what, tid))

    def helper_pid(self, term_id, since):
        m = self.relay.proc.wait_log(r"terminal %s: helper (\d+) runs" % term_id, scaled(15),
                                     since=since, what="the terminal's helper")
        return int(m.group(1))

    def audit(self):
        path = self.t.tmp / "audit.log"
        if not path.exists():
            return []
        return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]

    def wait_audit(self, action, what, **fields):
        def found():
            return [e for e in self.audit() if e.get("action") == action and
                    all(e.get(k) == v for k, v in fields.items())]
        wait_until(lambda: bool(found()), scaled(10), "%s: audit %s %r" % (what, action, fields))
        return found()[-1]

    def host_fingerprint(self):
        r = subprocess.run(["/usr/bin/ssh-keygen", "-l", "-E", "sha256", "-f",
                            str(self.t.tmp / "host_ed25519.pub")], stdout=subprocess.PIPE,
                           check=True, timeout=30)
        return r.stdout.decode().split()[1]

    def new_host_key(self):
        """A re-installed device: sshd gets a new host key (SIGHUP: it
        re-executes itself and reads its keys again)."""
        key = self.t.tmp / "host_ed25519"
        for p in (key, key.with_suffix(".pub")):
            p.unlink()
        subprocess.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True, timeout=30, stdin=subprocess.DEVNULL)
        sshd = [p for p in self.t.procs if p.name == "sshd"][0]
        mark = sshd.mark()
        os.kill(sshd.pid, signal.SIGHUP)
        sshd.wait_log(r"Server listening on 127\.0\.0\.1 port %d" % self.sshd_port, scaled(10),
                      since=mark, what="sshd after SIGHUP")

        def banner():
            try:
                with socket.create_connection(("127.0.0.1", self.sshd_port), timeout=2) as c:
                    return c.recv(64).startswith(b"SSH-2.0")
            except OSError:
                return False
        wait_until(banner, scaled(10), "sshd's banner after SIGHUP")


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def pids_named(comm):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % entry) as f:
                if entry.isdigit() and f.read().strip() == comm:
                    found.append(int(entry))
        except OSError:
            pass
    return found


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def wchar(pid):
    with open("/proc/%d/io" % pid) as f:
        return int([ln for ln in f if ln.startswith("wchar:")][0].split()[1])


def expect_token_nowhere(t, token, relay):
    t.secret(token)  # every process log is scanned for it at teardown
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read()
        except OSError:
            continue
        expect(token.encode() not in argv, "the source token is in the argv of pid %s" % entry)
    expect(token not in relay.proc.log(), "the source token is in the relay's log")
    expect(token not in (t.tmp / "audit.log").read_text(), "the source token is in the audit log")


def sign_in_ssh(term, rig, status):
    """Host key (status new: accepted), password, then a ready shell."""
    h = term.json_frame("h", "host key")
    expect_eq((h["fingerprint"], h["status"]), (rig.host_fingerprint(), status), "h")
    if status == "new":
        term.send("y")
    term.json_frame("s", "auth prompt", pred=lambda p: b'"auth"' in p)
    term.send("a", {"user": "root", "password": rig.password})
    term.json_frame("s", "ready", pred=lambda p: b'"ready"' in p)


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------

@timeout(240)
def test_terminal_shell_hostkeys_and_refusals(t):
    rig = TermRig(t)
    alice, bob = rig.session("alice"), rig.session("bob")

    # Opening takes the CSRF token.
    r = alice.post("/console/api/terminals", {"thing": THING, "service": "SSH"}, csrf=False)
    expect_eq(r.status, 403, "open without the CSRF token")
    opened = alice.open_terminal()
    term_id, tunnel_id = opened["terminalId"], opened["tunnelId"]
    expect_eq(rig.relay.describe(tunnel_id)["description"], "console terminal for alice",
              "the terminal tunnel's description")

    # Refused upgrades: another site's page, another user, no subprotocol.
    w = alice.ws(term_id, origin="https://evil.example")
    expect_eq(w.status, 403, "a WebSocket from another Origin")
    w = bob.ws(term_id)
    expect_eq(w.status, 404, "bob's WebSocket to alice's terminal")
    w = alice.ws(term_id, protocols=())
    expect_eq(w.status, 400, "a WebSocket without the terminal's subprotocol")

    mark = rig.relay.proc.mark()
    term = alice.ws(term_id, cols=100, rows=30)
    expect_eq(term.status, 101, "alice's WebSocket")
    expect_eq(term.ws.subprotocol, PROTOCOL, "subprotocol")
    w = alice.ws(term_id)
    expect_eq(w.status, 409, "a second WebSocket to the same terminal")

    helper = rig.helper_pid(term_id, mark)
    rig.wait_audit("terminal.start", "helper started", who="alice", tunnelId=tunnel_id)
    sign_in_ssh(term, rig, "new")
    rig.wait_audit("hostkey.accept", "host key accepted", who="alice", thing=THING)
    tokens = tokens_given(t)
    expect_eq(len(tokens), 1, "tokens handed to helpers")
    expect_token_nowhere(t, tokens[0], rig.relay)

    # A frame type only the helper may send closes the socket... later;
    # first the shell, the resize.
    marker = "MARKER-%d" % secrets.randbelow(10**9)
    term.send("i", ("echo MARK''ER-%s\r" % marker[7:]).encode())
    term.output_until(re.escape(marker), "marker")
    term.send("i", b"stty size\r")
    term.output_until(r"\b30 100\b", "stty size from the query's cols/rows")
    term.send("r", {"cols": 120, "rows": 40})
    term.send("i", b"stty size\r")
    term.output_until(r"\b40 120\b", "stty size after resize")

    # Closing from the console: socket closed, helper gone, tunnel CLOSED.
    alice.close_terminal(term_id)
    term.wait_closed("close from the console")
    wait_until(lambda: gone(helper), scaled(10), "the helper gone")
    rig.wait_closed_tunnel(tunnel_id, "close from the console")
    end = rig.wait_audit("terminal.end", "terminal ended", who="alice", tunnelId=tunnel_id)
    expect(end["detail"].startswith("closed by alice; helper "), "terminal.end detail %r" % end)
    recs = list((t.tmp / "rec" / THING).glob("*-alice-%s.cast" % term_id))
    expect(recs and marker in recs[0].read_text(), "the recording holds the marker")

    # The key is remembered: known the second time. The browser closes.
    opened = alice.open_terminal()
    mark = rig.relay.proc.mark()
    term = alice.ws(opened["terminalId"])
    helper = rig.helper_pid(opened["terminalId"], mark)
    sign_in_ssh(term, rig, "known")
    term.send("o", b"not mine to send")
    expect_eq(term.wait_closed("a frame the browser may not send"), 1008, "close code")
    wait_until(lambda: gone(helper), scaled(10), "the helper gone after the browser left")
    rig.wait_closed_tunnel(opened["tunnelId"], "browser gone")

    # The device is re-installed: its new key is refused, audited.
    rig.new_host_key()
    opened = alice.open_terminal()
    term = alice.ws(opened["terminalId"])
    e = term.json_frame("e", "host key changed")
    expect_eq(e["code"], "hostkey_changed", "error code")
    term.wait_closed("after the refusal")
    expect_eq(term.closed_reason, b"exit status 3", "close reason: tunnel-term's exit status")
    rig.wait_audit("hostkey.refused", "refused key", who="alice", thing=THING)
    rig.wait_closed_tunnel(opened["tunnelId"], "after the refusal")

    # Only an admin forgets a key; then it is new again.
    path = "/console/api/things/%s/hostkey/forget" % THING
    expect_eq(alice.post(path).status, 403, "an operator forgets a host key")
    r = rig.session("ada").post(path)
    expect_eq((r.status, r.json), (200, {"forgotten": True}), "the admin forgets it")
    rig.wait_audit("hostkey.forget", "forgotten", who="ada", thing=THING)
    opened = alice.open_terminal()
    term = alice.ws(opened["terminalId"])
    sign_in_ssh(term, rig, "new")
    term.close()
    rig.wait_closed_tunnel(opened["tunnelId"], "browser closed")


@timeout(180)
def test_terminal_refused_when_offline_or_at_the_agents_limit(t):
    rig = TermRig(t, max_tunnels=1, sshd=False)
    alice = rig.session("alice")
    r = alice.post("/console/api/terminals", {"thing": THING, "service": "HTTP"})
    expect_eq(r.status, 400, "a service the agent does not map")
    rig.rig.open()
    r = alice.post("/console/api/terminals", {"thing": THING, "service": "SSH"})
    expect_eq(r.status, 429, "open past the agent's maxTunnels")
    expect("maxTunnels" in r.json["error"] and THING in r.json["error"],
           "429 in words: %r" % r.json)
    rig.rig.agent.stop()
    rig.wait_state("offline")
    r = alice.post("/console/api/terminals", {"thing": THING, "service": "SSH"})
    expect_eq(r.status, 409, "open to an offline thing")
    expect("offline" in r.json["error"], "409 in words: %r" % r.json)


@timeout(120)
def test_terminal_tunnels_closed_after_a_relay_crash(t):
    users, creds = add_users(t, {"alice": "operator"})
    relay = ApiRelay(t, extra_args=console_args(t, users))
    alice = Session(relay, "alice", creds["alice"])
    opened = alice.open_terminal()  # no presence: the thing is not known offline
    expect_eq(relay.describe(opened["tunnelId"])["status"], "OPEN", "before the crash")
    other = relay.open()  # not a terminal's: stays open
    relay.proc.kill()
    relay.start()
    relay.proc.wait_log(r"closing 1 tunnel of browser terminals", scaled(10))
    wait_until(lambda: relay.describe(opened["tunnelId"])["status"] == "CLOSED", scaled(10),
               "the terminal's tunnel closed at start-up")
    expect_eq(relay.describe(other["tunnelId"])["status"], "OPEN", "the API's tunnel")


@timeout(240)
def test_terminal_output_flood_waits_for_the_browser(t):
    # A browser that stops reading: the relay stops reading the helper
    # (which stops reading SSH), instead of queueing the whole output.
    rig = TermRig(t)
    alice = rig.session("alice")
    opened = alice.open_terminal()
    term = alice.ws(opened["terminalId"])
    sign_in_ssh(term, rig, "new")
    term.send("i", b"stty -echo\r")
    time.sleep(0.5)
    base = rss_kib(rig.relay.proc.pid)
    mib = 24
    term.send("i", ("head -c %d /dev/zero | base64 -w 1000; echo FLO''OD-END\r" % (mib << 20))
              .encode())
    time.sleep(scaled(4))  # not reading: everything behind the relay fills up
    # The device's base64 is held up (its pipe full), not done.
    writer = [pid for pid in pids_named("base64") if b"1000" in cmdline(pid)]
    expect(len(writer) == 1, "the device's base64 is not running: %r" % writer)
    before = wchar(writer[0])
    time.sleep(1)
    expect(wchar(writer[0]) == before, "the device's base64 still writes: nothing waits")
    stalled = rss_kib(rig.relay.proc.pid)
    t.note("relay VmRSS %d KiB before, %d KiB with %d MiB of output waiting" %
           (base, stalled, mib * 4 // 3))
    if not SAN:  # the sanitizers' quarantine makes RSS meaningless
        expect(stalled - base < 4 * 1024,
               "the relay grew by %d KiB while the browser did not read" % (stalled - base))
    got = 0
    text = ""
    deadline = time.monotonic() + scaled(120)
    while "FLOOD-END" not in text:
        expect(time.monotonic() < deadline, "the output's end never came (%d bytes)" % got)
        _, payload = term.wait_frame("o", "flood output")
        got += len(payload)
        text = (text + payload.decode(errors="replace"))[-64:]
    expect(got > (mib << 20) * 4 // 3, "only %d bytes of output arrived" % got)
    # Another flood, and the browser leaves while the relay waits for it:
    # the helper is still ended and the terminal closed.
    term.send("i", ("head -c %d /dev/zero | base64\r" % (mib << 20)).encode())
    time.sleep(scaled(2))
    term.close()
    rig.wait_closed_tunnel(opened["tunnelId"], "browser closed")
    rig.wait_audit("terminal.end", "the end after leaving mid-flood", tunnelId=opened["tunnelId"])


@timeout(120)
def test_terminal_waits_for_the_device(t):
    # No agent: the device never connects its end, so no helper starts
    # (an SSH stream sent now would be reset); closing still ends it all.
    users, creds = add_users(t, {"alice": "operator"})
    relay = ApiRelay(t, extra_args=console_args(t, users))
    alice = Session(relay, "alice", creds["alice"])
    opened = alice.open_terminal()
    term = alice.ws(opened["terminalId"])
    expect_eq(term.status, 101, "the WebSocket")
    st = term.json_frame("s", "waiting status")
    expect_eq(st["state"], "connecting", "status while waiting")
    expect("device" in st["message"], "the status says what it waits for: %r" % st)
    time.sleep(1)
    expect(not relay.proc.has_log(r"terminal %s: helper \d+ runs" % opened["terminalId"]),
           "a helper started before the device connected")
    alice.close_terminal(opened["terminalId"])
    term.wait_closed("close while waiting for the device")
    wait_until(lambda: relay.describe(opened["tunnelId"])["status"] == "CLOSED", scaled(10),
               "the tunnel closed")
    expect(tokens_given(t) == [], "a helper was given the token")
