"""The packages and the static localproxy (docs/install.md): `make deb` for
the machine, arm64 and armhf, `make static`; the packages unpacked into an
empty tree (dpkg -x) and their binaries run; an SSH session carried by the
arm64 tunnel-agent and arm64 localproxy under qemu-aarch64-static (no binfmt:
the agent's `localproxy` setting is a wrapper that runs it under qemu), from
the static x86_64 localproxy as the source, through the native relay; and
the static localproxy finding another distribution's CA bundle, or saying
that -c is needed.

The builds go into build/deb/ARCH and build/static (make rebuilds them only
when a source changed, so the suite's second run under SAN=1 reuses them).
"""

import hashlib
import json
import os
import shutil
import subprocess

from harness import (MiB, ROOT, Proc, child_env, expect, free_port, scaled, skip, start_sshd,
                     timeout)
from test_agent import SUBSCRIBED, AgentRig, ssh_run
from test_api import ApiRelay

QEMU = "/usr/bin/qemu-aarch64-static"
DEVICE_ARCH = "arm64"


def native_arch():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def make(t, *args, limit=400):
    """Runs make in the tree (outputs under build/ only)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-s", "-C", str(ROOT), "SAN=0"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                       timeout=scaled(limit) if limit else None)
    out = r.stdout.decode(errors="replace")
    expect(r.returncode == 0, "make %s failed:\n%s" % (" ".join(args), out[-3000:]))
    return out


def need_tools(*paths):
    for p in paths:
        if not shutil.which(p) and not os.path.exists(p):
            skip("%s not installed (make deps)" % p)


def unpack(t, arch, root):
    """make deb ARCH=arch, then every .deb into root with dpkg -x: {package: deb path}."""
    make(t, "deb", "ARCH=%s" % arch, limit=None)
    debs = sorted((ROOT / "build" / "deb" / arch).glob("*_%s.deb" % arch))
    expect(debs, "make deb ARCH=%s made no .deb" % arch)
    out = {}
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=60)
        out[deb.name.split("_")[0]] = deb
    return out


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def runs(argv, what):
    r = subprocess.run(argv + ["--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=scaled(30))
    out = r.stdout.decode(errors="replace")
    expect(r.returncode == 0 and ("Usage" in out or "usage" in out),
           "%s --help: exit %d, %r" % (what, r.returncode, out[:300]))


# ==========================================================================

@timeout(600)
def test_native_packages_install_and_run(t):
    """The machine's three packages: what each holds (no file in two),
    their Depends, conffiles kept, units enabled by nothing; unpacked into
    an empty tree, every binary there runs."""
    need_tools("dpkg-buildpackage", "lintian")
    root = t.tmp / "root"
    debs = unpack(t, native_arch(), root)
    expect(set(debs) == {"tunnel-relay", "tunnel-agent", "localproxy"},
           "packages made: %s" % sorted(debs))
    owners = {}
    for pkg, deb in debs.items():
        listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                                 check=True, timeout=30).stdout
        for line in listing.splitlines():
            path = line.split()[-1]
            if path.endswith("/") or "/usr/share/doc/" in path:
                continue
            expect(path not in owners, "%s is in both %s and %s" % (path, owners.get(path), pkg))
            owners[path] = pkg
    want = {"./usr/bin/tunnel-relay": "tunnel-relay", "./usr/bin/tunnel-agent": "tunnel-agent",
            "./usr/bin/localproxy": "localproxy", "./usr/bin/tunnelctl": "localproxy",
            "./etc/tunnel-relay/relay.conf": "tunnel-relay",
            "./etc/tunnel-agent/agent.json": "tunnel-agent",
            "./lib/systemd/system/tunnel-relay.service": "tunnel-relay",
            "./lib/systemd/system/tunnel-agent.service": "tunnel-agent",
            "./usr/lib/sysusers.d/tunnel-relay.conf": "tunnel-relay",
            "./usr/lib/tmpfiles.d/tunnel-relay.conf": "tunnel-relay",
            "./usr/lib/sysusers.d/tunnel-agent.conf": "tunnel-agent",
            "./usr/share/tunnel-relay/mosquitto/tunnel.conf": "tunnel-relay",
            "./usr/share/tunnel-relay/mosquitto/acl": "tunnel-relay",
            "./usr/share/tunnel-relay/mosquitto/bridge.conf": "tunnel-relay",
            "./usr/bin/tunnel-term": "tunnel-relay",
            "./usr/share/tunnel-relay/console/index.html": "tunnel-relay",
            "./usr/share/tunnel-relay/console/node_modules/@xterm/xterm/lib/xterm.js":
                "tunnel-relay"}
    for path, pkg in want.items():
        expect(owners.get(path) == pkg, "%s: in %s, expected in %s" % (path, owners.get(path), pkg))
    relay_deps = field(debs["tunnel-relay"], "Depends")
    for dep in ("libwebsockets17", "libwebsockets-evlib-ev", "libssl3", "libsqlite3-0", "libev4",
                "libssh-4", "localproxy (= "):
        expect(dep in relay_deps, "tunnel-relay Depends lacks %s: %s" % (dep, relay_deps))
    expect("localproxy (= " in field(debs["tunnel-agent"], "Depends"),
           "tunnel-agent does not depend on its localproxy")
    lp_deps = field(debs["localproxy"], "Depends")
    expect("libwebsockets" not in lp_deps, "localproxy depends on libwebsockets: %s" % lp_deps)
    ctl = t.tmp / "control"
    subprocess.run(["dpkg-deb", "-e", str(debs["tunnel-relay"]), str(ctl)], check=True, timeout=30)
    expect((ctl / "conffiles").read_text().split() == ["/etc/tunnel-relay/relay.conf"],
           "tunnel-relay conffiles: %r" % (ctl / "conffiles").read_text())
    postinst = (ctl / "postinst").read_text()
    expect("systemd-sysusers" in postinst, "tunnel-relay's postinst creates no user")
    expect("deb-systemd-invoke start" not in postinst and
           "deb-systemd-helper enable" not in postinst.replace(
               "was-enabled 'tunnel-relay.service'; then\n\t\t\t# Create new symlinks, if any.\n"
               "\t\t\tdeb-systemd-helper enable", ""),
           "tunnel-relay's postinst enables or starts the unit:\n%s" % postinst)
    for prog in ("tunnel-relay", "tunnel-term", "tunnel-agent", "localproxy", "tunnelctl"):
        exe = root / "usr/bin" / prog
        expect(os.access(exe, os.X_OK), "%s not executable after dpkg -x" % exe)
        runs([str(exe)], "unpacked " + prog)
    # The unpacked relay reads its packaged relay.conf: --check names what is missing.
    r = subprocess.run([str(root / "usr/bin/tunnel-relay"), "--config",
                        str(root / "etc/tunnel-relay/relay.conf"), "--check"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=scaled(30))
    out = r.stdout.decode(errors="replace")
    expect(r.returncode == 1 and "--cert /etc/tunnel-relay/relay.pem: cannot read" in out,
           "packaged relay.conf --check without certificates: exit %d, %r" % (r.returncode, out))


def elf_machine(path):
    """(class, e_machine) from an ELF header: (2, 0xB7) is aarch64, (1, 0x28) 32-bit ARM."""
    with open(path, "rb") as f:
        head = f.read(20)
    expect(head[:4] == b"\x7fELF", "%s is not an ELF file" % path)
    return head[4], int.from_bytes(head[18:20], "little")


def need_arch_libs(arch, loader):
    """The foreign architecture's libraries that make deps installs."""
    if not os.path.exists(loader):
        skip("no %s C library (make deps)" % arch)
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "libssl-dev:%s" % arch],
                       capture_output=True, text=True, timeout=30)
    if r.stdout != "install ok installed":
        skip("libssl-dev:%s is not installed (make deps says why)" % arch)


def qemu_wrapper(t, binary_path):
    """A script that runs an arm64 binary under qemu-user (no binfmt here)."""
    w = t.tmp / ("qemu-" + os.path.basename(binary_path))
    w.write_text('#!/bin/sh\nexec %s %s "$@"\n' % (QEMU, binary_path))
    os.chmod(w, 0o755)
    return str(w)


@timeout(900)
def test_arm64_agent_carries_ssh(t):
    """The arm64 packages, unpacked: their binaries run under qemu; then the
    arm64 tunnel-agent starts the arm64 localproxy (through a qemu wrapper)
    for a tunnel opened with tunnelctl, and ssh from the static x86_64
    localproxy through the native relay runs sha256sum over 1 MiB."""
    need_tools(QEMU, "dpkg-buildpackage", "aarch64-linux-gnu-gcc")
    need_arch_libs(DEVICE_ARCH, "/lib/ld-linux-aarch64.so.1")
    root = t.tmp / "root-arm64"
    debs = unpack(t, DEVICE_ARCH, root)
    expect(set(debs) == {"tunnel-agent", "localproxy"}, "arm64 packages: %s" % sorted(debs))
    agent = str(root / "usr/bin/tunnel-agent")
    lp = str(root / "usr/bin/localproxy")
    for exe in (agent, lp):
        expect(elf_machine(exe) == (2, 0xB7), "%s is not an arm64 binary" % exe)
        runs([QEMU, exe], "arm64 " + os.path.basename(exe))
    make(t, "static", limit=None)
    static_lp = str(ROOT / "build/static/localproxy-x86_64")

    sshd_port, userkey = start_sshd(t)
    rig = AgentRig(t, services={"SSH": sshd_port}, start_agent=False)
    cfg = t.tmp / "agent-arm64.json"
    cfg.write_text(json.dumps(rig.agent_config(localproxy=qemu_wrapper(t, lp)), indent=1))
    rig.agent = t.spawn("agent", [QEMU, agent, "-c", str(cfg)])
    rig.agent.wait_log(SUBSCRIBED, scaled(60), what="the arm64 agent's subscription")
    amark, rmark = rig.agent.mark(), rig.relay.proc.mark()
    j = rig.open()
    rig.agent.wait_log(r"notification accepted for tunnel %s" % j["tunnelId"], scaled(30),
                       since=amark, what="the arm64 agent accepting the notification")
    rig.relay.proc.wait_log(r"tunnel %s: destination connected" % j["tunnelId"], scaled(60),
                            since=rmark, what="the arm64 localproxy connecting")
    src_port = free_port()
    Proc(t, "static-source", [static_lp, "-s", str(src_port), "-b", "127.0.0.1",
                              "-e", "127.0.0.1:%d" % rig.relay.port, "-c", rig.relay.ca],
         env=child_env({"AWSIOT_TUNNEL_ACCESS_TOKEN": j["sourceAccessToken"]}, home=t.tmp)
         ).wait_log(r"tunnel ready", scaled(15))
    data = os.urandom(1 * MiB)
    want = hashlib.sha256(data).hexdigest()
    r = ssh_run(src_port, userkey, "echo arm64-ok; sha256sum", data, timeout_s=120)
    out = r.stdout.decode(errors="replace")
    expect(r.returncode == 0, "ssh through the arm64 agent: exit %d, %r %r" %
           (r.returncode, out, r.stderr.decode(errors="replace")))
    lines = out.split("\n")
    expect(lines[0] == "arm64-ok" and len(lines) > 1 and lines[1].split()[:1] == [want],
           "through the arm64 localproxy: %r, expected sha256 %s" % (lines[:2], want))
    rig.expect_no_token_in_logs()


@timeout(300)
def test_static_localproxy_finds_ca_or_says_c(t):
    """The static localproxy has no shared-library dependency; where
    Debian's CA places are missing it reads openSUSE's /etc/ssl/ca-bundle.pem
    (here: the test CA) and reaches the relay without -c; with no bundle
    anywhere it says -c is needed. /etc/ssl and /usr/lib/ssl are replaced
    by empty tmpfs in the localproxy's own mount namespace only."""
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/unshare"):
        skip("a private mount namespace needs root and unshare")
    make(t, "static", limit=None)
    static_lp = str(ROOT / "build/static/localproxy-x86_64")
    r = subprocess.run(["ldd", static_lp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    expect(b"not a dynamic executable" in r.stdout, "ldd %s: %r" % (static_lp, r.stdout))
    relay = ApiRelay(t)
    j = relay.ctl_json("open", "--thing", "static-box", "--service", "SSH")
    hide = ('mount -t tmpfs none /etc/ssl && mount -t tmpfs none /usr/lib/ssl && '
            'if [ -n "$CA" ]; then cp "$CA" /etc/ssl/ca-bundle.pem; fi && exec "$@"')

    def start(name, ca):
        port = free_port()
        # OpenSSL's own variables would name the bundle: none here.
        env = child_env({"AWSIOT_TUNNEL_ACCESS_TOKEN": j["sourceAccessToken"], "CA": ca,
                         "SSL_CERT_FILE": None, "SSL_CERT_DIR": None}, home=t.tmp)
        return Proc(t, name, ["/usr/bin/unshare", "--mount", "--propagation", "private",
                              "/bin/sh", "-c", hide, "sh", static_lp, "-s", str(port),
                              "-b", "127.0.0.1", "-e", "127.0.0.1:%d" % relay.port],
                    env=env, check_exit=False)

    found = start("static-opensuse", relay.ca)
    found.wait_log(r"tunnel ready", scaled(15), what="the static localproxy with "
                   "/etc/ssl/ca-bundle.pem only")
    found.stop()
    none = start("static-no-ca", "")
    rc = none.wait_exit(scaled(15))
    expect(rc == 1, "static localproxy without any CA bundle: exit %s" % rc)
    expect(none.has_log(r"give the relay's CA with -c FILE"),
           "no CA bundle anywhere: no hint about -c in %r" % none.tail(5))


@timeout(600)
def test_armhf_packages_build_and_run(t):
    """The armhf packages (older 32-bit boards): the device side, unpacked,
    ARM 32-bit binaries that run under qemu-arm-static."""
    qemu_arm = "/usr/bin/qemu-arm-static"
    need_tools(qemu_arm, "dpkg-buildpackage", "arm-linux-gnueabihf-gcc")
    need_arch_libs("armhf", "/lib/ld-linux-armhf.so.3")
    root = t.tmp / "root-armhf"
    debs = unpack(t, "armhf", root)
    expect(set(debs) == {"tunnel-agent", "localproxy"}, "armhf packages: %s" % sorted(debs))
    for prog in ("tunnel-agent", "localproxy"):
        exe = str(root / "usr/bin" / prog)
        expect(elf_machine(exe) == (1, 0x28), "%s is not a 32-bit ARM binary" % exe)
        runs([qemu_arm, exe], "armhf " + prog)
