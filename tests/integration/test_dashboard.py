"""What the dashboard stands on: GET /v1/whoami, a rollout's analysis
history (filled by the trigger of schema/005), the fleet summary, and the
dashboard's files served from the binary with a strict CSP."""
import os
import re

from fleet import Fleet, Signer, enroll, publish, rollout
from ramp import ROOT, check, eq, status, wait_for

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'")


def token(s, name, role):
    return status(s.admin.post("/v1/tokens", {"name": name, "role": role}), 201).json["token"]


def test_whoami_names_the_token_and_its_role_for_every_role(ctx):
    s = ctx.server()
    eq(status(s.admin.get("/v1/whoami"), 200).json, {"name": "admin", "role": "admin", "device_id": None})
    for role in ("operator", "viewer", "ci", "enroll", "ingest"):
        t = token(s, f"t-{role}", role)
        eq(status(s.admin.get("/v1/whoami", token=t), 200).json,
           {"name": f"t-{role}", "role": role, "device_id": None})
    dev = status(s.admin.post("/v1/devices", {"id": "pi-1", "platform": "rpi-arm64"}), 201).json["token"]
    me = status(s.admin.get("/v1/whoami", token=dev), 200).json
    eq((me["role"], me["device_id"]), ("device", "pi-1"))
    status(s.admin.get("/v1/whoami", token=None), 401)
    status(s.admin.get("/v1/whoami", token="rmp_nope"), 401)


def test_history_keeps_every_evaluation_oldest_first_and_is_bounded(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    tokens = enroll(s, 20)
    pol = {"stages": [{"name": "canary", "size": 0.2, "validation_window": "1h",
                       "metrics": [{"name": "error_rate", "threshold": "< 5%"},
                                   {"name": "inference_latency_p95", "threshold": "< 3x baseline"}]},
                      {"name": "full", "size": 1.0, "validation_window": "1h"}]}
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    fleet = Fleet(s, tokens, "ocr")
    fleet.poll_all()

    def evaluations():
        fleet.report()
        r = status(s.admin.get(f"/v1/rollouts/{rid}/history?metric=error_rate"), 200).json
        return len([p for p in r["items"] if p["arm"] == "canary"]) >= 3 and r
    h = wait_for(evaluations, timeout=40, interval=0.5, msg="three evaluations in history")
    eq(h["metric"], "error_rate")
    items = h["items"]
    eq({p["arm"] for p in items}, {"canary", "baseline"})
    for p in items:
        for k in ("at", "stage", "arm", "value"):
            check(k in p, f"{k} in {p}")
        eq(p["stage"], 0)
    ats = [p["at"] for p in items]
    eq(ats, sorted(ats), "oldest first")
    # the table the API shows holds only the latest row per arm; history keeps them all
    latest = [a for a in rollout(s, rid)["analysis"] if a["metric"] == "error_rate"]
    eq(len(latest), 2)
    check(len(items) > 2)
    p95 = status(s.admin.get(f"/v1/rollouts/{rid}/history?metric=inference_latency_p95"), 200).json["items"]
    check(any(p["arm"] == "canary" and p["value"] == 50.0 for p in p95), p95[-4:])
    # bounded: the newest 2,000 of more rows, and ?limit= takes fewer. The
    # engine appends a row per arm every second while the rollout is active;
    # once the abort is answered no evaluation can write any more (writes are
    # guarded by the rollout's rev), so the rows added below are the newest.
    status(s.admin.post(f"/v1/rollouts/{rid}/abort"), 200)
    ctx.psql(s, f"INSERT INTO rollout_analysis_history (rollout_id, stage, metric, arm, value, samples,"
                f" result, at) SELECT {rid}, 0, 'error_rate', 'canary', g, 1, 'pass',"
                f" now() + g * interval '1 second' FROM generate_series(1, 2500) g")
    big = status(s.admin.get(f"/v1/rollouts/{rid}/history?metric=error_rate"), 200).json["items"]
    eq(len(big), 2000)
    eq(big[-1]["value"], 2500.0)
    eq(len(status(s.admin.get(f"/v1/rollouts/{rid}/history?metric=error_rate&limit=5"), 200).json["items"]), 5)
    # bad input: 400 naming the field, unknown rollout 404, viewers may read, devices may not
    eq(status(s.admin.get(f"/v1/rollouts/{rid}/history"), 400).json["field"], "metric")
    eq(status(s.admin.get(f"/v1/rollouts/{rid}/history?metric=happiness"), 400).json["field"], "metric")
    eq(status(s.admin.get(f"/v1/rollouts/{rid}/history?metric=error_rate&limit=0"), 400).json["field"], "limit")
    eq(status(s.admin.get(f"/v1/rollouts/{rid}/history?metric=error_rate&limit=2001"), 400).json["field"], "limit")
    status(s.admin.get("/v1/rollouts/99999/history?metric=error_rate"), 404)
    status(s.admin.get("/v1/rollouts/abc/history?metric=error_rate"), 404)
    status(s.admin.get(f"/v1/rollouts/{rid}/history?metric=error_rate", token=token(s, "v", "viewer")), 200)
    status(s.admin.get(f"/v1/rollouts/{rid}/history?metric=error_rate", token=tokens["dev-00000"]), 403)
    fleet.close()


def test_history_trigger_records_inserts_and_updates_of_analysis(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    enroll(s, 3)
    pol = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    status(s.admin.post(f"/v1/rollouts/{rid}/pause"), 200)
    base = int(ctx.psql(s, f"SELECT count(*) FROM rollout_analysis_history WHERE rollout_id = {rid}")[0][0])
    ctx.psql(s, f"INSERT INTO rollout_analysis VALUES ({rid}, 0, 'cpu_pct', 'canary', 10, '< 90', NULL, 5, 1,"
                f" 'pass', now())")
    ctx.psql(s, f"UPDATE rollout_analysis SET value = 20 WHERE rollout_id = {rid} AND metric = 'cpu_pct'")
    rows = ctx.psql(s, f"SELECT value FROM rollout_analysis_history WHERE rollout_id = {rid}"
                       f" AND metric = 'cpu_pct' ORDER BY id")
    eq(rows, [["10"], ["20"]])
    eq(int(ctx.psql(s, f"SELECT count(*) FROM rollout_analysis_history WHERE rollout_id = {rid}")[0][0]),
       base + 2)
    items = status(s.admin.get(f"/v1/rollouts/{rid}/history?metric=cpu_pct"), 200).json["items"]
    eq([p["value"] for p in items], [10.0, 20.0])


def test_fleet_summary_counts_devices_by_platform_version_state_and_last_seen(ctx):
    s = ctx.server()
    tokens = enroll(s, 4, platform="rpi-arm64", prefix="pi")
    enroll(s, 2, platform="x86-64", prefix="cloud")
    for i, dev in enumerate(sorted(tokens)[:3]):
        c = s.client(tokens[dev])
        status(c.get("/v1/agent/desired"), 200)
        status(c.post("/v1/agent/status", {"model": "ocr", "version": "v1",
                                          "state": "installed" if i < 2 else "failed"}), 204)

    def summary():
        j = status(s.admin.get("/v1/fleet/summary"), 200).json
        return j["last_seen"]["5m"] == 3 and j
    j = wait_for(summary, timeout=30, msg="last_seen batched")
    eq(j["devices"], 6)
    eq(j["platforms"], {"rpi-arm64": 4, "x86-64": 2})
    eq(sorted((m["version"], m["state"], m["devices"]) for m in j["models"] if m["model"] == "ocr"),
       [("v1", "failed", 1), ("v1", "installed", 2)])
    eq(j["last_seen"]["never"], 3)
    status(s.admin.get("/v1/fleet/summary", token=token(s, "v", "viewer")), 200)
    status(s.admin.get("/v1/fleet/summary", token=token(s, "c", "ci")), 403)


def test_dashboard_files_are_served_from_the_binary_with_csp_and_types(ctx):
    s = ctx.server()
    c = s.client(token=None)
    r = status(c.get("/"), 200)
    eq(r.header("Content-Type"), "text/html; charset=utf-8")
    eq(r.header("Content-Security-Policy"), CSP)
    eq(r.header("X-Content-Type-Options"), "nosniff")
    html = r.body.decode()
    check("<script" in html)
    # no inline script or style: every script and stylesheet comes from /ui/
    for m in re.finditer(r"<script([^>]*)>(.*?)</script>", html, re.S):
        check('src="/ui/' in m.group(1) and m.group(2).strip() == "", m.group(0))
    check("<style" not in html and " style=" not in html)
    for src in re.findall(r'(?:src|href)="(/ui/[^"]+)"', html):
        status(c.get(src), 200)
    types = {"/ui/app.js": "text/javascript; charset=utf-8", "/ui/app.css": "text/css; charset=utf-8",
             "/ui/favicon.svg": "image/svg+xml", "/ui/index.html": "text/html; charset=utf-8"}
    for path, ctype in types.items():
        r = status(c.get(path), 200)
        eq(r.header("Content-Type"), ctype, path)
        eq(r.header("Content-Security-Policy"), CSP, path)
        eq(r.header("X-Content-Type-Options"), "nosniff", path)
        check(len(r.body) > 100, path)
    check(b"sessionStorage" in status(c.get("/ui/app.js"), 200).body)
    check(b".innerHTML" not in status(c.get("/ui/app.js"), 200).body)
    head = status(c.request("HEAD", "/ui/app.js"), 200)
    eq(head.header("Content-Type"), "text/javascript; charset=utf-8")
    eq(status(c.get("/ui/nope.js"), 404).header("Content-Type"), "application/problem+json")
    # a dot segment is refused before any route is looked at (docs/security.md)
    eq(status(c.get("/ui/../main.c"), 400).header("Content-Type"), "application/problem+json")
    status(c.post("/", {}), 405)
    # the API still wants tokens
    status(c.get("/v1/rollouts"), 401)


def test_history_charts_every_metric_the_seed_policy_gates_on(ctx):
    """The dashboard draws a chart per metric in policy_spec; under the seed
    policy (p50 and error rate) both series must fill, p50 included."""
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    tokens = enroll(s, 20)
    with open(os.path.join(ROOT, "policies", "seed.yaml"), "rb") as f:
        status(s.admin.request("PUT", "/v1/policies/seed", raw=f.read(), ctype="application/yaml"), 201)
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": "seed"}), 201).json["id"]
    spec = rollout(s, rid)["policy_spec"]
    gated = [m["name"] for m in spec["stages"][0]["metrics"]]
    eq(sorted(gated), ["error_rate", "inference_latency_p50"])
    fleet = Fleet(s, tokens, "ocr")
    fleet.poll_all()

    def filled():
        fleet.report()
        got = {m: status(s.admin.get(f"/v1/rollouts/{rid}/history?metric={m}"), 200).json["items"]
               for m in gated}
        # an evaluation before the reports arrive has rows without values: wait for values
        return all({"canary", "baseline"} <= {p["arm"] for p in v if p["value"] is not None}
                   for v in got.values()) and got
    got = wait_for(filled, timeout=40, interval=0.5, msg="history for every gated metric")
    fleet.close()
    p50 = [p for p in got["inference_latency_p50"] if p["arm"] == "canary" and p["value"] is not None]
    check(p50 and p50[-1]["value"] == 50.0 and p50[-1]["stage"] == 0, got["inference_latency_p50"][-4:])
    er = [p for p in got["error_rate"] if p["arm"] == "canary" and p["value"] is not None]
    check(er and er[-1]["value"] == 0.0, got["error_rate"][-4:])
