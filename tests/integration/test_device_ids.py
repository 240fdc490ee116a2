"""Device ids: `.` and `..` match [A-Za-z0-9._:-]{1,128} but name "this
folder" and "the folder above" to every client that normalises paths, so
no way of creating a device accepts them; ids that merely contain dots do."""
from ramp import check, eq, status


def _count(ctx, s):
    return int(ctx.psql(s, "SELECT count(*) FROM devices")[0][0])


def test_dot_and_dot_dot_are_refused_as_device_ids_everywhere(ctx):
    s = ctx.server()
    enr = status(s.admin.post("/v1/tokens", {"name": "factory", "role": "enroll"}), 201).json["token"]
    ing = status(s.admin.post("/v1/tokens", {"name": "gw", "role": "ingest"}), 201).json["token"]
    for bad in (".", ".."):
        r = status(s.admin.post("/v1/devices", {"id": bad, "platform": "x"}), 422, bad)
        eq(r.json["field"], "id")
        check("not" in r.json["detail"] and '".."' in r.json["detail"], r.json)
        r = s.admin.post("/v1/devices", [{"id": "ok-1", "platform": "x"}, {"id": bad, "platform": "x"}])
        check(400 <= r.status < 500, f"bulk {bad}: {r}")
        check("id" in (r.json.get("field") or ""), r.json)
        r = status(s.client(token=enr).post("/v1/enroll", {"id": bad, "platform": "x"}), 422)
        eq(r.json["field"], "id")
        # hawkBit DDI registers unknown controllers a gateway polls for
        for seg in (bad, bad.replace(".", "%2E")):
            r = s.admin.request("GET", f"/DEFAULT/controller/v1/{seg}",
                                headers={"Authorization": f"GatewayToken {s.admin.token}"},
                                token=None)
            check(400 <= r.status < 500, f"DDI {seg}: {r}")
        r = status(s.client(token=ing).post("/v1/telemetry", {"device_id": bad, "model": "m:1"}), 400)
        check("device_id" in r.body.decode(), r)
        eq(_count(ctx, s), 0, bad)
    # ids with dots in them are fine
    for good in ("...", ".a", "a..b", "a.", "pi.wh-1:x_2"):
        status(s.admin.post("/v1/devices", {"id": good, "platform": "x"}), 201, good)
        status(s.admin.get(f"/v1/devices/{good}"), 200, good)
    eq(_count(ctx, s), 5)
