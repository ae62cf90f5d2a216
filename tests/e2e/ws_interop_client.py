#!/usr/bin/python3
"""Both ends of one tunnel as clients of an independent WebSocket
implementation (Debian's python3-websockets, asyncio API), for
test_relay_ws.py. Reads its settings as JSON on stdin (the tokens never go
in argv), prints one JSON object with what it saw, exits 0 when every check
passed and 1 (with "error") when one did not.

What it does: the source opens stream 1 and sends 1 MiB in DATA messages,
each WebSocket message split into fragments; the destination answers 1 MiB
back; each side pings the relay and waits for its pong; both close with
1000 and read the relay's answer to their close."""

import asyncio
import hashlib
import json
import os
import ssl
import sys

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsprobe  # noqa: E402  (stdlib only: the tunnel Message codec)
from wsprobe import DATA, STREAM_START, Msg  # noqa: E402

CHUNK = 16 * 1024


def fragments(data, parts):
    step = max(1, len(data) // parts)
    return [data[i:i + step] for i in range(0, len(data), step)]


async def connect(cfg, mode):
    ctx = ssl.create_default_context(cafile=cfg["ca"])
    uri = "wss://127.0.0.1:%d/tunnel?local-proxy-mode=%s" % (cfg["port"], mode)
    return await websockets.connect(
        uri, ssl=ctx, subprotocols=[wsprobe.SUBPROTOCOL_V3], compression=None, max_size=None,
        extra_headers=[("access-token", cfg[mode + "_token"])], open_timeout=10)


async def receive_data(ws, want, deadline):
    """Tunnel frames from ws until `want` payload bytes of DATA came; returns them."""
    reader, got = wsprobe.FrameReader(), bytearray()
    while len(got) < want:
        message = await asyncio.wait_for(ws.recv(), deadline)
        if not isinstance(message, bytes):
            raise AssertionError("a text message from the relay")
        reader.feed(message)
        while True:
            body = reader.next_body()
            if body is None:
                break
            m = Msg.decode(body)
            if m.type == DATA:
                got += m.payload
    return bytes(got)


async def send_data(ws, data, fragments_per_message):
    for at in range(0, len(data), 4 * CHUNK):
        msgs = [Msg(type=DATA, stream_id=1, connection_id=1, payload=data[i:i + CHUNK])
                for i in range(at, min(at + 4 * CHUNK, len(data)), CHUNK)]
        wire = wsprobe.frames(*msgs)
        await ws.send(fragments(wire, fragments_per_message))


async def main():
    cfg = json.load(sys.stdin)
    out = {}
    dst = await connect(cfg, "destination")
    src = await connect(cfg, "source")
    out["subprotocol"] = src.subprotocol
    # Pings answered by the relay itself (not forwarded).
    for name, ws in (("source", src), ("destination", dst)):
        waiter = await ws.ping(b"interop-" + name.encode())
        await asyncio.wait_for(waiter, 5)
    out["pongs"] = 2

    up = os.urandom(1 << 20)
    await src.send(wsprobe.frames(Msg(type=STREAM_START, stream_id=1, connection_id=1,
                                      service_id="SSH")))
    sender = asyncio.ensure_future(send_data(src, up, 7))
    got = await receive_data(dst, len(up), 20)
    await sender
    out["up_sha256_match"] = hashlib.sha256(got).hexdigest() == hashlib.sha256(up).hexdigest()

    down = os.urandom(1 << 20)
    sender = asyncio.ensure_future(send_data(dst, down, 3))
    got = await receive_data(src, len(down), 20)
    await sender
    out["down_sha256_match"] = hashlib.sha256(got).hexdigest() == hashlib.sha256(down).hexdigest()

    # A close handshake each: the relay must answer (websockets waits for it).
    await asyncio.wait_for(src.close(1000, "done"), 10)
    out["source_close_code"] = src.close_code
    await asyncio.wait_for(dst.close(1000, "done"), 10)
    out["destination_close_code"] = dst.close_code
    return out


if __name__ == "__main__":
    try:
        result = asyncio.run(main())
    except Exception as e:  # the test prints it
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        sys.exit(1)
    print(json.dumps(result))
    ok = result["up_sha256_match"] and result["down_sha256_match"]
    sys.exit(0 if ok else 1)
