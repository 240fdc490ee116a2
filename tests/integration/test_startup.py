"""rampd start-up: what it prints (the admin token only when it was just
generated), --version on every binary and ramp_build_info on /metrics, a
data directory the database user cannot reach, and a restart after a crash
that left a postmaster.pid behind."""
import os
import re
import subprocess

from ramp import ROOT, check, eq, status, wait_for


def banner(s, n=1):
    """The log once rampd has printed its n-th "rampd listening" banner."""
    return wait_for(lambda: s.log() if s.log().count("rampd listening on") >= n else None,
                    timeout=60, msg=f"banner #{n}")


def test_admin_token_printed_only_when_generated(ctx):
    s = ctx.server(start=False)
    s.extra_env["RAMP_ADMIN_TOKEN"] = ""
    s.start()
    path = os.path.join(s.data_dir, "admin.token")
    tok = open(path).read().strip()
    log = banner(s)
    check(f"admin token (generated, shown once): {tok}" in log, log)
    status(s.client(token=tok).get("/v1/devices"), 200)
    # the next start reads the file: it names the file, never the token
    s.admin.token = tok
    s.restart()
    log = banner(s, 2)
    eq(log.count(tok), 2, log)  # the banner line and its curl hint, first start only
    check(f"admin token: in {os.path.realpath(path)}" in log, log)
    status(s.client(token=tok).get("/v1/devices"), 200)


def test_admin_token_from_environment_is_not_printed(ctx):
    s = ctx.server()
    log = banner(s)
    check(s.admin_token not in log, log)
    check("admin token: from RAMP_ADMIN_TOKEN" in log, log)


BINARIES = ("rampd", "rampctl", "ramp-runner", "ramp-agent", "ramp-sim")


def version_of(ctx, name):
    p = subprocess.run([os.path.join(ctx.build, name), "--version"], capture_output=True,
                       text=True, timeout=30, env={"PATH": os.environ.get("PATH", "")})
    eq(p.returncode, 0, f"{name} --version: {p.stdout} {p.stderr}")
    m = re.fullmatch(rf"{re.escape(name)} (\S+) \(commit ([0-9a-f]{{7,}}|unknown)\)\n", p.stdout)
    check(m, f"{name} --version printed {p.stdout!r}")
    return m.group(1), m.group(2)


def test_every_binary_prints_its_version_and_commit(ctx):
    got = {name: version_of(ctx, name) for name in BINARIES}
    eq(len(set(got.values())), 1, got)  # one build, one version
    version, commit = got["rampd"]
    inside_git = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=ROOT,
                                capture_output=True).returncode == 0
    if inside_git:
        # the commit the build was made from (not necessarily HEAD: a later commit
        # without a rebuild still names the older one)
        check(commit != "unknown", got)
        eq(subprocess.run(["git", "cat-file", "-t", commit], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip(), "commit", f"{commit} is no commit here")
    check(re.fullmatch(r"[0-9A-Za-z.+~-]+", version), version)


def test_metrics_carry_build_info(ctx):
    version, commit = version_of(ctx, "rampd")
    s = ctx.server()
    text = status(s.client(token=None).get("/metrics"), 200).body.decode()
    lines = text.splitlines()
    want = f'ramp_build_info{{version="{version}",commit="{commit}"}} 1'
    check(want in lines, f"{want} not in /metrics")
    i = lines.index(want)
    check(lines[i - 2].startswith("# HELP ramp_build_info "), lines[i - 2:i])
    eq(lines[i - 1], "# TYPE ramp_build_info gauge")
