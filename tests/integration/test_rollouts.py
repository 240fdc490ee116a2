"""The rollout engine end to end: policies, staged promotion with exact
sticky membership, automatic rollback, operator verbs, restarts, and two
replicas on one database."""
import json
import os
import re
import shutil
import subprocess
import time

from fleet import Fleet, Signer, enroll, publish, rollout, stage_members
from ramp import check, eq, status, wait_for

SEED_POLICY = "/work/shared/examples/rollout-policy.yaml"
HERE = os.path.dirname(os.path.abspath(__file__))


def seed_policy_text():
    path = SEED_POLICY if os.path.exists(SEED_POLICY) else os.path.join(HERE, "..", "..", "policies", "seed.yaml")
    return open(path, "rb").read()


def put_policy(s, name, policy):
    return status(s.admin.put(f"/v1/policies/{name}", policy), 201)


def fast_policy(windows=("2s", "2s", "2s"), sizes=(0.05, 0.25, 1.0), metrics=None, **extra):
    names = ["canary", "ramp", "full"]
    stages = []
    for i, (w, z) in enumerate(zip(windows, sizes)):
        st = {"name": names[i], "size": z, "validation_window": w}
        if i == 0:
            st["metrics"] = metrics if metrics is not None else []
        stages.append(st)
    p = {"stages": stages}
    p.update(extra)
    return p


def setup(ctx, s, n=200, model="ocr"):
    signer = Signer(ctx, s)
    publish(s, signer, model, "v1", stable=True)
    publish(s, signer, model, "v2")
    tokens = enroll(s, n)
    return signer, tokens


def test_seed_policy_parses_as_written_and_bad_policies_are_422(ctx):
    s = ctx.server()
    r = s.admin.request("PUT", "/v1/policies/seed", raw=seed_policy_text(), ctype="application/yaml")
    status(r, 201)
    p = status(s.admin.get("/v1/policies/seed"), 200).json["policy"]
    eq([st["name"] for st in p["stages"]], ["canary", "ramp", "full"])
    eq(p["stages"][0]["validation_window"], 1800)
    eq([m["name"] for m in p["stages"][1]["metrics"]], ["inference_latency_p50", "error_rate"])
    bad = [
        ({"stages": [{"name": "a", "size": 0.5, "validation_window": "1m"},
                     {"name": "b", "size": 0.25, "validation_window": "1m"}]}, "stages[1].size"),
        ({"stages": [{"name": "a", "size": 0.5, "validation_window": "1m"}]}, "stages[0].size"),
        ({"stages": [{"name": "a", "size": 1.0, "validation_window": "soon"}]}, "stages[0].validation_window"),
        ({"stages": [{"name": "a", "size": 1.0, "validation_window": "1m",
                      "metrics": [{"name": "happiness", "threshold": "< 1"}]}]}, "stages[0].metrics[0].name"),
        ({"stages": [{"name": "a", "size": 1.0, "validation_window": "1m",
                      "metrics": [{"name": "error_rate", "threshold": "about 1%"}]}]},
         "stages[0].metrics[0].threshold"),
        ({"stages": [{"name": "a", "size": 1.0, "validation_window": "1m"}],
          "rollback": {"on_inconclusive": "panic"}}, "rollback.on_inconclusive"),
    ]
    for body, field in bad:
        r = status(s.admin.put("/v1/policies/bad", body), 422)
        eq(r.json["field"], field, json.dumps(body))
    status(s.admin.request("PUT", "/v1/policies/bad", raw=b"stages: [\n", ctype="application/yaml"), 400)
    status(s.admin.request("PUT", "/v1/policies/bad", raw=b"stages: []", ctype="text/plain"), 415)
    status(s.admin.get("/v1/policies/bad"), 404)


def test_healthy_rollout_promotes_through_every_stage_with_exact_membership(ctx):
    s = ctx.server()
    signer, tokens = setup(ctx, s, n=200)
    ids = list(tokens)
    # a slow test machine may not report within a 2 s window: extend, don't pause
    pol = fast_policy(windows=("3s", "3s", "2s"), metrics=[{"name": "error_rate", "threshold": "< 5%"}],
                      rollback={"on_inconclusive": "extend"})
    # canary and ramp pass their gates and then wait for approval, which the
    # loop below gives once it has checked the stage's membership: a busy
    # machine's loop (200 polls a turn) could otherwise miss a 3 s stage
    for st in pol["stages"][:2]:
        st["approval"] = True
    r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201)
    rid = r.json["id"]
    eq(r.json["baseline_version"], "v1")
    eq(r.json["state"], "progressing")
    eq(r.json["stage"]["name"], "canary")
    fleet = Fleet(s, tokens, "ocr")
    # the canary's 10 devices install and report first: one turn of the
    # loop below (200 polls) can outlast the canary's window and its three
    # extensions on a busy machine, which would pause the rollout for want
    # of data
    fleet.poll_some(stage_members(rid, ids, 0.05))
    fleet.report()
    seen_stages = {}
    deadline = time.time() + 180  # generous: a busy machine turns the loop slowly
    while time.time() < deadline:
        ro = rollout(s, rid)
        if ro["state"] not in ("progressing", "awaiting_approval"):
            break
        counts = fleet.poll_all()
        idx = ro["stage"]["index"]
        on_v2 = {d for d, v in fleet.running.items() if v == "v2"}
        if idx not in seen_stages:
            size = [0.05, 0.25, 1.0][idx]
            expect = set()
            for k in range(idx + 1):
                expect |= stage_members(rid, ids, [0.05, 0.25, 1.0][k])
            ro2 = rollout(s, rid)
            if ro2["stage"]["index"] == idx:
                eq(ro2["devices"]["assigned"], len(expect), f"stage {idx}")
                eq(on_v2, expect, f"stage {idx} membership")
                seen_stages[idx] = len(expect)
            check(size)
        fleet.report()
        if ro["state"] == "awaiting_approval" and idx in seen_stages:
            status(s.admin.post(f"/v1/rollouts/{rid}/approve"), 200)
        time.sleep(0.3)
    ro = rollout(s, rid)
    eq(ro["state"], "succeeded", json.dumps(ro["events"]))
    eq(seen_stages.get(0), 10)
    eq(seen_stages.get(1), 50)
    types = [e["type"] for e in ro["events"]]
    for t in ("created", "stage_started", "awaiting_approval", "approved", "promoted", "succeeded"):
        check(t in types, f"{t} in {types}")
    check(any(a["metric"] == "error_rate" and a["result"] == "pass" for a in ro["analysis"]), ro["analysis"])
    # the new version is stable: every device is told v2, with no rollout
    wait_for(lambda: fleet.poll_all() == {"v2": 200}, timeout=10, msg="everyone on v2")
    m = fleet.desired(ids[0])
    eq(m["rollout"], None)
    fleet.close()


def test_install_outcomes_count_for_the_whole_stage_not_only_the_sliding_window(ctx):
    """A device installs once per stage. The evaluation that ends a 2 s window
    comes here seconds after the installs (as on a busy machine, or after an
    extension): the installs still count. They used to be read over the
    sliding window only: 0 samples, inconclusive, and no later window could
    ever see them again."""
    s = ctx.server(env={"RAMP_EVAL_INTERVAL": "6"})
    _, tokens = setup(ctx, s, n=20)
    pol = {"stages": [{"name": "canary", "size": 0.2, "validation_window": "2s", "min_devices": 3,
                       "metrics": [{"name": "install_failure_rate", "threshold": "< 5%"}]},
                      {"name": "full", "size": 1.0, "validation_window": "1h"}],
           "rollback": {"on_inconclusive": "pause"}}
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    fleet = Fleet(s, tokens, "ocr")
    # the canary's four report 'installed' now; only they poll: on a busy
    # machine the stage may pass (and the rest be told v2) while a poll of
    # the whole fleet is still under way
    canary = stage_members(rid, list(tokens), 0.2)
    eq(len(canary), 4)
    eq(fleet.poll_some(canary), {"v2": 4})
    ro = wait_for(lambda: rollout(s, rid)["stage"]["index"] == 1 or rollout(s, rid)["state"] != "progressing"
                  and rollout(s, rid), timeout=60, msg="the canary stage decided")
    ro = rollout(s, rid)
    types = [e["type"] for e in ro["events"]]
    eq((ro["state"], ro["stage"]["name"]), ("progressing", "full"), types)
    check("inconclusive" not in types, ro["events"])
    row = [a for a in ro["analysis"] if a["metric"] == "install_failure_rate" and a["arm"] == "canary"
           and a["stage"] == 0]
    eq([(a["value"], a["samples"], a["devices"], a["result"]) for a in row], [(0.0, 4, 4, "pass")])
    fleet.close()


def test_error_rate_breach_rolls_back_before_the_window_ends(ctx):
    s = ctx.server()
    signer, tokens = setup(ctx, s, n=100)
    pol = fast_policy(windows=("1h", "1h", "1h"), sizes=(0.1, 0.5, 1.0),
                      metrics=[{"name": "error_rate", "threshold": "< 1%"}])
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    fleet = Fleet(s, tokens, "ocr")
    eq(fleet.poll_all(), {"v2": 10, "v1": 90})
    canary = {d for d, v in fleet.running.items() if v == "v2"}
    m = fleet.desired(sorted(canary)[0])
    eq(m["rollout"]["id"], rid)
    eq(m["rollout"]["stage"], "canary")
    eq(m["previous"]["version"], "v1")

    def rolled_back():
        fleet.report(versions_bad=("v2",))
        return rollout(s, rid)["state"] == "rolled_back"
    wait_for(rolled_back, timeout=30, interval=0.5, msg="rollback")
    # every assigned device is told the baseline
    wait_for(lambda: all(fleet.desired(d)["version"] == "v1" for d in canary), timeout=10,
             msg="canary told v1")
    ro = rollout(s, rid)
    breach = [e for e in ro["events"] if e["type"] == "breach"]
    check(breach and "error_rate" in breach[0]["detail"], ro["events"])
    check("(baseline 0;" in breach[0]["detail"], breach[0]["detail"])
    check(any(e["type"] == "rolled_back" for e in ro["events"]))
    fail = [a for a in ro["analysis"] if a["metric"] == "error_rate" and a["arm"] == "canary"]
    eq(fail[0]["result"], "fail")
    check(abs(fail[0]["value"] - 0.1) < 1e-9, fail)
    eq(fail[0]["devices"], 10)
    base = [a for a in ro["analysis"] if a["metric"] == "error_rate" and a["arm"] == "baseline"]
    eq(base[0]["value"], 0.0)
    check(ro["window_ends_at"] if "window_ends_at" in ro else True)
    audit = status(s.admin.get("/v1/audit?limit=1000"), 200).json["items"]
    check(any(a["action"] == "rollout.rolled_back" for a in audit))
    fleet.close()


def test_operator_verbs_pause_resume_approve_promote_abort(ctx):
    s = ctx.server()
    signer, tokens = setup(ctx, s, n=40)
    pol = fast_policy(windows=("1s", "1h", "1h"))
    pol["stages"][0]["approval"] = True
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    ops = s.client()
    r = status(ops.post(f"/v1/rollouts/{rid}/pause"), 200)
    eq(r.json["state"], "paused")
    status(ops.post(f"/v1/rollouts/{rid}/pause"), 409)
    status(ops.post(f"/v1/rollouts/{rid}/approve"), 409)
    time.sleep(2.5)
    eq(rollout(s, rid)["state"], "paused")   # pause holds past the window
    eq(status(ops.post(f"/v1/rollouts/{rid}/resume"), 200).json["state"], "progressing")
    wait_for(lambda: rollout(s, rid)["state"] == "awaiting_approval", timeout=20, msg="awaiting approval")
    status(ops.post(f"/v1/rollouts/{rid}/resume"), 409)
    r = status(ops.post(f"/v1/rollouts/{rid}/approve"), 200).json
    eq((r["state"], r["stage"]["name"]), ("progressing", "ramp"))
    r = status(ops.post(f"/v1/rollouts/{rid}/promote"), 200).json
    eq((r["state"], r["stage"]["name"]), ("progressing", "full"))
    eq(r["devices"]["assigned"], 40)
    r = status(ops.post(f"/v1/rollouts/{rid}/abort"), 200).json
    eq(r["state"], "aborted")
    for verb in ("pause", "resume", "approve", "promote", "rollback", "abort"):
        status(ops.post(f"/v1/rollouts/{rid}/{verb}"), 409)
    fleet = Fleet(s, tokens, "ocr")
    wait_for(lambda: fleet.poll_all(install=False) == {"v1": 40}, timeout=10, msg="abort reverts")
    types = [e["type"] for e in rollout(s, rid)["events"]]
    for t in ("paused", "resumed", "awaiting_approval", "approved", "promoted", "aborted"):
        check(t in types, f"{t} in {types}")
    # a viewer may look but not act
    vt = status(s.admin.post("/v1/tokens", {"name": "v", "role": "viewer"}), 201).json["token"]
    status(s.admin.get(f"/v1/rollouts/{rid}", token=vt), 200)
    status(s.admin.post(f"/v1/rollouts/{rid}/pause", token=vt), 403)
    status(s.admin.post("/v1/rollouts/999/pause"), 404)
    fleet.close()


def test_promote_full_and_one_active_rollout_per_model(ctx):
    s = ctx.server()
    signer, tokens = setup(ctx, s, n=30)
    publish(s, signer, "ocr", "v3")
    pol = fast_policy(windows=("1h", "1h", "1s"))
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v3", "policy": pol}), 409)
    eq(r.json["field"], "model")
    eq(len(status(s.admin.get("/v1/rollouts?state=active"), 200).json["items"]), 1)
    r = status(s.admin.post(f"/v1/rollouts/{rid}/promote?full=true"), 200).json
    eq(r["stage"]["name"], "full")
    eq(r["devices"]["assigned"], 30)
    wait_for(lambda: rollout(s, rid)["state"] == "succeeded", timeout=20, msg="succeeded")
    rid2 = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v3", "policy": pol}), 201).json["id"]
    eq(rollout(s, rid2)["baseline_version"], "v2")
    # bad requests store nothing
    before = len(status(s.admin.get("/v1/rollouts?state=all"), 200).json["items"])
    for body, field in [({"model": "ocr", "version": "v9", "policy": pol}, "version"),
                        ({"model": "ocr", "version": "v3", "policy": "nope"}, "policy"),
                        ({"model": "ocr", "version": "v3"}, "policy"),
                        ({"model": "ocr", "version": "v3", "policy": pol, "selector": "a in ("}, "selector"),
                        ({"model": "ocr", "version": "v3", "policy": {"stages": []}}, None)]:
        r = s.admin.post("/v1/rollouts", body)
        check(r.status in (409, 422), r)
        if field and r.status == 422:
            eq(r.json["field"], field)
    eq(len(status(s.admin.get("/v1/rollouts?state=all"), 200).json["items"]), before)


def test_selector_limits_the_target_and_pins_hold_devices(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", platforms=("rpi-arm64", "cloud-x86-onnx"), stable=True)
    publish(s, signer, "ocr", "v2", platforms=("rpi-arm64",))
    toks = enroll(s, 20, labels={"site": "wh-1"})
    toks.update(enroll(s, 20, prefix="far", labels={"site": "wh-9"}))
    toks.update(enroll(s, 5, platform="cloud-x86-onnx", prefix="gpu", labels={"site": "wh-1"}))
    status(s.admin.patch("/v1/devices/dev-00000", {"pins": {"ocr": "v1"}}), 200)
    pol = fast_policy(windows=("1h", "1h", "1h"), sizes=(1.0,) * 1)
    pol["stages"] = pol["stages"][:1]
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol,
                                               "selector": "site=wh-1"}), 201).json["id"]
    ro = rollout(s, rid)
    eq(ro["devices"]["assigned"], 19)   # 20 at wh-1, one pinned; gpus have no v2 variant
    fleet = Fleet(s, toks, "ocr")
    counts = fleet.poll_all(install=False)
    eq(counts, {"v2": 19, "v1": 26})
    eq(fleet.desired("dev-00000")["version"], "v1")
    eq(fleet.desired("gpu-00000")["platform"], "cloud-x86-onnx")
    # a device enrolled mid-rollout that matches joins the current stage
    toks.update(enroll(s, 1, prefix="late", labels={"site": "wh-1"}))
    fleet.tokens = toks
    wait_for(lambda: fleet.desired("late-00000")["version"] == "v2", timeout=15, msg="late device joins")
    fleet.close()


def test_desired_answers_carry_etag_and_304(ctx):
    s = ctx.server()
    signer, tokens = setup(ctx, s, n=3)
    dev = sorted(tokens)[0]
    c = s.client(token=tokens[dev])
    r = status(c.get("/v1/agent/desired"), 200)
    etag = r.header("ETag")
    check(etag and etag.startswith('"'))
    m = r.json["models"][0]
    eq(r.json["device_id"], dev)
    eq((m["model"], m["version"], m["platform"]), ("ocr", "v1", "rpi-arm64"))
    check(m["digest"].startswith("sha256:") and m["url"].endswith(m["digest"]))
    text = __import__("base64").b64decode(m["manifest"]).decode()
    check("version: v1" in text)
    eq(m["key_id"], signer.key_id)
    status(c.get("/v1/agent/desired", headers={"If-None-Match": etag}), 304)
    status(c.get("/v1/agent/desired", headers={"If-None-Match": '"stale"'}), 200)
    # only device tokens poll; a device reports only for itself
    status(s.admin.get("/v1/agent/desired"), 403)
    status(c.post("/v1/agent/status", {"model": "ocr", "version": "v1", "state": "exploded"}), 422)
    status(c.post("/v1/agent/status", {"model": "ocr", "version": "v1", "state": "installed"}), 204)
    d = status(s.admin.get(f"/v1/devices/{dev}"), 200).json
    eq(d["models"]["ocr"]["state"], "installed")
    wait_for(lambda: status(s.admin.get(f"/v1/devices/{dev}"), 200).json["last_seen"], timeout=10,
             msg="last_seen written in a batch")
    # the agent's version, whatever its characters, is written as sent
    odd = 'ramp-agent/1.2 "beta" \\ {x,y} NULL'
    status(c.get("/v1/agent/desired", headers={"X-Agent-Version": odd}), 200)
    wait_for(lambda: status(s.admin.get(f"/v1/devices/{dev}"), 200).json["agent_version"] == odd,
             timeout=10, msg="agent_version written in a batch")
    # polls without one keep it, once a later poll's last_seen is written too
    before = status(s.admin.get(f"/v1/devices/{dev}"), 200).json["last_seen"]

    def later():
        status(c.get("/v1/agent/desired"), 200)
        d = status(s.admin.get(f"/v1/devices/{dev}"), 200).json
        return d["last_seen"] != before and d
    d = wait_for(later, timeout=15, interval=0.2, msg="a later last_seen")
    eq(d["agent_version"], odd)


def test_kill9_mid_stage_resumes_with_the_same_devices(ctx):
    s = ctx.server(embedded=True)
    signer, tokens = setup(ctx, s, n=60)
    pol = fast_policy(windows=("4s", "1h", "1s"), sizes=(0.1, 0.5, 1.0))
    # the canary holds for approval once its window is over: on a busy
    # machine the 120 requests below took longer than the window, and the
    # rollout had left the canary before the test looked at it
    pol["stages"][0]["approval"] = True
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    fleet = Fleet(s, tokens, "ocr")
    fleet.poll_all(install=False)
    before = {d for d in tokens if fleet.desired(d)["version"] == "v2"}
    eq(len(before), 6)
    eq(rollout(s, rid)["stage"]["name"], "canary")
    fleet.close()
    s.kill9()
    s.start()
    fleet = Fleet(s, tokens, "ocr")
    # the window's end survives the restart: the canary's window is judged
    wait_for(lambda: rollout(s, rid)["state"] == "awaiting_approval", timeout=30,
             msg="the canary's window judged after restart")
    status(s.admin.post(f"/v1/rollouts/{rid}/approve"), 200)
    wait_for(lambda: rollout(s, rid)["stage"]["name"] == "ramp", timeout=30, msg="promoted after restart")
    # the promotion is in the database first; the poll answers follow with the next snapshot
    want = stage_members(rid, list(tokens), 0.5) | before
    wait_for(lambda: {d for d in tokens if fleet.desired(d)["version"] == "v2"} == want, timeout=30,
             msg="the ramp stage's members answered v2")
    after = {d for d in tokens if fleet.desired(d)["version"] == "v2"}
    check(before <= after, "sticky membership survives kill -9")
    eq(after, want)
    status(s.admin.post(f"/v1/rollouts/{rid}/promote"), 200)
    wait_for(lambda: rollout(s, rid)["state"] == "succeeded", timeout=30, msg="completes")
    fleet.close()


def test_two_replicas_one_evaluates_both_answer(ctx):
    s1 = ctx.server()
    s2 = ctx.server(database=s1.database, admin_token=s1.admin_token)
    signer, tokens = setup(ctx, s1, n=50)
    pol = fast_policy(windows=("1s", "1h", "1h"), sizes=(0.1, 0.5, 1.0))
    rid = status(s1.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    f2 = Fleet(s2, tokens, "ocr")
    # replica 2 follows replica 1's transitions through LISTEN/NOTIFY
    wait_for(lambda: f2.poll_all(install=False).get("v2") == 25, timeout=30, msg="replica 2 sees ramp stage")
    leaders = [s for s in (s1, s2) if "now evaluates rollouts" in s.log()]
    eq(len(leaders), 1, "exactly one replica evaluates")
    status(s2.admin.post(f"/v1/rollouts/{rid}/rollback"), 200)
    wait_for(lambda: f2.poll_all(install=False) == {"v1": 50}, timeout=15, msg="rollback on replica 2")
    f1 = Fleet(s1, tokens, "ocr")
    wait_for(lambda: f1.poll_all(install=False) == {"v1": 50}, timeout=15, msg="rollback on replica 1")
    f1.close()
    f2.close()


def test_a_breach_without_baseline_data_says_so(ctx):
    """Only the canary reports: the breach event says "baseline: no data", never "nan"."""
    s = ctx.server()
    signer, tokens = setup(ctx, s, n=10)
    pol = fast_policy(windows=("1h", "1h", "1h"), sizes=(0.5, 0.75, 1.0),
                      metrics=[{"name": "error_rate", "threshold": "< 1%"}])
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    fleet = Fleet(s, tokens, "ocr")
    fleet.poll_all()
    fleet.running = {d: v for d, v in fleet.running.items() if v == "v2"}

    def breach():
        fleet.report(versions_bad=("v2",))
        return [e for e in rollout(s, rid)["events"] if e["type"] == "breach"]
    ev = wait_for(breach, timeout=30, interval=0.5, msg="breach")
    check("error_rate 0.1 breaches < 1% (baseline: no data;" in ev[0]["detail"], ev[0]["detail"])
    check("nan" not in json.dumps(rollout(s, rid)["events"]).lower(), rollout(s, rid)["events"])
    fleet.close()


def test_metrics_export_active_rollout_gauges(ctx):
    s = ctx.server()
    signer, tokens = setup(ctx, s, n=20)
    pol = fast_policy(windows=("1h", "1h", "1h"), sizes=(0.5, 0.75, 1.0),
                      metrics=[{"name": "error_rate", "threshold": "< 5%"}])
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    fleet = Fleet(s, tokens, "ocr")
    fleet.poll_all()
    fleet.report(versions_bad=(), errors=1, requests=100)

    def gauges():
        text = s.client(token=None).get("/metrics").body.decode()
        return text if f'ramp_rollout_metric_value{{rollout="{rid}",model="ocr",metric="error_rate",arm="canary"}} 0.01' in text else None
    text = wait_for(gauges, timeout=20, interval=0.5, msg="rollout gauges")
    check(f'ramp_rollout_stage_index{{rollout="{rid}",model="ocr",version="v2"}} 0' in text)
    check(f'ramp_rollout_state{{rollout="{rid}",model="ocr",state="progressing"}} 1' in text)
    check(f'ramp_rollout_assigned_devices{{rollout="{rid}",model="ocr"}} 10' in text)
    # the evaluation loop's own figures (docs/api.md, Operations)
    vals = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in text.splitlines()
            if ln.startswith("ramp_evaluation")}
    check(vals["ramp_evaluations_total"] >= 1, vals)
    check(vals["ramp_evaluation_rollouts_total"] >= 1, vals)
    eq(vals["ramp_evaluation_errors_total"], 0.0)
    eq(vals["ramp_evaluation_duration_seconds_count"], vals["ramp_evaluations_total"])
    check(vals["ramp_evaluation_duration_seconds_sum"] >= vals["ramp_evaluation_last_duration_seconds"] > 0, vals)
    check(abs(vals["ramp_evaluation_last_timestamp_seconds"] - time.time()) < 30, vals)
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
        eq(p.returncode, 0, (p.stdout + p.stderr).decode())
    fleet.close()


def test_token_revoked_on_one_replica_stops_working_on_the_other(ctx):
    s1 = ctx.server()
    s2 = ctx.server(database=s1.database, admin_token=s1.admin_token)
    tok = status(s1.admin.post("/v1/tokens", {"name": "ops", "role": "operator"}), 201).json["token"]
    status(s2.admin.get("/v1/devices", token=tok), 200)   # now cached on replica 2
    status(s1.admin.delete("/v1/tokens/ops"), 204)
    wait_for(lambda: s2.admin.get("/v1/devices", token=tok).status == 401, timeout=3, interval=0.05,
             msg="revocation reaches replica 2")


def test_polls_the_snapshot_cannot_answer_are_looked_up_off_the_poll_threads(ctx):
    s = ctx.server()
    setup(ctx, s, n=2)
    # an unknown token is not in memory: answered 401 after a database lookup
    status(s.admin.get("/v1/agent/desired", token="rmp_not-a-real-token"), 401)
    # a device registered a moment ago is in no snapshot yet: still answered, with its id
    tok = status(s.admin.post("/v1/devices", {"id": "fresh-1", "platform": "rpi-arm64"}), 201).json["token"]
    r = status(s.admin.get("/v1/agent/desired", token=tok), 200)
    eq(r.json["device_id"], "fresh-1")
    eq(r.json["models"][0]["version"], "v1")
    # and the same holds with an If-None-Match that matches nothing
    r = status(s.admin.get("/v1/agent/desired", token=tok, headers={"If-None-Match": '"x"'}), 200)
    status(s.admin.get("/v1/agent/desired", token=tok, headers={"If-None-Match": r.header("ETag")}), 304)


def set_loads(s):
    text = s.admin.get("/metrics").body.decode()
    return int(re.search(r"^ramp_evaluation_set_loads_total (\d+)$", text, re.M).group(1))


def evaluations(s):
    text = s.admin.get("/metrics").body.decode()
    return int(re.search(r"^ramp_evaluations_total (\d+)$", text, re.M).group(1))


def test_the_evaluator_follows_device_changes_without_reading_the_target_again(ctx):
    """Labels changed, devices deleted and enrolled: the rollout's target
    follows each of them pass by pass, and its sets are read whole once."""
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    enroll(s, 30, labels={"site": "a"})
    pol = fast_policy(windows=("1h", "1h", "1h"), sizes=(0.1, 0.5, 1.0))
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol,
                                               "selector": "site=a"}), 201).json["id"]

    def target_is(n):
        wait_for(lambda: rollout(s, rid)["devices"]["target"] == n, timeout=30,
                 msg=f"target {n}")

    target_is(30)
    # a pass that began before the 201 may have read the sets before the
    # creation's own write, which then marked them stale: the first read
    # that counts is that of a pass begun after the 201, which the second
    # pass from now is
    passes = evaluations(s)
    wait_for(lambda: evaluations(s) >= passes + 2 and set_loads(s) >= 1, timeout=60,
             msg="a first evaluation after the 201")
    loads = set_loads(s)
    status(s.admin.patch("/v1/devices/dev-00000", {"labels": {"site": "b"}}), 200)
    target_is(29)
    status(s.admin.delete("/v1/devices/dev-00001"), 204)
    target_is(28)
    toks = enroll(s, 3, prefix="late", labels={"site": "a"})
    target_is(31)
    status(s.admin.patch("/v1/devices/dev-00000", {"labels": {"site": "a"}}), 200)
    target_is(32)
    eq(set_loads(s), loads, "followed, not read again")
    # the late devices joined the current stage as they came
    fleet = Fleet(s, toks, "ocr")
    members = stage_members(rid, [d for d in (f"dev-{i:05d}" for i in range(30)) if d != "dev-00001"]
                            + list(toks), 0.1)
    for d in toks:
        eq(fleet.desired(d)["version"], "v2" if d in members else "v1", d)
    fleet.close()
