"""README.md's walkthrough, run as written: the shell block between
<!-- walkthrough:begin --> and <!-- walkthrough:end --> under bash -euo
pipefail against a fresh rampd this test starts (playing `make run`: its URL
and admin token in RAMP_SERVER and RAMP_TOKEN), from a directory laid out
like a checkout (build/ and nothing else). So the README cannot drift."""
import os
import re
import subprocess
import tempfile

from ramp import ROOT, Skip, check, eq, status


def walkthrough():
    text = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(r"<!-- walkthrough:begin -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", text, re.S)
    check(m, "README.md has no walkthrough block between its markers")
    return m.group(1)


def rampctl_prints_bare_token(ctx, s):
    """The walkthrough captures `rampctl device register`'s output as the token."""
    p = subprocess.run([os.path.join(ctx.build, "rampctl"), "device", "register", "--id", "readme-probe",
                        "--platform", "readme-probe"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, RAMP_SERVER=s.url, RAMP_TOKEN=s.admin_token))
    eq(p.returncode, 0, p.stderr)
    return re.fullmatch(r"\S+\n?", p.stdout) is not None


def test_the_readme_walkthrough_runs_as_written(ctx):
    s = ctx.server()
    if not rampctl_prints_bare_token(ctx, s):
        raise Skip("rampctl device register does not print the bare token yet")
    status(s.admin.delete("/v1/devices/readme-probe"), 204)
    checkout = tempfile.mkdtemp(prefix="checkout", dir=ctx.tmp)
    os.symlink(ctx.build, os.path.join(checkout, "build"))
    scratch = tempfile.mkdtemp(prefix="scratch", dir=ctx.tmp)
    env = dict(os.environ, RAMP_SERVER=s.url, RAMP_TOKEN=s.admin_token, TMPDIR=scratch)
    env.pop("RAMP_URL", None)
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=checkout, env=env,
                       capture_output=True, text=True, timeout=300)
    eq(p.returncode, 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}\n{s.log()}")
    out = p.stdout.splitlines()
    # told the new version, then the old one again after the rollback
    check("2026.02.01" in out, p.stdout)
    eq(out[-1], "2026.01.01", p.stdout)
    check("rolled_back" in p.stdout, p.stdout)
    # the breach is explained truthfully: there was no baseline telemetry
    check("error_rate 0.08 breaches < 1%" in p.stdout, p.stdout)
    check("baseline: no data" in p.stdout, p.stdout)
    check(not re.search(r"\bnan\b", p.stdout, re.I), p.stdout)
    # nothing written into the checkout
    eq(os.listdir(checkout), ["build"])
    ro = status(s.admin.get("/v1/rollouts?state=all"), 200).json["items"]
    eq([r["state"] for r in ro], ["rolled_back"])
