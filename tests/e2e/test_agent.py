"""tunnel-agent, the device daemon, with real processes on loopback:
mosquitto over TLS with the shipped per-thing ACL (packaging/mosquitto), the
relay with its API, SQLite and MQTT notifier, tunnel-agent for nanopi-01
(its destination localproxy children), `tunnelctl`, a source localproxy, and
sshd or an echo service behind the agent.

Reuses test_mqtt.py (PKI with devices nanopi-01/nanopi-02, the broker,
the relay wired to it) and test_api.py (ApiRelay: tunnelctl, localproxies).
Skipped when mosquitto is not installed; the SSH test needs root and sshd.
"""

import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import time

from harness import (MiB, binary, connect, expect, expect_echo, fail, free_port, scaled,
                     start_sshd, timeout, wait_until)
from test_api import THING, through
from test_mqtt import OTHER, _which, expect_delivered, mqtt_setup, topic

AGENT_TOKEN_VAR = "AWSIOT_TUNNEL_ACCESS_TOKEN"


# --------------------------------------------------------------------------
# processes in /proc
# --------------------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid) of a process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return None


def proc_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def gone(pid):
    """True when pid no longer runs (no such process, or a zombie)."""
    st = proc_stat(pid)
    return st is None or st[0] in ("Z", "X")


def children(ppid):
    """{pid: argv} of the live (non-zombie) processes whose parent is ppid."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        st = proc_stat(pid)
        if st is None or st[1] != ppid or st[0] in ("Z", "X"):
            continue
        argv = proc_cmdline(pid)
        if argv is not None:
            out[pid] = argv
    return out


def agent_localproxies(relay_port):
    """{pid: argv} of every live localproxy that an agent started for this
    test's relay (whoever its parent is now)."""
    lp = binary("localproxy")
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        argv = proc_cmdline(pid)
        if (argv and argv[0] == lp and "destination" in argv and
                "127.0.0.1:%d" % relay_port in argv and not gone(pid)):
            out[pid] = argv
    return out


def ssh_run(port, userkey, command, data, timeout_s=60):
    cmd = ["/usr/bin/ssh", "-p", str(port), "-i", str(userkey),
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % scaled(10),
           "-o", "LogLevel=ERROR", "root@127.0.0.1", command]
    try:
        return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=scaled(timeout_s))
    except subprocess.TimeoutExpired:
        fail("ssh through the tunnel did not finish within %.0fs" % scaled(timeout_s))


# --------------------------------------------------------------------------
# the rig: broker + relay + agent for nanopi-01
# --------------------------------------------------------------------------

SUBSCRIBED = r"subscribed to \$aws/things/%s/tunnels/notify \(QoS 1\)" % THING


class AgentRig:
    """mosquitto (TLS, shipped ACL) + tunnel-relay (--db, --api-key-file,
    --mqtt-*, --public-endpoint) + tunnel-agent for nanopi-01 with its
    agent.json in the temp dir, subscribed. services: {"SSH": port}; without
    it an echo service is SSH."""

    def __init__(self, t, services=None, max_tunnels=4, log_level=4, start_agent=True,
                 relay_args=()):
        self.t = t
        self.broker, self.relay = mqtt_setup(t, public_endpoint="self", relay_args=relay_args)
        self.pkidir = self.broker.pki
        if services is None:
            self.echo = t.echo()
            services = {"SSH": self.echo.port}
        self.services = services
        self.max_tunnels = max_tunnels
        self.log_level = log_level
        self.agent = None
        self._pubs = 0
        if start_agent:
            self.start_agent()

    def agent_config(self, **over):
        d = self.pkidir
        cfg = {
            "thingName": THING,
            "broker": {"uri": "ssl://127.0.0.1:%d" % self.broker.port,
                       "ca": str(d / "ca.pem"),
                       "cert": str(d / ("device-%s.pem" % THING)),
                       "key": str(d / ("device-%s.key" % THING)),
                       "keepAliveSeconds": 5},
            "relay": {"endpoint": "127.0.0.1:%d" % self.relay.port, "ca": self.relay.ca},
            "localproxy": binary("localproxy"),
            "services": {k: "127.0.0.1:%d" % v for k, v in self.services.items()},
            "maxTunnels": self.max_tunnels,
            "logLevel": self.log_level,
        }
        cfg.update(over)
        return cfg

    def start_agent(self, name="agent", wait=True, **over):
        path = self.t.tmp / ("%s.json" % name)
        path.write_text(json.dumps(self.agent_config(**over), indent=1) + "\n")
        p = self.t.spawn(name, [binary("tunnel-agent"), "-c", str(path)])
        if name == "agent":
            self.agent = p
        if wait:
            p.wait_log(SUBSCRIBED, scaled(15), what="the agent's subscription")
        return p

    # ---- tunnels ----------------------------------------------------------
    def open(self, thing=THING, services=("SSH",)):
        """tunnelctl --json open; the tokens go into the secret registry."""
        args = ["open", "--thing", thing]
        for s in services:
            args += ["--service", s]
        j = self.relay.ctl_json(*args)
        for k in ("tunnelId", "sourceAccessToken", "destinationAccessToken"):
            expect(isinstance(j.get(k), str) and j[k], "tunnelctl --json open: no %s in %r" %
                   (k, {kk: vv for kk, vv in j.items() if "Token" not in kk}))
        expect_delivered(j, "tunnelctl open --thing %s" % thing)
        return j

    def wait_started(self, tid, since, what):
        """Waits for the agent to accept a notification for tid and start a
        localproxy; returns (pid, replaced pid or None). Checks the pid is a
        live localproxy child of the agent."""
        m = self.agent.wait_log(
            r"notification accepted for tunnel %s \(services [^)]*\): "
            r"(?:started localproxy pid (\d+)|new token, replacing localproxy pid (\d+) "
            r"with pid (\d+))" % re.escape(tid), scaled(10), since=since, what=what)
        if m.group(1):
            pid, old = int(m.group(1)), None
        else:
            pid, old = int(m.group(3)), int(m.group(2))
        kids = children(self.agent.pid)
        expect(pid in kids, "%s: agent logged localproxy pid %d, but its live children are %r"
               % (what, pid, kids))
        expect(kids[pid][:1] == [binary("localproxy")],
               "%s: child %d runs %r, not our localproxy" % (what, pid, kids[pid]))
        return pid, old

    def wait_dest_connected(self, tid, since, what):
        self.relay.proc.wait_log(r"tunnel %s: destination connected" % re.escape(tid),
                                 scaled(10), since=since, what=what)

    def lp_children(self):
        """{pid: argv} of the agent's live children."""
        return children(self.agent.pid)

    # ---- raw notifications --------------------------------------------------
    def publish(self, thing, payload):
        """mosquitto_pub with the relay's MQTT certificate (the only
        identity allowed to write notify topics), QoS 1, message from stdin
        (a token never on a command line)."""
        self._pubs += 1
        d = self.pkidir
        cid = "test-pub-%d" % self._pubs
        if isinstance(payload, str):
            payload = payload.encode()
        mark = self.broker.mark()
        r = subprocess.run([_which("mosquitto_pub"), "-h", "127.0.0.1",
                            "-p", str(self.broker.port), "--cafile", str(d / "ca.pem"),
                            "--cert", str(d / "relay-mqtt.pem"), "--key", str(d / "relay-mqtt.key"),
                            "-q", "1", "-i", cid, "-t", topic(thing), "-s"],
                           input=payload, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=scaled(15))
        expect(r.returncode == 0, "mosquitto_pub to %s: rc %d %s" %
               (topic(thing), r.returncode, r.stdout.decode(errors="replace")))
        self.broker.wait_log("Received PUBLISH from %s" % cid, scaled(5), since=mark,
                             what="the broker receiving %s's message" % cid)
        return cid

    def notification(self, **over):
        """A well-formed notification (random token, registered as a secret),
        with keys replaced (or removed, with None) by `over`."""
        tok = secrets.token_urlsafe(32)
        self.t.secret(tok)
        p = {"clientAccessToken": tok, "clientMode": "destination", "services": ["SSH"],
             "tunnelId": "bad-%s" % secrets.token_hex(4), "region": "local",
             "endpoint": "127.0.0.1:%d" % self.relay.port}
        for k, v in over.items():
            if v is None:
                p.pop(k, None)
            else:
                p[k] = v
        return p

    def expect_no_token_in_logs(self):
        for p in sorted(self.t.tmp.glob("*.log")):
            text = p.read_text(errors="replace")
            for s in self.t.secrets:
                if s and s in text:
                    fail("an access token (%d characters) appears in %s" % (len(s), p.name))


def check_child_argv(rig, pid, tokens, what):
    """The child's command line has no token; the destination token is in
    its environment as AWSIOT_TUNNEL_ACCESS_TOKEN."""
    argv = proc_cmdline(pid)
    expect(argv is not None, "%s: /proc/%d/cmdline unreadable (child gone?)" % (what, pid))
    joined = "\0".join(argv)
    for tok in tokens:
        expect(tok not in joined, "%s: a token is on localproxy's command line: /proc/%d/cmdline"
               % (what, pid))
    expect("-m" in argv and argv[argv.index("-m") + 1] == "destination",
           "%s: child argv %r has no '-m destination'" % (what, argv))
    ep = "127.0.0.1:%d" % rig.relay.port
    expect("-e" in argv and argv[argv.index("-e") + 1] == ep,
           "%s: child argv %r has no '-e %s'" % (what, argv, ep))
    env = proc_environ(pid)
    expect(env is not None, "%s: /proc/%d/environ unreadable" % (what, pid))
    return argv, env


def expect_env_token(env, token, what):
    """The agent handed the token over in the environment (one
    AWSIOT_TUNNEL_ACCESS_TOKEN entry), and localproxy, once it copied it,
    wiped the value: /proc/PID/environ shows the variable, never the token.
    That the token was the right one, the tunnel carrying data proves."""
    got = [e for e in env if e.startswith(AGENT_TOKEN_VAR + "=")]
    expect(len(got) == 1, "%s: the child's environment should hold one %s (found %d)" %
           (what, AGENT_TOKEN_VAR, len(got)))
    expect(not any(token in e for e in env),
           "%s: the destination token is still readable in the child's /proc/PID/environ" % what)


def through_retry(t, port, nbytes, what, within=5.0):
    """A fresh connection through the source port, retried while the new
    destination settles."""
    deadline = time.monotonic() + scaled(within)
    while True:
        s = connect(port, scaled(5))
        t.defer(s.close)
        try:
            expect_echo(s, nbytes, what, timeout=scaled(20))
            return s
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


# ==========================================================================

@timeout(90)
def test_agent_ssh_session(t):
    """tunnelctl open -> the agent starts a destination localproxy (token in
    its environment only) -> source localproxy -> ssh runs a command on the
    real sshd with 2 MiB of random stdin."""
    sshd_port, userkey = start_sshd(t)
    rig = AgentRig(t, services={"SSH": sshd_port})
    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    j = rig.open()
    tid = j["tunnelId"]
    pid, old = rig.wait_started(tid, amark, "the agent starting a localproxy for the tunnel")
    expect(old is None, "first notification logged as a replacement of pid %s" % old)
    rig.wait_dest_connected(tid, rmark, "the agent's localproxy connecting")
    rig.agent.wait_log(r"localproxy .*tunnel ready", scaled(10), since=amark,
                       what="the child localproxy's 'tunnel ready' (its output goes to the agent's)")
    tokens = (j["sourceAccessToken"], j["destinationAccessToken"])
    argv, env = check_child_argv(rig, pid, tokens, "child localproxy")
    expect("-d" in argv and argv[argv.index("-d") + 1] == "SSH=127.0.0.1:%d" % sshd_port,
           "child argv %r: expected '-d SSH=127.0.0.1:%d'" % (argv, sshd_port))
    expect_env_token(env, j["destinationAccessToken"], "child localproxy")

    src_port = free_port()
    rig.relay.source_proxy(j["sourceAccessToken"], src_port)
    data = os.urandom(2 * MiB)
    want = hashlib.sha256(data).hexdigest()
    r = ssh_run(src_port, userkey, "echo agent-ok; sha256sum", data)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    expect(r.returncode == 0, "ssh exit code %d; stdout %r; stderr %r" % (r.returncode, out, err))
    lines = out.split("\n")
    expect(lines[0] == "agent-ok", "first line %r, expected 'agent-ok'" % lines[0])
    expect(len(lines) > 1 and lines[1].split()[:1] == [want],
           "remote sha256 %r, expected %s" % (lines[1:2], want))

    # Every localproxy child of the agent: no token on its command line.
    for cpid in rig.lp_children():
        check_child_argv(rig, cpid, tokens, "agent child %d" % cpid)
    rig.agent.expect_alive()
    expect(set(rig.lp_children()) == {pid}, "agent children %r, expected just %d" %
           (rig.lp_children(), pid))
    rig.expect_no_token_in_logs()


@timeout(90)
def test_agent_rotation_replaces_child(t):
    """rotate DESTINATION: the agent replaces its localproxy (old pid gone,
    new one with the new token) and the data path works through the new
    destination from the source that stayed connected."""
    rig = AgentRig(t)
    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    j = rig.open()
    tid = j["tunnelId"]
    pid1, _ = rig.wait_started(tid, amark, "first localproxy")
    rig.wait_dest_connected(tid, rmark, "first destination")
    src_port = free_port()
    src = rig.relay.source_proxy(j["sourceAccessToken"], src_port)
    through(t, src_port, 1 * MiB, "connection before the rotation")

    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    rot = rig.relay.ctl_json("rotate", tid, "--mode", "DESTINATION")
    new_tok = rot.get("destinationAccessToken")
    expect(new_tok and new_tok != j["destinationAccessToken"], "rotate DESTINATION: no new token")
    expect_delivered(rot, "tunnelctl rotate --mode DESTINATION")
    pid2, old = rig.wait_started(tid, amark, "the agent acting on the rotation")
    expect(pid2 != pid1, "the rotation did not start a new localproxy (pid %d again)" % pid1)
    expect(old in (None, pid1), "the agent replaced pid %s, expected %d" % (old, pid1))
    t.note("rotation: %s" % ("pid %d replaced by %d" % (pid1, pid2) if old else
                             "old pid %d had already exited, new pid %d" % (pid1, pid2)))
    wait_until(lambda: gone(pid1), scaled(8), "the old localproxy pid %d to exit" % pid1)
    rig.agent.wait_log(r"localproxy for tunnel %s (exited with status 0|killed by signal 15\b)"
                       r".*\[pid %d\b" % (re.escape(tid), pid1), scaled(8), since=amark,
                       what="the agent reaping the old localproxy")
    rig.wait_dest_connected(tid, rmark, "the new destination")
    # Read once it is connected: by then it has copied and wiped its token.
    _, env = check_child_argv(rig, pid2, (j["sourceAccessToken"], new_tok), "new child")
    expect_env_token(env, new_tok, "new child")
    expect(set(rig.lp_children()) == {pid2}, "agent children after the rotation %r, expected "
           "just %d" % (rig.lp_children(), pid2))

    src.expect_alive("after rotate DESTINATION (only the destination rotated)")
    through_retry(t, src_port, 2 * MiB, "connection through the new destination")
    rig.agent.expect_alive()
    rig.expect_no_token_in_logs()


@timeout(60)
def test_agent_close_child_exits(t):
    """tunnelctl close: the agent's localproxy exits with status 0 (logged)
    and the agent keeps running."""
    rig = AgentRig(t)
    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    j = rig.open()
    tid = j["tunnelId"]
    pid, _ = rig.wait_started(tid, amark, "localproxy for the tunnel")
    rig.wait_dest_connected(tid, rmark, "destination")
    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    t0 = time.monotonic()
    rc, out, err = rig.relay.ctl("close", tid)
    expect(rc == 0, "tunnelctl close: exit %d %s" % (rc, err))
    rig.agent.wait_log(r"localproxy for tunnel %s exited with status 0 \[pid %d\b" %
                       (re.escape(tid), pid), scaled(5), since=amark,
                       what="the child exiting with status 0 after close")
    t.note("child exited %.2fs after tunnelctl close" % (time.monotonic() - t0))
    wait_until(lambda: gone(pid), scaled(3), "pid %d to be gone" % pid)
    rig.relay.proc.wait_log(r"tunnel %s: destination disconnected" % re.escape(tid),
                            scaled(5), since=rmark)
    time.sleep(0.5)
    rig.agent.expect_alive("after the tunnel was closed")
    expect(rig.lp_children() == {}, "agent children after close: %r" % rig.lp_children())


@timeout(120)
def test_agent_broker_restart(t):
    """mosquitto stopped and started again on the same port: the agent
    reconnects and resubscribes, a running child is untouched, and the next
    tunnelctl open still reaches the agent."""
    rig = AgentRig(t)
    amark = rig.agent.mark()
    j1 = rig.open()
    pid1, _ = rig.wait_started(j1["tunnelId"], amark, "localproxy before the restart")

    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    rig.broker.stop()
    rig.agent.wait_log(r"disconnected from broker ssl://127\.0\.0\.1:%d" % rig.broker.port,
                       scaled(15), since=amark, what="the agent noticing the broker is gone")
    time.sleep(0.5)
    t0 = time.monotonic()
    rig.broker.start()
    m = rig.agent.wait_log(r"reconnected to broker ssl://127\.0\.0\.1:%d" % rig.broker.port,
                           scaled(40), since=amark, what="the agent reconnecting")
    rig.agent.wait_log(SUBSCRIBED, scaled(10), since=amark + m.end(),
                       what="the agent resubscribing after the reconnect")
    t.note("agent resubscribed %.1fs after the broker came back" % (time.monotonic() - t0))
    rig.relay.proc.wait_log(r"MQTT: (connected to broker|connection to broker .* restored)",
                            scaled(40), since=rmark, what="the relay reconnecting")
    expect(not gone(pid1) and pid1 in rig.lp_children(),
           "the localproxy started before the broker restart is gone")

    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    j2 = rig.open()
    pid2, _ = rig.wait_started(j2["tunnelId"], amark, "localproxy after the broker restart")
    rig.wait_dest_connected(j2["tunnelId"], rmark, "destination after the broker restart")
    expect(set(rig.lp_children()) == {pid1, pid2}, "agent children %r, expected %d and %d" %
           (rig.lp_children(), pid1, pid2))
    src_port = free_port()
    rig.relay.source_proxy(j2["sourceAccessToken"], src_port)
    through(t, src_port, 1 * MiB, "tunnel opened after the broker restart")
    rig.agent.expect_alive()


@timeout(90)
def test_agent_bad_notifications(t):
    """Bad notifications (published with the relay's MQTT certificate) are
    refused with a reason, start nothing and leave the agent running; a
    valid one on nanopi-02's topic never reaches nanopi-01's agent. Then a
    real tunnel still works."""
    rig = AgentRig(t)
    agent = rig.agent
    base = rig.lp_children()
    expect(base == {}, "agent children before any notification: %r" % base)
    long_tok = "A" * 5000
    t.secret(long_tok)
    cases = [
        ("not JSON", b'{"clientMode": "destination", not json',
         r"payload is not JSON"),
        ("clientMode source", rig.notification(clientMode="source"),
         r"\"clientMode\" is 'source', not 'destination'"),
        ("unmapped service RDP", rig.notification(services=["RDP"]),
         r"service RDP is not in this device's service map \(mapped: SSH\)"),
        ("missing token", rig.notification(clientAccessToken=None),
         r"no \"clientAccessToken\""),
        ("empty token", rig.notification(clientAccessToken=""),
         r"\"clientAccessToken\" is empty"),
        ("5000-character token", rig.notification(clientAccessToken=long_tok),
         r"\"clientAccessToken\" is 5000 characters long"),
    ]
    for what, payload, why in cases:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        mark = agent.mark()
        rig.publish(THING, payload)
        m = agent.wait_log(r"WARN.*refused a notification.*: %s" % why, scaled(5), since=mark,
                           what="refusing the %s notification" % what)
        t.note("%s: %s" % (what, m.group(0).strip()))
        agent.expect_alive("after the %s notification" % what)
        expect(rig.lp_children() == {}, "the %s notification started %r" %
               (what, rig.lp_children()))
        expect(not agent.has_log(r"notification accepted", since=mark),
               "the agent accepted the %s notification" % what)

    # A second agent with nanopi-01's certificate that tries to listen on
    # nanopi-02's topic: the ACL refuses the subscription or, at the least,
    # never delivers to it.
    spy = rig.start_agent("agent-spy", wait=False, notifyTopic=topic(OTHER),
                          broker=dict(rig.agent_config()["broker"], clientId="nanopi-01-spy"))
    m = spy.wait_log(r"subscribed to \S+ \(QoS \d\)|refused the subscription", scaled(15),
                     what="the spy agent's subscription to nanopi-02's topic")
    t.note("nanopi-01's certificate on nanopi-02's topic: %s" % m.group(0))

    # A valid notification (a real tunnel's token even) for nanopi-02.
    mark, bmark, smark = agent.mark(), rig.broker.mark(), spy.mark()
    j2 = rig.open(thing=OTHER)
    good = rig.notification()
    rig.publish(OTHER, json.dumps(good))
    # A marker after it on our own topic: once it is refused, the broker has
    # routed everything published before it.
    rig.publish(THING, b"marker: not json")
    agent.wait_log(r"refused a notification: payload is not JSON", scaled(5), since=mark,
                   what="the marker after the nanopi-02 notifications")
    time.sleep(0.5)
    text = agent.log_since(mark)
    expect(len(re.findall(r"notification", text)) == 1,
           "the agent saw more than the marker after nanopi-02's notifications:\n%s" % text)
    expect(rig.lp_children() == {}, "a nanopi-02 notification started %r" % rig.lp_children())
    blog = rig.broker.log()[bmark:]
    leaked = [ln for ln in blog.splitlines()
              if "Sending PUBLISH to %s" % THING in ln and topic(OTHER) in ln]
    expect(not leaked, "the broker sent nanopi-02's topic to nanopi-01: %r" % leaked)
    expect(j2["tunnelId"] not in text, "nanopi-01's agent logged nanopi-02's tunnel")
    spied = spy.log_since(smark)
    expect("notification" not in spied and children(spy.pid) == {},
           "nanopi-01's certificate received nanopi-02's notification (ACL):\n%s" % spied)
    leaked = [ln for ln in blog.splitlines() if "Sending PUBLISH to nanopi-01-spy" in ln]
    expect(not leaked, "the broker sent nanopi-02's topic to nanopi-01's certificate: %r" % leaked)
    spy.stop()

    # After all that, a real tunnel still starts a child.
    mark, rmark = agent.mark(), rig.relay.proc.mark()
    j = rig.open()
    pid, _ = rig.wait_started(j["tunnelId"], mark, "a valid tunnel after the bad notifications")
    rig.wait_dest_connected(j["tunnelId"], rmark, "the valid tunnel's destination")
    expect(set(rig.lp_children()) == {pid}, "children %r" % rig.lp_children())
    agent.expect_alive()
    rig.expect_no_token_in_logs()


@timeout(60)
def test_agent_sigkill_leaves_no_localproxy(t):
    """SIGKILL to the agent: its localproxy children get SIGTERM from the
    kernel (PR_SET_PDEATHSIG) and exit; the relay sees the destination
    disconnect."""
    rig = AgentRig(t)
    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    j1, j2 = rig.open(), rig.open()
    pids = set()
    for j in (j1, j2):
        pid, _ = rig.wait_started(j["tunnelId"], amark, "localproxy for %s" % j["tunnelId"])
        rig.wait_dest_connected(j["tunnelId"], rmark, "destination %s" % j["tunnelId"])
        pids.add(pid)
    expect(set(rig.lp_children()) == pids, "children %r, expected %r" % (rig.lp_children(), pids))
    expect(set(agent_localproxies(rig.relay.port)) == pids,
           "agent localproxies by command line: %r" % agent_localproxies(rig.relay.port))
    rmark = rig.relay.proc.mark()
    t0 = time.monotonic()
    rig.agent.kill()
    wait_until(lambda: all(gone(p) for p in pids), scaled(5),
               "the agent's localproxy children %r to exit after the agent's SIGKILL" % sorted(pids))
    t.note("children gone %.2fs after SIGKILL" % (time.monotonic() - t0))
    left = agent_localproxies(rig.relay.port)
    expect(left == {}, "localproxy processes outlived the agent: %r" % left)
    for j in (j1, j2):
        rig.relay.proc.wait_log(r"tunnel %s: destination disconnected" % re.escape(j["tunnelId"]),
                                scaled(5), since=rmark)


@timeout(60)
def test_agent_max_tunnels_cap(t):
    """maxTunnels 1: a second tunnel is refused (logged) while the first
    child keeps running; once that one is closed, a rotation of the second
    tunnel (re-notification) starts it."""
    rig = AgentRig(t, max_tunnels=1)
    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    j1 = rig.open()
    pid1, _ = rig.wait_started(j1["tunnelId"], amark, "first tunnel")
    rig.wait_dest_connected(j1["tunnelId"], rmark, "first destination")

    amark = rig.agent.mark()
    j2 = rig.open()
    rig.agent.wait_log(r"WARN.*refused a notification for tunnel %s \(services SSH\): already "
                       r"running 1 of maxTunnels 1" % re.escape(j2["tunnelId"]), scaled(5),
                       since=amark, what="the second tunnel refused by maxTunnels 1")
    time.sleep(0.3)
    expect(rig.lp_children().keys() == {pid1}, "children after the refused tunnel: %r "
           "(expected only %d)" % (rig.lp_children(), pid1))
    expect(not rig.agent.has_log(r"notification accepted|localproxy for tunnel", since=amark),
           "the agent started or lost a localproxy on the refused notification:\n%s" %
           rig.agent.log_since(amark))
    src_port = free_port()
    src = rig.relay.source_proxy(j1["sourceAccessToken"], src_port)
    through(t, src_port, 256 * 1024, "first tunnel while the second was refused")

    # Free the slot, then re-announce the second tunnel.
    amark = rig.agent.mark()
    rc, _, err = rig.relay.ctl("close", j1["tunnelId"])
    expect(rc == 0, "tunnelctl close: exit %d %s" % (rc, err))
    rig.agent.wait_log(r"localproxy for tunnel %s exited with status 0" % re.escape(j1["tunnelId"]),
                       scaled(5), since=amark)
    expect(src.wait_exit(scaled(5)) == 0, "source localproxy: non-zero exit after close")
    amark = rig.agent.mark()
    rot = rig.relay.ctl_json("rotate", j2["tunnelId"], "--mode", "DESTINATION")
    expect_delivered(rot, "rotate DESTINATION of the refused tunnel")
    pid2, _ = rig.wait_started(j2["tunnelId"], amark, "the second tunnel once the slot is free")
    expect(rig.lp_children().keys() == {pid2}, "children %r" % rig.lp_children())
    rig.agent.expect_alive()


@timeout(120)
def test_agent_sigterm_during_notification_flood(t):
    """SIGTERM while MQTT messages keep arriving, so that the signalfd and
    the MQTT eventfd are readable in the same poll() wakeup: the agent must
    not touch the MQTT client its SIGTERM handling just stopped and freed
    (this crashed with SIGSEGV, about one broker restart in five). Every
    stop is a clean exit 0."""
    rig = AgentRig(t, start_agent=False)
    d = rig.pkidir
    # Without the fix about one round in three crashed.
    for i in range(8):
        agent = rig.start_agent(name="agent-%d" % i)
        mark = agent.mark()
        # Refused notifications, as fast as mosquitto_pub sends them; QoS 0
        # so that the broker keeps none for the stopped agent's session.
        lines = subprocess.Popen(["yes", "not JSON"], stdout=subprocess.PIPE)
        pub = subprocess.Popen([_which("mosquitto_pub"), "-h", "127.0.0.1",
                                "-p", str(rig.broker.port), "--cafile", str(d / "ca.pem"),
                                "--cert", str(d / "relay-mqtt.pem"),
                                "--key", str(d / "relay-mqtt.key"),
                                "-q", "0", "-i", "test-flood-%d" % i, "-t", topic(THING), "-l"],
                               stdin=lines.stdout, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        lines.stdout.close()
        try:
            agent.wait_log(r"refused a notification", scaled(10), since=mark,
                           what="the flood reaching the agent")
            # Frozen while the flood fills its socket, the agent gets
            # SIGTERM; thawed, its Paho thread and its loop wake together.
            os.kill(agent.pid, signal.SIGSTOP)
            time.sleep(0.1)
            os.kill(agent.pid, signal.SIGTERM)
            os.kill(agent.pid, signal.SIGCONT)
            rc = agent.stop()
        finally:
            for p in (pub, lines):
                p.kill()
                p.wait(10)
        expect(rc == 0, "round %d: agent exit code %s after SIGTERM during a flood of "
               "notifications, expected 0" % (i, rc))
