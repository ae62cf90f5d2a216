"""Our source with -y V1 against a destination that speaks the way AWS IoT
Device Client does (tests/e2e/fake_device.py), through a real relay: bytes
both ways, one connection at a time, each a new stream; and stream ids
that do not start over when the source restarts."""

import secrets
import subprocess

from fake_device import FakeDevice
from harness import (MiB, binary, child_env, connect, expect, expect_closed, expect_echo, free_port,
                     localproxy, scaled, READY)
from wsprobe import CONNECTION_START, DATA, STREAM_RESET, STREAM_START


def v1_source(t, relay, spec, port, client_token=None, name="v1-source"):
    env = {"AWSIOT_TUNNEL_CLIENT_TOKEN": client_token} if client_token else None
    if client_token:
        t.secret(client_token)
    src = localproxy(t, name, ["-s", str(port), "-b", "127.0.0.1", "-y", "V1"],
                     relay.port, spec.source_token, env_extra=env)
    src.wait_log(READY, scaled(10))
    return src


def setup(t):
    echo = t.echo()
    spec = t.spec("dc", ("SSH",))
    relay = t.relay([spec])
    device = FakeDevice(relay, "dc", echo.port)
    return relay, spec, device


def expect_v1_shapes(device):
    """Nothing the device received carried a serviceId or connectionId (the
    fake records those as faults), and nothing was a CONNECTION_START."""
    received, faults, _, _ = device.snapshot()
    expect(not faults, "the V1 destination saw faults: %s" % faults[:3])
    types = [m.type for m in received]
    expect(CONNECTION_START not in types, "a V1 destination got CONNECTION_START")
    expect(DATA in types and STREAM_START in types, "no STREAM_START/DATA reached the device")


def test_v1_source_to_device_client_style_destination(t):
    relay, spec, device = setup(t)
    port = free_port()
    src = v1_source(t, relay, spec, port)

    c1 = connect(port)
    t.defer(c1.close)
    expect_echo(c1, 1 * MiB, "first connection through a V1 destination")
    device.wait(lambda d: len(d.starts) == 1, scaled(5), "one STREAM_START")
    first = device.snapshot()[2][0]
    expect(first >= 1, "stream id %d" % first)

    # A second client while the first is open is refused, with a log line.
    mark = src.mark()
    c_busy = connect(port)
    t.defer(c_busy.close)
    expect_closed(c_busy, scaled(5), "second client while one is open")
    src.wait_log(r"refusing a local connection.*one connection at a time", scaled(5), since=mark)
    expect_echo(c1, 64 * 1024, "first connection after the refused one")

    # The first closes: the device hears STREAM_RESET for its stream.
    c1.close()
    device.wait(lambda d: d.resets == [first], scaled(5), "STREAM_RESET for stream %d" % first)

    # The next client is a new stream, one further on.
    c2 = connect(port)
    t.defer(c2.close)
    expect_echo(c2, 1 * MiB, "second connection through a V1 destination")
    _, _, starts, _ = device.snapshot()
    want = 1 if first == 2**31 - 1 else first + 1
    expect(starts == [first, want], "STREAM_STARTs %r, expected [%d, %d]" % (starts, first, want))
    expect_v1_shapes(device)
    received = device.snapshot()[0]
    resets = [m for m in received if m.type == STREAM_RESET]
    expect(len(resets) == 1, "STREAM_RESETs %r" % resets)
    src.expect_alive()
    relay.proc.expect_alive()


def test_restarted_source_starts_at_another_stream_id(t):
    relay, spec, device = setup(t)
    port = free_port()
    client_token = "v1-" + secrets.token_hex(20)
    ids = []
    for run in range(2):
        src = v1_source(t, relay, spec, port, client_token, name="v1-source-%d" % run)
        c = connect(port)
        t.defer(c.close)
        expect_echo(c, 64 * 1024, "connection of source run %d" % run)
        device.wait(lambda d: len(d.starts) == run + 1, scaled(5), "STREAM_START of run %d" % run)
        ids.append(device.snapshot()[2][run])
        c.close()
        src.stop()  # a new process remembers nothing
    # AWS's source starts at 1 in every session; a destination ignores a
    # STREAM_START with its current id, so ours must not repeat it.
    expect(ids[1] != ids[0], "the restarted source reused stream id %d" % ids[0])
    expect_v1_shapes(device)


def test_v1_source_needs_one_service(t):
    """-y V1 with two services in -s: exit 2 with a message saying why,
    before connecting anywhere."""
    argv = [binary("localproxy"), "-s", "SSH=%d,HTTP=%d" % (free_port(), free_port()),
            "-e", "127.0.0.1:%d" % free_port(), "-y", "V1"]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=scaled(10),
                       env=child_env({"AWSIOT_TUNNEL_ACCESS_TOKEN": "tok-" + secrets.token_hex(8)},
                                     home=t.tmp))
    out = r.stdout.decode(errors="replace")
    expect(r.returncode == 2, "exit code %d, expected 2: %s" % (r.returncode, out))
    expect("one service" in out and "names 2" in out, "message: %r" % out)
