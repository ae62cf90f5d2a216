#!/usr/bin/python3
"""A lossy, slow link between two network namespaces, made of real packets.

    lossy_link.py NS_A DEV_A NS_B DEV_B LOSS DELAY_MS SEED

Attaches to the TUN devices DEV_A (in namespace NS_A) and DEV_B (in NS_B),
which the caller made with `ip tuntap add ... mode tun` and addressed; every
IP packet read from one is written to the other DELAY_MS later, except a
share LOSS (0..1) that is dropped. TCP between the namespaces therefore sees
real loss and delay: retransmissions, fast recovery, RTO backoff.

SIGUSR1: drop everything (a dead path: no socket is closed, nothing is
answered); SIGUSR2: forward again. SIGTERM: print counts, exit 0.
Python 3.11 standard library only (setns through ctypes).
"""

import ctypes
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

libc = ctypes.CDLL(None, use_errno=True)


def setns_fd(fd):
    """Moves the calling thread into the network namespace open at fd."""
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


def enter_netns(name):
    """Moves the calling thread into the namespace `ip netns add NAME` made."""
    fd = os.open("/var/run/netns/%s" % name, os.O_RDONLY)
    try:
        setns_fd(fd)
    finally:
        os.close(fd)


def open_tun(dev):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", dev.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def main():
    ns_a, dev_a, ns_b, dev_b, loss, delay_ms, seed = sys.argv[1:8]
    loss, delay = float(loss), float(delay_ms) / 1000.0
    rng = random.Random(int(seed))
    enter_netns(ns_a)
    fa = open_tun(dev_a)
    enter_netns(ns_b)
    fb = open_tun(dev_b)
    other = {fa: fb, fb: fa}
    state = {"blackhole": False, "run": True}
    counts = {"forwarded": 0, "dropped": 0, "blackholed": 0}

    def on_signal(signum, frame):
        if signum == signal.SIGUSR1:
            state["blackhole"] = True
        elif signum == signal.SIGUSR2:
            state["blackhole"] = False
        else:
            state["run"] = False

    for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)
    queue = []   # (due, seq, fd, packet)
    seq = 0
    print("forwarding %s/%s <-> %s/%s loss %.3f delay %.0f ms" %
          (ns_a, dev_a, ns_b, dev_b, loss, delay * 1000), flush=True)
    while state["run"]:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(queue)
            if state["blackhole"]:
                counts["blackholed"] += 1
                continue
            try:
                os.write(fd, pkt)
                counts["forwarded"] += 1
            except OSError:
                counts["dropped"] += 1   # the device's queue is full: a drop too
        wait = max(0.0, queue[0][0] - now) if queue else 0.5
        try:
            ready, _, _ = select.select([fa, fb], [], [], wait)
        except InterruptedError:
            continue
        for fd in ready:
            for _ in range(64):
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if state["blackhole"]:
                    counts["blackholed"] += 1
                elif rng.random() < loss:
                    counts["dropped"] += 1
                else:
                    seq += 1
                    heapq.heappush(queue, (time.monotonic() + delay, seq, other[fd], pkt))
    print("stopped: %(forwarded)d forwarded, %(dropped)d dropped at random, "
          "%(blackholed)d dropped while the path was dead" % counts, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
