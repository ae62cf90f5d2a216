"""The real thing on loopback (issue 15, docs/scaling.md): a throwaway
PostgreSQL cluster, three tunnel-relay nodes on it (--node-id,
--proxy-protocol), HAProxy 2.6 in front rendered from
packaging/haproxy/haproxy.cfg, and two mosquitto brokers bridged by
packaging/mosquitto/bridge.conf: the relay nodes on one, four devices'
tunnel-agents on the other.

100 tunnels are opened round robin through the three nodes' APIs, spread over
the four things; the agents start the destinations, the test starts the
sources, all through HAProxy; each carries bytes intact. Then, with traffic
flowing, one node is killed (SIGKILL): every tunnel carries a new connection
again (the time is the figure docs/scaling.md gives), the traffic through
the other nodes goes on untouched, the API keeps answering through HAProxy,
and exactly the 100 tunnels are open. The node comes back; some tunnels that
moved away from it have their source restarted (same client token), which
brings that end back to it, its owner, and the other end follows (the old
node lets go): they still meet. Last, PostgreSQL is stopped: the API answers
503, paired tunnels carry bytes; started again, a new tunnel opens and
carries bytes.

Plain build only (@plain_build_only): some 210 processes at once. Skips when
PostgreSQL 15, HAProxy or mosquitto is not installed (make deps installs
them). The figures go to the output (t.note) and to cluster-figures.txt in
the temp dir (E2E_KEEP=1 keeps it).
"""

import http.client
import json
import os
import random
import re
import secrets
import socket
import ssl
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from harness import (ROOT, binary, child_env, connect, expect, fail, free_port, localproxy, pki,
                     plain_build_only, pump, scaled, timeout, wait_port, wait_until)
from test_api import ApiRelay, client_token
from test_mqtt import Broker, make_mqtt_pki, need_mosquitto
from test_pg_store import DB, Cluster
from test_proxy_protocol import need_haproxy

HAPROXY_TEMPLATE = ROOT / "packaging" / "haproxy" / "haproxy.cfg"
BRIDGE_TEMPLATE = ROOT / "packaging" / "mosquitto" / "bridge.conf"
PLAIN_ONLY = ("about 210 processes (three relays, 200 localproxies, HAProxy, two brokers, "
              "PostgreSQL); the relay's cluster paths run under SAN in test_relay_nodes")

THINGS = ["cluster-%d" % i for i in range(4)]
N_TUNNELS = 100
N_NODES = 3
PROBE_BYTES = 64 * 1024
SUBSCRIBED_RX = r"subscribed to \$aws/things/%s/tunnels/notify \(QoS 1\)"


# --------------------------------------------------------------------------
# rendering the shipped configurations for loopback
# --------------------------------------------------------------------------

def render(template, replace, what):
    """template's lines with those whose first word is a key of `replace`
    replaced by replace[word] (a string, or a function of the line). Every
    key must occur: the test runs the shipped file's shape or fails."""
    out, seen = [], set()
    for ln in template.read_text().splitlines():
        words = ln.split()
        key = words[0] if words and not words[0].startswith("#") else None
        if key in replace:
            seen.add(key)
            r = replace[key]
            out.append(r(ln) if callable(r) else r)
        else:
            out.append(ln)
    missing = set(replace) - seen
    expect(not missing, "%s has no %s line" % (what, ", ".join(sorted(missing))))
    return out


def bridge_conf(mqtt_pki, device_port):
    d = mqtt_pki
    return render(BRIDGE_TEMPLATE, {
        "address": "address 127.0.0.1:%d" % device_port,
        "bridge_cafile": "bridge_cafile %s" % (d / "ca.pem"),
        "bridge_certfile": "bridge_certfile %s" % (d / "relay-mqtt.pem"),
        "bridge_keyfile": "bridge_keyfile %s" % (d / "relay-mqtt.key"),
    }, "packaging/mosquitto/bridge.conf")


def haproxy_conf(t, front_port, node_ports):
    """packaging/haproxy/haproxy.cfg on loopback: our ports, certificate
    files, and the development certificates' host name."""
    p = pki()
    crt = t.tmp / "haproxy.pem"
    crt.write_text(open(p.cert).read() + open(p.key).read())
    crt.chmod(0o600)
    lines = render(HAPROXY_TEMPLATE, {
        # HAProxy's log to the test's log file; fewer descriptors than a
        # production host has.
        "log": lambda ln: ln.replace("/dev/log local0", "stderr format raw local0 info"),
        "maxconn": "    maxconn 2000",
        "bind": lambda ln: re.sub(r"bind \S+ ssl crt \S+",
                                  "bind 127.0.0.1:%d ssl crt %s" % (front_port, crt), ln),
        "default-server": lambda ln: ln.replace("/etc/haproxy/tunnel-ca.pem", p.ca)
                                       .replace("verifyhost relay.internal", "verifyhost localhost"),
        "server": None,  # the template's example servers: ours instead
    }, "packaging/haproxy/haproxy.cfg")
    out = [ln for ln in lines if ln is not None]
    out += ["    server node%d 127.0.0.1:%d" % (i + 1, port) for i, port in enumerate(node_ports)]
    text = "\n".join(out) + "\n"
    for must in ("balance hash req.hdr(access-token),field(1,.)", "hash-type consistent",
                 "timeout tunnel", "send-proxy-v2", "check-ssl", "check-send-proxy",
                 "uri /metrics",
                 "ssl verify required ca-file %s" % p.ca):
        expect(must in text, "the rendered haproxy.cfg lacks %r" % must)
    cfg = t.tmp / "haproxy.cfg"
    cfg.write_text(text)
    r = subprocess.run(["haproxy", "-c", "-f", str(cfg)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=scaled(30))
    expect(r.returncode == 0, "haproxy -c -f %s: %s" % (cfg, r.stdout.decode(errors="replace")))
    return cfg


# --------------------------------------------------------------------------
# HTTPS to one node (a PROXY header first) or through HAProxy
# --------------------------------------------------------------------------

class NodeConnection(http.client.HTTPSConnection):
    """HTTPS straight to a node started with --proxy-protocol: a PROXY v1
    header naming this socket, then TLS, as HAProxy would."""

    def connect(self):
        http.client.HTTPConnection.connect(self)
        sport = self.sock.getsockname()[1]
        self.sock.sendall(b"PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n" % (sport, self.port))
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


class Api:
    """Requests with the API key, on a kept connection (reopened when it
    fails, since a node or HAProxy may drop it)."""

    def __init__(self, t, port, key, proxied):
        self.t, self.port, self.key, self.proxied = t, port, key, proxied
        self.ctx = ssl.create_default_context(cafile=pki().ca)
        self.conn = None

    def _connection(self):
        cls = NodeConnection if self.proxied else http.client.HTTPSConnection
        return cls("127.0.0.1", self.port, context=self.ctx, timeout=scaled(10))

    def request(self, method, path, body=None, fresh=False):
        """(status, parsed JSON or text); status 0: no answer."""
        if fresh or self.conn is None:
            self.close()
            self.conn = self._connection()
        hdr = {"Authorization": "Bearer %s" % self.key}
        data = None
        if body is not None:
            data = json.dumps(body)
            hdr["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, data, hdr)
            r = self.conn.getresponse()
            raw = r.read().decode(errors="replace")
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return 0, repr(e)
        try:
            j = json.loads(raw)
        except ValueError:
            return r.status, raw
        for k in ("sourceAccessToken", "destinationAccessToken"):
            if isinstance(j, dict) and isinstance(j.get(k), str):
                self.t.secret(j[k])
        return r.status, j

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def open_body(thing):
    return {"destinationConfig": {"thingName": thing, "services": ["SSH"]}}


# --------------------------------------------------------------------------
# the rig
# --------------------------------------------------------------------------

def source_port():
    """A free port below the kernel's ephemeral range: some 400 connections
    come and go here, and a port from free_port() (an ephemeral one) may be
    taken as a connection's local port before its localproxy listens."""
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(10000, max(low, 10001))
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        if port not in SOURCE_PORTS:
            SOURCE_PORTS.add(port)
            return port
    fail("no free port below %d" % low)


SOURCE_PORTS = set()


class Tun:
    """One tunnel as the test sees it: its tokens, the source's local port,
    client token and localproxy."""

    def __init__(self, j, thing, opened_on):
        self.id = j["tunnelId"]
        self.thing = thing
        self.opened_on = opened_on
        self.source_token = j["sourceAccessToken"]
        self.src_port = source_port()
        self.client_token = client_token()
        self.source = None


class Rig:
    def __init__(self, t):
        need_haproxy()
        need_mosquitto()
        self.t = t
        self.db = Cluster(t)
        d = make_mqtt_pki(t, THINGS)
        self.mqtt_pki = d
        # The devices' broker, then the relays' broker bridged to it.
        self.device_broker = Broker(t, d, name="device-broker")
        mark = self.device_broker.mark()
        self.relay_broker = Broker(t, d, name="relay-broker",
                                   extra_conf=bridge_conf(d, self.device_broker.port))
        self.device_broker.wait_log("as tunnel-bridge", scaled(15), since=mark,
                                    what="the bridge connecting to the device broker")
        self.key = secrets.token_urlsafe(24)
        t.secret(self.key)
        self.front_port = free_port()
        self.nodes = [self._node(i) for i in range(N_NODES)]
        cfg = haproxy_conf(t, self.front_port, [n.port for n in self.nodes])
        self.haproxy = t.spawn("haproxy", ["haproxy", "-db", "-f", cfg],
                               env=child_env(home=t.tmp), check_exit=False)
        wait_port(self.front_port, scaled(10))
        self.front = Api(t, self.front_port, self.key, proxied=False)
        self.node_api = [Api(t, n.port, self.key, proxied=True) for n in self.nodes]
        self.echo = t.echo()
        self.agents = [self._agent(thing) for thing in THINGS]

    def _node(self, i):
        d = self.mqtt_pki
        node = ApiRelay(t=self.t, api_key=self.key, db=self.db.uri, name="node%d" % (i + 1),
                        public_endpoint="127.0.0.1:%d" % self.front_port,
                        mqtt={"uri": "ssl://127.0.0.1:%d" % self.relay_broker.port,
                              "ca": str(d / "ca.pem"), "cert": str(d / "relay-mqtt.pem"),
                              "key": str(d / "relay-mqtt.key")},
                        extra_args=["--node-id", "node%d" % (i + 1), "--proxy-protocol"])
        node.proc.wait_log(r"MQTT: connected to broker", scaled(15), what="node%d's MQTT" % (i + 1))
        return node

    def restart_node(self, i):
        node = self.nodes[i]
        mark = self.haproxy.mark()
        node.start()
        node.proc.wait_log(r"MQTT: connected to broker", scaled(15))
        self.haproxy_wait_up(i, mark)

    def haproxy_wait_up(self, i, mark):
        self.haproxy.wait_log(r"Server relay_nodes/node%d is UP" % (i + 1), scaled(15), since=mark,
                              what="HAProxy's check finding node%d up" % (i + 1))

    def _agent(self, thing):
        d = self.mqtt_pki
        cfg = {
            "thingName": thing,
            "broker": {"uri": "ssl://127.0.0.1:%d" % self.device_broker.port,
                       "ca": str(d / "ca.pem"), "cert": str(d / ("device-%s.pem" % thing)),
                       "key": str(d / ("device-%s.key" % thing)), "keepAliveSeconds": 5},
            "relay": {"endpoint": "127.0.0.1:%d" % self.front_port, "ca": pki().ca},
            "localproxy": binary("localproxy"),
            "services": {"SSH": "127.0.0.1:%d" % self.echo.port},
            "maxTunnels": 32,
            "logLevel": 4,
        }
        path = self.t.tmp / ("agent-%s.json" % thing)
        path.write_text(json.dumps(cfg, indent=1) + "\n")
        p = self.t.spawn("agent-%s" % thing, [binary("tunnel-agent"), "-c", str(path)])
        p.wait_log(SUBSCRIBED_RX % re.escape(thing), scaled(15), what="%s's subscription" % thing)
        return p

    # ---- tunnels ----------------------------------------------------------
    def start_source(self, tun):
        tun.source = localproxy(self.t, "src-%s" % tun.id[:8],
                                ["-s", str(tun.src_port), "-b", "127.0.0.1"], self.front_port,
                                tun.source_token, env_extra={
                                    "AWSIOT_TUNNEL_CLIENT_TOKEN": tun.client_token})
        self.t.secret(tun.client_token)

    def owners(self):
        """{tunnel id: owner node} of the open tunnels, from the database."""
        rows = self.db.psql("SELECT id, owner FROM tunnels WHERE closed_at = 0", db=DB)
        return dict(ln.split("|", 1) for ln in rows.splitlines() if ln)

    def peers_connected(self, nodes):
        """{node name: tunnel_relay_peers_connected} from each node's /metrics."""
        out = {}
        for i in nodes:
            status, text = self.node_api[i].request("GET", "/metrics", fresh=True)
            expect(status == 200, "GET /metrics on node%d: %s" % (i + 1, status))
            m = re.search(r"^tunnel_relay_peers_connected (\d+)$", text, re.M)
            expect(m, "no tunnel_relay_peers_connected in node%d's /metrics" % (i + 1))
            out["node%d" % (i + 1)] = int(m.group(1))
        return out

    def open_ids(self):
        """Tunnel ids the API lists as OPEN, through HAProxy."""
        status, j = self.front.request("GET", "/api/v1/tunnels")
        expect(status == 200, "GET /api/v1/tunnels through HAProxy: %s %r" % (status, j))
        return [s["tunnelId"] for s in j["tunnelSummaries"] if s["status"] == "OPEN"]


def echo_once(port, nbytes, within):
    """A new connection through the tunnel whose source listens on port,
    echoing nbytes intact; False when it did not (yet)."""
    try:
        s = connect(port, min(within, 5.0))
    except OSError:
        return False
    try:
        sent, got, n = pump(s, nbytes, timeout=within, stall=min(within, 3.0))
        return n == nbytes and sent == got
    finally:
        s.close()


def wait_carrying(tun, since, seconds):
    """Retries echo_once until the tunnel carries a new connection; the
    seconds from `since` to that moment."""
    deadline = time.monotonic() + scaled(seconds)
    while True:
        if echo_once(tun.src_port, PROBE_BYTES, scaled(10)):
            return time.monotonic() - since
        if time.monotonic() > deadline:
            fail("tunnel %s (source pid %d) carried no connection within %.0f s" %
                 (tun.id, tun.source.pid, scaled(seconds)))
        time.sleep(0.2)


def all_carrying(tuns, since, seconds):
    """wait_carrying for every tunnel at once; {tunnel id: seconds}."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        times = list(pool.map(lambda tun: wait_carrying(tun, since, seconds), tuns))
    return {tun.id: dt for tun, dt in zip(tuns, times)}


class Stream(threading.Thread):
    """Traffic through one tunnel until stopped: 16 KiB out, the same 16
    KiB back, compared, again. `error` says what broke it, `bytes` how much
    came back intact."""

    def __init__(self, tun):
        super().__init__(daemon=True)
        self.tun = tun
        self.stop = threading.Event()
        self.bytes = 0
        self.error = None
        self.sock = connect(tun.src_port, scaled(5))

    def run(self):
        s = self.sock
        try:
            s.settimeout(scaled(10))
            while not self.stop.is_set():
                b = os.urandom(16384)
                s.sendall(b)
                got = b""
                while len(got) < len(b):
                    chunk = s.recv(len(b) - len(got))
                    if not chunk:
                        raise ConnectionError("EOF")
                    got += chunk
                if got != b:
                    self.error = "bytes came back changed"
                    return
                self.bytes += len(b)
        except OSError as e:
            self.error = repr(e)
        finally:
            s.close()


# ==========================================================================

@plain_build_only(PLAIN_ONLY)
@timeout(200)
def test_cluster_three_nodes_behind_haproxy(t):
    figures = []

    def note(msg):
        figures.append(msg)
        t.note(msg)

    t0 = time.monotonic()
    rig = Rig(t)
    note("rig up in %.1f s (PostgreSQL, 2 bridged brokers, %d nodes, HAProxy, %d agents)"
         % (time.monotonic() - t0, N_NODES, len(THINGS)))

    # Presence crosses the bridge devices -> relays.
    def online():
        status, j = rig.front.request("GET", "/api/v1/things/%s" % THINGS[-1])
        return status == 200 and j.get("state") == "online"
    wait_until(online, scaled(10), "the relays seeing %s online (presence over the bridge)"
               % THINGS[-1], interval=0.2)

    # Requests without an access-token header (the API) go round robin.
    mark = rig.haproxy.mark()
    for _ in range(4 * N_NODES):
        status, j = rig.front.request("GET", "/api/v1/tunnels", fresh=True)
        expect(status == 200, "GET /api/v1/tunnels through HAProxy: %s %r" % (status, j))
    served = set(re.findall(r"relay_nodes/(node\d+) .*\"GET /api/v1/tunnels",
                            rig.haproxy.log_since(mark)))
    expect(len(served) == N_NODES, "API requests through HAProxy reached only %r" % served)

    # 100 tunnels, round robin over the nodes' own APIs; notifications cross
    # the bridge relays -> devices.
    tuns = []
    t1 = time.monotonic()
    for i in range(N_TUNNELS):
        thing = THINGS[i % len(THINGS)]
        status, j = rig.node_api[i % N_NODES].request("POST", "/api/v1/tunnels", open_body(thing))
        expect(status == 201, "open %d on node%d: %s %r" % (i, i % N_NODES + 1, status, j))
        expect(j.get("notification", {}).get("delivered") is True,
               "open %d: notification not delivered: %r" % (i, j.get("notification")))
        tuns.append(Tun(j, thing, i % N_NODES))
    note("%d tunnels opened round robin over %d nodes in %.1f s"
         % (N_TUNNELS, N_NODES, time.monotonic() - t1))
    for tun in tuns:
        rig.start_source(tun)
    t2 = time.monotonic()
    first = all_carrying(tuns, t2, 60)
    note("every tunnel carrying bytes %.1f s after the sources started (agents' destinations "
         "over the bridge, all through HAProxy)" % max(first.values()))
    ids = [tun.id for tun in tuns]
    expect(sorted(rig.open_ids()) == sorted(ids), "the API lists the 100 tunnels open")

    # Both ends of each tunnel met on one node: its owner.
    owners = rig.owners()
    expect(set(owners) == set(ids), "owners: %d rows for %d tunnels" % (len(owners), len(ids)))
    per_node = {"node%d" % (i + 1): [tid for tid in ids if owners[tid] == "node%d" % (i + 1)]
                for i in range(N_NODES)}
    expect(sum(len(v) for v in per_node.values()) == N_TUNNELS,
           "owners not among the nodes: %r" % set(owners.values()))
    note("tunnels per node (HAProxy's hash of the routing key): %s"
         % ", ".join("%s %d" % (k, len(v)) for k, v in sorted(per_node.items())))
    victim = max(range(N_NODES), key=lambda i: len(per_node["node%d" % (i + 1)]))
    victim_name = "node%d" % (victim + 1)
    moved = set(per_node[victim_name])
    expect(moved, "no tunnel on the node to kill")

    # Traffic through up to 8 tunnels per node while the node dies.
    by_id = {tun.id: tun for tun in tuns}
    streams = [Stream(by_id[tid]) for tids in per_node.values() for tid in tids[:8]]
    for s in streams:
        s.start()
    time.sleep(1.0)
    api_log = []
    api_stop = threading.Event()

    def poll_api():
        poller = Api(t, rig.front_port, rig.key, proxied=False)
        while not api_stop.is_set():
            status, j = poller.request("GET", "/api/v1/tunnels", fresh=True)
            api_log.append((time.monotonic(), status))
            time.sleep(0.25)
        poller.close()
    poller = threading.Thread(target=poll_api, daemon=True)
    poller.start()

    killed_at = time.monotonic()
    rig.nodes[victim].proc.kill()
    recovery = all_carrying(tuns, killed_at, 60)
    back = max(recovery.values())
    moved_times = sorted(recovery[tid] for tid in moved)
    note("SIGKILL %s (%d tunnels): every tunnel carrying a new connection again %.1f s after "
         "the kill (its tunnels: median %.1f s, max %.1f s)"
         % (victim_name, len(moved), back, statistics.median(moved_times), moved_times[-1]))
    time.sleep(1.0)
    for s in streams:
        s.stop.set()
    for s in streams:
        s.join(scaled(15))
    api_stop.set()
    poller.join(scaled(15))
    on_others = [s for s in streams if s.tun.id not in moved]
    broken = ["%s: %s" % (s.tun.id, s.error) for s in on_others if s.error]
    expect(not broken, "traffic through the surviving nodes was cut: %s" % "; ".join(broken))
    expect(all(s.bytes > 0 for s in on_others), "a stream on a surviving node moved no bytes")
    cut = sum(1 for s in streams if s.tun.id in moved and s.error)
    note("traffic during the kill: %d streams through the surviving nodes went on intact "
         "(%.1f MiB), %d of %d through %s were cut (their TCP connections end with the node)"
         % (len(on_others), sum(s.bytes for s in on_others) / 1048576.0, cut,
            len(streams) - len(on_others), victim_name))
    bad = [(round(at - killed_at, 1), status) for at, status in api_log if status != 200]
    expect(len(api_log) >= 4 and not bad,
           "the API through HAProxy while a node died: %d requests, failed: %r" % (len(api_log), bad))
    note("the API through HAProxy answered all %d requests made during the recovery"
         % len(api_log))
    listed = rig.open_ids()
    expect(len(listed) == N_TUNNELS and sorted(listed) == sorted(ids),
           "after the kill the API lists %d open tunnels (%d distinct), expected the %d"
           % (len(listed), len(set(listed)), N_TUNNELS))
    owners = rig.owners()
    expect(set(owners) == set(ids) and victim_name not in owners.values(),
           "owners after the kill: %r" % sorted(set(owners.values())))
    # Each end on exactly one node: 200 sides over the two nodes left.
    survivors = [i for i in range(N_NODES) if i != victim]
    wait_until(lambda: sum(rig.peers_connected(survivors).values()) == 2 * N_TUNNELS,
               scaled(10), "the surviving nodes to hold the 200 tunnel ends", interval=0.5)

    # The node comes back: HAProxy's ring gives it its keys again. A few of
    # its old tunnels get their source restarted (same token, same client
    # token): that end lands on the node, which claims the tunnel; the
    # node holding the destination lets go and it follows.
    t3 = time.monotonic()
    rig.restart_node(victim)
    note("%s back and in HAProxy's ring %.1f s after its start" % (victim_name,
                                                                 time.monotonic() - t3))
    rejoin = []
    for tid in sorted(moved)[:6]:
        tun = by_id[tid]
        tun.source.kill()
        t4 = time.monotonic()
        rig.start_source(tun)
        rejoin.append(wait_carrying(tun, t4, 30))
        wait_until(lambda: rig.owners().get(tid) == victim_name, scaled(10),
                   "tunnel %s owned by %s again" % (tid, victim_name), interval=0.2)
        # The destination came because the node holding it let go.
        let_go = r"tunnel %s: its owner is now node %s; letting go" % (tid, victim_name)
        expect(any(rig.nodes[i].proc.has_log(let_go) for i in survivors),
               "no node let go of tunnel %s's destination" % tid)
    note("%d tunnels whose source was restarted met again on %s within %.1f s each (max)"
         % (len(rejoin), victim_name, max(rejoin)))
    for tun in tuns[:10]:
        wait_carrying(tun, time.monotonic(), 20)
    expect(len(rig.open_ids()) == N_TUNNELS, "100 tunnels open after the node came back")
    wait_until(lambda: sum(rig.peers_connected(range(N_NODES)).values()) == 2 * N_TUNNELS,
               scaled(10), "the three nodes to hold the 200 tunnel ends", interval=0.5)
    note("tunnel ends per node after the node came back: %s" % ", ".join(
        "%s %d" % kv for kv in sorted(rig.peers_connected(range(N_NODES)).items())))

    # PostgreSQL stopped: no new tunnel (503), paired ones go on.
    rig.db.stop()
    t5 = time.monotonic()
    status, j = rig.front.request("POST", "/api/v1/tunnels", open_body(THINGS[0]), fresh=True)
    expect(status == 503, "open through HAProxy while PostgreSQL is down: %s %r" % (status, j))
    sample = tuns[::10]
    for tun in sample:
        wait_carrying(tun, t5, 20)
    note("PostgreSQL stopped: the API answers 503, %d tunnels sampled carried new connections"
         % len(sample))
    rig.db.start()
    t6 = time.monotonic()
    opened = {}

    def opens():
        status, j = rig.front.request("POST", "/api/v1/tunnels", open_body(THINGS[1]), fresh=True)
        if status == 201:
            opened["j"] = j
            return True
        expect(status == 503, "open while PostgreSQL comes back: %s %r" % (status, j))
        return False
    wait_until(opens, scaled(40), "an open through HAProxy once PostgreSQL is back", interval=0.5)
    note("PostgreSQL started again: a tunnel opened %.1f s later" % (time.monotonic() - t6))
    late = Tun(opened["j"], THINGS[1], None)
    rig.start_source(late)
    wait_carrying(late, time.monotonic(), 30)
    want = set(ids) | {late.id}
    wait_until(lambda: set(rig.open_ids()) == want, scaled(10),
               "the API to list the 101 tunnels open at the end", interval=0.5)
    note("the whole scenario took %.1f s" % (time.monotonic() - t0))
    (t.tmp / "cluster-figures.txt").write_text("\n".join(figures) + "\n")
