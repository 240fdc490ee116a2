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
    # every write the reconciler made reached the in-memory snapshot
    v = status(s.admin.get("/v1/snapshot/verify"), 200).json
    eq(v["ok"], True, json.dumps(v))
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


GATED = """stages:
  - name: canary
    size: 0.5
    validation_window: 1h
    metrics:
      - name: error_rate
        threshold: < 1%
  - name: full
    size: 1.0
    validation_window: 1h
rollback:
  automatic: true
  failure_limit: 1
"""


def test_rolled_back_release_is_degraded_until_a_new_commit_or_retry(ctx):
    repo = Repo(ctx)
    _, first = seed(ctx, repo, policy=GATED)
    s = server(ctx, repo.url)
    tokens = enroll(s, 10)
    wait_applied(s, first)
    release(repo, "ocr", "v2")
    second = repo.commit("release ocr v2")
    wait_applied(s, second)
    rid = wait_for(lambda: active(s), timeout=60, msg="rollout started")["id"]
    fleet = Fleet(s, tokens, "ocr")

    def rolled_back():
        fleet.poll_all()
        fleet.report(versions_bad=("v2",))
        return rollout(s, rid)["state"] == "rolled_back"
    wait_for(rolled_back, timeout=90, interval=0.5, msg="rollout rolled back")

    def degraded():
        o = obj(gitops(s), "release", "ocr")
        return o if o.get("health", "").startswith("degraded") else None
    o = wait_for(degraded, timeout=30, msg="release degraded")
    eq(o["health"], "degraded: rolled back at stage canary")
    eq(o["rollout"], rid)
    # Git is left as it is, and further syncs start nothing
    eq(repo.git("rev-parse", "HEAD"), second)
    syncs = gitops(s)["last_sync_at"]
    status(s.admin.post("/v1/gitops/sync"), 202)
    wait_for(lambda: gitops(s)["last_sync_at"] != syncs, timeout=30, msg="another sync")
    eq(active(s), None)
    eq(fleet.poll_all(), {"v1": 10})
    # the retry verb starts it again
    r = status(s.admin.post("/v1/gitops/sync?retry=true"), 202)
    eq(r.json["retry"], True)
    again = wait_for(lambda: active(s), timeout=60, msg="rollout retried")
    check(again["id"] != rid)
    eq(again["version"], "v2")
    fleet.close()


def hub_sig(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_sync_webhook_needs_a_good_hmac_or_a_ci_token(ctx):
    repo = Repo(ctx)
    _, first = seed(ctx, repo)
    secret = "s3cret-webhook-key"
    s = server(ctx, repo.url, RAMP_GITOPS_INTERVAL="1h", RAMP_GITOPS_WEBHOOK_SECRET=secret)
    wait_applied(s, first)
    release(repo, "ocr", "v2")
    second = repo.commit("release ocr v2")
    body = json.dumps({"ref": "refs/heads/main", "after": second}).encode()
    anon = s.client(token=None)
    for sig in (hub_sig("wrong-secret", body), "sha256=" + "0" * 64, "sha1=abc", ""):
        r = anon.request("POST", "/v1/gitops/sync", raw=body, ctype="application/json",
                         headers={"X-Hub-Signature-256": sig})
        eq(r.status, 401, f"signature {sig!r}")
        eq(r.json["field"], "X-Hub-Signature-256")
    status(anon.post("/v1/gitops/sync", {}), 401)
    viewer = status(s.admin.post("/v1/tokens", {"name": "v", "role": "viewer"}), 201).json["token"]
    status(s.client(token=viewer).post("/v1/gitops/sync", {}), 403)
    status(s.client(token="nope").post("/v1/gitops/sync", {}), 401)
    # none of those asked for a sync: with a 1 h interval the commit stays unfetched
    t0 = time.time()
    while time.time() - t0 < 2:
        eq(gitops(s)["fetched_commit"], first)
        time.sleep(0.2)
    r = anon.request("POST", "/v1/gitops/sync", raw=body, ctype="application/json",
                     headers={"X-Hub-Signature-256": hub_sig(secret, body)})
    eq(r.status, 202, str(r))
    wait_applied(s, second)
    # and a ci token
    ci = status(s.admin.post("/v1/tokens", {"name": "ci", "role": "ci"}), 201).json["token"]
    release(repo, "ocr", "v1", stable="v1")
    third = repo.commit("back to v1")
    status(s.client(token=ci).post("/v1/gitops/sync", {}), 202)
    wait_applied(s, third)
    m = status(s.admin.get("/metrics", token=None), 200).body.decode()
    check(f'ramp_gitops_info{{branch="main",commit="{third}"}} 1' in m, "info gauge has the commit")
    check("ramp_gitops_last_sync_timestamp_seconds" in m)


def test_remote_down_keeps_state_then_back_and_force_push_followed(ctx):
    repo = Repo(ctx)
    _, first = seed(ctx, repo)
    url = repo.serve()
    try:
        s = server(ctx, url)
        wait_applied(s, first)
        repo.stop_serving()
        release(repo, "ocr", "v2")
        second = repo.commit("release v2 while the remote is down")

        def down():
            g = gitops(s)
            return g if g["unreachable_since"] else None
        g = wait_for(down, timeout=60, msg="remote reported unreachable")
        eq(g["state"], "unreachable")
        eq(g["applied_commit"], first)
        check("could not fetch" in g["last_error"]["reason"], json.dumps(g["last_error"]))
        eq(obj(g, "release", "ocr")["health"], "healthy")  # the last applied state stays
        eq(active(s), None)
        m = status(s.admin.get("/metrics", token=None), 200).body.decode()
        check("ramp_gitops_remote_unreachable 1" in m)
        repo.serve()
        status(s.admin.post("/v1/gitops/sync"), 202)
        g = wait_applied(s, second)
        eq(g["unreachable_since"], None)
        wait_for(lambda: active(s), timeout=60, msg="rollout started once back")

        # force-push: the branch is rewritten to a commit that is not a descendant
        repo.git("reset", "-q", "--hard", first)
        release(repo, "ocr", "v1", stable="v1")
        repo.write("policies/other.yaml", FAST)
        forced = repo.commit("rewritten history")
        status(s.admin.post("/v1/gitops/sync"), 202)
        wait_applied(s, forced)
        status(s.admin.get("/v1/policies/other"), 200)
        wait_for(lambda: active(s) is None, timeout=60, msg="rollout aborted after the force-push")
    finally:
        repo.stop_serving()


def test_path_traversal_symlinks_and_huge_files_are_refused(ctx):
    repo = Repo(ctx)
    _, first = seed(ctx, repo)
    s = server(ctx, repo.url)
    wait_applied(s, first)
    # a tree entry named ".." under policies/, made with git mktree
    with open(os.path.join(ctx.tmp, "evil.yaml"), "w") as f:
        f.write(FAST)
    blob = repo.git("hash-object", "-w", os.path.join(ctx.tmp, "evil.yaml"))
    sub = subprocess.run(["git", "mktree"], cwd=repo.dir, input=f"100644 blob {blob}\t..\n",
                         capture_output=True, text=True, check=True).stdout.strip()
    top = repo.git("cat-file", "-p", "HEAD^{tree}").splitlines()
    entries = [ln for ln in top if not ln.endswith("\tpolicies")] + [f"040000 tree {sub}\tpolicies"]
    tree = subprocess.run(["git", "mktree"], cwd=repo.dir, input="\n".join(entries) + "\n",
                          capture_output=True, text=True, check=True).stdout.strip()
    evil = repo.git("commit-tree", tree, "-p", first, "-m", "dot-dot")
    repo.git("update-ref", "refs/heads/main", evil)
    g = wait_refused(s, evil)
    eq(g["last_error"]["file"], "policies/..")
    check("refused" in g["last_error"]["reason"], g["last_error"]["reason"])
    eq(g["applied_commit"], first)
    repo.git("reset", "-q", "--hard", first)

    # a symlink pointing outside the repository
    os.symlink("/etc/passwd", os.path.join(repo.dir, "policies", "passwd.yaml"))
    link = repo.commit("symlink")
    g = wait_refused(s, link)
    eq(g["last_error"]["file"], "policies/passwd.yaml")
    check("symbolic link" in g["last_error"]["reason"], g["last_error"]["reason"])
    status(s.admin.get("/v1/policies/passwd"), 404)
    os.unlink(os.path.join(repo.dir, "policies", "passwd.yaml"))

    # a file over the size cap is refused before it is read
    repo.write("policies/huge.yaml", "# " + "x" * (2 * 1024 * 1024) + "\n")
    huge = repo.commit("huge")
    g = wait_refused(s, huge)
    eq(g["last_error"]["file"], "policies/huge.yaml")
    check("larger than" in g["last_error"]["reason"], g["last_error"]["reason"])
    eq(g["applied_commit"], first)
    status(s.admin.get("/v1/policies/huge"), 404)


def test_drift_is_reported_and_self_heal_puts_it_back(ctx):
    repo = Repo(ctx)
    repo.write("cohorts/north.yaml", "selector: \"site=north\"\n")
    _, first = seed(ctx, repo)
    s = server(ctx, repo.url)
    wait_applied(s, first)
    eq(status(s.admin.get("/v1/cohorts/north"), 200).json["selector"], "site=north")
    changed = FAST.replace("name: canary", "name: first")
    status(s.admin.request("PUT", "/v1/policies/fast", raw=changed.encode(), ctype="application/yaml"), 200)
    status(s.admin.put("/v1/cohorts/north", {"selector": "site=south"}), 200)

    def drifted():
        g = gitops(s)
        return g if obj(g, "policy", "fast")["state"] == "drift" and obj(g, "cohort", "north")["state"] == "drift" else None
    g = wait_for(drifted, timeout=30, msg="drift reported")
    check("changed" in obj(g, "policy", "fast")["detail"])
    # reported only: ramp keeps the REST change
    eq(status(s.admin.get("/v1/policies/fast"), 200).json["policy"]["stages"][0]["name"], "first")
    s.stop()

    s2 = ctx.server(env={"RAMP_GITOPS_REPO": repo.url, "RAMP_GITOPS_INTERVAL": "1s",
                         "RAMP_EVAL_INTERVAL": "1s", "RAMP_GITOPS_SELF_HEAL": "1"})
    wait_applied(s2, first)
    status(s2.admin.request("PUT", "/v1/policies/fast", raw=changed.encode(), ctype="application/yaml"), 200)
    status(s2.admin.put("/v1/cohorts/north", {"selector": "site=south"}), 200)
    wait_for(lambda: status(s2.admin.get("/v1/policies/fast"), 200).json["policy"]["stages"][0]["name"] == "canary",
             timeout=30, msg="policy put back")
    wait_for(lambda: status(s2.admin.get("/v1/cohorts/north"), 200).json["selector"] == "site=north",
             timeout=30, msg="cohort put back")
    g = gitops(s2)
    eq(g["self_heal"], True)
    eq(obj(g, "policy", "fast")["state"], "synced")


def test_unsigned_commit_refused_under_the_signer_gate(ctx):
    if shutil.which("ssh-keygen") is None:
        raise Skip("ssh-keygen is not installed")
    repo = Repo(ctx)
    key = os.path.join(ctx.tmp, "signer")
    other = os.path.join(ctx.tmp, "other")
    for k in (key, other):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", k], check=True)
    allowed = os.path.join(ctx.tmp, "allowed_signers")
    with open(allowed, "w") as f:
        f.write("ci@example.com " + open(key + ".pub").read())
    signer = Signer(ctx, None, key_id="ci-git")
    repo.write("keys/ci-git.pub", open(signer.pub).read())
    add_model(repo, signer, "ocr", "v1")
    repo.write("policies/fast.yaml", FAST)
    release(repo, "ocr", "v1", stable="v1")

    def signed_commit(msg, k):
        repo.git("add", "-A")
        repo.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={k}.pub", "commit", "-q", "--allow-empty", "-S", "-m", msg)
        return repo.git("rev-parse", "HEAD")
    good = signed_commit("signed seed", key)
    s = server(ctx, repo.url, RAMP_GITOPS_ALLOWED_SIGNERS=allowed)
    wait_applied(s, good)
    repo.write("policies/unsigned.yaml", FAST)
    unsigned = repo.commit("unsigned")
    g = wait_refused(s, unsigned)
    check(f"commit {unsigned} is not signed" in g["last_error"]["reason"], g["last_error"]["reason"])
    eq(g["applied_commit"], good)
    status(s.admin.get("/v1/policies/unsigned"), 404)
    wrong = signed_commit("signed by someone else", other)
    g = wait_refused(s, wrong)
    check("not signed by an allowed signer" in g["last_error"]["reason"], g["last_error"]["reason"])
    status(s.admin.get("/v1/policies/unsigned"), 404)
    ok = signed_commit("signed again", key)
    wait_applied(s, ok)
    status(s.admin.get("/v1/policies/unsigned"), 200)


def rampctl(ctx, s, *args, rc=0):
    p = subprocess.run([os.path.join(ctx.build, "rampctl"), *args], capture_output=True, text=True,
                       env=dict(os.environ, RAMP_SERVER=s.url if s else "http://127.0.0.1:1",
                                RAMP_TOKEN=s.admin_token if s else "x"))
    eq(p.returncode, rc, f"rampctl {' '.join(args)}: {p.stdout} {p.stderr}")
    return p.stdout


def test_rampctl_signs_manifests_for_git_and_reports_gitops_status(ctx):
    repo = Repo(ctx)
    signer = Signer(ctx, None, key_id="ci-git", alg="ecdsa")
    repo.write("keys/ci-git.pub", open(signer.pub).read())
    for v in ("v1", "v2"):
        repo.write(f"models/ocr/{v}.yaml", manifest_text("ocr", v, ("rpi-arm64",)))
        out = rampctl(ctx, None, "manifest", "sign", os.path.join(repo.dir, f"models/ocr/{v}.yaml"),
                      "--key", signer.priv, "--key-id", "ci-git")
        check("signed" in out, out)
    eq(open(os.path.join(repo.dir, "models/ocr/v1.yaml.key_id")).read(), "ci-git\n")
    # a manifest rampd would refuse is not signed
    repo.write("bad.yaml", "model: {name: ocr}\n")
    rampctl(ctx, None, "manifest", "sign", os.path.join(repo.dir, "bad.yaml"), "--key", signer.priv, rc=5)
    check(not os.path.exists(os.path.join(repo.dir, "bad.yaml.sig")))
    os.unlink(os.path.join(repo.dir, "bad.yaml"))
    repo.write("policies/fast.yaml", FAST)
    release(repo, "ocr", "v1", stable="v1")
    first = repo.commit("seed, signed by rampctl")
    s = server(ctx, repo.url, RAMP_GITOPS_INTERVAL="1h")
    wait_applied(s, first)
    out = rampctl(ctx, s, "gitops", "status")
    check(f"applied:  {first}" in out, out)
    check("release" in out and "healthy" in out, out)
    release(repo, "ocr", "v2")
    second = repo.commit("v2")
    out = rampctl(ctx, s, "gitops", "sync")
    check("sync requested" in out, out)
    wait_applied(s, second)
    wait_for(lambda: active(s), timeout=60, msg="rollout started")
    j = json.loads(rampctl(ctx, s, "gitops", "status", "-o", "json"))
    eq(j["applied_commit"], second)
    rampctl(ctx, s, "gitops", "sync", "--retry")


def test_webhooks_hear_gitops_synced_and_failed(ctx):
    import http.server
    import threading
    got = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.append((dict(self.headers), json.loads(body)))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        repo = Repo(ctx)
        signer, first = seed(ctx, repo)
        s = server(ctx, repo.url, RAMP_GITOPS_INTERVAL="1h", RAMP_WEBHOOK_ALLOW_PRIVATE="1")
        wait_applied(s, first)
        status(s.admin.put("/v1/webhooks/git", {
            "url": f"http://127.0.0.1:{httpd.server_address[1]}/hook",
            "events": ["gitops.synced", "gitops.failed"], "secret": "0123456789abcdef0123"}), 201)
        add_model(repo, signer, "ocr", "v3", tamper=True)
        bad = repo.commit("tampered")
        status(s.admin.post("/v1/gitops/sync"), 202)
        wait_refused(s, bad)
        wait_for(lambda: any(b["type"] == "gitops.failed" for _, b in got), timeout=60, msg="failed event")
        h, b = [x for x in got if x[1]["type"] == "gitops.failed"][0]
        eq(h.get("X-Ramp-Event"), "gitops.failed")
        eq(b["gitops"]["commit"], bad)
        eq(b["gitops"]["error"]["file"], "models/ocr/v3.yaml")
        add_model(repo, signer, "ocr", "v3")
        good = repo.commit("fixed")
        status(s.admin.post("/v1/gitops/sync"), 202)
        wait_applied(s, good)
        wait_for(lambda: any(b["type"] == "gitops.synced" for _, b in got), timeout=60, msg="synced event")
        b = [x[1] for x in got if x[1]["type"] == "gitops.synced"][0]
        eq(b["gitops"]["commit"], good)
        eq(b["gitops"]["branch"], "main")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_gitops_walkthrough_runs_as_written(ctx):
    import re
    import tempfile
    from ramp import ROOT
    for tool in ("jq", "curl", "openssl", "git"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} is not installed")
    text = open(os.path.join(ROOT, "docs", "gitops.md")).read()
    m = re.search(r"<!-- gitops-walkthrough:begin -->\n```sh\n(.*?)```\n<!-- gitops-walkthrough:end -->",
                  text, re.S)
    check(m, "docs/gitops.md has no walkthrough block between its markers")
    repo = os.path.join(ctx.tmp, "fleet")
    s = ctx.server(env={"RAMP_GITOPS_REPO": "file://" + repo, "RAMP_GITOPS_INTERVAL": "5s",
                        "RAMP_EVAL_INTERVAL": "1s"})
    checkout = tempfile.mkdtemp(prefix="checkout", dir=ctx.tmp)
    os.symlink(ctx.build, os.path.join(checkout, "build"))
    env = dict(os.environ, RAMP_SERVER=s.url, RAMP_TOKEN=s.admin_token, REPO=repo, TMPDIR=ctx.tmp)
    env.pop("RAMP_URL", None)
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", m.group(1)], cwd=checkout, env=env,
                       capture_output=True, text=True, timeout=300)
    eq(p.returncode, 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}\n{s.log()}")
    versions = [ln for ln in p.stdout.splitlines() if re.fullmatch(r"2026\.0[12]\.01", ln)]
    eq(versions, ["2026.01.01", "2026.02.01", "2026.01.01"], p.stdout)
    check("state:    synced" in p.stdout, p.stdout)
    eq([r["state"] for r in status(s.admin.get("/v1/rollouts?state=all"), 200).json["items"]], ["aborted"])


def test_release_of_a_version_whose_file_is_missing_waits_for_the_upload(ctx):
    repo = Repo(ctx)
    _, first = seed(ctx, repo)
    s = ctx.server(env={"RAMP_GITOPS_REPO": repo.url, "RAMP_GITOPS_INTERVAL": "1s", "RAMP_EVAL_INTERVAL": "1s"})
    upload_artifacts(s, "ocr", "v1")
    wait_applied(s, first)
    release(repo, "ocr", "v2")
    second = repo.commit("release v2 before its file is uploaded")
    wait_applied(s, second)

    def error():
        o = obj(gitops(s), "release", "ocr")
        return o if o["state"] == "error" else None
    o = wait_for(error, timeout=30, msg="release in error")
    check("points at nothing" in o["detail"], o["detail"])
    eq(active(s), None)
    upload_artifacts(s, "ocr", "v2")
    ro = wait_for(lambda: active(s), timeout=60, msg="rollout once the file is there")
    eq(ro["version"], "v2")


def test_ci_publish_script_signs_commits_and_releases(ctx):
    repo = Repo(ctx)
    signer, first = seed(ctx, repo)
    s = server(ctx, repo.url, RAMP_GITOPS_INTERVAL="1h")
    tokens = enroll(s, 10)
    wait_applied(s, first)
    ci = status(s.admin.post("/v1/tokens", {"name": "ci", "role": "ci"}), 201).json["token"]
    dist = os.path.join(ctx.tmp, "dist")
    os.makedirs(dist)
    with open(os.path.join(dist, "ocr.tflite"), "wb") as f:
        f.write(b"weights of 2026.03.01")
    from ramp import ROOT
    script = os.path.join(ROOT, "deploy", "gitops-publish.sh")
    env = dict(os.environ, RAMPCTL=os.path.join(ctx.build, "rampctl"), HOME=repo.base)
    p = subprocess.run(["sh", script, "--repo", repo.dir, "--model", "ocr", "--version", "2026.03.01",
                        "--key", signer.priv, "--key-id", "ci-git", "--platform", "rpi-arm64",
                        "--file", os.path.join(dist, "ocr.tflite"), "--release",
                        "--server", s.url, "--token", ci], capture_output=True, text=True, env=env, timeout=120)
    eq(p.returncode, 0, p.stderr)
    commit = p.stdout.strip().splitlines()[-1]
    eq(commit, repo.git("rev-parse", "HEAD"))
    wait_applied(s, commit)
    rec = status(s.admin.get("/v1/models/ocr/versions/2026.03.01"), 200).json
    eq(rec["key_id"], "ci-git")
    eq(rec["variants"][0]["size"], len(b"weights of 2026.03.01"))
    ro = wait_for(lambda: active(s), timeout=60, msg="rollout started")
    eq(ro["version"], "2026.03.01")
    fleet = Fleet(s, tokens, "ocr")
    eq(fleet.poll_all().get("2026.03.01"), 1)  # 10% canary of 10 devices
    fleet.close()
    # the same version again is refused before anything is written
    p = subprocess.run(["sh", script, "--repo", repo.dir, "--model", "ocr", "--version", "2026.03.01",
                        "--key", signer.priv, "--platform", "rpi-arm64", "--file",
                        os.path.join(dist, "ocr.tflite")], capture_output=True, text=True, env=env)
    check(p.returncode != 0 and "immutable" in p.stderr, p.stderr)
    eq(repo.git("rev-parse", "HEAD"), commit)


class GitHTTP:
    """git http-backend behind a small loopback HTTP server that wants
    Basic auth with the password `token` (as a forge wants a token)."""

    def __init__(self, base, token):
        import http.server
        import threading
        want = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
        self.denied = 0
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        n = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if n == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(n)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def handle_any(self):
                data = self.body()
                if self.headers.get("Authorization") != want:
                    me.denied += 1
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                env = {"GIT_PROJECT_ROOT": base, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
                       "QUERY_STRING": query, "REQUEST_METHOD": self.command, "REMOTE_USER": "ci",
                       "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": str(len(data)),
                       "CONTENT_TYPE": self.headers.get("Content-Type", ""), "PATH": os.environ["PATH"],
                       "HOME": base, "GIT_CONFIG_NOSYSTEM": "1"}
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                out = subprocess.run(["git", "http-backend"], input=data, env=env, capture_output=True).stdout
                sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
                head, _, rest = out.partition(sep)
                code, headers = 200, []
                for line in head.decode().splitlines():
                    k, _, v = line.partition(":")
                    if k.lower() == "status":
                        code = int(v.strip().split()[0])
                    elif k:
                        headers.append((k, v.strip()))
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                self.wfile.write(rest)

            do_GET = do_POST = handle_any

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_https_style_token_over_git_http_backend(ctx):
    repo = Repo(ctx)
    _, first = seed(ctx, repo)
    srv = GitHTTP(repo.base, "t0ken-for-fleet")
    try:
        url = f"http://127.0.0.1:{srv.port}/{os.path.basename(repo.dir)}"
        bad = os.path.join(ctx.tmp, "bad.token")
        with open(bad, "w") as f:
            f.write("wrong-token\n")
        s = server(ctx, url, RAMP_GITOPS_TOKEN_FILE=bad)

        def refused():
            g = gitops(s)
            return g if g.get("unreachable_since") else None
        g = wait_for(refused, timeout=60, msg="a wrong token is refused")
        eq(g["applied_commit"], None)
        check(srv.denied > 0)
        check("wrong-token" not in json.dumps(g), "the token is never shown")
        s.stop()
        good = os.path.join(ctx.tmp, "good.token")
        with open(good, "w") as f:
            f.write("t0ken-for-fleet\n")
        s2 = server(ctx, url, RAMP_GITOPS_TOKEN_FILE=good)
        g = wait_applied(s2, first)
        eq(g["repo"], url)
        eq(g["unreachable_since"], None)
    finally:
        srv.close()


def test_only_the_evaluating_replica_reconciles(ctx):
    repo = Repo(ctx)
    _, first = seed(ctx, repo)
    env = {"RAMP_GITOPS_REPO": repo.url, "RAMP_GITOPS_INTERVAL": "1s", "RAMP_EVAL_INTERVAL": "1s"}
    s1 = ctx.server(env=env)
    upload_artifacts(s1, "ocr", "v2")
    s2 = ctx.server(env=env, database=s1.database, admin_token=s1.admin_token)
    wait_applied(s1, first)
    release(repo, "ocr", "v2")
    second = repo.commit("release v2")
    status(s2.admin.post("/v1/gitops/sync"), 202)
    wait_applied(s2, second)  # the status is the database's: both replicas answer it
    ro = wait_for(lambda: active(s2), timeout=60, msg="one rollout started")
    eq(len(status(s1.admin.get("/v1/rollouts?state=all"), 200).json["items"]), 1)
    logs = [s1.log(), s2.log()]
    leaders = [i for i, log in enumerate(logs) if "this replica now evaluates rollouts" in log]
    eq(len(leaders), 1, "one evaluator")
    applied = [i for i, log in enumerate(logs) if "gitops applied" in log]
    eq(applied, leaders, "only the evaluator applied commits")
    audit = status(s1.admin.get("/v1/audit?limit=1000"), 200).json["items"]
    eq(sum(1 for e in audit if e["actor"] == "gitops" and e["action"].startswith("rollout")) >= 1, True)
    eq(ro["version"], "v2")
