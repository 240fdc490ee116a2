"""The credentials lifecycle: tokens that expire, device tokens rotated
with a grace period the operator chooses, and signing keys rotated (add
the new key, re-sign, revoke the old) with rollouts of manifests that only
the revoked key signed refused."""
import threading
import time

from fleet import Signer, manifest_text, publish
from ramp import Client, check, eq, status, wait_for


def test_token_stops_working_when_it_expires(ctx):
    s = ctx.server()
    r = status(s.admin.post("/v1/tokens", {"name": "short", "role": "viewer", "expires_in": "2s"}), 201)
    c = Client(s.port, r.json["token"])
    status(c.get("/v1/devices"), 200)  # also puts it in the lookup cache
    item = [t for t in status(s.admin.get("/v1/tokens"), 200).json["items"] if t["name"] == "short"][0]
    check(item["expires_at"] is not None, item)
    r = wait_for(lambda: c.get("/v1/devices").status == 401 and c.get("/v1/devices"),
                 timeout=20, msg="expired token refused")
    check("expired" in r.json["detail"], r.json["detail"])
    r = status(s.admin.post("/v1/tokens", {"name": "never", "role": "viewer", "expires_in": "soon"}), 422)
    eq(r.json["field"], "expires_in")


def test_device_token_rotation_keeps_the_old_token_for_the_grace_period(ctx):
    s = ctx.server()
    t1 = status(s.admin.post("/v1/devices", {"id": "pi-1", "platform": "rpi"}), 201).json["token"]
    c1 = Client(s.port, t1)
    status(c1.get("/v1/agent/desired"), 200)
    r = status(s.admin.post("/v1/devices/pi-1/token", {"grace": "1h"}), 201)
    eq(r.json["id"], "pi-1")
    eq(r.json["grace_s"], 3600)
    check(r.json["previous_valid_until"] is not None, r.json)
    t2 = r.json["token"]
    check(t2 != t1, "a new token")
    # both work during the grace period; the new one at once
    status(Client(s.port, t2).get("/v1/agent/desired"), 200)
    status(c1.get("/v1/agent/desired"), 200)
    # a rotation with no grace ends every older token at once
    r = status(s.admin.post("/v1/devices/pi-1/token"), 201)
    eq(r.json["previous_valid_until"], None)
    t3 = r.json["token"]
    status(c1.get("/v1/agent/desired"), 401)
    status(Client(s.port, t2).get("/v1/agent/desired"), 401)
    r = status(Client(s.port, t3).get("/v1/agent/desired"), 200)
    eq(r.json["device_id"], "pi-1")
    # the device is still one actor whichever token it uses
    status(Client(s.port, t3).post("/v1/agent/status", {"model": "m", "version": "v", "state": "installed"}), 204)
    audit = status(s.admin.get("/v1/audit?limit=1000"), 200).json["items"]
    eq([e["detail"]["grace_s"] for e in audit if e["action"] == "device.token.rotate"], [3600, 0])
    eq(ctx.psql(s, "SELECT name FROM tokens WHERE device_id = 'pi-1' ORDER BY name"), [["device:pi-1:3"]])


def test_rotated_token_stops_when_its_grace_ends(ctx):
    s = ctx.server()
    t1 = status(s.admin.post("/v1/devices", {"id": "pi-1", "platform": "rpi"}), 201).json["token"]
    c1 = Client(s.port, t1)
    status(c1.get("/v1/agent/desired"), 200)
    t2 = status(s.admin.post("/v1/devices/pi-1/token", {"grace": 2}), 201).json["token"]
    # the snapshot that answers polls knows when the old token expires
    wait_for(lambda: c1.get("/v1/agent/desired").status == 401, timeout=20, msg="old token expired")
    status(Client(s.port, t2).get("/v1/agent/desired"), 200)


def test_token_rotation_rejects_bad_input_and_storing_nothing(ctx):
    s = ctx.server()
    status(s.admin.post("/v1/devices", {"id": "pi-1", "platform": "rpi"}), 201)
    for body, field in (({"grace": "soon"}, "grace"), ({"grace": -1}, "grace"),
                        ({"grace": "90d"}, "grace"), ({"grace": "1h", "x": 1}, None)):
        r = status(s.admin.post("/v1/devices/pi-1/token", body), 422)
        eq(r.json.get("field"), field, str(body))
    status(s.admin.post("/v1/devices/pi-1/token", raw=b"{", ctype="application/json"), 400)
    status(s.admin.post("/v1/devices/nobody/token", {}), 404)
    eq(ctx.psql(s, "SELECT count(*) FROM tokens WHERE device_id = 'pi-1'"), [["1"]])
    tok = status(s.admin.post("/v1/tokens", {"name": "v", "role": "viewer"}), 201).json["token"]
    status(s.admin.post("/v1/devices/pi-1/token", {}, token=tok), 403)
    # deleting the device still deletes all of its tokens
    status(s.admin.post("/v1/devices/pi-1/token", {"grace": "1h"}), 201)
    status(s.admin.delete("/v1/devices/pi-1"), 204)
    eq(ctx.psql(s, "SELECT count(*) FROM tokens WHERE device_id = 'pi-1'"), [["0"]])


def test_existing_device_tokens_get_numbered_names_by_the_migration(ctx):
    s = ctx.server()
    status(s.admin.post("/v1/devices", {"id": "pi-9", "platform": "rpi"}), 201)
    eq(ctx.psql(s, "SELECT name FROM tokens WHERE device_id = 'pi-9'"), [["device:pi-9:1"]])
    # a name of the old form is renamed by 007_credentials
    sql = open(__file__.rsplit("/tests/", 1)[0] + "/schema/007_credentials.sql").read()
    ctx.psql(s, "UPDATE tokens SET name = 'device:pi-9' WHERE device_id = 'pi-9'")
    ctx.psql(s, sql.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS"))
    eq(ctx.psql(s, "SELECT name FROM tokens WHERE device_id = 'pi-9'"), [["device:pi-9:1"]])


def policy():
    return {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}


def test_signing_key_rotation_refuses_rollouts_signed_only_by_the_revoked_key(ctx):
    s = ctx.server()
    old = Signer(ctx, s, key_id="ci-2026")
    dev = status(s.admin.post("/v1/devices", {"id": "pi-1", "platform": "rpi-arm64"}), 201).json["token"]
    publish(s, old, "ocr", "v1", stable=True)
    publish(s, old, "ocr", "v2")
    publish(s, old, "ocr", "v3")
    # 1. the new key; 2. re-sign what is still in use: the same bytes, 200
    new = Signer(ctx, s, key_id="ci-2027")
    for v in ("v1", "v2"):
        text = manifest_text("ocr", v, ("rpi-arm64",))
        r = status(s.admin.post("/v1/manifests", {"manifest": text, "signature": new.sign(text),
                                                  "key_id": "ci-2027"}), 200)
        eq(r.json["key_id"], "ci-2027")
    # 3. revoke the old key
    status(s.admin.delete("/v1/keys/ci-2026"), 204)
    text = manifest_text("ocr", "v4", ("rpi-arm64",))
    r = status(s.admin.post("/v1/manifests", {"manifest": text, "signature": old.sign(text),
                                              "key_id": "ci-2026"}), 422)
    eq(r.json["field"], "key_id")
    # v3 was signed only by the revoked key: no rollout may start from it
    r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v3", "policy": policy()}), 422)
    check("revoked" in r.json["detail"], r.json["detail"])
    status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": policy()}), 201)
    # devices are handed the new key's signature

    def answer():
        m = status(Client(s.port, dev).get("/v1/agent/desired"), 200).json["models"]
        return m and m[0]["version"] == "v2" and m[0]
    m = wait_for(answer, timeout=20, msg="the rollout's version")
    eq(m["key_id"], "ci-2027")
    eq(m["version"], "v2")


# --- revocation takes effect before the 2xx (issue 16) ---

NO_LIMIT = {"RAMP_RATE_DEVICE": "off", "RAMP_RATE_VIEWER": "off"}  # tight loops are the point


def report(dev):
    return {"device_id": dev, "model": "ocr:v1", "latency_ms": 10, "timestamp": time.time()}


def rows_of(ctx, s, dev):
    return int(ctx.psql(s, f"SELECT count(*) FROM telemetry WHERE device_id = '{dev}'")[0][0])


class Hammer:
    """Sends one request after another from its own thread, on its own
    keep-alive connection, until stopped; keeps (sent, answered, status)
    on one monotonic clock."""

    def __init__(self, port, token, method, path, body=None):
        self.c = Client(port, token)
        self.method, self.path, self.body = method, path, body
        self.log = []
        self.stop_at = None
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while self.stop_at is None or time.monotonic() < self.stop_at:
            sent = time.monotonic()
            try:
                st = self.c.request(self.method, self.path, self.body).status
            except OSError:
                st = 0
                self.c.close()
            self.log.append((sent, time.monotonic(), st))

    def wait_for(self, st, n=1):
        wait_for(lambda: sum(1 for x in self.log if x[2] == st) >= n, timeout=30,
                 msg=f"{n} answers {st} ({self.log[-3:]})")

    def finish(self, more_s=0.5):
        """Goes on a little past now, then stops and returns the log."""
        self.stop_at = time.monotonic() + more_s
        self.t.join(60)
        self.c.close()
        return self.log


def after(log, t):
    """Statuses of the requests sent after t."""
    return [st for sent, _, st in log if sent > t]


def test_a_deleted_devices_token_is_refused_in_the_very_next_request(ctx):
    s = ctx.server(env=NO_LIMIT)
    for i in range(10):
        dev = f"pi-{i}"
        tok = status(s.admin.post("/v1/devices", {"id": dev, "platform": "rpi"}), 201).json["token"]
        c = Client(s.port, tok)
        status(c.get("/v1/agent/desired"), 200)  # in the snapshot, which answers device tokens
        status(c.post("/v1/telemetry", report(dev)), 202)
        status(s.admin.delete(f"/v1/devices/{dev}"), 204)
        status(c.post("/v1/telemetry", report(dev)), 401)
        status(c.get("/v1/agent/desired"), 401)
        status(c.post("/v1/agent/status", {"model": "ocr", "version": "v1", "state": "installed"}), 401)
        eq(rows_of(ctx, s, dev), 1)
        c.close()
    # the same id registered again: its new token works at once
    tok = status(s.admin.post("/v1/devices", {"id": "pi-0", "platform": "rpi"}), 201).json["token"]
    c = Client(s.port, tok)
    status(c.post("/v1/telemetry", report("pi-0")), 202)
    status(c.get("/v1/agent/desired"), 200)
    eq(rows_of(ctx, s, "pi-0"), 2)
    c.close()


def _delete_while_reporting(ctx, s, dev, token, refused, allowed):
    """dev reports in a tight loop with token while it is deleted: every
    request sent after the 204 is refused, no row is stored after it, and
    every stored row was answered 202."""
    h = Hammer(s.port, token, "POST", "/v1/telemetry", report(dev))
    h.wait_for(202, 20)
    status(s.admin.delete(f"/v1/devices/{dev}"), 204)
    answered = time.monotonic()
    stored = rows_of(ctx, s, dev)
    h.wait_for(refused, 20)
    log = h.finish()
    late = after(log, answered)
    check(late and set(late) == {refused}, f"sent after the 204: {sorted(set(late))}")
    eq(rows_of(ctx, s, dev), stored, "nothing stored after the delete was answered")
    eq(stored, sum(1 for x in log if x[2] == 202), "every stored row was answered 202")
    check(set(st for _, _, st in log) <= allowed, sorted(set(st for _, _, st in log)))


def test_a_device_deleted_while_it_reports_in_a_tight_loop_stores_nothing_after(ctx):
    s = ctx.server(env=NO_LIMIT)
    for i in range(5):
        dev = f"pi-{i}"
        tok = status(s.admin.post("/v1/devices", {"id": dev, "platform": "rpi"}), 201).json["token"]
        _delete_while_reporting(ctx, s, dev, tok, 401, {202, 401})


def test_a_device_deleted_while_a_gateway_reports_for_it_stores_nothing_after(ctx):
    s = ctx.server(env=NO_LIMIT)
    gw = status(s.admin.post("/v1/tokens", {"name": "gw", "role": "ingest"}), 201).json["token"]
    for i in range(5):
        dev = f"pi-{i}"
        status(s.admin.post("/v1/devices", {"id": dev, "platform": "rpi"}), 201)
        # in flight across the delete: 400 (unknown by then) or 503 (refused at the writer)
        _delete_while_reporting(ctx, s, dev, gw, 400, {202, 400, 503})


def test_a_token_revoked_while_it_is_used_in_a_tight_loop_is_refused_once_answered(ctx):
    s = ctx.server(env=NO_LIMIT)
    status(s.admin.post("/v1/devices", {"id": "pi-1", "platform": "rpi"}), 201)
    for i in range(5):
        tok = status(s.admin.post("/v1/tokens", {"name": f"gw-{i}", "role": "ingest"}), 201).json["token"]
        rd = status(s.admin.post("/v1/tokens", {"name": f"ro-{i}", "role": "viewer"}), 201).json["token"]
        before = rows_of(ctx, s, "pi-1")
        hs = [Hammer(s.port, tok, "POST", "/v1/telemetry", report("pi-1")),
              Hammer(s.port, rd, "GET", "/v1/devices")]
        hs[0].wait_for(202, 20)
        hs[1].wait_for(200, 20)
        status(s.admin.delete(f"/v1/tokens/gw-{i}"), 204)
        status(s.admin.delete(f"/v1/tokens/ro-{i}"), 204)
        answered = time.monotonic()
        stored = rows_of(ctx, s, "pi-1")
        for h in hs:
            h.wait_for(401, 20)
        logs = [h.finish() for h in hs]
        for log in logs:
            late = after(log, answered)
            check(late and set(late) == {401}, f"sent after the 204: {sorted(set(late))}")
        eq(rows_of(ctx, s, "pi-1"), stored, "nothing stored after the revocation was answered")
        eq(stored - before, sum(1 for x in logs[0] if x[2] == 202), "every stored row was answered 202")


def test_a_device_token_rotated_while_it_is_used_is_refused_once_answered(ctx):
    s = ctx.server(env=NO_LIMIT)
    for i in range(5):
        dev = f"pi-{i}"
        tok = status(s.admin.post("/v1/devices", {"id": dev, "platform": "rpi"}), 201).json["token"]
        h = Hammer(s.port, tok, "GET", "/v1/agent/desired")
        h.wait_for(200, 20)
        new = status(s.admin.post(f"/v1/devices/{dev}/token"), 201).json["token"]
        answered = time.monotonic()
        status(Client(s.port, new).get("/v1/agent/desired"), 200)
        h.wait_for(401, 20)
        late = after(h.finish(), answered)
        check(late and set(late) == {401}, f"sent after the 201: {sorted(set(late))}")
