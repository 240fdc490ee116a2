"""The credentials lifecycle: tokens that expire, device tokens rotated
with a grace period the operator chooses, and signing keys rotated (add
the new key, re-sign, revoke the old) with rollouts of manifests that only
the revoked key signed refused."""
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
