"""tests/run.py itself: running nothing is a failure, never a quiet pass."""
import importlib.util
import os
import subprocess
import sys

from ramp import ROOT, check, eq


def _run_py():
    spec = importlib.util.spec_from_file_location("ramp_run_py", os.path.join(ROOT, "tests", "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_unit_binary_that_runs_no_case_fails(ctx):
    run = _run_py()
    os.makedirs(os.path.join(ctx.tmp, "build", "tests"))
    for name, body in (("test_quiet", "echo '# nothing here'"), ("test_fine", "echo 'ok one'")):
        exe = os.path.join(ctx.tmp, "build", "tests", name)
        with open(exe, "w") as f:
            f.write(f"#!/bin/sh\n{body}\nexit 0\n")
        os.chmod(exe, 0o755)
    results = []
    run.run_unit(os.path.join(ctx.tmp, "build"), None, results)
    got = {(r[0], r[1]) for r in results}
    eq(got, {("fail", "test_quiet"), ("pass", "test_fine:one")})


def test_an_integration_module_without_test_functions_fails(ctx):
    run = _run_py()
    d = os.path.join(ctx.tmp, "integration")
    os.makedirs(d)
    with open(os.path.join(d, "test_empty.py"), "w") as f:
        f.write("def helper(ctx):\n    pass\n")
    with open(os.path.join(d, "test_one.py"), "w") as f:
        f.write("def test_it(ctx):\n    pass\n")
    results = []
    tests = run.discover(None, results, d)
    eq([n for n, _ in tests], ["test_one.test_it"])
    eq([(r[0], r[1]) for r in results], [("fail", "test_empty")])


def test_a_filter_that_matches_nothing_fails(ctx):
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "run.py"), "--build", ctx.build,
                        "no_such_test_anywhere"], capture_output=True, text=True, timeout=300)
    check(p.returncode != 0, p.stdout)
    eq(p.stdout.strip().splitlines()[-1], "0 passed, 1 failed, 0 skipped")
