"""Two tunnel-relay nodes on one PostgreSQL database (a throwaway cluster, as
in test_pg_store.py), each with its own --node-id and port, no HAProxy: what
one node does to a tunnel reaches the other (LISTEN/NOTIFY), a token
unknown to a node is looked up in the database (503 "retry" meanwhile, a
miss remembered for 5 s, then 401), and both ends of a tunnel converge on
the node that last admitted one of them: the other node lets go (1012) and
the proxy reconnects to where its tunnel is now (here through a TCP
stand-in for HAProxy's hash, switched from one node to the other as after
a membership change). A device notification kept by a node that dies
(its broker was unreachable) is sent by another node, which reads the
shared table every 30 s; never with a token rotated since.
docs/architecture.md, "Several nodes".

Skips when PostgreSQL 15's server is not installed (make deps installs it).
"""

import hashlib
import secrets
import socket
import time

from harness import (MiB, LocalServer, close_quietly, copy_until_eof, expect, free_port,
                     localproxy, pki, scaled, timeout, wait_until)
from test_agent import through_retry
from test_api import READY, THING, client_token, expect_refused, through
from test_mqtt import Broker, Gate, Sub, expect_pending, make_mqtt_pki, need_mosquitto, topic
from test_pg_store import DB, Cluster, pg_relay


def two_nodes(t):
    """A throwaway PostgreSQL cluster and relay nodes node-a and node-b on it."""
    cluster = Cluster(t)
    nodes = []
    for name in ("a", "b"):
        relay = pg_relay(t, cluster, name="relay-" + name, verbose=5,
                         extra_args=["--node-id", "node-" + name])
        expect(relay.proc.has_log(r"INFO.*node id: node-%s\b" % name), "node id logged at start")
        nodes.append(relay)
    return cluster, nodes[0], nodes[1]


class Switch(LocalServer):
    """TCP to one relay node, switched to another at will; connections made
    stay where they were made (as with HAProxy when its hash moves a key)."""

    def __init__(self, t, to_port):
        self.to_port = to_port
        super().__init__(t, backlog=64)

    def on_accept(self, c):
        try:
            up = socket.create_connection(("127.0.0.1", self.to_port), timeout=5)
        except OSError:
            close_quietly(c)
            return
        up.settimeout(None)
        if not self.track(up):
            close_quietly(c)
            return
        self.spawn(copy_until_eof, c, up)
        self.spawn(copy_until_eof, up, c)


def statuses_until(relay, token, mode, want, seconds):
    """Handshakes with token until one is answered `want`; returns every
    status seen (the last one is want)."""
    seen = []
    deadline = time.monotonic() + scaled(seconds)
    while True:
        w = relay.ws(token, mode, client_token())
        seen.append(w.status)
        w.close()
        if w.status == want:
            return seen
        expect(time.monotonic() < deadline, "no HTTP %d within %.0f s: %r" %
               (want, scaled(seconds), seen))
        time.sleep(0.2)


def tunnel_a_to_b(t):
    """Nodes a and b; a tunnel opened through a's API with an echo service
    and both ends on b (their first handshakes may be answered 503 "retry"
    there), carrying bytes. Returns (cluster, a, b, j, echo, dest, src,
    src_port)."""
    cluster, a, b = two_nodes(t)
    j = a.open()
    echo = t.echo()
    dest = b.dest_proxy(j["destinationAccessToken"], echo.port, wait=False)
    src_port = free_port()
    src = b.source_proxy(j["sourceAccessToken"], src_port, wait=False)
    dest.wait_log(READY, scaled(15))
    src.wait_log(READY, scaled(15))
    through_retry(t, src_port, 4 * MiB, "connection through node b", within=10)
    # Let node a see what b stored before it acts on the tunnel.
    time.sleep(0.5)
    return cluster, a, b, j, echo, dest, src, src_port


def side_states(relay, tid):
    """(source, destination) connection status as relay's API describes them."""
    d = relay.describe(tid)
    return (d["sourceConnectionState"]["status"], d["destinationConnectionState"]["status"])


def states_until(relay, tid, want, seconds):
    """Describes tid on relay until its side states are want; returns them."""
    deadline = time.monotonic() + scaled(seconds)
    while True:
        got = side_states(relay, tid)
        if got == want or time.monotonic() >= deadline:
            return got
        time.sleep(0.1)


# ==========================================================================

@timeout(120)
def test_nodes_open_on_one_carry_and_close_on_other(t):
    cluster, a, b, j, echo, dest, src, src_port = tunnel_a_to_b(t)
    tid = j["tunnelId"]
    b.proc.wait_log(r"tunnel %s: opened on another relay node" % tid, scaled(5))
    b.proc.wait_log(r"tunnel %s: source connected" % tid, scaled(5))
    b.proc.wait_log(r"tunnel %s: destination connected" % tid, scaled(5))
    owner = cluster.psql("SELECT owner FROM tunnels WHERE id = '%s'" % tid, db=DB).strip()
    expect(owner == "node-b", "owner after both ends joined node b: %r" % owner)

    # Closed through a's API: b drops both proxies (1000: they exit 0).
    t0 = time.monotonic()
    a.delete(tid)
    rc_d, rc_s = dest.wait_exit(scaled(10)), src.wait_exit(scaled(10))
    t.note("both proxies on node b exited %.2f s after the close on node a" %
           (time.monotonic() - t0))
    expect(rc_d == 0 and rc_s == 0, "proxies after the close elsewhere: exit %s, %s" % (rc_d, rc_s))
    b.proc.wait_log(r"tunnel %s: closed on another relay node" % tid, scaled(5))
    b.proc.wait_log(r"tunnel %s: closing the source \(tunnel closed\)" % tid, scaled(5))
    expect(b.describe(tid)["status"] == "CLOSED", "node b lists the tunnel closed")
    w = b.ws(j["sourceAccessToken"], "source", client_token())
    expect_refused(w, 401, "source token of the tunnel closed on node a, on node b")


@timeout(120)
def test_nodes_describe_ends_on_the_other_node(t):
    cluster, a, b, j, echo, dest, src, src_port = tunnel_a_to_b(t)
    tid = j["tunnelId"]
    b.proc.wait_log(r"tunnel %s: destination connected" % tid, scaled(5))
    # Both ends on b: a's API answers from b's saved flags, as b does.
    both = ("CONNECTED", "CONNECTED")
    got = states_until(a, tid, both, 5)
    expect(got == both, "node a describes the ends on node b as %r" % (got,))
    expect(side_states(b, tid) == both, "node b describes its own ends")
    # The destination goes: b saves it, a says so within a few seconds.
    t0 = time.monotonic()
    dest.stop()
    got = states_until(a, tid, ("CONNECTED", "DISCONNECTED"), 5)
    t.note("node a saw the destination leave node b after %.2f s" % (time.monotonic() - t0))
    expect(got == ("CONNECTED", "DISCONNECTED"),
           "node a after the destination left node b: %r" % (got,))
    expect(side_states(b, tid) == ("CONNECTED", "DISCONNECTED"), "node b after its destination left")



@timeout(120)
def test_nodes_rotate_on_one_drops_old_side_on_other(t):
    cluster, a, b, j, echo, dest, src, src_port = tunnel_a_to_b(t)
    tid = j["tunnelId"]
    rot = a.rotate(tid, "DESTINATION")
    rc = dest.wait_exit(scaled(10))
    expect(rc == 0, "destination proxy on node b after a rotation on node a: exit %s" % rc)
    b.proc.wait_log(r"tunnel %s: destination access token rotated on another relay node" % tid,
                    scaled(5))
    time.sleep(0.5)
    src.expect_alive("source after the destination's rotation elsewhere")
    # The old token: 401 on b (maybe a 503 first, while b asks the database).
    seen = statuses_until(b, j["destinationAccessToken"], "destination", 401, 10)
    expect(set(seen) <= {401, 503}, "old destination token on node b: %r" % seen)
    dest2 = b.dest_proxy(rot["destinationAccessToken"], echo.port, name="dest2", wait=False)
    dest2.wait_log(READY, scaled(15))
    through_retry(t, src_port, 2 * MiB, "connection with the new destination on node b",
                  within=10)


@timeout(150)
def test_nodes_let_go_when_the_owner_moves(t):
    cluster, a, b = two_nodes(t)
    switch = Switch(t, a.port)
    echo = t.echo()
    j = a.open()
    tid = j["tunnelId"]
    ca = pki().ca
    dest = localproxy(t, "dest", ["-d", "127.0.0.1:%d" % echo.port], switch.port,
                      j["destinationAccessToken"], verbose=5, ca=ca)
    src_port = free_port()
    src = localproxy(t, "source", ["-s", str(src_port), "-b", "127.0.0.1"], switch.port,
                     j["sourceAccessToken"], ca=ca)
    dest.wait_log(READY, scaled(10))
    src.wait_log(READY, scaled(10))
    through(t, src_port, 1 * MiB, "connection with both ends on node a")
    a.proc.wait_log(r"tunnel %s: destination connected" % tid, scaled(5))

    # The balancer now sends this tunnel's new connections to node b; the
    # destination's connection stays on a. A new source (after a rotation)
    # lands on b: b becomes the owner, a lets go of the destination, whose
    # proxy reconnects (through the balancer: to b).
    switch.to_port = b.port
    mark_a, mark_b = a.proc.mark(), b.proc.mark()
    rot = a.rotate(tid, "SOURCE")
    expect(src.wait_exit(scaled(10)) == 0, "old source proxy after the rotation")
    src_port2 = free_port()
    src2 = localproxy(t, "source2", ["-s", str(src_port2), "-b", "127.0.0.1"], switch.port,
                      rot["sourceAccessToken"], ca=ca)
    src2.wait_log(READY, scaled(15))
    t0 = time.monotonic()
    a.proc.wait_log(r"INFO.*tunnel %s: its owner is now node node-b; letting go" % tid,
                    scaled(10), since=mark_a)
    dest.wait_log(r"1012", scaled(10))
    b.proc.wait_log(r"tunnel %s: destination connected .*reconnect" % tid, scaled(15),
                    since=mark_b)
    t.note("destination moved to node b %.2f s after node a let go" % (time.monotonic() - t0))
    through_retry(t, src_port2, 2 * MiB, "connection with both ends on node b", within=10)
    # Converged: nobody moves again.
    time.sleep(3)
    through(t, src_port2, 1 * MiB, "connection a while later")
    dest.expect_alive("destination proxy after moving")
    lets_go = a.proc.log_since(mark_a).count("letting go")
    expect(lets_go == 1, "node a let go %d times, expected once" % lets_go)
    expect("letting go" not in b.proc.log_since(mark_b), "node b let go too: the ends went back")
    owner = cluster.psql("SELECT owner FROM tunnels WHERE id = '%s'" % tid, db=DB).strip()
    expect(owner == "node-b", "owner after the move: %r" % owner)
    # a let go after taking b's row: its destination leaving saved nothing
    # over b's, so both nodes describe both ends connected.
    both = ("CONNECTED", "CONNECTED")
    got_a, got_b = states_until(a, tid, both, 5), side_states(b, tid)
    expect(got_a == both and got_b == both,
           "describe after the move: node a %r, node b %r" % (got_a, got_b))


def _token_hash_hex(token):
    return hashlib.sha256(token.encode()).hexdigest()


@timeout(120)
def test_nodes_unknown_token_looked_up_once(t):
    cluster, a, b = two_nodes(t)
    j = a.open()
    # A row written behind both nodes' backs (no notification): b knows it
    # only from its look-up, so the first handshake is answered 503 and a
    # later one admitted.
    tid2 = "00000000-0000-4000-8000-%012x" % secrets.randbits(48)
    tok_s, tok_d = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    t.secret(tok_s)
    t.secret(tok_d)
    cluster.psql("INSERT INTO tunnels (id, thing, description, services, lifetime_minutes,"
                 " created_at, expires_at, closed_at, source_token_hash, source_used,"
                 " destination_token_hash, destination_used, source_changed_at,"
                 " destination_changed_at) SELECT '%s', thing, description, services,"
                 " lifetime_minutes, created_at, expires_at, 0, '\\x%s'::bytea, 0,"
                 " '\\x%s'::bytea, 0, 0, 0 FROM tunnels WHERE id = '%s'"
                 % (tid2, _token_hash_hex(tok_s), _token_hash_hex(tok_d), j["tunnelId"]), db=DB)
    mark = b.proc.mark()
    w = b.ws(tok_d, "destination", client_token())
    expect_refused(w, 503, "first handshake with a token only the database knows")
    expect("not known on this node yet; retry" in w.body.decode(errors="replace"),
           "503's body: %r" % w.body)
    seen = statuses_until(b, tok_d, "destination", 101, 10)
    expect(set(seen) <= {101, 503}, "handshakes while node b looked the token up: %r" % seen)
    b.proc.wait_log(r"tunnel %s: opened on another relay node" % tid2, scaled(5), since=mark)

    # A bad token: 503 while asked, then 401 (the miss remembered: no query
    # per attempt, so one 503 only).
    bad = secrets.token_urlsafe(32)
    t.secret(bad)
    mark = b.proc.mark()
    t0 = time.monotonic()
    seen = statuses_until(b, bad, "source", 401, 10)
    expect(seen[0] == 503 and set(seen) <= {401, 503}, "bad token on node b: %r" % seen)
    for _ in range(8):
        w = b.ws(bad, "source", client_token())
        seen.append(w.status)
        w.close()
    took = time.monotonic() - t0
    expect(seen[-8:] == [401] * 8, "bad token again within the miss's 5 s: %r" % seen)
    looked_up = b.proc.log_since(mark).count("HTTP 503")
    if took < 4.5:
        expect(looked_up == 1, "%d 503s for one bad token in %.1f s: %r" % (looked_up, took, seen))
    # A localproxy with a bad token: retries the 503, then stops at the 401.
    bad2 = secrets.token_urlsafe(32)
    t.secret(bad2)
    p = localproxy(t, "bad-source", ["-s", str(free_port()), "-b", "127.0.0.1"], b.port, bad2,
                   ca=pki().ca)
    rc = p.wait_exit(scaled(15))
    expect(rc == 1, "localproxy with a bad token: exit %s, expected 1" % rc)
    expect(p.has_log(r"HTTP 401"), "localproxy stopped at the 401")
    # Still answering: the API and a good token.
    expect(b.describe(j["tunnelId"])["status"] == "OPEN", "node b's API after the bad tokens")
    w = b.ws(j["sourceAccessToken"], "source", client_token())
    expect(w.status == 101 or w.status == 503, "good token on node b: %s" % w.status)
    b.proc.expect_alive()


def _relay_mqtt(pkidir, port):
    return {"uri": "ssl://127.0.0.1:%d" % port, "ca": str(pkidir / "ca.pem"),
            "cert": str(pkidir / "relay-mqtt.pem"), "key": str(pkidir / "relay-mqtt.key")}


@timeout(300)
def test_nodes_send_a_dead_nodes_kept_notification(t):
    need_mosquitto()
    pkidir = make_mqtt_pki(t)
    broker = Broker(t, pkidir)
    gate = Gate(t, broker.port)  # both nodes reach the broker through it
    sub = Sub(t, broker, THING, [topic(THING)], "sub-01")
    cluster = Cluster(t)
    a, b = (pg_relay(t, cluster, name="relay-" + n, verbose=5,
                     extra_args=["--node-id", "node-" + n], mqtt=_relay_mqtt(pkidir, gate.port))
            for n in ("a", "b"))
    for node in (a, b):
        node.proc.wait_log(r"MQTT: connected to broker", scaled(15))
    marks = (a.proc.mark(), b.proc.mark())
    gate.close()
    for node, mark in zip((a, b), marks):
        node.proc.wait_log(r"MQTT: connection to broker .* lost", scaled(10), since=mark)

    # Node a keeps two notifications (x, y) it cannot send, then dies.
    x, y = a.open(), a.open()
    expect_pending(x, "open on node a with the broker unreachable")
    expect_pending(y, "second open on node a")
    t0 = time.monotonic()
    a.proc.kill()
    rows = cluster.psql("SELECT tunnel_id FROM pending_notifications ORDER BY 1", db=DB).split()
    expect(rows == sorted([x["tunnelId"], y["tunnelId"]]), "kept rows: %r" % rows)

    # Node b takes both over once they are 15 s old (at its next reading,
    # every 30 s), though the broker is still away.
    mark_b = b.proc.mark()
    for j in (x, y):
        b.proc.wait_log(r"tunnel %s: took over the notification kept for device %s" %
                        (j["tunnelId"], THING), scaled(50), since=mark_b)
    t.note("node b took both notifications over %.1f s after node a died" %
           (time.monotonic() - t0))
    n = b.describe(x["tunnelId"]).get("notification")
    expect(isinstance(n, dict) and n.get("pending") is True,
           "node b's GET of the taken-over notification: %r" % n)
    # Rotated on b: y's kept token is stale; the new one is what waits.
    rot = b.rotate(y["tunnelId"], "DESTINATION")
    expect_pending(rot, "rotate on node b with the broker unreachable")
    expect(sub.messages() == [], "the device got a message while the broker was unreachable")

    mark_b = b.proc.mark()
    gate.open()
    b.proc.wait_log(r"MQTT: connection to broker .* restored|MQTT: connected to broker",
                    scaled(45), since=mark_b)
    msgs = sub.wait_count(2, scaled(15), "the taken-over and the rotated notifications")
    t.note("delivered %.1f s after node a died" % (time.monotonic() - t0))
    time.sleep(3.0)
    got = [(m.get("tunnelId"), m.get("clientAccessToken")) for _, m in sub.messages()
           if isinstance(m, dict)]
    want = [(x["tunnelId"], x["destinationAccessToken"]),
            (y["tunnelId"], rot["destinationAccessToken"])]
    expect(sorted(got) == sorted(want) and len(sub.messages()) == 2,
           "device got %d message(s); expected x's token and y's rotated token once each "
           "(y's old token sent: %s)" %
           (len(sub.messages()), any(tok == y["destinationAccessToken"] for _, tok in got)))
    wait_until(lambda: cluster.psql("SELECT count(*) FROM pending_notifications",
                                    db=DB).strip() == "0", scaled(10),
               "the kept rows (and their tokens) deleted once sent")


@timeout(300)
def test_nodes_send_a_kept_notification_once(t):
    """Node a is alive but only its own path to the broker is cut: node b
    takes a's kept notification over and sends it; when a's broker comes
    back, a's take of it loses and the device gets it once, not twice."""
    need_mosquitto()
    pkidir = make_mqtt_pki(t)
    broker = Broker(t, pkidir)
    gates = {n: Gate(t, broker.port) for n in ("a", "b")}  # each node's own path
    sub = Sub(t, broker, THING, [topic(THING)], "sub-01")
    cluster = Cluster(t)
    a, b = (pg_relay(t, cluster, name="relay-" + n, verbose=5,
                     extra_args=["--node-id", "node-" + n],
                     mqtt=_relay_mqtt(pkidir, gates[n].port))
            for n in ("a", "b"))
    for node in (a, b):
        node.proc.wait_log(r"MQTT: connected to broker", scaled(15))
    mark_a = a.proc.mark()
    gates["a"].close()
    a.proc.wait_log(r"MQTT: connection to broker .* lost", scaled(10), since=mark_a)

    mark_b = b.proc.mark()
    x = a.open()
    expect_pending(x, "open on node a with its broker path cut")
    t0 = time.monotonic()
    tid = x["tunnelId"]
    # Node b (its broker connected) takes the row once it is 15 s old, at
    # its next reading (every 30 s), and sends it.
    b.proc.wait_log(r"tunnel %s: took its waiting notification in the database" % tid,
                    scaled(50), since=mark_b)
    msgs = sub.wait_count(1, scaled(15), "node b's send of node a's kept notification")
    took = time.monotonic() - t0
    t.note("node b sent node a's kept notification %.1f s after it was kept" % took)
    expect(took >= 14, "taken over after %.1f s: before the 15 s rule" % took)
    wait_until(lambda: cluster.psql("SELECT count(*) FROM pending_notifications",
                                    db=DB).strip() == "0", scaled(10),
               "the row deleted once node b sent it")

    # Node a's broker comes back: its take loses, nothing is sent again.
    mark_a = a.proc.mark()
    gates["a"].open()
    a.proc.wait_log(r"MQTT: connection to broker .* restored|MQTT: connected to broker",
                    scaled(45), since=mark_a)
    a.proc.wait_log(r"tunnel %s: leaving its waiting notification: another node took it over"
                    % tid, scaled(10), since=mark_a)
    time.sleep(4.0)
    msgs = sub.messages()
    got = [m.get("clientAccessToken") for _, m in msgs if isinstance(m, dict)]
    expect(len(msgs) == 1 and got == [x["destinationAccessToken"]],
           "device got %d message(s); expected node a's notification once" % len(msgs))
    n = a.describe(tid).get("notification")
    expect(not (isinstance(n, dict) and n.get("pending")),
           "node a still shows the notification pending: %r" % n)
    for node in (a, b):
        node.proc.expect_alive()
