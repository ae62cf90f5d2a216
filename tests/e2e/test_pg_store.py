"""tunnel-relay on PostgreSQL (--db postgresql://...), against a throwaway
cluster each test makes with initdb in its temp dir (as the postgres user:
initdb refuses root): tunnels survive a restart, presence and host keys
load, a stopped database answers 503 while paired tunnels go on, the relay
reconnects, two relays on one database cannot both close a tunnel, a relay
with a stale copy of a tunnel cannot overwrite another's newer write
(schema v5's rev), a node that starts again clears the connected flags it
left (the other node stops showing those ends connected), a version 4 database is migrated in place, the store's
several-node calls work against a real server (test_store_pg_calls runs
the unit binary tests/unit/relay/test_store_pg.c on a cluster of its own),
and no access token reaches the database. test_pg_admission_rate measures tunnels
opened and handshakes admitted per second, PostgreSQL against SQLite
(docs/architecture.md, "The store").

Skips when PostgreSQL 15's server is not installed (make deps installs it).
"""

import http.client
import json
import os
import pwd
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import hashlib

import wsprobe
from harness import (BIN_DIR, MiB, child_env, expect, expect_echo, free_port, pki, scaled, skip,
                     timeout, wait_port, wait_until)
from test_api import THING, ApiRelay, check_restart_keeps_tunnels, through, tunnel_with_proxies

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DB = "tunnels"
ROLE = "relay"


class Cluster:
    """A PostgreSQL server of our own on a random loopback port, with a
    role and a database for the relay (password in the relays' ~/.pgpass,
    never in their argv)."""

    def __init__(self, t):
        if not (PG_BIN / "initdb").exists() or not (PG_BIN / "postgres").exists():
            skip("PostgreSQL 15 is not installed (%s); make deps installs it" % PG_BIN)
        try:
            self.user = pwd.getpwnam("postgres")
        except KeyError:
            skip("no postgres user to run the server as")
        self.t = t
        # Outside t.tmp, which only root may enter.
        self.dir = Path(tempfile.mkdtemp(prefix="e2e-pg-"))
        t.defer(shutil.rmtree, self.dir, True)
        os.chmod(self.dir, 0o700)
        os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self.data = self.dir / "data"
        self.sock = self.dir
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        t.secret(self.password)
        self._as_postgres([PG_BIN / "initdb", "-D", self.data, "-U", "postgres",
                           "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                           "--no-sync"], "initdb")
        self.proc = None
        self.start()
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (ROLE, self.password))
        self.psql("CREATE DATABASE %s OWNER %s" % (DB, ROLE))
        pgpass = t.tmp / ".pgpass"  # the relays' HOME is t.tmp
        fd = os.open(str(pgpass), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("127.0.0.1:%d:%s:%s:%s\n" % (self.port, DB, ROLE, self.password))
        self.uri = "postgresql://%s@127.0.0.1:%d/%s" % (ROLE, self.port, DB)

    def _as_postgres(self, argv, what):
        r = subprocess.run(self.prefix() + [str(a) for a in argv], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=scaled(60),
                           cwd=self.dir)
        expect(r.returncode == 0, "%s: exit %d: %s" % (what, r.returncode,
                                                      r.stdout.decode(errors="replace")[-800:]))
        return r.stdout.decode(errors="replace")

    def prefix(self):
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]

    def start(self):
        self.proc = self.t.spawn("postgres", self.prefix() + [
            PG_BIN / "postgres", "-D", self.data, "-p", self.port, "-k", self.sock,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"], check_exit=False, cwd=self.dir)
        # Before the harness's SIGTERM (a smart shutdown, which waits for
        # the relays' connections): defers run last-in first-out.
        self.t.defer(self._fast_stop, self.proc)
        wait_until(lambda: (self.sock / (".s.PGSQL.%d" % self.port)).exists(), scaled(30),
                   "PostgreSQL to listen")
        wait_port(self.port, scaled(10))

    def _fast_stop(self, proc):
        if proc.alive():
            proc.expected_exit = True
            proc.popen.send_signal(signal.SIGINT)
            proc.wait_exit(scaled(30))

    def stop(self):
        """Fast shutdown (SIGINT): clients are disconnected at once."""
        expect(self.proc.alive(), "PostgreSQL is not running")
        self._fast_stop(self.proc)

    def psql(self, sql, db="postgres"):
        """Runs sql as the superuser over the socket; returns the rows as
        text (unaligned, tuples only)."""
        return self._as_postgres(["psql", "-X", "-q", "-At", "-h", self.sock, "-p", self.port,
                                  "-d", db, "-v", "ON_ERROR_STOP=1", "-c", sql], "psql")


def pg_relay(t, cluster, name="relay", **kw):
    relay = ApiRelay(t, db=cluster.uri, name=name, **kw)
    relay.proc.wait_log(r"store: PostgreSQL postgresql://relay@127\.0\.0\.1:%d/tunnels"
                        % cluster.port, scaled(5))
    return relay


def expect_no_tokens_in_db(cluster, tokens):
    dump = "\n".join(cluster.psql("SELECT * FROM %s" % table, db=DB)
                     for table in ("tunnels", "things", "host_keys", "pending_notifications"))
    for tok in tokens:
        expect(tok not in dump, "an access token is in the database")


# ==========================================================================

@timeout(90)
def test_pg_restart_keeps_tunnels(t):
    cluster = Cluster(t)
    relay = pg_relay(t, cluster, verbose=5)
    version = cluster.psql("SELECT version FROM schema_version", db=DB)
    expect(version.strip() == "5", "schema_version after the first start: %r" % version)

    def other_node_writes():
        # A presence and a host key written by another node (or before):
        # loaded at start.
        cluster.psql("INSERT INTO things VALUES ('pg-thing', 'online', 1700000000, '[\"SSH\"]',"
                     " '1.2.3', 1699999000, 7)", db=DB)
        cluster.psql("INSERT INTO host_keys VALUES ('pg-thing', 'SHA256:"
                     "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG', 1700000000)", db=DB)
    j, unused, closed = check_restart_keeps_tunnels(t, relay, other_node_writes)
    thing = relay.call("GET", "/api/v1/things/pg-thing")
    expect(thing.get("state") == "online" and thing.get("agentVersion") == "1.2.3" and
           thing.get("maxTunnels") == 7, "presence loaded from PostgreSQL: %r" % thing)
    expect(not relay.proc.has_log(r"cannot (save|load|read)"), "store errors in the log")
    expect_no_tokens_in_db(cluster, [j["sourceAccessToken"], j["destinationAccessToken"],
                                     unused["sourceAccessToken"], unused["destinationAccessToken"]])
    rows = cluster.psql("SELECT length(source_token_hash), length(destination_token_hash)"
                        " FROM tunnels", db=DB).split()
    expect(rows and all(r == "32|32" for r in rows), "token hashes: %r" % rows)


@timeout(120)
def test_pg_outage_503_and_reconnect(t):
    cluster = Cluster(t)
    relay = pg_relay(t, cluster)
    j, echo, dest, src, src_port = tunnel_with_proxies(t, relay)
    s = through(t, src_port, 1 * MiB, "connection before the outage")
    mark = relay.proc.mark()
    cluster.stop()
    body = {"destinationConfig": {"thingName": THING, "services": ["SSH"]}}
    r = relay.curl("POST", "/api/v1/tunnels", body)
    expect(r.status == 503 and "database unavailable, retry" in r.text,
           "open while PostgreSQL is down: %r" % r)
    relay.proc.wait_log(r"WARN.*PostgreSQL .*connection lost", scaled(5), since=mark)
    # The paired tunnel goes on: the same connection and a new one.
    expect_echo(s, 1 * MiB, "connection open across the outage")
    through(t, src_port, 1 * MiB, "new connection during the outage")
    r = relay.curl("POST", "/api/v1/tunnels", body)
    expect(r.status == 503, "second open while PostgreSQL is down: %r" % r)
    cluster.start()
    opened = {}

    def opens():
        r2 = relay.curl("POST", "/api/v1/tunnels", body)
        if r2.status == 201:
            opened["j"] = r2.json
            return True
        expect(r2.status == 503, "open while reconnecting: %r" % r2)
        return False
    wait_until(opens, scaled(40), "an open to succeed once PostgreSQL is back", interval=0.5)
    relay.proc.wait_log(r"INFO.*PostgreSQL .*connected again", scaled(5), since=mark)
    warns = relay.proc.log_since(mark).count("connection lost")
    expect(warns == 1, "one WARN per outage, got %d" % warns)
    tid = opened["j"]["tunnelId"]
    got = cluster.psql("SELECT count(*) FROM tunnels WHERE id = '%s'" % tid, db=DB).strip()
    expect(got == "1", "tunnel opened after the outage is stored: %r" % got)
    expect(not relay.proc.has_log(cluster.password), "password in the log")


@timeout(90)
def test_pg_two_relays_one_close(t):
    cluster = Cluster(t)
    a = pg_relay(t, cluster, name="relay-a")
    tunnels = [a.open(thing="nanopi-%02d" % i) for i in range(6)]
    # b starts after the tunnels exist: it loads them, open.
    b = pg_relay(t, cluster, name="relay-b")
    for j in tunnels:
        expect(b.describe(j["tunnelId"])["status"] == "OPEN", "b sees the tunnel open")
    # One after the other: the second close loses and says so.
    first = tunnels[0]["tunnelId"]
    a.delete(first)
    r = b.curl("DELETE", "/api/v1/tunnels/%s" % first)
    expect(r.status == 409 and "another relay node" in r.text,
           "closing a tunnel another node closed: %r" % r)
    # At once, from both: exactly one wins each tunnel.
    for j in tunnels[1:]:
        tid = j["tunnelId"]
        results = {}
        barrier = threading.Barrier(2)

        def close(name, relay):
            barrier.wait()
            results[name] = relay.curl("DELETE", "/api/v1/tunnels/%s" % tid).status
        threads = [threading.Thread(target=close, args=(n, r)) for n, r in (("a", a), ("b", b))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        expect(sorted(results.values()) == [200, 409],
               "tunnel %s closed from two relays at once: %r" % (tid, results))
    closed = cluster.psql("SELECT count(*) FROM tunnels WHERE closed_at <> 0", db=DB).strip()
    expect(closed == "6", "closed rows: %r" % closed)


@timeout(120)
def test_pg_restarted_node_clears_its_connected_flags(t):
    """Node a carries a tunnel and is killed: the row still says both ends
    are connected there, so node b shows them CONNECTED. When a starts
    again it holds no end: before loading it clears its rows' flags (and
    says so), and b shows both ends DISCONNECTED."""
    cluster = Cluster(t)
    a = pg_relay(t, cluster, name="relay-a", extra_args=["--node-id", "node-a"])
    b = pg_relay(t, cluster, name="relay-b", extra_args=["--node-id", "node-b"])
    j, echo, dest, src, src_port = tunnel_with_proxies(t, a)
    through(t, src_port, 64 * 1024)
    tid = j["tunnelId"]

    def states(relay):
        d = relay.describe(tid)
        return (d["sourceConnectionState"]["status"], d["destinationConnectionState"]["status"])
    wait_until(lambda: states(b) == ("CONNECTED", "CONNECTED"), scaled(5),
               "node b to show both ends connected on node a")
    a.proc.kill()
    for p in (src, dest):
        p.kill()  # so that no end comes back to a
    expect(states(b) == ("CONNECTED", "CONNECTED"),
           "b after a's death, before a restarts: %r (the dead node's flags)" % (states(b),))
    a.start()
    a.proc.wait_log(r"node node-a: 1 tunnel said a side was connected here before this start; "
                    r"cleared for the other nodes", scaled(5))
    wait_until(lambda: states(b) == ("DISCONNECTED", "DISCONNECTED"), scaled(5),
               "node b to show both ends disconnected once node a started again")
    expect(states(a) == ("DISCONNECTED", "DISCONNECTED"), "a after its restart: %r" % (states(a),))
    row = cluster.psql("SELECT connected || '|' || owner FROM tunnels WHERE id = '%s'" % tid,
                       db=DB).strip()
    expect(row == "0|node-a", "the row after a's restart: %r" % row)


def _hash_hex(token):
    return hashlib.sha256(token.encode()).hexdigest()


@timeout(90)
def test_pg_stale_copy_loses(t):
    """Two relays load the same tunnel (rev 1). a rotates it (rev 2); b's
    rotate from its stale copy is refused (409) and the row keeps a's
    tokens. a closes it; b's save of its open copy cannot reopen it."""
    cluster = Cluster(t)
    a = pg_relay(t, cluster, name="relay-a")
    j = a.open()
    tid = j["tunnelId"]
    b = pg_relay(t, cluster, name="relay-b")
    rev = cluster.psql("SELECT rev FROM tunnels WHERE id = '%s'" % tid, db=DB).strip()
    expect(rev == "1", "rev after the open: %r" % rev)
    rot = a.rotate(tid, "ALL")
    t.secret(rot["sourceAccessToken"])
    t.secret(rot["destinationAccessToken"])
    r = b.curl("POST", "/api/v1/tunnels/%s/rotate" % tid, {"clientMode": "ALL"})
    expect(r.status == 409 and "another relay node" in r.text,
           "rotate from a stale copy: %r" % r)
    row = cluster.psql("SELECT encode(source_token_hash, 'hex') || '|' || rev FROM tunnels"
                       " WHERE id = '%s'" % tid, db=DB).strip()
    expect(row == "%s|2" % _hash_hex(rot["sourceAccessToken"]),
           "the row keeps a's rotated token at rev 2: %r" % row)
    a.delete(tid)
    closed = cluster.psql("SELECT closed_at FROM tunnels WHERE id = '%s'" % tid, db=DB).strip()
    expect(closed != "0", "closed by a: %r" % closed)
    # b never heard (nothing applies other nodes' changes yet): its copy is
    # open, and a save of it must not reopen the row.
    expect(b.describe(tid)["status"] == "OPEN", "b's copy is still open")
    r = b.curl("POST", "/api/v1/tunnels/%s/rotate" % tid, {"clientMode": "SOURCE"})
    expect(r.status == 409, "rotate of a tunnel closed elsewhere: %r" % r)
    after = cluster.psql("SELECT closed_at || '|' || encode(source_token_hash, 'hex')"
                         " FROM tunnels WHERE id = '%s'" % tid, db=DB).strip()
    expect(after == "%s|%s" % (closed, _hash_hex(rot["sourceAccessToken"])),
           "the closed row is untouched: %r" % after)


@timeout(90)
def test_pg_migrates_v4(t):
    """A version 4 database (no owner, rev, connected or token indexes) is brought to
    version 5 in place; its tunnels load, start at rev 0, and save on."""
    cluster = Cluster(t)
    relay = pg_relay(t, cluster, name="relay-v5")
    j = relay.open()
    tid = j["tunnelId"]
    relay.stop_term()
    cluster.psql("ALTER TABLE tunnels DROP COLUMN owner; ALTER TABLE tunnels DROP COLUMN rev;"
                 " ALTER TABLE tunnels DROP COLUMN connected;"
                 " DROP INDEX tunnels_source_token; DROP INDEX tunnels_destination_token;"
                 " UPDATE schema_version SET version = 4", db=DB)
    relay = pg_relay(t, cluster, name="relay-again")
    version = cluster.psql("SELECT version FROM schema_version", db=DB).strip()
    expect(version == "5", "schema_version after the migration: %r" % version)
    expect(relay.describe(tid)["status"] == "OPEN", "the v4 tunnel loads")
    row = cluster.psql("SELECT owner || '|' || rev || '|' || connected FROM tunnels"
                       " WHERE id = '%s'" % tid, db=DB).strip()
    expect(row == "|0|0", "owner, rev and connected of a migrated row: %r" % row)
    rot = relay.rotate(tid, "SOURCE")
    t.secret(rot["sourceAccessToken"])
    row = cluster.psql("SELECT rev FROM tunnels WHERE id = '%s'" % tid, db=DB).strip()
    expect(row == "1", "rev after a save of the migrated row: %r" % row)
    indexes = cluster.psql("SELECT count(*) FROM pg_indexes WHERE tablename = 'tunnels'"
                           " AND indexname LIKE 'tunnels_%_token'", db=DB).strip()
    expect(indexes == "2", "token hash indexes: %r" % indexes)


@timeout(120)
def test_pg_store_calls(t):
    """store_watch / store_claim_side / store_reset_node / store_find_token /
    store_list_notifications,
    store_take_notification and the
    rev-conditional save between stores playing two and three nodes
    (tests/unit/relay/test_store_pg.c, built by make unit)."""
    binary = BIN_DIR / "tests" / "relay" / "test_store_pg"
    expect(binary.exists(), "%s is missing: make builds it before the e2e tests" % binary)
    cluster = Cluster(t)
    r = subprocess.run([str(binary)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=scaled(90),
                       env=child_env({"STORE_PG_TEST_URI": cluster.uri}, home=t.tmp))
    out = r.stdout.decode(errors="replace")
    expect(r.returncode == 0 and "[  PASSED  ] 6 test(s)." in out and "SKIPPED" not in out,
           "test_store_pg: exit %d:\n%s" % (r.returncode, out[-3000:]))
    expect(cluster.password not in out, "password in the output")


# ==========================================================================
# admission rate: PostgreSQL against SQLite
# ==========================================================================

def _https(relay):
    ctx = ssl.create_default_context(cafile=str(pki().ca))
    return http.client.HTTPSConnection("127.0.0.1", relay.port, context=ctx, timeout=scaled(10))


def _open_rate(relay, n):
    conn = _https(relay)
    hdr = {"Authorization": "Bearer %s" % relay.key, "Content-Type": "application/json"}
    opened = []
    start = time.monotonic()
    for i in range(n):
        # Spread over things: each may hold 64 open tunnels.
        body = json.dumps({"destinationConfig": {"thingName": "rate-%d" % (i % 10),
                                                 "services": ["SSH"]}})
        conn.request("POST", "/api/v1/tunnels", body, hdr)
        r = conn.getresponse()
        data = r.read()
        expect(r.status == 201, "open %d: HTTP %d %r" % (i, r.status, data[:200]))
        j = json.loads(data)
        relay.t.secret(j["sourceAccessToken"])
        relay.t.secret(j["destinationAccessToken"])
        opened.append(j)
    took = time.monotonic() - start
    conn.close()
    return n / took, opened


def _handshake_rate(relay, opened):
    start = time.monotonic()
    for j in opened:
        w = wsprobe.WS.connect(relay.port, pki().ca, path="/tunnel?local-proxy-mode=source",
                               token=j["sourceAccessToken"], timeout=scaled(5))
        expect(w.accepted, "handshake: HTTP %s" % w.status)
        w.close()
    return len(opened) / (time.monotonic() - start)


@timeout(90)
def test_pg_admission_rate(t):
    cluster = Cluster(t)
    n = 150
    figures = {}
    for name, db in (("sqlite", None), ("postgresql", cluster.uri)):
        relay = ApiRelay(t, db=db, name="rate-" + name, extra_args=["--max-tunnels", "10000"])
        opens, opened = _open_rate(relay, n)
        shakes = _handshake_rate(relay, opened)
        figures[name] = (opens, shakes)
        relay.stop_term()
    # The runner shows output only on failure: the figures go to a file too
    # (E2E_KEEP=1 keeps it).
    lines = ["admission %-10s %6.0f tunnels opened/s  %6.0f handshakes admitted/s"
             % (name, opens, shakes) for name, (opens, shakes) in figures.items()]
    (t.tmp / "admission.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    expect(all(o > 0 and s > 0 for o, s in figures.values()), "rates: %r" % figures)
