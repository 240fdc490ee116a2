"""build/rampctl against a running rampd: every command, its tables and
-o json, the problem+json error line and the documented exit codes, and
tests/ci/rollout.sh - a CI job that uses only rampctl to push a signed
manifest with its artifacts, start a rollout and wait on it."""
import hashlib
import json
import os
import re
import subprocess
import threading

from fleet import Fleet, Signer, enroll, publish
from ramp import ROOT, Client, check, eq, status

POLICY_YAML = """\
stages:
  - name: canary
    size: 0.2
    validation_window: 2s
    metrics:
      - name: error_rate
        threshold: < 5%
  - name: ramp
    size: 0.5
    validation_window: 2s
  - name: full
    size: 1.0
    validation_window: 2s
rollback:
  automatic: true
  on_inconclusive: extend
"""


def rampctl(ctx, s, *args, token=..., env=None, check_rc=None, cwd=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    e["HOME"] = ctx.tmp
    if s is not None:
        e["RAMP_SERVER"] = s.url
        if token is not None:
            e["RAMP_TOKEN"] = s.admin_token if token is ... else token
    e.update(env or {})
    p = subprocess.run([os.path.join(ctx.build, "rampctl"), *args], env=e, capture_output=True,
                       text=True, timeout=120, cwd=cwd or ctx.tmp)
    if check_rc is not None:
        eq(p.returncode, check_rc, f"rampctl {' '.join(args)}: {p.stdout} {p.stderr}")
    return p


def write(ctx, name, text):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w" if isinstance(text, str) else "wb") as f:
        f.write(text)
    return path


class Player(threading.Thread):
    """Devices that install what they are told and report, healthy or not."""

    def __init__(self, fleet, bad=()):
        super().__init__(daemon=True)
        self.fleet, self.bad, self.stop = fleet, bad, threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.fleet.poll_all()
                self.fleet.report(versions_bad=self.bad)
            except Exception:  # noqa - the server may be stopping at the end
                pass
            self.stop.wait(0.4)

    def end(self):
        self.stop.set()
        self.join(10)
        self.fleet.close()


def ci_setup(ctx, s, n=30):
    """v1 stable on n devices; v2's artifact on disk; the CI key known to the server."""
    signer = Signer(ctx, None, key_id="ci-2026")
    rampctl(ctx, s, "key", "add", "ci-2026", "-f", signer.pub, check_rc=0)
    publish(s, signer, "ocr", "v1", stable=True)
    tokens = enroll(s, n)
    art = os.path.join(ctx.tmp, "artifacts")
    os.makedirs(art)
    blob = os.urandom(4096)
    write(ctx, "artifacts/ocr-v2.tflite", blob)
    digest = hashlib.sha256(blob).hexdigest()
    manifest = write(ctx, "manifest.yaml", "model:\n  name: ocr\n  version: v2\n  variants:\n"
                     "    - platform: rpi-arm64\n      file: ocr-v2.tflite\n"
                     f"      digest: sha256:{digest}\n      size: 4096\n")
    ci = status(s.admin.post("/v1/tokens", {"name": "ci-pipeline", "role": "ci"}), 201).json["token"]
    status(s.admin.request("PUT", "/v1/policies/fast", raw=POLICY_YAML.encode(),
                           ctype="application/yaml"), 201)
    return signer, tokens, art, digest, manifest, ci


def run_ci(ctx, s, ci, signer, manifest, art):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    env.update(RAMP_SERVER=s.url, RAMP_TOKEN=ci, RAMPCTL=os.path.join(ctx.build, "rampctl"))
    return subprocess.run(["sh", os.path.join(ROOT, "tests", "ci", "rollout.sh"), manifest, signer.priv,
                           "ci-2026", art, "ocr", "v2", "fast", "120"],
                          env=env, capture_output=True, text=True, timeout=180)


def test_ci_script_pushes_signs_starts_and_waits_until_the_rollout_succeeds(ctx):
    s = ctx.server()
    signer, tokens, art, digest, manifest, ci = ci_setup(ctx, s)
    player = Player(Fleet(s, tokens, "ocr"))
    player.start()
    try:
        p = run_ci(ctx, s, ci, signer, manifest, art)
    finally:
        player.end()
    eq(p.returncode, 0, p.stdout + p.stderr)
    check("artifact ocr-v2.tflite uploaded" in p.stdout, p.stdout)
    check("manifest ocr v2 stored" in p.stdout, p.stdout)
    check("event promoted" in p.stdout and "succeeded" in p.stdout, p.stdout)
    status(s.admin.request("HEAD", f"/v1/artifacts/sha256:{digest}"), 200)
    eq(status(s.admin.get("/v1/models/ocr"), 200).json["stable_version"], "v2")
    # pushing the same bytes again is fine; the artifact is already there
    again = rampctl(ctx, s, "manifest", "push", manifest, "--key", signer.priv, "--artifacts", art,
                    token=ci, check_rc=0)
    check("already stored" in again.stdout, again.stdout)


def test_watch_exits_1_when_the_rollout_rolls_back(ctx):
    s = ctx.server()
    signer, tokens, art, digest, manifest, ci = ci_setup(ctx, s)
    player = Player(Fleet(s, tokens, "ocr"), bad=("v2",))
    player.start()
    try:
        p = run_ci(ctx, s, ci, signer, manifest, art)
    finally:
        player.end()
    eq(p.returncode, 1, p.stdout + p.stderr)
    check("rolled_back" in p.stdout and "event breach" in p.stdout, p.stdout)


def test_rampctl_commands_tables_json_and_exit_codes(ctx):
    s = ctx.server()
    out = rampctl(ctx, s, "whoami", check_rc=0).stdout
    eq(out.strip(), "admin (admin)")
    viewer = rampctl(ctx, s, "token", "create", "bob", "--role", "viewer", check_rc=0).stdout.strip()
    eq(json.loads(rampctl(ctx, s, "whoami", "-o", "json", token=viewer, check_rc=0).stdout)["role"], "viewer")
    # devices
    out = rampctl(ctx, s, "device", "register", "--id", "pi-1", "--platform", "rpi-arm64",
                  "--label", "site=wh-3", "--label", "age_days=400", check_rc=0).stdout
    # the bare token, so DT=$(rampctl device register ...) captures it; it works as pi-1's
    check(re.fullmatch(r"rmp_\S+\n", out), out)
    status(Client(s.port, out.strip()).get("/v1/agent/desired"), 200)
    rec = json.loads(rampctl(ctx, s, "devices", "add", "--id", "pi-2", "--platform", "rpi-arm64",
                             "--json", check_rc=0).stdout)
    eq(rec["id"], "pi-2")  # the server's whole answer: {"id", "token"}
    check(rec["token"].startswith("rmp_"), rec)
    out = rampctl(ctx, s, "devices", "list", "--selector", "site=wh-3", check_rc=0).stdout
    lines = out.strip().splitlines()
    check(lines[0].split()[:2] == ["ID", "PLATFORM"] and len(lines) == 2 and "pi-1" in lines[1], out)
    ids = [d["id"] for d in json.loads(rampctl(ctx, s, "devices", "ls", "-o", "json", check_rc=0).stdout)]
    eq(ids, ["pi-1", "pi-2"])
    eq(json.loads(rampctl(ctx, s, "device", "get", "pi-1", check_rc=0).stdout)["labels"]["site"], "wh-3")
    rampctl(ctx, s, "cohort", "apply", "old", "--selector", "age_days>=365", check_rc=0)
    check("age_days>=365" in rampctl(ctx, s, "cohorts", "list", check_rc=0).stdout)
    # policies, from YAML as written
    pol = write(ctx, "fast.yaml", POLICY_YAML)
    eq(rampctl(ctx, s, "policy", "apply", "fast", "-f", pol, check_rc=0).stdout.strip(), "policy fast created")
    eq(rampctl(ctx, s, "policies", "apply", pol, check_rc=0).stdout.strip(), "policy fast updated")
    got = json.loads(rampctl(ctx, s, "policy", "get", "fast", check_rc=0).stdout)
    eq([st["name"] for st in got["policy"]["stages"]], ["canary", "ramp", "full"])
    # rollouts: create from a policy file (inline), list, get, verbs
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    slow = write(ctx, "slow.yaml", POLICY_YAML.replace("2s", "1h"))
    out = rampctl(ctx, s, "rollout", "create", "--model", "ocr", "--version", "v2", "--policy", slow,
                  "--selector", "platform=rpi-arm64", check_rc=0).stdout
    check(out.startswith("rollout #1 created: ocr v1 -> v2, progressing, stage canary 20% (1/3)"), out)
    out = rampctl(ctx, s, "rollouts", "list", check_rc=0).stdout.splitlines()
    check(out[0].split()[:5] == ["ID", "MODEL", "VERSION", "BASELINE", "STATE"], out)
    check(out[1].split()[:5] == ["1", "ocr", "v2", "v1", "progressing"], out)
    eq(rampctl(ctx, s, "rollouts", "ls", "--state", "active", "-o", "json", check_rc=0).stdout.count('"id"'), 1)
    out = rampctl(ctx, s, "rollout", "get", "1", check_rc=0).stdout
    for want in ("Rollout:   #1 ocr v1 -> v2", "State:     progressing", "Stage:     canary 20% (1/3)",
                 "1. canary", "<- current", "Events:", "created"):
        check(want in out, f"{want!r} in {out}")
    eq(json.loads(rampctl(ctx, s, "rollout", "get", "1", "-o", "json", check_rc=0).stdout)["selector"],
       "platform=rpi-arm64")
    check("state paused" in rampctl(ctx, s, "rollout", "pause", "1", check_rc=0).stdout)
    # the server's refusal: one line naming what is wrong, exit 3
    p = rampctl(ctx, s, "rollout", "pause", "1", check_rc=3)
    eq(len(p.stderr.strip().splitlines()), 1, p.stderr)
    check(p.stderr.startswith("rampctl: 409 Conflict: "), p.stderr)
    rampctl(ctx, s, "rollout", "resume", "1", check_rc=0)
    out = rampctl(ctx, s, "rollout", "promote", "1", "--full", check_rc=0).stdout
    check("stage full 100% (3/3)" in out, out)
    rampctl(ctx, s, "rollout", "abort", "1", check_rc=0)
    p = rampctl(ctx, s, "rollout", "watch", "1", check_rc=1)
    check("aborted" in p.stdout, p.stdout)
    # bad input is 4xx with the field; the viewer may read but not act
    p = rampctl(ctx, s, "rollout", "create", "--model", "ocr", "--version", "v9", "--policy", "nope", check_rc=3)
    check("422" in p.stderr and "(field policy)" in p.stderr, p.stderr)
    p = rampctl(ctx, s, "rollout", "pause", "1", token=viewer, check_rc=3)
    check("403" in p.stderr, p.stderr)
    check("401" in rampctl(ctx, s, "rollouts", "list", token="rmp_wrong", check_rc=3).stderr)
    # usage, local files, an unreachable server
    rampctl(ctx, s, "rollout", "get", check_rc=2)
    rampctl(ctx, s, "frobnicate", check_rc=2)
    rampctl(ctx, s, check_rc=2)
    eq(rampctl(ctx, s, "--help", check_rc=0).stdout.count("Exit codes"), 1)
    rampctl(ctx, s, "policy", "apply", "x", "-f", "/nonexistent.yaml", check_rc=5)
    rampctl(ctx, s, "manifest", "post", "--file", pol, "--key", "/nonexistent.pem", "--key-id", "k", check_rc=5)
    p = rampctl(ctx, s, "rollouts", "list", "--server", "http://127.0.0.1:9", check_rc=4)
    check("cannot reach" in p.stderr, p.stderr)


def test_rampctl_reads_server_and_token_from_config_and_ramp_url(ctx):
    s = ctx.server()
    os.makedirs(os.path.join(ctx.tmp, ".config", "ramp"))
    write(ctx, ".config/ramp/config", f"# ramp\nserver = {s.url}\ntoken = {s.admin_token}\n")
    eq(rampctl(ctx, None, "whoami", check_rc=0).stdout.strip(), "admin (admin)")
    # the environment wins over the file, flags over both
    p = rampctl(ctx, None, "whoami", env={"RAMP_TOKEN": "rmp_wrong"}, check_rc=3)
    check("401" in p.stderr, p.stderr)
    rampctl(ctx, None, "whoami", "--token", s.admin_token, env={"RAMP_TOKEN": "rmp_wrong"}, check_rc=0)
    os.remove(os.path.join(ctx.tmp, ".config", "ramp", "config"))
    rampctl(ctx, None, "whoami", env={"RAMP_URL": s.url, "RAMP_TOKEN": s.admin_token}, check_rc=0)


def test_rampctl_without_a_token_says_where_to_get_one(ctx):
    s = ctx.server()
    p = rampctl(ctx, s, "whoami", token=None, check_rc=3)
    lines = p.stderr.strip().splitlines()
    check(lines[0].startswith("rampctl: 401"), p.stderr)
    eq(lines[1], "rampctl: no token: set RAMP_TOKEN or --token (or \"token = ...\" in "
       "~/.config/ramp/config); the admin token of a local rampd is in ./var/admin.token")
    # make run writes var/admin.token beside the checkout: rampctl run there uses it
    os.makedirs(os.path.join(ctx.tmp, "var"))
    write(ctx, "var/admin.token", s.admin_token + "\n")
    eq(rampctl(ctx, s, "whoami", token=None, check_rc=0).stdout.strip(), "admin (admin)")
    # a token given wins over the file; a stale file says where the token came from
    rampctl(ctx, s, "whoami", token="rmp_wrong", check_rc=3)
    write(ctx, "var/admin.token", "rmp_stale\n")
    p = rampctl(ctx, s, "whoami", token=None, check_rc=3)
    check("the token was read from ./var/admin.token" in p.stderr, p.stderr)
    # RAMP_DATA_DIR names where a local rampd keeps it
    os.makedirs(os.path.join(ctx.tmp, "data"))
    write(ctx, "data/admin.token", s.admin_token + "\n")
    rampctl(ctx, s, "whoami", token=None, env={"RAMP_DATA_DIR": os.path.join(ctx.tmp, "data")},
            check_rc=0)
    # only for a server on this machine (localhost counts; another host's never gets it)
    rampctl(ctx, s, "whoami", "--server", f"http://localhost:{s.port}", token=None, check_rc=0,
            env={"RAMP_DATA_DIR": os.path.join(ctx.tmp, "data")})


def test_rampctl_unknown_command_suggests_the_nearest(ctx):
    for args, want in ((["rollot"], "unknown command 'rollot'; did you mean 'rollout'?"),
                       (["rollout", "stauts", "1"],
                        "unknown command 'rollout stauts'; did you mean 'rollout status'?"),
                       (["devices", "regster"],
                        "unknown command 'devices regster'; did you mean 'devices register'?"),
                       (["whoam"], "unknown command 'whoam'; did you mean 'whoami'?"),
                       (["frobnicate"], "unknown command 'frobnicate' (see rampctl --help)")):
        p = rampctl(ctx, None, *args, check_rc=2)
        eq(p.stdout, "")
        check(p.stderr.startswith("rampctl: " + want), p.stderr)
    check("did you mean" not in rampctl(ctx, None, "frobnicate", check_rc=2).stderr)
