#!/usr/bin/env python3
"""ramp's test runner: unit test binaries, then integration tests against a
real PostgreSQL this script starts (one cluster, a database per test, made
from a migrated template), in parallel. The last line is
"N passed, N failed, N skipped"; the exit status is non-zero on any failure.
Running nothing is a failure too: a unit binary that prints no "ok"/"FAIL"
line, an integration module without a test function, a filter that matches
nothing.

  python3 tests/run.py [--build build] [-j 4] [filter]
"""
import argparse
import concurrent.futures
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
import ramp  # noqa: E402


class Run:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.rampd = os.path.join(self.build, "rampd")
        self.tmp = tempfile.mkdtemp(prefix="ramp-test-", dir="/tmp")
        os.chmod(self.tmp, 0o711)
        self.cluster = ramp.Cluster(self.tmp)


def run_unit(build, flt, results):
    for exe in sorted(glob.glob(os.path.join(build, "tests", "test_*"))):
        name = os.path.basename(exe)
        if flt and flt not in name:
            continue
        p = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=600)
        for line in p.stdout.splitlines():
            if line.startswith("ok "):
                results.append(("pass", f"{name}:{line[3:]}", 0, ""))
            elif line.startswith("FAIL "):
                results.append(("fail", f"{name}:{line[5:]}", 0, p.stderr[-3000:]))
        if p.returncode != 0 and not any(r[0] == "fail" and r[1].startswith(name) for r in results):
            results.append(("fail", name, 0, p.stdout[-2000:] + p.stderr[-2000:]))
        if not any(r[1].startswith(name + ":") for r in results) and \
                not any(r[0] == "fail" and r[1] == name for r in results):
            results.append(("fail", name, 0, "ran no test case (no 'ok'/'FAIL' line)\n"
                            + p.stdout[-2000:] + p.stderr[-2000:]))
        print(f"unit {name}: {sum(1 for r in results if r[1].startswith(name + ':') and r[0] == 'pass')} passed", flush=True)


def discover(flt, results, directory=os.path.join(HERE, "integration")):
    """The integration tests matching flt. A module that defines no test
    function is a failure in results: it would otherwise pass by running
    nothing."""
    tests = []
    for path in sorted(glob.glob(os.path.join(directory, "test_*.py"))):
        mod_name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        found = [a for a in dir(mod) if a.startswith("test_") and callable(getattr(mod, a))]
        if not found and (not flt or flt in mod_name):
            results.append(("fail", mod_name, 0, f"{path} defines no test_* function"))
        for attr in found:
            full = f"{mod_name}.{attr}"
            if flt and flt not in full:
                continue
            tests.append((full, getattr(mod, attr)))
    return tests


def run_one(run, name, fn):
    ctx = ramp.Context(run, name)
    t0 = time.time()
    try:
        fn(ctx)
        for s in ctx.servers:
            s.stop()
        bad = ctx.sanitizer_reports()
        if bad:
            return ("fail", name, time.time() - t0, "\n".join(bad))
        return ("pass", name, time.time() - t0, "")
    except ramp.Skip as e:
        return ("skip", name, time.time() - t0, str(e))
    except BaseException:
        logs = "".join(f"\n--- rampd log ({s.port}) ---\n{s.log()}" for s in ctx.servers)
        return ("fail", name, time.time() - t0, traceback.format_exc() + logs[-6000:])
    finally:
        ctx.cleanup()


def prepare_template(run):
    run.cluster.start()
    run.cluster.create_db("ramp_template")
    ctx = ramp.Context(run, "template")
    s = ramp.Server(ctx, "ramp_template")
    s.start()
    s.stop()
    ctx.tmp and shutil.rmtree(ctx.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-j", type=int, default=int(os.environ.get("RAMP_TEST_JOBS", "4")))
    ap.add_argument("--suite", default="integration",
                    help="the folder of tests/ to run: integration (with the unit tests) or ha")
    ap.add_argument("filter", nargs="?")
    a = ap.parse_args()

    results = []
    t0 = time.time()
    if a.suite == "integration":
        run_unit(a.build, a.filter, results)
    tests = discover(a.filter, results, os.path.join(HERE, a.suite))
    run = None
    if tests:
        run = Run(a.build)
        try:
            prepare_template(run)
        except BaseException:
            traceback.print_exc()
            results.append(("fail", "integration setup", 0, ""))
            tests = []
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.j) as pool:
            futs = [pool.submit(run_one, run, n, f) for n, f in tests]
            for fut in concurrent.futures.as_completed(futs):
                r = fut.result()
                results.append(r)
                mark = {"pass": "ok", "fail": "FAIL", "skip": "skip"}[r[0]]
                print(f"{mark} {r[1]} ({r[2]:.1f}s)", flush=True)
                if r[0] == "fail":
                    print("    " + r[3].replace("\n", "\n    "), flush=True)
                elif r[0] == "skip":
                    print(f"    skipped: {r[3]}", flush=True)
    finally:
        if run:
            try:
                run.cluster.stop()
            except OSError:
                traceback.print_exc()
            shutil.rmtree(run.tmp, ignore_errors=True)
    for r in results:
        if r[0] == "fail" and r[2] == 0 and r[3]:
            print(f"FAIL {r[1]}\n    " + r[3].replace("\n", "\n    "))
    p = sum(1 for r in results if r[0] == "pass")
    f = sum(1 for r in results if r[0] == "fail")
    s = sum(1 for r in results if r[0] == "skip")
    print(f"# {time.time() - t0:.0f}s")
    if not results:
        f = 1
        print(f"FAIL {a.filter!r} matches no unit or integration test")
    print(f"{p} passed, {f} failed, {s} skipped")
    sys.exit(1 if f or p == 0 else 0)


if __name__ == "__main__":
    main()
