"""The operator console in a real browser: headless Chromium driven by
Selenium against the real system on loopback: mosquitto, tunnel-relay with
--users/--audit-log/--recordings/--console-dir, tunnel-agent as the device
nanopi-01, and a real sshd that takes a password (CONSOLE_SPEC.md; issue 10,
item 6).

Heavy (a browser, a broker, an agent, an sshd), so it runs once: in the plain
build only (@plain_build_only: run.py skips it under SAN=1): the browser and
Selenium are not what the sanitizers check.

Debian's python3-selenium imports only under /usr/bin/python3. When the
runner's python3 is another one, each test here re-runs itself under
/usr/bin/python3 (see run_under_system_python) with the same environment.

The sshd runs in a private mount namespace where a copy of /etc/passwd and
/etc/shadow, bind-mounted over the real ones, adds a throwaway user with a
random password: the machine's own account files are never touched.

E2E_CONSOLE_SCREENSHOTS=DIR copies the screenshots into DIR too (`make
console-screenshots` passes a temp dir and picks from it); the test never
writes into the tree.
"""

import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import harness
from harness import (ROOT, binary, expect, fail, free_port, plain_build_only, scaled, skip, timeout,
                     wait_until)
from test_agent import AgentRig
from test_api import THING, ApiRelay
from test_mqtt import Broker, make_mqtt_pki, need_mosquitto

SYS_PYTHON = "/usr/bin/python3"     # the one python that imports Debian's selenium
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CONSOLE_DIR = ROOT / "console"
XTERM_JS = CONSOLE_DIR / "node_modules" / "@xterm" / "xterm" / "lib" / "xterm.js"
SSH_USER = "tcuser"
SSH_UID = 4242
SHOTS_ENV = "E2E_CONSOLE_SCREENSHOTS"


# --------------------------------------------------------------------------
# running under the python that has selenium
# --------------------------------------------------------------------------

PLAIN_ONLY = "a browser and Selenium are not what the sanitizers check, and the rig is heavy"


def need_browser():
    for tool in (CHROMIUM, CHROMEDRIVER, SYS_PYTHON):
        if not os.access(tool, os.X_OK):
            skip("%s not installed (Debian packages chromium, chromium-driver; make deps)" % tool)
    if not XTERM_JS.exists():
        fail("%s missing: run `make console-assets` (npm ci of console/package-lock.json)" % XTERM_JS)


def selenium_here():
    return importlib.util.find_spec("selenium") is not None


def browser_test(t, scenario):
    """Runs scenario(t) here when this python imports selenium, else the
    whole test again under /usr/bin/python3 (its own temp dir, processes and
    teardown), failing or skipping as it did."""
    need_browser()
    if selenium_here():
        return scenario(t)
    r = subprocess.run([SYS_PYTHON, "-c", "import selenium"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        skip("selenium not importable by %s (Debian package python3-selenium; make deps)" % SYS_PYTHON)
    return run_under_system_python(t, scenario.__name__)


def run_under_system_python(t, name):
    result = t.tmp / "system-python.result"
    p = subprocess.run([SYS_PYTHON, str(Path(__file__).resolve()), name, str(result)],
                       stdin=subprocess.DEVNULL, env=os.environ.copy(),
                       cwd=str(Path(__file__).resolve().parent))
    try:
        status, reason = result.read_text().split("\n", 1)
    except (OSError, ValueError):
        fail("%s under %s died (rc=%d) without a result" % (name, SYS_PYTHON, p.returncode))
    if status == "skip":
        skip(reason)
    expect(status == "pass", "under %s: %s" % (SYS_PYTHON, reason))


def _main(argv):
    """Entry point under /usr/bin/python3: SCENARIO RESULT_FILE."""
    name, result = argv[1], argv[2]
    fn = globals()[name]
    t = harness.TestCtx("test_console::%s" % name)
    status, reason = "pass", ""
    try:
        fn(t)
    except harness.Skip as e:
        status, reason = "skip", str(e)
    except Exception as e:
        status, reason = "fail", "%s: %s" % (type(e).__name__, e)
        traceback.print_exc()
    t.teardown()
    if t.post_failures:
        status = "fail"
        reason = "; ".join(([reason] if reason else []) + t.post_failures)
    if status == "fail":
        print("temp dir: %s" % t.tmp)
        t.dump_logs()
    t.remove()
    Path(result).write_text("%s\n%s" % (status, reason))
    return 0


# --------------------------------------------------------------------------
# the rig: sshd with a password, mosquitto, the relay with its console, the agent
# --------------------------------------------------------------------------

class PasswordSshd:
    """A real sshd on 127.0.0.1 taking SSH_USER with a random password, in a
    private mount namespace (see the module's comment). restart(new_key)
    brings it back on the same port, with a new host key if asked."""

    def __init__(self, t):
        if os.geteuid() != 0:
            skip("sshd needs root (privilege separation, the account files' bind mounts)")
        for tool in ("/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/unshare",
                     "/usr/bin/openssl"):
            if not os.access(tool, os.X_OK):
                skip("%s not installed" % tool)
        self.t = t
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        t.secret(self.password)
        self.keys = 0
        self.proc = None
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        # The shell's home: the temp dir must let the user pass through.
        home = t.tmp / "home"
        home.mkdir()
        os.chown(str(home), SSH_UID, SSH_UID)
        os.chmod(str(t.tmp), 0o711)
        self._account_files(home)
        self.new_host_key()
        self.start()

    def _account_files(self, home):
        r = subprocess.run(["/usr/bin/openssl", "passwd", "-6", "-stdin"],
                           input=(self.password + "\n").encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        expect(r.returncode == 0, "openssl passwd: %s" % r.stderr.decode(errors="replace"))
        crypted = r.stdout.decode().strip()
        self.passwd = self.t.tmp / "passwd"
        self.shadow = self.t.tmp / "shadow"
        self.passwd.write_text(Path("/etc/passwd").read_text() +
                               "%s:x:%d:%d:console test:%s:/bin/bash\n" %
                               (SSH_USER, SSH_UID, SSH_UID, home))
        try:
            shadow = Path("/etc/shadow").read_text()
        except OSError:
            shadow = ""
        self.shadow.write_text(shadow + "%s:%s:19000:0:99999:7:::\n" % (SSH_USER, crypted))
        os.chmod(str(self.shadow), 0o600)

    def new_host_key(self):
        self.keys += 1
        self.hostkey = self.t.tmp / ("host_ed25519_%d" % self.keys)
        subprocess.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(self.hostkey)], check=True, timeout=30, stdin=subprocess.DEVNULL)
        r = subprocess.run(["/usr/bin/ssh-keygen", "-l", "-E", "sha256", "-f",
                            str(self.hostkey) + ".pub"], stdout=subprocess.PIPE, check=True,
                           timeout=30)
        self.fingerprint = r.stdout.decode().split()[1]

    def start(self):
        cfg = self.t.tmp / ("sshd_config_%d" % self.keys)
        cfg.write_text("\n".join([
            "Port %d" % self.port,
            "ListenAddress 127.0.0.1",
            "HostKey %s" % self.hostkey,
            "PidFile %s" % (self.t.tmp / "sshd.pid"),
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication yes",
            "PubkeyAuthentication yes",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            "AllowUsers %s" % SSH_USER,
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "LogLevel VERBOSE",
            "",
        ]))
        script = ('mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/shadow && '
                  'exec /usr/sbin/sshd -D -e -f "$3"')
        self.proc = self.t.spawn("sshd", ["/usr/bin/unshare", "--mount", "--propagation",
                                          "private", "/bin/sh", "-c", script, "sshd-ns",
                                          self.passwd, self.shadow, cfg], check_exit=False)
        self.proc.wait_log(r"Server listening on 127\.0\.0\.1 port %d" % self.port, scaled(10))

    def restart(self, new_key=False):
        self.proc.stop()
        if new_key:
            self.new_host_key()
        self.start()


class ConsoleRig(AgentRig):
    """mosquitto + tunnel-relay with the console on (users admin and
    operator, audit log, recordings, console/ of the tree) + tunnel-agent for
    nanopi-01 whose SSH service is the PasswordSshd."""

    def __init__(self, t, sshd, max_tunnels=4):
        need_mosquitto()
        self.t = t
        self.sshd = sshd
        self.pkidir = make_mqtt_pki(t)
        self.broker = Broker(t, self.pkidir)
        self.audit_log = t.tmp / "audit.jsonl"
        self.recordings = t.tmp / "recordings"
        self.recordings.mkdir()
        self.users_file = t.tmp / "console-users"
        self.users_file.write_text("# console users of the test\n")
        self.passwords = {}
        for name, role in (("alice", "admin"), ("olga", "operator")):
            self.passwords[name] = self.adduser(name, role)
        d = self.pkidir
        self.relay = ApiRelay(
            t, verbose=5, public_endpoint="self",
            mqtt={"uri": "ssl://127.0.0.1:%d" % self.broker.port, "ca": str(d / "ca.pem"),
                  "cert": str(d / "relay-mqtt.pem"), "key": str(d / "relay-mqtt.key")},
            extra_args=["--users", self.users_file, "--audit-log", self.audit_log,
                        "--recordings", self.recordings, "--console-dir", CONSOLE_DIR,
                        # the terminal's localproxy verifies the relay with the test's CA
                        "--console-ca", str(d / "ca.pem")])
        self.relay.proc.wait_log(r"MQTT: connected to broker", scaled(15),
                                 what="the relay's MQTT connection")
        self.services = {"SSH": sshd.port}
        self.max_tunnels = max_tunnels
        self.log_level = 4
        self.agent = None
        self._pubs = 0
        self.start_agent()

    def adduser(self, name, role):
        """tunnel-relay adduser, the password on its stdin (never in argv)."""
        password = secrets.token_urlsafe(12)
        self.t.secret(password)
        r = subprocess.run([binary("tunnel-relay"), "adduser", "--users", str(self.users_file),
                            name, role], input=(password + "\n").encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=scaled(30))
        out = r.stdout.decode(errors="replace")
        expect(r.returncode == 0, "tunnel-relay adduser %s %s: rc %d: %s" %
               (name, role, r.returncode, out))
        expect(password not in out, "tunnel-relay adduser printed the password it read")
        line = [ln for ln in self.users_file.read_text().splitlines()
                if ln.startswith(name + ":")]
        expect(len(line) == 1 and line[0].split(":")[1] == role and
               line[0].split(":", 2)[2].startswith("$y$"),
               "users file line for %s: %r (expected NAME:ROLE:$y$...)" % (name, line))
        return password

    def audit_events(self):
        try:
            text = self.audit_log.read_text()
        except OSError:
            return []
        return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


# --------------------------------------------------------------------------
# the browser
# --------------------------------------------------------------------------

class Browser:
    """Headless Chromium on one relay's console. Pages are found by their
    ids and data-* attributes (console/*.html, console/js/*.js)."""

    def __init__(self, t, origin):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        self.By = By
        self.t = t
        self.base = origin.rstrip("/")   # https://127.0.0.1:PORT; paths are absolute
        self.downloads = t.tmp / "downloads"
        self.downloads.mkdir(exist_ok=True)
        self.shots = t.tmp / "screenshots"
        self.shots.mkdir(exist_ok=True)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=1280,860", "--user-data-dir=%s" % (t.tmp / "chromium-profile"),
                  "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                  "--disable-background-networking", "--disable-sync", "--lang=en-US"):
            opts.add_argument(a)
        # The relay's certificate comes from the test's own CA.
        opts.accept_insecure_certs = True
        opts.add_experimental_option("prefs", {
            "download.default_directory": str(self.downloads),
            "download.prompt_for_download": False,
        })
        # Not *.log: chromedriver logs the keys the test types (the passwords), and the
        # harness scans every *.log for secrets that the system under test must not leak.
        service = Service(executable_path=CHROMEDRIVER,
                          log_path=str(t.tmp / "chromedriver.out"))
        self.d = webdriver.Chrome(service=service, options=opts)
        t.defer(self.quit)
        self.d.set_page_load_timeout(scaled(30))
        self.d.set_script_timeout(scaled(30))
        self.d.execute_cdp_cmd("Page.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": str(self.downloads)})
        try:
            self.d.execute_cdp_cmd("Browser.grantPermissions", {
                "origin": self.base,
                "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        except Exception as e:  # an older Chromium: the Copy check is skipped
            t.note("no clipboard permission: %s" % e)
        self.sources = []    # every page source seen, for the token check

    def quit(self):
        try:
            self.d.quit()
        except Exception:
            pass

    # ---- pages -------------------------------------------------------------
    def get(self, path):
        self.d.get(self.base + path)

    def css(self, sel):
        return self.d.find_elements(self.By.CSS_SELECTOR, sel)

    def one(self, sel, timeout_s=10, what=None):
        """The first element matching sel, waiting for it to exist and show."""
        found = []

        def there():
            els = [e for e in self.css(sel) if e.is_displayed()]
            if els:
                found[:] = els
            return bool(els)
        self.until(there, timeout_s, what or "the page to show %s" % sel)
        return found[0]

    def state_now(self):
        """What the page says now, for a failure's message."""
        try:
            return " (page says %r; terminal state %r)" % (self.flash(), self.term_state())
        except Exception:
            return ""

    def gone(self, sel, timeout_s=10, what=None):
        wait_until(lambda: not [e for e in self.css(sel) if e.is_displayed()], scaled(timeout_s),
                   what or "%s to go away" % sel, interval=0.1)

    def text(self, sel):
        return self.one(sel).text

    def flash(self):
        els = [e for e in self.css("#flash") if e.is_displayed()]
        return els[0].text if els else ""

    def wait_flash(self, regex, timeout_s=10, what=None):
        return self.until(lambda: re.search(regex, self.flash()), timeout_s,
                          what or "the page to say /%s/" % regex)

    def until(self, pred, timeout_s, what):
        """wait_until, with what the page says at the end in a failure."""
        try:
            return wait_until(pred, scaled(timeout_s), what, interval=0.1)
        except harness.TestFailure as e:
            raise harness.TestFailure("%s%s" % (e, self.state_now())) from None

    def source(self):
        """The DOM as it is now, with the values of inputs (not in page_source)."""
        s = self.d.page_source + "\n" + "\n".join(self.d.execute_script(
            "return Array.from(document.querySelectorAll('input,textarea')).map(e => e.value);"))
        self.sources.append(s)
        return s

    def shot(self, name):
        path = self.shots / ("console-%s.png" % name)
        self.d.save_screenshot(str(path))
        out = os.environ.get(SHOTS_ENV)
        if out:
            os.makedirs(out, exist_ok=True)
            shutil.copy(str(path), os.path.join(out, path.name))
        return path

    def fetch(self, method, path, body=None, csrf=True):
        """fetch() from the page (its cookie, its origin): (status, JSON).
        csrf: send the session's token from /me (False: none at all)."""
        return self.d.execute_async_script("""
            const [method, path, body, csrf, done] = arguments;
            (async () => {
                const h = {'Content-Type': 'application/json'};
                if (csrf) {
                    const me = await (await fetch('/console/api/me', {credentials: 'same-origin'})).json();
                    h['X-CSRF-Token'] = me.csrf;
                }
                const r = await fetch(path, {method, headers: h, credentials: 'same-origin',
                                             body: body === null ? undefined : JSON.stringify(body)});
                let j = null;
                try { j = await r.json(); } catch (e) {}
                return [r.status, j];
            })().then(done, e => done([0, String(e)]));
        """, method, path, body, csrf)

    # ---- sign-in -------------------------------------------------------------
    def sign_in(self, user, password, want_ok=True):
        self.get("/console/")
        self.one("#login-user").clear()
        self.one("#login-user").send_keys(user)
        self.one("#login-password").send_keys(password)
        self.one("#login-submit").click()
        if want_ok:
            self.until(lambda: self.d.current_url.endswith("/console/devices.html"), 15,
                       "the device list after signing in as %s" % user)
            self.one("#who-user")

    def sign_out(self):
        self.one("#signout").click()
        wait_until(lambda: "/console/devices.html" not in self.d.current_url, scaled(10),
                   "the sign-in page after signing out")

    # ---- device list -------------------------------------------------------
    def device_row(self, thing, state=None, timeout_s=15):
        sel = 'tr.device[data-thing="%s"]' % thing
        if state:
            sel += '[data-state="%s"]' % state
        return self.one(sel, timeout_s, "device %s%s in the list" %
                        (thing, " to show %s" % state if state else ""))

    # ---- terminal ------------------------------------------------------------
    def term_state(self):
        els = self.css("#term-state")
        return els[0].get_attribute("data-state") if els else None

    def wait_term_state(self, want, timeout_s=30):
        self.until(lambda: self.term_state() == want, timeout_s, "the terminal's state %r" % want)

    def term_lines(self):
        return self.d.execute_script("""
            const t = window.tcTerminal;
            if (!t) return [];
            const b = t.buffer.active, out = [];
            for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
            return out;""")

    def term_size(self):
        return self.d.execute_script("const t = window.tcTerminal; return t ? [t.cols, t.rows] : null;")

    def type(self, text):
        """Keystrokes into the focused terminal, as a person types them."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        self.d.execute_script("window.tcTerminal.focus();")
        ActionChains(self.d).send_keys(text.replace("\n", Keys.ENTER)).perform()

    def wait_output(self, regex, timeout_s=15, what=None):
        rx = re.compile(regex)
        found = []

        def seen():
            for ln in self.term_lines():
                m = rx.search(ln)
                if m:
                    found.append(m)
                    return True
            return False
        wait_until(seen, scaled(timeout_s), what or "the terminal to show /%s/ (it shows %r)" %
                   (regex, [ln for ln in self.term_lines() if ln.strip()][-8:]), interval=0.1)
        return found[0]


# --------------------------------------------------------------------------
# pieces of the scenarios
# --------------------------------------------------------------------------

def open_terminal(b, thing=THING):
    """From the device list: the Terminal button, the terminal page."""
    b.get("/console/devices.html")
    row = b.device_row(thing, "online")
    row.find_element(b.By.CSS_SELECTOR, '[data-action="terminal"]').click()
    wait_until(lambda: "/console/terminal.html" in b.d.current_url, scaled(10), "the terminal page")
    b.one("#terminal .xterm", what="xterm.js in the page")


def accept_host_key(b, sshd):
    b.one("#hostkey-panel", 30, "the host key prompt")
    shown = b.text("#hostkey-fingerprint")
    expect(shown == sshd.fingerprint, "host key prompt shows %r, the sshd's key is %r" %
           (shown, sshd.fingerprint))
    expect("ed25519" in b.text("#hostkey-type"), "host key type %r" % b.text("#hostkey-type"))
    b.one("#hostkey-accept").click()


def log_in(b, user, password):
    b.one("#auth-panel", 30, "the SSH sign-in form")
    b.one("#auth-user").clear()
    b.one("#auth-user").send_keys(user)
    b.one("#auth-tab-password").click()
    b.one("#auth-password").send_keys(password)
    b.one("#auth-submit").click()


def stty_size(b, tag):
    """Runs `stty size` in the shell; (rows, cols) from its answer."""
    b.type("echo SZ%s-$(stty size | tr ' ' x)-END\n" % tag)
    m = b.wait_output(r"^SZ%s-(\d+)x(\d+)-END" % tag, what="the answer of stty size")
    return int(m.group(1)), int(m.group(2))


def stty_follows(b):
    """Waits until xterm's size has settled (a window resize may come in
    steps) and `stty size` on the device says the same; returns (rows, cols)."""
    def settled():
        a = b.term_size()
        time.sleep(0.3)
        return a if a == b.term_size() else None

    def same():
        cols, rows = wait_until(settled, scaled(10), "xterm's size to settle", interval=0.1)
        got = stty_size(b, secrets.token_hex(3))
        return got if got == (rows, cols) else None
    return b.until(same, 20, "stty size on the device to match xterm's %r" % (b.term_size(),))


def close_terminal(b):
    b.one("#term-close").click()
    wait_until(lambda: b.d.current_url.endswith("/console/devices.html"), scaled(15),
               "the device list after closing the terminal")


def expect_no_secret(where, text, secrets_, what):
    for s in secrets_:
        expect(s not in text, "a secret (%d characters) appears in %s" % (len(s), what or where))


# ==========================================================================
# the scenarios (each runs under a python with selenium: browser_test)
# ==========================================================================

def scenario_admin(t):
    sshd = PasswordSshd(t)
    rig = ConsoleRig(t, sshd)
    b = Browser(t, rig.relay.url)

    # Signing in: a wrong password is refused with the server's text.
    b.get("/console/")
    b.one("#login-form")
    b.shot("login")
    b.sign_in("alice", "not-" + rig.passwords["alice"], want_ok=False)
    b.wait_flash(r"\S", what="a refusal of the wrong password")
    expect("/console/devices.html" not in b.d.current_url, "a wrong password signed in")
    st, _ = b.fetch("GET", "/console/api/me", csrf=False)
    expect(st == 401, "GET /me after a refused sign-in: HTTP %s, expected 401" % st)
    b.sign_in("alice", rig.passwords["alice"])
    expect(b.one("#who-role").get_attribute("textContent") == "admin", "role shown %r" % b.text("#who-role"))

    # The device: online, with its services.
    row = b.device_row(THING, "online")
    expect("SSH" in row.text, "the row of %s does not list SSH: %r" % (THING, row.text))

    # A POST without the CSRF token is refused.
    st, j = b.fetch("POST", "/console/api/tunnels",
                    {"thing": THING, "services": ["SSH"], "lifetimeMinutes": 5}, csrf=False)
    expect(st == 403, "POST /console/api/tunnels without X-CSRF-Token: HTTP %s %r, expected 403"
           % (st, j))

    # Open a tunnel (admin): the token leaves through Download only.
    rmark = rig.relay.proc.mark()
    row.find_element(b.By.CSS_SELECTOR, '[data-action="open"]').click()
    b.one("#open-dialog")
    boxes = b.css("#open-services input[type=checkbox]")
    expect([x.get_attribute("value") for x in boxes] == ["SSH"],
           "the open dialog offers %r, the device maps SSH" %
           [x.get_attribute("value") for x in boxes])
    b.one("#open-submit").click()
    b.one("#token-dialog", 15, "the token dialog")
    tid = b.text("#token-tunnel")
    expect(re.match(r"^[\w-]+$", tid), "tunnel id shown %r" % tid)
    b.one("#token-download").click()
    token_file = b.downloads / ("%s.source-token" % tid)
    wait_until(token_file.exists, scaled(10), "the downloaded token file %s" % token_file)
    token = token_file.read_text().strip()
    t.secret(token)
    expect(re.match(r"^%s\.[A-Za-z0-9_-]{43}$" % re.escape(tid[:8]), token),
           "the downloaded token looks wrong")
    b.one("#token-copy").click()
    wait_until(lambda: b.text("#token-done"), scaled(5), "the Copy button's answer")
    if b.text("#token-done") == "Copied.":
        clip = b.d.execute_async_script(
            "navigator.clipboard.readText().then(arguments[0], e => arguments[0](''));")
        expect(clip == token, "the clipboard does not hold the token the download holds")
    expect_no_secret("page", b.source(), [token], "the page with the token dialog open")
    b.one("#token-close").click()
    rig.wait_dest_connected(tid, rmark, "the agent connecting the console's tunnel")
    b.one('tr.device[data-thing="%s"] li.tunnel[data-tunnel="%s"]' % (THING, tid), 10,
          "the new tunnel in the device's row")
    b.source()
    b.d.execute_script("document.getElementById('flash').hidden = true;")
    b.shot("devices")

    # The terminal: host key, a refused password, the right one, a command.
    open_terminal(b)
    accept_host_key(b, sshd)
    log_in(b, SSH_USER, "wrong-" + sshd.password)
    b.one("#auth-message", 30, "the sign-in form to say the password was refused")
    log_in(b, SSH_USER, sshd.password)
    b.wait_term_state("ready")
    marker = "MARKER-%s" % secrets.token_hex(6)
    b.type("echo %s\n" % marker)
    b.wait_output(r"^%s\s*$" % marker, what="the marker echoed by the shell")
    b.type("printf 'caf\\303\\251 \\342\\234\\223\\n'\n")
    b.wait_output("^caf\u00e9 \u2713$", what="UTF-8 output (café ✓)")
    b.shot("terminal")

    # Resize: the shell's size follows the window.
    rows1, cols1 = stty_follows(b)
    b.d.set_window_size(900, 600)
    wait_until(lambda: b.term_size() != [cols1, rows1], scaled(5), "xterm to fit the smaller window")
    rows2, cols2 = stty_follows(b)
    expect((rows2, cols2) != (rows1, cols1), "stty size did not change with the window")
    b.d.set_window_size(1280, 860)
    expect_no_secret("page", b.source(), [token, sshd.password], "the terminal page")

    # Close: the terminal and its tunnel end.
    close_terminal(b)
    wait_until(lambda: any(e.get("action") == "terminal.end" for e in rig.audit_events()),
               scaled(15), "terminal.end in the audit log")

    # The recording holds the command, listed and downloadable.
    casts = wait_until(lambda: sorted(rig.recordings.glob("%s/*.cast" % THING)), scaled(10),
                       "a recording under %s/%s" % (rig.recordings, THING))
    cast = casts[-1].read_text(errors="replace")
    expect(cast.startswith("{") and '"version": 2' in cast.split("\n")[0].replace('":2', '": 2'),
           "the recording's header is not asciicast v2: %r" % cast.split("\n")[0][:200])
    expect(marker in cast, "the recording does not hold the typed command's marker")
    expect_no_secret("recording", cast, [token, sshd.password] + list(rig.passwords.values()),
                     "the recording %s" % casts[-1].name)
    b.get("/console/recordings.html?thing=%s" % THING)
    link = b.one("tr.recording a[data-action=download]", 10, "the recording in the list")
    st = b.d.execute_async_script("""
        fetch(arguments[0], {credentials: 'same-origin'}).then(
            async r => arguments[1]([r.status, r.headers.get('Content-Type'), await r.text()]),
            e => arguments[1]([0, '', String(e)]));""", link.get_attribute("href"))
    expect(st[0] == 200 and marker in st[2], "GET %s: HTTP %s, marker %s" %
           (link.get_attribute("href"), st[0], "in it" if marker in st[2] else "missing"))
    expect((st[1] or "").startswith("application/x-asciicast"),
           "recording served as %r, expected application/x-asciicast" % st[1])
    b.source()

    # The audit log: the page shows what happened.
    b.get("/console/audit.html")
    b.one('tr.event[data-action="signin"]', 10, "signin in the audit page")
    for action in ("signin.failed", "tunnel.open", "terminal.start", "terminal.end",
                   "hostkey.accept"):
        b.one('tr.event[data-action="%s"]' % action, 5, "%s in the audit page" % action)
    b.shot("audit")
    b.source()

    # Every page seen, the relay's log, the audit log: no token, no password.
    audit = rig.audit_log.read_text()
    everything = [token, sshd.password] + list(rig.passwords.values())
    expect_no_secret("audit", audit, everything, "the audit log")
    for i, s in enumerate(b.sources):
        expect_no_secret("page", s, everything, "page source #%d" % i)
    expect_no_secret("relay", rig.relay.proc.log(), everything, "the relay's log")

    # The device goes offline when its agent stops, and loses its Terminal button.
    b.get("/console/devices.html")
    b.device_row(THING, "online")
    rig.agent.stop()
    row = b.device_row(THING, "offline", 20)
    expect(not row.find_elements(b.By.CSS_SELECTOR, '[data-action="terminal"]'),
           "an offline device still offers a Terminal button")
    b.sign_out()
    st, _ = b.fetch("GET", "/console/api/me", csrf=False)
    expect(st == 401, "GET /me after signing out: HTTP %s, expected 401" % st)


def scenario_operator(t):
    sshd = PasswordSshd(t)
    rig = ConsoleRig(t, sshd, max_tunnels=1)   # the agent takes one tunnel at a time
    b = Browser(t, rig.relay.url)
    b.sign_in("olga", rig.passwords["olga"])
    expect(b.one("#who-role").get_attribute("textContent") == "operator",
           "role shown %r" % b.text("#who-role"))
    row = b.device_row(THING, "online")
    expect(row.find_elements(b.By.CSS_SELECTOR, '[data-action="terminal"]'),
           "an operator sees no Terminal button")
    expect(not b.css('[data-action="open"]'), "an operator sees an Open tunnel button")
    st, j = b.fetch("POST", "/console/api/tunnels",
                    {"thing": THING, "services": ["SSH"], "lifetimeMinutes": 5})
    expect(st == 403, "an operator's POST /console/api/tunnels (with the CSRF token): HTTP %s %r, "
           "expected 403" % (st, j))
    expect(isinstance(j, dict) and isinstance(j.get("error"), str) and j["error"],
           "the 403 has no readable error: %r" % (j,))
    # An operator's terminal works, and its audit page shows only their own events.
    open_terminal(b)
    accept_host_key(b, sshd)
    log_in(b, SSH_USER, sshd.password)
    b.wait_term_state("ready")
    marker = "OP-%s" % secrets.token_hex(6)
    b.type("echo %s\n" % marker)
    b.wait_output(r"^%s\s*$" % marker)
    # A second terminal meets the agent's limit, and the page says so in the relay's words.
    first = b.d.current_window_handle
    b.d.switch_to.new_window("tab")
    b.get("/console/terminal.html?thing=%s" % THING)
    b.wait_flash(r"%s already runs 1 tunnel.*maxTunnels.*close one first" % THING, 15,
                 "the page to say the agent's tunnel limit is reached")
    expect(b.term_state() == "error", "terminal state %r at the limit" % b.term_state())
    b.d.close()
    b.d.switch_to.window(first)
    close_terminal(b)
    b.get("/console/audit.html")
    b.one('tr.event[data-action="terminal.start"]', 10, "terminal.start in the audit page")
    whos = {e.text.split()[0] for e in b.css("tr.event td:nth-child(2)") if e.text.strip()}
    expect(whos == {"olga"}, "an operator's audit page shows events of %r" % sorted(whos))


def scenario_hostkey_changed(t):
    sshd = PasswordSshd(t)
    rig = ConsoleRig(t, sshd)
    b = Browser(t, rig.relay.url)
    b.sign_in("alice", rig.passwords["alice"])
    open_terminal(b)
    accept_host_key(b, sshd)
    log_in(b, SSH_USER, sshd.password)
    b.wait_term_state("ready")
    close_terminal(b)

    # The device's sshd comes back with another host key: refused, loudly.
    old = sshd.fingerprint
    sshd.restart(new_key=True)
    expect(sshd.fingerprint != old, "ssh-keygen made the same key twice")
    mark = sshd.proc.mark()
    open_terminal(b)
    alarm = b.one("#hostkey-changed", 30, "the host key warning")
    expect(b.term_state() == "error", "terminal state %r after a changed host key" % b.term_state())
    expect(not [e for e in b.css("#auth-panel") if e.is_displayed()],
           "the sign-in form shows after a changed host key")
    expect(not [e for e in b.css("#hostkey-panel") if e.is_displayed()],
           "the changed key is offered for acceptance")
    expect("changed" in alarm.text.lower(), "the warning says %r" % alarm.text)
    b.shot("hostkey-changed")
    wait_until(lambda: any(e.get("action") == "hostkey.refused" for e in rig.audit_events()),
               scaled(10), "hostkey.refused in the audit log")
    # Nothing was tried against the impostor: no password was offered to it.
    expect(not sshd.proc.has_log(r"password for", mark),
           "a password was tried against the sshd with the changed key")


# ==========================================================================

@plain_build_only(PLAIN_ONLY)
@timeout(240)
def test_console_admin(t):
    """Sign in (a wrong password refused), the device online, a POST without
    CSRF refused, open a tunnel (token by download/copy only), a terminal
    (host key, refused then good password, a marker, UTF-8, resize), close,
    the recording and the audit page, no secret anywhere, then offline when
    the agent stops."""
    browser_test(t, scenario_admin)


@plain_build_only(PLAIN_ONLY)
@timeout(180)
def test_console_operator(t):
    """An operator has no Open tunnel button and the API refuses them (403);
    their terminal works, a second one meets the agent's tunnel limit (the
    page shows the relay's words); their audit page shows their own events
    only."""
    browser_test(t, scenario_operator)


@plain_build_only(PLAIN_ONLY)
@timeout(180)
def test_console_hostkey_changed(t):
    """A host key accepted once, then sshd restarted with a new one: the
    terminal refuses it with a loud warning and no sign-in form."""
    browser_test(t, scenario_hostkey_changed)


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
