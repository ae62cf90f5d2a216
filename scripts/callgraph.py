#!/usr/bin/env python3
"""callgraph.py - which file calls which, in every program, from the objects.

    make && python3 scripts/callgraph.py [-v] [BUILD_OBJ_DIR]

For each program (its own folder plus common/ and proto/), reads `nm` of
each object whose .c file exists, matches every undefined symbol to the
object that defines it, and looks for cycles: a function in one file calling
into another that calls back. A cycle is allowed only inside one private
*_internal.h group (the WebSocket client's three files, the event loop's four); any other exits 1.
-v prints every file's callees (file -> files it calls).
"""
import os
import collections
import glob
import subprocess
import sys

# Files that share a private header and may call each other.
GROUPS = [{"ws_client", "ws_handshake", "ws_frames"},            # proxy/ws_client_internal.h
          {"ev_loop", "ev_timer", "ev_async", "ev_signal"}]       # common/ev_internal.h


PROGRAMS = ["proxy", "relay", "agent", "tunnelctl", "term"]
SHARED = ["common", "proto"]


def check(obj_root, program, verbose):
    defined, used = {}, collections.defaultdict(set)
    paths = []
    for folder in [program] + SHARED:
        for path in sorted(glob.glob(os.path.join(obj_root, folder, "*.o"))):
            src = os.path.join(folder, os.path.basename(path)[:-2] + ".c")
            if os.path.exists(src):  # not a stale object of a deleted file
                paths.append((folder + "/" + os.path.basename(path)[:-2], path))
    for name, path in paths:
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
    if verbose:
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

    def group_of(n):
        return next((i for i, g in enumerate(GROUPS) if n.split("/")[-1] in g), None)

    bad = sorted({(a, b) for a in calls for b in calls[a] if reaches(b, a)
                  and (group_of(a) is None or group_of(a) != group_of(b))})
    for a, b in bad:
        print(f"{program}: cycle: {a} -> {b} -> ... -> {a}")
    print(f"callgraph: {program}: {len(paths)} files, "
          + ("no cycle outside the *_internal.h groups" if not bad else f"{len(bad)} bad edge(s)"))
    return len(bad)


def main():
    args = [a for a in sys.argv[1:] if a != "-v"]
    obj_root = args[0] if args else "build/obj"
    bad = sum(check(obj_root, p, "-v" in sys.argv) for p in PROGRAMS)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
