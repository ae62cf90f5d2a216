"""Device presence with real processes on loopback: mosquitto with the
shipped ACL (packaging/mosquitto), the relay (--db, API, MQTT, presence on
tunnels/presence/+) and tunnel-agent for nanopi-01 (test_agent.AgentRig,
keepAliveSeconds 5). The agent's retained "online" message and its last
will reach GET /api/v1/things, tunnelctl things and the database.

Skipped when mosquitto is not installed.
"""

import subprocess
import time

from harness import expect, fail, scaled, timeout, wait_until
from test_agent import AgentRig
from test_api import THING
from test_mqtt import OTHER, _which

PRESENCE = "tunnels/presence/%s"


def thing(rig, name=THING, want=200):
    r = rig.relay.curl("GET", "/api/v1/things/%s" % name)
    expect(r.status == want, "GET /api/v1/things/%s: HTTP %d, expected %d: %s" %
           (name, r.status, want, r.text[:300]))
    return r.json


def wait_state(rig, state, seconds, what, name=THING):
    """Polls GET /api/v1/things/NAME until its state is `state`; returns
    the thing and how long it took."""
    start = time.monotonic()
    last = [None]

    def ok():
        r = rig.relay.curl("GET", "/api/v1/things/%s" % name)
        last[0] = r.json if r.status == 200 else (r.status, r.text[:200])
        return r.status == 200 and r.json.get("state") == state

    try:
        wait_until(ok, seconds, what, interval=0.2)
    except AssertionError:
        fail("%s: thing %s not %s within %.0fs; last answer %r" %
             (what, name, state, seconds, last[0]))
    return last[0], time.monotonic() - start


def expect_online(j, services, what):
    expect(j.get("state") == "online", "%s: state %r" % (what, j.get("state")))
    expect(j.get("services") == services, "%s: services %r, expected %r" %
           (what, j.get("services"), services))
    expect(isinstance(j.get("agentVersion"), str) and j["agentVersion"],
           "%s: no agentVersion in %r" % (what, j))
    expect(j.get("maxTunnels") == 3, "%s: maxTunnels %r, expected 3" % (what, j.get("maxTunnels")))
    for k in ("since", "bootTime"):
        expect(isinstance(j.get(k), str) and j[k].endswith("Z"), "%s: %s %r" % (what, k, j.get(k)))


def publish_as(rig, cn, name, payload):
    """mosquitto_pub with device cn's certificate to name's presence topic,
    retained, QoS 1, MQTT 5. Returns (rc, output, client id)."""
    d = rig.pkidir
    cid = "presence-pub-%s-%s" % (cn, name)
    r = subprocess.run([_which("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(rig.broker.port),
                        "--cafile", str(d / "ca.pem"),
                        "--cert", str(d / ("device-%s.pem" % cn)),
                        "--key", str(d / ("device-%s.key" % cn)),
                        "-V", "mqttv5", "-q", "1", "-r", "-i", cid,
                        "-t", PRESENCE % name, "-m", payload],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=scaled(15))
    return r.returncode, r.stdout.decode(errors="replace"), cid


@timeout(150)
def test_presence_online_will_restart_and_clean_stop(t):
    """online with its services -> SIGKILL: offline through the will ->
    restarted: online -> SIGTERM: offline at once."""
    rig = AgentRig(t, services={"SSH": 2222, "HTTP": 8080}, max_tunnels=3)
    j, _ = wait_state(rig, "online", scaled(10), "the agent's presence")
    expect_online(j, ["SSH", "HTTP"], "after start")
    expect(j.get("openTunnels") == 0, "openTunnels %r, expected 0" % j.get("openTunnels"))
    rig.relay.proc.wait_log(r"presence: thing %s online \(agent [^,]+, services SSH,HTTP, "
                            r"maxTunnels 3\)" % THING, scaled(5), what="the relay's log line")

    # A crash: no DISCONNECT, so the broker publishes the will (at once when
    # the socket closes; after 1.5 keep-alives, 7.5 s here, if it just goes silent).
    mark = rig.relay.proc.mark()
    rig.agent.kill()
    j, took = wait_state(rig, "offline", scaled(30), "the last will after SIGKILL")
    rig.relay.proc.wait_log(r"presence: thing %s offline \(its last will" % THING, scaled(5),
                            since=mark, what="the relay telling the will apart")
    expect(j.get("services") == ["SSH", "HTTP"],
           "the will says nothing else: the services last said stay, got %r" % j.get("services"))
    t.note("offline %.1fs after SIGKILL (keepAliveSeconds 5)" % took)

    rig.start_agent(name="agent-again")
    j, _ = wait_state(rig, "online", scaled(10), "the restarted agent")
    expect_online(j, ["SSH", "HTTP"], "after restart")

    # A clean stop: "offline" published before the disconnect, so at once.
    again = [p for p in t.procs if p.name == "agent-again"][0]
    mark = rig.relay.proc.mark()
    start = time.monotonic()
    rc = again.stop()
    expect(rc == 0, "agent: exit code %s after SIGTERM" % rc)
    j, _ = wait_state(rig, "offline", scaled(3), "a clean stop")
    # The agent's own "offline" (with its time), not the will: a clean
    # DISCONNECT makes the broker drop the will.
    rig.relay.proc.wait_log(r"presence: thing %s offline \(its agent stopped\)" % THING,
                            scaled(5), since=mark, what="the agent's offline message")
    expect(time.monotonic() - start < scaled(5), "offline came only after %.1fs" %
           (time.monotonic() - start))


@timeout(150)
def test_presence_kept_across_relay_restart_and_tunnelctl(t):
    """The relay keeps each thing's state in its database; tunnelctl things
    prints it; openTunnels counts the thing's open tunnels."""
    rig = AgentRig(t, services={"SSH": 2222}, max_tunnels=3)
    first, _ = wait_state(rig, "online", scaled(10), "the agent's presence")
    rig.open()
    j = thing(rig)
    expect(j.get("openTunnels") == 1, "openTunnels %r after one open" % j.get("openTunnels"))

    rc, out, err = rig.relay.ctl("things")
    expect(rc == 0, "tunnelctl things: exit %d: %s" % (rc, err))
    lines = out.splitlines()
    expect(lines and lines[0].split() == ["THING", "STATE", "SINCE", "SERVICES", "AGENT", "OPEN",
                                          "MAX"], "tunnelctl things header: %r" % out)
    row = [ln.split() for ln in lines[1:] if ln.split()[:1] == [THING]]
    expect(len(row) == 1 and row[0][1] == "online" and row[0][3] == "SSH" and
           row[0][5] == "1" and row[0][6] == "3", "tunnelctl things row for %s: %r" % (THING, out))
    rc, out, err = rig.relay.ctl("things", THING)
    expect(rc == 0 and "State:            online" in out, "tunnelctl things %s: %r %s" %
           (THING, out, err))
    j = rig.relay.ctl_json("things")
    expect([x["thingName"] for x in j.get("things", [])] == [THING],
           "tunnelctl --json things: %r" % j)
    rc, out, err = rig.relay.ctl("things", "nobody")
    expect(rc == 1 and "404" in err, "tunnelctl things nobody: rc %d, stderr %r" % (rc, err))

    # Stop the agent cleanly, then restart the relay without MQTT: what it
    # shows comes from its database alone.
    rig.agent.stop()
    offline, _ = wait_state(rig, "offline", scaled(5), "a clean stop")
    rig.relay.stop_term()
    mqtt = rig.relay.mqtt
    rig.relay.mqtt = None
    rig.relay.start()
    rig.relay.proc.wait_log(r"presence: 1 thing known from the database", scaled(5))
    j = thing(rig)
    expect(j.get("state") == "offline" and j.get("since") == offline.get("since") and
           j.get("services") == ["SSH"], "after a restart without MQTT: %r, before %r" %
           (j, offline))
    # And with MQTT again: the retained "offline" comes back, the same state,
    # its time unchanged (not stamped anew).
    rig.relay.stop_term()
    rig.relay.mqtt = mqtt
    rig.relay.start()
    rig.relay.proc.wait_log(r"MQTT: subscribed to presence topics", scaled(15))
    time.sleep(scaled(1))
    j = thing(rig)
    expect(j.get("state") == "offline" and j.get("since") == offline.get("since"),
           "after a restart with MQTT: %r, before %r" % (j, offline))


@timeout(120)
def test_presence_acl_own_topic_only(t):
    """A device certificate may publish its own presence, never another
    thing's: the broker denies it and the relay's record does not change."""
    rig = AgentRig(t, services={"SSH": 2222}, max_tunnels=3)
    before, _ = wait_state(rig, "online", scaled(10), "the agent's presence")
    # Control: nanopi-02 on its own topic is taken (so a refusal below is the ACL's).
    rc, out, _ = publish_as(rig, OTHER, OTHER, '{"state":"online","services":["VNC"]}')
    expect(rc == 0, "mosquitto_pub as %s to its own presence topic: rc %d %s" % (OTHER, rc, out))
    j, _ = wait_state(rig, "online", scaled(10), "the own-topic control", name=OTHER)
    expect(j.get("services") == ["VNC"], "control: %r" % j)

    rc, out, cid = publish_as(rig, OTHER, THING, '{"state":"offline"}')
    rig.broker.wait_log("Denied PUBLISH from %s" % cid, scaled(5),
                        what="the broker's ACL refusing %s's presence for %s" % (OTHER, THING))
    t.note("mosquitto_pub to another thing's presence topic: rc %d %s" % (rc, out.strip()))
    time.sleep(scaled(1))
    j = thing(rig)
    expect(j.get("state") == "online" and j.get("since") == before.get("since"),
           "another device changed %s's presence: %r (before %r)" % (THING, j, before))


@timeout(30)
def test_presence_topic_option(t):
    """--presence-topic takes a filter with one '+' level, or off; anything
    else is a usage error (exit 2) saying why; --help documents it."""
    from harness import binary, pki
    p = pki()
    base = [binary("tunnel-relay"), "--cert", p.cert, "--key", p.key,
            "--db", str(t.tmp / "x.sqlite")]
    for bad, why in (("tunnels/presence/#", "'#'"), ("tunnels/presence", "exactly one '+'"),
                     ("a/b+/c", "whole level")):
        r = subprocess.run(base + ["--presence-topic", bad], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(10))
        err = r.stderr.decode(errors="replace")
        expect(r.returncode == 2 and "--presence-topic" in err and why in err,
               "--presence-topic %s: rc %d, stderr %r" % (bad, r.returncode, err))
    r = subprocess.run([binary("tunnel-relay"), "--help"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(10))
    expect(r.returncode == 0 and b"--presence-topic" in r.stdout and
           b"tunnels/presence/+" in r.stdout, "tunnel-relay --help: %r" % r.stdout[-400:])
