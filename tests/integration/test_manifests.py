"""Signing keys, signed manifests and stable versions (issue 3): keys and
signatures are made with the openssl command line, so these tests prove
interoperability with the tools CI really uses."""
import base64
import hashlib
import json
import os
import subprocess

from ramp import ROOT, check, eq, status

SEED = os.path.join(ROOT, "tests", "unit", "fixtures", "sig", "manifest.yaml")  # the seed, verbatim


def openssl(*args, data=None):
    p = subprocess.run(["openssl", *args], input=data, capture_output=True)
    if p.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)}: {p.stderr.decode()}")
    return p.stdout


def new_key(ctx, name, alg="ecdsa"):
    """Generates a key pair with openssl; returns (private key path, public PEM)."""
    path = os.path.join(ctx.tmp, f"{name}.key")
    if alg == "ecdsa":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    elif alg == "ed25519":
        openssl("genpkey", "-algorithm", "ed25519", "-out", path)
    elif alg == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    elif alg == "p384":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", path)
    return path, openssl("pkey", "-in", path, "-pubout").decode()


def sign(ctx, key, text):
    """Signs the exact bytes as CI does: openssl dgst (ECDSA) or pkeyutl -rawin (Ed25519)."""
    data = text.encode() if isinstance(text, str) else text
    path = os.path.join(ctx.tmp, "to-sign")
    with open(path, "wb") as f:
        f.write(data)
    if b"ED25519" in openssl("pkey", "-in", key, "-noout", "-text"):
        raw = openssl("pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", path)
    else:
        raw = openssl("dgst", "-sha256", "-sign", key, path)
    return base64.b64encode(raw).decode()


def manifest(name="invoice-ocr", version="1.0.0", expires=None, platforms=("rpi-arm64",)):
    lines = ["model:", f"  name: {name}", f"  version: {version}", "  variants:"]
    for i, p in enumerate(platforms):
        d = hashlib.sha256(f"{name}{version}{p}".encode()).hexdigest()
        lines += [f"    - platform: {p}", f"      file: {name}-{i}.bin", f"      digest: sha256:{d}",
                  "      size: 1234", "      capabilities:", "        npu: hailo-8"]
    if expires:
        lines.append(f"  expires: {expires}")
    return "\n".join(lines) + "\n"


def upload(s, name="invoice-ocr", version="1.0.0", platforms=("rpi-arm64",)):
    """Stores the artifacts manifest() names, so the version may become stable."""
    for p in platforms:
        data = f"{name}{version}{p}".encode()
        r = s.admin.request("PUT", f"/v1/artifacts/sha256:{hashlib.sha256(data).hexdigest()}",
                            raw=data, ctype="application/octet-stream")
        check(r.status in (200, 201), f"artifact upload: {r}")


def add_key(s, key_id, pem, expect=201):
    return status(s.admin.put(f"/v1/keys/{key_id}", {"public_key": pem}), expect)


def post(client, text, sig, key_id, **kw):
    return client.post("/v1/manifests", {"manifest": text, "signature": sig, "key_id": key_id}, **kw)


def mk_token(s, name, role):
    return status(s.admin.post("/v1/tokens", {"name": name, "role": role}), 201).json["token"]


def stored(ctx, s):
    """What a refused post must not have changed."""
    q = ("SELECT (SELECT count(*) FROM manifests), (SELECT count(*) FROM manifest_signatures),"
         " (SELECT count(*) FROM models), (SELECT count(*) FROM audit WHERE action = 'manifest.post')")
    return tuple(int(x) for x in ctx.psql(s, q)[0])


def check_round_trip(ctx, alg):
    s = ctx.server()
    key, pub = new_key(ctx, "ci", alg)
    k = add_key(s, "ci-2026", pub).json
    eq(k["alg"], "ecdsa-p256" if alg == "ecdsa" else "ed25519")
    text = manifest()
    sig = sign(ctx, key, text)
    r = status(post(s.admin, text, sig, "ci-2026"), 201).json
    eq(r["manifest"], text)
    eq(r["signature"], sig)
    eq(r["key_id"], "ci-2026")
    eq(r["digest"], "sha256:" + hashlib.sha256(text.encode()).hexdigest())
    eq(r["posted_by"], "admin")
    eq(r["signatures"], [{"key_id": "ci-2026", "signature": sig, "revoked": False,
                          "created_at": r["signatures"][0]["created_at"]}])
    v = r["variants"][0]
    eq((v["platform"], v["size"], v["capabilities"]), ("rpi-arm64", 1234, {"npu": "hailo-8"}))
    eq(v["url"], f"{s.url}/v1/artifacts/{v['digest']}", "no url: served by this server")
    g = status(s.admin.get("/v1/models/invoice-ocr/versions/1.0.0"), 200).json
    eq(g, r)
    # the stored text verifies with openssl, byte for byte
    with open(os.path.join(ctx.tmp, "got.yaml"), "wb") as f:
        f.write(g["manifest"].encode())
    with open(os.path.join(ctx.tmp, "got.pub"), "w") as f:
        f.write(pub)
    with open(os.path.join(ctx.tmp, "got.sig"), "wb") as f:
        f.write(base64.b64decode(g["signature"]))
    if alg == "ecdsa":
        openssl("dgst", "-sha256", "-verify", os.path.join(ctx.tmp, "got.pub"), "-signature",
                os.path.join(ctx.tmp, "got.sig"), os.path.join(ctx.tmp, "got.yaml"))
    else:
        openssl("pkeyutl", "-verify", "-pubin", "-inkey", os.path.join(ctx.tmp, "got.pub"),
                "-rawin", "-in", os.path.join(ctx.tmp, "got.yaml"),
                "-sigfile", os.path.join(ctx.tmp, "got.sig"))
    audit = ctx.psql(s, "SELECT actor, target FROM audit WHERE action = 'manifest.post'")
    eq(audit, [["admin", "invoice-ocr:1.0.0"]])


def test_ecdsa_p256_manifest_signed_with_openssl_round_trips(ctx):
    check_round_trip(ctx, "ecdsa")


def test_ed25519_manifest_signed_with_openssl_round_trips(ctx):
    check_round_trip(ctx, "ed25519")


def test_seed_manifest_is_accepted_verbatim(ctx):
    s = ctx.server()
    key, pub = new_key(ctx, "ci")
    add_key(s, "ci", pub)
    with open(SEED) as f:
        text = f.read()
    r = status(post(s.admin, text, sign(ctx, key, text), "ci"), 201).json
    eq(r["manifest"], text)
    eq((r["model"], r["version"]), ("invoice-ocr", "2026.01.10-rc1"))
    eq([v["platform"] for v in r["variants"]], ["rpi-arm64", "cloud-x86-onnx"])
    # the committed fixture signature (made once with openssl) verifies too
    fx = os.path.join(ROOT, "tests", "unit", "fixtures", "sig")
    with open(os.path.join(fx, "ecdsa.pub")) as f:
        add_key(s, "fixture", f.read())
    with open(os.path.join(fx, "manifest.yaml.ecdsa.sig")) as f:
        r = status(post(s.admin, text, f.read(), "fixture"), 200).json
    eq(sorted(x["key_id"] for x in r["signatures"]), ["ci", "fixture"])


def test_manifest_with_one_changed_byte_is_refused(ctx):
    s = ctx.server()
    key, pub = new_key(ctx, "ci")
    add_key(s, "ci", pub)
    text = manifest()
    sig = sign(ctx, key, text)
    tampered = text.replace("1.0.0", "1.0.1")
    eq(sum(a != b for a, b in zip(text, tampered)), 1)
    r = status(post(s.admin, tampered, sig, "ci"), 422)
    eq(r.json["field"], "signature")
    eq(r.header("Content-Type"), "application/problem+json")
    eq(stored(ctx, s), (0, 0, 0, 0))
    status(s.admin.get("/v1/models/invoice-ocr/versions/1.0.1"), 404)
    status(post(s.admin, text, sig, "ci"), 201)


def test_signature_by_another_key_is_refused(ctx):
    s = ctx.server()
    _, pub_a = new_key(ctx, "a")
    key_b, pub_b = new_key(ctx, "b", "ed25519")
    add_key(s, "key-a", pub_a)
    add_key(s, "key-b", pub_b)
    text = manifest()
    r = status(post(s.admin, text, sign(ctx, key_b, text), "key-a"), 422)
    eq(r.json["field"], "signature")
    eq(stored(ctx, s), (0, 0, 0, 0))


def test_unknown_key_id_is_refused(ctx):
    s = ctx.server()
    key, _ = new_key(ctx, "ci")
    text = manifest()
    r = status(post(s.admin, text, sign(ctx, key, text), "nobody"), 422)
    eq(r.json["field"], "key_id")
    eq(stored(ctx, s), (0, 0, 0, 0))


def test_revoked_key_refuses_posts_and_stable_until_resigned(ctx):
    s = ctx.server()
    old, old_pub = new_key(ctx, "old")
    new, new_pub = new_key(ctx, "new", "ed25519")
    add_key(s, "ci-2025", old_pub)
    text = manifest()
    status(post(s.admin, text, sign(ctx, old, text), "ci-2025"), 201)
    upload(s)
    status(s.admin.delete("/v1/keys/ci-2025"), 204)
    k = status(s.admin.get("/v1/keys/ci-2025"), 200).json
    check(k["revoked_at"] is not None, "revoked_at is set")
    eq(ctx.psql(s, "SELECT count(*) FROM audit WHERE action = 'key.revoke'"), [["1"]])
    # a revoked key signs nothing new, and its id cannot come back
    other = manifest(version="2.0.0")
    before = stored(ctx, s)
    r = status(post(s.admin, other, sign(ctx, old, other), "ci-2025"), 422)
    eq(r.json["field"], "key_id")
    eq(stored(ctx, s), before)
    add_key(s, "ci-2025", old_pub, expect=409)
    # a manifest only the revoked key signed cannot become stable
    r = status(s.admin.put("/v1/models/invoice-ocr/stable", {"version": "1.0.0"}), 422)
    eq(r.json["field"], "version")
    eq(ctx.psql(s, "SELECT stable_version IS NULL FROM models"), [["t"]])
    # rotation: re-sign the same bytes with the new key, then it is usable
    add_key(s, "ci-2026", new_pub)
    r = status(post(s.admin, text, sign(ctx, new, text), "ci-2026"), 200).json
    eq(r["key_id"], "ci-2026", "the valid signature is the primary one")
    eq(sorted((x["key_id"], x["revoked"]) for x in r["signatures"]),
       [("ci-2025", True), ("ci-2026", False)])
    r = status(s.admin.put("/v1/models/invoice-ocr/stable", {"version": "1.0.0"}), 200).json
    eq((r["model"], r["stable_version"]), ("invoice-ocr", "1.0.0"))
    eq(status(s.admin.get("/v1/models/invoice-ocr"), 200).json["stable_version"], "1.0.0")
    status(s.admin.delete("/v1/keys/ci-2025"), 204)
    status(s.admin.delete("/v1/keys/nope"), 404)
    eq(ctx.psql(s, "SELECT action, detail->>'result' FROM audit WHERE action LIKE 'manifest%'"
                   " ORDER BY seq"), [["manifest.post", "created"], ["manifest.post", "signature_added"]])
    v = status(s.admin.get("/v1/audit/verify"), 200).json
    check(v["ok"] and v["entries"] >= 6, v)


def test_expired_manifest_is_refused(ctx):
    s = ctx.server()
    key, pub = new_key(ctx, "ci")
    add_key(s, "ci", pub)
    text = manifest(expires="2020-01-10T00:00:00Z")
    r = status(post(s.admin, text, sign(ctx, key, text), "ci"), 422)
    eq(r.json["field"], "manifest.model.expires")
    eq(stored(ctx, s), (0, 0, 0, 0))
    text = manifest(expires="2999-01-10T00:00:00Z")
    r = status(post(s.admin, text, sign(ctx, key, text), "ci"), 201).json
    check(r["expires"].startswith("2999-01-10T00:00:00"), r["expires"])


def test_same_version_is_immutable(ctx):
    s = ctx.server()
    key, pub = new_key(ctx, "ci")
    add_key(s, "ci", pub)
    text = manifest()
    status(post(s.admin, text, sign(ctx, key, text), "ci"), 201)
    status(post(s.admin, text, sign(ctx, key, text), "ci"), 200)
    changed = manifest(platforms=("rpi-arm64", "cloud-x86-onnx"))
    r = status(post(s.admin, changed, sign(ctx, key, changed), "ci"), 409)
    eq(r.json["field"], "manifest")
    eq(ctx.psql(s, "SELECT count(*), min(text) = max(text) FROM manifests"), [["1", "t"]])
    eq(status(s.admin.get("/v1/models/invoice-ocr/versions/1.0.0"), 200).json["manifest"], text)
    eq(stored(ctx, s), (1, 1, 1, 2))
    eq(ctx.psql(s, "SELECT detail->>'result' FROM audit WHERE action = 'manifest.post'"
                   " ORDER BY seq"), [["created"], ["unchanged"]])


def test_bad_posts_name_the_field_and_store_nothing(ctx):
    s = ctx.server()
    key, pub = new_key(ctx, "ci")
    add_key(s, "ci", pub)

    def signed(text):
        return {"manifest": text, "signature": sign(ctx, key, text), "key_id": "ci"}
    bad_digest = manifest().replace("sha256:", "sha256:AB", 1)
    cases = [
        (signed(bad_digest), 422, "manifest.model.variants[0].digest"),
        (signed("model: [unclosed\n"), 422, "manifest"),
        (signed("model:\n  name: x\n"), 422, None),
        (signed(manifest() + "extra: 1\n"), 422, "manifest.extra"),
        ({"manifest": manifest(), "key_id": "ci"}, 422, "signature"),
        ({"manifest": manifest(), "signature": "not base64!", "key_id": "ci"}, 422, "signature"),
        ({"signature": "AAAA", "key_id": "ci"}, 422, "manifest"),
        ({**signed(manifest()), "key_id": "Bad Key"}, 422, "key_id"),
        ({**signed(manifest()), "extra": 1}, 422, "extra"),
        ([1, 2], 422, None),
    ]
    for body, code, field in cases:
        r = status(s.admin.post("/v1/manifests", body), code, f"{body}")
        if field:
            eq(r.json.get("field"), field, f"{body}")
        check(r.json["detail"] and r.json["detail"][0].islower(), r.json["detail"])
    yaml_body = manifest().encode()
    status(s.admin.request("POST", "/v1/manifests", raw=yaml_body, ctype="text/plain"), 415)
    status(s.admin.request("POST", "/v1/manifests", raw=b"{nope", ctype="application/json"), 400)
    big = json.dumps({"manifest": "x" * (1 << 20), "signature": "AAAA", "key_id": "ci"}).encode()
    status(s.admin.request("POST", "/v1/manifests", raw=big), 413)
    eq(stored(ctx, s), (0, 0, 0, 0))


def test_key_put_accepts_only_p256_and_ed25519_public_keys(ctx):
    s = ctx.server()
    _, ec = new_key(ctx, "ec")
    _, ed = new_key(ctx, "ed", "ed25519")
    rsa_priv, rsa = new_key(ctx, "rsa", "rsa")
    _, p384 = new_key(ctx, "p384", "p384")
    r = add_key(s, "ec", ec).json
    eq(r["fingerprint"], "sha256:" + hashlib.sha256(
        openssl("pkey", "-pubin", "-outform", "DER", data=ec.encode())).hexdigest())
    add_key(s, "ec", ec, expect=200)
    eq(add_key(s, "ec", ed, expect=409).json["field"], "public_key")
    add_key(s, "ed", ed)
    with open(rsa_priv) as f:
        priv_pem = f.read()
    for pem in [rsa, p384, priv_pem, "hello", ec.replace("A", "B", 3)]:
        r = status(s.admin.put("/v1/keys/k", {"public_key": pem}), 422)
        eq(r.json["field"], "public_key")
    eq(status(s.admin.put("/v1/keys/Bad_Id", {"public_key": ec}), 422).json["field"], "key_id")
    status(s.admin.put("/v1/keys/k", {"public_key": ec, "x": 1}), 422)
    status(s.admin.put("/v1/keys/k", {}), 422)
    items = status(s.admin.get("/v1/keys"), 200).json["items"]
    eq([(k["id"], k["alg"]) for k in items], [("ec", "ecdsa-p256"), ("ed", "ed25519")])
    check(all(k["public_key"].startswith("-----BEGIN PUBLIC KEY-----") for k in items))
    page = status(s.admin.get("/v1/keys?limit=1"), 200).json
    eq((len(page["items"]), page["next"]), (1, "ec"))
    eq(status(s.admin.get("/v1/keys?after=ec"), 200).json["items"][0]["id"], "ed")
    status(s.admin.get("/v1/keys/k"), 404)
    eq(ctx.psql(s, "SELECT count(*) FROM signing_keys"), [["2"]])
    eq(ctx.psql(s, "SELECT count(*) FROM audit WHERE action = 'key.put'"), [["2"]])


def test_roles_ci_posts_viewer_reads_only_admin_manages_keys(ctx):
    s = ctx.server()
    tok = {r: mk_token(s, f"t-{r}", r) for r in ["operator", "viewer", "ci", "ingest"]}
    tok["admin"] = s.admin_token
    key, pub = new_key(ctx, "ci")
    for role in ["operator", "viewer", "ci", "ingest"]:
        eq(s.admin.put("/v1/keys/k", {"public_key": pub}, token=tok[role]).status, 403, role)
    add_key(s, "k", pub)
    for role in ["operator", "viewer", "ci"]:
        eq(s.admin.delete("/v1/keys/k", token=tok[role]).status, 403, role)
    for role in ["operator", "viewer"]:
        status(s.admin.get("/v1/keys", token=tok[role]), 200)
        status(s.admin.get("/v1/keys/k", token=tok[role]), 200)
    status(s.admin.get("/v1/keys", token=tok["ci"]), 403)
    text = manifest()
    sig = sign(ctx, key, text)
    for role in ["viewer", "operator", "ingest"]:
        eq(post(s.admin, text, sig, "k", token=tok[role]).status, 403, role)
    eq(stored(ctx, s), (0, 0, 0, 0))
    r = status(post(s.admin, text, sig, "k", token=tok["ci"]), 201).json
    eq(r["posted_by"], "t-ci")
    eq(ctx.psql(s, "SELECT actor FROM audit WHERE action = 'manifest.post'"), [["t-ci"]])
    for role in ["ci", "viewer", "operator", "admin"]:
        status(s.admin.get("/v1/manifests", token=tok[role]), 200)
        status(s.admin.get("/v1/models/invoice-ocr/versions/1.0.0", token=tok[role]), 200)
    status(s.admin.get("/v1/manifests", token=tok["ingest"]), 403)
    stable = {"version": "1.0.0"}
    upload(s)
    for role in ["ci", "viewer"]:
        eq(s.admin.put("/v1/models/invoice-ocr/stable", stable, token=tok[role]).status, 403)
    status(s.admin.put("/v1/models/invoice-ocr/stable", stable, token=tok["operator"]), 200)
    status(s.admin.get("/v1/models", token=tok["viewer"]), 200)
    eq(ctx.psql(s, "SELECT actor FROM audit WHERE action = 'model.stable'"), [["t-operator"]])


def test_stable_version_needs_a_usable_manifest(ctx):
    s = ctx.server()
    key, pub = new_key(ctx, "ci")
    add_key(s, "ci", pub)
    for v in ["1.0.0", "1.1.0"]:
        text = manifest(version=v)
        status(post(s.admin, text, sign(ctx, key, text), "ci"), 201)
        upload(s, version=v)
    text = manifest(name="other")
    status(post(s.admin, text, sign(ctx, key, text), "ci"), 201)
    status(s.admin.put("/v1/models/invoice-ocr/stable", {"version": "9.9.9"}), 404)
    status(s.admin.put("/v1/models/nothing/stable", {"version": "1.0.0"}), 404)
    status(s.admin.put("/v1/models/invoice-ocr/stable", {"version": 1}), 422)
    status(s.admin.put("/v1/models/invoice-ocr/stable", {"version": "1.0.0", "x": 1}), 422)
    status(s.admin.put("/v1/models/invoice-ocr/stable", {"version": "1.0.0"}), 200)
    # a manifest past its expiry cannot become stable
    ctx.psql(s, "UPDATE manifests SET expires_at = now() - interval '1 day' WHERE version = '1.1.0'")
    r = status(s.admin.put("/v1/models/invoice-ocr/stable", {"version": "1.1.0"}), 422)
    check("expired" in r.json["detail"], r.json["detail"])
    models = status(s.admin.get("/v1/models"), 200).json["items"]
    eq([(m["name"], m["stable_version"], m["versions"]) for m in models],
       [("invoice-ocr", "1.0.0", 2), ("other", None, 1)])
    status(s.admin.get("/v1/models/nothing"), 404)
    eq(ctx.psql(s, "SELECT count(*) FROM audit WHERE action = 'model.stable'"), [["1"]])


def test_manifest_list_filters_and_pages_newest_first(ctx):
    s = ctx.server()
    key, pub = new_key(ctx, "ci")
    add_key(s, "ci", pub)
    for name, v in [("a", "1"), ("b", "1"), ("a", "2"), ("a", "3")]:
        text = manifest(name=name, version=v)
        status(post(s.admin, text, sign(ctx, key, text), "ci"), 201)
    p1 = status(s.admin.get("/v1/manifests?model=a&limit=2"), 200).json
    eq([i["version"] for i in p1["items"]], ["3", "2"])
    check(p1["next"] is not None)
    p2 = status(s.admin.get(f"/v1/manifests?model=a&limit=2&after={p1['next']}"), 200).json
    eq(([i["version"] for i in p2["items"]], p2["next"]), (["1"], None))
    item = p2["items"][0]
    eq(sorted(item), ["created_at", "digest", "expires", "key_ids", "model", "posted_by", "version"])
    eq(item["key_ids"], ["ci"])
    eq(len(status(s.admin.get("/v1/manifests"), 200).json["items"]), 4)
    status(s.admin.get("/v1/manifests?model=Not_A_Name"), 400)
    status(s.admin.get("/v1/manifests?after=x"), 400)


def run_publish(s, *args, token):
    script = os.path.join(ROOT, "deploy", "ci-publish.sh")
    p = subprocess.run(["sh", script, "--server", s.url, "--token", token, *args],
                       capture_output=True, text=True, timeout=120)
    return p


def test_ci_publish_script_uploads_signs_and_posts(ctx):
    s = ctx.server()
    ci = mk_token(s, "ci-pipeline", "ci")
    key, pub = new_key(ctx, "ci")
    add_key(s, "ci-2026", pub)
    model = os.path.join(ctx.tmp, "model-rpi.tflite")
    onnx = os.path.join(ctx.tmp, "model.onnx")
    with open(model, "wb") as f:
        f.write(os.urandom(3 << 20))
    with open(onnx, "wb") as f:
        f.write(os.urandom(1000))
    out = os.path.join(ctx.tmp, "signed.yaml")
    args = ["--key", key, "--key-id", "ci-2026", "--model", "invoice-ocr",
            "--version", "2026.01.10-rc1", "--platform", "rpi-arm64", "--file", model,
            "--platform", "cloud-x86-onnx", "--file", onnx, "--out", out]
    p = run_publish(s, *args, token=ci)
    eq(p.returncode, 0, p.stderr)
    r = json.loads(p.stdout)
    with open(out) as f:
        eq(r["manifest"], f.read(), "the posted text is the signed file")
    with open(model, "rb") as f:
        blob = f.read()
    v = {x["platform"]: x for x in r["variants"]}
    eq(v["rpi-arm64"]["digest"], "sha256:" + hashlib.sha256(blob).hexdigest())
    eq((v["rpi-arm64"]["size"], v["rpi-arm64"]["file"]), (len(blob), "model-rpi.tflite"))
    eq(status(s.admin.get("/" + v["rpi-arm64"]["url"].split("/", 3)[3]), 200).body, blob)
    eq(r["posted_by"], "ci-pipeline")
    # run again: the same bytes are a 200 and the artifacts are already there
    p = run_publish(s, *args, token=ci)
    eq(p.returncode, 0, p.stderr)
    check("already stored" in p.stderr and "already posted" in p.stderr, p.stderr)
    # a template and an Ed25519 key; a wrong key id fails loudly
    ed, ed_pub = new_key(ctx, "ed", "ed25519")
    add_key(s, "ci-ed", ed_pub)
    tmpl = os.path.join(ctx.tmp, "manifest.tmpl")
    with open(tmpl, "w") as f:
        f.write("model:\n  name: invoice-ocr\n  version: {{version}}\n  variants:\n"
                f"    - platform: rpi-arm64\n      file: m.tflite\n"
                f"      digest: {{{{digest:{model}}}}}\n      size: {{{{size:{model}}}}}\n"
                "  expires: 2999-01-01T00:00:00Z")
    p = run_publish(s, "--key", ed, "--key-id", "ci-ed", "--template", tmpl, "--version", "2.0",
                    token=ci)
    eq(p.returncode, 0, p.stderr)
    r = json.loads(p.stdout)
    eq((r["version"], r["key_id"], r["variants"][0]["size"]), ("2.0", "ci-ed", len(blob)))
    check(r["manifest"].endswith("Z\n"), "the script adds the final newline it signs")
    p = run_publish(s, "--key", ed, "--key-id", "ci-2026", "--template", tmpl, "--version", "3.0",
                    token=ci)
    check(p.returncode != 0 and "422" in p.stderr, p.stderr)
    status(s.admin.get("/v1/models/invoice-ocr/versions/3.0"), 404)


def test_yaml_manifest_posted_as_itself_with_signature_headers(ctx):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
    from fleet import Signer, manifest_text
    s = ctx.server()
    signer = Signer(ctx, s, key_id="yaml-key")
    text = manifest_text("yaml-model", "1.0", ["rpi-arm64"])
    # unsigned YAML is 422, nothing stored
    r = s.admin.request("POST", "/v1/manifests", raw=text.encode(), ctype="application/yaml")
    eq(r.status, 422)
    eq(r.json["field"], "signature")
    eq(ctx.psql(s, "SELECT count(*) FROM manifests")[0][0], "0")
    sig = signer.sign(text)
    r = s.admin.request("POST", "/v1/manifests", raw=text.encode(), ctype="text/yaml",
                        headers={"X-Ramp-Signature": sig, "X-Ramp-Key-Id": "yaml-key"})
    eq(r.status, 201, r)
    got = s.admin.get("/v1/models/yaml-model/versions/1.0").json
    eq(got["manifest"], text)
    # a changed byte does not verify
    bad = text.replace("1.0", "1.1")
    r = s.admin.request("POST", "/v1/manifests", raw=bad.encode(), ctype="application/yaml",
                        headers={"X-Ramp-Signature": sig, "X-Ramp-Key-Id": "yaml-key"})
    eq(r.status, 422)
    eq(ctx.psql(s, "SELECT count(*) FROM manifests")[0][0], "1")
