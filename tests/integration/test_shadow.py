"""Shadow runs (docs/judge.md "Shadow runs"): a stage with `shadow: true`
keeps its devices serving the current version and hands them the candidate
as a `shadow` object; their telemetry's `shadow` block feeds the
shadow_* gates. An agreeing candidate passes and promotes to the next
stage, which serves it; a disagreeing one rolls back without any device
having served it. Bad shadow policies and shadow telemetry are refused
with the field named and nothing stored; the snapshot stays equal to a
fresh load throughout."""
import os
import time

from fleet import Fleet, Signer, enroll, publish, rollout
from ramp import check, eq, status, wait_for


def policy(window="2s", agreement=">= 95%", fraction=0.5, min_devices=2, inconclusive="extend"):
    return {"stages": [
        {"name": "shadow", "size": 0.25, "validation_window": window, "shadow": True,
         "shadow_fraction": fraction, "min_devices": min_devices, "min_samples": 50,
         "metrics": [{"name": "shadow_agreement", "threshold": agreement},
                     {"name": "shadow_latency_p95", "threshold": "< 50ms"}]},
        {"name": "canary", "size": 0.5, "validation_window": "1h",
         "metrics": [{"name": "error_rate", "threshold": "< 5%"}]},
        {"name": "full", "size": 1.0, "validation_window": "1h"}],
        # a busy machine may end a short window before the first report: extend it
        "rollback": {"on_inconclusive": inconclusive}}


def setup(ctx, n=12):
    s = ctx.server(env={"RAMP_EVAL_INTERVAL": "1"})
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    tokens = enroll(s, n)
    fleet = Fleet(s, tokens, "ocr")
    eq(fleet.poll_all(), {"v1": n})
    return s, fleet


def verify(s):
    r = status(s.admin.get("/v1/snapshot/verify"), 200).json
    check(r["ok"], f"snapshot differs from a fresh load: {r}")


def shadowed(fleet):
    """{device: its shadow object} of the devices told to run one."""
    out = {}
    for dev in fleet.tokens:
        m = fleet.desired(dev)
        if m and "shadow" in m:
            out[dev] = m["shadow"]
    return out


def report_shadow(fleet, devs, agree, requests=100, p95=4.0):
    """One report per device: it serves what it runs and ran v2 beside it."""
    now = time.time()
    reports = [{"device_id": d, "model": f"ocr:{fleet.running[d]}", "timestamp": now,
                "requests": 200, "errors": 0, "latency_ms": 3.0,
                "shadow": {"version": "v2", "requests": requests, "agree": agree,
                           "confidence_shift": 0.01, "latency_p95_ms": p95, "dropped": 0}}
               for d in devs]
    eq(fleet.gateway.post("/v1/telemetry", {"reports": reports}).status, 202)


def test_agreeing_candidate_passes_the_shadow_stage_and_promotes(ctx):
    s, fleet = setup(ctx)
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2",
                                                "policy": policy()}), 201).json["id"]
    verify(s)
    # the shadow stage's devices still serve v1 and are told about v2
    eq(fleet.poll_all(), {"v1": 12})
    sh = shadowed(fleet)
    eq(len(sh), 3)
    for dev, o in sh.items():
        eq(o["version"], "v2")
        eq(o["fraction"], 0.5)
        check(o["digest"].startswith("sha256:") and o["url"] and o["signature"], o)
        eq(o["rollout"]["stage"], "shadow")
        eq(fleet.desired(dev)["version"], "v1")
    verify(s)

    def promoted():
        report_shadow(fleet, sh, agree=99)
        return rollout(s, rid)["stage"]["name"] == "canary"
    wait_for(promoted, timeout=120, interval=0.5, msg="the shadow stage to pass")
    ro = rollout(s, rid)
    rows = [a for a in ro["analysis"] if a["metric"] == "shadow_agreement" and a["arm"] == "canary"]
    check(rows and rows[0]["result"] == "pass" and abs(rows[0]["value"] - 0.99) < 1e-9, rows)
    check(rows[0]["devices"] == 3 and rows[0]["samples"] >= 300, rows)
    verify(s)
    # the next stage serves v2, with no shadow object left
    counts = fleet.poll_all()
    eq(counts, {"v2": 6, "v1": 6})
    eq(shadowed(fleet), {})
    for dev in sh:
        eq(fleet.running[dev], "v2")
    verify(s)
    fleet.close()


def test_disagreeing_candidate_rolls_back_and_no_device_served_it(ctx):
    s, fleet = setup(ctx)
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2",
                                                "policy": policy(window="1h")}), 201).json["id"]
    eq(fleet.poll_all(), {"v1": 12})
    sh = shadowed(fleet)
    eq(len(sh), 3)

    def rolled_back():
        report_shadow(fleet, sh, agree=60)
        return rollout(s, rid)["state"] == "rolled_back"
    wait_for(rolled_back, timeout=120, interval=0.5, msg="the rollback")
    ro = rollout(s, rid)
    breach = [e for e in ro["events"] if e["type"] == "breach"]
    check(breach and "shadow_agreement 0.6 breaches >= 95% in the shadow run" in breach[0]["detail"],
          ro["events"])
    verify(s)
    eq(fleet.poll_all(), {"v1": 12})
    eq(shadowed(fleet), {})
    # what every device reported installing: v1 only
    eq(set(fleet.running.values()), {"v1"})
    for dev in fleet.tokens:
        d = status(s.admin.get(f"/v1/devices/{dev}"), 200).json
        eq(d["models"]["ocr"]["version"], "v1")
    verify(s)
    fleet.close()


def test_slow_candidate_fails_the_latency_gate(ctx):
    s, fleet = setup(ctx)
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2",
                                                "policy": policy(window="1h")}), 201).json["id"]
    fleet.poll_all()
    sh = shadowed(fleet)

    def rolled_back():
        report_shadow(fleet, sh, agree=100, p95=80.0)
        return rollout(s, rid)["state"] == "rolled_back"
    wait_for(rolled_back, timeout=120, interval=0.5, msg="the rollback")
    breach = [e for e in rollout(s, rid)["events"] if e["type"] == "breach"]
    check(breach and "shadow_latency_p95 80 breaches < 50ms" in breach[0]["detail"], breach)
    fleet.close()


def test_bad_shadow_policies_are_422_and_nothing_is_stored(ctx):
    s = ctx.server()
    good = policy()
    bad = []
    p = policy(); p["stages"][0]["shadow_fraction"] = 0; bad.append((p, "stages[0].shadow_fraction"))
    p = policy(); p["stages"][0]["shadow_fraction"] = 2; bad.append((p, "stages[0].shadow_fraction"))
    p = policy(); p["stages"][0]["shadow"] = "yes"; bad.append((p, "stages[0].shadow"))
    p = policy(); p["stages"][1]["metrics"].append({"name": "shadow_agreement", "threshold": "> 0.9"})
    bad.append((p, "stages[1].metrics[1].name"))
    p = policy(); p["stages"][0]["metrics"].append({"name": "error_rate", "threshold": "< 1%"})
    bad.append((p, "stages[0].metrics[2].name"))
    p = policy(); p["stages"][0]["metrics"][0]["threshold"] = "> 0.9x baseline"
    bad.append((p, "stages[0].metrics[0].threshold"))
    p = policy(); del p["stages"][1]["metrics"]; bad.append((p, "stages[1].metrics"))
    p = policy(); p["stages"][2]["shadow"] = True; bad.append((p, "stages[2].shadow"))
    for i, (doc, field) in enumerate(bad):
        r = status(s.admin.put(f"/v1/policies/bad-{i}", doc), 422, field)
        eq(r.json["field"], field, r.json)
        status(s.admin.get(f"/v1/policies/bad-{i}"), 404)
        r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": doc}),
                   422, field)
        eq(r.json["field"], "policy." + field, r.json)
    eq(ctx.psql(s, "SELECT count(*) FROM rollouts")[0][0], "0")
    # the good one is stored and reads back with its shadow block
    status(s.admin.put("/v1/policies/good", good), 201)
    st = status(s.admin.get("/v1/policies/good"), 200).json
    st = st.get("policy", st)["stages"][0]
    eq((st["shadow"], st["shadow_fraction"]), (True, 0.5))


def test_bad_shadow_telemetry_is_refused_and_nothing_is_stored(ctx):
    s = ctx.server()
    enroll(s, 1)
    base = {"device_id": "dev-00000", "model": "ocr:v1", "requests": 10}
    bad = [({"version": "v2"}, "shadow.requests"),
           ({"version": "v2", "requests": 5, "agree": 6}, "shadow.agree"),
           ({"version": "v 2", "requests": 5}, "shadow.version"),
           ({"version": "v2", "requests": -5}, "shadow.requests"),
           ({"version": "v2", "requests": 5, "confidence_shift": 3}, "shadow.confidence_shift"),
           ({"version": "v2", "requests": 5, "latency_p95_ms": "fast"}, "shadow.latency_p95_ms"),
           ({"version": "v2", "requests": 5, "extra": 1}, "shadow.extra"),
           ("yes", "shadow")]
    for sh, field in bad:
        r = status(s.admin.post("/v1/telemetry", dict(base, shadow=sh)), 400, field)
        eq(r.json["field"], field, r.json)
    eq(ctx.psql(s, "SELECT count(*) FROM telemetry")[0][0], "0")
    status(s.admin.post("/v1/telemetry", dict(base, shadow={"version": "v2", "requests": 5,
                                                            "agree": 4, "mad": 0.5})), 202)
    eq(ctx.psql(s, "SELECT shadow_version, shadow_requests, shadow_agree, shadow_mad,"
                   " shadow_latency_p95_ms IS NULL FROM telemetry"), [["v2", "5", "4", "0.5", "t"]])


# --- with the real ramp-runner: the candidate runs beside the served model ---

RMODEL = "scorer"


def runner_setup(ctx, candidate):
    from runners import PLATFORM, build_model, publish as rpublish
    s = ctx.server(env={"RAMP_EVAL_INTERVAL": "1"})
    signer = Signer(ctx, s)
    tokens = enroll(s, 1, platform=PLATFORM, prefix="runner")
    rpublish(s, signer, RMODEL, "v1", build_model(ctx, "classify", "base"), stable=True)
    rpublish(s, signer, RMODEL, "v2", build_model(ctx, "classify", candidate))
    return s, signer, tokens


def runner_policy(window):
    return {"stages": [
        {"name": "shadow", "size": 0.5, "validation_window": window, "shadow": True,
         "shadow_fraction": 1.0, "min_devices": 1, "min_samples": 20,
         "metrics": [{"name": "shadow_agreement", "threshold": ">= 95%"},
                     {"name": "shadow_latency_p95", "threshold": "< 1s"}]},
        {"name": "full", "size": 1.0, "validation_window": "1h",
         "metrics": [{"name": "error_rate", "threshold": "< 5%"}]}],
        "rollback": {"on_inconclusive": "extend"}}


class Load:
    """Requests to the runner from a thread until stopped; the versions that answered."""

    def __init__(self, r):
        import threading
        self.r, self.stop, self.versions, self.failures = r, threading.Event(), {}, []
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        import http.client
        import json as _json
        conn = http.client.HTTPConnection("127.0.0.1", self.r.port, timeout=30)
        while not self.stop.is_set():
            st, data = self.r.request("POST", "/v1/infer", {"inputs": {"x": [[1, 2, 3, 4]]}},
                                      conn=conn)
            if st != 200:
                self.failures.append((st, data[:200]))
                continue
            v = _json.loads(data)["model"]["version"]
            self.versions[v] = self.versions.get(v, 0) + 1
        conn.close()

    def close(self):
        self.stop.set()
        self.t.join()


def shadow_rows(ctx, s, dev):
    return ctx.psql(s, "SELECT version, shadow_version, sum(shadow_requests), sum(shadow_agree)"
                       f" FROM telemetry WHERE device_id = '{dev}' AND shadow_version IS NOT NULL"
                       " GROUP BY 1, 2")


def test_runner_shadow_run_of_an_agreeing_candidate_promotes(ctx):
    from runners import Runner, running, statuses
    s, signer, tokens = runner_setup(ctx, "agree")
    dev, tok = next(iter(tokens.items()))
    with running(ctx):
        r = Runner(ctx, s, tok, signer.pub)
        r.wait_version("v1")
        load = Load(r)
        try:
            rid = status(s.admin.post("/v1/rollouts", {"model": RMODEL, "version": "v2",
                                                        "policy": runner_policy("4s")}), 201).json["id"]
            # the candidate is fetched and verified beside v1, which keeps serving
            wait_for(lambda: shadow_rows(ctx, s, dev), timeout=60, msg=f"shadow reports: {r.tail()}")
            eq(r.version(), "v1")
            eq([x for x in statuses(ctx, s, dev, "v2")], [])
            wait_for(lambda: rollout(s, rid)["stage"]["name"] == "full", timeout=120,
                     msg=f"the shadow stage to pass: {rollout(s, rid)['analysis']}")
            r.wait_version("v2")
        finally:
            load.close()
        eq(load.failures, [])
        check(load.versions.get("v1", 0) > 20, load.versions)
        rows = shadow_rows(ctx, s, dev)
        eq([(x[0], x[1]) for x in rows], [("v1", "v2")])  # served v1, ran v2 beside it
        eq(rows[0][2], rows[0][3])                        # every shadow run agreed
        check(int(rows[0][2]) >= 20, rows)
        cache = os.path.join(r.cache, RMODEL)
        check(os.path.isfile(os.path.join(cache, "v2", "model")), os.listdir(cache))
        eq(status(s.admin.get(f"/v1/devices/{dev}"), 200).json["models"][RMODEL]["version"], "v2")


def test_runner_shadow_run_of_a_disagreeing_candidate_rolls_back_unserved(ctx):
    from runners import Runner, running, statuses
    s, signer, tokens = runner_setup(ctx, "flip")
    dev, tok = next(iter(tokens.items()))
    with running(ctx):
        r = Runner(ctx, s, tok, signer.pub)
        r.wait_version("v1")
        load = Load(r)
        try:
            rid = status(s.admin.post("/v1/rollouts", {"model": RMODEL, "version": "v2",
                                                        "policy": runner_policy("1h")}), 201).json["id"]
            wait_for(lambda: rollout(s, rid)["state"] == "rolled_back", timeout=120,
                     msg=f"the rollback: {rollout(s, rid)['analysis']} {r.tail()}")
            # the shadow link goes once the answer has no shadow any more
            link = os.path.join(r.cache, RMODEL, "shadow")
            wait_for(lambda: not os.path.lexists(link), timeout=30, msg="shadow link removed")
        finally:
            load.close()
        eq(load.failures, [])
        eq(set(load.versions), {"v1"})               # no request was ever served by v2
        eq(statuses(ctx, s, dev, "v2"), [])          # nor was v2 ever reported installed
        eq(status(s.admin.get(f"/v1/devices/{dev}"), 200).json["models"][RMODEL]["version"], "v1")
        rows = shadow_rows(ctx, s, dev)
        eq(rows[0][:2], ["v1", "v2"])
        eq(rows[0][3], "0")                          # the flipped scorer never agreed
        breach = [e for e in rollout(s, rid)["events"] if e["type"] == "breach"]
        check(breach and "shadow_agreement 0 breaches >= 95%" in breach[0]["detail"], breach)
        eq(r.version(), "v1")
