"""make install: the programs, man pages made from --help, the units,
sysusers and tmpfiles entries, relay.conf, the mosquitto drop-in, the web
console with its xterm.js and examples, into an empty DESTDIR tree; the
installed binaries run."""

import os
import re
import subprocess

from harness import ROOT, SAN, expect, scaled, timeout

PROGRAMS = {"localproxy": "man1/localproxy.1", "tunnelctl": "man1/tunnelctl.1",
            "tunnel-relay": "man8/tunnel-relay.8", "tunnel-agent": "man8/tunnel-agent.8",
            "tunnel-term": "man8/tunnel-term.8"}


@timeout(180)
def test_make_install_into_destdir(t):
    dest = t.tmp / "root"
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-s", "-C", str(ROOT), "install", "SAN=%d" % (1 if SAN else 0),
                        "PREFIX=/usr", "DESTDIR=%s" % dest, "MANOUT=%s" % (t.tmp / "man")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                       timeout=scaled(150))
    expect(r.returncode == 0, "make install failed:\n%s" % r.stdout.decode(errors="replace")[-2000:])
    for prog, page in PROGRAMS.items():
        exe = dest / "usr/bin" / prog
        expect(exe.is_file() and os.access(exe, os.X_OK), "%s not installed as an executable" % exe)
        h = subprocess.run([str(exe), "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=scaled(10))
        expect(h.returncode == 0, "installed %s --help: exit %d" % (prog, h.returncode))
        man = dest / "usr/share/man" / page
        expect(man.is_file(), "man page %s not installed" % man)
        # The page is made from --help: every long option it lists is in it.
        text = man.read_text(errors="replace").replace("\\-", "-")
        options = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", h.stdout.decode(errors="replace")))
        missing = sorted(o for o in options if o not in text)
        expect(options and not missing, "%s: options of --help missing from %s: %s" %
               (prog, page, missing))
    unit = (dest / "usr/lib/systemd/system/tunnel-agent.service").read_text()
    expect("ExecStart=/usr/bin/tunnel-agent " in unit, "the agent's unit does not start "
           "/usr/bin/tunnel-agent")
    unit = (dest / "usr/lib/systemd/system/tunnel-relay.service").read_text()
    expect("ExecStart=/usr/bin/tunnel-relay --config /etc/tunnel-relay/relay.conf" in unit,
           "the relay's unit does not start /usr/bin/tunnel-relay with relay.conf")
    for f in ("usr/lib/sysusers.d/tunnel-agent.conf",
              "usr/share/doc/secure-tunnel/examples/agent.json",
              "usr/share/tunnel-relay/mosquitto/tunnel.conf",
              "usr/share/tunnel-relay/mosquitto/acl",
              "usr/share/tunnel-relay/mosquitto/bridge.conf",
              "usr/share/doc/secure-tunnel/examples/haproxy.cfg",
              "usr/lib/sysusers.d/tunnel-relay.conf", "usr/lib/tmpfiles.d/tunnel-relay.conf",
              "usr/lib/tmpfiles.d/tunnel-agent.conf",
              "usr/share/doc/secure-tunnel/examples/relay.conf",
              # the web console, and xterm.js where the relay serves /console/vendor/ from
              "usr/share/tunnel-relay/console/index.html",
              "usr/share/tunnel-relay/console/terminal.html",
              "usr/share/tunnel-relay/console/js/terminal.js",
              "usr/share/tunnel-relay/console/node_modules/@xterm/xterm/lib/xterm.js",
              "usr/share/tunnel-relay/console/node_modules/@xterm/addon-fit/lib/addon-fit.js"):
        expect((dest / f).is_file(), "%s not installed" % f)
