"""A device's record keeps, per model, its last failure's reason and how it
is getting on: `detail`/`detail_at` survive later downloading reports of the
same version and clear on `installed`; `failures` counts failed reports of
the version; `stuck` flags a device downloading or verifying for too long
or failing the same version again and again, and GET /v1/devices?stuck=true
finds them."""
import datetime
import json
import os
import subprocess

from fleet import Signer, enroll, publish
from ramp import Client, check, eq, status

POLICY = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}
KEYS = {"version", "state", "detail", "detail_at", "since", "failures", "stuck"}


def _t(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _model(s, dev):
    return status(s.admin.get(f"/v1/devices/{dev}"), 200).json["models"]["ocr"]


def _rampctl(ctx, s, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    env.update(HOME=ctx.tmp, RAMP_SERVER=s.url, RAMP_TOKEN=s.admin_token)
    p = subprocess.run([os.path.join(ctx.build, "rampctl"), *args], env=env, capture_output=True,
                       text=True, timeout=120)
    eq(p.returncode, 0, p.stderr)
    return p.stdout


def _stuck_ids(s, flag="true"):
    return [d["id"] for d in status(s.admin.get(f"/v1/devices?stuck={flag}"), 200).json["items"]]


def test_last_failure_reason_failures_and_stuck_are_on_the_device_record(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    tokens = enroll(s, 2)
    d0, d1 = sorted(tokens)
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": POLICY}),
                 201).json["id"]
    c = Client(s.port, tokens[d0])

    def report(state, detail=None, version="v2"):
        body = {"model": "ocr", "version": version, "state": state}
        if detail is not None:
            body["detail"] = detail
        status(c.post("/v1/agent/status", body), 204)

    report("downloading")
    m = _model(s, d0)
    eq(set(m) - {"at"}, KEYS)
    eq((m["version"], m["state"], m["detail"], m["detail_at"], m["failures"], m["stuck"]),
       ("v2", "downloading", None, None, 0, False))
    began = _t(m["since"])
    report("downloading")                       # the same state again: since stays
    eq(_t(_model(s, d0)["since"]), began)
    report("failed", "digest mismatch: got sha256:00")
    m = _model(s, d0)
    eq((m["state"], m["detail"], m["failures"], m["stuck"]),
       ("failed", "digest mismatch: got sha256:00", 1, False))
    check(_t(m["detail_at"]) >= began and _t(m["since"]) >= began, m)
    failed_at = m["detail_at"]
    # the agent retries: the reason survives the downloading report
    report("downloading")
    m = _model(s, d0)
    eq((m["state"], m["detail"], m["detail_at"], m["failures"]),
       ("downloading", "digest mismatch: got sha256:00", failed_at, 1))
    check(_t(m["since"]) >= _t(failed_at), m)
    report("verifying")
    report("failed", "no space: need 812.0 MiB")
    eq(_stuck_ids(s), [])
    eq(status(s.admin.get(f"/v1/rollouts/{rid}"), 200).json["devices"]["stuck"], 0)
    report("downloading")
    report("failed", "no space: need 812.0 MiB, 10 MiB free")
    m = _model(s, d0)
    eq((m["failures"], m["stuck"], m["detail"]), (3, True, "no space: need 812.0 MiB, 10 MiB free"))
    eq(_stuck_ids(s), [d0])
    eq(_stuck_ids(s, "false"), [d1])
    eq(status(s.admin.get(f"/v1/devices?stuck=true&selector=platform%3Drpi-arm64"), 200)
       .json["items"][0]["models"]["ocr"]["stuck"], True)
    eq(status(s.admin.get(f"/v1/rollouts/{rid}"), 200).json["devices"]["stuck"], 1)
    # rampctl: device get shows the record, devices list --stuck finds it
    got = json.loads(_rampctl(ctx, s, "device", "get", d0))["models"]["ocr"]
    eq((got["detail"], got["stuck"], got["failures"]), (m["detail"], True, 3))
    out = _rampctl(ctx, s, "devices", "list", "--stuck")
    check(d0 in out and d1 not in out and "ocr=v2(failed,stuck)" in out, out)
    report("downloading")                       # still failing the same version
    eq(_model(s, d0)["stuck"], True)
    # installed: the reason and the count clear
    report("installed")
    m = _model(s, d0)
    eq((m["state"], m["detail"], m["detail_at"], m["failures"], m["stuck"]),
       ("installed", None, None, 0, False))
    eq(_stuck_ids(s), [])
    # another version starts afresh
    report("failed", "reload: exit 1", version="v3")
    eq((_model(s, d0)["failures"], _model(s, d0)["version"]), (1, "v3"))
    for bad in ("yes", "", "1", "TRUE"):
        r = status(s.admin.get(f"/v1/devices?stuck={bad}"), 400, bad)
        eq(r.json["field"], "stuck")
    c.close()


def test_downloading_for_longer_than_the_bound_is_stuck(ctx):
    # RAMP_POLL_INTERVAL 30 s: the bound is max(10 x 30 s, 10 min) = 10 min
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    tokens = enroll(s, 1)
    dev = next(iter(tokens))
    c = Client(s.port, tokens[dev])
    status(c.post("/v1/agent/status", {"model": "ocr", "version": "v1", "state": "downloading"}), 204)
    eq(_model(s, dev)["stuck"], False)

    def began(ago):
        ctx.psql(s, "UPDATE devices SET models = jsonb_set(models, '{ocr,since}',"
                    f" to_jsonb(now() - interval '{ago}'))")
    began("9 minutes")
    eq(_model(s, dev)["stuck"], False)
    began("11 minutes")
    eq(_model(s, dev)["stuck"], True)
    eq(_stuck_ids(s), [dev])
    status(c.post("/v1/agent/status", {"model": "ocr", "version": "v1", "state": "verifying"}), 204)
    eq(_model(s, dev)["stuck"], False)          # a new state, a new clock
    began("11 minutes")
    eq(_model(s, dev)["stuck"], True)
    status(c.post("/v1/agent/status", {"model": "ocr", "version": "v1", "state": "installed"}), 204)
    eq(_model(s, dev)["stuck"], False)
    c.close()
    s2 = ctx.server(env={"RAMP_POLL_INTERVAL": "120"})   # bound 20 min
    status(s2.admin.post("/v1/devices", {"id": "pi-1", "platform": "rpi-arm64"}), 201)
    ctx.psql(s2, "UPDATE devices SET models = jsonb_build_object('ocr', jsonb_build_object("
                 "'version', 'v1', 'state', 'downloading', 'at', now(),"
                 " 'since', now() - interval '15 minutes'))")
    eq(_model(s2, "pi-1")["stuck"], False)
    ctx.psql(s2, "UPDATE devices SET models = jsonb_set(models, '{ocr,since}',"
                 " to_jsonb(now() - interval '21 minutes'))")
    eq(_model(s2, "pi-1")["stuck"], True)
