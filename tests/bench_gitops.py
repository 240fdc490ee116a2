#!/usr/bin/env python3
"""GitOps push-to-canary: the time from `git push` of a commit that raises
a release's version (followed by the forge's push webhook, POST
/v1/gitops/sync with X-Hub-Signature-256) to the first canary device being
told the new version, with N devices enrolled (10,000 by default), over
several release/revert rounds. The repository is served by `git daemon` on
loopback; rampd fetches it with libgit2.

  python3 tests/bench_gitops.py [--build build] [--devices 10000] [--rounds 5]
"""
import argparse, hashlib, hmac, json, os, subprocess, sys, time, types
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from benchlib import Rampd, scratch, spawn  # noqa: E402
from ramp import Client, free_port, status  # noqa: E402
from fleet import Signer, enroll, manifest_text, stage_members, upload_artifacts  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--devices", type=int, default=10000)
ap.add_argument("--rounds", type=int, default=5)
a = ap.parse_args()
tmp = scratch("ramp-gb-")
genv = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=tmp)


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, env=genv, check=True, capture_output=True,
                          text=True).stdout.strip()


# the remote (bare, served by git daemon) and a working clone that pushes to it
bare, work = os.path.join(tmp, "fleet.git"), os.path.join(tmp, "work")
git("init", "-q", "--bare", "-b", "main", bare)
git("init", "-q", "-b", "main", work)
git("config", "user.email", "ci@example.com", cwd=work)
git("config", "user.name", "ci", cwd=work)
git("remote", "add", "origin", bare, cwd=work)
gport = free_port()
daemon = spawn(["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={tmp}",
                "--listen=127.0.0.1", f"--port={gport}", tmp],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def write(path, text):
    full = os.path.join(work, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


ctx = types.SimpleNamespace(tmp=tmp)
signer = Signer(ctx, None, key_id="ci-git")
write("keys/ci-git.pub", open(signer.pub).read())
for v in ("v1", "v2"):
    text = manifest_text("ocr", v, ("rpi-arm64",))
    write(f"models/ocr/{v}.yaml", text)
    write(f"models/ocr/{v}.yaml.sig", signer.sign(text) + "\n")
write("policies/canary.yaml", "stages:\n  - {name: canary, size: 0.01, validation_window: 1h}\n"
      "  - {name: full, size: 1.0, validation_window: 1h}\n")
write("releases/ocr.yaml", "version: v1\npolicy: canary\nstable: v1\n")
git("add", "-A", cwd=work)
git("commit", "-qm", "seed", cwd=work)
git("push", "-q", "origin", "main", cwd=work)

secret = "bench-webhook-secret"
bench = Rampd(a.build, tmp, log="log", RAMP_EVAL_INTERVAL="1",
              RAMP_GITOPS_REPO=f"git://127.0.0.1:{gport}/fleet.git", RAMP_GITOPS_INTERVAL="1h",
              RAMP_GITOPS_WEBHOOK_SECRET=secret,
              RAMP_RATE_DEVICE="off", RAMP_RATE_INGEST="off", RAMP_RATE_ADMIN="off")
c, s, port = bench.c, bench.s, bench.port
for v in ("v1", "v2"):
    upload_artifacts(s, "ocr", v)
t = time.time()
tokens = enroll(s, a.devices)
ids = list(tokens)
print(f"{a.devices} devices enrolled in {time.time() - t:.1f} s", flush=True)


def applied():
    return status(c.get("/v1/gitops"), 200).json.get("applied_commit")


def hook(commit):
    body = json.dumps({"ref": "refs/heads/main", "after": commit}).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    r = Client(port, None).request("POST", "/v1/gitops/sync", raw=body, ctype="application/json",
                                   headers={"X-Hub-Signature-256": sig})
    assert r.status == 202, r


def wait(fn, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.005)
    raise SystemExit(f"timed out; rampd log in {tmp}/log")


head = git("rev-parse", "HEAD", cwd=work)
wait(lambda: applied() == head)
res, push_ms = [], []
for k in range(a.rounds):
    write("releases/ocr.yaml", f"# round {k}\nversion: v2\npolicy: canary\nstable: v1\n")
    git("commit", "-qam", f"release v2 (round {k})", cwd=work)
    commit = git("rev-parse", "HEAD", cwd=work)
    t0 = time.time()
    git("push", "-q", "origin", "main", cwd=work)
    t1 = time.time()
    hook(commit)

    def active():
        items = status(c.get("/v1/rollouts?state=active&model=ocr"), 200).json["items"]
        return items[0] if items else None
    ro = wait(active)
    member = sorted(stage_members(ro["id"], ids, 0.01))[0]
    dc = Client(port, tokens[member])
    wait(lambda: any(m["version"] == "v2" for m in status(dc.get("/v1/agent/desired"), 200).json["models"]))
    t2 = time.time()
    dc.close()
    res.append(t2 - t0)
    push_ms.append(1000 * (t1 - t0))
    print(f"round {k}: rollout {ro['id']}: git push {1000 * (t1 - t0):.0f} ms, push -> canary told v2 "
          f"{1000 * (t2 - t0):.0f} ms", flush=True)
    git("revert", "--no-edit", "HEAD", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    hook(git("rev-parse", "HEAD", cwd=work))
    wait(lambda: status(c.get(f"/v1/rollouts/{ro['id']}"), 200).json["state"] == "aborted")
res.sort()
med = res[len(res) // 2]
print(f"push -> canary: median {1000 * med:.0f} ms, min {1000 * res[0]:.0f} ms, max {1000 * res[-1]:.0f} ms "
      f"over {len(res)} rounds at {a.devices} devices (git push alone: median "
      f"{sorted(push_ms)[len(push_ms) // 2]:.0f} ms)")
print(f"BENCH gitops_push_to_canary_median {1000 * med:.1f} ms")
