"""The relay's web console API (/console/, no browser): users made with
`tunnel-relay adduser`, sign-in and its throttle, cookies and CSRF, roles,
tunnel operations through the console (and /api/v1 beside it), the audit
log, idle expiry, static files and their headers, recordings, and the
relay staying responsive while sign-ins flood it. Over HTTPS with Python's
http.client against real processes on loopback."""

import http.client
import json
import os
import secrets
import ssl
import subprocess
import threading
import time

from harness import (binary, child_env, connect, expect, expect_echo, free_port,
                     localproxy, pki, scaled, timeout, READY)
from test_api import ApiRelay

CSP = "default-src 'self'; connect-src 'self' wss:; style-src 'self' 'unsafe-inline'"


def make_console_dir(t):
    """A console directory like console/ after make console-assets."""
    d = t.tmp / "console"
    (d / "node_modules" / "@xterm" / "xterm" / "lib").mkdir(parents=True)
    (d / "js").mkdir()
    (d / "index.html").write_text("<!doctype html><title>console</title>\n")
    (d / "js" / "app.js").write_text("console.log('app');\n")
    (d / "notes.md").write_text("not served: unknown type\n")
    (d / "node_modules" / "@xterm" / "xterm" / "lib" / "xterm.js").write_text("/* xterm */\n")
    return d


def adduser(t, users, name, role, password=None):
    """tunnel-relay adduser; returns the password (made by --random when None)."""
    argv = [binary("tunnel-relay"), "adduser", "--users", users, name, role]
    if password is None:
        argv.append("--random")
    r = subprocess.run([str(a) for a in argv], input=(password + "\n").encode() if password else b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(home=t.tmp),
                       timeout=scaled(30))
    expect(r.returncode == 0, "adduser %s: rc %d: %s" % (name, r.returncode, r.stderr.decode()))
    if password is None:
        password = r.stdout.decode().strip()
        expect(len(password) >= 16, "adduser --random printed %r" % password)
    t.secret(password)
    return password


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # list of (lower name, value)
        self.body = body
        try:
            self.json = json.loads(body) if body.strip() else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.body[:300])


class Console:
    """A relay with the console on, its users, and a client session."""

    def __init__(self, t, idle_minutes=None, extra_args=(), recordings=True):
        self.t = t
        self.users = t.tmp / "users"
        self.admin_pw = adduser(t, self.users, "alice", "admin", "alice-" + secrets.token_hex(8))
        self.operator_pw = adduser(t, self.users, "bob", "operator")
        self.dir = make_console_dir(t)
        self.audit = t.tmp / "audit.log"   # *.log: the harness looks for secrets in it too
        self.recordings = t.tmp / "recordings"
        args = ["--users", self.users, "--console-dir", self.dir, "--audit-log", self.audit]
        if recordings:
            args += ["--recordings", self.recordings]
        if idle_minutes is not None:
            args += ["--console-idle-minutes", idle_minutes]
        self.relay = ApiRelay(t, extra_args=args + list(extra_args))
        self.ctx = ssl.create_default_context(cafile=str(pki().ca))

    def request(self, method, path, body=None, cookie=None, csrf=None, headers=None, timeout=10.0):
        c = http.client.HTTPSConnection("127.0.0.1", self.relay.port, context=self.ctx,
                                        timeout=scaled(timeout))
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = "tc_session=%s" % cookie
        if csrf:
            h["X-CSRF-Token"] = csrf
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h["Content-Type"] = "application/json"
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            text = r.read().decode(errors="replace")
            resp = Resp(r.status, [(k.lower(), v) for k, v in r.getheaders()], text)
        finally:
            c.close()
        if isinstance(resp.json, dict) and isinstance(resp.json.get("sourceAccessToken"), str):
            self.t.secret(resp.json["sourceAccessToken"])
        return resp

    def login(self, user, password, want=200):
        r = self.request("POST", "/console/api/login", {"user": user, "password": password})
        expect(r.status == want, "login %s: expected %d, got %r" % (user, want, r))
        if want != 200:
            return r
        cookie = r.header("set-cookie") or ""
        sid = cookie.split(";", 1)[0].split("=", 1)[1]
        self.t.secret(sid)
        self.t.secret(r.json["csrf"])
        return Session(self, sid, r.json["csrf"], r)

    def audit_lines(self):
        if not self.audit.exists():
            return []
        return [json.loads(ln) for ln in self.audit.read_text().splitlines() if ln.strip()]

    def wait_audit(self, pred, what):
        deadline = time.monotonic() + scaled(5)
        while time.monotonic() < deadline:
            for e in self.audit_lines():
                if pred(e):
                    return e
            time.sleep(0.05)
        raise AssertionError("no audit line %s in %r" % (what, self.audit_lines()))


class Session:
    def __init__(self, console, sid, csrf, resp):
        self.c = console
        self.sid = sid
        self.csrf = csrf
        self.resp = resp

    def get(self, path, **kw):
        return self.c.request("GET", path, cookie=self.sid, **kw)

    def post(self, path, body=None, csrf=True, **kw):
        return self.c.request("POST", path, body, cookie=self.sid,
                              csrf=self.csrf if csrf is True else csrf, **kw)


def expect_security_headers(r, what):
    expect(r.header("content-security-policy") == CSP, "%s: CSP %r" %
           (what, r.header("content-security-policy")))
    expect(r.header("x-frame-options") == "DENY", "%s: X-Frame-Options" % what)
    expect(r.header("referrer-policy") == "no-referrer", "%s: Referrer-Policy" % what)


@timeout(90)
def test_signin_cookie_and_signout(t):
    c = Console(t)
    s = c.login("alice", c.admin_pw)
    expect(s.resp.json["user"] == "alice" and s.resp.json["role"] == "admin", "login: %r" % s.resp)
    cookie = s.resp.header("set-cookie")
    for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/console/"):
        expect(flag in cookie, "Set-Cookie lacks %s: %r" % (flag, cookie))
    expect(len(s.sid) == 43, "session id is 256 bits in base64url: %r" % len(s.sid))
    expect_security_headers(s.resp, "login")
    me = s.get("/console/api/me")
    expect(me.status == 200 and me.json["user"] == "alice" and me.json["csrf"] == s.csrf and
           me.json["idleMinutes"] == 30, "me: %r" % me)
    c.wait_audit(lambda e: e["action"] == "signin" and e["who"] == "alice" and
                 e["role"] == "admin" and e["from"] == "127.0.0.1", "signin")

    # Wrong password, unknown user: the same 401, both audited.
    r = c.login("alice", "not-the-password", want=401)
    expect(r.json == {"error": "wrong user name or password"}, "401 body: %r" % r)
    c.login("mallory", "whatever-password", want=401)
    c.wait_audit(lambda e: e["action"] == "signin.failed" and e["who"] == "alice", "signin.failed")
    c.wait_audit(lambda e: e["action"] == "signin.failed" and e["who"] == "mallory",
                 "signin.failed of an unknown user")
    expect(c.request("GET", "/console/api/me").status == 401, "me without a cookie")
    expect(c.request("GET", "/console/api/me", cookie="x" * 43).status == 401, "me with a bad cookie")

    # The operator, with the password adduser --random made.
    b = c.login("bob", c.operator_pw)
    expect(b.resp.json["role"] == "operator", "bob: %r" % b.resp)

    # Sign-out needs the CSRF token, clears the cookie, ends the session.
    expect(s.post("/console/api/logout", csrf=None).status == 403, "logout without CSRF")
    r = s.post("/console/api/logout")
    expect(r.status == 200 and r.json == {}, "logout: %r" % r)
    expect("Max-Age=0" in (r.header("set-cookie") or ""), "logout cookie: %r" % r.headers)
    expect(s.get("/console/api/me").status == 401, "me after sign-out")
    expect(b.get("/console/api/me").status == 200, "bob's session is his own")
    c.wait_audit(lambda e: e["action"] == "signout" and e["who"] == "alice", "signout")

    # A user removed from the file (re-read on its change) is signed out.
    lines = [ln for ln in c.users.read_text().splitlines() if not ln.startswith("bob:")]
    c.users.write_text("\n".join(lines) + "\n")
    time.sleep(1.1)
    c.login("alice", c.admin_pw)  # a sign-in looks at the file
    expect(b.get("/console/api/me").status == 401, "bob removed from the users file")
    c.login("bob", c.operator_pw, want=401)


@timeout(90)
def test_signin_throttled(t):
    c = Console(t)
    for i in range(3):
        c.login("alice", "wrong-%d" % i, want=401)
    r = c.login("alice", c.admin_pw, want=429)
    retry = int(r.header("retry-after"))
    expect(1 <= retry <= 60, "Retry-After %r" % retry)
    expect("too many failed sign-ins" in r.json["error"], "429 body: %r" % r)
    # Another name from the same address waits too.
    c.login("bob", c.operator_pw, want=429)
    time.sleep(retry + 0.2)
    c.login("alice", c.admin_pw)
    # The 4th failure doubles the address's wait (2 s).
    c.login("bob", "wrong-again", want=401)
    r = c.login("bob", c.operator_pw, want=429)
    expect(int(r.header("retry-after")) == 2, "second wait: %r" % r.headers)


@timeout(120)
def test_roles_csrf_and_tunnels(t):
    c = Console(t)
    admin = c.login("alice", c.admin_pw)
    op = c.login("bob", c.operator_pw)
    body = {"thing": "nanopi-01", "services": ["SSH"], "lifetimeMinutes": 30}

    r = admin.post("/console/api/tunnels", body, csrf=None)
    expect(r.status == 403 and r.json == {"error": "missing or wrong CSRF token"}, "no CSRF: %r" % r)
    r = admin.post("/console/api/tunnels", body, csrf=op.csrf)
    expect(r.status == 403, "another session's CSRF token: %r" % r)
    r = op.post("/console/api/tunnels", body)
    expect(r.status == 403 and "admin" in r.json["error"], "operator opens: %r" % r)

    r = admin.post("/console/api/tunnels", body)
    expect(r.status == 200, "admin opens: %r" % r)
    tid = r.json["tunnelId"]
    src = r.json["sourceAccessToken"]
    expect("destinationAccessToken" not in r.json, "the console never hands out the destination token")
    expect("notification" in r.json, "open: notification result: %r" % r.json)
    expect_security_headers(r, "open")

    things = op.get("/console/api/things")
    expect(things.status == 200, "things: %r" % things)
    (thing,) = [x for x in things.json["things"] if x["thingName"] == "nanopi-01"]
    expect(thing["state"] == "unknown" and thing["openTunnels"] == 1, "thing: %r" % thing)
    (tun,) = thing["tunnels"]
    expect(tun["tunnelId"] == tid and tun["openedBy"] == "alice" and tun["terminal"] is False and
           tun["services"] == ["SSH"] and tun["sourceConnected"] is False and
           tun["destinationConnected"] is False and tun["status"] == "OPEN", "tunnel: %r" % tun)
    expect(src not in things.body, "no token in the device list")

    expect(op.post("/console/api/tunnels/%s/rotate" % tid).status == 403, "operator rotates")
    r = admin.post("/console/api/tunnels/%s/rotate" % tid)
    expect(r.status == 200 and r.json["tunnelId"] == tid and r.json["sourceAccessToken"] != src and
           "destinationAccessToken" not in r.json, "rotate: %r" % r)
    expect(admin.post("/console/api/tunnels/nope/rotate").status == 404, "rotate an unknown tunnel")
    expect(op.post("/console/api/tunnels/%s/close" % tid).status == 403, "operator closes")
    r = admin.post("/console/api/tunnels/%s/close" % tid)
    expect(r.status == 200 and r.json == {"tunnelId": tid, "status": "CLOSED"}, "close: %r" % r)
    r = admin.post("/console/api/tunnels", {"thing": "bad thing", "services": ["SSH"]})
    expect(r.status == 400 and "thingName" in r.json["error"], "bad thing: %r" % r)

    # The bearer key keeps working beside the console, audited as api-key.
    j = c.relay.call("POST", "/api/v1/tunnels",
                     {"destinationConfig": {"thingName": "dev-2", "services": ["SSH"]}}, want=201)
    c.relay.call("DELETE", "/api/v1/tunnels/%s" % j["tunnelId"])

    for action in ("tunnel.open", "tunnel.rotate", "tunnel.close"):
        c.wait_audit(lambda e: e["action"] == action and e["who"] == "alice" and
                     e.get("tunnelId") == tid and e.get("thing") == "nanopi-01", action)
    c.wait_audit(lambda e: e["action"] == "tunnel.open" and e["who"] == "api-key" and
                 e["tunnelId"] == j["tunnelId"] and e["thing"] == "dev-2", "api-key open")
    c.wait_audit(lambda e: e["action"] == "tunnel.close" and e["who"] == "api-key", "api-key close")
    expect(not any(e["who"] == "bob" and e["action"].startswith("tunnel.") for e in c.audit_lines()),
           "refused operations are not audited as done")

    # The audit page: an admin sees all, an operator his own.
    a = admin.get("/console/api/audit?limit=500")
    expect(a.status == 200 and len(a.json["events"]) >= 6, "audit (admin): %r" % a)
    expect(a.json["events"][0]["action"] == "tunnel.close", "newest first: %r" % a.json["events"][0])
    o = op.get("/console/api/audit")
    expect(o.status == 200 and o.json["events"] and all(e["who"] == "bob" for e in o.json["events"]),
           "audit (operator): %r" % o)
    expect(admin.get("/console/api/audit?limit=0").status == 400, "limit 0")
    expect(admin.get("/console/api/nothing").status == 404, "unknown console call")


@timeout(60)
def test_idle_expiry(t):
    # 0.05 minutes: 3 s.
    c = Console(t, idle_minutes="0.05")
    s = c.login("alice", c.admin_pw)
    expect(s.get("/console/api/me").json["idleMinutes"] == 0.05, "idleMinutes")
    for _ in range(3):  # use keeps it alive past 3 s in all
        time.sleep(1.5)
        expect(s.get("/console/api/me").status == 200, "a used session stays")
    time.sleep(3.5)
    expect(s.get("/console/api/me").status == 401, "idle 3.5 s: expired")
    expect(s.get("/console/api/things").status == 401, "expired for the API too")


@timeout(60)
def test_static_files(t):
    c = Console(t)
    r = c.request("GET", "/console/")
    expect(r.status == 200 and "<title>console</title>" in r.body, "index: %r" % r)
    expect(r.header("content-type").startswith("text/html"), "index type")
    expect(r.header("cache-control") == "no-store", "html no-store")
    expect_security_headers(r, "index")
    r = c.request("GET", "/console")
    expect(r.status == 302 and r.header("location") == "/console/", "/console: %r" % r)
    r = c.request("GET", "/console/js/app.js")
    expect(r.status == 200 and r.header("content-type").startswith("text/javascript"), "js: %r" % r)
    expect_security_headers(r, "js")
    r = c.request("GET", "/console/vendor/xterm/lib/xterm.js")
    expect(r.status == 200 and "xterm" in r.body, "vendor: %r" % r)
    for path in ("/console/notes.md", "/console/js/", "/console/nothing.html",
                 "/console/node_modules/@xterm/xterm/lib/xterm.js"):
        r = c.request("GET", path)
        expect(r.status == 404, "%s: %r" % (path, r))
        expect_security_headers(r, path)
    # lws folds "/x/../" itself; whatever it makes of these, the users file
    # (beside the console directory) never comes out.
    for path in ("/console/../users", "/console/js/../../users", "/console/js/..%2f..%2fusers",
                 "/console/%2e%2e/users", "/console/vendor/../../users"):
        r = c.request("GET", path)
        expect(r.status in (400, 404) and "alice" not in r.body, "%s: %r" % (path, r))
    expect(c.request("POST", "/console/index.html", "x").status == 400, "POST to a file")

    # Without the vendor directory the relay refuses to start, saying what to run.
    d = t.tmp / "bare"
    d.mkdir()
    (d / "index.html").write_text("x")
    p = t.spawn("relay-novendor", [binary("tunnel-relay"), "--bind", "127.0.0.1", "--port",
                                   free_port(), "--cert", pki().cert, "--key", pki().key,
                                   "--db", t.tmp / "x.sqlite", "--users", c.users,
                                   "--console-dir", d], check_exit=False)
    rc = p.wait_exit(scaled(10))
    expect(rc != 0 and "make console-assets" in p.log(), "no vendor dir: rc %r, %s" % (rc, p.log()))


@timeout(60)
def test_recordings(t):
    c = Console(t)
    d = c.recordings / "nanopi-01"
    d.mkdir(parents=True)
    (d / "20261126T160000Z-alice-t1.cast").write_text('{"version": 2}\n[0.1, "o", "alice"]\n')
    (d / "20261126T170000Z-bob-t2.cast").write_text('{"version": 2}\n[0.1, "o", "bob"]\n')
    (d / "notes.txt").write_text("not a recording")
    admin = c.login("alice", c.admin_pw)
    op = c.login("bob", c.operator_pw)
    r = admin.get("/console/api/recordings?thing=nanopi-01")
    expect(r.status == 200, "list: %r" % r)
    ids = [x["id"] for x in r.json["recordings"]]
    expect(ids == ["nanopi-01.20261126T170000Z-bob-t2", "nanopi-01.20261126T160000Z-alice-t1"],
           "admin's list, newest first: %r" % r.json)
    first = r.json["recordings"][1]
    expect(first["user"] == "alice" and first["thing"] == "nanopi-01" and
           first["startedAt"] == "2026-11-26T16:00:00Z" and first["bytes"] > 10, "entry: %r" % first)
    r = op.get("/console/api/recordings?thing=nanopi-01")
    expect([x["user"] for x in r.json["recordings"]] == ["bob"], "operator sees his own: %r" % r)
    r = op.get("/console/api/recordings/nanopi-01.20261126T170000Z-bob-t2")
    expect(r.status == 200 and r.header("content-type") == "application/x-asciicast" and
           '"bob"' in r.body, "download: %r" % r)
    expect_security_headers(r, "download")
    expect(op.get("/console/api/recordings/nanopi-01.20261126T160000Z-alice-t1").status == 403,
           "operator downloads another's")
    for bad in ("nanopi-01.20261126T160000Z-alice-t1.cast", "nanopi-01.notes", "..%2fusers",
                "nanopi-01.20261126T160000Z-alice-t9"):
        r = admin.get("/console/api/recordings/%s" % bad)
        expect(r.status in (400, 404), "%s: %r" % (bad, r))
    expect(admin.get("/console/api/recordings?thing=../x").status == 400, "thing ..")
    expect(admin.get("/console/api/recordings?thing=other").json == {"recordings": []}, "none")
    expect(c.request("GET", "/console/api/recordings?thing=nanopi-01").status == 401, "signed out")


@timeout(150)
def test_responsive_during_signin_flood(t):
    c = Console(t)
    echo = t.echo()
    j = c.relay.call("POST", "/api/v1/tunnels",
                     {"destinationConfig": {"thingName": "dev-1", "services": ["SSH"]}}, want=201)
    for k in ("sourceAccessToken", "destinationAccessToken"):
        t.secret(j[k])
    dest = localproxy(t, "dest", ["-d", "127.0.0.1:%d" % echo.port], c.relay.port,
                      j["destinationAccessToken"])
    src_port = free_port()
    src = localproxy(t, "source", ["-s", str(src_port), "-b", "127.0.0.1"], c.relay.port,
                     j["sourceAccessToken"])
    dest.wait_log(READY, scaled(10))
    src.wait_log(READY, scaled(10))
    sock = connect(src_port, scaled(5))
    t.defer(sock.close)
    expect_echo(sock, 1000, "before the flood")

    # Each sign-in comes from its own address (all of 127/8 is loopback)
    # under its own name, so that the failure throttle (per name and per
    # address) never answers first: what is left to refuse is the full
    # password queue. The connections are made and their TLS done first,
    # then all requests go at once, faster than any hash completes.
    statuses = []
    lock = threading.Lock()
    ready = threading.Barrier(50)

    def signin(i):
        conn = http.client.HTTPSConnection("127.0.0.1", c.relay.port, context=c.ctx,
                                           timeout=scaled(60),
                                           source_address=("127.0.%d.%d" % (1 + i // 200, 2 + i % 200), 0))
        try:
            conn.connect()
            ready.wait(scaled(30))
            conn.request("POST", "/console/api/login",
                         body=json.dumps({"user": "nobody%d" % i, "password": "wrong-%d" % i}),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            status = r.status
        finally:
            conn.close()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=signin, args=(i,)) for i in range(50)]
    worst = 0.0
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads):
        t0 = time.monotonic()
        m = c.request("GET", "/metrics")
        expect(m.status == 200, "/metrics during the flood: %r" % m)
        expect_echo(sock, 4096, "during the flood")
        worst = max(worst, time.monotonic() - t0)
        time.sleep(0.02)
    for th in threads:
        th.join()
    t.note("50 sign-ins at once: %s; worst /metrics + 4 KiB echo %.0f ms" %
           ({s: statuses.count(s) for s in sorted(set(statuses))}, worst * 1000))
    expect(len(statuses) == 50 and set(statuses) <= {401, 503}, "statuses: %r" % statuses)
    expect(503 in statuses, "a flood past the password queue is refused at once: %r" % statuses)
    expect(worst < scaled(0.5), "the loop stalled %.0f ms during the flood" % (worst * 1000))
    expect_echo(sock, 1000, "after the flood")
