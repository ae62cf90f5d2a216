#!/usr/bin/env python3
"""proxy_callgraph.py - which localproxy file calls which, from the objects.

    make && python3 scripts/proxy_callgraph.py [build/obj/proxy]

Reads `nm` of each proxy object, matches every undefined symbol to the
object that defines it, prints one line per file (file -> files it calls)
and the cycles. A cycle is allowed only inside one private *_internal.h
group (the WebSocket client's three files); any other exits 1.
"""
import collections
import glob
import subprocess
import sys

# Files that share a private header and may call each other.
GROUPS = [{"ws_client", "ws_handshake", "ws_frames"}]


def main():
    obj_dir = sys.argv[1] if len(sys.argv) > 1 else "build/obj/proxy"
    defined, used = {}, collections.defaultdict(set)
    for path in sorted(glob.glob(obj_dir + "/*.o")):
        name = path.rsplit("/", 1)[1][:-2]
        out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBR":
                defined[parts[2]] = name
            elif len(parts) == 2 and parts[0] == "U":
                used[name].add(parts[1])
    calls = collections.defaultdict(set)
    for name, symbols in used.items():
        for sym in symbols:
            if sym in defined and defined[sym] != name:
                calls[name].add(defined[sym])
    for name in sorted(calls):
        print(f"{name} -> {' '.join(sorted(calls[name]))}")

    def reaches(src, dst):
        seen, todo = set(), [src]
        while todo:
            for nxt in calls.get(todo.pop(), ()):
                if nxt == dst:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    bad = sorted({(a, b) for a in calls for b in calls[a] if reaches(b, a)
                  and not any(a in g and b in g for g in GROUPS)})
    for a, b in bad:
        print(f"cycle: {a} -> {b} -> ... -> {a}")
    print("no cycle outside the *_internal.h groups" if not bad else f"{len(bad)} bad edge(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
