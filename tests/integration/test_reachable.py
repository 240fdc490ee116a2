"""Nothing points at nothing: a version whose variant has no url and whose
artifact is not stored cannot be made stable or rolled out (422 naming the
variant's digest, nothing stored); uploading the artifact or giving the
variant a url fixes it."""
import hashlib

from fleet import Signer, enroll, manifest_text, upload_artifacts
from ramp import check, eq, status

POLICY = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}


def _post(s, signer, text):
    r = s.admin.post("/v1/manifests", {"manifest": text, "signature": signer.sign(text),
                                       "key_id": signer.key_id})
    check(r.status in (200, 201), r)


def test_a_version_pointing_at_nothing_cannot_become_stable_or_roll_out(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    enroll(s, 3)
    platforms = ("cloud-x86", "rpi-arm64")
    for v in ("v1", "v2"):
        _post(s, signer, manifest_text("ocr", v, platforms))
    # v1: only the first variant's artifact is stored
    upload_artifacts(s, "ocr", "v1", platforms[:1])
    digest = "sha256:" + hashlib.sha256(b"ocr-v1-rpi-arm64").hexdigest()
    r = status(s.admin.put("/v1/models/ocr/stable", {"version": "v1"}), 422)
    eq(r.header("Content-Type"), "application/problem+json")
    eq(r.json["field"], "variants[1].digest")
    check("rpi-arm64" in r.json["detail"] and digest in r.json["detail"], r.json)
    eq(ctx.psql(s, "SELECT count(*) FROM models WHERE stable_version IS NOT NULL")[0][0], "0")
    eq(ctx.psql(s, "SELECT count(*) FROM audit WHERE action = 'model.stable'")[0][0], "0")
    # uploading it fixes that
    upload_artifacts(s, "ocr", "v1", platforms[1:])
    status(s.admin.put("/v1/models/ocr/stable", {"version": "v1"}), 200)
    # v2 has no artifacts at all: no rollout
    r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": POLICY}), 422)
    eq(r.json["field"], "variants[0].digest")
    check("cloud-x86" in r.json["detail"], r.json)
    eq(ctx.psql(s, "SELECT count(*) FROM rollouts")[0][0], "0")
    eq(status(s.admin.get("/v1/rollouts?state=all"), 200).json["items"], [])
    upload_artifacts(s, "ocr", "v2", platforms)
    status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": POLICY}), 201)


def test_a_variant_with_a_url_needs_no_stored_artifact(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    text = manifest_text("ocr", "v1", ("rpi-arm64",)) + ""
    text = text.rstrip("\n") + "\n      url: https://models.example.com/ocr-v1.bin\n"
    _post(s, signer, text)
    status(s.admin.put("/v1/models/ocr/stable", {"version": "v1"}), 200)
    text = manifest_text("ocr", "v2", ("rpi-arm64",))
    text = text.rstrip("\n") + "\n      url: https://models.example.com/ocr-v2.bin\n"
    _post(s, signer, text)
    enroll(s, 2)
    status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": POLICY}), 201)
