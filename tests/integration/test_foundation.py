"""rampd foundation: tokens and roles, devices, selectors, cohorts, audit,
bad input, keep-alive, crash recovery, database outages."""
import http.client
import json
import os
import signal
import subprocess
import time

from ramp import Client, check, eq, status, wait_for, _as_owner


def mk_token(s, name, role):
    r = status(s.admin.post("/v1/tokens", {"name": name, "role": role}), 201)
    eq(r.json["role"], role)
    check(r.json["token"].startswith("rmp_") and len(r.json["token"]) >= 30)
    return r.json["token"]


def device_count(ctx, s):
    return int(ctx.psql(s, "SELECT count(*) FROM devices")[0][0])


def test_health_and_ready_need_no_token(ctx):
    s = ctx.server()
    c = s.client(token=None)
    status(c.get("/healthz"), 200)
    status(c.get("/readyz"), 200)
    m = status(c.get("/metrics"), 200)
    check(b"ramp_db_pool_connections" in m.body)
    status(c.get("/v1/devices"), 401)


def test_metrics_count_requests_by_route_and_status(ctx):
    """The route table http_start() was handed names the counters."""
    s = ctx.server()
    status(s.admin.get("/v1/devices"), 200)
    status(s.client(token=None).get("/v1/devices"), 401)
    text = status(s.client(token=None).get("/metrics"), 200).body.decode()
    check('ramp_http_requests_total{method="GET",route="/v1/devices",code="200"} ' in text, text)
    check('ramp_http_requests_total{method="GET",route="/v1/devices",code="401"} ' in text, text)
    check('ramp_http_request_duration_seconds_bucket{le="+Inf"} ' in text, text)
    check("ramp_http_connections_open " in text and "ramp_tls_enabled 0" in text, text)
    check('ramp_rate_limited_total{role="device"} 0' in text, text)


def test_roles_against_route_groups(ctx):
    s = ctx.server()
    toks = {r: mk_token(s, f"t-{r}", r) for r in ["operator", "viewer", "ci", "enroll", "ingest"]}
    toks["admin"] = s.admin_token
    dev = status(s.admin.post("/v1/devices", {"id": "d-1", "platform": "rpi-arm64"}), 201)
    toks["device"] = dev.json["token"]
    # (method, path, body, roles allowed)
    cases = [
        ("GET", "/v1/tokens", None, {"admin"}),
        ("POST", "/v1/tokens", {"name": "x", "role": "viewer"}, {"admin"}),
        ("GET", "/v1/devices", None, {"admin", "operator", "viewer"}),
        ("GET", "/v1/devices/d-1", None, {"admin", "operator", "viewer"}),
        ("PATCH", "/v1/devices/d-1", {"labels": {"a": "b"}}, {"admin", "operator"}),
        ("PUT", "/v1/cohorts/c1", {"selector": "a=b"}, {"admin", "operator"}),
        ("GET", "/v1/cohorts", None, {"admin", "operator", "viewer"}),
        ("GET", "/v1/audit", None, {"admin"}),
        ("GET", "/v1/audit/verify", None, {"admin"}),
    ]
    for method, path, body, allowed in cases:
        for role, tok in toks.items():
            r = s.admin.request(method, path, body=body, token=tok)
            if role in allowed:
                check(r.status < 300, f"{role} {method} {path}: {r}")
                if method == "POST" and path == "/v1/tokens":
                    status(s.admin.delete("/v1/tokens/x"), 204)
            else:
                eq(r.status, 403, f"{role} {method} {path}: {r}")
                eq(r.header("Content-Type"), "application/problem+json")
    # unknown token and missing token
    status(s.admin.get("/v1/devices", token="rmp_nope"), 401)
    status(s.admin.get("/v1/devices", token=None), 401)


def test_token_revocation_is_immediate(ctx):
    s = ctx.server()
    tok = mk_token(s, "ops", "operator")
    status(s.admin.get("/v1/devices", token=tok), 200)
    r = status(s.admin.get("/v1/tokens"), 200)
    names = [t["name"] for t in r.json["items"]]
    check("ops" in names and "admin" in names)
    check(all("token" not in t for t in r.json["items"]), "tokens never listed")
    stored = ctx.psql(s, "SELECT encode(hash, 'hex') FROM tokens WHERE name = 'ops'")[0][0]
    check(tok not in stored and len(stored) == 64, "only the hash is stored")
    status(s.admin.post("/v1/tokens", {"name": "ops", "role": "viewer"}), 409)
    status(s.admin.delete("/v1/tokens/ops"), 204)
    status(s.admin.get("/v1/devices", token=tok), 401)
    status(s.admin.delete("/v1/tokens/ops"), 404)
    status(s.admin.post("/v1/tokens", {"name": "Bad Name", "role": "viewer"}), 422)
    status(s.admin.post("/v1/tokens", {"name": "x", "role": "root"}), 422)
    status(s.admin.post("/v1/tokens", {"name": "dev", "role": "device"}), 422)


def test_device_register_get_patch_delete(ctx):
    s = ctx.server()
    r = status(s.admin.post("/v1/devices", {"id": "pi-wh-1", "platform": "rpi-arm64",
                                             "labels": {"site": "wh-3"}}), 201)
    eq(r.json["id"], "pi-wh-1")
    tok = r.json["token"]
    status(s.admin.post("/v1/devices", {"id": "pi-wh-1", "platform": "rpi-arm64"}), 409)
    d = status(s.admin.get("/v1/devices/pi-wh-1"), 200).json
    eq(d["platform"], "rpi-arm64")
    eq(d["labels"], {"site": "wh-3"})
    for k in ("last_seen", "agent_version", "models"):
        check(k in d, k)
    d = status(s.admin.patch("/v1/devices/pi-wh-1", {"labels": {"ring": "1", "site": None},
                                                      "pins": {"invoice-ocr": "2026.01"}}), 200).json
    eq(d["labels"], {"ring": "1"})
    eq(d["pins"], {"invoice-ocr": "2026.01"})
    status(s.admin.patch("/v1/devices/pi-wh-1", {"color": "red"}), 422)
    status(s.admin.patch("/v1/devices/nope", {"labels": {"a": "b"}}), 404)
    status(s.admin.get("/v1/devices/nope"), 404)
    # the device token works until the device is deleted
    status(s.admin.delete("/v1/devices/pi-wh-1"), 204)
    status(s.admin.get("/v1/devices/pi-wh-1"), 404)
    status(s.admin.delete("/v1/devices/pi-wh-1"), 404)
    eq(ctx.psql(s, "SELECT count(*) FROM tokens WHERE device_id = 'pi-wh-1'")[0][0], "0")
    check(tok)


def test_bulk_registration_is_all_or_nothing(ctx):
    s = ctx.server()
    devs = [{"id": f"b-{i:04d}", "platform": "rpi-arm64", "labels": {"n": str(i)}} for i in range(500)]
    r = status(s.admin.post("/v1/devices", devs), 201)
    eq(r.json["created"], 500)
    eq(len(r.json["devices"]), 500)
    eq(len({d["token"] for d in r.json["devices"]}), 500)
    # one duplicate (already stored) -> nothing of the batch stored
    batch = [{"id": f"c-{i}", "platform": "x"} for i in range(10)] + [{"id": "b-0007", "platform": "x"}]
    r = status(s.admin.post("/v1/devices", batch), 409)
    check("b-0007" in r.json["detail"], r)
    eq(device_count(ctx, s), 500)
    # a duplicate inside the request
    status(s.admin.post("/v1/devices", [{"id": "z", "platform": "x"}, {"id": "z", "platform": "x"}]), 409)
    # one invalid item -> 422 naming it, nothing stored
    r = status(s.admin.post("/v1/devices", [{"id": "ok-1", "platform": "x"}, {"id": "bad id", "platform": "x"}]), 422)
    eq(r.json["field"], "[1].id")
    status(s.admin.post("/v1/devices", []), 400)
    too_many = [{"id": f"m-{i}", "platform": "x"} for i in range(10001)]
    r = s.admin.post("/v1/devices", too_many)
    check(r.status in (400, 413), r)
    eq(device_count(ctx, s), 500)


def test_enroll_token_registers_one_device(ctx):
    s = ctx.server()
    tok = mk_token(s, "factory", "enroll")
    c = s.client(token=tok)
    r = status(c.post("/v1/enroll", {"id": "kiosk-1", "platform": "cloud-x86-onnx"}), 201)
    check(r.json["token"])
    status(c.post("/v1/enroll", {"id": "kiosk-1", "platform": "cloud-x86-onnx"}), 409)
    status(c.post("/v1/enroll", [{"id": "kiosk-2", "platform": "x"}]), 422)
    status(c.get("/v1/devices"), 403)
    status(c.post("/v1/devices", {"id": "kiosk-3", "platform": "x"}), 403)
    eq(device_count(ctx, s), 1)


def test_selectors_and_pagination(ctx):
    s = ctx.server()
    devs = []
    for i in range(300):
        devs.append({"id": f"dev-{i:03d}", "platform": "rpi-arm64" if i % 3 else "cloud-x86-onnx",
                     "labels": {"site": f"wh-{i % 5}", "age_days": str(i * 2),
                                **({"hat": "hailo"} if i % 2 == 0 else {})}})
    status(s.admin.post("/v1/devices", devs), 201)

    def ids(selector, limit=1000):
        out, after = [], None
        while True:
            q = f"/v1/devices?limit={limit}"
            if selector:
                q += "&selector=" + selector.replace(" ", "%20").replace(",", "%2C").replace("=", "%3D").replace("!", "%21").replace("(", "%28").replace(")", "%29").replace(">", "%3E").replace("<", "%3C")
            if after:
                q += "&after=" + after
            r = status(s.admin.get(q), 200).json
            out += [d["id"] for d in r["items"]]
            check(len(r["items"]) <= limit)
            after = r["next"]
            if not after:
                return out

    def expect(pred):
        return [d["id"] for d in devs if pred(d)]

    lab = lambda d, k: d["labels"].get(k)  # noqa: E731
    eq(ids("", limit=7), [d["id"] for d in devs])
    eq(ids("site=wh-3"), expect(lambda d: lab(d, "site") == "wh-3"))
    eq(ids("site==wh-3"), expect(lambda d: lab(d, "site") == "wh-3"))
    eq(ids("site!=wh-3", limit=50), expect(lambda d: lab(d, "site") != "wh-3"))
    eq(ids("site in (wh-1,wh-2)"), expect(lambda d: lab(d, "site") in ("wh-1", "wh-2")))
    eq(ids("site notin (wh-1,wh-2)"), expect(lambda d: lab(d, "site") not in ("wh-1", "wh-2")))
    eq(ids("hat"), expect(lambda d: lab(d, "hat") is not None))
    eq(ids("!hat"), expect(lambda d: lab(d, "hat") is None))
    eq(ids("age_days>=365"), expect(lambda d: int(lab(d, "age_days")) >= 365))
    eq(ids("age_days>500,age_days<520"), expect(lambda d: 500 < int(lab(d, "age_days")) < 520))
    eq(ids("age_days<=10"), expect(lambda d: int(lab(d, "age_days")) <= 10))
    eq(ids("platform=cloud-x86-onnx,site=wh-0"),
       expect(lambda d: d["platform"] == "cloud-x86-onnx" and lab(d, "site") == "wh-0"))
    r = status(s.admin.get("/v1/devices?selector=site%20in%20(a"), 400)
    eq(r.json["field"], "selector")
    status(s.admin.get("/v1/devices?limit=0"), 400)
    status(s.admin.get("/v1/devices?limit=1001"), 400)
    status(s.admin.get("/v1/devices?limit=abc"), 400)


def test_cohorts_count_their_devices(ctx):
    s = ctx.server()
    devs = [{"id": f"c-{i}", "platform": "rpi-arm64", "labels": {"site": "wh-3" if i < 40 else "wh-1",
                                                                  "age_days": str(300 + i * 3)}}
            for i in range(100)]
    status(s.admin.post("/v1/devices", devs), 201)
    status(s.admin.put("/v1/cohorts/old-wh3", {"selector": "site=wh-3,age_days>=365"}), 201)
    c = status(s.admin.get("/v1/cohorts/old-wh3"), 200).json
    expected = sum(1 for i in range(100) if i < 40 and 300 + i * 3 >= 365)
    eq(c["devices"], expected)
    eq(c["selector"], "site=wh-3,age_days>=365")
    got = status(s.admin.get("/v1/cohorts/old-wh3/devices?limit=1000"), 200).json["items"]
    eq(len(got), expected)
    status(s.admin.put("/v1/cohorts/old-wh3", {"selector": "site=wh-1"}), 200)
    eq(status(s.admin.get("/v1/cohorts/old-wh3"), 200).json["devices"], 60)
    eq([x["name"] for x in status(s.admin.get("/v1/cohorts"), 200).json["items"]], ["old-wh3"])
    status(s.admin.put("/v1/cohorts/bad", {"selector": "site in ("}), 422)
    status(s.admin.put("/v1/cohorts/Bad_Name", {"selector": "a=b"}), 422)
    status(s.admin.put("/v1/cohorts/x", {"selector": 5}), 422)
    status(s.admin.delete("/v1/cohorts/old-wh3"), 204)
    status(s.admin.get("/v1/cohorts/old-wh3"), 404)
    eq(ctx.psql(s, "SELECT count(*) FROM cohorts")[0][0], "0")


def test_audit_chain_verifies_and_detects_tampering(ctx):
    s = ctx.server()
    mk_token(s, "ops", "operator")
    status(s.admin.post("/v1/devices", {"id": "a1", "platform": "x"}), 201)
    status(s.admin.put("/v1/cohorts/all", {"selector": ""}), 201)
    status(s.admin.delete("/v1/devices/a1"), 204)
    items = status(s.admin.get("/v1/audit"), 200).json["items"]
    eq([i["action"] for i in items], ["token.create", "device.register", "cohort.put", "device.delete"])
    eq(items[0]["actor"], "admin")
    for prev, cur in zip(items, items[1:]):
        eq(cur["prev_hash"], prev["hash"])
    page = status(s.admin.get("/v1/audit?limit=2"), 200).json
    eq(len(page["items"]), 2)
    page2 = status(s.admin.get(f"/v1/audit?after={page['next']}"), 200).json
    eq([i["seq"] for i in page2["items"]], [3, 4])
    eq(status(s.admin.get("/v1/audit/verify"), 200).json, {"ok": True, "entries": 4})
    ctx.psql(s, "UPDATE audit SET detail = '{\"count\": 99}' WHERE seq = 2")
    v = status(s.admin.get("/v1/audit/verify"), 200).json
    eq(v["ok"], False)
    eq(v["broken_at"], 2)


def test_bad_input_is_4xx_and_stores_nothing(ctx):
    s = ctx.server()
    c = s.admin
    bodies = [b"{", b"[1,2", b"nul", b"\xff\xfe", b'{"id": "a", "id": "b", "platform": "x"}',
              b'"just a string"', b"42", b"null", b'{"id": 5, "platform": "x"}',
              b'{"id": "a", "platform": ["x"]}', b'{"id": "a", "platform": "x", "labels": "x"}',
              b'{"id": "a", "platform": "x", "labels": {"k": {"n": 1}}}',
              b'{"id": "", "platform": "x"}', b'{"id": "' + b"a" * 129 + b'", "platform": "x"}',
              b'{"platform": "x"}', b'{"id": "a"}', b'[{"id": "a", "platform": "x"}, 7]',
              b'{"id": "a", "platform": "x", "labels": {"bad key!": "v"}}']
    for b in bodies:
        r = c.request("POST", "/v1/devices", raw=b)
        check(400 <= r.status < 500, f"{b!r}: {r}")
        eq(r.header("Content-Type"), "application/problem+json", repr(b))
        check("detail" in r.json and r.json["status"] == r.status)
    eq(device_count(ctx, s), 0)
    # wrong content type
    r = c.request("POST", "/v1/devices", raw=b'{"id": "a", "platform": "x"}', ctype="text/plain")
    status(r, 415)
    # over 1 MiB
    big = b'{"id": "a", "platform": "x", "labels": {"k": "' + b"v" * (1024 * 1024 + 10) + b'"}}'
    status(c.request("POST", "/v1/devices", raw=big), 413)
    eq(device_count(ctx, s), 0)
    status(c.get("/v1/nothing-here"), 404)
    status(c.request("PUT", "/v1/devices"), 405)


def test_keep_alive_holds_across_requests(ctx):
    s = ctx.server()
    conn = http.client.HTTPConnection("127.0.0.1", s.port)
    hdr = {"Authorization": f"Bearer {s.admin_token}"}
    conn.request("GET", "/v1/devices", headers=hdr)
    r = conn.getresponse()
    r.read()
    sock = conn.sock
    for _ in range(20):
        conn.request("GET", "/v1/devices", headers=hdr)
        r = conn.getresponse()
        r.read()
        eq(r.status, 200)
        check(r.getheader("Connection", "").lower() != "close")
        check(conn.sock is sock, "connection was reopened")
    conn.request("POST", "/v1/devices", body=json.dumps({"id": "k", "platform": "x"}),
                 headers={**hdr, "Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    eq(r.status, 201)
    check(conn.sock is sock, "connection was reopened after a POST")
    conn.close()


def test_restart_after_kill9_keeps_data(ctx):
    s = ctx.server(embedded=True)
    status(s.admin.post("/v1/devices", [{"id": f"k{i}", "platform": "x"} for i in range(20)]), 201)
    s.kill9()
    s.start()
    r = status(s.admin.get("/v1/devices"), 200).json
    eq(len(r["items"]), 20)
    status(s.admin.post("/v1/devices", {"id": "after", "platform": "x"}), 201)
    # a clean stop also stops the embedded postgres
    eq(s.stop(), 0)
    check(not os.path.exists(os.path.join(s.data_dir, "pg", "postmaster.pid")))
    s.start()
    eq(len(status(s.admin.get("/v1/devices"), 200).json["items"]), 21)


def test_generated_admin_token_file(ctx):
    s = ctx.server(embedded=True, start=False)
    s.extra_env["RAMP_ADMIN_TOKEN"] = ""
    s.start()
    path = os.path.join(s.data_dir, "admin.token")
    eq(os.stat(path).st_mode & 0o777, 0o600)
    tok = open(path).read().strip()
    status(s.client(token=tok).get("/v1/devices"), 200)
    s.admin.token = tok
    s.restart()
    status(s.client(token=tok).get("/v1/devices"), 200)


def test_database_outage_gives_503_then_recovers(ctx):
    s = ctx.server(embedded=True)
    status(s.admin.post("/v1/devices", {"id": "o1", "platform": "x"}), 201)
    pgdir = os.path.join(s.data_dir, "pg")
    pg_ctl = os.path.join(ctx.cluster.bindir, "pg_ctl")
    subprocess.run([pg_ctl, "stop", "-m", "fast", "-w", "-D", pgdir], preexec_fn=_as_owner(),
                   check=True, capture_output=True)
    tok = "rmp_uncached"  # an uncached token must be looked up: 503, not 401
    r = s.admin.get("/v1/devices")
    eq(r.status, 503)
    check(r.header("Retry-After"))
    eq(s.admin.get("/v1/devices", token=tok).status, 503)
    eq(s.admin.get("/readyz", token=None).status, 503)
    eq(s.admin.get("/healthz", token=None).status, 200)
    subprocess.run([pg_ctl, "start", "-w", "-D", pgdir, "-l", os.path.join(pgdir, "postgresql.log")],
                   preexec_fn=_as_owner(), check=True, capture_output=True)
    wait_for(lambda: s.admin.get("/readyz", token=None).status == 200, msg="ready again")
    r = wait_for(lambda: s.admin.get("/v1/devices").status == 200, msg="devices again")
    eq(len(status(s.admin.get("/v1/devices"), 200).json["items"]), 1)


def test_two_rampds_migrating_one_empty_database_apply_each_file_once(ctx):
    import uuid
    from ramp import Server
    name = "t_" + uuid.uuid4().hex[:12]
    ctx.cluster.create_db(name)  # empty: not from the migrated template
    ctx.databases.append(name)
    a = Server(ctx, name)
    b = Server(ctx, name, admin_token=a.admin_token)
    ctx.servers += [a, b]
    a.start(wait_ready=False)
    b.start(wait_ready=False)
    a.wait_ready()
    b.wait_ready()
    rows = ctx.cluster.psql(name, "SELECT name, count(*) FROM schema_migrations GROUP BY name ORDER BY name")
    files = sorted(f[:-4] for f in os.listdir(os.path.join(os.path.dirname(__file__), "..", "..", "schema"))
                   if f.endswith(".sql"))
    eq([r[0] for r in rows], files)
    check(all(r[1] == "1" for r in rows), rows)
    status(a.admin.get("/v1/devices"), 200)
    status(b.admin.get("/v1/devices"), 200)


def test_token_last_use_is_recorded(ctx):
    s = ctx.server()
    tok = mk_token(s, "ci-bot", "ci")
    items = status(s.admin.get("/v1/tokens"), 200).json["items"]
    eq([t["last_used"] for t in items if t["name"] == "ci-bot"], [None])
    status(s.admin.get("/v1/policies", token=tok), 200)

    def used():
        items = status(s.admin.get("/v1/tokens"), 200).json["items"]
        return [t["last_used"] for t in items if t["name"] == "ci-bot"][0]
    wait_for(used, timeout=10, msg="last_used written")
