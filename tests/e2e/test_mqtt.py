"""Device notification over MQTT (PROTOCOL.md section 8) with a real
mosquitto broker over TLS on loopback: client certificates, identity as the
user name, an ACL that lets the relay write every thing's notify topic and a
device read only its own.

Skipped when mosquitto / mosquitto_sub are not installed.
"""

import json
import os
import re
import select
import shutil
import socket
import sqlite3
import subprocess
import threading
import time

from harness import (MiB, Proc, ROOT, expect, fail, free_port, pki, scaled, skip,
                     timeout, wait_until)
from test_api import ApiRelay, ISO_RX, THING, through

OTHER = "nanopi-02"
# The broker runs with the shipped configuration when it exists.
TEMPLATE_CONF = ROOT / "packaging" / "mosquitto" / "mosquitto.conf"
TEMPLATE_ACL = ROOT / "packaging" / "mosquitto" / "acl"


def _which(name):
    p = shutil.which(name)
    if p:
        return p
    for d in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


def need_mosquitto():
    for name in ("mosquitto", "mosquitto_sub", "mosquitto_pub"):
        if not _which(name):
            skip("%s is not installed (Debian: apt-get install mosquitto mosquitto-clients)" % name)


def topic(thing):
    return "$aws/things/%s/tunnels/notify" % thing


def make_mqtt_pki(t, things=(THING, OTHER)):
    """Device (one per thing) and relay MQTT certificates signed by the
    run's CA (so the relay's TLS certificate from the shared PKI still
    verifies)."""
    d = t.tmp / "mqtt-pki"
    d.mkdir()
    src = pki().dir
    for f in ("ca.pem", "ca.key"):
        shutil.copy(str(src / f), str(d / f))
    os.chmod(str(d / "ca.key"), 0o600)
    argv = ["bash", str(ROOT / "certs" / "mkpki.sh"), "-o", str(d)]
    for thing in things:
        argv += ["--device", thing]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    if r.returncode != 0:
        fail("certs/mkpki.sh --device ... failed (rc=%d):\n%s" %
             (r.returncode, r.stdout.decode(errors="replace")))
    made = ["broker.pem", "broker.key", "relay-mqtt.pem", "relay-mqtt.key"]
    for thing in things:
        made += ["device-%s.pem" % thing, "device-%s.key" % thing]
    for f in made:
        expect((d / f).exists(), "mkpki.sh did not make %s" % f)
    return d


class Broker:
    """mosquitto with a TLS listener on 127.0.0.1 that requires client
    certificates and uses the certificate CN as the user name."""

    def __init__(self, t, pkidir, port=None, name="mosquitto", extra_conf=()):
        """name: its files' names (several brokers in one test);
        extra_conf: lines added to its configuration (a bridge)."""
        self.t = t
        self.pki = pkidir
        self.port = port or free_port()
        self.name = name
        # mosquitto's own log (log_type all)
        self.log_path = t.tmp / ("broker.log" if name == "mosquitto" else "%s-broker.log" % name)
        acl = t.tmp / ("%s.acl" % name)
        conf = t.tmp / ("%s.conf" % name)
        head = ["persistence false",
                "log_dest file %s" % self.log_path,
                "log_type all",
                "connection_messages true"]
        if os.geteuid() == 0:
            head.insert(0, "user root")  # keep access to the test's files
        if TEMPLATE_CONF.exists() and TEMPLATE_ACL.exists():
            # The shipped files, with our port, address and paths.
            shutil.copy(str(TEMPLATE_ACL), str(acl))
            body = self._from_template(TEMPLATE_CONF.read_text(), pkidir, acl)
            self.source = "packaging/mosquitto"
        else:
            acl.write_text(
                "user tunnel-relay\n"
                "topic write $aws/things/+/tunnels/notify\n"
                "\n"
                "pattern read $aws/things/%u/tunnels/notify\n")
            body = [
                "allow_anonymous false",
                "acl_file %s" % acl,
                "listener %d 127.0.0.1" % self.port,
                "cafile %s" % (pkidir / "ca.pem"),
                "certfile %s" % (pkidir / "broker.pem"),
                "keyfile %s" % (pkidir / "broker.key"),
                "require_certificate true",
                "use_identity_as_username true",
            ]
            self.source = "built-in test configuration"
        conf.write_text("\n".join(head + body + list(extra_conf)) + "\n")
        self.conf = conf
        self.proc = None
        self.start()

    def _from_template(self, text, pkidir, acl):
        out = []
        listeners = 0
        paths = {"cafile": pkidir / "ca.pem", "certfile": pkidir / "broker.pem",
                 "keyfile": pkidir / "broker.key", "acl_file": acl}
        for ln in text.splitlines():
            words = ln.split()
            if not words or words[0].startswith("#"):
                out.append(ln)
            elif words[0] == "listener":
                listeners += 1
                out.append("listener %d 127.0.0.1" % self.port)
            elif words[0] in paths:
                out.append("%s %s" % (words[0], paths[words[0]]))
            else:
                out.append(ln)
        expect(listeners == 1, "packaging/mosquitto/mosquitto.conf has %d listener lines, "
               "the test expects 1" % listeners)
        return out

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def mark(self):
        return len(self.log())

    def wait_log(self, needle, timeout, since=0, what=None):
        deadline = time.monotonic() + timeout
        while True:
            if needle in self.log()[since:]:
                return
            if self.proc is not None and not self.proc.alive():
                fail("mosquitto exited (rc=%s) before logging %r" % (self.proc.popen.returncode, needle))
            if time.monotonic() > deadline:
                fail("mosquitto did not log %r within %.1fs%s" %
                     (needle, timeout, " (%s)" % what if what else ""))
            time.sleep(0.05)

    def start(self):
        mark = self.mark()
        self.proc = Proc(self.t, self.name, [_which("mosquitto"), "-c", self.conf])
        self.wait_log("Opening ipv4 listen socket on port %d" % self.port, scaled(10), since=mark)
        self.wait_log("running", scaled(10), since=mark)

    def stop(self):
        rc = self.proc.stop()
        expect(rc == 0, "mosquitto: exit code %s after SIGTERM" % rc)


class Sub:
    """mosquitto_sub with a device's certificate. Its output (which holds
    access tokens) goes to a .out file, not a .log file."""

    def __init__(self, t, broker, cert_cn, topics, client_id):
        self.t = t
        self.broker = broker
        self.client_id = client_id
        self.out_path = t.tmp / ("sub-%s.out" % client_id)
        self.err_path = t.tmp / ("sub-%s.err" % client_id)
        d = broker.pki
        argv = [_which("mosquitto_sub"), "-h", "127.0.0.1", "-p", str(broker.port),
                "--cafile", str(d / "ca.pem"),
                "--cert", str(d / ("device-%s.pem" % cert_cn)),
                "--key", str(d / ("device-%s.key" % cert_cn)),
                "-q", "1", "-v", "-i", client_id, "-W", str(int(scaled(120)))]
        for tp in topics:
            argv += ["-t", tp]
        mark = broker.mark()
        self.outf = open(self.out_path, "wb")
        self.errf = open(self.err_path, "wb")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.outf,
                                      stderr=self.errf)
        t.defer(self.stop)
        broker.wait_log("Sending SUBACK to %s" % client_id, scaled(10), since=mark,
                        what="subscriber %s" % client_id)

    def stop(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.outf.close()
        self.errf.close()

    def messages(self):
        """[(topic, parsed JSON or raw text)] received so far."""
        out = []
        try:
            text = self.out_path.read_text(errors="replace")
        except OSError:
            return out
        for ln in text.splitlines():
            if not ln.strip():
                continue
            tp, _, payload = ln.partition(" ")
            try:
                out.append((tp, json.loads(payload)))
            except ValueError:
                out.append((tp, payload))
        return out

    def wait_count(self, n, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= n:
                return msgs
            if self.popen.poll() is not None:
                fail("%s: mosquitto_sub %s exited (rc=%s) with %d message(s): %s" %
                     (what, self.client_id, self.popen.returncode, len(msgs),
                      self.err_path.read_text(errors="replace")[-500:]))
            if time.monotonic() > deadline:
                fail("%s: subscriber %s got %d message(s) within %.0fs, expected %d" %
                     (what, self.client_id, len(msgs), timeout, n))
            time.sleep(0.05)


class Gate:
    """A TCP forwarder on loopback between the relay and the broker: closed,
    it cuts what it forwards and drops new connections at once, so that the
    broker looks down to the relay while the devices stay subscribed (no
    race between a device resubscribing and the relay publishing)."""

    def __init__(self, t, target_port):
        self.target = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.is_open = True
        self.lock = threading.Lock()
        self.pairs = []
        self.done = False
        threading.Thread(target=self._accept, daemon=True).start()
        t.defer(self.stop)

    def _accept(self):
        while not self.done:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                if not self.is_open:
                    c.close()
                    continue
                try:
                    u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                except OSError:
                    c.close()
                    continue
                self.pairs.append((c, u))
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()

    def _pump(self, a, b):
        socks = [a, b]
        try:
            while True:
                r, _, _ = select.select(socks, [], [], 0.5)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        with self.lock:
            self.is_open = False
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def open(self):
        with self.lock:
            self.is_open = True

    def stop(self):
        self.done = True
        self.close()
        self.lsock.close()


def mqtt_setup(t, public_endpoint="self", verbose=5, relay_cert="relay-mqtt",
               relay_user="tunnel-relay", gate=False, relay_args=()):
    """gate: the relay reaches the broker through a Gate (returned as
    broker.gate) that the test can close and open. relay_args: more
    options for the relay."""
    need_mosquitto()
    d = make_mqtt_pki(t)
    broker = Broker(t, d)
    broker.gate = Gate(t, broker.port) if gate else None
    t.note("mosquitto configuration: %s" % broker.source)
    relay = ApiRelay(t, verbose=verbose, public_endpoint=public_endpoint,
                     mqtt={"uri": "ssl://127.0.0.1:%d" % (broker.gate.port if gate else broker.port),
                           "ca": str(d / "ca.pem"), "cert": str(d / ("%s.pem" % relay_cert)),
                           "key": str(d / ("%s.key" % relay_cert))},
                     extra_args=relay_args)
    relay.proc.wait_log(r"MQTT: connected to broker", scaled(15),
                        what="the relay's MQTT connection")
    broker.wait_log("u'%s'" % relay_user, scaled(5), what="the relay's MQTT user name")
    return broker, relay


def check_notification(msg, thing, opened, services, endpoint, what):
    tp, p = msg
    expect(tp == topic(thing), "%s: topic %r, expected %r" % (what, tp, topic(thing)))
    expect(isinstance(p, dict), "%s: payload is not a JSON object: %r" % (what, p))
    expect(p.get("clientAccessToken") == opened["destinationAccessToken"],
           "%s: clientAccessToken is not the API's destinationAccessToken" % what)
    expect(p.get("clientMode") == "destination", "%s: clientMode %r" % (what, p.get("clientMode")))
    expect(p.get("services") == list(services), "%s: services %r, expected %r" %
           (what, p.get("services"), list(services)))
    expect(p.get("tunnelId") == opened["tunnelId"], "%s: tunnelId %r, expected %r" %
           (what, p.get("tunnelId"), opened["tunnelId"]))
    expect(isinstance(p.get("region"), str) and p["region"], "%s: region %r" % (what, p.get("region")))
    if endpoint is None:
        expect("endpoint" not in p, "%s: endpoint %r without --public-endpoint" % (what, p.get("endpoint")))
    else:
        expect(p.get("endpoint") == endpoint, "%s: endpoint %r, expected %r" %
               (what, p.get("endpoint"), endpoint))
    expect(opened.get("sourceAccessToken", "\0") not in json.dumps(p),
           "%s: the source token is in the device notification" % what)


def wait_for_tunnel(sub, tunnel_id, seconds, what):
    """The first message sub received for tunnel_id."""
    found = []

    def got():
        found[:] = [m for m in sub.messages()
                    if isinstance(m[1], dict) and m[1].get("tunnelId") == tunnel_id]
        return bool(found)
    wait_until(got, seconds, what)
    return found[0]


def expect_delivered(resp, what):
    n = resp.get("notification")
    expect(isinstance(n, dict) and n.get("delivered") is True,
           "%s: notification should be delivered=true, got %r" % (what, n))


# ==========================================================================

@timeout(90)
def test_notify_delivered_to_own_thing_only(t):
    broker, relay = mqtt_setup(t)
    sub1 = Sub(t, broker, THING, [topic(THING)], "sub-01")
    sub2 = Sub(t, broker, OTHER, [topic(OTHER)], "sub-02")
    services = ["SSH", "HTTP"]
    j = relay.open(services=services, description="mqtt")
    expect_delivered(j, "open")
    msgs = sub1.wait_count(1, scaled(10), "nanopi-01's subscriber")
    check_notification(msgs[0], THING, j, services, "127.0.0.1:%d" % relay.port, "notification")
    time.sleep(1.5)
    expect(len(sub1.messages()) == 1, "nanopi-01's subscriber got %d messages for one open" %
           len(sub1.messages()))
    expect(sub2.messages() == [], "nanopi-02's subscriber got nanopi-01's notification: %d message(s)" %
           len(sub2.messages()))

    # A tunnel for nanopi-02 reaches nanopi-02 only.
    j2 = relay.open(thing=OTHER, services=["SSH"])
    expect_delivered(j2, "open for nanopi-02")
    m2 = sub2.wait_count(1, scaled(10), "nanopi-02's subscriber")
    check_notification(m2[0], OTHER, j2, ["SSH"], "127.0.0.1:%d" % relay.port, "nanopi-02 notification")
    time.sleep(1.0)
    expect(len(sub1.messages()) == 1, "nanopi-01 got nanopi-02's notification")

    # The token from the notification works for the device's localproxy.
    p = msgs[0][1]
    echo = t.echo()
    relay_ep = p["endpoint"]
    expect(relay_ep == "127.0.0.1:%d" % relay.port, "endpoint %r" % relay_ep)
    from harness import localproxy, READY
    dest = localproxy(t, "device-dest", ["-d", "SSH=127.0.0.1:%d,HTTP=127.0.0.1:%d" %
                                          (echo.port, echo.port)],
                      relay.port, p["clientAccessToken"], ca=relay.ca)
    dest.wait_log(READY, scaled(10))
    sport, hport = free_port(), free_port()
    src = localproxy(t, "source", ["-s", "SSH=%d,HTTP=%d" % (sport, hport), "-b", "127.0.0.1"],
                     relay.port, j["sourceAccessToken"], ca=relay.ca)
    src.wait_log(READY, scaled(10))
    through(t, sport, 1 * MiB, "SSH through a tunnel whose destination came from MQTT")
    broker.proc.expect_alive()


@timeout(60)
def test_notify_acl_other_device_cannot_read(t):
    """nanopi-02's certificate subscribing to nanopi-01's topic (exactly and
    with a wildcard) receives nothing, while nanopi-01 does; nor may
    nanopi-02 publish a fake notification to nanopi-01."""
    broker, relay = mqtt_setup(t)
    sub1 = Sub(t, broker, THING, [topic(THING)], "sub-01")
    spy = Sub(t, broker, OTHER, [topic(THING), "$aws/things/+/tunnels/notify",
                                 "$aws/things/#"], "spy-02")
    j = relay.open()
    expect_delivered(j, "open")
    sub1.wait_count(1, scaled(10), "nanopi-01's subscriber")
    time.sleep(1.5)
    expect(spy.messages() == [], "nanopi-02's certificate read nanopi-01's notification "
           "(%d message(s))" % len(spy.messages()))

    # Publishing a fake notification with nanopi-02's certificate is denied.
    d = broker.pki
    mark = broker.mark()
    r = subprocess.run([_which("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(broker.port),
                        "--cafile", str(d / "ca.pem"), "--cert", str(d / ("device-%s.pem" % OTHER)),
                        "--key", str(d / ("device-%s.key" % OTHER)), "-q", "1", "-i", "fake-02",
                        "-t", topic(THING), "-m",
                        '{"clientAccessToken":"x","clientMode":"destination","services":["SSH"]}'],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=scaled(15))
    broker.wait_log("Denied PUBLISH from fake-02", scaled(5), since=mark,
                    what="nanopi-02 publishing to nanopi-01's topic (mosquitto_pub rc %d)" % r.returncode)
    time.sleep(1.0)
    expect(len(sub1.messages()) == 1, "nanopi-01 received %d messages (a fake one got through?)" %
           len(sub1.messages()))


@timeout(120)
def test_notify_broker_down_then_back(t):
    broker, relay = mqtt_setup(t)
    rmark = relay.proc.mark()
    broker.stop()
    relay.proc.wait_log(r"MQTT: connection to broker .* lost", scaled(10), since=rmark,
                        what="the relay noticing the broker is gone")
    t0 = time.monotonic()
    j = relay.open()
    dt = time.monotonic() - t0
    n = j.get("notification")
    expect(isinstance(n, dict) and n.get("delivered") is False and n.get("pending") is True and
           isinstance(n.get("detail"), str) and n["detail"].strip(),
           "open with the broker down: expected notification pending=true with a detail, got %r" % n)
    t.note("broker down: open answered in %.2fs, detail %r" % (dt, n["detail"]))
    expect(dt < scaled(8), "open with the broker down took %.1fs" % dt)
    d = relay.describe(j["tunnelId"])
    expect(d["status"] == "OPEN", "the tunnel opened with the broker down is %r" % d["status"])
    relay.proc.expect_alive("with the broker down")

    time.sleep(1.0)
    rmark = relay.proc.mark()
    broker.start()
    t1 = time.monotonic()
    relay.proc.wait_log(r"MQTT: (connected to broker|connection to broker .* restored)",
                        scaled(40), since=rmark, what="the relay reconnecting to the broker")
    t.note("relay reconnected %.1fs after the broker came back" % (time.monotonic() - t1))
    # (The notification kept while the broker was down may reach the broker
    # before this subscriber does: test_notify_pending_* check its delivery.)
    sub1 = Sub(t, broker, THING, [topic(THING)], "sub-01")
    j2 = relay.open()
    expect_delivered(j2, "open after the broker came back")
    msg = wait_for_tunnel(sub1, j2["tunnelId"], scaled(10), "nanopi-01 after the broker came back")
    check_notification(msg, THING, j2, ["SSH"], "127.0.0.1:%d" % relay.port,
                       "notification after the broker came back")
    # The tunnel opened while the broker was down can be re-announced by rotating.
    r = relay.rotate(j["tunnelId"], "DESTINATION")
    expect_delivered(r, "rotate DESTINATION of the tunnel opened while the broker was down")
    wait_until(lambda: any(isinstance(p, dict) and
                           p.get("clientAccessToken") == r["destinationAccessToken"] and
                           p.get("tunnelId") == j["tunnelId"] for _, p in sub1.messages()),
               scaled(10), "the re-announcement with the rotated token")


@timeout(90)
def test_notify_rotate_destination_publishes_new_token(t):
    broker, relay = mqtt_setup(t, public_endpoint=None)
    sub1 = Sub(t, broker, THING, [topic(THING)], "sub-01")
    j = relay.open(services=["SSH"])
    expect_delivered(j, "open")
    msgs = sub1.wait_count(1, scaled(10), "first notification")
    check_notification(msgs[0], THING, j, ["SSH"], None, "notification without --public-endpoint")

    r = relay.rotate(j["tunnelId"], "DESTINATION")
    expect_delivered(r, "rotate DESTINATION")
    new = r["destinationAccessToken"]
    expect(new != j["destinationAccessToken"], "rotate DESTINATION returned the old token")
    msgs = sub1.wait_count(2, scaled(10), "notification after rotate DESTINATION")
    again = dict(j, destinationAccessToken=new)
    check_notification(msgs[1], THING, again, ["SSH"], None, "notification after rotate DESTINATION")

    # Rotating only the source does not notify the device.
    r = relay.rotate(j["tunnelId"], "SOURCE")
    expect("notification" not in r or r["notification"].get("delivered") is not True,
           "rotate SOURCE reports a device notification: %r" % r.get("notification"))
    time.sleep(1.5)
    expect(len(sub1.messages()) == 2, "rotate SOURCE published to the device (%d messages)" %
           len(sub1.messages()))

    # ALL: one more notification with the new destination token.
    r = relay.rotate(j["tunnelId"], "ALL")
    expect_delivered(r, "rotate ALL")
    msgs = sub1.wait_count(3, scaled(10), "notification after rotate ALL")
    expect(msgs[2][1].get("clientAccessToken") == r["destinationAccessToken"],
           "notification after rotate ALL: not the new destination token")
    expect(msgs[2][1].get("clientAccessToken") != r["sourceAccessToken"],
           "notification after rotate ALL carries the source token")

    # The notified token is the one the relay accepts; the previous one is refused.
    w = relay.ws(msgs[2][1]["clientAccessToken"], "destination")
    expect(w.accepted, "notified destination token: HTTP %s" % w.status)
    w = relay.ws(new, "destination")
    expect(w.status == 401, "destination token from the previous notification: HTTP %s" % w.status)


@timeout(60)
def test_notify_refused_by_acl_is_not_delivered(t):
    """A relay whose MQTT certificate is not tunnel-relay's (here nanopi-02's)
    may not publish: the broker refuses, the API says delivered=false."""
    broker, relay = mqtt_setup(t, relay_cert="device-%s" % OTHER, relay_user=OTHER)
    sub1 = Sub(t, broker, THING, [topic(THING)], "sub-01")
    mark = broker.mark()
    t0 = time.monotonic()
    j = relay.open()
    dt = time.monotonic() - t0
    n = j.get("notification")
    expect(isinstance(n, dict) and n.get("delivered") is False and
           isinstance(n.get("detail"), str) and n["detail"].strip(),
           "publish refused by the ACL: expected delivered=false with a detail, got %r" % n)
    t.note("refused publish: answered in %.2fs, detail %r" % (dt, n["detail"]))
    expect(n.get("pending") is not True, "a refused publish is not pending: %r" % n)
    broker.wait_log("Denied PUBLISH", scaled(5), since=mark, what="the broker refusing the relay")
    # Not retried: shown as failed, and no token kept in the database.
    d = relay.describe(j["tunnelId"]).get("notification")
    expect(isinstance(d, dict) and d.get("failed") is True and d.get("pending") is False,
           "GET after a refused publish: expected failed=true, got %r" % d)
    expect(kept_rows(relay) == [], "a refused notification left a row in the database")
    mark = broker.mark()
    time.sleep(3.0)
    expect("Denied PUBLISH" not in broker.log()[mark:], "the relay retried a refused publish")
    expect(sub1.messages() == [], "nanopi-01 received a notification the ACL refused")
    relay.proc.expect_alive()


# ==========================================================================
# notifications kept while the broker is unreachable
# ==========================================================================

def expect_pending(resp, what):
    n = resp.get("notification")
    expect(isinstance(n, dict) and n.get("delivered") is False and n.get("pending") is True and
           "will be sent" in n.get("detail", ""),
           "%s: notification should be pending, got %r" % (what, n))


def kept_rows(relay):
    """(tunnel_id, token) of the relay database's kept notifications."""
    db = sqlite3.connect("file:%s?mode=ro" % relay.db, uri=True, timeout=5)
    try:
        return db.execute("SELECT tunnel_id, token FROM pending_notifications").fetchall()
    finally:
        db.close()


def cut_broker(relay, broker):
    mark = relay.proc.mark()
    broker.gate.close()
    relay.proc.wait_log(r"MQTT: connection to broker .* lost", scaled(10), since=mark,
                        what="the relay noticing the broker is unreachable")


def restore_broker(relay, broker, mark):
    broker.gate.open()
    relay.proc.wait_log(r"MQTT: connection to broker .* restored|MQTT: connected to broker",
                        scaled(45), since=mark, what="the relay reconnecting to the broker")


def open_while_unreachable(t):
    """A relay behind a gate, nanopi-01 subscribed, the gate closed, then a
    tunnel opened: (broker, relay, subscriber, the open's answer)."""
    broker, relay = mqtt_setup(t, gate=True)
    sub1 = Sub(t, broker, THING, [topic(THING)], "sub-01")
    cut_broker(relay, broker)
    j = relay.open()
    expect_pending(j, "open with the broker unreachable")
    return broker, relay, sub1, j


@timeout(150)
def test_notify_pending_until_broker_back(t):
    broker, relay, sub1, j = open_while_unreachable(t)
    d = relay.describe(j["tunnelId"])
    n = d.get("notification")
    expect(isinstance(n, dict) and n.get("pending") is True and n.get("failed") is False and
           ISO_RX.match(n.get("since") or ""),
           "GET of a tunnel whose notification waits: %r" % n)
    expect(j["destinationAccessToken"] not in json.dumps(d), "GET shows the destination token")
    rows = kept_rows(relay)
    expect(rows == [(j["tunnelId"], j["destinationAccessToken"])],
           "the database should keep the notification until it is sent: %d row(s)" % len(rows))
    rc, out, err = relay.ctl("describe", j["tunnelId"])
    expect(rc == 0 and re.search(r"(?m)^Notification: +pending since ", out),
           "tunnelctl describe should show the pending notification: rc %d %r %r" % (rc, out, err))
    time.sleep(1.0)
    expect(sub1.messages() == [], "the device got a message while the broker was unreachable")

    mark = relay.proc.mark()
    restore_broker(relay, broker, mark)
    msgs = sub1.wait_count(1, scaled(10), "the kept notification once the broker is back")
    check_notification(msgs[0], THING, j, ["SSH"], "127.0.0.1:%d" % relay.port,
                       "kept notification")
    relay.proc.wait_log(r"tunnel %s: notified device %s over MQTT \(it had waited" %
                        (j["tunnelId"], THING), scaled(10), since=mark)
    wait_until(lambda: kept_rows(relay) == [], scaled(5),
               "the kept notification (and its token) deleted from the database once sent")
    expect("notification" not in relay.describe(j["tunnelId"]),
           "GET still shows a notification after it was sent")
    time.sleep(1.5)
    expect(len(sub1.messages()) == 1, "the kept notification was sent %d times" %
           len(sub1.messages()))


@timeout(150)
def test_notify_pending_survives_relay_restart(t):
    broker, relay, sub1, j = open_while_unreachable(t)
    relay.stop_term()
    relay.start()
    relay.proc.wait_log(r"1 device notification waiting for the MQTT broker", scaled(5))
    n = relay.describe(j["tunnelId"]).get("notification")
    expect(isinstance(n, dict) and n.get("pending") is True,
           "after a restart the notification should still be pending: %r" % n)
    mark = relay.proc.mark()
    restore_broker(relay, broker, mark)
    msgs = sub1.wait_count(1, scaled(10), "the notification kept across the restart")
    check_notification(msgs[0], THING, j, ["SSH"], "127.0.0.1:%d" % relay.port,
                       "notification kept across a restart")
    wait_until(lambda: kept_rows(relay) == [], scaled(5), "the row deleted once sent")


@timeout(150)
def test_notify_pending_dropped_when_closed(t):
    broker, relay, sub1, j = open_while_unreachable(t)
    relay.delete(j["tunnelId"])
    wait_until(lambda: kept_rows(relay) == [], scaled(5),
               "the closed tunnel's notification (and token) deleted from the database")
    expect("notification" not in relay.describe(j["tunnelId"]),
           "GET shows a notification for a closed tunnel")
    mark = relay.proc.mark()
    restore_broker(relay, broker, mark)
    # The relay publishes what waits within a second of reconnecting.
    time.sleep(3.0)
    expect(sub1.messages() == [], "a closed tunnel's notification was published: %d message(s)" %
           len(sub1.messages()))
    # The broker works: a new tunnel is announced at once.
    j2 = relay.open()
    expect_delivered(j2, "open after the broker came back")
    msgs = sub1.wait_count(1, scaled(10), "the new tunnel's notification")
    expect(msgs[0][1].get("tunnelId") == j2["tunnelId"], "the device got %r" % (msgs[0][1],))


@timeout(150)
def test_notify_pending_rotated_twice_sends_last(t):
    broker, relay, sub1, j = open_while_unreachable(t)
    r1 = relay.rotate(j["tunnelId"], "DESTINATION")
    expect_pending(r1, "first rotation")
    r2 = relay.rotate(j["tunnelId"], "DESTINATION")
    expect_pending(r2, "second rotation")
    rows = kept_rows(relay)
    expect(rows == [(j["tunnelId"], r2["destinationAccessToken"])],
           "only the last token should be kept: %d row(s), last token kept: %s" %
           (len(rows), any(tok == r2["destinationAccessToken"] for _, tok in rows)))
    mark = relay.proc.mark()
    restore_broker(relay, broker, mark)
    msgs = sub1.wait_count(1, scaled(10), "the kept notification")
    time.sleep(2.0)
    msgs = sub1.messages()
    expect(len(msgs) == 1, "expected one notification (the last token), got %d" % len(msgs))
    expect(msgs[0][1].get("clientAccessToken") == r2["destinationAccessToken"],
           "the device got an older token, not the last rotation's")
