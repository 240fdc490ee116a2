"""Deltas (issue 23): zstd patch-from deltas built by rampd in the background
or uploaded by CI, offered in the desired answer only to a device known to
run exactly the delta's base, installed by ramp-agent with Range resume and
the same checks as a full download, with a fallback to the full file on a
wrong base or a corrupt delta; the hawkBit DDI path keeps the full artifact."""
import hashlib
import os
import random
import re
import shutil
import subprocess
import time

from agentdev import (PLATFORM, AgentProc, Store, base_conf, device_session, status_rows,
                      wait_status)
from ddi import DDI, links, register
from fleet import Signer, enroll
from ramp import Client, Skip, check, eq, status, wait_for
from runners import publish, set_stable

MODEL = "ocr"
ALL = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def model_pair(seed=7, size=256 * 1024):
    """v1: a model-like file; v2: the same with its last tenth re-trained (changed)."""
    rng = random.Random(seed)
    v1 = b"ocr v1 model\n" + rng.randbytes(size)
    tail = len(v1) - len(v1) // 10
    v2 = b"ocr v2 model\n" + v1[13:tail] + rng.randbytes(len(v1) - tail)
    return v1, v2


def get_statuses(s, path):
    """The statuses of GETs of path in rampd's access log (RAMP_ACCESS_LOG=1)."""
    needle = f'method=GET path="{path}" status='
    with open(s.log_path, errors="replace") as f:
        return [int(line.split(needle)[1].split()[0]) for line in f if needle in line]


def object_path(s, d):
    return os.path.join(s.data_dir, "artifacts", "sha256", d[7:9], d[7:])


def zpatch(ctx, *args):
    out = subprocess.run([os.path.join(ctx.build, "tools", "zpatch-tool"), *args],
                         capture_output=True, text=True, timeout=120)
    check(out.returncode == 0, f"zpatch-tool {args}: {out.stdout} {out.stderr}")
    return out.stdout


def make_delta(ctx, old, new, name="d"):
    po, pn, pd = (os.path.join(ctx.tmp, f"{name}.{x}") for x in ("old", "new", "delta"))
    for p, data in ((po, old), (pn, new)):
        with open(p, "wb") as f:
            f.write(data)
    zpatch(ctx, "make", po, pn, pd, "19", "27")
    with open(pd, "rb") as f:
        return f.read()


def put_artifact(s, data, client=None):
    r = (client or s.admin).request("PUT", f"/v1/artifacts/{digest(data)}", raw=data,
                                    ctype="application/octet-stream")
    check(r.status in (200, 201), f"upload: {r}")


def deltas(s):
    return status(s.admin.get("/v1/deltas"), 200).json["items"]


def desired(s, tok):
    c = Client(s.port, tok)
    try:
        return {m["model"]: m for m in status(c.get("/v1/agent/desired"), 200).json["models"]}
    finally:
        c.close()


def report(s, tok, version, state, detail=None):
    c = Client(s.port, tok)
    try:
        body = {"model": MODEL, "version": version, "state": state}
        if detail:
            body["detail"] = detail
        return c.post("/v1/agent/status", body)
    finally:
        c.close()


def verified(s):
    r = status(s.admin.get("/v1/snapshot/verify"), 200).json
    check(r["ok"], f"snapshot differs from a fresh load: {r}")


def metric(s, name):
    text = status(s.admin.get("/metrics"), 200).body.decode()
    m = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    check(m is not None, f"{name} in /metrics")
    return float(m.group(1))


def cli_reads(ctx, old, delta, new):
    if shutil.which("zstd") is None:
        raise Skip("zstd (the Debian package) is not installed")
    po, pd, pn = (os.path.join(ctx.tmp, x) for x in ("cli.old", "cli.delta", "cli.new"))
    for p, data in ((po, old), (pd, delta)):
        with open(p, "wb") as f:
            f.write(data)
    subprocess.run(["zstd", "-q", "-d", "-f", f"--patch-from={po}", "--long=31", pd, "-o", pn],
                   check=True, timeout=60)
    with open(pn, "rb") as f:
        eq(f.read(), new, "zstd -d --patch-from=old rebuilds the new file")


class Env:
    """rampd (access log on) with v1 stable and v2 published, both in its artifact store,
    and one enrolled device."""

    def __init__(self, ctx, env=None, pair=None):
        self.ctx = ctx
        self.s = ctx.server(env={"RAMP_ACCESS_LOG": "1", "RAMP_DELTA_INTERVAL": "1", **(env or {})})
        self.signer = Signer(ctx, self.s)
        self.v1, self.v2 = pair or model_pair()
        publish(self.s, self.signer, MODEL, "v1", self.v1, stable=True, platform=PLATFORM)
        publish(self.s, self.signer, MODEL, "v2", self.v2, platform=PLATFORM)
        self.dev, self.tok = next(iter(enroll(self.s, 1, platform=PLATFORM, prefix="pi").items()))

    def agent(self, **extra):
        return AgentProc(self.ctx, base_conf(self.s.url, self.tok, self.signer.pub, **extra))

    def wait(self, version, st, after=0, agent=None):
        return wait_status(self.ctx, self.s, self.dev, version, st, after, agent)

    def rows(self):
        return status_rows(self.ctx, self.s, self.dev)

    def upload_delta(self, old, new):
        d = make_delta(self.ctx, old, new)
        put_artifact(self.s, d)
        r = status(self.s.admin.post("/v1/deltas", {"from": digest(old), "to": digest(new),
                                                    "digest": digest(d), "format": "zstd-patch"}), 201)
        return d, r.json


def test_rollout_delta_is_built_in_the_background_and_the_agent_installs_from_it(ctx):
    with device_session(ctx):
        e = Env(ctx)
        a = e.agent()
        e.wait("v1", "installed", agent=a)
        eq(Store(a.model_dir, MODEL).read(), e.v1)
        eq(a.stop(), 0)
        # the rollout wants v1 (stable and baseline) -> v2: rampd builds it on its own thread
        rid = status(e.s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2", "policy": ALL}),
                     201).json["id"]
        wait_for(lambda: deltas(e.s), timeout=60, msg="the builder made the delta")
        (d,) = deltas(e.s)
        eq((d["from"], d["to"], d["format"], d["source"]), (digest(e.v1), digest(e.v2), "zstd-patch", "built"))
        check(0 < d["size"] < len(e.v2) // 4, f"a re-trained tail gives a small delta: {d}")
        check(d["build_ms"] is not None and d["build_ms"] >= 0, f"build time recorded: {d}")
        eq(metric(e.s, "ramp_deltas_built_total"), 1)
        with open(object_path(e.s, d["digest"]), "rb") as f:
            stored = f.read()
        eq(digest(stored), d["digest"], "content-addressed under its own digest")
        # the zstd command line reads it as a patch against v1 (zstd is in TEST_DEB_PKGS)
        cli_reads(ctx, e.v1, stored, e.v2)
        # the built delta is in the database's artifact store: another replica serves it
        b = ctx.server(database=e.s.database, admin_token=e.s.admin_token)
        eq(status(b.admin.get(f"/v1/artifacts/{d['digest']}"), 200).body, stored)
        b.stop()
        # the device reported v1 installed: its answer carries the delta (the builder's row is
        # committed a moment before it changes the catalog: it answers no request)
        wait_for(lambda: "delta" in desired(e.s, e.tok)[MODEL], timeout=30, msg="the delta is offered")
        m = desired(e.s, e.tok)[MODEL]
        eq((m["version"], m["rollout"]["id"]), ("v2", rid))
        eq(m["delta"], {"from": digest(e.v1), "url": f"{e.s.url}/v1/artifacts/{d['digest']}",
                        "digest": d["digest"], "size": d["size"], "format": "zstd-patch"})
        verified(e.s)
        n = len(e.rows())
        a.start()
        row = e.wait("v2", "installed", after=n, agent=a)
        check("from a delta from v1" in row[2] and f"{d['size']} bytes downloaded" in row[2],
              f"installed detail: {row}")
        saved = len(e.v2) - d["size"]
        check(f"{saved} bytes saved" in row[2], f"bytes saved in the detail: {row}")
        st = Store(a.model_dir, MODEL)
        eq((st.current(), st.previous()), ("v2", "v1"))
        eq(st.read(), e.v2)
        eq(st.manifest("v2")["digest"], digest(e.v2))
        eq(st.partials(), {}, "no partial or half-applied file left")
        eq(get_statuses(e.s, f"/v1/artifacts/{digest(e.v2)}"), [], "the full v2 was never downloaded")
        eq(get_statuses(e.s, f"/v1/artifacts/{d['digest']}"), [200])
        eq(metric(e.s, "ramp_delta_downloads_total"), 1)
        eq(metric(e.s, "ramp_delta_bytes_saved_total"), saved)
        dev = status(e.s.admin.get(f"/v1/devices/{e.dev}"), 200).json
        eq(dev["models"][MODEL]["delta"], {"from": "v1", "bytes": d["size"], "saved": saved})
        # v2 installed: the answer now names no delta (the device runs its target)
        check("delta" not in desired(e.s, e.tok)[MODEL], "no delta once v2 runs")
        verified(e.s)


def test_ci_upload_is_checked_and_the_delta_follows_what_the_device_reports(ctx):
    e = Env(ctx, env={"RAMP_DELTA_BUILD": "0"})
    ci = status(e.s.admin.post("/v1/tokens", {"name": "ci", "role": "ci"}), 201).json["token"]
    viewer = status(e.s.admin.post("/v1/tokens", {"name": "v", "role": "viewer"}), 201).json["token"]
    d = make_delta(ctx, e.v1, e.v2)
    put_artifact(e.s, d)
    good = {"from": digest(e.v1), "to": digest(e.v2), "digest": digest(d), "format": "zstd-patch"}
    bad_delta = make_delta(ctx, e.v2, e.v1, name="rev")  # v2 -> v1, registered as v1 -> v2
    put_artifact(e.s, bad_delta)
    junk = os.urandom(5000)
    put_artifact(e.s, junk)
    cases = [
        (Client(e.s.port, viewer), good, 403, None),
        (Client(e.s.port, e.tok), good, 403, None),
        (Client(e.s.port, ci), {**good, "extra": 1}, 422, "extra"),
        (Client(e.s.port, ci), {**good, "format": "bsdiff"}, 422, "format"),
        (Client(e.s.port, ci), {**good, "to": good["from"]}, 422, "to"),
        (Client(e.s.port, ci), {**good, "digest": "sha256:" + "0" * 64}, 422, "digest"),
        (Client(e.s.port, ci), {**good, "digest": digest(bad_delta)}, 422, None),
        (Client(e.s.port, ci), {**good, "digest": digest(junk)}, 422, "digest"),
        (Client(e.s.port, ci), {**good, "from": "sha256:" + "1" * 64}, 422, "from"),
        (Client(e.s.port, ci), [good], 400, None),
    ]
    for c, body, code, field in cases:
        r = c.post("/v1/deltas", body)
        eq(r.status, code, f"{body}: {r}")
        if field:
            eq(r.json.get("field"), field, f"{body}: {r}")
        c.close()
        eq(deltas(e.s), [], f"nothing stored after {body}")
    # nobody has reported running v1 yet: no delta, although v2 is desired
    set_stable(e.s, MODEL, "v2")
    eq(desired(e.s, e.tok)[MODEL]["version"], "v2")
    c = Client(e.s.port, ci)
    r = status(c.post("/v1/deltas", good), 201).json
    c.close()
    eq((r["digest"], r["size"], r["url"]), (digest(d), len(d), f"/v1/artifacts/{digest(d)}"))
    eq([x["source"] for x in deltas(e.s)], ["uploaded"])
    check("delta" not in desired(e.s, e.tok)[MODEL], "no delta for a device not known to run v1")
    # the status write that says v1 runs changes the answer before its 204
    status(report(e.s, e.tok, "v1", "installed"), 204)
    eq(desired(e.s, e.tok)[MODEL]["delta"]["from"], digest(e.v1))
    verified(e.s)
    # a downloading report of v2 keeps it (v1 still runs); a rolled_back v1 drops it
    status(report(e.s, e.tok, "v2", "downloading"), 204)
    eq(desired(e.s, e.tok)[MODEL]["delta"]["digest"], digest(d))
    status(report(e.s, e.tok, "v1", "rolled_back"), 204)
    check("delta" not in desired(e.s, e.tok)[MODEL], "rolled back: what runs is unknown")
    verified(e.s)
    # a second registration of the same pair is a 200, nothing new
    c = Client(e.s.port, ci)
    status(c.post("/v1/deltas", good), 200)
    c.close()
    eq(len(deltas(e.s)), 1)
    # a second replica follows both kinds of change through its notices
    s2 = ctx.server(database=e.s.database, admin_token=e.s.admin_token)
    status(report(e.s, e.tok, "v1", "installed"), 204)
    wait_for(lambda: "delta" in desired(s2, e.tok)[MODEL], timeout=30,
             msg="the other replica offers the delta")
    wait_for(lambda: s2.admin.get("/v1/snapshot/verify").json.get("ok"), timeout=30,
             msg="the other replica's snapshot equals a fresh load")


def test_hawkbit_ddi_gets_the_full_artifact_while_the_agent_answer_has_the_delta(ctx):
    e = Env(ctx, env={"RAMP_DELTA_BUILD": "0"})
    d, _ = e.upload_delta(e.v1, e.v2)
    tok = register(e.s, "ddi-1", platform=PLATFORM)
    status(report(e.s, tok, "v1", "installed"), 204)
    set_stable(e.s, MODEL, "v2")
    eq(desired(e.s, tok)[MODEL]["delta"]["digest"], digest(d))
    dev = DDI(e.s, "ddi-1", tok)
    base = links(dev.poll())["deploymentBase"]["href"]
    dep = status(dev.follow(base), 200).json
    arts = [a for c in dep["deployment"]["chunks"] for a in c["artifacts"]]
    eq(len(arts), 1, f"one artifact: {arts}")
    eq(arts[0]["size"], len(e.v2))
    eq(arts[0]["hashes"]["sha256"], digest(e.v2)[7:])
    check(digest(e.v2) in arts[0]["_links"]["download-http"]["href"], f"the full file: {arts[0]}")
    check("delta" not in str(dep) and digest(d) not in str(dep), f"no delta over DDI: {dep}")
    dev.close()


def fallback_case(ctx, prepare, reason):
    """v1 installed by the agent; prepare(e, a, d) spoils something while it is stopped; then v2
    must be installed from the full file with `reason` in the reports."""
    with device_session(ctx):
        e = Env(ctx, env={"RAMP_DELTA_BUILD": "0"})
        a = e.agent()
        e.wait("v1", "installed", agent=a)
        eq(a.stop(), 0)
        d, _ = e.upload_delta(e.v1, e.v2)
        prepare(e, a, d)
        set_stable(e.s, MODEL, "v2")
        check("delta" in desired(e.s, e.tok)[MODEL], "the delta is offered")
        n = len(e.rows())
        a.start()
        row = e.wait("v2", "installed", after=n, agent=a)
        check("delta not used" in row[2] and reason in row[2], f"installed detail: {row}")
        dl = [r for r in e.rows()[n:] if r[1] == "downloading" and "delta not used" in r[2]]
        check(dl and reason in dl[0][2], f"the full download says why: {e.rows()[n:]}")
        st = Store(a.model_dir, MODEL)
        eq(st.read(), e.v2, "the full file, verified, runs")
        eq(st.partials(), {}, "nothing half-applied left")
        check(not any(f.endswith(".apply") for f in os.listdir(st.path())), "no .apply file")
        eq(get_statuses(e.s, f"/v1/artifacts/{digest(e.v2)}"), [200], "one full download")
        dev = status(e.s.admin.get(f"/v1/devices/{e.dev}"), 200).json
        check(reason in dev["models"][MODEL]["delta"]["fallback"], f"device record: {dev['models']}")
        return e, a, d


def test_a_wrong_base_falls_back_to_the_full_file(ctx):
    def claim_v0(e, a, d):
        # rampd believes the device runs v0 (a report the agent never made): the delta it offers
        # starts from v0, which is not what the agent runs
        v0 = b"ocr v0 model\n" + e.v1[13:]
        publish(e.s, e.signer, MODEL, "v0", v0, platform=PLATFORM)
        e.upload_delta(v0, e.v2)
        status(report(e.s, e.tok, "v0", "installed"), 204)
    fallback_case(ctx, claim_v0, "wrong base")


def test_a_damaged_running_file_makes_the_delta_fail_and_the_full_file_serves(ctx):
    def damage(e, a, d):
        p = Store(a.model_dir, MODEL).path("v1", "model")
        os.chmod(p, 0o644)
        with open(p, "r+b") as f:
            f.seek(1000)
            f.write(b"\xff" * 64)
    fallback_case(ctx, damage, "does not apply")


def test_a_corrupt_delta_falls_back_to_the_full_file(ctx):
    def corrupt(e, a, d):
        p = object_path(e.s, digest(d))
        with open(p, "r+b") as f:
            f.seek(len(d) // 2)
            f.write(b"\x00" * 16)
    fallback_case(ctx, corrupt, "corrupt delta")


def test_a_cut_off_delta_download_resumes_with_a_range_request(ctx):
    with device_session(ctx):
        e = Env(ctx, env={"RAMP_DELTA_BUILD": "0"})
        a = e.agent()
        e.wait("v1", "installed", agent=a)
        eq(a.stop(), 0)
        d, _ = e.upload_delta(e.v1, e.v2)
        set_stable(e.s, MODEL, "v2")
        # what a transfer cut off halfway leaves: the first half in <target>.delta
        st = Store(a.model_dir, MODEL)
        os.makedirs(st.path(".partial"), exist_ok=True)
        with open(st.path(".partial", digest(e.v2)[7:] + ".delta"), "wb") as f:
            f.write(d[:len(d) // 2])
        n = len(e.rows())
        a.start()
        row = e.wait("v2", "installed", after=n, agent=a)
        check("from a delta from v1" in row[2], f"installed detail: {row}")
        eq(st.read(), e.v2)
        eq(get_statuses(e.s, f"/v1/artifacts/{digest(d)}"), [206], "the rest only, with Range")
        eq(get_statuses(e.s, f"/v1/artifacts/{digest(e.v2)}"), [])
        eq(st.partials(), {})


def test_random_reports_and_deltas_keep_the_snapshot_equal_to_a_fresh_load(ctx):
    """Status reports (what runs), delta registrations, stable changes and rollouts, in a random
    order; after every 2xx the snapshot must equal a fresh load, and each device's answer must
    carry a delta exactly when it runs a version a delta starts from."""
    s = ctx.server(env={"RAMP_DELTA_BUILD": "0", "RAMP_EVAL_INTERVAL": "3600"})
    signer = Signer(ctx, s)
    rng = random.Random(23)
    files = {}
    prev = None
    for v in ("v1", "v2", "v3"):
        data = model_pair(seed=ord(v[1]), size=16 * 1024)[0] if prev is None else \
            prev[: len(prev) // 2] + rng.randbytes(len(prev) - len(prev) // 2)
        files[v] = prev = data
        publish(s, signer, MODEL, v, data, stable=(v == "v1"), platform=PLATFORM)
    devs = enroll(s, 12, platform=PLATFORM, prefix="rd")
    ci = s.admin
    runs, have, stable, rollout = {}, set(), "v1", None
    for step in range(120):
        op = rng.choice(["report", "report", "report", "delta", "stable", "rollout"])
        if op == "report":
            dev = rng.choice(sorted(devs))
            v, st = rng.choice(["v1", "v2", "v3"]), rng.choice(["installed", "installed", "rolled_back",
                                                                  "downloading", "failed"])
            status(report(s, devs[dev], v, st), 204)
            if st == "installed":
                runs[dev] = v
            elif st == "rolled_back" and runs.get(dev) == v:
                runs.pop(dev)
        elif op == "delta":
            a_, b_ = rng.sample(["v1", "v2", "v3"], 2)
            if (a_, b_) in have:
                continue
            d = make_delta(ctx, files[a_], files[b_], name=f"{a_}{b_}")
            put_artifact(s, d)
            status(ci.post("/v1/deltas", {"from": digest(files[a_]), "to": digest(files[b_]),
                                          "digest": digest(d), "format": "zstd-patch"}), 201)
            have.add((a_, b_))
        elif op == "stable":
            stable = rng.choice(["v1", "v2", "v3"])
            set_stable(s, MODEL, stable)
        elif rollout is None:
            target = rng.choice([v for v in ("v1", "v2", "v3") if v != stable])
            rollout = status(s.admin.post("/v1/rollouts", {"model": MODEL, "version": target,
                                                           "policy": ALL}), 201).json["id"]
        else:
            status(s.admin.post(f"/v1/rollouts/{rollout}/rollback"), 200)
            rollout = None
        verified(s)
        dev = rng.choice(sorted(devs))
        m = desired(s, devs[dev])[MODEL]
        want = runs.get(dev) is not None and (runs[dev], m["version"]) in have
        eq("delta" in m, want, f"step {step}: {dev} runs {runs.get(dev)}, desired {m['version']}: {m.get('delta')}")
        if want:
            eq(m["delta"]["from"], digest(files[runs[dev]]))
    s.restart()
    verified(s)


def log_count(s, needle):
    with open(s.log_path, errors="replace") as f:
        return sum(needle in line for line in f)


def test_a_delta_nothing_needs_is_deleted_with_its_object_and_counted(ctx):
    """RAMP_DELTA_RETENTION=0: a delta stays while its rollout is active
    (housekeeping passes go by), and goes, row, database object and local
    file, once the rollout is aborted; the answer stops offering it and
    /metrics counts it. The models' own artifacts stay."""
    e = Env(ctx, env={"RAMP_DELTA_RETENTION": "0"})
    status(report(e.s, e.tok, "v1", "installed"), 204)
    rid = status(e.s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2", "policy": ALL}),
                 201).json["id"]
    wait_for(lambda: deltas(e.s), timeout=60, msg="the builder made the delta")
    (d,) = deltas(e.s)
    wait_for(lambda: "delta" in desired(e.s, e.tok)[MODEL], timeout=30, msg="the delta is offered")
    passes = metric(e.s, "ramp_delta_housekeeping_passes_total")
    wait_for(lambda: metric(e.s, "ramp_delta_housekeeping_passes_total") >= passes + 3,
             timeout=60, msg="housekeeping passes while the rollout is active")
    eq(deltas(e.s), [d], "a delta the active rollout needs stays")
    eq(metric(e.s, "ramp_deltas_deleted_total"), 0)
    check(os.path.exists(object_path(e.s, d["digest"])), "its file is there")
    status(e.s.admin.post(f"/v1/rollouts/{rid}/abort"), 200)
    wait_for(lambda: deltas(e.s) == [], timeout=60, msg="the unneeded delta is deleted")
    eq(metric(e.s, "ramp_deltas_deleted_total"), 1)
    eq(metric(e.s, "ramp_deltas_deleted_bytes_total"), d["size"])
    wait_for(lambda: not os.path.exists(object_path(e.s, d["digest"])), timeout=30,
             msg="its local file is removed")
    status(e.s.admin.get(f"/v1/artifacts/{d['digest']}"), 404)
    # another replica on the same database has no copy of it either
    b = ctx.server(database=e.s.database, admin_token=e.s.admin_token)
    status(b.admin.get(f"/v1/artifacts/{d['digest']}"), 404)
    for data in (e.v1, e.v2):
        eq(status(b.admin.get(f"/v1/artifacts/{digest(data)}"), 200).body, data)
    b.stop()
    check("delta" not in desired(e.s, e.tok)[MODEL], "no answer offers a deleted delta")
    check(log_count(e.s, "delta deleted: nothing needs it") == 1, "logged once")
    verified(e.s)


def test_a_delta_is_kept_for_the_retention_after_its_rollout_ends(ctx):
    """The default retention (7 days): an aborted rollout's delta is marked,
    not deleted, and a new rollout between the same files reuses it."""
    e = Env(ctx)
    rid = status(e.s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2", "policy": ALL}),
                 201).json["id"]
    wait_for(lambda: deltas(e.s), timeout=60, msg="the builder made the delta")
    (d,) = deltas(e.s)
    status(e.s.admin.post(f"/v1/rollouts/{rid}/abort"), 200)
    passes = metric(e.s, "ramp_delta_housekeeping_passes_total")
    wait_for(lambda: metric(e.s, "ramp_delta_housekeeping_passes_total") >= passes + 3,
             timeout=60, msg="housekeeping passes after the abort")
    eq(deltas(e.s), [d])
    eq(metric(e.s, "ramp_deltas_deleted_total"), 0)
    status(e.s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2", "policy": ALL}), 201)
    passes = metric(e.s, "ramp_delta_housekeeping_passes_total")
    wait_for(lambda: metric(e.s, "ramp_delta_housekeeping_passes_total") >= passes + 2,
             timeout=60, msg="housekeeping passes")
    eq(deltas(e.s), [d], "reused, not built again")
    eq(metric(e.s, "ramp_deltas_built_total"), 1)


def test_a_failed_pair_waits_for_its_retry_time_across_a_restart(ctx):
    """Two unrelated random files give no smaller delta: the failure is
    recorded in the database. With RAMP_DELTA_RETRY=1h a restart does not
    try the pair again; with 1 s it is tried again, each wait doubling."""
    rng = random.Random(11)
    pair = (rng.randbytes(64 * 1024), rng.randbytes(64 * 1024))
    e = Env(ctx, env={"RAMP_DELTA_RETRY": "1h"}, pair=pair)
    status(e.s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2", "policy": ALL}), 201)
    wait_for(lambda: log_count(e.s, "delta not built") == 1, timeout=60, msg="the pair fails")
    check(log_count(e.s, "no smaller than the artifact") == 1, "the reason is logged")
    wait_for(lambda: metric(e.s, "ramp_deltas_build_failures_total") == 1, timeout=30,
             msg="the failure is counted (after it is logged and recorded)")
    e.s.restart()
    passes = metric(e.s, "ramp_delta_housekeeping_passes_total")
    wait_for(lambda: metric(e.s, "ramp_delta_housekeeping_passes_total") >= passes + 3,
             timeout=60, msg="builder rounds after the restart")
    eq(log_count(e.s, "building delta"), 1, "not tried again after the restart")
    eq(metric(e.s, "ramp_deltas_build_failures_total"), 0)
    eq(deltas(e.s), [])
    # a short retry (another database): tried again after 1 s, then 2 s, then 4 s
    f = Env(ctx, env={"RAMP_DELTA_RETRY": "1"}, pair=pair)
    status(f.s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2", "policy": ALL}), 201)
    wait_for(lambda: log_count(f.s, "delta not built") >= 1, timeout=60, msg="the pair fails")
    t0 = time.time()
    wait_for(lambda: log_count(f.s, "delta not built") >= 4, timeout=90,
             msg="tried again with a doubling wait")
    check(time.time() - t0 >= 1 + 2 + 4 - 1, f"the waits doubled: {time.time() - t0:.1f} s")
    # counted after the failure is logged and recorded
    wait_for(lambda: metric(f.s, "ramp_deltas_build_failures_total") >= 4, timeout=30,
             msg="every failure counted")
    eq(deltas(f.s), [])
