#!/usr/bin/python3
"""End-to-end test runner.

    python3 tests/e2e/run.py [SUBSTRING ...]

Discovers tests/e2e/test_*.py and runs every function named test_* in file
order (only those whose "file::name" contains one of the substrings, if
any are given). Each test runs in its own process group with a time limit,
so a hung test cannot leave processes behind. Makes the development PKI
once for the whole run (certs/mkpki.sh). Prints PASS/FAIL/SKIP per test and
ends with the line `e2e: N passed, N failed`; exits 1 if any test failed or
none ran.

Environment: BIN_DIR (default build/bin), SAN=1 (sanitizer build: longer
time limits, sanitizer reports fail a test), E2E_KEEP=1 (keep temp dirs),
E2E_PKI_DIR (use an existing PKI instead of making one),
E2E_DEFAULT_TIMEOUT (seconds per test before scaling, default 60). A test
marked @harness.plain_build_only(reason) is skipped under SAN=1.
"""

import importlib.util
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

DEFAULT_TIMEOUT = float(os.environ.get("E2E_DEFAULT_TIMEOUT") or 60)


def load_module(path):
    name = "e2e_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def discover(filters):
    tests = []
    for path in sorted(HERE.glob("test_*.py")):
        mod = load_module(path)
        fns = [(obj.__code__.co_firstlineno, name, obj)
               for name, obj in vars(mod).items()
               if name.startswith("test_") and inspect.isfunction(obj)
               and obj.__module__ == mod.__name__]
        for _, name, fn in sorted(fns):
            full = "%s::%s" % (path.stem, name)
            if filters and not any(f in full for f in filters):
                continue
            tests.append((path, name, full, getattr(fn, "e2e_timeout", DEFAULT_TIMEOUT)))
    return tests


# --------------------------------------------------------------------------
# child: runs one test
# --------------------------------------------------------------------------

class _Alarm(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Alarm()


def run_child(path, name, result_file, limit):
    mod = load_module(Path(path))
    fn = getattr(mod, name)
    t = harness.TestCtx("%s::%s" % (Path(path).stem, name))
    status, reason = "pass", ""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        try:
            if harness.SAN and getattr(fn, "e2e_plain_only", None):
                raise harness.Skip("plain build only: %s" % fn.e2e_plain_only)
            fn(t)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except harness.Skip as e:
        status, reason = "skip", str(e)
    except _Alarm:
        status, reason = "fail", "timed out after %.0fs" % limit
        traceback.print_exc()
    except AssertionError as e:
        status, reason = "fail", str(e) or "assertion failed"
        traceback.print_exc()
    except Exception as e:
        status, reason = "fail", "%s: %s" % (type(e).__name__, e)
        traceback.print_exc()
    # Teardown: stop processes, check exit codes, sanitizer reports, tokens.
    signal.setitimer(signal.ITIMER_REAL, 120 * harness.SCALE)
    try:
        t.teardown()
    except _Alarm:
        t.post_fail("teardown timed out")
    signal.setitimer(signal.ITIMER_REAL, 0)
    if t.post_failures:
        extra = "; ".join(t.post_failures)
        if status == "fail":
            reason = "%s; also: %s" % (reason, extra)
        else:
            status, reason = "fail", extra
    if status == "fail":
        print("temp dir: %s" % t.tmp)
        t.dump_logs()
    t.remove()
    with open(result_file, "w") as f:
        json.dump({"status": status, "reason": reason}, f)
    sys.stdout.flush()
    return 0


# --------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------

def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_one(path, name, full, limit, workdir):
    result_file = workdir / ("%s.result.json" % full.replace("::", "-"))
    out_file = workdir / ("%s.out" % full.replace("::", "-"))
    t0 = time.monotonic()
    with open(out_file, "wb") as out:
        p = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(path), name,
             str(result_file), str(limit)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=os.environ.copy())
        try:
            p.wait(limit + 150 * harness.SCALE)
            hard_timeout = False
        except subprocess.TimeoutExpired:
            hard_timeout = True
        # Whatever the test left in its process group goes now.
        kill_group(p.pid)
        p.wait()
    dt = time.monotonic() - t0
    output = out_file.read_text(errors="replace")
    if hard_timeout:
        return "fail", "hung past its time limit (%.0fs); process group killed" % limit, dt, output
    try:
        res = json.loads(result_file.read_text())
    except (OSError, ValueError):
        return "fail", "test process died (rc=%s) without a result" % p.returncode, dt, output
    return res["status"], res["reason"], dt, output


def main(argv):
    if len(argv) >= 2 and argv[1] == "--child":
        return run_child(argv[2], argv[3], argv[4], float(argv[5]))
    filters = [a for a in argv[1:] if not a.startswith("-")]
    workdir = Path(tempfile.mkdtemp(prefix="e2e-run-"))
    passed = failed = skipped = 0
    try:
        print("e2e: BIN_DIR=%s SAN=%s" % (harness.BIN_DIR, "1" if harness.SAN else "0"))
        try:
            tests = discover(filters)
        except Exception:
            traceback.print_exc()
            print("e2e: 0 passed, 1 failed")
            return 1
        if not tests:
            print("e2e: no tests matched %r" % (filters,))
            print("e2e: 0 passed, 0 failed")
            return 1
        if os.environ.get("E2E_PKI_DIR"):
            pki_dir = os.environ["E2E_PKI_DIR"]
        else:
            pki_dir = str(workdir / "pki")
            try:
                harness.make_pki(pki_dir)
            except Exception as e:
                print("FAIL (setup): %s" % e)
                print("e2e: 0 passed, %d failed" % len(tests))
                return 1
            os.environ["E2E_PKI_DIR"] = pki_dir
        for path, name, full, limit in tests:
            limit = limit * harness.SCALE
            status, reason, dt, output = run_one(path, name, full, limit, workdir)
            if status == "pass":
                passed += 1
                print("PASS %s (%.1fs)" % (full, dt))
            elif status == "skip":
                skipped += 1
                print("SKIP %s: %s" % (full, reason))
            else:
                failed += 1
                print("FAIL %s: %s (%.1fs)" % (full, reason, dt))
                for ln in output.rstrip().splitlines():
                    print("    | " + ln)
            sys.stdout.flush()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if skipped:
        print("e2e: %d skipped" % skipped)
    print("e2e: %d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
