"""The relay's own WebSocket code for open tunnels (relay/tunnel_ws.c)
against an independent WebSocket client: Debian's python3-websockets, run
by /usr/bin/python3 (ws_interop_client.py). Our localproxy and wsprobe
share assumptions with the relay; this client shares none."""

import json
import os
import subprocess

from harness import expect, expect_eq, pki, scaled, skip

SYS_PYTHON = "/usr/bin/python3"  # Debian's websockets lives there, whatever runs the tests
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ws_interop_client.py")


def test_independent_websocket_client(t):
    r = subprocess.run([SYS_PYTHON, "-c", "import websockets"], stdin=subprocess.DEVNULL,
                       capture_output=True)
    if r.returncode != 0:
        skip("websockets not importable by %s (Debian package python3-websockets; make deps)"
             % SYS_PYTHON)
    spec = t.spec("interop")
    relay = t.relay([spec])
    cfg = {"port": relay.port, "ca": str(pki().ca), "source_token": spec.source_token,
           "destination_token": spec.destination_token}
    r = subprocess.run([SYS_PYTHON, CLIENT], input=json.dumps(cfg), capture_output=True,
                       text=True, timeout=scaled(60))
    lines = r.stdout.strip().splitlines()
    expect(lines, "the client printed nothing (stderr: %s)" % r.stderr[-2000:])
    out = json.loads(lines[-1])
    expect("error" not in out, "the client failed: %s" % out.get("error"))
    expect_eq(out["subprotocol"], "aws.iot.securetunneling-3.0", "subprotocol")
    expect_eq(out["pongs"], 2, "pongs from the relay")
    expect(out["up_sha256_match"], "1 MiB source -> destination arrived altered")
    expect(out["down_sha256_match"], "1 MiB destination -> source arrived altered")
    expect_eq(out["source_close_code"], 1000, "the relay's answer to the source's close")
    expect_eq(out["destination_close_code"], 1000, "the relay's answer to the destination's close")
    expect_eq(r.returncode, 0, "client exit status")
    relay.proc.expect_alive()
