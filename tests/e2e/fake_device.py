"""A destination that speaks the way AWS IoT Device Client does (a V1
destination over the 3.0 subprotocol; see docs/compatibility.md): on a
STREAM_START without serviceId it connects to one local service, relays
DATA {streamId, payload} both ways without serviceId or connectionId,
closes the local socket on a STREAM_RESET with its stream id, and never
sends STREAM_RESET itself. It records every tunnel message it receives, so
tests can check their shape, and every protocol fault it sees.

One thread runs the loop: the WebSocket (wsprobe) and the local socket are
served by select(), so TLS is never used from two threads at once."""

import select
import socket
import threading
import time

from wsprobe import (DATA, SERVICE_IDS, SESSION_RESET, STREAM_RESET, STREAM_START,
                     Msg, ProbeClosed, ProbeTimeout)

CHUNK = 32 * 1024  # Device Client sends DATA in 32 KB chunks


class FakeDevice:
    def __init__(self, relay, tid, service_port):
        self.w = relay.ws("destination", tid)
        if self.w.status != 101:
            raise AssertionError("fake device: HTTP %s (%s)" % (self.w.status, self.w.reason))
        self.service_port = service_port
        self.lock = threading.Lock()
        self.received = []      # every tunnel message, in order
        self.faults = []        # what Device Client would not accept
        self.starts = []        # stream ids of the STREAM_STARTs it acted on
        self.resets = []        # stream ids of the STREAM_RESETs that closed its socket
        self.stream_id = 0
        self.local = None
        self.out = bytearray()  # for the local socket
        self.stopping = False
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        relay.t.defer(self.stop)

    # ---- the loop ---------------------------------------------------------
    def _run(self):
        try:
            while not self.stopping:
                self._step()
        except ProbeClosed as e:
            if not self.stopping:
                self.error = "WebSocket ended: %s" % e
        except Exception as e:  # reported by the test
            self.error = repr(e)
        finally:
            self._close_local()

    def _step(self):
        rd = [self.w.sock] + ([self.local] if self.local else [])
        wr = [self.local] if self.local and self.out else []
        if self.w.sock.pending() or self.w.rbuf or self.w.frames.pending() >= 2:
            r, wl = [self.w.sock], []
        else:
            r, wl, _ = select.select(rd, wr, [], 0.05)
        if self.w.sock in r:
            self._read_tunnel()
        if self.local and self.local in wl:
            self._write_local()
        if self.local and self.local in r:
            self._read_local()

    def _read_tunnel(self):
        timeout = 1.0  # the first message is on its way; then take what is buffered
        while True:
            try:
                m = self.w.recv_msg(timeout)
            except ProbeTimeout:
                return
            timeout = 0.0
            with self.lock:
                self.received.append(m)
            self._on_msg(m)

    def _on_msg(self, m):
        if m.type == SERVICE_IDS:
            return
        if m.service_id or m.connection_id or m.unknown_fields:
            # A later STREAM_START with a serviceId makes Device Client drop
            # its WebSocket; any of these is a fault here.
            self._fault("%r carries fields a V1 destination does not know" % (m,))
        if m.type == STREAM_START:
            self._close_local()
            self.stream_id = m.stream_id
            with self.lock:
                self.starts.append(m.stream_id)
            self.local = socket.create_connection(("127.0.0.1", self.service_port), timeout=5)
            self.local.setblocking(False)
        elif m.type == DATA:
            if m.stream_id == self.stream_id and self.local:
                self.out += m.payload
            else:
                self._fault("DATA for stream %d, current %d" % (m.stream_id, self.stream_id))
        elif m.type == STREAM_RESET:
            if m.stream_id == self.stream_id:
                self._close_local()
                with self.lock:
                    self.resets.append(m.stream_id)
        elif m.type == SESSION_RESET:
            self._close_local()
        else:
            self._fault("unexpected %r" % (m,))

    def _write_local(self):
        try:
            n = self.local.send(self.out)
        except BlockingIOError:
            return
        except OSError:
            self._close_local()
            return
        del self.out[:n]

    def _read_local(self):
        try:
            b = self.local.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            b = b""
        if not b:
            self._close_local()  # Device Client only logs it: no STREAM_RESET
            return
        self.w.send_msgs(Msg(DATA, stream_id=self.stream_id, payload=b))

    def _close_local(self):
        if self.local:
            self.local.close()
            self.local = None
        self.out.clear()

    def _fault(self, what):
        with self.lock:
            self.faults.append(what)

    # ---- for the test -------------------------------------------------------
    def snapshot(self):
        with self.lock:
            return list(self.received), list(self.faults), list(self.starts), list(self.resets)

    def wait(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error:
                raise AssertionError("fake device: %s" % self.error)
            with self.lock:
                if cond(self):
                    return
            time.sleep(0.02)
        raise AssertionError("fake device: %s not within %.1fs (received %r)" %
                             (what, timeout, self.snapshot()[0][-5:]))

    def stop(self):
        self.stopping = True
        self.thread.join(10)
        self.w.close()
