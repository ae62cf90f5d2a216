"""Beyond three steps and TCP (issue 14): localproxy carrying one connection
on stdin/stdout (ssh's ProxyCommand), listening on a Unix socket, carrying
UDP datagrams; `tunnelctl ssh` and `tunnelctl forward`."""

import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time

from harness import (MiB, READY, Proc, binary, child_env, connect, expect, expect_echo, fail,
                     free_port, localproxy, pki, scaled, start_sshd, timeout, wait_until)


def relay_args(relay):
    return ["-e", "127.0.0.1:%d" % relay.port, "-c", pki().ca]


def destination(t, services, udp=(), unix=None):
    """A relay with one tunnel and its destination localproxy: services
    maps a name to a local TCP port; udp names those that are UDP."""
    spec = t.spec("t1", list(services))
    relay = t.relay([spec])
    targets = []
    for name, port in services.items():
        targets.append("%s=%s127.0.0.1:%d" % (name, "udp:" if name in udp else "", port))
    dest = localproxy(t, "dest", ["-d", ",".join(targets)], relay.port, spec.destination_token,
                      verbose=5)
    dest.wait_log(READY, scaled(10))
    return relay, spec, dest


class StdioProxy:
    """localproxy --stdio SERVICE with pipes as its stdin and stdout; its
    stderr in a log file of the test (sanitizer reports are found there)."""

    def __init__(self, t, relay, spec, service):
        self.log_path = t.tmp / "stdio-proxy.log"
        self.logf = open(self.log_path, "ab")
        t.defer(self.logf.close)
        env = child_env({"AWSIOT_TUNNEL_ACCESS_TOKEN": spec.source_token}, home=t.tmp)
        self.p = subprocess.Popen([binary("localproxy"), "--stdio", service] + relay_args(relay),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.logf, env=env)
        t.defer(self.kill)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)


@timeout(90)
def test_stdio_carries_one_connection_and_exits(t):
    echo = t.echo()
    relay, spec, dest = destination(t, {"SSH": echo.port})
    sp = StdioProxy(t, relay, spec, "SSH")
    data = os.urandom(3 * MiB + 7)
    result = {}

    def read_all():
        chunks, got = [], 0
        while got < len(data):
            b = sp.p.stdout.read1(65536)
            if not b:
                break
            chunks.append(b)
            got += len(b)
        result["data"] = b"".join(chunks)

    reader = threading.Thread(target=read_all)
    reader.start()
    sp.p.stdin.write(data)
    sp.p.stdin.flush()
    reader.join(scaled(60))
    expect(not reader.is_alive(), "the echo did not come back within %.0fs" % scaled(60))
    expect(hashlib.sha256(result.get("data", b"")).digest() == hashlib.sha256(data).digest(),
           "%d bytes came back, not the %d sent" % (len(result.get("data", b"")), len(data)))
    # The end of its input is the end of the connection and of the program.
    sp.p.stdin.close()
    try:
        rc = sp.p.wait(scaled(10))
    except subprocess.TimeoutExpired:
        fail("localproxy --stdio did not exit after its stdin closed")
    expect(rc == 0, "localproxy --stdio exited with %d" % rc)
    dest.wait_log(r"closed", scaled(10))
    dest.expect_alive()


@timeout(120)
def test_ssh_proxycommand_stdio(t):
    sshd_port, userkey = start_sshd(t)
    relay, spec, dest = destination(t, {"SSH": sshd_port})
    proxy_cmd = "%s --stdio SSH -e 127.0.0.1:%d -c %s" % (binary("localproxy"), relay.port, pki().ca)
    expect(spec.source_token not in proxy_cmd, "the token is in the ProxyCommand")
    data = os.urandom(2 * MiB)
    cmd = ["/usr/bin/ssh", "-i", str(userkey), "-o", "ProxyCommand=" + proxy_cmd,
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % scaled(10),
           "-o", "LogLevel=ERROR", "root@device", "echo tunnel-ok; sha256sum"]
    env = child_env({"AWSIOT_TUNNEL_ACCESS_TOKEN": spec.source_token}, home=t.tmp)
    try:
        r = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=scaled(60), env=env)
    except subprocess.TimeoutExpired:
        fail("ssh with ProxyCommand did not finish within %.0fs" % scaled(60))
    out = r.stdout.decode(errors="replace").split("\n")
    err = r.stderr.decode(errors="replace")
    expect(r.returncode == 0, "ssh exit code %d; stdout %r; stderr %r" % (r.returncode, out, err))
    expect(out[0] == "tunnel-ok" and out[1].split()[:1] == [hashlib.sha256(data).hexdigest()],
           "ssh printed %r" % out[:2])
    expect(spec.source_token not in err, "the token appears in ssh's stderr")
    dest.expect_alive()


@timeout(90)
def test_unix_socket_source(t):
    echo = t.echo(banner=b"E")
    relay, spec, dest = destination(t, {"SSH": echo.port})
    path = str(t.tmp / "ssh.sock")
    src = localproxy(t, "source", ["-s", "SSH=unix:" + path], relay.port, spec.source_token)
    src.wait_log(r"listening on unix:%s for service SSH" % path, scaled(10))
    socks = []
    for _ in range(3):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        t.defer(s.close)
        s.settimeout(scaled(10))
        s.connect(path)
        expect(s.recv(1) == b"E", "no banner from the service through the Unix socket")
        socks.append(s)
    for s in socks:
        expect_echo(s, 1 * MiB, "connection on the Unix socket")
    src.stop()
    expect(not os.path.exists(path), "the Unix socket was left behind at %s" % path)
    dest.expect_alive()


class UdpEcho:
    """A UDP echo service on 127.0.0.1 that counts datagrams."""

    def __init__(self, t):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Ten flows' 63 KiB datagrams at once overflow a default buffer (and
        # UDP drops them: the clients retry, but each retry is a new flow
        # once the old one idled out).
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.peers = set()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        t.defer(self.stop)

    def _run(self):
        while self.running:
            try:
                b, addr = self.sock.recvfrom(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            self.peers.add(addr)
            self.sock.sendto(b, addr)

    def stop(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()


def udp_client():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(scaled(5))
    return s


def udp_roundtrip(s, port, payload, tries=5):
    """Sends payload until its echo comes back (UDP may drop the first
    datagrams while the flow's connection starts)."""
    for _ in range(tries):
        s.sendto(payload, ("127.0.0.1", port))
        try:
            while True:
                b = s.recv(70000)
                if b == payload:
                    return
        except socket.timeout:
            continue
    fail("no echo of a %d-byte datagram after %d tries" % (len(payload), tries))


@timeout(120)
def test_udp_ten_flows(t):
    echo = UdpEcho(t)
    relay, spec, dest = destination(t, {"DNS": echo.port}, udp=("DNS",))
    port = free_port()
    idle = max(2, int(scaled(3)))
    src = localproxy(t, "source", ["-s", "DNS=udp:%d" % port, "--udp-idle-timeout", str(idle)],
                     relay.port, spec.source_token, verbose=5)
    src.wait_log(r"listening on udp:localhost:%d for service DNS" % port, scaled(10))
    clients = [udp_client() for _ in range(10)]
    for c in clients:
        t.defer(c.close)
    errors = []

    def flow(i):
        try:
            # Sizes that would merge or split on a stream: boundaries must hold.
            for n in (1, 512, 1400, 9000, 64512, 3):
                udp_roundtrip(clients[i], port, bytes([i]) * n)
        except Exception as e:  # reported below
            errors.append("flow %d: %s" % (i, e))

    threads = [threading.Thread(target=flow, args=(i,)) for i in range(10)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(scaled(60))
    expect(not errors, "; ".join(errors))
    # One flow, one connection, one socket on the device (a retry after a
    # drop may have made a flow anew, never fewer).
    expect(len(echo.peers) >= 10, "the service saw %d flows, not 10" % len(echo.peers))
    # An eleventh client address is refused while ten flows are open (each
    # freshly active, so none idles out meanwhile).
    for i, c in enumerate(clients):
        udp_roundtrip(c, port, b"still here %d" % i)
    extra = udp_client()
    t.defer(extra.close)
    extra.sendto(b"x", ("127.0.0.1", port))
    src.wait_log(r"refusing a local connection on udp:.*10 connections", scaled(5))
    # Too big for one DATA message: dropped, with a log line.
    clients[0].sendto(b"z" * 64513, ("127.0.0.1", port))
    src.wait_log(r"dropping a 64513-byte UDP datagram", scaled(5))
    # Idle flows end: a new client is served afterwards.
    wait_until(lambda: src.log().count("UDP flow idle") >= 10, idle + scaled(15),
               "idle UDP flows to end")
    udp_roundtrip(extra, port, b"after idle")
    src.expect_alive()
    dest.expect_alive()



# --------------------------------------------------------------------------
# tunnelctl ssh and forward, with the device's agent starting its side
# --------------------------------------------------------------------------

def tunnel_status(relay, tid):
    j = relay.ctl_json("describe", tid)
    return j["tunnel"]["status"]


def opened_tunnel_id(err):
    m = re.search(r"opened tunnel (\S+) to", err)
    expect(m is not None, "tunnelctl did not say which tunnel it opened: %r" % err)
    return m.group(1)


@timeout(120)
def test_tunnelctl_ssh_one_command(t):
    from test_agent import AgentRig
    from test_api import THING
    sshd_port, userkey = start_sshd(t)
    rig = AgentRig(t, services={"SSH": sshd_port})
    known = t.tmp / "known_hosts"
    ssh_opts = ["-i", str(userkey), "-o", "StrictHostKeyChecking=accept-new",
                "-o", "UserKnownHostsFile=%s" % known, "-o", "HashKnownHosts=no", "-o", "BatchMode=yes",
                "-o", "LogLevel=ERROR"]
    rc, out, err = rig.relay.ctl("ssh", "root@" + THING, *ssh_opts, "--",
                                 "uname -a; echo beyond-ok; exit 7", timeout=scaled(60))
    expect(rc == 7, "tunnelctl ssh: exit %d, expected ssh's 7; stdout %r; stderr %r" % (rc, out, err))
    expect("beyond-ok" in out and "Linux" in out, "the remote command's output: %r" % out)
    tid = opened_tunnel_id(err)
    expect(tunnel_status(rig.relay, tid) == "CLOSED", "the tunnel tunnelctl opened is not closed")
    # known_hosts names the device, not the proxy's fake host.
    text = known.read_text()
    expect(text.startswith(THING + " "), "known_hosts does not name %s: %r" % (THING, text[:80]))
    # A second run finds the key under that name (no new entry).
    rc, out, err = rig.relay.ctl("ssh", "root@" + THING, *ssh_opts, "true", timeout=scaled(60))
    expect(rc == 0, "second tunnelctl ssh: exit %d; stderr %r" % (rc, err))
    expect(known.read_text() == text, "known_hosts changed on the second run")

    # An operator with only a source token: no API key, no API call.
    j = rig.open()
    rig.wait_dest_connected(j["tunnelId"], 0, "the agent's localproxy for the shared tunnel")
    rc, out, err = rig.relay.ctl("--token-env", "MY_TOKEN", "ssh", "root@" + THING, *ssh_opts,
                                 "echo token-only", key=None, timeout=scaled(60),
                                 env_extra={"MY_TOKEN": j["sourceAccessToken"]})
    expect(rc == 0 and "token-only" in out, "tunnelctl --token-env ssh: exit %d, stdout %r, "
           "stderr %r" % (rc, out, err))
    expect(tunnel_status(rig.relay, j["tunnelId"]) != "CLOSED",
           "tunnelctl closed a tunnel it did not open")
    for text in (out, err):
        expect(j["sourceAccessToken"] not in text, "the token appears in tunnelctl's output")
    rig.agent.expect_alive()


@timeout(120)
def test_tunnelctl_forward_until_ctrl_c(t):
    from test_agent import AgentRig
    from test_api import THING
    rig = AgentRig(t)
    port = free_port()
    relay = rig.relay
    argv = [binary("tunnelctl"), "--url", relay.url, "--ca", relay.ca, "forward", THING, "SSH",
            str(port)]
    fwd = Proc(t, "forward", argv, env=child_env({"TUNNEL_API_KEY": relay.key}, home=t.tmp))
    fwd.wait_log(r"Forwarding SSH of %s on localhost:%d" % (THING, port), scaled(30))
    fwd.wait_log(r"tunnel ready", scaled(10))
    s = connect_retry(port)
    expect_echo(s, 1 * MiB, "a connection through tunnelctl forward")
    s.close()
    tid = opened_tunnel_id(fwd.log())
    os.kill(fwd.pid, signal.SIGINT)
    rc = fwd.wait_exit(scaled(15))
    expect(rc == 0, "tunnelctl forward exited with %s after Ctrl-C" % rc)
    expect(tunnel_status(relay, tid) == "CLOSED", "the forwarded tunnel is not closed after Ctrl-C")
    rig.agent.expect_alive()


def connect_retry(port):
    deadline = time.monotonic() + scaled(10)
    while True:
        try:
            return connect(port, scaled(5))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
