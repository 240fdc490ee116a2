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
