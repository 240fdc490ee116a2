"""rampd start-up: what it prints (the admin token only when it was just
generated), --version on every binary and ramp_build_info on /metrics, a
data directory the database user cannot reach, and a restart after a crash
that left a postmaster.pid behind."""
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile

from ramp import ROOT, Server, Skip, _as_owner, check, eq, status, wait_for


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
    eq(len(set(got.values())), 1, f"{got}: one build, one version (built by make?)")
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


def exited(s, timeout=120):
    """rampd's exit status once it has exited by itself."""
    wait_for(lambda: s.proc.poll() is not None, timeout=timeout, msg="rampd to exit")
    return s.proc.returncode


def test_data_dir_postgres_cannot_reach_is_named_with_the_reason(ctx):
    if os.getuid() != 0:
        raise Skip("only root runs the embedded postgresql as another user")
    private = tempfile.mkdtemp(dir=ctx.tmp)  # 0700, like mktemp -d
    data_dir = os.path.join(private, "var")
    os.makedirs(data_dir)
    s = Server(ctx, None, data_dir=data_dir)
    ctx.servers.append(s)
    s.start(wait_ready=False)
    check(exited(s) != 0, s.log())
    log = s.log()
    want = (f"could not use data directory {data_dir}: {private} is not searchable by "
            f"postgres (mode 0700, owner root)")
    check(want in log, log)
    # what initdb itself said, and where its whole log is
    check(re.search(r'msg="initdb: error: could not access directory .*Permission denied"', log), log)
    check(f"log={data_dir}/pg.initdb.log" in log, log)
    # let postgres through and the same directory works
    os.chmod(private, 0o711)
    s.start()
    status(s.admin.get("/v1/devices"), 200)


def test_initdb_failing_shows_its_last_lines(ctx):
    fake = tempfile.mkdtemp(dir=ctx.tmp)
    os.chmod(fake, 0o755)
    with open(os.path.join(fake, "initdb"), "w") as f:
        f.write("#!/bin/sh\necho 'initdb: warning: something early'\n"
                "echo 'initdb: error: the disk caught fire'\nexit 1\n")
    os.chmod(os.path.join(fake, "initdb"), 0o755)
    s = ctx.server(embedded=True, start=False, env={"RAMP_PG_BINDIR": fake})
    s.start(wait_ready=False)
    check(exited(s) != 0, s.log())
    log = s.log()
    check('msg="initdb: error: the disk caught fire"' in log, log)
    check('msg="initdb: warning: something early"' in log, log)
    check("could not use data directory" not in log, log)  # nothing in the way: no such claim


# Runs rampd as its child and, as a child subreaper, inherits the postmaster
# pg_ctl leaves behind; it never reaps, so a killed postmaster stays a zombie
# (as under a container's PID 1 that does not reap, or a slow init).
REAPER = r"""
import ctypes, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
log = open(sys.argv[1], "ab")
p = subprocess.Popen(sys.argv[2:], stdout=log, stderr=log)
print(p.pid, flush=True)
sys.stdin.read()
"""


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def postmaster_pid(s):
    with open(os.path.join(s.data_dir, "pg", "postmaster.pid")) as f:
        return int(f.readline())


def test_restart_after_kill9_while_the_postmaster_is_a_zombie(ctx):
    s = Server(ctx, None)
    ctx.servers.append(s)
    reaper = subprocess.Popen([sys.executable, "-c", REAPER, s.log_path, ctx.rampd], env=s.env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        rampd = int(reaper.stdout.readline())
        wait_for(lambda: _ready(s), timeout=120, msg="first rampd ready")
        status(s.admin.post("/v1/devices", {"id": "z1", "platform": "x"}), 201)
        pm = postmaster_pid(s)
        os.kill(rampd, signal.SIGKILL)
        os.kill(pm, signal.SIGKILL)
        wait_for(lambda: proc_state(pm) == "Z", timeout=30, msg="the postmaster a zombie")
        # pg_ctl status calls it running; it refuses connections; rampd starts anyway
        s.start()
        status(s.admin.get("/v1/devices/z1"), 200)
        check("stale postmaster.pid" in s.log(), s.log())
        eq(s.stop(), 0, s.log())
    finally:
        reaper.stdin.close()
        reaper.wait(30)


def test_restart_when_postmaster_pid_names_another_live_process(ctx):
    s = ctx.server(embedded=True)
    status(s.admin.post("/v1/devices", {"id": "p1", "platform": "x"}), 201)
    pm = postmaster_pid(s)
    s.kill9()
    os.kill(pm, signal.SIGKILL)
    wait_for(lambda: proc_state(pm) in (None, "Z"), timeout=30, msg="the postmaster gone")
    # the pid is taken by a process of the cluster's owner that is no postgres
    other = subprocess.Popen(["sleep", "600"], preexec_fn=_as_owner())
    try:
        path = os.path.join(s.data_dir, "pg", "postmaster.pid")
        with open(path) as f:
            lines = f.read().split("\n")
        lines[0] = str(other.pid)
        with open(path, "w") as f:
            f.write("\n".join(lines))
        s.start()
        status(s.admin.get("/v1/devices/p1"), 200)
        eq(other.poll(), None)  # not ours to kill
    finally:
        other.kill()
        other.wait()


def _ready(s):
    try:
        return s.client(token=None).get("/readyz").status == 200
    except OSError:
        return False


def test_data_dir_that_cannot_be_made_names_the_directory_in_the_way(ctx):
    parent = tempfile.mkdtemp(dir=ctx.tmp)
    os.chmod(parent, 0o555)  # not writable, by an ordinary user at least
    data_dir = os.path.join(parent, "var")
    user, drop = pwd.getpwuid(os.getuid()).pw_name, None
    if os.getuid() == 0:  # root writes anywhere: be an ordinary user
        nobody = pwd.getpwnam("nobody")
        user, owner = "nobody", "root"

        def drop():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
    else:
        owner = user
    env = Server(ctx, None, data_dir=ctx.tmp).env()
    env["RAMP_DATA_DIR"] = data_dir
    rampd = ctx.rampd
    if drop:  # nobody may not reach the checkout (a clone under /root): a copy it can run
        rampd = os.path.join(ctx.tmp, "rampd")
        shutil.copy(ctx.rampd, rampd)
        os.chmod(rampd, 0o755)
    p = subprocess.run([rampd], env=env, preexec_fn=drop, capture_output=True, text=True,
                       timeout=120, cwd="/")
    check(p.returncode != 0, p.stderr)
    want = (f"could not create data directory {data_dir}: {parent} is not writable by {user} "
            f"(mode 0555, owner {owner})")
    check(want in p.stderr, p.stderr)


def test_version_file_is_rewritten_only_when_the_commit_changes(ctx):
    build = os.path.join(ctx.tmp, "b")
    target = os.path.join(build, "gen", "version.c")

    def make(*extra):
        p = subprocess.run(["make", "--no-print-directory", "-C", ROOT, f"BUILD={build}", *extra,
                            target], capture_output=True, text=True, timeout=120)
        eq(p.returncode, 0, p.stdout + p.stderr)
        with open(target) as f:
            return f.read(), os.stat(target).st_mtime_ns
    text, mtime = make()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True)
    want = head.stdout.strip() if head.returncode == 0 else "unknown"
    check(f'ramp_commit[] = "{want}";' in text, text)
    # the same commit: untouched, so nothing that links it is rebuilt
    eq(make(), (text, mtime))
    # another commit: rewritten, so what embeds it is rebuilt
    text2, _ = make("GIT_COMMIT=abc1234")
    check('ramp_commit[] = "abc1234";' in text2, text2)


def test_make_run_from_a_checkout_postgres_cannot_reach_uses_a_reachable_data_dir(ctx):
    """make run as root from /root/ramp (or anything mktemp -d made): the data
    goes where postgres can reach it, ./var links there, and rampd starts."""
    if os.getuid() != 0:
        raise Skip("only root runs the embedded postgresql as another user")
    checkout = tempfile.mkdtemp(dir=ctx.tmp)  # 0700, like /root
    fallback = os.path.join(ctx.tmp, "ramp-dev")
    script = os.path.join(ROOT, "deploy", "local-data-dir.sh")
    env = dict(os.environ, RAMP_LOCAL_FALLBACK=fallback)
    os.makedirs(os.path.join(checkout, "var"))  # what an earlier failed start left
    p = subprocess.run([script, checkout], env=env, capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, p.stderr)
    eq(p.stdout.strip(), fallback, p.stderr)
    check("postgres cannot reach" in p.stderr, p.stderr)
    eq(os.path.realpath(os.path.join(checkout, "var")), fallback)
    s = Server(ctx, None, data_dir=p.stdout.strip())
    ctx.servers.append(s)
    s.start()
    status(s.admin.get("/v1/devices"), 200)
    # the next make run keeps the link and the data
    p = subprocess.run([script, checkout], env=env, capture_output=True, text=True, timeout=60)
    eq((p.returncode, p.stdout.strip(), p.stderr), (0, fallback, ""))
    # a checkout postgres can reach keeps ./var in place
    os.chmod(checkout, 0o755)
    other = tempfile.mkdtemp(dir=checkout)
    os.chmod(other, 0o755)
    p = subprocess.run([script, other], env=env, capture_output=True, text=True, timeout=60)
    eq((p.returncode, p.stdout.strip()), (0, os.path.join(other, "var")), p.stderr)


def test_ingest_queue_out_of_range_is_refused_at_start(ctx):
    """RAMP_INGEST_QUEUE is read with the other settings, before anything starts."""
    with tempfile.TemporaryDirectory() as d:
        for v in ("0", "10000001", "many"):
            p = subprocess.run([os.path.join(ctx.build, "rampd")], capture_output=True, text=True,
                               timeout=30, env={"PATH": os.environ.get("PATH", ""),
                                                "RAMP_DATA_DIR": d, "RAMP_INGEST_QUEUE": v})
            check(p.returncode != 0, f"RAMP_INGEST_QUEUE={v} started: {p.stdout} {p.stderr}")
            check(f"invalid RAMP_INGEST_QUEUE: {v}" in p.stderr, p.stderr)
