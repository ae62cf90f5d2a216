"""End-to-end test harness: real processes on loopback.

A test is a function `test_x(t)` in tests/e2e/test_*.py; `t` is a TestCtx
that owns a temp dir and every process the test starts, and tears them down
(SIGTERM, then SIGKILL) whatever happens. Teardown also checks that each of
our binaries exited 0 on SIGTERM, that no sanitizer report is in any log,
and that no access token appears in any log.

Python 3.11 standard library only.
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BIN_DIR = Path(os.environ.get("BIN_DIR") or (ROOT / "build" / "bin")).resolve()
SAN = os.environ.get("SAN") == "1"
# Sanitizer builds run 2-3x slower: scale every wait.
SCALE = float(os.environ.get("E2E_TIMEOUT_SCALE") or (3.0 if SAN else 1.0))
KEEP = os.environ.get("E2E_KEEP") == "1"

SAN_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
               "UndefinedBehaviorSanitizer")

MiB = 1024 * 1024


class Skip(Exception):
    """Raise to skip a test, with a reason."""


class TestFailure(AssertionError):
    pass


def skip(reason):
    raise Skip(reason)


def fail(msg):
    raise TestFailure(msg)


def expect(cond, msg):
    if not cond:
        raise TestFailure(msg)


def expect_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: expected %r, got %r" % (what, want, got))


def timeout(seconds):
    """Decorator: per-test time limit (before sanitizer scaling)."""
    def deco(fn):
        fn.e2e_timeout = seconds
        return fn
    return deco


def plain_build_only(reason):
    """Decorator: the test runs in the plain build only; under SAN=1 (make
    check's second pass) run.py skips it with this reason. For heavy tests
    whose subject the sanitizers do not see (a browser, say) and whose
    paths through our programs other tests already run under SAN."""
    def deco(fn):
        fn.e2e_plain_only = reason
        return fn
    return deco


def scaled(seconds):
    return seconds * SCALE


def binary(name):
    p = BIN_DIR / name
    if not p.exists():
        fail("binary %s not found (build it with make; BIN_DIR=%s)" % (p, BIN_DIR))
    return str(p)


# --------------------------------------------------------------------------
# PKI: made once per run by run.py (env E2E_PKI_DIR), never per test.
# --------------------------------------------------------------------------

class PKI:
    def __init__(self, d):
        self.dir = Path(d)
        self.ca = str(self.dir / "ca.pem")
        self.cert = str(self.dir / "relay.pem")
        self.key = str(self.dir / "relay.key")
        for f in (self.ca, self.cert, self.key):
            if not os.path.exists(f):
                fail("PKI file %s missing" % f)


def make_pki(outdir):
    """Runs certs/mkpki.sh -o outdir; returns a PKI."""
    script = ROOT / "certs" / "mkpki.sh"
    if not script.exists():
        raise RuntimeError("certs/mkpki.sh not found: the e2e tests need it "
                           "to make the development PKI")
    r = subprocess.run(["bash", str(script), "-o", str(outdir)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("certs/mkpki.sh -o %s failed (rc=%d):\n%s" %
                           (outdir, r.returncode, r.stdout.decode(errors="replace")))
    return PKI(outdir)


_pki = None


def pki():
    global _pki
    if _pki is None:
        d = os.environ.get("E2E_PKI_DIR")
        if not d:
            fail("E2E_PKI_DIR not set: run the tests through tests/e2e/run.py")
        _pki = PKI(d)
    return _pki


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def wait_port(port, timeout, host="127.0.0.1"):
    def ok():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False
    wait_until(ok, timeout, "%s:%d to accept connections" % (host, port))


def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def sha(b):
    return hashlib.sha256(b).hexdigest()


def pump(sock, nbytes, timeout=60.0, chunk=65536, stall=None):
    """Sends nbytes of fresh random data through sock while a second thread
    reads the echo back. Returns (sha256 sent, sha256 received, bytes
    received). Stops reading at nbytes, EOF, error, the deadline, or when
    nothing arrives for `stall` seconds (default scaled(20)); never
    half-closes (the tunnel has no half-close)."""
    h_sent = hashlib.sha256()
    h_recv = hashlib.sha256()
    got = [0]
    errors = []
    deadline = time.monotonic() + timeout
    stall = stall if stall is not None else scaled(20)
    done = threading.Event()

    def reader():
        last = time.monotonic()
        try:
            while got[0] < nbytes:
                now = time.monotonic()
                left = deadline - now
                if left <= 0:
                    errors.append("reader: timed out after %d of %d bytes" % (got[0], nbytes))
                    return
                if now - last > stall:
                    errors.append("reader: stalled, nothing for %.0fs after %d of %d bytes" %
                                  (stall, got[0], nbytes))
                    return
                sock.settimeout(min(left, 1.0))
                try:
                    b = sock.recv(min(262144, nbytes - got[0]))
                except socket.timeout:
                    continue
                last = time.monotonic()
                if not b:
                    errors.append("reader: EOF after %d of %d bytes" % (got[0], nbytes))
                    return
                h_recv.update(b)
                got[0] += len(b)
        except OSError as e:
            errors.append("reader: %r after %d of %d bytes" % (e, got[0], nbytes))
        finally:
            done.set()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    sent = 0
    try:
        while sent < nbytes:
            n = min(chunk, nbytes - sent)
            b = os.urandom(n)
            h_sent.update(b)
            view = memoryview(b)
            while view:
                if time.monotonic() > deadline:
                    raise TimeoutError("writer timed out after %d of %d bytes" % (sent, nbytes))
                if done.is_set():
                    raise TimeoutError("writer gave up with the reader after %d of %d bytes" %
                                       (sent, nbytes))
                # select-free send with a short timeout so the deadline holds
                sock.settimeout(1.0)
                try:
                    k = sock.send(view)
                except socket.timeout:
                    continue
                view = view[k:]
                sent += k
    except (OSError, TimeoutError) as e:
        errors.append("writer: %r after %d of %d bytes" % (e, sent, nbytes))
    th.join(max(0.0, deadline - time.monotonic()) + 2)
    if errors:
        print("pump:", "; ".join(errors))
    return h_sent.hexdigest(), h_recv.hexdigest(), got[0]


class Writer(threading.Thread):
    """Writes `total` bytes of fresh random data to sock in the background
    (start() it), hashing what it sends. `sent`: bytes the socket took so
    far; `error`: what stopped it early, or None."""

    def __init__(self, sock, total, timeout):
        super().__init__(daemon=True)
        self.sock, self.total, self.timeout = sock, total, timeout
        self.hash = hashlib.sha256()
        self.sent = 0
        self.error = None

    def run(self):
        try:
            self.sock.settimeout(self.timeout)
            while self.sent < self.total:
                b = os.urandom(min(65536, self.total - self.sent))
                self.hash.update(b)
                self.sock.sendall(b)
                self.sent += len(b)
        except OSError as e:
            self.error = "writer: %r after %d bytes" % (e, self.sent)


def expect_echo(sock, nbytes, what="connection", timeout=None):
    """pump() and fail unless every byte came back intact."""
    timeout = timeout if timeout is not None else scaled(30 + nbytes / MiB)
    t0 = time.monotonic()
    s, r, n = pump(sock, nbytes, timeout)
    dt = time.monotonic() - t0
    expect(n == nbytes, "%s: %d of %d bytes came back" % (what, n, nbytes))
    expect(s == r, "%s: sha256 of sent %s != received %s" % (what, s, r))
    return dt


def expect_closed(sock, timeout, what="connection"):
    """Fails unless the peer closes sock (EOF or reset) within timeout.
    Data arriving first is discarded. Returns how it ended."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("%s still open after %.1fs (expected it to be closed)" % (what, timeout))
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return "reset"
        except OSError as e:
            return "error %r" % (e,)
        if not b:
            return "eof"


def is_open(sock, wait=0.2):
    """True if sock shows no EOF/reset within `wait` seconds (no data is
    expected)."""
    sock.settimeout(wait)
    try:
        b = sock.recv(1, socket.MSG_PEEK)
    except socket.timeout:
        return True
    except OSError:
        return False
    return bool(b)


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        return None
    return None


def expect_rss_flat(procs, base, peak, what, limit_mib=32):
    """Fails if a process's RSS (KiB, by name, from rss_kib) grew by
    limit_mib or more from base to peak. Skipped under the sanitizers, whose
    quarantine makes RSS meaningless."""
    if SAN:
        return
    for p in procs:
        if base[p.name] and peak[p.name]:
            grew = (peak[p.name] - base[p.name]) / 1024
            expect(grew < limit_mib, "%s grew by %.1f MiB %s" % (p.name, grew, what))


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------

def child_env(extra=None, home=None):
    """A clean environment for a child: no AWSIOT_* or proxy variables
    inherited, sanitizer options set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWSIOT_") and k.lower() not in (
               "https_proxy", "http_proxy", "all_proxy", "no_proxy")}
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    env["LSAN_OPTIONS"] = env.get("LSAN_OPTIONS", "")
    if home is not None:
        env["HOME"] = str(home)
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
    return env


class Proc:
    """A child process whose stdout+stderr go to a log file in the test's
    temp dir."""

    def __init__(self, t, name, argv, env=None, check_exit=True,
                 expect_rc=0, cwd=None):
        self.t = t
        self.name = name
        self.argv = [str(a) for a in argv]
        self.check_exit = check_exit   # teardown: SIGTERM must give expect_rc
        self.expect_rc = expect_rc
        self.log_path = t.tmp / ("%s.log" % name)
        n = 1
        while self.log_path.exists():
            n += 1
            self.log_path = t.tmp / ("%s.%d.log" % (name, n))
        self.logf = open(self.log_path, "ab")
        self.expected_exit = False
        self.stopped = False
        self.rc = None
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self.logf,
            stderr=subprocess.STDOUT, env=env if env is not None else child_env(home=t.tmp),
            cwd=cwd or t.tmp)
        self.pid = self.popen.pid
        t.procs.append(self)
        t.defer(self._teardown)

    def __repr__(self):
        return "Proc(%s pid %d)" % (self.name, self.pid)

    # ---- log ------------------------------------------------------------
    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def mark(self):
        """Current end of the log, for waiting on lines written after now."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, mark):
        with open(self.log_path, "rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")

    def wait_log(self, regex, timeout, since=0, what=None):
        """Polls the log (from byte offset `since`) until a line matches
        `regex`; returns the match. Fails on timeout or if the process exits
        first (after one last look at the log)."""
        rx = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while True:
            exited = self.popen.poll() is not None
            m = rx.search(self.log_since(since))
            if m:
                return m
            if exited:
                fail("%s exited (rc=%s) before logging /%s/%s" % (
                    self.name, self.popen.returncode, regex,
                    " (%s)" % what if what else ""))
            if time.monotonic() > deadline:
                fail("%s did not log /%s/ within %.1fs%s" % (
                    self.name, regex, timeout, " (%s)" % what if what else ""))
            time.sleep(0.05)

    def has_log(self, regex, since=0):
        return re.search(regex, self.log_since(since), re.M)

    def tail(self, n=60):
        lines = self.log().splitlines()
        return "\n".join(lines[-n:])

    # ---- lifetime -------------------------------------------------------
    def alive(self):
        return self.popen.poll() is None

    def expect_alive(self, what=""):
        rc = self.popen.poll()
        if rc is not None:
            self.expected_exit = True  # reported here, not again at teardown
            fail("%s exited unexpectedly (rc=%s)%s" % (self.name, rc, " " + what if what else ""))

    def wait_exit(self, timeout):
        """Waits for the process to exit on its own; returns its exit code."""
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            fail("%s still running after %.1fs" % (self.name, timeout))
        self.expected_exit = True
        self._finish(rc)
        return rc

    def kill(self):
        """SIGKILL on purpose (not a failure)."""
        self.expected_exit = True
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        rc = self.popen.wait(10)
        self._finish(rc)
        return rc

    def stop(self, timeout=10.0):
        """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns the exit
        code (negative: killed by that signal). Scans the log for sanitizer
        reports."""
        if self.stopped:
            return self.rc
        rc = self.popen.poll()
        if rc is None:
            try:
                self.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                rc = self.popen.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.t.post_fail("%s did not exit within %.0fs of SIGTERM; killed" %
                                 (self.name, scaled(timeout)))
                self.popen.kill()
                rc = self.popen.wait(10)
            else:
                if self.check_exit and rc != self.expect_rc:
                    self.t.post_fail("%s: exit code %s after SIGTERM, expected %s" %
                                     (self.name, rc, self.expect_rc))
        elif not self.expected_exit:
            self.t.post_fail("%s had exited on its own before teardown (rc=%s)" %
                             (self.name, rc))
            self.expected_exit = True
        self._finish(rc)
        return rc

    def _finish(self, rc):
        if self.stopped:
            return
        self.stopped = True
        self.rc = rc
        try:
            self.logf.close()
        except OSError:
            pass
        text = self.log()
        for marker in SAN_MARKERS:
            if marker in text:
                self.t.post_fail("%s: sanitizer report in its log (%s)" % (self.name, marker))
                break

    def _teardown(self):
        self.stop()


# --------------------------------------------------------------------------
# local services
# --------------------------------------------------------------------------

def listening_socket(port=None, backlog=16, accept_timeout=None):
    """A TCP socket listening on 127.0.0.1 (a free port unless one is given).
    accept_timeout lets an accept loop wake up to notice it should stop."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port or 0))
    ls.listen(backlog)
    if accept_timeout is not None:
        ls.settimeout(accept_timeout)
    return ls


def close_quietly(s):
    """Shuts a socket down both ways and closes it, ignoring errors."""
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def copy_until_eof(src, dst, record=None):
    """Copies src to dst (appending to the bytearray record, if given) until
    either ends, then closes both: no half-close through a forwarder."""
    try:
        while True:
            b = src.recv(262144)
            if not b:
                break
            if record is not None:
                record += b
            dst.sendall(b)
    except OSError:
        pass
    finally:
        close_quietly(src)
        close_quietly(dst)


class LocalServer:
    """A listening socket on 127.0.0.1 with an accept thread. Subclasses set
    their own fields, then call this __init__, and handle each connection in
    on_accept(c), on the accept thread (use spawn() for long work). stop(),
    deferred, closes the listener and every socket passed to track()."""

    def __init__(self, t, port=None, backlog=16):
        self.lsock = listening_socket(port, backlog=backlog, accept_timeout=0.2)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.socks = []
        self.threads = []
        self.running = True
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()
        t.defer(self.stop)

    def _accept_loop(self):
        while self.running:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if not self.track(c):
                return
            self.on_accept(c)

    def on_accept(self, c):
        raise NotImplementedError

    def track(self, s):
        """Registers s for stop(); False (s closed) when already stopping."""
        with self.lock:
            if self.running:
                self.socks.append(s)
                return True
        close_quietly(s)
        return False

    def spawn(self, fn, *args):
        th = threading.Thread(target=fn, args=args, daemon=True)
        with self.lock:
            self.threads.append(th)
        th.start()
        return th

    def stop(self):
        with self.lock:
            self.running = False
            socks = list(self.socks)
            threads = list(self.threads)
        try:
            self.lsock.close()
        except OSError:
            pass
        for s in socks:
            close_quietly(s)
        self.thread.join(5)
        for th in threads:
            th.join(5)


class EchoServer(LocalServer):
    """Threaded TCP echo server on 127.0.0.1. `banner` is sent first on each
    connection (to tell services apart)."""

    def __init__(self, t, port=None, banner=b""):
        self.banner = banner
        self.accepted = 0
        self.active = 0
        super().__init__(t, port, backlog=64)

    def on_accept(self, c):
        with self.lock:
            self.accepted += 1
            self.active += 1
        self.spawn(self._serve, c)

    def _serve(self, c):
        try:
            if self.banner:
                c.sendall(self.banner)
            while True:
                b = c.recv(262144)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            with self.lock:
                self.active -= 1
            close_quietly(c)


def start_sshd(t, password=None, kbdint=False, port=None, hostkey_name="host_ed25519",
               name="sshd"):
    """A real sshd on 127.0.0.1 that takes a fresh key for root: (port,
    path of the user's private key). Skips without root or OpenSSH.
    With password, root may also sign in with it: sshd then runs in a
    private mount namespace where a copy of /etc/shadow holding that
    password is mounted over the real one (the system is not changed).
    kbdint: the password is taken through PAM as keyboard-interactive
    only (as many devices' sshd asks), not as "password".
    port, hostkey_name: restart on the same port with another host key
    (a new name makes a new key; the same name keeps the old one)."""
    if os.geteuid() != 0:
        skip("sshd needs root for its privilege-separation directory /run/sshd")
    for tool in ("/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/unshare"):
        if not os.path.exists(tool):
            skip("%s not installed" % tool)
    if password is not None and not shutil.which("unshare"):
        skip("unshare (util-linux) not installed")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    hostkey = t.tmp / hostkey_name
    userkey = t.tmp / "user_ed25519"
    for k in (hostkey, userkey):
        if k.exists():
            continue
        subprocess.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)],
                       check=True, timeout=30, stdin=subprocess.DEVNULL)
    (t.tmp / "authorized_keys").write_text((t.tmp / "user_ed25519.pub").read_text())
    sshd_port = port or free_port()
    cfg = t.tmp / ("%s_config" % name)
    cfg.write_text("\n".join([
        "Port %d" % sshd_port,
        "ListenAddress 127.0.0.1",
        "HostKey %s" % hostkey,
        "PidFile %s" % (t.tmp / ("%s.pid" % name)),
        "AuthorizedKeysFile %s" % (t.tmp / "authorized_keys"),
        "StrictModes no",
        "UsePAM %s" % ("yes" if kbdint else "no"),
        "PubkeyAuthentication yes",
        "PasswordAuthentication %s" % ("yes" if password is not None and not kbdint else "no"),
        "KbdInteractiveAuthentication %s" % ("yes" if kbdint else "no"),
        "PermitRootLogin %s" % ("yes" if password is not None else "prohibit-password"),
        "LogLevel VERBOSE",
        "",
    ]))
    argv = ["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg)]
    if password is not None:
        argv = _private_shadow(t, password) + argv
    sshd = t.spawn(name, argv, check_exit=False)
    sshd.wait_log(r"Server listening on 127\.0\.0\.1 port %d" % sshd_port, scaled(10))
    return sshd_port, userkey


def _private_shadow(t, password):
    """A command prefix that runs the rest with root's password hash set to
    password in a private copy of /etc/shadow (its own mount namespace)."""
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password.encode(),
                       stdout=subprocess.PIPE, check=True, timeout=30)
    hashed = r.stdout.decode().strip()
    lines = []
    for ln in Path("/etc/shadow").read_text().splitlines():
        f = ln.split(":")
        if f[0] == "root":
            f[1] = hashed
        lines.append(":".join(f))
    shadow = t.tmp / "shadow"
    shadow.write_text("\n".join(lines) + "\n")
    os.chmod(shadow, 0o600)
    # unshare execs sh, which execs sshd: the same pid all along.
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/shadow && exec "$@"', str(shadow)]


# --------------------------------------------------------------------------
# relay and tunnels
# --------------------------------------------------------------------------

class TunnelSpec:
    def __init__(self, t, tid, services=("SSH",)):
        self.id = tid
        self.services = list(services)
        self.source_token = secrets.token_urlsafe(32)
        self.destination_token = secrets.token_urlsafe(32)
        t.secret(self.source_token)
        t.secret(self.destination_token)

    def token(self, mode):
        return self.source_token if mode == "source" else self.destination_token

    def json(self):
        return {"id": self.id, "services": self.services,
                "sourceAccessToken": self.source_token,
                "destinationAccessToken": self.destination_token}


class Relay:
    def __init__(self, t, specs, port=None, max_connections=None, verbose=None,
                 tunnels_file=None, name="relay", prefix=()):
        self.t = t
        self.prefix = list(prefix)  # e.g. prlimit ... --: runs the relay (same pid)
        self.specs = {s.id: s for s in specs}
        self.port = port or free_port()
        self.max_connections = max_connections
        self.verbose = verbose
        self.name = name
        if tunnels_file is None:
            tunnels_file = t.tmp / ("%s-tunnels.json" % name)
            with open(tunnels_file, "w") as f:
                json.dump({"tunnels": [s.json() for s in specs]}, f, indent=1)
        self.tunnels_file = tunnels_file
        self.proc = None
        self.start()

    def start(self, timeout=10.0):
        p = pki()
        argv = self.prefix + [binary("tunnel-relay"), "--bind", "127.0.0.1",
                "--port", self.port, "--cert", p.cert, "--key", p.key,
                "--tunnels", self.tunnels_file]
        if self.max_connections is not None:
            argv += ["--max-connections", self.max_connections]
        if self.verbose is not None:
            argv += ["-v", self.verbose]
        self.proc = Proc(self.t, self.name, argv)
        self.proc.wait_log(r"listening on 127\.0\.0\.1:%d\b" % self.port, scaled(timeout))
        return self.proc

    def restart(self):
        """SIGKILL, then start again on the same port with the same file."""
        self.proc.kill()
        return self.start()

    def spec(self, tid):
        return self.specs[tid]

    def ws(self, mode="source", tid=None, token=None, **kw):
        """A wsprobe connection to this relay (see wsprobe.WS.connect)."""
        import wsprobe
        if token is None and tid is not None:
            token = self.specs[tid].token(mode)
        kw.setdefault("path", "/tunnel?local-proxy-mode=%s" % mode)
        kw.setdefault("timeout", scaled(5))
        w = wsprobe.WS.connect(self.port, pki().ca, token=token, **kw)
        self.t.defer(w.close)
        return w


def localproxy(t, name, mode_args, relay_port, token, verbose=None,
               extra_args=(), env_extra=None, ca=None):
    """Starts our localproxy with the token in its environment."""
    argv = [binary("localproxy")] + list(mode_args) + [
        "-e", "127.0.0.1:%d" % relay_port, "-c", ca or pki().ca]
    if verbose is not None:
        argv += ["-v", verbose]
    argv += list(extra_args)
    extra = {"AWSIOT_TUNNEL_ACCESS_TOKEN": token}
    extra.update(env_extra or {})
    return Proc(t, name, argv, env=child_env(extra, home=t.tmp))


READY = r"tunnel ready"


class Tunnel:
    """relay + destination localproxy (in front of local services) + source
    localproxy, all started and ready.

    services: {"SSH": local_port, ...}. With one service the short forms
    `-d 127.0.0.1:PORT` / `-s PORT` are used unless named=True.
    """

    def __init__(self, t, services, relay=None, spec=None, named=False,
                 max_connections=None, verbose=None, start_source=True,
                 start_destination=True, tid="t1"):
        self.t = t
        self.services = dict(services)
        self.named = named or len(self.services) > 1
        if relay is None:
            spec = spec or TunnelSpec(t, tid, list(self.services))
            relay = Relay(t, [spec], max_connections=max_connections, verbose=verbose)
        elif spec is None:
            spec = relay.specs[tid]
        self.relay = relay
        self.spec = spec
        self.verbose = verbose
        self.src_ports = {name: free_port() for name in self.services}
        self.dest = None
        self.source = None
        if start_destination:
            self.start_destination()
        if start_source:
            self.start_source()

    @property
    def src_port(self):
        return next(iter(self.src_ports.values()))

    def dest_args(self):
        if self.named:
            return ["-d", ",".join("%s=127.0.0.1:%d" % (k, v) for k, v in self.services.items())]
        return ["-d", "127.0.0.1:%d" % next(iter(self.services.values()))]

    def source_args(self):
        if self.named:
            return ["-s", ",".join("%s=%d" % (k, v) for k, v in self.src_ports.items()),
                    "-b", "127.0.0.1"]
        return ["-s", str(self.src_port), "-b", "127.0.0.1"]

    def start_destination(self, wait=True):
        self.dest = localproxy(self.t, "%s-dest" % self.spec.id, self.dest_args(),
                               self.relay.port, self.spec.destination_token,
                               verbose=self.verbose)
        if wait:
            self.dest.wait_log(READY, scaled(10))
        return self.dest

    def start_source(self, wait=True):
        self.source = localproxy(self.t, "%s-source" % self.spec.id, self.source_args(),
                                 self.relay.port, self.spec.source_token,
                                 verbose=self.verbose)
        if wait:
            self.source.wait_log(READY, scaled(10))
        return self.source

    def connect(self, service=None, timeout=5.0):
        port = self.src_ports[service] if service else self.src_port
        s = connect(port, scaled(timeout))
        self.t.defer(s.close)
        return s

    def expect_alive(self):
        self.relay.proc.expect_alive()
        if self.dest:
            self.dest.expect_alive()
        if self.source:
            self.source.expect_alive()


# --------------------------------------------------------------------------
# the per-test context
# --------------------------------------------------------------------------

class TestCtx:
    def __init__(self, name):
        self.name = name
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        self.tmp = Path(tempfile.mkdtemp(prefix="e2e-%s-" % safe))
        self.procs = []
        self.cleanups = []
        self.secrets = []
        self.post_failures = []

    # ---- registration ---------------------------------------------------
    def defer(self, fn, *args):
        self.cleanups.append((fn, args))

    def secret(self, s):
        """A string that must never appear in any process log."""
        self.secrets.append(s)

    def post_fail(self, msg):
        self.post_failures.append(msg)

    # ---- factories ------------------------------------------------------
    def spawn(self, name, argv, **kw):
        return Proc(self, name, argv, **kw)

    def echo(self, port=None, banner=b""):
        return EchoServer(self, port, banner)

    def spec(self, tid, services=("SSH",)):
        return TunnelSpec(self, tid, services)

    def relay(self, specs, **kw):
        return Relay(self, specs, **kw)

    def tunnel(self, services, **kw):
        return Tunnel(self, services, **kw)

    def note(self, msg):
        print("  [%s] %s" % (self.name, msg))
        sys.stdout.flush()

    # ---- teardown -------------------------------------------------------
    def teardown(self):
        while self.cleanups:
            fn, args = self.cleanups.pop()
            try:
                fn(*args)
            except Exception as e:  # keep tearing down
                self.post_fail("cleanup %r raised %r" % (fn, e))
        self._check_secrets()

    def _check_secrets(self):
        if not self.secrets:
            return
        for p in sorted(self.tmp.glob("*.log")):
            try:
                text = p.read_text(errors="replace")
            except OSError:
                continue
            for s in self.secrets:
                if s and s in text:
                    self.post_fail("an access token appears in %s" % p.name)
                    break

    def dump_logs(self, n=60):
        for p in sorted(self.tmp.glob("*.log")):
            try:
                lines = p.read_text(errors="replace").splitlines()
            except OSError:
                continue
            print("---- %s (last %d of %d lines) ----" % (p.name, min(n, len(lines)), len(lines)))
            for ln in lines[-n:]:
                print("    " + ln)
        sys.stdout.flush()

    def remove(self):
        if KEEP:
            print("  kept %s" % self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)
