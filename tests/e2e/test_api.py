"""Management API of tunnel-relay (/api/v1, /metrics), through tunnelctl and
through plain curl, against real processes on loopback: validation, auth,
single-use tokens and client-token reconnects, rotation, close, expiry,
restart with the same database, metrics.

The helpers at the top (ApiRelay, ...) are also used by test_mqtt.py.
"""

import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import time
import uuid

import wsprobe
from harness import (MiB, READY, binary, child_env, connect, expect, expect_closed,
                     expect_echo, fail, free_port, localproxy, pki, scaled, timeout,
                     wait_until)

_DEFAULT = object()

THING = "nanopi-01"
# "RK.RANDOM": the first 8 characters of the tunnel id (routing key), 256 random bits.
TOKEN_RX = re.compile(r"^[0-9a-f]{8}\.[A-Za-z0-9_-]{43}$")
ISO_RX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def iso_to_epoch(s):
    return time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


class Resp:
    def __init__(self, status, text, headers):
        self.status = status
        self.text = text
        self.headers = headers
        try:
            self.json = json.loads(text) if text.strip() else None
        except ValueError:
            self.json = None

    def error(self):
        """(code, field) of an error body, or (None, None)."""
        e = (self.json or {}).get("error") if isinstance(self.json, dict) else None
        if not isinstance(e, dict):
            return None, None
        return e.get("code"), e.get("field")

    def __repr__(self):
        return "HTTP %s %s" % (self.status, self.text[:300])


class ApiRelay:
    """tunnel-relay with --db and the management API on a loopback port.

    api_key: True (make one, in --api-key-file), a string (written to the
    key file as is), or None (API off). env_key: put this key in
    TUNNEL_RELAY_API_KEY instead. mqtt: dict(uri, ca, cert, key).
    public_endpoint: "self" for 127.0.0.1:<own port>."""

    def __init__(self, t, api_key=True, env_key=None, db=None, port=None, mqtt=None,
                 public_endpoint=None, verbose=None, name="relay", start=True,
                 extra_args=()):
        self.t = t
        self.port = port or free_port()
        self.name = name
        self.db = str(db or (t.tmp / ("%s.sqlite" % name)))
        self.ca = pki().ca
        self.url = "https://127.0.0.1:%d" % self.port
        self.mqtt = mqtt
        self.verbose = verbose
        self.extra_args = list(extra_args)
        self.public_endpoint = ("127.0.0.1:%d" % self.port if public_endpoint == "self"
                                else public_endpoint)
        self.key_file = None
        self.env_key = env_key
        if api_key is True:
            api_key = secrets.token_urlsafe(24)
        self.key = api_key if api_key is not None else env_key
        if self.key:
            t.secret(self.key)
        if api_key is not None:
            self.key_file = t.tmp / ("%s-api.key" % name)
            fd = os.open(str(self.key_file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(api_key + "\n")
        self.proc = None
        self._n = 0
        if start:
            self.start()

    def argv(self):
        p = pki()
        argv = [binary("tunnel-relay"), "--bind", "127.0.0.1", "--port", self.port,
                "--cert", p.cert, "--key", p.key, "--db", self.db]
        if self.key_file:
            argv += ["--api-key-file", self.key_file]
        if self.mqtt:
            argv += ["--mqtt-uri", self.mqtt["uri"], "--mqtt-ca", self.mqtt["ca"],
                     "--mqtt-cert", self.mqtt["cert"], "--mqtt-key", self.mqtt["key"]]
        if self.public_endpoint:
            argv += ["--public-endpoint", self.public_endpoint]
        if self.verbose is not None:
            argv += ["-v", self.verbose]
        return argv + self.extra_args

    def start(self, timeout=10.0):
        env = child_env({"TUNNEL_RELAY_API_KEY": self.env_key}, home=self.t.tmp)
        self.proc = self.t.spawn(self.name, self.argv(), env=env)
        self.proc.wait_log(r"listening on 127\.0\.0\.1:%d\b" % self.port, scaled(timeout))
        return self.proc

    def stop_term(self):
        """SIGTERM; the relay must exit 0."""
        rc = self.proc.stop()
        expect(rc == 0, "%s: exit code %s after SIGTERM, expected 0" % (self.name, rc))

    # ---- HTTP -----------------------------------------------------------
    def _tmpfile(self, what):
        self._n += 1
        return self.t.tmp / ("curl-%s-%d.%s" % (self.name, self._n, what))

    def curl(self, method, path, body=None, key=_DEFAULT, raw=None, headers=(),
             timeout=10.0, extra=()):
        """One request with the curl command line tool. body: a JSON value;
        raw: bytes/str sent as is. Returns a Resp (status 0: no response)."""
        if key is _DEFAULT:
            key = self.key
        out = self._tmpfile("body")
        hdr = self._tmpfile("headers")
        argv = ["curl", "-sS", "--noproxy", "*", "--max-time", str(int(scaled(timeout))),
                "--cacert", self.ca, "-o", str(out), "-D", str(hdr),
                "-w", "%{http_code}", "-X", method]
        if key is not None:
            argv += ["-H", "Authorization: Bearer %s" % key]
        for h in headers:
            argv += ["-H", h]
        if body is not None or raw is not None:
            data = raw if raw is not None else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            f = self._tmpfile("req")
            f.write_bytes(data)
            argv += ["-H", "Content-Type: application/json", "--data-binary", "@%s" % f]
        argv += list(extra)
        argv.append(self.url + path)
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=child_env(home=self.t.tmp),
                           timeout=scaled(timeout) + 5)
        code = r.stdout.decode(errors="replace").strip()
        status = int(code) if code.isdigit() else 0
        text = out.read_text(errors="replace") if out.exists() else ""
        headers_text = hdr.read_text(errors="replace") if hdr.exists() else ""
        hdrs = {}
        for ln in headers_text.splitlines():
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        resp = Resp(status, text, hdrs)
        resp.curl_rc = r.returncode
        resp.curl_err = r.stderr.decode(errors="replace")
        self._note_tokens(resp.json)
        return resp

    def _note_tokens(self, j):
        if isinstance(j, dict):
            for k in ("sourceAccessToken", "destinationAccessToken"):
                if isinstance(j.get(k), str):
                    self.t.secret(j[k])

    def call(self, method, path, body=None, want=200, **kw):
        """curl and expect status `want`; returns the parsed JSON."""
        r = self.curl(method, path, body, **kw)
        expect(r.status == want, "%s %s: expected HTTP %d, got %r (curl rc %s %s)" %
               (method, path, want, r, getattr(r, "curl_rc", "?"), getattr(r, "curl_err", "")))
        return r.json

    def open(self, thing=THING, services=("SSH",), lifetime=None, description=None):
        body = {"destinationConfig": {"thingName": thing, "services": list(services)}}
        if lifetime is not None:
            body["timeoutConfig"] = {"maxLifetimeTimeoutMinutes": lifetime}
        if description is not None:
            body["description"] = description
        j = self.call("POST", "/api/v1/tunnels", body, want=201)
        for k in ("tunnelId", "sourceAccessToken", "destinationAccessToken"):
            expect(isinstance(j.get(k), str) and j[k], "open: no %s in %r" % (k, j))
        return j

    def describe(self, tid):
        return self.call("GET", "/api/v1/tunnels/%s" % tid)["tunnel"]

    def rotate(self, tid, mode):
        return self.call("POST", "/api/v1/tunnels/%s/rotate" % tid, {"clientMode": mode})

    def delete(self, tid):
        return self.call("DELETE", "/api/v1/tunnels/%s" % tid)

    def metrics(self):
        r = self.curl("GET", "/metrics", key=None)
        expect(r.status == 200, "GET /metrics: %r" % r)
        return parse_metrics(r.text)

    # ---- tunnelctl --------------------------------------------------------
    def ctl(self, *args, key=_DEFAULT, url=_DEFAULT, ca=_DEFAULT, env_extra=None,
            timeout=15.0):
        """Runs tunnelctl --url --ca ARGS with the key in TUNNEL_API_KEY.
        Returns (rc, stdout, stderr). Output is kept in memory only (it
        holds tokens on purpose)."""
        if key is _DEFAULT:
            key = self.key
        if url is _DEFAULT:
            url = self.url
        if ca is _DEFAULT:
            ca = self.ca
        argv = [binary("tunnelctl")]
        if url is not None:
            argv += ["--url", url]
        if ca is not None:
            argv += ["--ca", ca]
        argv += [str(a) for a in args]
        extra = {"TUNNEL_API_KEY": key, "TUNNEL_API_URL": None, "TUNNEL_API_CA": None}
        extra.update(env_extra or {})
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=child_env(extra, home=self.t.tmp),
                           timeout=scaled(timeout))
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def ctl_json(self, *args, **kw):
        rc, out, err = self.ctl("--json", *args, **kw)
        expect(rc == 0, "tunnelctl --json %s: exit %d, stderr: %s" % (" ".join(map(str, args)), rc, err))
        try:
            j = json.loads(out)
        except ValueError:
            fail("tunnelctl --json %s: stdout is not JSON: %r" % (" ".join(map(str, args)), out[:500]))
        self._note_tokens(j)
        return j

    # ---- data plane -------------------------------------------------------
    def ws(self, token, mode, client_token=None, **kw):
        kw.setdefault("timeout", scaled(5))
        w = wsprobe.WS.connect(self.port, self.ca, path="/tunnel?local-proxy-mode=%s" % mode,
                               token=token, client_token=client_token, **kw)
        self.t.defer(w.close)
        return w

    def dest_proxy(self, token, service_port, name="dest", verbose=None, wait=True):
        p = localproxy(self.t, name, ["-d", "127.0.0.1:%d" % service_port], self.port, token,
                       verbose=verbose, ca=self.ca)
        if wait:
            p.wait_log(READY, scaled(10))
        return p

    def source_proxy(self, token, local_port, name="source", verbose=None, wait=True):
        p = localproxy(self.t, name, ["-s", str(local_port), "-b", "127.0.0.1"], self.port,
                       token, verbose=verbose, ca=self.ca)
        if wait:
            p.wait_log(READY, scaled(10))
        return p


def parse_metrics(text):
    """Prometheus text -> {'name{labels}': float}."""
    out = {}
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)$", ln)
        if not m:
            fail("unparsable metrics line %r" % ln)
        out[m.group(1)] = float(m.group(2))
    return out


def metric(ms, key):
    return ms.get(key, 0.0)


def client_token():
    return secrets.token_hex(20)  # 40 of [0-9a-f]: a valid client token


def expect_refused(w, status, what):
    expect(w.status == status, "%s: expected HTTP %d, got %s %s (body %r)" %
           (what, status, w.status, w.reason, w.body[:200]))


def expect_close_code(w, code, what, wait=5.0):
    try:
        got = w.wait_close(scaled(wait))
    except wsprobe.ProbeTimeout:
        fail("%s: no close frame within %.0fs" % (what, scaled(wait)))
    expect(got == code, "%s: close code %r, expected %d" % (what, got, code))


def expect_ws_open(w, seconds, what):
    evs = w.expect_silence(seconds)
    bad = [e for e in evs if e.kind in ("close", "eof")]
    expect(not bad, "%s: connection ended: %r" % (what, bad))


def tunnel_with_proxies(t, relay, services=("SSH",), **open_kw):
    """Opens a tunnel through the API and starts an echo service plus a
    destination and a source localproxy with its tokens."""
    echo = t.echo()
    j = relay.open(services=services, **open_kw)
    dest = relay.dest_proxy(j["destinationAccessToken"], echo.port)
    src_port = free_port()
    src = relay.source_proxy(j["sourceAccessToken"], src_port)
    return j, echo, dest, src, src_port


def through(t, src_port, nbytes=1 * MiB, what="connection through the tunnel"):
    s = connect(src_port, scaled(5))
    t.defer(s.close)
    expect_echo(s, nbytes, what)
    return s


def through_after_restart(t, src_port, nbytes):
    """A connection through a tunnel whose proxies have just reconnected
    to a restarted relay: retried for a few seconds, until both ends are in."""
    deadline = time.monotonic() + scaled(5)
    while True:
        s = connect(src_port, scaled(5))
        t.defer(s.close)
        try:
            expect_echo(s, nbytes, "connection after the restart", timeout=scaled(30))
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


# ==========================================================================
# curl: create / list / describe / rotate / delete
# ==========================================================================

@timeout(60)
def test_api_curl_lifecycle(t):
    relay = ApiRelay(t, verbose=5)
    before = time.time()
    r = relay.curl("POST", "/api/v1/tunnels",
                   {"destinationConfig": {"thingName": THING, "services": ["SSH", "HTTP"]},
                    "timeoutConfig": {"maxLifetimeTimeoutMinutes": 60},
                    "description": "lifecycle test"})
    expect(r.status == 201, "POST /api/v1/tunnels: %r" % r)
    expect(r.headers.get("content-type", "").startswith("application/json"),
           "POST: content-type %r" % r.headers.get("content-type"))
    j = r.json
    tid = j.get("tunnelId")
    expect(isinstance(tid, str) and tid, "no tunnelId in %r" % j)
    try:
        uuid.UUID(tid)
    except ValueError:
        fail("tunnelId %r is not a UUID" % tid)
    src, dst = j.get("sourceAccessToken"), j.get("destinationAccessToken")
    for name, tok in (("source", src), ("destination", dst)):
        expect(isinstance(tok, str) and TOKEN_RX.match(tok),
               "%sAccessToken %r is not a long URL-safe token" % (name, tok))
    expect(src != dst, "source and destination tokens are the same")
    expect(ISO_RX.match(j.get("expiresAt") or ""), "expiresAt %r" % j.get("expiresAt"))
    exp = iso_to_epoch(j["expiresAt"])
    expect(abs(exp - (before + 3600)) < 30, "expiresAt %s is not ~60 min from now" % j["expiresAt"])
    n = j.get("notification")
    expect(isinstance(n, dict) and n.get("delivered") is False and n.get("detail"),
           "without MQTT, notification should be delivered=false with a detail: %r" % n)

    other = relay.open(thing="nanopi-02", services=["SSH"])

    lst = relay.call("GET", "/api/v1/tunnels")
    ids = {s["tunnelId"]: s for s in lst["tunnelSummaries"]}
    expect(set(ids) == {tid, other["tunnelId"]}, "list: %r" % lst)
    s = ids[tid]
    expect(s["thingName"] == THING and s["status"] == "OPEN" and
           s["description"] == "lifecycle test", "summary %r" % s)
    expect(ISO_RX.match(s.get("createdAt") or "") and s.get("expiresAt") == j["expiresAt"],
           "summary times %r" % s)
    flt = relay.call("GET", "/api/v1/tunnels?thingName=nanopi-02")
    expect([x["tunnelId"] for x in flt["tunnelSummaries"]] == [other["tunnelId"]],
           "list ?thingName=nanopi-02: %r" % flt)
    none = relay.call("GET", "/api/v1/tunnels?thingName=nanopi-99")
    expect(none["tunnelSummaries"] == [], "list ?thingName=nanopi-99: %r" % none)

    d = relay.describe(tid)
    expect(d["tunnelId"] == tid and d["status"] == "OPEN", "describe %r" % d)
    expect(d["description"] == "lifecycle test", "describe description %r" % d)
    expect(d["destinationConfig"] == {"thingName": THING, "services": ["SSH", "HTTP"]},
           "describe destinationConfig %r" % d["destinationConfig"])
    expect(d["timeoutConfig"] == {"maxLifetimeTimeoutMinutes": 60}, "describe timeoutConfig %r" % d)
    for side in ("sourceConnectionState", "destinationConnectionState"):
        expect(d[side]["status"] == "DISCONNECTED", "describe %s %r" % (side, d[side]))
    expect(d["liveConnections"] == 0, "describe liveConnections %r" % d)
    expect(d["expiresAt"] == j["expiresAt"] and ISO_RX.match(d["createdAt"]), "describe times %r" % d)
    expect(src not in json.dumps(d) and dst not in json.dumps(d), "describe shows a token")
    expect(src not in json.dumps(lst) and dst not in json.dumps(lst), "list shows a token")

    # Rotate ALL: two new tokens, different from the old ones.
    rot = relay.rotate(tid, "ALL")
    expect(rot["tunnelId"] == tid, "rotate %r" % rot)
    ns, nd = rot.get("sourceAccessToken"), rot.get("destinationAccessToken")
    expect(ns and nd and len({ns, nd, src, dst}) == 4, "rotate ALL gave tokens %r" % rot)
    rs = relay.rotate(tid, "SOURCE")
    expect(rs.get("sourceAccessToken") and "destinationAccessToken" not in rs,
           "rotate SOURCE: %r" % rs)
    rd = relay.rotate(tid, "DESTINATION")
    expect(rd.get("destinationAccessToken") and "sourceAccessToken" not in rd,
           "rotate DESTINATION: %r" % rd)
    bad = relay.curl("POST", "/api/v1/tunnels/%s/rotate" % tid, {"clientMode": "BOTH"})
    expect(bad.status == 400 and bad.error()[1] == "clientMode", "rotate BOTH: %r" % bad)

    # DELETE
    dl = relay.delete(tid)
    expect(dl == {"tunnelId": tid, "status": "CLOSED"}, "DELETE: %r" % dl)
    expect(relay.describe(tid)["status"] == "CLOSED", "describe after DELETE")
    lst = relay.call("GET", "/api/v1/tunnels")
    st = {x["tunnelId"]: x["status"] for x in lst["tunnelSummaries"]}
    expect(st == {tid: "CLOSED", other["tunnelId"]: "OPEN"}, "list after DELETE: %r" % st)
    r = relay.curl("POST", "/api/v1/tunnels/%s/rotate" % tid, {"clientMode": "ALL"})
    expect(400 <= r.status < 500, "rotating a closed tunnel: expected a 4xx, got %r" % r)


# ==========================================================================
# validation
# ==========================================================================

def raw_post_status(relay, path, length, chunk=16384):
    """POSTs `length` bytes of spaces over TLS by hand, keeps sending while
    it can, then reads the status line. Returns the status code, or a
    string describing why there was none."""
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=relay.ca)
    raw = socket.create_connection(("127.0.0.1", relay.port), timeout=scaled(5))
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" %
                   (path, relay.port, relay.key, length)).encode())
        sent = 0
        try:
            while sent < length:
                s.sendall(b" " * min(chunk, length - sent))
                sent += chunk
        except OSError:
            pass  # the relay stopped reading: fine, read its answer
        s.settimeout(scaled(5))
        buf = b""
        try:
            while b"\r\n" not in buf:
                b = s.recv(4096)
                if not b:
                    break
                buf += b
        except OSError as e:
            return "no answer (%r) after sending %d bytes" % (e, sent)
        m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
        return int(m.group(1)) if m else "no status line: %r" % buf[:80]
    finally:
        s.close()


def _open_body(thing=THING, services=("SSH",), lifetime=_DEFAULT, description=_DEFAULT):
    b = {"destinationConfig": {"thingName": thing, "services": list(services)}}
    if lifetime is not _DEFAULT:
        b["timeoutConfig"] = {"maxLifetimeTimeoutMinutes": lifetime}
    if description is not _DEFAULT:
        b["description"] = description
    return b


@timeout(90)
def test_api_validation(t):
    relay = ApiRelay(t)
    TN, SV, LT = ("destinationConfig.thingName", "destinationConfig.services",
                  "timeoutConfig.maxLifetimeTimeoutMinutes")
    no_services = {"destinationConfig": {"thingName": THING}}
    cases = [
        ("thingName with a space", _open_body(thing="bad thing"), TN),
        ("thingName with a slash", _open_body(thing="a/b"), TN),
        ("thingName with +", _open_body(thing="a+b"), TN),
        ("empty thingName", _open_body(thing=""), TN),
        ("thingName of 129 characters", _open_body(thing="a" * 129), TN),
        ("thingName a number", _open_body(thing=12), TN),
        ("no thingName", {"destinationConfig": {"services": ["SSH"]}}, TN),
        ("0 services", _open_body(services=[]), SV),
        ("4 services", _open_body(services=["S1", "S2", "S3", "S4"]), SV),
        ("no services", no_services, SV),
        ("services not an array", {"destinationConfig": {"thingName": THING, "services": "SSH"}}, SV),
        ("service id with a space", _open_body(services=["bad id"]), SV),
        ("service id with a slash", _open_body(services=["a/b"]), SV),
        ("empty service id", _open_body(services=[""]), SV),
        ("service id of 129 characters", _open_body(services=["s" * 129]), SV),
        ("service id a number", _open_body(services=[22]), SV),
        ("lifetime 0", _open_body(lifetime=0), LT),
        ("lifetime 721", _open_body(lifetime=721), LT),
        ("lifetime -5", _open_body(lifetime=-5), LT),
        ("lifetime \"60\" (a string)", _open_body(lifetime="60"), LT),
        ("lifetime 1.5", _open_body(lifetime=1.5), LT),
        ("lifetime null", _open_body(lifetime=None), LT),
        ("description of 257 characters", _open_body(description="d" * 257), "description"),
        ("description a number", _open_body(description=5), "description"),
    ]
    failures = []
    for what, body, field in cases:
        r = relay.curl("POST", "/api/v1/tunnels", body)
        code, got_field = r.error()
        if r.status != 400 or got_field != field or not code:
            failures.append("%s: expected 400 with field %r, got %r" % (what, field, r))
    raw_cases = [
        ("malformed JSON", "{\"destinationConfig\": {"),
        ("not JSON at all", "hello"),
        ("empty body", ""),
        ("JSON array", "[1,2]"),
        ("JSON string", "\"x\""),
    ]
    for what, raw in raw_cases:
        r = relay.curl("POST", "/api/v1/tunnels", raw=raw)
        code, got_field = r.error()
        if r.status != 400 or got_field != "body":
            failures.append("%s: expected 400 with field 'body', got %r" % (what, r))
    # Body size: > 16 KiB -> 413 (even if it is valid JSON), exactly 16 KiB is fine.
    huge = json.dumps(_open_body(description="x" * 20000))
    r = relay.curl("POST", "/api/v1/tunnels", raw=huge)
    if r.status != 413:
        failures.append("body of %d bytes: expected 413, got %r (curl rc %s %s)" %
                        (len(huge), r, r.curl_rc, r.curl_err.strip()))
    big = json.dumps(_open_body(description="x" * 100))
    r = relay.curl("POST", "/api/v1/tunnels", raw=big[:-1] + " " * (16 * 1024 + 1 - len(big)) + "}")
    if r.status != 413:
        failures.append("valid JSON body of 16385 bytes: expected 413, got %r (curl rc %s %s)" %
                        (r, r.curl_rc, r.curl_err.strip()))
    # Bigger bodies: the relay answers 413 at once and closes without reading
    # the rest, so curl, still sending, may see a reset instead of the answer
    # (reported; tolerated here). Any other answer is wrong.
    resets = 0
    for n in (64 * 1024, 1024 * 1024):
        padded = big[:-1] + " " * (n - len(big)) + "}"
        for _ in range(3):
            r = relay.curl("POST", "/api/v1/tunnels", raw=padded, timeout=20)
            if r.status == 0 and r.curl_rc in (55, 56):  # send/receive failure: reset, EPIPE
                resets += 1
            elif r.status != 413:
                failures.append("valid JSON body of %d bytes: expected 413, got %r (curl rc %s %s)" %
                                (n, r, r.curl_rc, r.curl_err.strip()))
    if resets:
        t.note("%d of 6 curl uploads of 64 KiB / 1 MiB ended in a reset/broken pipe instead of 413"
               % resets)
    # A client that keeps reading after the relay stops reading does get the 413.
    for n in (64 * 1024, 1024 * 1024):
        status = raw_post_status(relay, "/api/v1/tunnels", n)
        if status != 413:
            failures.append("raw POST with a %d-byte body: expected a 413 answer, got %r" % (n, status))
    # The relay is still fine after the oversize bodies.
    exact = big[:-1] + " " * (16 * 1024 - len(big)) + "}"
    assert len(exact) == 16 * 1024
    r = relay.curl("POST", "/api/v1/tunnels", raw=exact)
    if r.status != 201:
        failures.append("valid JSON body of exactly 16384 bytes: expected 201, got %r" % r)
    # Boundaries that must be accepted.
    ok_cases = [
        ("thingName of 128 characters", _open_body(thing="T" * 128)),
        ("thingName with _ - :", _open_body(thing="a_b-c:d")),
        ("3 services", _open_body(services=["SSH", "HTTP", "VNC"])),
        ("lifetime 1", _open_body(lifetime=1)),
        ("lifetime 720", _open_body(lifetime=720)),
        ("description of 256 characters", _open_body(description="d" * 256)),
        ("unknown keys are ignored", dict(_open_body(), extra={"x": 1})),
    ]
    for what, body in ok_cases:
        r = relay.curl("POST", "/api/v1/tunnels", body)
        if r.status != 201:
            failures.append("%s: expected 201, got %r" % (what, r))
        else:
            relay._note_tokens(r.json)
    lst = relay.call("GET", "/api/v1/tunnels")["tunnelSummaries"]
    want = len(ok_cases) + (1 if not any("exactly 16384" in f for f in failures) else 0)
    if len(lst) != want:
        failures.append("after the invalid requests the relay lists %d tunnels, expected %d "
                        "(an invalid request created one?)" % (len(lst), want))
    relay.proc.expect_alive("after the validation requests")
    if failures:
        fail("%d validation case(s) wrong:\n  %s" % (len(failures), "\n  ".join(failures)))


# ==========================================================================
# auth, API off, unknown ids and paths
# ==========================================================================

@timeout(60)
def test_api_auth_and_not_found(t):
    relay = ApiRelay(t)
    j = relay.open()
    tid = j["tunnelId"]
    failures = []

    def check(r, status, code, what):
        if r.status != status or r.error()[0] != code:
            failures.append("%s: expected %d %s, got %r" % (what, status, code, r))

    wrong = secrets.token_urlsafe(24)
    for method, path, body in (("GET", "/api/v1/tunnels", None),
                               ("POST", "/api/v1/tunnels", _open_body()),
                               ("GET", "/api/v1/tunnels/%s" % tid, None),
                               ("POST", "/api/v1/tunnels/%s/rotate" % tid, {"clientMode": "ALL"}),
                               ("DELETE", "/api/v1/tunnels/%s" % tid, None)):
        check(relay.curl(method, path, body, key=wrong), 401, "Unauthorized",
              "%s %s with a wrong key" % (method, path))
        check(relay.curl(method, path, body, key=None), 401, "Unauthorized",
              "%s %s without a key" % (method, path))
    check(relay.curl("GET", "/api/v1/tunnels", key=relay.key + "x"), 401, "Unauthorized",
          "key with one extra character")
    check(relay.curl("GET", "/api/v1/tunnels", key=relay.key[:-1]), 401, "Unauthorized",
          "key missing its last character")
    check(relay.curl("GET", "/api/v1/tunnels", key=None,
                     headers=["Authorization: Basic %s" % relay.key]), 401, "Unauthorized",
          "the key with the Basic scheme")
    # Nothing was changed by the refused calls.
    d = relay.describe(tid)
    expect(d["status"] == "OPEN", "the refused DELETE closed the tunnel: %r" % d)
    expect(len(relay.call("GET", "/api/v1/tunnels")["tunnelSummaries"]) == 1,
           "the refused POST created a tunnel")
    # The tokens issued before the refused rotate still work.
    w = relay.ws(j["destinationAccessToken"], "destination", client_token())
    expect(w.accepted, "destination token after a refused rotate: HTTP %s" % w.status)

    unknown = str(uuid.uuid4())
    check(relay.curl("GET", "/api/v1/tunnels/%s" % unknown), 404, "NotFound", "GET unknown id")
    check(relay.curl("DELETE", "/api/v1/tunnels/%s" % unknown), 404, "NotFound", "DELETE unknown id")
    check(relay.curl("POST", "/api/v1/tunnels/%s/rotate" % unknown, {"clientMode": "ALL"}),
          404, "NotFound", "rotate unknown id")
    check(relay.curl("GET", "/api/v1/tunnels/nope"), 404, "NotFound", "GET id 'nope'")
    check(relay.curl("GET", "/api/v1/tunnels/%s" % ("a" * 300)), 404, "NotFound", "GET 300-char id")
    r = relay.curl("GET", "/api/v1/nothing-here")
    if r.status != 404:
        failures.append("GET /api/v1/nothing-here: expected 404, got %r" % r)
    # /metrics needs no key.
    if relay.curl("GET", "/metrics", key=None).status != 200:
        failures.append("GET /metrics without a key is not 200")

    # tunnelctl: wrong key -> exit 1; unknown id -> exit 1; unreachable -> 3.
    rc, out, err = relay.ctl("list", key=wrong)
    if rc != 1:
        failures.append("tunnelctl list with a wrong key: exit %d, expected 1 (%s)" % (rc, err.strip()))
    if wrong in out + err:
        failures.append("tunnelctl prints the (wrong) API key")
    rc, out, err = relay.ctl("describe", unknown)
    if rc != 1 or "404" not in err + out:
        failures.append("tunnelctl describe UNKNOWN: exit %d, expected 1 and a 404 message (%r)" %
                        (rc, (out + err).strip()))
    rc, out, err = relay.ctl("list", url="https://127.0.0.1:%d" % free_port())
    if rc != 3:
        failures.append("tunnelctl list against a closed port: exit %d, expected 3 (%s)" % (rc, err.strip()))
    if failures:
        fail("%d auth/not-found case(s) wrong:\n  %s" % (len(failures), "\n  ".join(failures)))


@timeout(60)
def test_api_off_and_key_sources(t):
    # No --api-key-file, no TUNNEL_RELAY_API_KEY: 403 ApiDisabled, whatever the key.
    off = ApiRelay(t, api_key=None, name="relay-off")
    for key in (None, secrets.token_urlsafe(24)):
        for method, path, body in (("GET", "/api/v1/tunnels", None),
                                   ("POST", "/api/v1/tunnels", _open_body())):
            r = off.curl(method, path, body, key=key)
            expect(r.status == 403 and r.error()[0] == "ApiDisabled",
                   "API off, %s %s (key %s): expected 403 ApiDisabled, got %r" %
                   (method, path, "given" if key else "none", r))
    expect(off.curl("GET", "/metrics", key=None).status == 200, "API off: /metrics not 200")
    rc, out, err = off.ctl("list", key=secrets.token_urlsafe(24))
    expect(rc == 1, "tunnelctl list against a relay with the API off: exit %d, expected 1 (%s)" %
           (rc, err.strip()))
    off.stop_term()

    # The key from the environment turns the API on.
    env_key = secrets.token_urlsafe(24)
    envr = ApiRelay(t, api_key=None, env_key=env_key, name="relay-envkey")
    r = envr.curl("GET", "/api/v1/tunnels")
    expect(r.status == 200, "API key from TUNNEL_RELAY_API_KEY: GET /api/v1/tunnels: %r" % r)
    r = envr.curl("GET", "/api/v1/tunnels", key=secrets.token_urlsafe(24))
    expect(r.status == 401, "API key from TUNNEL_RELAY_API_KEY, wrong key: %r" % r)
    envr.stop_term()

    # A key file with a key shorter than 16 characters: the relay refuses to start.
    short = ApiRelay(t, api_key="short-key-15chr", name="relay-shortkey", start=False)
    p = t.spawn("relay-shortkey", short.argv())
    rc = p.wait_exit(scaled(10))
    expect(rc not in (0, None) and rc > 0,
           "relay with a 15-character API key: exit code %s, expected a non-zero exit" % rc)
    expect("16" in p.log(), "relay with a short API key does not say why:\n%s" % p.tail())
    # A missing key file: refuses to start too.
    missing = ApiRelay(t, api_key="0123456789abcdef", name="relay-nokeyfile", start=False)
    os.unlink(str(missing.key_file))
    p = t.spawn("relay-nokeyfile", missing.argv())
    rc = p.wait_exit(scaled(10))
    expect(rc is not None and rc > 0,
           "relay with a missing API key file: exit code %s, expected a non-zero exit" % rc)
    # A key from the environment is held to the same bounds as a key file:
    # too short or too long stops the relay with a reason, never a silently
    # disabled API, and the key itself is never printed.
    for what, key, want in (("15-character", "k" * 15, "shorter than 16"),
                            ("256-character", "k" * 256, "longer than 255")):
        bad = ApiRelay(t, api_key=None, env_key=key, name="relay-envkey-bad", start=False)
        p = t.spawn("relay-envkey-bad", bad.argv(),
                    env=child_env({"TUNNEL_RELAY_API_KEY": key}, home=t.tmp))
        rc = p.wait_exit(scaled(10))
        expect(rc is not None and rc > 0,
               "relay with a %s API key in the environment: exit code %s, expected a non-zero "
               "exit" % (what, rc))
        expect(want in p.log() and key not in p.log(),
               "relay with a %s API key in the environment does not say why (or shows the key):"
               "\n%s" % (what, p.tail()))


# ==========================================================================
# tunnelctl
# ==========================================================================

@timeout(90)
def test_tunnelctl_open_run_printed_command(t):
    """tunnelctl open prints a localproxy command; run it (on a free port)
    against a destination started with a token from `rotate --mode
    DESTINATION --json`, push data through, then list/describe/close."""
    relay = ApiRelay(t)
    rc, out, err = relay.ctl("open", "--thing", THING, "--service", "SSH", "--lifetime", "30",
                             "--description", "from tunnelctl")
    expect(rc == 0, "tunnelctl open: exit %d\n%s%s" % (rc, out, err))
    m = re.search(r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b", out)
    expect(m, "tunnelctl open: no tunnel id in its output:\n%s" % out)
    tid = m.group(1)
    m = re.search(r"AWSIOT_TUNNEL_ACCESS_TOKEN=(\S+)\s+(\S*localproxy)\s+(.*)$", out, re.M)
    expect(m, "tunnelctl open: no 'AWSIOT_TUNNEL_ACCESS_TOKEN=... localproxy ...' line:\n%s" % out)
    src_token = m.group(1).strip("'\"")
    t.secret(src_token)
    args = shlex.split(m.group(3))
    expect("-e" in args and args[args.index("-e") + 1] == "127.0.0.1:%d" % relay.port,
           "printed localproxy command has no '-e 127.0.0.1:%d': %r" % (relay.port, args))
    expect("-c" in args and args[args.index("-c") + 1] == relay.ca,
           "printed localproxy command has no '-c %s': %r" % (relay.ca, args))
    expect("-s" in args, "printed localproxy command has no -s: %r" % args)
    # The same tunnel is in the list, OPEN, with the description.
    lst = relay.ctl_json("list", "--thing", THING)
    ids = {s["tunnelId"]: s for s in lst["tunnelSummaries"]}
    expect(tid in ids and ids[tid]["status"] == "OPEN" and ids[tid]["description"] == "from tunnelctl",
           "tunnelctl list --json: %r" % lst)
    rc, out2, err2 = relay.ctl("list")
    expect(rc == 0 and tid in out2 and "OPEN" in out2, "tunnelctl list: exit %d\n%s%s" % (rc, out2, err2))
    expect(src_token not in out2, "tunnelctl list prints a token")
    d = relay.ctl_json("describe", tid)["tunnel"]
    expect(d["timeoutConfig"]["maxLifetimeTimeoutMinutes"] == 30, "describe lifetime: %r" % d)

    # Destination: a fresh token from rotate (the open output keeps it out).
    rot = relay.ctl_json("rotate", tid, "--mode", "DESTINATION")
    dtoken = rot.get("destinationAccessToken")
    expect(dtoken and "sourceAccessToken" not in rot, "tunnelctl rotate DESTINATION --json: %r" % rot)
    echo = t.echo()
    dest = relay.dest_proxy(dtoken, echo.port)
    # Run the printed command, with our free port in place of its -s value.
    src_port = free_port()
    i = args.index("-s")
    spec = args[i + 1]
    args[i + 1] = re.sub(r"\d+$", str(src_port), spec)
    argv = [binary("localproxy")] + args + ["-b", "127.0.0.1"]
    src = t.spawn("source-printed", argv,
                  env=child_env({"AWSIOT_TUNNEL_ACCESS_TOKEN": src_token}, home=t.tmp))
    src.wait_log(READY, scaled(10))
    through(t, src_port, 2 * MiB, "connection through the printed localproxy command")

    rc, out3, err3 = relay.ctl("describe", tid)
    expect(rc == 0, "tunnelctl describe: exit %d %s" % (rc, err3))
    expect(re.search(r"(?m)^Status:\s+OPEN", out3), "tunnelctl describe: no 'Status: OPEN':\n%s" % out3)
    expect(re.search(r"(?m)^Source:\s+CONNECTED", out3) and
           re.search(r"(?m)^Destination:\s+CONNECTED", out3),
           "tunnelctl describe: both sides should be CONNECTED:\n%s" % out3)

    # -v never shows the key.
    rc, out4, err4 = relay.ctl("-v", "list")
    expect(rc == 0, "tunnelctl -v list: exit %d" % rc)
    expect(relay.key not in out4 + err4, "tunnelctl -v prints the API key")

    # Usage errors: exit 2.
    for bad in (["open", "--service", "SSH"], ["rotate", tid, "--mode", "BOTH"],
                ["frobnicate"], ["describe"]):
        rc, o, e = relay.ctl(*bad)
        expect(rc == 2, "tunnelctl %s: exit %d, expected 2 (usage)\n%s%s" % (" ".join(bad), rc, o, e))

    rc, out5, err5 = relay.ctl("close", tid)
    expect(rc == 0, "tunnelctl close: exit %d %s" % (rc, err5))
    expect(dest.wait_exit(scaled(5)) == 0, "destination localproxy: non-zero exit after close")
    expect(src.wait_exit(scaled(5)) == 0, "source localproxy: non-zero exit after close")
    rc, out6, _ = relay.ctl("describe", tid)
    expect(rc == 0 and re.search(r"(?m)^Status:\s+CLOSED", out6),
           "tunnelctl describe after close: no 'Status: CLOSED':\n%s" % out6)


# ==========================================================================
# tokens: single use, client-token reconnect
# ==========================================================================

@timeout(60)
def test_token_single_use_and_client_token(t):
    relay = ApiRelay(t, verbose=5)
    j = relay.open()
    m0 = relay.metrics()
    dtok, stok = j["destinationAccessToken"], j["sourceAccessToken"]
    ct = client_token()
    w1 = relay.ws(dtok, "destination", ct)
    expect(w1.accepted, "first use of the destination token: HTTP %s %s" % (w1.status, w1.reason))
    expect(w1.subprotocol == wsprobe.SUBPROTOCOL_V3, "subprotocol %r" % w1.subprotocol)

    # Second connection with the same token: no client token / another one.
    w = relay.ws(dtok, "destination")
    expect_refused(w, 403, "second connection with a used token, no client token")
    w = relay.ws(dtok, "destination", client_token())
    expect_refused(w, 403, "second connection with a used token, another client token")
    expect_ws_open(w1, 0.5, "first connection after two refused reuses")

    # The same token with the same client token: a reconnect, accepted, and
    # it replaces the first connection.
    w2 = relay.ws(dtok, "destination", ct)
    expect(w2.accepted, "reconnect with the same client token (first still connected): HTTP %s"
           % w2.status)
    try:
        w1.wait_close(scaled(5))
    except wsprobe.ProbeTimeout:
        fail("the replaced connection was not closed within %.0fs" % scaled(5))
    w2.abort()
    time.sleep(0.3)
    w3 = relay.ws(dtok, "destination", ct)
    expect(w3.accepted, "reconnect with the same client token after a drop: HTTP %s" % w3.status)

    # A source token in destination mode, and vice versa.
    w = relay.ws(stok, "destination", client_token())
    expect(400 <= (w.status or 0) < 500, "source token in destination mode: HTTP %s" % w.status)
    # The refused attempt did not use up the source token.
    ws_ = relay.ws(stok, "source")
    expect(ws_.accepted, "source token (first proper use): HTTP %s" % ws_.status)
    w = relay.ws(stok, "source")
    expect_refused(w, 403, "source token used twice without client tokens")

    # Unknown token.
    w = relay.ws(secrets.token_urlsafe(32), "source")
    expect_refused(w, 401, "unknown access token")
    m1 = relay.metrics()
    key_u = 'tunnel_relay_rejected_handshakes_total{reason="unknown_token"}'
    expect(metric(m1, key_u) - metric(m0, key_u) == 1,
           "unknown_token rejections went from %s to %s, expected +1" %
           (metric(m0, key_u), metric(m1, key_u)))
    rej0 = sum(v for k, v in m0.items() if k.startswith("tunnel_relay_rejected_handshakes_total"))
    rej1 = sum(v for k, v in m1.items() if k.startswith("tunnel_relay_rejected_handshakes_total"))
    expect(rej1 - rej0 == 5, "rejected handshakes went up by %s, expected 5 (2 reuses, wrong side, "
           "reuse of source, unknown): %r" % (rej1 - rej0, {k: v for k, v in m1.items() if "rejected" in k}))


# ==========================================================================
# rotation
# ==========================================================================

@timeout(60)
def test_rotate_with_probes(t):
    relay = ApiRelay(t, verbose=5)
    j = relay.open()
    tid = j["tunnelId"]
    s1, d1 = j["sourceAccessToken"], j["destinationAccessToken"]
    cs, cd = client_token(), client_token()
    ws_ = relay.ws(s1, "source", cs)
    wd = relay.ws(d1, "destination", cd)
    expect(ws_.accepted and wd.accepted, "first connections: %s %s" % (ws_.status, wd.status))

    rot = relay.rotate(tid, "SOURCE")
    s2 = rot["sourceAccessToken"]
    expect(s2 != s1, "rotate SOURCE returned the old token")
    expect_close_code(ws_, 1000, "source connection after rotate SOURCE")
    expect_ws_open(wd, 1.0, "destination connection after rotate SOURCE")
    w = relay.ws(s1, "source", cs)
    expect_refused(w, 401, "old source token (with its client token) after rotate")
    w = relay.ws(s1, "source")
    expect_refused(w, 401, "old source token (no client token) after rotate")
    ws2 = relay.ws(s2, "source", client_token())
    expect(ws2.accepted, "new source token: HTTP %s" % ws2.status)

    rc, out, err = relay.ctl("--json", "rotate", tid, "--mode", "ALL")
    expect(rc == 0, "tunnelctl rotate ALL: exit %d %s" % (rc, err))
    rot = json.loads(out)
    relay._note_tokens(rot)
    s3, d3 = rot["sourceAccessToken"], rot["destinationAccessToken"]
    expect_close_code(ws2, 1000, "source connection after rotate ALL")
    expect_close_code(wd, 1000, "destination connection after rotate ALL")
    for tok, mode in ((s2, "source"), (d1, "destination")):
        w = relay.ws(tok, mode)
        expect_refused(w, 401, "old %s token after rotate ALL" % mode)
    w = relay.ws(d1, "destination", cd)
    expect_refused(w, 401, "old destination token with its client token after rotate ALL")
    for tok, mode in ((s3, "source"), (d3, "destination")):
        w = relay.ws(tok, mode, client_token())
        expect(w.accepted, "new %s token after rotate ALL: HTTP %s" % (mode, w.status))
    d = relay.describe(tid)
    expect(d["status"] == "OPEN", "after rotations: %r" % d)


@timeout(90)
def test_rotate_with_localproxies(t):
    relay = ApiRelay(t, verbose=5)
    j, echo, dest, src, src_port = tunnel_with_proxies(t, relay)
    tid = j["tunnelId"]
    s = through(t, src_port, 1 * MiB, "connection before rotation")

    rot = relay.rotate(tid, "DESTINATION")
    rc = dest.wait_exit(scaled(5))
    expect(rc == 0, "destination localproxy after rotate DESTINATION: exit %s, expected 0" % rc)
    expect_closed(s, scaled(5), "connection whose destination was rotated away")
    time.sleep(0.5)
    src.expect_alive("after rotate DESTINATION")
    w = relay.ws(j["destinationAccessToken"], "destination")
    expect_refused(w, 401, "old destination token after rotate")
    dest2 = relay.dest_proxy(rot["destinationAccessToken"], echo.port, name="dest2")
    deadline = time.monotonic() + scaled(5)
    while True:
        s2 = connect(src_port, scaled(5))
        t.defer(s2.close)
        try:
            expect_echo(s2, 2 * MiB, "connection with the new destination", timeout=scaled(20))
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)

    rot = relay.rotate(tid, "SOURCE")
    rc = src.wait_exit(scaled(5))
    expect(rc == 0, "source localproxy after rotate SOURCE: exit %s, expected 0" % rc)
    time.sleep(0.5)
    dest2.expect_alive("after rotate SOURCE")
    port2 = free_port()
    relay.source_proxy(rot["sourceAccessToken"], port2, name="source2")
    through(t, port2, 2 * MiB, "connection through the new source")
    relay.proc.expect_alive()


# ==========================================================================
# DELETE
# ==========================================================================

@timeout(60)
def test_delete_stops_both_localproxies(t):
    relay = ApiRelay(t, verbose=5)
    j, echo, dest, src, src_port = tunnel_with_proxies(t, relay)
    tid = j["tunnelId"]
    s = through(t, src_port, 1 * MiB)
    d = relay.describe(tid)
    expect(d["sourceConnectionState"]["status"] == "CONNECTED" and
           d["destinationConnectionState"]["status"] == "CONNECTED",
           "describe with both proxies up: %r" % d)
    expect(d["liveConnections"] == 1, "describe liveConnections with one connection: %r" % d)
    m0 = relay.metrics()
    t0 = time.monotonic()
    dl = relay.delete(tid)
    expect(dl.get("status") == "CLOSED", "DELETE: %r" % dl)
    rc_d = dest.wait_exit(scaled(5))
    rc_s = src.wait_exit(scaled(5))
    t.note("both localproxies exited %.2fs after DELETE" % (time.monotonic() - t0))
    expect(rc_d == 0, "destination localproxy after DELETE: exit %s, expected 0" % rc_d)
    expect(rc_s == 0, "source localproxy after DELETE: exit %s, expected 0" % rc_s)
    expect_closed(s, scaled(5), "connection through the deleted tunnel")
    rc, out, err = relay.ctl("describe", tid)
    expect(rc == 0 and re.search(r"(?m)^Status:\s+CLOSED", out),
           "tunnelctl describe after DELETE: exit %d\n%s%s" % (rc, out, err))
    d = relay.ctl_json("describe", tid)["tunnel"]
    expect(d["status"] == "CLOSED", "describe --json after DELETE: %r" % d)
    for tok, mode in ((j["sourceAccessToken"], "source"), (j["destinationAccessToken"], "destination")):
        w = relay.ws(tok, mode, client_token())
        expect_refused(w, 401, "%s token of a closed tunnel" % mode)
    m1 = relay.metrics()
    o0, o1 = metric(m0, 'tunnel_relay_tunnels{status="open"}'), metric(m1, 'tunnel_relay_tunnels{status="open"}')
    expect(o1 == o0 - 1, "open tunnels metric %s -> %s after DELETE, expected -1" % (o0, o1))
    expect(metric(m1, "tunnel_relay_peers_connected") == 0,
           "peers_connected %s after DELETE" % metric(m1, "tunnel_relay_peers_connected"))


# ==========================================================================
# EXPIRY: waits ~65 s (the minimum lifetime is 1 minute). The only such test.
# ==========================================================================

@timeout(150)
def test_expiry_closes_tunnel_SLOW_65s(t):
    relay = ApiRelay(t, verbose=5)
    t_open = time.monotonic()
    j, echo, dest, src, src_port = tunnel_with_proxies(t, relay, lifetime=1)
    tid = j["tunnelId"]
    d = relay.describe(tid)
    expect(iso_to_epoch(d["expiresAt"]) - iso_to_epoch(d["createdAt"]) == 60,
           "lifetime 1: createdAt %s expiresAt %s" % (d["createdAt"], d["expiresAt"]))
    s = through(t, src_port, 256 * 1024, "connection before expiry")
    t.note("waiting for the 1-minute lifetime to run out (up to 75 s)")
    # Still open well before the end.
    while time.monotonic() - t_open < 50:
        time.sleep(1)
        dest.expect_alive("before the tunnel's lifetime ran out")
        src.expect_alive("before the tunnel's lifetime ran out")
    expect(relay.describe(tid)["status"] == "OPEN", "tunnel CLOSED after 50 s of a 60 s lifetime")
    left = 75 - (time.monotonic() - t_open)
    rc_d = dest.wait_exit(left)
    rc_s = src.wait_exit(max(2.0, 75 - (time.monotonic() - t_open)))
    dt = time.monotonic() - t_open
    t.note("localproxies exited %.1fs after open" % dt)
    expect(dt >= 58, "the tunnel was closed after %.1fs, before its 60 s lifetime" % dt)
    expect(rc_d == 0 and rc_s == 0, "localproxies after expiry: exit %s / %s, expected 0 / 0" % (rc_d, rc_s))
    expect_closed(s, scaled(3), "connection through the expired tunnel")
    d = relay.describe(tid)
    expect(d["status"] == "CLOSED", "describe after expiry: %r" % d)
    w = relay.ws(j["destinationAccessToken"], "destination", client_token())
    expect_refused(w, 401, "destination token of an expired tunnel")
    m = relay.metrics()
    expect(metric(m, 'tunnel_relay_tunnels{status="open"}') == 0, "open tunnels after expiry: %r" % m)


# ==========================================================================
# restart with the same database
# ==========================================================================

@timeout(150)
def test_restart_same_db(t):
    check_restart_keeps_tunnels(t, ApiRelay(t, verbose=5))


def check_restart_keeps_tunnels(t, relay, before_restart=None):
    """Opens tunnels (one with both proxies, one unused, one closed),
    restarts relay on its database and checks all three are as they were.
    before_restart() runs just before the stop. Returns the three open
    answers (with their tokens)."""
    j, echo, dest, src, src_port = tunnel_with_proxies(t, relay, description="survives restart")
    tid = j["tunnelId"]
    s = through(t, src_port, 1 * MiB, "connection before the restart")
    unused = relay.open(thing="nanopi-02")
    closed = relay.open(thing="nanopi-03")
    relay.delete(closed["tunnelId"])
    if before_restart:
        before_restart()
    dmark, smark = dest.mark(), src.mark()

    relay.stop_term()
    expect_closed(s, scaled(10), "connection whose relay stopped")
    time.sleep(1.0)
    dest.expect_alive("while the relay is down")
    src.expect_alive("while the relay is down")
    relay.start()
    dest.wait_log(READY, scaled(45), since=dmark, what="destination reconnect after the restart")
    src.wait_log(READY, scaled(45), since=smark, what="source reconnect after the restart")

    through_after_restart(t, src_port, 8 * MiB)
    d = relay.describe(tid)
    expect(d["status"] == "OPEN" and d["description"] == "survives restart", "describe: %r" % d)
    expect(d["sourceConnectionState"]["status"] == "CONNECTED" and
           d["destinationConnectionState"]["status"] == "CONNECTED",
           "describe after the restart: %r" % d)
    st = {x["tunnelId"]: x["status"] for x in relay.call("GET", "/api/v1/tunnels")["tunnelSummaries"]}
    expect(st == {tid: "OPEN", unused["tunnelId"]: "OPEN", closed["tunnelId"]: "CLOSED"},
           "list after the restart: %r" % st)
    # Used tokens stay used: without the client token a second connection is refused.
    w = relay.ws(j["sourceAccessToken"], "source", client_token())
    expect_refused(w, 403, "used source token (another client token) after the restart")
    # An unused token from before the restart works.
    w = relay.ws(unused["destinationAccessToken"], "destination", client_token())
    expect(w.accepted, "unused destination token after the restart: HTTP %s" % w.status)
    # A closed tunnel stays closed.
    w = relay.ws(closed["sourceAccessToken"], "source")
    expect_refused(w, 401, "token of a tunnel closed before the restart")
    through(t, src_port, 1 * MiB, "another connection after the restart")
    return j, unused, closed


# ==========================================================================
# metrics
# ==========================================================================

@timeout(60)
def test_metrics_move(t):
    relay = ApiRelay(t)
    m0 = relay.metrics()
    for k in ('tunnel_relay_tunnels{status="open"}', "tunnel_relay_peers_connected",
              "tunnel_relay_live_connections", "tunnel_relay_tunnel_websockets", 'tunnel_relay_bytes_total{from="source"}',
              'tunnel_relay_bytes_total{from="destination"}', "tunnel_relay_api_requests_total"):
        expect(k in m0, "metric %s missing from /metrics:\n%r" % (k, m0))
    expect(metric(m0, 'tunnel_relay_tunnels{status="open"}') == 0, "open tunnels at start: %r" % m0)
    api0 = metric(m0, "tunnel_relay_api_requests_total")

    j, echo, dest, src, src_port = tunnel_with_proxies(t, relay)
    relay.open(thing="nanopi-02")
    m1 = relay.metrics()
    expect(metric(m1, 'tunnel_relay_tunnels{status="open"}') == 2, "open tunnels after 2 opens: %r" % m1)
    expect(metric(m1, "tunnel_relay_api_requests_total") - api0 == 2,
           "api_requests_total %s -> %s after 2 API calls" % (api0, metric(m1, "tunnel_relay_api_requests_total")))
    expect(metric(m1, "tunnel_relay_peers_connected") == 2, "peers_connected: %r" % m1)
    expect(metric(m1, "tunnel_relay_tunnel_websockets") == 2, "tunnel_websockets: %r" % m1)

    s = connect(src_port, scaled(5))
    t.defer(s.close)
    n = 3 * MiB
    expect_echo(s, n, "3 MiB through the tunnel")
    wait_until(lambda: metric(relay.metrics(), "tunnel_relay_live_connections") == 1, scaled(3),
               "live_connections == 1 with one connection open")
    m2 = relay.metrics()
    bs = metric(m2, 'tunnel_relay_bytes_total{from="source"}') - metric(m1, 'tunnel_relay_bytes_total{from="source"}')
    bd = metric(m2, 'tunnel_relay_bytes_total{from="destination"}') - metric(m1, 'tunnel_relay_bytes_total{from="destination"}')
    t.note("bytes from source +%d, from destination +%d for %d each way" % (bs, bd, n))
    expect(n <= bs <= n * 1.1 + 65536, "bytes from source went up by %d for %d bytes sent" % (bs, n))
    expect(n <= bd <= n * 1.1 + 65536, "bytes from destination went up by %d for %d bytes echoed" % (bd, n))
    s.close()
    wait_until(lambda: metric(relay.metrics(), "tunnel_relay_live_connections") == 0, scaled(5),
               "live_connections back to 0")

    key_u = 'tunnel_relay_rejected_handshakes_total{reason="unknown_token"}'
    u0 = metric(m2, key_u)
    w = relay.ws(secrets.token_urlsafe(32), "destination")
    expect_refused(w, 401, "unknown token")
    w = relay.ws(secrets.token_urlsafe(32), "source")
    expect_refused(w, 401, "unknown token")
    m3 = relay.metrics()
    expect(metric(m3, key_u) - u0 == 2, "%s %s -> %s after 2 bad tokens" % (key_u, u0, metric(m3, key_u)))

    relay.delete(j["tunnelId"])
    dest.wait_exit(scaled(5))
    src.wait_exit(scaled(5))
    m4 = relay.metrics()
    expect(metric(m4, 'tunnel_relay_tunnels{status="open"}') == 1, "open tunnels after a DELETE: %r" % m4)
    expect(metric(m4, "tunnel_relay_peers_connected") == 0, "peers after DELETE: %r" % m4)


# ==========================================================================
# caps on open tunnels, repeated keys
# ==========================================================================

@timeout(60)
def test_api_tunnel_caps(t):
    relay = ApiRelay(t, extra_args=["--max-tunnels", "3", "--max-tunnels-per-thing", "2"])
    a1 = relay.open(thing="cap-a")
    relay.open(thing="cap-a")
    r = relay.curl("POST", "/api/v1/tunnels", _open_body(thing="cap-a"))
    expect(r.status == 429 and r.error()[0] == "TooManyTunnels",
           "third tunnel of one thing: expected 429 TooManyTunnels, got %r" % r)
    msg = r.json["error"]["message"]
    expect("--max-tunnels-per-thing 2" in msg and "cap-a" in msg,
           "the message should name the thing, the limit and its value: %r" % msg)
    relay.proc.expect_alive("after a refused open")
    relay.open(thing="cap-b")
    r = relay.curl("POST", "/api/v1/tunnels", _open_body(thing="cap-c"))
    expect(r.status == 429 and "--max-tunnels 3" in r.json["error"]["message"],
           "fourth tunnel in all: expected 429 naming --max-tunnels 3, got %r" % r)
    # Closing one frees its place.
    relay.delete(a1["tunnelId"])
    relay.open(thing="cap-c")
    lst = relay.call("GET", "/api/v1/tunnels")["tunnelSummaries"]
    expect(len(lst) == 4, "3 open + 1 closed expected, the relay lists %r" % lst)
    # The options are checked.
    for bad in (["--max-tunnels", "0"], ["--max-tunnels-per-thing", "x"]):
        p = subprocess.run([str(a) for a in relay.argv()] + bad, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                           env=child_env(home=t.tmp))
        expect(p.returncode == 2 and bad[0].encode() in p.stderr,
               "%s: expected exit 2 naming the option, got %d %r" % (bad, p.returncode, p.stderr))


@timeout(60)
def test_api_repeated_keys(t):
    relay = ApiRelay(t)
    raw = ('{"destinationConfig":{"thingName":"%s","thingName":"evil","services":["SSH"]}}'
           % THING)
    r = relay.curl("POST", "/api/v1/tunnels", raw=raw)
    expect(r.status == 400 and r.error() == ("BadRequest", "destinationConfig.thingName"),
           "repeated thingName: expected 400 naming the key, got %r" % r)
    j = relay.open()
    r = relay.curl("POST", "/api/v1/tunnels/%s/rotate" % j["tunnelId"],
                   raw='{"clientMode":"SOURCE","clientMode":"ALL"}')
    expect(r.status == 400 and r.error() == ("BadRequest", "clientMode"),
           "repeated clientMode: expected 400, got %r" % r)
    lst = relay.call("GET", "/api/v1/tunnels")["tunnelSummaries"]
    expect(len(lst) == 1, "a refused body created a tunnel: %r" % lst)


@timeout(60)
def test_api_nul_in_query_logged(t):
    """libwebsockets drops a request with %00 in its URL before any handler
    runs (no answer can be sent): the relay logs it and serves on. Before
    the fix nothing was logged."""
    relay = ApiRelay(t)
    since = relay.proc.mark()
    r = relay.curl("GET", "/api/v1/tunnels?thingName=%00abc")
    expect(r.status in (0, 400), "%%00 in the query: expected no answer or 400, got %r" % r)
    relay.proc.wait_log(r"HTTP connection( from 127\.0\.0\.1)? closed without a request the "
                        r"relay could read: .*%00 in the URL", scaled(5), since=since)
    relay.proc.expect_alive("after %00 in a query")
    expect(relay.call("GET", "/api/v1/tunnels")["tunnelSummaries"] == [],
           "the relay still answers after the dropped request")
