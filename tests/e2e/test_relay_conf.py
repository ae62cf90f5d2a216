"""tunnel-relay --config FILE (relay.conf: "key = value", the long options)
and --check: a relay started from a file alone serves the API and tunnels;
the command line wins over the file; --check says precisely what is wrong
(a key that is not the certificate's, a database directory that does not
exist, an unknown key) and exits 1, or 0 when all is well."""

import os
import subprocess

from harness import binary, child_env, expect, free_port, pki, scaled, timeout


def write_conf(t, name, lines):
    path = t.tmp / name
    path.write_text("# written by test_relay_conf\n" + "\n".join(lines) + "\n")
    return str(path)


def check(t, conf, *extra):
    r = subprocess.run([binary("tunnel-relay"), "--config", conf, "--check"] + list(extra),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=child_env(home=t.tmp), timeout=scaled(30))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def base_lines(t, port):
    p = pki()
    key_file = t.tmp / "api.key"
    fd = os.open(str(key_file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("k" * 32 + "\n")
    t.secret("k" * 32)
    return ["bind = 127.0.0.1", "port = %d" % port, "cert = %s" % p.cert, "key=%s" % p.key,
            "db = %s" % (t.tmp / "relay.sqlite"), "api-key-file = %s" % key_file,
            "  max-connections = 3  "]


@timeout(60)
def test_relay_runs_from_conf_and_check_passes(t):
    port = free_port()
    conf = write_conf(t, "relay.conf", base_lines(t, port))
    rc, out, err = check(t, conf)
    expect(rc == 0 and "configuration OK" in out and "127.0.0.1:%d" % port in out,
           "--check of a good relay.conf: exit %d, %r %r" % (rc, out, err))
    # The command line wins: --port moves it.
    other = free_port()
    relay = t.spawn("relay", [binary("tunnel-relay"), "--config", conf, "--port", str(other)],
                    env=child_env(home=t.tmp))
    relay.wait_log(r"listening on 127\.0\.0\.1:%d\b" % other, scaled(10))
    relay.wait_log(r"API on", scaled(1), what="the API, turned on by api-key-file in relay.conf")
    expect(relay.has_log(r"at most 3 connections each"),
           "max-connections = 3 in relay.conf did not reach the relay")
    rc = relay.stop()
    expect(rc == 0, "relay from relay.conf: exit %s after SIGTERM" % rc)


@timeout(60)
def test_check_says_what_is_wrong(t):
    port = free_port()
    p = pki()
    lines = [ln for ln in base_lines(t, port) if not ln.startswith(("key", "db"))]
    conf = write_conf(t, "bad.conf", lines + [
        "key = %s" % os.path.join(os.path.dirname(p.key), "ca.pem"),
        "db = %s" % (t.tmp / "missing-dir" / "relay.sqlite")])
    rc, out, err = check(t, conf)
    expect(rc == 1, "--check of a broken relay.conf: exit %d (want 1): %r" % (rc, err))
    expect("--key %s: not a PEM private key" % os.path.join(os.path.dirname(p.key), "ca.pem")
           in err, "--check: the certificate in place of the key not named: %r" % err)
    expect("--db %s: its directory %s: No such file or directory" %
           (t.tmp / "missing-dir" / "relay.sqlite", t.tmp / "missing-dir") in err,
           "--check: the missing database directory not named: %r" % err)
    expect("2 problems found" in err, "--check: no count of problems: %r" % err)
    # The command line's --key fixes one of them.
    rc, out, err = check(t, conf, "--key", p.key)
    expect(rc == 1 and "1 problem found" in err and "--key" not in err,
           "--check with a good --key on the command line: exit %d, %r" % (rc, err))

    # The console's users file, when the console is on.
    rc, out, err = check(t, conf, "--key", p.key, "--db", str(t.tmp / "relay.sqlite"),
                         "--users", str(t.tmp / "no-users"))
    expect(rc == 1 and "--users %s: cannot read: No such file or directory" %
           (t.tmp / "no-users") in err, "--check with a missing users file: exit %d, %r" % (rc, err))

    typo = write_conf(t, "typo.conf", base_lines(t, port) + ["max-tunnel = 5"])
    rc, out, err = check(t, typo)
    expect(rc == 1 and "typo.conf:9: unknown key 'max-tunnel'" in err,
           "--check of a misspelt key: exit %d, %r" % (rc, err))
    r = subprocess.run([binary("tunnel-relay"), "--config", typo], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=child_env(home=t.tmp), timeout=scaled(30))
    expect(r.returncode == 2, "starting with a misspelt key: exit %d, want 2" % r.returncode)
