"""TUF for model artifacts (issue 22, docs/tuf.md): rampd serves a TUF 1.0 repository
with consistent snapshots, rampctl makes the offline keys and signs root, targets and
the CI's delegated role, and ramp-agent installs only targets in verified targets
metadata. Each attack of the spec's threat list is played by a malicious controller
(tests/lib/tuflib.py) between the agent and rampd, and each leaves the device on the
model it runs, with a `failed` status naming the attack. A TUF client nobody here
wrote (the npm package tuf-js) refreshes against rampd and verifies a model too."""
import json
import os
import shutil
import subprocess
import time

from agentdev import PLATFORM, AgentProc, base_conf, blob, device_session, status_rows, wait_status
from fleet import Signer, enroll
from ramp import Client, Skip, check, eq, status, wait_for
from runners import publish, set_stable
from tuflib import Malicious, canonical, fixed, keyid, rampctl, sign, verify_role

MODEL = "ocr"
ROLE = "ocr-ci"


def target_path(version):
    return f"{MODEL}/{version}/{PLATFORM}/{MODEL}-{version}.onnx"


class Repo:
    """rampd with a TUF repository: 3 root keys (threshold 2) and the targets key in
    <tmp>/tuf, the CI key ci.pem delegated ROLE for ocr/*/*/*; one device; a malicious
    controller in front of rampd."""

    def __init__(self, ctx, env=None):
        self.ctx = ctx
        self.s = ctx.server(env={"RAMP_ACCESS_LOG": "1", **(env or {})})
        self.signer = Signer(ctx, self.s)
        self.dir = os.path.join(ctx.tmp, "tuf")
        rampctl(ctx, self.s, "tuf", "init", "--dir", self.dir, "--root-keys", "3", "--threshold", "2")
        self.ci = os.path.join(ctx.tmp, "ci.pem")
        rampctl(ctx, self.s, "tuf", "keygen", "--out", self.ci)
        rampctl(ctx, self.s, "tuf", "delegate", ROLE, "--dir", self.dir, "--key",
                os.path.join(ctx.tmp, "ci.pub.json"), "--paths", f"{MODEL}/*/*/*")
        self.blobs = {}
        self.mal = Malicious(ctx, self.s.port)
        self.dev, self.tok = next(iter(enroll(self.s, 1, platform=PLATFORM, prefix="pi").items()))

    def publish(self, version, tuf=True, key=None, check_rc=0):
        data = blob(version)
        self.blobs[version] = data
        text = publish(self.s, self.signer, MODEL, version, data, platform=PLATFORM)
        path = os.path.join(self.ctx.tmp, f"{version}.yaml")
        with open(path, "w") as f:
            f.write(text)
        if tuf:
            return rampctl(self.ctx, self.s, "tuf", "sign-manifest", ROLE, "-f", path, "--key",
                           key or self.ci, check_rc=check_rc)
        return None

    def meta(self, name):
        r = Client(self.s.port, None).get(f"/v1/tuf/metadata/{name}")
        status(r, 200, name)
        return r.body

    def doc(self, name):
        return json.loads(self.meta(name))

    def agent(self, name="agent", **extra):
        conf = base_conf(self.mal.url, self.tok, self.signer.pub, tuf="on",
                         tuf_root=os.path.join(self.dir, "1.root.json"), **extra)
        return AgentProc(self.ctx, conf, name=name)

    def rows(self):
        return status_rows(self.ctx, self.s, self.dev)

    def wait(self, version, state, after=0, agent=None, timeout=30):
        return wait_status(self.ctx, self.s, self.dev, version, state, after, agent, timeout)

    def refused(self, a, version, attack, current):
        """Makes version stable, waits for its failed status naming the attack; the device
        still runs current, byte for byte."""
        n = len(self.rows())
        set_stable(self.s, MODEL, version)
        row = self.wait(version, "failed", after=n, agent=a)
        check(row[2].startswith(f"tuf: {attack}"), f"detail names {attack}: {row}")
        st = a.store(MODEL)
        eq(st.current(), current)
        eq(st.read(), self.blobs[current])
        check(version not in st.versions(), f"no {version} directory: {st.versions()}")
        eq([r for r in self.rows()[n:] if r[0] == version and r[1] == "installed"], [])
        return row


def started(ctx, env=None):
    """A Repo whose device runs v1 through TUF."""
    r = Repo(ctx, env)
    r.publish("v1")
    set_stable(r.s, MODEL, "v1")
    a = r.agent()
    r.wait("v1", "installed", agent=a)
    return r, a


def verify_chain(r, root):
    """Walks timestamp -> snapshot -> targets -> ROLE from rampd as a client would, in python;
    returns the ROLE document."""
    keys = root["signed"]["keys"]
    roles = root["signed"]["roles"]
    ts = r.doc("timestamp.json")
    check(verify_role(ts, keys, roles["timestamp"]) >= 1, "timestamp signed by the online key")
    sv = ts["signed"]["meta"]["snapshot.json"]
    raw = r.meta(f"{sv['version']}.snapshot.json")
    eq(len(raw), sv["length"])
    eq(__import__("hashlib").sha256(raw).hexdigest(), sv["hashes"]["sha256"])
    snap = json.loads(raw)
    check(verify_role(snap, keys, roles["snapshot"]) >= 1, "snapshot signed")
    tv = snap["signed"]["meta"]["targets.json"]["version"]
    tg = r.doc(f"{tv}.targets.json")
    check(verify_role(tg, keys, roles["targets"]) >= 1, "targets signed by the targets key")
    d = {x["name"]: x for x in tg["signed"]["delegations"]["roles"]}[ROLE]
    dv = snap["signed"]["meta"][f"{ROLE}.json"]["version"]
    doc = r.doc(f"{dv}.{ROLE}.json")
    check(verify_role(doc, tg["signed"]["delegations"]["keys"], d) >= d["threshold"], "CI signed")
    return doc


def test_tuf_repository_is_served_signed_and_every_upload_checked(ctx):
    r = Repo(ctx)
    root = r.doc("root.json")
    eq(root, r.doc("1.root.json"))
    eq(root["signed"]["roles"]["root"]["threshold"], 2)
    eq(verify_role(root, root["signed"]["keys"], root["signed"]["roles"]["root"]), 3)
    check(root["signed"]["consistent_snapshot"] is True)
    # the online keys rampd holds are the ones root names
    online = r.s.admin.get("/v1/tuf/online-keys").json
    eq(set(root["signed"]["roles"]["timestamp"]["keyids"]), set(online["timestamp"]))
    for kid, k in online["snapshot"].items():
        eq(keyid(k), kid)

    r.publish("v1")
    doc = verify_chain(r, root)
    t = doc["signed"]["targets"][target_path("v1")]
    eq(t["custom"], {"model": MODEL, "version": "v1", "platform": PLATFORM})
    eq(t["length"], len(r.blobs["v1"]))
    sha = t["hashes"]["sha256"]
    # the consistent target name serves the bytes, to a token holder only
    tpath = f"/v1/tuf/targets/{MODEL}/v1/{PLATFORM}/{sha}.{MODEL}-v1.onnx"
    got = Client(r.s.port, r.tok).get(tpath)
    status(got, 200)
    eq(got.body, r.blobs["v1"])
    status(Client(r.s.port, None).get(tpath), 401)
    status(Client(r.s.port, r.tok).get(f"/v1/tuf/targets/{MODEL}/v1/{PLATFORM}/{'0' * 64}.x"), 404)
    for bad in ("0.root.json", "timestamp", "1.timestamp.json", ".root.json", "x.json",
                "9.root.json", "1.snapshot"):
        status(Client(r.s.port, None).get(f"/v1/tuf/metadata/{bad}"), 404, bad)
    status(Client(r.s.port, None).get("/v1/tuf/metadata/../root.json"), 400)

    # what is refused leaves no trace: same versions served after each
    def versions():
        snap = r.doc(f"{r.doc('timestamp.json')['signed']['meta']['snapshot.json']['version']}.snapshot.json")
        return {k: v["version"] for k, v in snap["signed"]["meta"].items()}
    before = versions()
    rogue = os.path.join(ctx.tmp, "rogue.pem")
    rampctl(ctx, r.s, "tuf", "keygen", "--out", rogue)
    p = r.publish("v2", key=rogue, check_rc=3)
    check("threshold" in p.stderr, p.stderr)
    role_doc = r.doc(f"{before[ROLE + '.json']}.{ROLE}.json")
    same = r.s.admin.request("PUT", f"/v1/tuf/roles/{ROLE}", raw=canonical(role_doc),
                             ctype="application/json")
    status(same, 409, "the same version again")
    outside = json.loads(json.dumps(role_doc))
    outside["signed"]["version"] += 1
    outside["signed"]["targets"]["other/v1/x/y"] = outside["signed"]["targets"][target_path("v1")]
    sign(outside, r.ci)
    resp = r.s.admin.request("PUT", f"/v1/tuf/roles/{ROLE}", raw=canonical(outside),
                             ctype="application/json")
    status(resp, 422, "a target outside the delegated paths")
    eq(resp.json["attack"], "arbitrary-software")
    for role, body, code in (("snapshot", b"{}", 422), ("timestamp", b"{}", 422),
                             ("nobody", canonical(outside), 404), (ROLE, b"not json", 422),
                             ("root", canonical(root), 422)):
        status(r.s.admin.request("PUT", f"/v1/tuf/roles/{role}", raw=body,
                                 ctype="application/json"), code, role)
    status(Client(r.s.port, r.tok).request("PUT", f"/v1/tuf/roles/{ROLE}", raw=canonical(outside),
                                           ctype="application/json"), 403, "a device token")
    status(Client(r.s.port, None).request("PUT", f"/v1/tuf/roles/{ROLE}", raw=canonical(outside),
                                          ctype="application/json"), 401)
    eq(versions(), before)
    # a root that names a timestamp key rampd does not hold: rampd could not sign with it
    other = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "ab" * 32}}
    bad_root = {"signed": json.loads(json.dumps(root["signed"])), "signatures": []}
    bad_root["signed"]["version"] = 2
    bad_root["signed"]["keys"][keyid(other)] = other
    bad_root["signed"]["roles"]["timestamp"] = {"keyids": [keyid(other)], "threshold": 1}
    for k in ("root-1.pem", "root-2.pem"):
        sign(bad_root, os.path.join(r.dir, "keys", k))
    resp = r.s.admin.request("PUT", "/v1/tuf/roles/root", raw=canonical(bad_root),
                             ctype="application/json")
    status(resp, 422, "a timestamp key rampd does not hold")
    eq(resp.json["field"], "roles")
    status(Client(r.s.port, None).get("/v1/tuf/metadata/2.root.json"), 404)
    eq(r.doc("root.json"), root)


def test_agent_installs_through_tuf_and_refuses_arbitrary_software(ctx):
    with device_session(ctx):
        r, a = started(ctx)
        check(os.path.exists(os.path.join(a.state_dir, "tuf", "timestamp.json")), "trusted kept")
        check(any(p.startswith("/v1/tuf/metadata/") for p in r.mal.seen), "metadata fetched")
        # a manifest signed with the manifest key, in no CI-signed targets metadata
        r.publish("v2", tuf=False)
        r.refused(a, "v2", "arbitrary-software", "v1")
        # the controller swaps the bytes of a version TUF names
        r.publish("v3")
        r.mal.replace(f"/v1/artifacts/sha256:{__import__('hashlib').sha256(r.blobs['v3']).hexdigest()}",
                      fixed(blob("evil", len(r.blobs["v3"]))))
        r.refused(a, "v3", "arbitrary-software", "v1")
        r.mal.honest()
        r.publish("v4")
        n = len(r.rows())
        set_stable(r.s, MODEL, "v4")
        r.wait("v4", "installed", after=n, agent=a)
        eq(a.store(MODEL).read(), r.blobs["v4"])


def snapshot_of(r, ts_doc):
    return r.doc(f"{ts_doc['signed']['meta']['snapshot.json']['version']}.snapshot.json")


def test_agent_refuses_a_rolled_back_timestamp(ctx):
    with device_session(ctx):
        r, a = started(ctx)
        old = r.meta("timestamp.json")  # what the device trusted for v1
        r.publish("v2")
        n = len(r.rows())
        set_stable(r.s, MODEL, "v2")
        r.wait("v2", "installed", after=n, agent=a)
        # the controller replays the timestamp of before v2: validly signed, not expired
        r.mal.replace("/v1/tuf/metadata/timestamp.json", fixed(old))
        r.publish("v3")
        r.refused(a, "v3", "rollback", "v2")
        # the same replay after a restart: the trusted timestamp was kept on disk
        a.stop()
        a.start()
        r.publish("v4")
        r.refused(a, "v4", "rollback", "v2")


def test_agent_refuses_frozen_metadata(ctx):
    """The controller keeps serving the last timestamp (and what it names) after it expired:
    a freeze. Timestamps live 20 s here, re-signed by the evaluator at half-life."""
    with device_session(ctx):
        r, a = started(ctx, env={"RAMP_TUF_TIMESTAMP_EXPIRES": "20s", "RAMP_EVAL_INTERVAL": "1s"})
        ts = r.meta("timestamp.json")
        doc = json.loads(ts)
        r.mal.replace("/v1/tuf/metadata/timestamp.json", fixed(ts))
        # rampd itself moves on: the evaluator re-signs a newer timestamp before the old expires
        wait_for(lambda: r.doc("timestamp.json")["signed"]["version"] > doc["signed"]["version"],
                 timeout=60, msg="the evaluator re-signs the timestamp")
        expires = time.mktime(time.strptime(doc["signed"]["expires"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        wait_for(lambda: time.time() > expires + 1, timeout=60, msg="the frozen timestamp expires")
        r.publish("v2")
        r.refused(a, "v2", "freeze", "v1")
        # honest again: the next version installs
        r.mal.honest()
        r.publish("v3")
        n = len(r.rows())
        set_stable(r.s, MODEL, "v3")
        r.wait("v3", "installed", after=n, agent=a)


def test_agent_refuses_mix_and_match(ctx):
    with device_session(ctx):
        r, a = started(ctx)
        r.publish("v2")
        snap = snapshot_of(r, r.doc("timestamp.json"))
        dv = snap["signed"]["meta"][f"{ROLE}.json"]["version"]
        # the snapshot names the CI role's new version; the controller serves the old one
        r.mal.replace(f"/v1/tuf/metadata/{dv}.{ROLE}.json", fixed(r.meta(f"{dv - 1}.{ROLE}.json")))
        r.refused(a, "v2", "mix-and-match", "v1")


def test_agent_refuses_endless_data(ctx):
    with device_session(ctx):
        r, a = started(ctx)
        r.publish("v2")
        r.mal.replace("/v1/tuf/metadata/timestamp.json", "endless")
        r.refused(a, "v2", "endless-data", "v1")
        # metadata honest, the artifact endless: capped at the target's signed length
        r.mal.honest()
        r.publish("v3")
        sha = __import__("hashlib").sha256(r.blobs["v3"]).hexdigest()
        r.mal.replace(f"/v1/artifacts/sha256:{sha}", "endless")
        r.refused(a, "v3", "endless-data", "v1")
        check(not os.path.exists(os.path.join(a.model_dir, MODEL, "v3")), "nothing kept of v3")


def test_agent_refuses_keys_below_threshold(ctx):
    """One of the three root keys (threshold 2) is stolen: the thief's root, which makes his
    own key the timestamp key, is refused; so is a timestamp signed by a key no root names."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    with device_session(ctx):
        r, a = started(ctx)
        thief = Ed25519PrivateKey.generate()
        pem = os.path.join(ctx.tmp, "thief.pem")
        with open(pem, "wb") as f:
            f.write(thief.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        tkey = {"keytype": "ed25519", "scheme": "ed25519",
                "keyval": {"public": thief.public_key().public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()}}
        root = r.doc("root.json")
        forged = {"signed": json.loads(json.dumps(root["signed"])), "signatures": []}
        forged["signed"]["version"] = 2
        forged["signed"]["keys"][keyid(tkey)] = tkey
        forged["signed"]["roles"]["timestamp"] = {"keyids": [keyid(tkey)], "threshold": 1}
        sign(forged, os.path.join(r.dir, "keys", "root-1.pem"))
        r.mal.replace("/v1/tuf/metadata/2.root.json", fixed(canonical(forged)))
        r.publish("v2")
        r.refused(a, "v2", "threshold", "v1")
        eq(json.load(open(os.path.join(a.state_dir, "tuf", "root.json")))["signed"]["version"], 1)
        # without the root: a timestamp re-signed by the thief alone
        r.mal.honest()
        ts = r.doc("timestamp.json")
        ts["signed"]["version"] += 100
        ts["signatures"] = []
        sign(ts, pem)
        r.mal.replace("/v1/tuf/metadata/timestamp.json", fixed(canonical(ts)))
        r.publish("v3")
        r.refused(a, "v3", "threshold", "v1")


def test_root_rotation_across_two_versions_reaches_a_device_that_was_offline(ctx):
    with device_session(ctx):
        r, a = started(ctx)
        online = r.agent(name="online")
        wait_status(ctx, r.s, r.dev, "v1", "installed", agent=online)
        a.stop()
        old_ts_keys = set(r.doc("root.json")["signed"]["roles"]["timestamp"]["keyids"])
        # 2: new root keys (2 of 2), signed by 2 of the 3 old ones and both new ones
        rampctl(ctx, r.s, "tuf", "rotate-root", "--dir", r.dir, "--root-keys", "2", "--threshold", "2")
        r.publish("v2")
        n = len(r.rows())
        set_stable(r.s, MODEL, "v2")
        r.wait("v2", "installed", after=n, agent=online)
        # 3: new online keys, signed by the new root keys alone
        for f in os.listdir(os.path.join(r.dir, "keys")):
            if f.startswith("root-") and not f.startswith("root-v2-"):
                os.rename(os.path.join(r.dir, "keys", f), os.path.join(ctx.tmp, f))
        rampctl(ctx, r.s, "tuf", "rotate-root", "--dir", r.dir, "--rotate-online")
        root3 = r.doc("root.json")
        eq(root3["signed"]["version"], 3)
        check(not old_ts_keys & set(root3["signed"]["roles"]["timestamp"]["keyids"]), "new online keys")
        ts = r.doc("timestamp.json")
        eq(verify_role(ts, root3["signed"]["keys"], root3["signed"]["roles"]["timestamp"]), 1)
        r.publish("v3")
        n = len(r.rows())
        set_stable(r.s, MODEL, "v3")
        # the device offline through both rotations walks 2.root.json and 3.root.json
        a.start()
        r.wait("v3", "installed", after=n, agent=a)
        r.wait("v3", "installed", after=n, agent=online)
        for ag in (a, online):
            kept = json.load(open(os.path.join(ag.state_dir, "tuf", "root.json")))
            eq(kept["signed"]["version"], 3)
            eq(ag.store(MODEL).read(), r.blobs["v3"])
        # an old root key alone can sign nothing now
        status(r.s.admin.request("PUT", "/v1/tuf/roles/root", raw=canonical(sign(
            {"signed": dict(root3["signed"], version=4), "signatures": []},
            os.path.join(ctx.tmp, "root-1.pem"))), ctype="application/json"), 422)


def test_ci_key_rotation_through_the_delegation_revokes_the_old_key(ctx):
    with device_session(ctx):
        r, a = started(ctx)
        old_role = r.doc(f"{snapshot_of(r, r.doc('timestamp.json'))['signed']['meta'][ROLE + '.json']['version']}.{ROLE}.json")
        ci2 = os.path.join(ctx.tmp, "ci2.pem")
        rampctl(ctx, r.s, "tuf", "keygen", "--out", ci2)
        rampctl(ctx, r.s, "tuf", "delegate", ROLE, "--dir", r.dir, "--key",
                os.path.join(ctx.tmp, "ci2.pub.json"), "--paths", f"{MODEL}/*/*/*")
        tg = r.doc(f"{snapshot_of(r, r.doc('timestamp.json'))['signed']['meta']['targets.json']['version']}.targets.json")
        eq(list(tg["signed"]["delegations"]["keys"]), [keyid(json.load(open(os.path.join(ctx.tmp, "ci2.pub.json"))))])
        # the old CI key is refused by rampd...
        p = r.publish("v2", check_rc=3)
        check("threshold" in p.stderr, p.stderr)
        # ...and by the device, when a controller serves what it signed
        forged = {"signed": json.loads(json.dumps(old_role["signed"])), "signatures": []}
        forged["signed"]["version"] += 1
        forged["signed"]["targets"][target_path("v2")] = {
            "length": len(r.blobs["v2"]), "hashes": {"sha256": __import__("hashlib").sha256(r.blobs["v2"]).hexdigest()},
            "custom": {"model": MODEL, "version": "v2", "platform": PLATFORM}}
        sign(forged, r.ci)
        snap = snapshot_of(r, r.doc("timestamp.json"))
        dv = snap["signed"]["meta"].get(f"{ROLE}.json", {}).get("version", 1)
        r.mal.replace(f"/v1/tuf/metadata/{dv}.{ROLE}.json", fixed(canonical(forged)))
        r.refused(a, "v2", "threshold", "v1")
        # the new key publishes
        r.mal.honest()
        r.publish("v3", key=ci2)
        n = len(r.rows())
        set_stable(r.s, MODEL, "v3")
        r.wait("v3", "installed", after=n, agent=a)


def npm_tuf_js(ctx):
    """tuf-js installed under build/npm by the test (skips when the registry is unreachable)."""
    prefix = os.path.join(ctx.build, "npm")
    mod = os.path.join(prefix, "node_modules", "tuf-js", "package.json")
    if not shutil.which("node") or not shutil.which("npm"):
        raise Skip("node and npm are not installed")
    if not os.path.exists(mod):
        p = subprocess.run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "tuf-js@4"],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise Skip(f"npm install tuf-js failed (registry unreachable?): {p.stderr[-300:]}")
    return prefix


def tuf_js(ctx, prefix, base, token, root, workdir, path):
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools",
                          "tufjs_client.js")
    env = dict(os.environ, NODE_PATH=os.path.join(prefix, "node_modules"))
    p = subprocess.run(["node", script, f"{base}/v1/tuf/metadata/", f"{base}/v1/tuf/targets/", token,
                        root, workdir, path], capture_output=True, text=True, timeout=120, env=env)
    eq(p.returncode, 0, p.stderr)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    print(f"    tuf-js: {json.dumps(out)}")
    return out


def test_tuf_js_verifies_a_model_from_rampd_and_refuses_a_rolled_back_timestamp(ctx):
    prefix = npm_tuf_js(ctx)
    r = Repo(ctx)
    r.publish("v1")
    root = os.path.join(r.dir, "1.root.json")
    work = os.path.join(ctx.tmp, "tufjs")
    out = tuf_js(ctx, prefix, r.s.url, r.tok, root, work, target_path("v1"))
    check(out["ok"], out)
    eq(out["custom"], {"model": MODEL, "version": "v1", "platform": PLATFORM})
    eq(open(out["file"], "rb").read(), r.blobs["v1"])
    eq(out["sha256"], __import__("hashlib").sha256(r.blobs["v1"]).hexdigest())
    # a version nobody signed into TUF is not a target for tuf-js either
    r.publish("v2", tuf=False)
    out = tuf_js(ctx, prefix, r.s.url, r.tok, root, work, target_path("v2"))
    check(not out["ok"], out)
    # tuf-js trusts v1's timestamp now; the malicious controller replays an older one
    old = r.meta("timestamp.json")
    r.publish("v3")
    out = tuf_js(ctx, prefix, r.s.url, r.tok, root, work, target_path("v3"))
    check(out["ok"], out)
    r.mal.replace("/v1/tuf/metadata/timestamp.json", fixed(old))
    out = tuf_js(ctx, prefix, r.mal.url, r.tok, root, work, target_path("v3"))
    check(not out["ok"], out)
    check("version" in out["error"].lower() or "rollback" in out["error"].lower(), out)
    r.mal.close()


def test_only_the_evaluating_replica_re_signs_the_timestamp(ctx):
    env = {"RAMP_TUF_TIMESTAMP_EXPIRES": "20s", "RAMP_EVAL_INTERVAL": "1s"}
    s1 = ctx.server(env=env)
    s2 = ctx.server(env=env, database=s1.database, admin_token=s1.admin_token)
    d = os.path.join(ctx.tmp, "tuf")
    rampctl(ctx, s2, "tuf", "init", "--dir", d)
    first = Client(s1.port, None).get("/v1/tuf/metadata/timestamp.json").json
    wait_for(lambda: Client(s2.port, None).get("/v1/tuf/metadata/timestamp.json").json["signed"]["version"]
             >= first["signed"]["version"] + 2, timeout=90, msg="two re-signs")
    resigned = [open(s.log_path, errors="replace").read().count("tuf timestamp re-signed")
                for s in (s1, s2)]
    check(min(resigned) == 0 and max(resigned) >= 2, f"one replica re-signs: {resigned}")
    rows = ctx.psql(s1, "SELECT version, body FROM tuf_metadata WHERE role = 'timestamp' ORDER BY version")
    vs = [int(x[0]) for x in rows]
    eq(vs, list(range(1, len(vs) + 1)), "one timestamp per version, none skipped")
    root = json.load(open(os.path.join(d, "1.root.json")))
    exp = [json.loads(x[1])["signed"]["expires"] for x in rows]
    eq(exp, sorted(exp))
    for x in rows:
        eq(verify_role(json.loads(x[1]), root["signed"]["keys"], root["signed"]["roles"]["timestamp"]), 1)
