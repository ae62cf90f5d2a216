"""Command-line behaviour of localproxy and tunnel-relay, TLS verification,
and tokens kept out of logs."""

import json
import os
import secrets
import subprocess
import time

from harness import (MiB, READY, binary, child_env, expect, expect_echo,
                     fail, free_port, localproxy, make_pki, pki, scaled,
                     timeout)


@timeout(30)
def test_localproxy_help(t):
    r = subprocess.run([binary("localproxy"), "--help"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=child_env(home=t.tmp), timeout=scaled(10))
    out = r.stdout.decode(errors="replace")
    expect(r.returncode == 0, "localproxy --help: exit code %d, expected 0; output:\n%s" %
           (r.returncode, out[-2000:]))
    for opt in ("-s", "-d"):
        expect(opt in out, "localproxy --help does not mention %s:\n%s" % (opt, out[-2000:]))
    expect(len(out.strip().splitlines()) >= 3, "help text is suspiciously short: %r" % out)


@timeout(30)
def test_localproxy_no_endpoint(t):
    home = t.tmp / "home"
    home.mkdir()
    tok = secrets.token_urlsafe(32)
    t.secret(tok)
    env = child_env({"AWSIOT_TUNNEL_ACCESS_TOKEN": tok}, home=home)
    for mode_args in (["-s", str(free_port())], ["-d", "127.0.0.1:%d" % free_port()]):
        p = t.spawn("localproxy-no-endpoint", [binary("localproxy")] + mode_args +
                    ["-c", pki().ca], env=env, cwd=str(home))
        rc = p.wait_exit(scaled(10))
        out = p.log()
        expect(rc != 0, "%s with no endpoint: exit code 0, expected an error" % mode_args)
        expect(rc > 0, "%s with no endpoint: died from signal %d" % (mode_args, -rc))
        expect("AWSIOT_TUNNEL_ENDPOINT" in out and "--config" in out,
               "%s with no endpoint: message does not name AWSIOT_TUNNEL_ENDPOINT and --config:\n%s"
               % (mode_args, out[-2000:]))


@timeout(30)
def test_localproxy_bad_arguments(t):
    cases = [
        ["-s", "notaport", "-e", "127.0.0.1:1"],
        ["-s", "2222", "-d", "127.0.0.1:22", "-e", "127.0.0.1:1"],  # both modes
        ["-e", "127.0.0.1:1"],                                       # no mode at all
        ["-s", "70000", "-e", "127.0.0.1:1"],
        ["--no-such-option"],
    ]
    tok = secrets.token_urlsafe(32)
    t.secret(tok)
    for args in cases:
        p = t.spawn("localproxy-bad-args", [binary("localproxy")] + args + ["-c", pki().ca],
                    env=child_env({"AWSIOT_TUNNEL_ACCESS_TOKEN": tok}, home=t.tmp))
        rc = p.wait_exit(scaled(10))
        expect(rc > 0, "localproxy %s: exit code %s, expected a non-zero exit (not a signal)"
               % (" ".join(args), rc))
        expect(p.log().strip(), "localproxy %s: exited %d without saying why" % (" ".join(args), rc))


@timeout(60)
def test_wrong_ca_refused(t):
    """A client that does not trust the relay's certificate never completes
    a handshake (and so does not use up its token)."""
    other = make_pki(t.tmp / "other-pki")
    echo = t.echo()
    spec = t.spec("t1")
    relay = t.relay([spec])
    bad = localproxy(t, "dest-wrong-ca", ["-d", "127.0.0.1:%d" % echo.port], relay.port,
                     spec.destination_token, ca=other.ca)
    time.sleep(scaled(3))
    expect(not bad.has_log(READY), "localproxy trusting another CA reached 'tunnel ready'")
    expect(not relay.proc.has_log(r"(?i)\b(admitted|joined|connected)\b.*\bdestination\b"),
           "relay admitted a destination that should have failed TLS verification")
    bad.stop()
    # The token is still unused: a correctly configured proxy gets in.
    tun = t.tunnel({"SSH": echo.port}, relay=relay, spec=spec)
    s = tun.connect()
    expect_echo(s, 1 * MiB, "tunnel after the wrong-CA attempt")


@timeout(60)
def test_destination_mapping_mismatch_exits(t):
    """The tunnel offers SSH; a destination that maps only HTTP exits with
    an error instead of running uselessly."""
    echo = t.echo()
    spec = t.spec("t1", ["SSH"])
    relay = t.relay([spec])
    p = localproxy(t, "dest-mismatch", ["-d", "HTTP=127.0.0.1:%d" % echo.port],
                   relay.port, spec.destination_token)
    rc = p.wait_exit(scaled(15))
    expect(rc > 0, "destination with a mismatched mapping: exit code %s, expected > 0" % rc)
    expect("SSH" in p.log() or "HTTP" in p.log(),
           "the error does not name the service:\n%s" % p.tail(20))


@timeout(30)
def test_relay_bad_tunnels_file(t):
    bad = t.tmp / "bad.json"
    cases = {
        "not json": "{ this is not json",
        "missing tokens": json.dumps({"tunnels": [{"id": "t1", "services": ["SSH"]}]}),
        "bad service id": json.dumps({"tunnels": [{
            "id": "t1", "services": ["bad service!"],
            "sourceAccessToken": "a" * 43, "destinationAccessToken": "b" * 43}]}),
    }
    for what, text in cases.items():
        bad.write_text(text)
        p = t.spawn("relay-bad-file", [
            binary("tunnel-relay"), "--bind", "127.0.0.1", "--port", free_port(),
            "--cert", pki().cert, "--key", pki().key, "--tunnels", bad])
        try:
            rc = p.wait_exit(scaled(10))
        except AssertionError:
            fail("relay kept running with a tunnels file with %s" % what)
        expect(rc > 0, "relay with a tunnels file with %s: exit code %s" % (what, rc))
        expect(p.log().strip(), "relay refused a tunnels file with %s without a message" % what)


@timeout(90)
def test_tokens_never_logged_at_trace(t):
    """Everything at -v 6, a rejected handshake with a bogus token, data,
    reconnects: no token in any log (checked in teardown for every test,
    and here explicitly)."""
    echo = t.echo()
    tun = t.tunnel({"SSH": echo.port}, verbose=6)
    s = tun.connect()
    expect_echo(s, 256 * 1024, "trace-level tunnel")
    bogus = secrets.token_urlsafe(32)
    t.secret(bogus)
    w = tun.relay.ws("source", token=bogus)
    expect(w.status == 401, "bogus token: HTTP %s, expected 401" % w.status)
    w.close()
    # a reconnect (client token path) at trace level too
    smark = tun.source.mark()
    tun.relay.proc.kill()
    tun.relay.start()
    tun.source.wait_log(READY, scaled(45), since=smark, what="source reconnect")
    for p in t.procs:
        text = p.log()
        for sec in t.secrets:
            expect(sec not in text, "a token appears in %s's log" % p.name)
