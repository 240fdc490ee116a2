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
