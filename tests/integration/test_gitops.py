"""GitOps end to end: a real Git repository made by the test with `git`,
served as file:// and by `git daemon` on loopback, reconciled by rampd
(libgit2). Signed manifests and releases drive rollouts; bad commits change
nothing and the status names the file; reverts abort; drift, self-heal, the
signer gate, an unreachable remote, a force-push, path traversal and the
sync webhook's HMAC."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time

from fleet import Fleet, Signer, enroll, manifest_text, rollout, upload_artifacts
from ramp import Skip, check, eq, free_port, status, wait_for

FAST = """stages:
  - name: canary
    size: 0.1
    validation_window: 1h
    approval: true
  - name: full
    size: 1.0
    validation_window: 1h
"""

ONE_STAGE = """stages:
  - name: all
    size: 1.0
    validation_window: 2s
rollback:
  on_inconclusive: extend
"""


class Repo:
    """A Git repository on disk that the test commits to with the git CLI."""

    def __init__(self, ctx, name="fleet"):
        if shutil.which("git") is None:
            raise Skip("git is not installed")
        self.base = os.path.join(ctx.tmp, "git")
        os.makedirs(self.base, exist_ok=True)
        self.dir = os.path.join(self.base, name)
        self.git("init", "-q", "-b", "main", self.dir, cwd=self.base)
        self.git("config", "user.email", "ci@example.com")
        self.git("config", "user.name", "ci")
        self.git("config", "commit.gpgsign", "false")
        self.daemon = None

    def git(self, *args, cwd=None, env=None):
        e = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=self.base)
        e.update(env or {})
        r = subprocess.run(["git", *args], cwd=cwd or self.dir, capture_output=True, text=True, env=e)
        check(r.returncode == 0, f"git {' '.join(args)}: {r.stderr}")
        return r.stdout.strip()

    @property
    def url(self):
        return "file://" + self.dir

    def write(self, path, data):
        full = os.path.join(self.dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)

    def commit(self, msg, *extra):
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", *extra, "-m", msg)
        return self.git("rev-parse", "HEAD")

    def serve(self):
        """git daemon on a free loopback port; the git:// URL."""
        self.port = self.port if getattr(self, "port", None) else free_port()
        self.daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={self.base}",
             "--listen=127.0.0.1", f"--port={self.port}", self.base],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"git://127.0.0.1:{self.port}/{os.path.basename(self.dir)}"
        wait_for(lambda: subprocess.run(["git", "ls-remote", url], capture_output=True).returncode == 0,
                 timeout=30, msg="git daemon serving")
        return url

    def stop_serving(self):
        if self.daemon:
            self.daemon.terminate()
            self.daemon.wait(timeout=10)
            self.daemon = None


def add_model(repo, signer, model, version, key_id_file=True, tamper=False):
    text = manifest_text(model, version, ("rpi-arm64",))
    sig = signer.sign(text)
    if tamper:
        text = text.replace("rpi-arm64.bin", "rpi-arm64.bim")
    repo.write(f"models/{model}/{version}.yaml", text)
    repo.write(f"models/{model}/{version}.yaml.sig", sig + "\n")
    if key_id_file:
        repo.write(f"models/{model}/{version}.yaml.key_id", signer.key_id + "\n")


def release(repo, model, version, policy="fast", stable=None, selector=None):
    lines = [f"version: {version}", f"policy: {policy}"]
    if stable:
        lines.append(f"stable: {stable}")
    if selector:
        lines.append(f"selector: \"{selector}\"")
    repo.write(f"releases/{model}.yaml", "\n".join(lines) + "\n")


def seed(ctx, repo, policy=FAST):
    """keys/, v1 and v2 of ocr, a policy, and a release of v1 (the stable one)."""
    signer = Signer(ctx, None, key_id="ci-git")
    repo.write("keys/ci-git.pub", open(signer.pub).read())
    add_model(repo, signer, "ocr", "v1")
    add_model(repo, signer, "ocr", "v2")
    repo.write("policies/fast.yaml", policy)
    release(repo, "ocr", "v1", stable="v1")
    repo.write("README.md", "the fleet's intended state\n")
    return signer, repo.commit("seed: ocr v1 stable")


def server(ctx, url, **env):
    e = {"RAMP_GITOPS_REPO": url, "RAMP_GITOPS_INTERVAL": "1s", "RAMP_EVAL_INTERVAL": "1s"}
    e.update({k: str(v) for k, v in env.items()})
    s = ctx.server(env=e)
    for v in ("v1", "v2", "v3"):
        upload_artifacts(s, "ocr", v)
    return s


def gitops(s):
    return status(s.admin.get("/v1/gitops"), 200).json


def wait_applied(s, commit, timeout=60):
    def ok():
        g = gitops(s)
        return g if g.get("applied_commit") == commit else None
    return wait_for(ok, timeout=timeout, msg=f"commit {commit} applied")


def wait_refused(s, commit, timeout=60):
    def ok():
        g = gitops(s)
        e = g.get("last_error") or {}
        return g if e.get("commit") == commit else None
    return wait_for(ok, timeout=timeout, msg=f"commit {commit} refused")


def obj(g, kind, name):
    for o in g["objects"]:
        if o["kind"] == kind and o["name"] == name:
            return o
    raise AssertionError(f"no {kind} {name} in {json.dumps(g['objects'])}")


def active(s, model="ocr"):
    items = status(s.admin.get(f"/v1/rollouts?state=active&model={model}"), 200).json["items"]
    return items[0] if items else None


def test_release_commit_rolls_out_and_revert_aborts_to_baseline(ctx):
    repo = Repo(ctx)
    _, first = seed(ctx, repo)
    s = server(ctx, repo.url)
    tokens = enroll(s, 40)
    g = wait_applied(s, first)
    eq(g["state"], "synced")
    eq(g["branch"], "main")
    eq(obj(g, "release", "ocr")["health"], "healthy")
    eq(status(s.admin.get("/v1/models/ocr"), 200).json["stable_version"], "v1")
    # the policy and manifests went in through the API's own checks
    eq(status(s.admin.get("/v1/policies/fast"), 200).json["policy"]["stages"][0]["name"], "canary")
    status(s.admin.get("/v1/models/ocr/versions/v2"), 200)

    release(repo, "ocr", "v2")
    second = repo.commit("release ocr v2")
    wait_applied(s, second)
    ro = wait_for(lambda: active(s), timeout=60, msg="rollout of v2 started")
    eq(ro["version"], "v2")
    rid = ro["id"]
    fleet = Fleet(s, tokens, "ocr")
    counts = fleet.poll_all()
    eq(counts.get("v2"), 4, json.dumps(counts))  # the canary: 10% of 40
    eq(counts.get("v1"), 36)
    g = gitops(s)
    eq(obj(g, "release", "ocr")["health"], "progressing")
    eq(obj(g, "release", "ocr")["rollout"], rid)

    repo.git("revert", "--no-edit", "HEAD")
    third = repo.git("rev-parse", "HEAD")
    wait_applied(s, third)
    wait_for(lambda: rollout(s, rid)["state"] == "aborted", timeout=60, msg="rollout aborted")
    counts = fleet.poll_all()
    eq(counts, {"v1": 40})
    g = gitops(s)
    check("stable version" in obj(g, "release", "ocr").get("detail", "") or
          obj(g, "release", "ocr")["health"] == "healthy", json.dumps(g))
    fleet.close()


def test_rollout_over_git_daemon_succeeds_on_simulated_fleet(ctx):
    repo = Repo(ctx)
    _, first = seed(ctx, repo, policy=ONE_STAGE)
    url = repo.serve()
    try:
        s = server(ctx, url)
        tokens = enroll(s, 20)
        wait_applied(s, first)
        release(repo, "ocr", "v2")
        second = repo.commit("release ocr v2")
        status(s.admin.post("/v1/gitops/sync"), 202)
        wait_applied(s, second)
        rid = wait_for(lambda: active(s), timeout=60, msg="rollout started")["id"]
        fleet = Fleet(s, tokens, "ocr")

        def done():
            fleet.poll_all()
            fleet.report()
            return rollout(s, rid)["state"] == "succeeded"
        wait_for(done, timeout=90, interval=0.5, msg="rollout succeeded")
        eq(fleet.poll_all(), {"v2": 20})
        g = wait_for(lambda: (lambda g: g if obj(g, "release", "ocr")["health"] == "healthy" else None)(gitops(s)),
                     timeout=30, msg="release healthy")
        check(g["repo"].startswith("git://127.0.0.1:"))
        fleet.close()
    finally:
        repo.stop_serving()


def test_bad_commits_change_nothing_and_name_the_file(ctx):
    repo = Repo(ctx)
    signer, first = seed(ctx, repo)
    s = server(ctx, repo.url)
    wait_applied(s, first)
    policy_before = status(s.admin.get("/v1/policies/fast"), 200).json

    # a tampered manifest (bytes changed after signing), with a release of it
    add_model(repo, signer, "ocr", "v3", tamper=True)
    release(repo, "ocr", "v3")
    bad = repo.commit("tampered v3")
    g = wait_refused(s, bad)
    eq(g["applied_commit"], first)
    eq(g["state"], "error")
    eq(g["last_error"]["file"], "models/ocr/v3.yaml")
    check("does not verify" in g["last_error"]["reason"], g["last_error"]["reason"])
    status(s.admin.get("/v1/models/ocr/versions/v3"), 404)
    eq(active(s), None)

    # a policy error, beside an otherwise good new version: nothing of it goes in
    add_model(repo, signer, "ocr", "v3")
    repo.write("policies/fast.yaml", FAST.replace("size: 1.0", "size: 0.05"))
    repo.write("policies/other.yaml", FAST)
    bad = repo.commit("bad policy")
    g = wait_refused(s, bad)
    eq(g["last_error"]["file"], "policies/fast.yaml")
    check("stages[1].size" in g["last_error"]["reason"], g["last_error"]["reason"])
    eq(g["last_error"]["line"], 7)
    status(s.admin.get("/v1/models/ocr/versions/v3"), 404)
    status(s.admin.get("/v1/policies/other"), 404)
    eq(status(s.admin.get("/v1/policies/fast"), 200).json["policy"], policy_before["policy"])
    eq(active(s), None)

    # a release naming a version nobody published
    repo.write("policies/fast.yaml", FAST)
    release(repo, "ocr", "v9")
    bad = repo.commit("unknown version")
    g = wait_refused(s, bad)
    eq(g["last_error"]["file"], "releases/ocr.yaml")
    eq(g["last_error"]["line"], 1)
    check("unknown version v9" in g["last_error"]["reason"], g["last_error"]["reason"])
    status(s.admin.get("/v1/models/ocr/versions/v3"), 404)
    status(s.admin.get("/v1/policies/other"), 404)
    eq(active(s), None)
    eq(gitops(s)["applied_commit"], first)

    # fixed: the next commit goes in whole
    release(repo, "ocr", "v1", stable="v1")
    good = repo.commit("fixed")
    g = wait_applied(s, good)
    eq(g["last_error"], None)
    status(s.admin.get("/v1/models/ocr/versions/v3"), 200)
    status(s.admin.get("/v1/policies/other"), 200)
    m = [ln for ln in s.log().splitlines() if "gitops sync refused" in ln]
    check(len(m) >= 3, "refusals are logged")
