"""Stratified canaries end to end (docs/strata.md): a fleet of 3 platforms x
4 sites, one of them tiny; a canary with stratify_by [platform, site] and
min_per_stratum holds at least that many devices of every stratum (all of
the tiny one's), exactly the devices the documented choice names; the
choice survives a restart and a policy edit that changes nothing, a device
enrolled in a new stratum joins the canary, later stages keep the canary's
devices, the snapshot stays verified, rampctl shows the strata, and bad
stratify blocks are refused with nothing stored."""
import hashlib
import json
import math
import os
import subprocess

from fleet import Signer, manifest_text, publish, rollout
from ramp import Client, check, eq, status, wait_for

PLATFORMS = ("rpi-arm64", "jetson-arm64", "cloud-x86")
SITES = {"site-a": 30, "site-b": 25, "site-c": 20, "site-tiny": 1}  # devices per platform


def fleet_devices():
    devs = []
    for p in PLATFORMS:
        for site, n in SITES.items():
            for i in range(n):
                devs.append({"id": f"{p[:3]}-{site}-{i:03d}", "platform": p,
                             "labels": {"site": site, "rack": str(i % 3)}})
    return devs


def order(rid, ids):
    return sorted(ids, key=lambda d: (hashlib.sha256(f"{rid}:{d}".encode()).digest()[:8], d))


def expected(rid, devs, stages, k):
    """docs/strata.md's choice for stage k: the bucket prefix of its size plus,
    for every stage up to k with stratify_by, the first min_per_stratum devices
    of every stratum in bucket order."""
    by_id = {d["id"]: d for d in devs}
    o = order(rid, list(by_id))
    n = len(o)
    size = stages[k]["size"]
    take = n if size >= 1.0 else min(n, max(1, math.ceil(size * n - 1e-9)))
    chosen = set(o[:take])
    for st in stages[:k + 1]:
        keys = st.get("stratify_by")
        if not keys:
            continue
        seen = {}
        for d in o:
            dev = by_id[d]
            v = tuple(dev["platform"] if key == "platform" else dev["labels"].get(key) for key in keys)
            seen[v] = seen.get(v, 0) + 1
            if seen[v] <= st.get("min_per_stratum", 1):
                chosen.add(d)
    return chosen


def stratified_policy(min_per=2):
    # long windows: the test moves the rollout on with promote, and a stage
    # in progress takes devices enrolled since (a top-up)
    return {"stages": [
        {"name": "canary", "size": 0.02, "validation_window": "1h",
         "stratify_by": ["platform", "site"], "min_per_stratum": min_per},
        {"name": "ramp", "size": 0.1, "validation_window": "1h"},
        {"name": "full", "size": 1.0, "validation_window": "1h"}]}


def setup(ctx, s):
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", platforms=PLATFORMS, stable=True)
    publish(s, signer, "ocr", "v2", platforms=PLATFORMS)
    devs = fleet_devices()
    tokens = {d["id"]: d["token"] for d in status(s.admin.post("/v1/devices", devs), 201).json["devices"]}
    return devs, tokens


def told_v2(s, tokens):
    out = set()
    for dev, tok in tokens.items():
        c = Client(s.port, tok)
        r = status(c.get("/v1/agent/desired"), 200).json
        c.close()
        if any(m["model"] == "ocr" and m["version"] == "v2" for m in r["models"]):
            out.add(dev)
    return out


def verified(s):
    r = status(s.admin.get("/v1/snapshot/verify"), 200).json
    check(r["ok"], f"snapshot differs from a fresh load: {r}")


def rampctl(ctx, s, *args):
    e = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    e.update({"HOME": ctx.tmp, "RAMP_SERVER": s.url, "RAMP_TOKEN": s.admin_token})
    p = subprocess.run([os.path.join(ctx.build, "rampctl"), *args], env=e, capture_output=True,
                       text=True, timeout=120)
    eq(p.returncode, 0, p.stderr)
    return p.stdout


def check_strata_block(ro, devs, chosen, min_per):
    b = ro["strata"]
    eq(b["stage"], "canary")
    eq(b["by"], ["platform", "site"])
    eq(b["min_per_stratum"], min_per)
    eq(b["short"], 0, json.dumps(b))
    got = {(x["values"]["platform"], x["values"]["site"]): (x["eligible"], x["canary"]) for x in b["strata"]}
    want = {}
    for d in devs:
        key = (d["platform"], d["labels"]["site"])
        e, c = want.get(key, (0, 0))
        want[key] = (e + 1, c + (d["id"] in chosen))
    eq(got, want)
    eq(len(got), len(PLATFORMS) * len(SITES))
    for (p, site), (e, c) in got.items():
        check(c >= min(min_per, e), f"{p}/{site}: {c} of {e}")


def test_canary_holds_every_stratum_and_keeps_its_devices(ctx):
    s = ctx.server()
    devs, tokens = setup(ctx, s)
    pol = stratified_policy(min_per=2)
    status(s.admin.put("/v1/policies/strat", pol), 201)
    stored = status(s.admin.get("/v1/policies/strat"), 200).json["policy"]
    eq(stored["stages"][0]["stratify_by"], ["platform", "site"])
    eq(stored["stages"][0]["min_per_stratum"], 2)
    check("stratify_by" not in stored["stages"][1], stored)
    r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": "strat"}), 201)
    rid = r.json["id"]
    want = expected(rid, devs, pol["stages"], 0)
    # 0.02 x 228 is 5 devices: without strata 12 strata could never all be in
    check(len(want) >= 2 * 9 + 3, len(want))
    eq(r.json["devices"]["assigned"], len(want))
    check_strata_block(r.json, devs, want, 2)
    eq(told_v2(s, tokens), want)
    verified(s)

    out = rampctl(ctx, s, "rollout", "status", str(rid))
    check("Strata (stage canary, at least 2 per stratum, by platform, site)" in out, out)
    check("platform=rpi-arm64 site=site-tiny" in out and "canary 1 of 1" in out, out)
    check("12 strata, 0 short of their minimum" in out, out)

    # a policy edit that changes nothing (YAML this time, other key order)
    yaml = ("stages:\n"
            "  - {name: canary, size: 0.02, validation_window: 1h,\n"
            "     min_per_stratum: 2, stratify_by: [platform, site]}\n"
            "  - {name: ramp, size: 0.1, validation_window: 60m}\n"
            "  - {name: full, size: 1.0, validation_window: 1h}\n")
    status(s.admin.request("PUT", "/v1/policies/strat", raw=yaml.encode(), ctype="application/yaml"), 200)
    eq(status(s.admin.get("/v1/policies/strat"), 200).json["policy"], stored)

    # a restart: the engine reads the stored policy again and takes nobody else
    s.stop()
    s.start()
    eq(told_v2(s, tokens), want)
    eq(rollout(s, rid)["devices"]["assigned"], len(want))
    verified(s)

    # a device in a stratum of its own joins the canary at the next evaluation
    new = {"id": "rpi-site-new-000", "platform": "rpi-arm64", "labels": {"site": "site-new"}}
    tokens.update({d["id"]: d["token"] for d in status(s.admin.post("/v1/devices", [new]), 201).json["devices"]})
    devs.append(new)
    want2 = expected(rid, devs, pol["stages"], 0) | want
    check(new["id"] in want2)
    wait_for(lambda: rollout(s, rid)["devices"]["assigned"] == len(want2), timeout=60,
             msg="the new stratum's device assigned")
    eq(told_v2(s, tokens), want2)
    ro = rollout(s, rid)
    eq(ro["strata"]["short"], 0)
    eq(len(ro["strata"]["strata"]), len(PLATFORMS) * len(SITES) + 1)
    verified(s)

    # the next stage is not stratified itself and keeps every canary device
    status(s.admin.post(f"/v1/rollouts/{rid}/promote"), 200)
    eq(rollout(s, rid)["stage"]["name"], "ramp")
    want3 = expected(rid, devs, pol["stages"], 1) | want2
    check(want2 <= want3 and len(want3) > len(want2), (len(want2), len(want3)))
    eq(rollout(s, rid)["devices"]["assigned"], len(want3))
    eq(told_v2(s, tokens), want3)
    eq(rollout(s, rid)["strata"]["stage"], "canary")  # still the stratification in force
    verified(s)


def test_label_strata_with_absent_labels_and_an_unstratified_rollout(ctx):
    s = ctx.server()
    devs, tokens = setup(ctx, s)
    # a few devices without the rack label form a stratum of their own
    for d in devs[:4]:
        status(s.admin.patch(f"/v1/devices/{d['id']}", {"labels": {"rack": None}}), 200)
        del d["labels"]["rack"]
    pol = {"stages": [{"name": "canary", "size": 0.01, "validation_window": "1h",
                       "stratify_by": ["rack"], "min_per_stratum": 3},
                      {"name": "full", "size": 1.0, "validation_window": "1h"}]}
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    want = expected(rid, devs, pol["stages"], 0)
    ro = rollout(s, rid)
    eq(ro["devices"]["assigned"], len(want))
    got = {x["values"]["rack"]: x["canary"] for x in ro["strata"]["strata"]}
    eq(set(got), {"0", "1", "2", None})
    check(all(c >= 3 for c in got.values()), got)
    eq(told_v2(s, tokens), want)
    verified(s)
    # a rollout without stratify_by shows none and takes the plain prefix
    status(s.admin.post(f"/v1/rollouts/{rid}/abort"), 200)
    plain = {"stages": [{"name": "canary", "size": 0.02, "validation_window": "1h"},
                        {"name": "full", "size": 1.0, "validation_window": "1h"}]}
    r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": plain}), 201).json
    eq(r["strata"], None)
    eq(r["devices"]["assigned"], len(expected(r["id"], devs, plain["stages"], 0)))
    verified(s)


def test_bad_stratify_blocks_are_422_and_nothing_is_stored(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")

    def pol(**extra):
        st = {"name": "canary", "size": 0.1, "validation_window": "1h"}
        st.update(extra)
        return {"stages": [st, {"name": "full", "size": 1.0, "validation_window": "1h"}]}

    bad = [
        (pol(stratify_by="platform"), "stages[0].stratify_by", "must be a list"),
        (pol(stratify_by=[]), "stages[0].stratify_by", "1 to 4"),
        (pol(stratify_by=["a", "b", "c", "d", "e"]), "stages[0].stratify_by", "1 to 4"),
        (pol(stratify_by=["k%d" % i for i in range(10000)]), "stages[0].stratify_by", "1 to 4"),
        (pol(stratify_by=[{"platform": True}]), "stages[0].stratify_by[0]", "must be a string"),
        (pol(stratify_by=["site", None]), "stages[0].stratify_by[1]", "must be a string"),
        (pol(stratify_by=["no spaces"]), "stages[0].stratify_by[0]", "label name"),
        (pol(stratify_by=["x" * 5000]), "stages[0].stratify_by[0]", "label name"),
        (pol(stratify_by=["site", "site"]), "stages[0].stratify_by[1]", "duplicates"),
        (pol(stratify_by=["site"], min_per_stratum=0), "stages[0].min_per_stratum", "between 1 and 1000"),
        (pol(stratify_by=["site"], min_per_stratum=1001), "stages[0].min_per_stratum", "between 1 and 1000"),
        (pol(stratify_by=["site"], min_per_stratum=2 ** 40), "stages[0].min_per_stratum", "between"),
        (pol(stratify_by=["site"], min_per_stratum="2"), "stages[0].min_per_stratum", "integer"),
        (pol(stratify_by=["site"], min_per_stratum=True), "stages[0].min_per_stratum", "integer"),
        (pol(min_per_stratum=2), "stages[0].min_per_stratum", "needs stratify_by"),
        (pol(stratify=["site"]), "stages[0].stratify", ""),
    ]
    for body, field, why in bad:
        r = status(s.admin.put("/v1/policies/strat", body), 422, field)
        eq(r.json["field"], field, json.dumps(body)[:200])
        check(why in r.json["detail"], r.json)
        status(s.admin.get("/v1/policies/strat"), 404)
        r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": body}), 422)
        eq(r.json["field"], "policy." + field)
    # malformed YAML, and the right block with the wrong token
    status(s.admin.request("PUT", "/v1/policies/strat", raw=b"stages: [{stratify_by: [", ctype="application/yaml"),
           400)
    good = pol(stratify_by=["platform"], min_per_stratum=2)
    dev_tok = status(s.admin.post("/v1/devices", [{"id": "d-1", "platform": "rpi-arm64"}]), 201).json["devices"][0]["token"]
    for tok in ("nope", dev_tok):
        c = Client(s.port, tok)
        r = c.put("/v1/policies/strat", good)
        check(r.status in (401, 403), r)
        r = c.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": good})
        check(r.status in (401, 403), r)
        c.close()
    status(s.admin.get("/v1/policies/strat"), 404)
    eq(status(s.admin.get("/v1/rollouts?state=all"), 200).json["items"], [])
    eq(status(s.admin.get("/v1/policies"), 200).json["items"], [])
    # and the good one is stored as written
    status(s.admin.put("/v1/policies/strat", good), 201)
    got = status(s.admin.get("/v1/policies/strat"), 200).json["policy"]
    eq(got["stages"][0]["stratify_by"], ["platform"])
    eq(got["stages"][0]["min_per_stratum"], 2)
