"""The snapshot behind polls, read-your-writes (issue 18): every write that
changes what a device should run is in this replica's very next answer, over
the agent API and hawkBit DDI; a second replica follows within a bounded wait;
and a randomised run of mixed writes leaves the in-memory snapshot equal to a
fresh load from the database after every step (GET /v1/snapshot/verify)."""
import random
import time

from ddi import DDI, links, publish_artifact, register
from fleet import Signer, enroll, publish, stage_members
from ramp import Client, check, eq, status, wait_for

PLATFORMS = ("rpi-arm64", "jetson")
HOLD = {"stages": [{"name": "canary", "size": 0.1, "validation_window": "1h"},
                   {"name": "ramp", "size": 0.5, "validation_window": "1h"},
                   {"name": "full", "size": 1.0, "validation_window": "1h"}]}


class Devices:
    """Persistent clients, one per device token."""

    def __init__(self, s, tokens):
        self.s = s
        self.tokens = dict(tokens)
        self.clients = {}

    def poll(self, dev, expect=200):
        c = self.clients.get(dev)
        if c is None:
            c = self.clients[dev] = Client(self.s.port, self.tokens[dev])
        r = c.get("/v1/agent/desired")
        eq(r.status, expect, f"{dev}: {r}")
        return {m["model"]: m for m in r.json["models"]} if expect == 200 else None

    def version(self, dev, model="ocr"):
        m = self.poll(dev).get(model)
        return m["version"] if m else None

    def versions(self):
        return {d: self.version(d) for d in self.tokens}

    def close(self):
        for c in self.clients.values():
            c.close()


def setup(ctx, s, n=60):
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", platforms=PLATFORMS, stable=True)
    publish(s, signer, "ocr", "v2", platforms=PLATFORMS)
    publish(s, signer, "ocr", "v3", platforms=PLATFORMS)
    return signer, enroll(s, n)


def verified(s):
    r = status(s.admin.get("/v1/snapshot/verify"), 200).json
    check(r["ok"], f"snapshot differs from a fresh load: {r}")
    return r


def test_each_kind_of_write_is_in_the_next_poll_on_this_replica(ctx):
    s = ctx.server()
    signer, tokens = setup(ctx, s)
    ids = sorted(tokens)
    d = Devices(s, tokens)
    first = ids[0]
    # stable versions, flipped back and forth: each poll right after its 200
    for v in ["v2", "v1", "v3", "v1"] * 5:
        status(s.admin.put("/v1/models/ocr/stable", {"version": v}), 200)
        eq(d.version(first), v, "stable version")
    # pins and platform (device patch)
    status(s.admin.patch(f"/v1/devices/{ids[1]}", {"pins": {"ocr": "v3"}}), 200)
    eq(d.version(ids[1]), "v3", "pinned")
    status(s.admin.patch(f"/v1/devices/{ids[1]}", {"pins": {"ocr": None}}), 200)
    eq(d.version(ids[1]), "v1", "unpinned")
    status(s.admin.patch(f"/v1/devices/{ids[2]}", {"platform": "jetson"}), 200)
    eq(d.poll(ids[2])["ocr"]["platform"], "jetson", "platform change")
    # a new device, a deleted one, a rotated token
    t = status(s.admin.post("/v1/devices", {"id": "late-1", "platform": "rpi-arm64"}), 201).json["token"]
    d.tokens["late-1"] = t
    eq(d.version("late-1"), "v1", "new device")
    status(s.admin.delete(f"/v1/devices/{ids[3]}"), 204)
    d.poll(ids[3], expect=401)
    d.tokens.pop(ids[3])
    old = d.tokens[ids[4]]
    new = status(s.admin.post(f"/v1/devices/{ids[4]}/token"), 201).json["token"]
    eq(Client(s.port, old).get("/v1/agent/desired").status, 401, "old token, no grace")
    d.tokens[ids[4]], d.clients[ids[4]] = new, Client(s.port, new)
    eq(d.version(ids[4]), "v1", "new token")
    # a rollout and its verbs: the members change in the answer of the 2xx's tick
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": HOLD}),
                 201).json["id"]
    live = sorted(d.tokens)
    for size, verb in [(0.1, None), (0.5, "promote")]:
        if verb:
            status(s.admin.post(f"/v1/rollouts/{rid}/{verb}"), 200)
        on = {k for k, v in d.versions().items() if v == "v2"}
        # the pinned-then-unpinned device and the others are all eligible
        eq(on, stage_members(rid, live, 0.1) | stage_members(rid, live, size), f"after {verb or 'create'}")
    status(s.admin.post(f"/v1/rollouts/{rid}/pause"), 200)
    status(s.admin.post(f"/v1/rollouts/{rid}/rollback"), 200)
    eq(set(d.versions().values()), {"v1"}, "rollback")
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v3", "policy": HOLD}),
                 201).json["id"]
    check("v3" in d.versions().values(), "second rollout's canary")
    status(s.admin.post(f"/v1/rollouts/{rid}/abort"), 200)
    eq(set(d.versions().values()), {"v1"}, "abort")
    # a signing key revoked: what only it signed is no longer sent; signed again, it is
    other = Signer(ctx, s, key_id="ci-2027")
    publish(s, other, "det", "v1", platforms=PLATFORMS, stable=True)
    eq(d.poll(first)["det"]["key_id"], "ci-2027")
    status(s.admin.delete("/v1/keys/ci-2027"), 204)
    check("det" not in d.poll(first), "revoked key's manifest still sent")
    publish(s, signer, "det", "v1", platforms=PLATFORMS, artifacts=False)
    eq(d.poll(first)["det"]["key_id"], signer.key_id, "re-signed")
    verified(s)
    d.close()


def test_ddi_polls_see_stable_and_rollout_changes_at_once(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    publish_artifact(s, signer, "ocr", "v1", b"v1" * 500, "ocr-v1.swu", stable=True)
    publish_artifact(s, signer, "ocr", "v2", b"v2" * 500, "ocr-v2.swu")
    dev = DDI(s, "ddi-1", register(s, "ddi-1"))
    status(dev.request("PUT", "/installedBase", {"name": "ocr", "version": "v1"}), 200)
    check("deploymentBase" not in links(dev.poll()), "v1 installed: nothing to deploy")
    for _ in range(5):
        status(s.admin.put("/v1/models/ocr/stable", {"version": "v2"}), 200)
        check("deploymentBase" in links(dev.poll()), "stable v2 in the next DDI poll")
        status(s.admin.put("/v1/models/ocr/stable", {"version": "v1"}), 200)
        check("deploymentBase" not in links(dev.poll()), "stable v1 again in the next DDI poll")
    pol = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    check("deploymentBase" in links(dev.poll()), "rollout in the next DDI poll")
    status(s.admin.post(f"/v1/rollouts/{rid}/rollback"), 200)
    check("deploymentBase" not in links(dev.poll()), "rollback in the next DDI poll")
    dev.close()


def test_a_second_replica_follows_every_kind_of_write(ctx):
    s1 = ctx.server()
    s2 = ctx.server(database=s1.database, admin_token=s1.admin_token)
    signer, tokens = setup(ctx, s1, n=40)
    ids = sorted(tokens)
    d2 = Devices(s2, tokens)
    lags = []

    def follows(cond, what):
        t0 = time.time()
        wait_for(cond, timeout=15, interval=0.01, msg=f"replica 2: {what}")
        lags.append(time.time() - t0)

    status(s1.admin.put("/v1/models/ocr/stable", {"version": "v2"}), 200)
    follows(lambda: d2.version(ids[0]) == "v2", "stable")
    status(s1.admin.patch(f"/v1/devices/{ids[1]}", {"pins": {"ocr": "v3"}}), 200)
    follows(lambda: d2.version(ids[1]) == "v3", "pin")
    t = status(s1.admin.post("/v1/devices", {"id": "late-1", "platform": "jetson"}), 201).json["token"]
    d2.tokens["late-1"] = t
    follows(lambda: d2.version("late-1") == "v2", "new device")
    status(s1.admin.delete(f"/v1/devices/{ids[2]}"), 204)
    follows(lambda: Client(s2.port, tokens[ids[2]]).get("/v1/agent/desired").status == 401, "delete")
    d2.tokens.pop(ids[2])
    rid = status(s1.admin.post("/v1/rollouts", {"model": "ocr", "version": "v3", "policy": HOLD}),
                 201).json["id"]
    # the device pinned to v3 runs it anyway, and is not eligible
    live = sorted(set(d2.tokens) - {ids[1]})
    canary = stage_members(rid, live, 0.1) | {ids[1]}
    follows(lambda: {k for k, v in d2.versions().items() if v == "v3"} == canary, "rollout canary")
    status(s1.admin.post(f"/v1/rollouts/{rid}/promote"), 200)
    ramp = stage_members(rid, live, 0.5) | canary
    follows(lambda: {k for k, v in d2.versions().items() if v == "v3"} == ramp, "promotion")
    status(s1.admin.post(f"/v1/rollouts/{rid}/rollback"), 200)
    follows(lambda: {k for k, v in d2.versions().items() if v == "v3"} == {ids[1]}, "rollback")
    wait_for(lambda: s2.admin.get("/v1/snapshot/verify").json.get("ok"), timeout=15,
             msg="replica 2's snapshot equals a fresh load")
    lags.sort()
    print(f"replica 2 lag over {len(lags)} writes: median {lags[len(lags) // 2] * 1000:.0f} ms,"
          f" max {lags[-1] * 1000:.0f} ms")
    d2.close()


def test_randomised_writes_keep_the_snapshot_equal_to_a_fresh_load(ctx):
    """Mixed writes, a few thousand device and rollout events; the engine's own
    evaluations are held off (RAMP_EVAL_INTERVAL) so every change is one this
    test made and the snapshot must equal a fresh load right after each 2xx."""
    s = ctx.server(env={"RAMP_EVAL_INTERVAL": "3600"})
    # a second replica follows the whole run through its notices alone
    s2 = ctx.server(database=s.database, admin_token=s.admin_token,
                    env={"RAMP_EVAL_INTERVAL": "3600"})
    signer = Signer(ctx, s)
    other = Signer(ctx, s, key_id="ci-2027")
    for m in ("ocr", "det"):
        for v in ("v1", "v2", "v3"):
            publish(s, signer, m, v, platforms=PLATFORMS, stable=(v == "v1"))
    publish(s, other, "ocr", "v4", platforms=PLATFORMS)
    rng = random.Random(18)
    devices = set()
    active = {}  # model -> rollout id
    seq = [0]
    events = 0

    def new_ids(k):
        out = []
        for _ in range(k):
            seq[0] += 1
            out.append(f"r-{seq[0]:05d}")
        return out

    def step():
        nonlocal events
        op = rng.choice(["create", "create", "delete", "patch", "patch", "rotate", "stable",
                         "rollout", "verb", "verb", "key"])
        if op == "create" or len(devices) < 10:
            batch = new_ids(rng.choice([1, 1, 5, 40]))
            body = [{"id": i, "platform": rng.choice(PLATFORMS),
                     "labels": {"site": rng.choice(["a", "b"])}} for i in batch]
            status(s.admin.post("/v1/devices", body if len(body) > 1 else body[0]), 201)
            devices.update(batch)
            events += len(batch)
        elif op == "delete":
            dev = rng.choice(sorted(devices))
            status(s.admin.delete(f"/v1/devices/{dev}"), 204)
            devices.discard(dev)
            events += 1
        elif op == "patch":
            dev = rng.choice(sorted(devices))
            patch = rng.choice([{"pins": {"ocr": rng.choice(["v2", "v3"])}}, {"pins": {"ocr": None}},
                                {"pins": {"det": "v2"}}, {"platform": rng.choice(PLATFORMS)},
                                {"labels": {"site": rng.choice(["a", "b", None])}}])
            status(s.admin.patch(f"/v1/devices/{dev}", patch), 200)
            events += 1
        elif op == "rotate":
            dev = rng.choice(sorted(devices))
            status(s.admin.post(f"/v1/devices/{dev}/token", {"grace": rng.choice([0, 3600])}), 201)
            events += 1
        elif op == "stable":
            m = rng.choice(["ocr", "det"])
            status(s.admin.put(f"/v1/models/{m}/stable", {"version": rng.choice(["v1", "v2", "v3"])}), 200)
            events += 1
        elif op == "rollout":
            m = rng.choice(["ocr", "det"])
            if m in active:
                return
            stable = status(s.admin.get(f"/v1/models/{m}"), 200).json["stable_version"]
            v = rng.choice([x for x in ("v1", "v2", "v3") if x != stable])
            sel = rng.choice([None, "site=a"])
            body = {"model": m, "version": v, "policy": HOLD}
            if sel:
                body["selector"] = sel
            active[m] = status(s.admin.post("/v1/rollouts", body), 201).json["id"]
            events += 1
        elif op == "verb":
            if not active:
                return
            m = rng.choice(sorted(active))
            rid = active[m]
            verb = rng.choice(["promote", "promote", "pause", "resume", "rollback", "abort"])
            r = s.admin.post(f"/v1/rollouts/{rid}/{verb}")
            check(r.status in (200, 409), f"{verb}: {r}")
            st = status(s.admin.get(f"/v1/rollouts/{rid}"), 200).json["state"]
            if st not in ("progressing", "paused", "awaiting_approval"):
                active.pop(m)
            events += 1
        elif op == "key":
            # ocr v4 is signed only by the other key: stable, then that key revoked
            if status(s.admin.get("/v1/keys/ci-2027"), 200).json["revoked_at"] is None and "ocr" not in active:
                status(s.admin.put("/v1/models/ocr/stable", {"version": "v4"}), 200)
                status(s.admin.delete("/v1/keys/ci-2027"), 204)
                events += 2

    deadline = time.time() + 90
    steps = 0
    while steps < 600 and time.time() < deadline:
        step()
        steps += 1
        r = verified(s)
        eq(r["devices"], len(devices), f"step {steps}")
    check(steps >= 100, f"only {steps} steps in 90 s")
    print(f"{steps} steps, {events} events, {len(devices)} devices, all equal to a fresh load")
    wait_for(lambda: s2.admin.get("/v1/snapshot/verify").json.get("ok"), timeout=30,
             msg="the second replica's snapshot equals a fresh load")
    eq(s2.admin.get("/v1/snapshot/verify").json["devices"], len(devices))
    # and after a restart, the whole load agrees with what was built step by step
    s.restart()
    verified(s)
