"""tunnel-relay --proxy-protocol behind a real HAProxy 2.6: TLS ends at
HAProxy (the relay's certificate), HAProxy re-encrypts to the relay
(`ssl verify required ca-file`) with `send-proxy-v2`, from its own source
address 127.0.0.2. A tunnel opened through the API carries bytes intact;
the relay names the client as HAProxy saw it (127.0.0.1 for the proxies,
127.0.0.7 for a client bound there), never HAProxy's 127.0.0.2. A
connection straight to the relay without a PROXY header (TLS at once, or
silence) is closed and counted in /metrics, while HAProxy's health checks
(every 0.5 s, a LOCAL header then TLS) are not; a version 1 header written by
hand, then TLS by hand, is served with the address it names.

Skipped when haproxy is not installed (Debian: apt-get install haproxy)."""

import http.client
import json
import re
import secrets
import shutil
import socket
import ssl
import time

from harness import (MiB, binary, child_env, expect, expect_closed, expect_echo, fail,
                     free_port, localproxy, pki, scaled, skip, timeout, wait_port, READY)

CLIENT_ADDR = "127.0.0.7"    # a client of HAProxy, distinct from HAProxy's own
HAPROXY_SOURCE = "127.0.0.2"  # HAProxy's address towards the relay


def need_haproxy():
    if not shutil.which("haproxy"):
        skip("haproxy is not installed (Debian: apt-get install haproxy)")


class Setup:
    """A relay with --proxy-protocol (--db, the API) and HAProxy before it."""

    def __init__(self, t):
        need_haproxy()
        self.t = t
        p = pki()
        self.relay_port = free_port()
        self.front_port = free_port()
        self.key = secrets.token_urlsafe(24)
        t.secret(self.key)
        key_file = t.tmp / "api.key"
        key_file.write_text(self.key + "\n")
        key_file.chmod(0o600)
        self.relay = t.spawn("relay", [
            binary("tunnel-relay"), "--bind", "127.0.0.1", "--port", self.relay_port,
            "--cert", p.cert, "--key", p.key, "--db", t.tmp / "relay.sqlite",
            "--api-key-file", key_file, "--proxy-protocol"])
        self.relay.wait_log(r"listening on 127\.0\.0\.1:%d, a PROXY protocol header first"
                            % self.relay_port, scaled(10))
        # HAProxy's certificate file: the chain, then the key.
        crt = t.tmp / "haproxy.pem"
        crt.write_text(open(p.cert).read() + open(p.key).read())
        cfg = t.tmp / "haproxy.cfg"
        cfg.write_text("""global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend tls_in
    bind 127.0.0.1:%d ssl crt %s
    default_backend relays
backend relays
    source %s
    server relay1 127.0.0.1:%d ssl verify required ca-file %s send-proxy-v2 check check-send-proxy inter 500
""" % (self.front_port, crt, HAPROXY_SOURCE, self.relay_port, p.ca))
        r = self.run_check(cfg)
        expect(r == 0, "haproxy -c -f %s failed" % cfg)
        # -db: in the foreground, its messages to the log file.
        self.haproxy = t.spawn("haproxy", ["haproxy", "-db", "-f", cfg],
                               env=child_env(home=t.tmp), check_exit=False)
        wait_port(self.front_port, scaled(10))
        self.ctx = ssl.create_default_context(cafile=p.ca)

    def run_check(self, cfg):
        import subprocess
        r = subprocess.run(["haproxy", "-c", "-f", str(cfg)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=scaled(30))
        if r.returncode:
            self.t.note(r.stdout.decode(errors="replace"))
        return r.returncode

    def https(self, method, path, body=None, source=None):
        """One request through HAProxy; (status, text)."""
        c = http.client.HTTPSConnection("127.0.0.1", self.front_port, context=self.ctx,
                                        timeout=scaled(10),
                                        source_address=(source, 0) if source else None)
        try:
            headers = {"Authorization": "Bearer %s" % self.key}
            data = None
            if body is not None:
                data = json.dumps(body)
                headers["Content-Type"] = "application/json"
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            c.close()

    def refused_count(self):
        status, text = self.https("GET", "/metrics")
        expect(status == 200, "GET /metrics through HAProxy: HTTP %s" % status)
        m = re.search(r"^tunnel_relay_proxy_header_refused_total (\d+)$", text, re.M)
        expect(m, "no tunnel_relay_proxy_header_refused_total in /metrics:\n%s" % text)
        return int(m.group(1))


def upgrade_request(port, token):
    return ("GET /tunnel?local-proxy-mode=source HTTP/1.1\r\n"
            "Host: 127.0.0.1:%d\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: aws.iot.securetunneling-3.0\r\n"
            "access-token: %s\r\n\r\n" % (port, token)).encode()


def status_of(tls_sock):
    head = b""
    while b"\r\n" not in head:
        chunk = tls_sock.recv(4096)
        if not chunk:
            break
        head += chunk
    m = re.match(rb"HTTP/1\.1 (\d{3})", head)
    return int(m.group(1)) if m else None


@timeout(120)
def test_tunnel_through_haproxy_names_the_client(t):
    s = Setup(t)
    status, text = s.https("POST", "/api/v1/tunnels",
                           {"destinationConfig": {"thingName": "dev-1", "services": ["SSH"]}})
    expect(status == 201, "open through HAProxy: HTTP %s %s" % (status, text))
    j = json.loads(text)
    tid, src, dst = j["tunnelId"], j["sourceAccessToken"], j["destinationAccessToken"]
    t.secret(src)
    t.secret(dst)
    # The routing key a load balancer hashes: the tunnel id's start.
    for tok in (src, dst):
        expect(re.match(r"^%s\.[A-Za-z0-9_-]{43}$" % re.escape(tid[:8]), tok),
               "token of tunnel %s is not KEY.RANDOM" % tid)

    echo = t.echo()
    dest = localproxy(t, "dest", ["-d", "127.0.0.1:%d" % echo.port], s.front_port, dst)
    dest.wait_log(READY, scaled(10))
    src_port = free_port()
    source = localproxy(t, "source", ["-s", str(src_port), "-b", "127.0.0.1"], s.front_port, src)
    source.wait_log(READY, scaled(10))
    sock = socket.create_connection(("127.0.0.1", src_port), timeout=scaled(5))
    t.defer(sock.close)
    expect_echo(sock, 2 * MiB, "a connection through HAProxy and the relay")

    # Both proxies were admitted under the client address HAProxy saw.
    log = s.relay.log()
    admitted = re.findall(r"127\.0\.0\.\d+, channel", log)
    expect(len(admitted) >= 2 and all(a.startswith("127.0.0.1,") for a in admitted),
           "the relay's handshake lines name %r, want the proxies' 127.0.0.1" % admitted)
    expect(HAPROXY_SOURCE not in log,
           "HAProxy's own address %s appears in the relay's log" % HAPROXY_SOURCE)

    # A refused handshake from 127.0.0.7 is logged as from 127.0.0.7.
    mark = s.relay.mark()
    raw = socket.create_connection(("127.0.0.1", s.front_port), timeout=scaled(5),
                                   source_address=(CLIENT_ADDR, 0))
    tls = s.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    t.defer(tls.close)
    tls.sendall(upgrade_request(s.front_port, "not-a-token"))
    expect(status_of(tls) == 401, "a bad token through HAProxy was not refused with 401")
    s.relay.wait_log(r"rejected handshake from %s: HTTP 401" % re.escape(CLIENT_ADDR),
                     scaled(5), since=mark)


@timeout(120)
def test_connections_without_a_header_are_closed_and_counted(t):
    s = Setup(t)
    before = s.refused_count()
    # TLS straight to the relay: the ClientHello is not a PROXY header.
    mark = s.relay.mark()
    raw = socket.create_connection(("127.0.0.1", s.relay_port), timeout=scaled(5))
    try:
        s.ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()
        fail("a TLS handshake without a PROXY header succeeded")
    except (ssl.SSLError, OSError):
        pass
    finally:
        raw.close()
    s.relay.wait_log(r"closed a connection from 127\.0\.0\.1: no PROXY header", scaled(5),
                     since=mark)
    # Garbage that starts like a header, then breaks.
    bad = socket.create_connection(("127.0.0.1", s.relay_port), timeout=scaled(5))
    t.defer(bad.close)
    bad.sendall(b"PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n")
    expect_closed(bad, scaled(5), "a connection with a malformed v1 header")
    # Silence: closed after 5 s (checked once a second).
    quiet = socket.create_connection(("127.0.0.1", s.relay_port), timeout=scaled(5))
    t.defer(quiet.close)
    expect_closed(quiet, scaled(9), "a connection that never sends its PROXY header")
    s.relay.wait_log(r"no PROXY header within 5 s", scaled(5), since=mark)
    after = s.refused_count()
    expect(after - before == 3, "refused connections counted %d -> %d, want +3" % (before, after))
    s.relay.expect_alive()


@timeout(60)
def test_v1_header_by_hand(t):
    s = Setup(t)
    mark = s.relay.mark()
    raw = socket.create_connection(("127.0.0.1", s.relay_port), timeout=scaled(5))
    t.defer(raw.close)
    # The header and nothing more; TLS comes after it on the same socket.
    raw.sendall(b"PROXY TCP4 192.0.2.9 127.0.0.1 40000 %d\r\n" % s.relay_port)
    tls = s.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    tls.sendall(upgrade_request(s.relay_port, "not-a-token"))
    expect(status_of(tls) == 401, "a bad token after a v1 header was not refused with 401")
    s.relay.wait_log(r"rejected handshake from 192\.0\.2\.9: HTTP 401", scaled(5), since=mark)
    tls.close()
    # v1 UNKNOWN (as a health check may send): the socket's own peer.
    mark = s.relay.mark()
    raw = socket.create_connection(("127.0.0.1", s.relay_port), timeout=scaled(5),
                                   source_address=(CLIENT_ADDR, 0))
    t.defer(raw.close)
    raw.sendall(b"PROXY UNKNOWN\r\n")
    tls = s.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    # Another token: the same one again would be logged at debug only.
    tls.sendall(upgrade_request(s.relay_port, "another-bad-token"))
    expect(status_of(tls) == 401, "a bad token after PROXY UNKNOWN was not refused with 401")
    s.relay.wait_log(r"rejected handshake from %s: HTTP 401" % re.escape(CLIENT_ADDR),
                     scaled(5), since=mark)
    tls.close()
    s.relay.expect_alive()


# fd_limit.h: FD_HEADROOM 32 (the count includes lws's wake-up pipe).
NOFILE = 80


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / 100  # utime + stime, in clock ticks


@timeout(90)
def test_full_with_waiting_connections_is_a_state_not_a_spin(t):
    """Connections waiting for their header count against the descriptor
    limit: past it, new ones are closed on arrival (one WARN), the relay
    stays idle, and accepts again once the waiting ones time out (logged
    once a second at most, not once each)."""
    p = pki()
    port = free_port()
    relay = t.spawn("relay", [
        "prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE), "--",
        binary("tunnel-relay"), "--bind", "127.0.0.1", "--port", port, "--cert", p.cert,
        "--key", p.key, "--db", t.tmp / "relay.sqlite", "--proxy-protocol"])
    relay.wait_log(r"listening on 127\.0\.0\.1:%d" % port, scaled(10))
    silent = []
    for _ in range(NOFILE):
        s = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
        t.defer(s.close)
        silent.append(s)
    relay.wait_log(r"WARN.*full: \d+ connections open", scaled(5))
    before, t0 = cpu_seconds(relay.pid), time.monotonic()
    time.sleep(2)
    used = (cpu_seconds(relay.pid) - before) / (time.monotonic() - t0)
    expect(used < 0.05, "relay used %.0f%% of a core while full" % (100 * used))
    expect(len(re.findall(r"full:", relay.log())) == 1, "more than one WARN line about being full")
    # The waiting ones time out: room again.
    relay.wait_log(r"accepting again", scaled(10))
    time.sleep(1.5)  # every waiting one has timed out: a line or two for them all
    # The relay's 1-s tick times them out; when their arrivals straddle a
    # tick, a second tick (1 s later) logs the rest: at most one line a second.
    lines = len(re.findall(r"no PROXY header within 5 s", relay.log()))
    expect(1 <= lines <= 2, "the timed-out connections were logged in %d lines, not at most "
           "once a second (rate limit)" % lines)
    raw = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
    t.defer(raw.close)
    raw.sendall(b"PROXY TCP6 2001:db8::5 ::1 40000 %d\r\n" % port)
    tls = ssl.create_default_context(cafile=p.ca).wrap_socket(raw, server_hostname="127.0.0.1")
    tls.sendall(upgrade_request(port, "not-a-token"))
    expect(status_of(tls) == 401, "a client after the relay was full was not served")
    relay.wait_log(r"rejected handshake from 2001:db8::5: HTTP 401", scaled(5))
    tls.close()
    relay.expect_alive()
