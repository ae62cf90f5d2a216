"""tunnel-term (issue 10's browser terminal): driven here as the relay
drives it, with frames on its stdin/stdout ([type][u32 length][payload]),
through a real relay tunnel and destination localproxy to a real sshd."""

import json
import os
import re
import secrets
import struct
import subprocess
import threading
import time

from harness import (READY, SAN, SAN_MARKERS, binary, child_env, expect, expect_eq, fail, localproxy, pki,
                     rss_kib, scaled, start_sshd, timeout)


class Term:
    """One tunnel-term with pipes as its stdin/stdout; stderr in a log of
    the test (scanned for tokens and sanitizer reports at teardown)."""

    def __init__(self, t, relay, spec, extra=(), cols=80, rows=24, name="term"):
        self.t = t
        self.log_path = t.tmp / ("%s.log" % name)
        self.logf = open(self.log_path, "ab")
        t.defer(self.logf.close)
        argv = [binary("tunnel-term"), "--relay", "127.0.0.1:%d" % relay.port,
                "--ca", pki().ca, "--thing", "dev-1", "--service", "SSH",
                "--localproxy", binary("localproxy"), "--cols", str(cols),
                "--rows", str(rows)] + list(extra)
        env = child_env({"TUNNEL_TERM_TOKEN": spec.source_token}, home=t.tmp)
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.logf, env=env)
        t.defer(self.stop)
        self.frames = []
        self.cond = threading.Condition()
        self.eof = False
        self.reading = threading.Event()  # cleared: the relay "stops reading"
        self.reading.set()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        out = self.p.stdout
        while True:
            self.reading.wait()
            head = out.read(5)
            if len(head) < 5:
                break
            kind, n = struct.unpack(">cI", head)
            payload = out.read(n) if n else b""
            with self.cond:
                self.frames.append((kind.decode(), payload))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def send(self, kind, payload=b""):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode()
        self.p.stdin.write(struct.pack(">cI", kind.encode(), len(payload)) + payload)
        self.p.stdin.flush()

    def wait_frame(self, kinds, what, timeout_s=20, pred=None):
        """The next frame of one of kinds (others before it are skipped,
        except `e`, which fails the wait unless asked for)."""
        deadline = time.monotonic() + scaled(timeout_s)
        with self.cond:
            while True:
                while self.frames:
                    kind, payload = self.frames.pop(0)
                    if kind in kinds and (pred is None or pred(payload)):
                        return kind, payload
                    if kind == "e" and "e" not in kinds:
                        fail("%s: error frame %s" % (what, payload))
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    fail("%s: no %s frame (eof=%s); log:\n%s" % (
                        what, kinds, self.eof, self.log_path.read_text(errors="replace")[-3000:]))
                self.cond.wait(left)

    def json_frame(self, kind, what, **kw):
        return json.loads(self.wait_frame(kind, what, **kw)[1])

    def output_until(self, regex, what, timeout_s=20):
        """Collects `o` frames until their text matches regex."""
        text = ""
        deadline = time.monotonic() + scaled(timeout_s)
        while not re.search(regex, text):
            left = deadline - time.monotonic()
            if left <= 0:
                fail("%s: /%s/ not in the output %r" % (what, regex, text[-500:]))
            _, payload = self.wait_frame("o", what, timeout_s=left / max(1.0, scaled(1)))
            text += payload.decode(errors="replace")
        return text

    def wait_exit(self, timeout_s=20):
        try:
            return self.p.wait(scaled(timeout_s))
        except subprocess.TimeoutExpired:
            fail("tunnel-term still running after %.0fs" % scaled(timeout_s))

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        for f in (self.p.stdin, self.p.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.logf.flush()
        text = self.log_path.read_text(errors="replace")
        for marker in SAN_MARKERS:
            if marker in text:
                self.t.post_fail("%s: sanitizer report in its log (%s)" % (self.log_path.name, marker))
                break


def device(t, password=None, kbdint=False):
    """sshd, a relay with one tunnel and its destination localproxy."""
    sshd_port, userkey = start_sshd(t, password=password, kbdint=kbdint)
    spec = t.spec("t1", ["SSH"])
    relay = t.relay([spec])
    dest = localproxy(t, "dest", ["-d", "127.0.0.1:%d" % sshd_port], relay.port,
                      spec.destination_token)
    dest.wait_log(READY, scaled(10))
    return relay, spec, userkey


def second_tunnel(t):
    """Another relay and tunnel to the same sshd (a source token serves one
    terminal)."""
    spec = t.spec("t2", ["SSH"])
    relay = t.relay([spec], name="relay2")
    sshd_port = int(re.search(r"Port (\d+)", (t.tmp / "sshd_config").read_text()).group(1))
    dest = localproxy(t, "dest2", ["-d", "127.0.0.1:%d" % sshd_port], relay.port,
                      spec.destination_token)
    dest.wait_log(READY, scaled(10))
    return relay, spec


def host_fingerprint(t):
    r = subprocess.run(["/usr/bin/ssh-keygen", "-l", "-E", "sha256", "-f",
                        str(t.tmp / "host_ed25519.pub")], stdout=subprocess.PIPE, check=True,
                       timeout=30)
    return r.stdout.decode().split()[1]


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def expect_no_token_in_argv(pids, token):
    for pid in pids:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read()
        expect(token.encode() not in argv, "the token is in the argv of pid %d" % pid)
        with open("/proc/%d/environ" % pid, "rb") as f:
            environ = f.read()
        expect(token.encode() not in environ, "the token is in the environment of pid %d" % pid)


def sign_in(term, fingerprint, password=None, key=None, user="root"):
    """Host key (new, accepted), then one credentials try that must work."""
    h = term.json_frame("h", "host key")
    expect_eq(h, {"fingerprint": fingerprint, "keyType": "ssh-ed25519", "status": "new"}, "h")
    term.send("y")
    st = term.json_frame("s", "auth prompt", pred=lambda p: b'"auth"' in p)
    expect("password" in st.get("methods", []), "methods %r" % st)
    creds = {"user": user, "password": password} if password else {"user": user, "key": key}
    term.send("a", creds)
    term.json_frame("s", "ready", pred=lambda p: b'"ready"' in p)


@timeout(120)
def test_term_password_shell_resize_record(t):
    password = "pw-" + secrets.token_hex(12)
    t.secret(password)
    relay, spec, _ = device(t, password=password)
    record = t.tmp / "rec" / "dev-1" / "session.cast"
    term = Term(t, relay, spec, extra=["--record", str(record)])
    sign_in(term, host_fingerprint(t), password=password)

    expect_no_token_in_argv([term.p.pid] + children(term.p.pid), spec.source_token)
    expect(children(term.p.pid), "tunnel-term has no localproxy child")
    t.note("VmRSS with one idle terminal: tunnel-term %s KiB, its localproxy %s KiB" % (
        rss_kib(term.p.pid), [rss_kib(p) for p in children(term.p.pid)]))

    marker = "MARKER-%d" % secrets.randbelow(10**9)
    # The quotes keep the typed command's echo from matching: only the
    # command's own output holds the marker whole.
    term.send("i", ("echo MARK''ER-%s\r" % marker[7:]).encode())
    term.output_until(re.escape(marker), "marker")

    term.send("r", {"cols": 100, "rows": 40})
    term.send("i", b"stty size\r")
    term.output_until(r"\b40 100\b", "stty size after resize")

    term.send("i", b"exit 7\r")
    x = term.json_frame("x", "exit")
    expect_eq(x, {"status": 7}, "x")
    expect_eq(term.wait_exit(), 0, "tunnel-term exit code")

    expect_eq(oct(os.stat(record).st_mode & 0o777), "0o600", "recording mode")
    expect_eq(oct(os.stat(record.parent).st_mode & 0o777), "0o700", "recording dir mode")
    lines = record.read_text().splitlines()
    header = json.loads(lines[0])
    expect_eq((header["version"], header["width"], header["height"], header["env"]["TERM"]),
              (2, 80, 24, "xterm-256color"), "asciicast header")
    expect(isinstance(header["timestamp"], int), "header timestamp %r" % header)
    events = [json.loads(ln) for ln in lines[1:]]
    expect(all(len(e) == 3 and e[1] in ("o", "r") for e in events), "event shapes")
    expect(all(a[0] <= b[0] for a, b in zip(events, events[1:])), "event times go forward")
    expect(["r", "100x40"] in [e[1:] for e in events], "no resize event")
    output = "".join(e[2] for e in events if e[1] == "o")
    expect(marker in output, "the marker is not in the recording")
    expect(password not in record.read_text(), "the password is in the recording")
    expect(password not in term.log_path.read_text(), "the password is in tunnel-term's log")


@timeout(120)
def test_term_wrong_password_exit_4(t):
    relay, spec, _ = device(t, password="right-" + secrets.token_hex(8))
    term = Term(t, relay, spec)
    term.json_frame("h", "host key")
    term.send("y")
    for i in range(3):
        st = term.json_frame("s", "auth prompt %d" % i, pred=lambda p: b'"auth"' in p)
        if i:
            expect("%d of 3 tries left" % (3 - i) in st.get("message", ""), "message %r" % st)
        term.send("a", {"user": "root", "password": "wrong-%d" % i})
    e = term.json_frame("e", "auth failure")
    expect_eq(e["code"], "auth_failed", "error code")
    expect_eq(term.wait_exit(30), 4, "tunnel-term exit code")


@timeout(120)
def test_term_password_as_keyboard_interactive(t):
    """An sshd that takes passwords through PAM only: the password answers
    its prompt; wrong ones still give exit 4 (not sshd's MaxAuthTries
    disconnect)."""
    password = "pw-" + secrets.token_hex(12)
    t.secret(password)
    relay, spec, _ = device(t, password=password, kbdint=True)
    term = Term(t, relay, spec)
    sign_in(term, host_fingerprint(t), password=password)
    term.send("i", b"echo K''BD-OK; exit\r")
    term.output_until("KBD-OK", "shell output")
    expect_eq(term.json_frame("x", "exit"), {"status": 0}, "x")
    expect_eq(term.wait_exit(), 0, "exit code")

    relay2, spec2 = second_tunnel(t)
    term2 = Term(t, relay2, spec2, name="term-wrong")
    term2.json_frame("h", "host key")
    term2.send("y")
    for i in range(3):
        term2.json_frame("s", "auth prompt %d" % i, pred=lambda p: b'"auth"' in p)
        term2.send("a", {"user": "root", "password": "wrong-%d" % i})
    expect_eq(term2.json_frame("e", "auth failure")["code"], "auth_failed", "error code")
    expect_eq(term2.wait_exit(60), 4, "exit code after 3 wrong passwords")


@timeout(120)
def test_term_known_and_changed_host_key(t):
    relay, spec, userkey = device(t)
    fp = host_fingerprint(t)
    # The remembered key: shown as known, then a pasted private key signs in.
    term = Term(t, relay, spec, extra=["--known-host-key", fp], name="term-known")
    h = term.json_frame("h", "host key")
    expect_eq((h["fingerprint"], h["status"]), (fp, "known"), "h")
    term.json_frame("s", "auth prompt", pred=lambda p: b'"auth"' in p)
    term.send("a", {"user": "root", "key": userkey.read_text()})
    term.json_frame("s", "ready", pred=lambda p: b'"ready"' in p)
    term.send("i", b"exit\r")
    expect_eq(term.json_frame("x", "exit"), {"status": 0}, "x")
    expect_eq(term.wait_exit(), 0, "exit code with the known key")

    # Another key remembered: refused, naming both fingerprints.
    other = "SHA256:" + "A" * 43
    relay2, spec2 = second_tunnel(t)
    term2 = Term(t, relay2, spec2, extra=["--known-host-key", other], name="term-changed")
    e = term2.json_frame("e", "changed host key")
    expect_eq(e["code"], "hostkey_changed", "error code")
    expect(other in e["message"] and fp in e["message"], "message %r" % e["message"])
    expect_eq(term2.wait_exit(), 3, "exit code with a changed key")


@timeout(90)
def test_term_host_key_not_accepted_exit_3(t):
    relay, spec, _ = device(t)
    term = Term(t, relay, spec)
    term.json_frame("h", "host key")
    term.p.stdin.close()  # the browser went away without accepting
    expect_eq(term.wait_exit(), 3, "exit code")


@timeout(180)
def test_term_bounded_queues(t):
    """A relay that stops reading (4 MB of output wait), and a flood of
    input (4 MB): tunnel-term's memory stays flat, as its queues are
    bounded, and nothing is lost either way; SIGTERM ends it (0)."""
    relay, spec, userkey = device(t)
    term = Term(t, relay, spec)
    sign_in(term, host_fingerprint(t), key=userkey.read_text())
    term.send("i", b"echo RE''ADY\r")
    term.output_until("READY", "prompt")
    base = rss_kib(term.p.pid)

    # Output: 4 MB the relay does not read for a while.
    term.reading.clear()
    count = 600000
    term.send("i", b"seq 1 %d\r" % count)
    time.sleep(scaled(3))
    held = rss_kib(term.p.pid)
    t.note("tunnel-term VmRSS %s KiB idle, %s KiB with the relay not reading" % (base, held))
    expect_rss_flat_kib(base, held, 3 * 1024, "while the relay read nothing")
    term.reading.set()
    text = term.output_until(r"\n%d\r?\n" % count, "the whole seq output", timeout_s=60)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # the shell's bracketed-paste switches
    numbers = [int(x) for x in re.findall(r"(?m)^\r?(\d+)\r?$", plain)]
    want = list(range(1, count + 1))
    if numbers != want:
        at = next((i for i, (a, b) in enumerate(zip(numbers, want)) if a != b),
                  min(len(numbers), len(want)))
        fail("seq output through tunnel-term: %d numbers, first difference at %d: got %r, want %r"
             % (len(numbers), at, numbers[at:at + 3], want[at:at + 3]))

    # Input: 4 MB in 64 KiB frames, faster than the shell takes it.
    size = 4000000
    term.send("i", ("stty raw -echo; head -c %d > %s/in; stty sane; "
                    "echo GOT-$(wc -c < %s/in)\r" % (size, t.tmp, t.tmp)).encode())
    time.sleep(scaled(1))
    chunk = (b"0123456789abcdef" * 4096)
    sent = 0
    while sent < size:
        n = min(len(chunk), size - sent)
        term.send("i", chunk[:n])
        sent += n
    term.output_until("GOT-%d" % size, "the input all arrived", timeout_s=60)
    peak = rss_kib(term.p.pid)
    t.note("tunnel-term VmRSS %s KiB after 4 MB of input" % peak)
    expect_rss_flat_kib(base, peak, 3 * 1024, "after 4 MB of input")
    expect_eq((t.tmp / "in").read_bytes()[:16], b"0123456789abcdef", "input bytes")

    proxy = children(term.p.pid)
    term.p.terminate()
    expect_eq(term.wait_exit(), 0, "exit code after SIGTERM")
    for pid in proxy:
        expect(not os.path.exists("/proc/%d/cmdline" % pid) or
               open("/proc/%d/stat" % pid).read().split()[2] == "Z",
               "localproxy %d outlived tunnel-term" % pid)


def expect_rss_flat_kib(base, now, limit_kib, what):
    if SAN or not base or not now:
        return  # ASan's quarantine makes RSS meaningless
    expect(now - base < limit_kib, "tunnel-term grew by %d KiB %s" % (now - base, what))


@timeout(90)
def test_term_tunnel_refused_exit_5(t):
    """A token the relay does not know: `e` tunnel and exit 5, quickly."""
    relay, spec, _ = device(t)
    stranger = t.spec("t9", ["SSH"])  # never given to the relay
    start = time.monotonic()
    term = Term(t, relay, stranger)
    e = term.json_frame("e", "tunnel failure", timeout_s=40)
    expect_eq(e["code"], "tunnel", "error code")
    expect_eq(term.wait_exit(), 5, "exit code")
    t.note("refused in %.1f s: %s" % (time.monotonic() - start, e["message"]))


def test_term_usage(t):
    r = subprocess.run([binary("tunnel-term"), "--relay", "127.0.0.1:1"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=child_env({"TUNNEL_TERM_TOKEN": None}), timeout=30)
    expect_eq(r.returncode, 2, "exit code without required options")
    expect(b"--ca is required" in r.stderr, "stderr %r" % r.stderr)
    r = subprocess.run([binary("tunnel-term"), "--help"], stdout=subprocess.PIPE, timeout=30,
                       env=child_env())
    expect(r.returncode == 0 and b"TUNNEL_TERM_TOKEN" in r.stdout, "--help")
