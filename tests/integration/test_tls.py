"""TLS in rampd: HTTPS with a certificate made by the openssl CLI, plain
HTTP only where allowed, device certificates (mTLS) under
RAMP_DEVICE_AUTH=token|cert|both, and enrollment restricted to an
allowlist or to devices holding a certificate from the device CA."""
import http.client
import os
import socket
import ssl

from pki import PKI, TLSClient, start_tls_server
from ramp import Client, check, eq, status, wait_for


def pki(ctx, name="ca"):
    return PKI(ctx.tmp, name)


def register(s, *ids):
    """Registers devices over the server's TLS admin client; {id: token}."""
    body = [{"id": i, "platform": "rpi-arm64"} for i in ids]
    r = status(s.tls_admin.post("/v1/devices", body), 201)
    return {d["id"]: d["token"] for d in r.json["devices"]}


def test_https_round_trip_with_a_self_signed_certificate(ctx):
    ca = pki(ctx)
    s = start_tls_server(ctx, ca)
    tokens = register(s, "pi-1")
    r = status(TLSClient(s.port, ca.cert, token=tokens["pi-1"]).get("/v1/agent/desired"), 200)
    eq(r.json["device_id"], "pi-1")
    status(s.tls_admin.get("/v1/devices/pi-1"), 200)
    m = status(s.tls_admin.get("/metrics", token=None), 200).body.decode()
    check("ramp_tls_enabled 1" in m, "tls gauge")
    check("url=https://127.0.0.1:%d" % s.port in s.log(), "server URL is https")
    # the certificate is checked by the client: another CA's trust fails
    other = pki(ctx, "other")
    try:
        TLSClient(s.port, other.cert).get("/healthz")
        raise AssertionError("a client trusting another CA connected")
    except ssl.SSLError:
        pass


def test_plain_http_is_refused_on_a_tls_listener(ctx):
    ca = pki(ctx)
    s = start_tls_server(ctx, ca)
    try:
        r = Client(s.port, s.admin_token).get("/v1/devices")
        raise AssertionError(f"plain HTTP answered on the TLS port: {r}")
    except (ConnectionError, http.client.HTTPException, OSError):
        pass
    status(s.tls_admin.get("/v1/devices"), 200)


def test_plain_listener_beside_tls_needs_allow_plaintext(ctx):
    ca = pki(ctx)
    cert, key = ca.server_cert()
    plain = socket.socket()
    plain.bind(("127.0.0.1", 0))
    port = plain.getsockname()[1]
    plain.close()
    env = {"RAMP_TLS_CERT": cert, "RAMP_TLS_KEY": key, "RAMP_PLAIN_LISTEN": f"127.0.0.1:{port}"}
    refused = ctx.server(env=env, start=False).start(wait_ready=False)
    eq(refused.proc.wait(30), 2)
    check("RAMP_ALLOW_PLAINTEXT" in refused.log(), refused.log())
    env["RAMP_ALLOW_PLAINTEXT"] = "1"
    s = start_tls_server(ctx, ca, env={"RAMP_PLAIN_LISTEN": env["RAMP_PLAIN_LISTEN"],
                                       "RAMP_ALLOW_PLAINTEXT": "1"})
    status(Client(port).get("/readyz"), 200)
    status(Client(port, s.admin_token).get("/v1/devices"), 200)
    status(s.tls_admin.get("/v1/devices"), 200)


def test_plain_http_off_loopback_needs_allow_plaintext(ctx):
    s = ctx.server(start=False)
    s.extra_env = {"RAMP_LISTEN": f"0.0.0.0:{s.port}"}
    s.start(wait_ready=False)
    eq(s.proc.wait(30), 2)
    check("refusing to serve plain HTTP" in s.log(), s.log())
    s.extra_env["RAMP_ALLOW_PLAINTEXT"] = "1"
    s.start()
    status(s.admin.get("/v1/devices"), 200)


def test_mismatched_tls_settings_stop_rampd_with_a_reason(ctx):
    ca = pki(ctx)
    cert, _ = ca.server_cert()
    cases = [({"RAMP_TLS_CERT": cert}, "RAMP_TLS_KEY"),
             ({"RAMP_DEVICE_AUTH": "cert"}, "RAMP_TLS_CLIENT_CA"),
             ({"RAMP_DEVICE_AUTH": "sometimes"}, "RAMP_DEVICE_AUTH"),
             ({"RAMP_RATE_DEVICE": "fast"}, "RAMP_RATE_DEVICE")]
    for env, word in cases:
        s = ctx.server(env=env, start=False).start(wait_ready=False)
        eq(s.proc.wait(30), 2, str(env))
        check(word in s.log(), f"{env}: {s.log()}")


def mtls_server(ctx, mode):
    ca = pki(ctx)
    s = start_tls_server(ctx, ca, env={"RAMP_TLS_CLIENT_CA": ca.cert, "RAMP_DEVICE_AUTH": mode})
    return ca, s


def test_device_certificate_authenticates_its_own_device(ctx):
    ca, s = mtls_server(ctx, "cert")
    register(s, "pi-a", "pi-b")
    cert_a = ca.issue("pi-a", "pi-a")
    c = TLSClient(s.port, ca.cert, cert=cert_a)
    eq(status(c.get("/v1/agent/desired"), 200).json["device_id"], "pi-a")
    status(c.post("/v1/agent/status", {"model": "ocr", "version": "v1", "state": "installed"}), 204)
    r = status(c.post("/v1/telemetry", {"device_id": "pi-a", "model": "ocr:v1", "latency_ms": 10}), 202)
    eq(r.json["accepted"], 1)
    # a certificate stands for its own device only
    r = status(c.post("/v1/telemetry", {"device_id": "pi-b", "model": "ocr:v1", "latency_ms": 10}), 403)
    # and only on device routes
    status(c.get("/v1/devices"), 401)
    m = status(s.tls_admin.get("/metrics", token=None), 200).body.decode()
    check('ramp_tls_client_certs_total{result="valid"} 1' in m, "one certificate inspected once")
    # a certificate is no registration: unknown and deleted devices are refused
    r = status(TLSClient(s.port, ca.cert, cert=ca.issue("pi-z", "pi-z")).get("/v1/agent/desired"), 403)
    eq(r.json["field"], "certificate")
    before = int(ctx.psql(s, "SELECT count(*) FROM telemetry WHERE device_id = 'pi-a'")[0][0])
    status(s.tls_admin.request("DELETE", "/v1/devices/pi-a"), 204)
    c.close()
    # at once, like its token would be: nothing is served or stored after the 204
    status(c.get("/v1/agent/desired"), 403)
    status(c.post("/v1/telemetry", {"device_id": "pi-a", "model": "ocr:v1", "latency_ms": 10}), 403)
    eq(int(ctx.psql(s, "SELECT count(*) FROM telemetry WHERE device_id = 'pi-a'")[0][0]), before)
    # registered again, the same certificate works at once, telemetry included
    register(s, "pi-a")
    c = TLSClient(s.port, ca.cert, cert=cert_a)
    status(c.get("/v1/agent/desired"), 200)
    r = status(c.post("/v1/telemetry", {"device_id": "pi-a", "model": "ocr:v1", "latency_ms": 10}), 202)
    eq(r.json["accepted"], 1)
    c.close()


def test_certificate_for_another_device_is_403(ctx):
    ca, s = mtls_server(ctx, "cert")
    tokens = register(s, "pi-a", "pi-b")
    cert_a = ca.issue("pi-a", "pi-a")
    r = status(TLSClient(s.port, ca.cert, token=tokens["pi-b"], cert=cert_a).get("/v1/agent/desired"), 403)
    eq(r.json["field"], "certificate")
    check("pi-a" in r.json["detail"] and "pi-b" in r.json["detail"], r.json["detail"])
    # the matching pair is accepted
    status(TLSClient(s.port, ca.cert, token=tokens["pi-a"], cert=cert_a).get("/v1/agent/desired"), 200)


def test_cert_mode_without_a_certificate_is_401(ctx):
    ca, s = mtls_server(ctx, "cert")
    tokens = register(s, "pi-a")
    r = status(TLSClient(s.port, ca.cert, token=tokens["pi-a"]).get("/v1/agent/desired"), 401)
    eq(r.json["field"], "certificate")
    status(TLSClient(s.port, ca.cert).get("/v1/agent/desired"), 401)
    # a certificate from another CA proves nothing
    rogue = pki(ctx, "rogue")
    r = status(TLSClient(s.port, ca.cert, cert=rogue.issue("pi-a-rogue", "pi-a")).get("/v1/agent/desired"), 401)
    # operators are unaffected by device auth
    status(s.tls_admin.get("/v1/devices"), 200)


def test_both_mode_needs_the_token_and_the_certificate(ctx):
    ca, s = mtls_server(ctx, "both")
    tokens = register(s, "pi-a", "pi-san")
    cert_a = ca.issue("pi-a", "pi-a")
    status(TLSClient(s.port, ca.cert, cert=cert_a).get("/v1/agent/desired"), 401)
    status(TLSClient(s.port, ca.cert, token=tokens["pi-a"]).get("/v1/agent/desired"), 401)
    status(TLSClient(s.port, ca.cert, token=tokens["pi-a"], cert=cert_a).get("/v1/agent/desired"), 200)
    # a subject alternative name may carry the device id instead of the CN
    cert_san = ca.issue("pi-san", "factory-batch-7", sans=["DNS:pi-san"])
    r = TLSClient(s.port, ca.cert, token=tokens["pi-san"], cert=cert_san).get("/v1/agent/desired")
    eq(status(r, 200).json["device_id"], "pi-san")


def test_token_mode_ignores_certificates(ctx):
    ca, s = mtls_server(ctx, "token")
    tokens = register(s, "pi-a", "pi-b")
    cert_a = ca.issue("pi-a", "pi-a")
    status(TLSClient(s.port, ca.cert, token=tokens["pi-b"]).get("/v1/agent/desired"), 200)
    status(TLSClient(s.port, ca.cert, cert=cert_a).get("/v1/agent/desired"), 401)


def test_enrollment_allowlist_admits_only_listed_ids(ctx):
    path = os.path.join(ctx.tmp, "allow")
    with open(path, "w") as f:
        f.write("# warehouse 3\npi-wh3-*\nkiosk-1  # the lobby\n")
    s = ctx.server(env={"RAMP_ENROLL_ALLOWLIST": path})
    tok = status(s.admin.post("/v1/tokens", {"name": "factory", "role": "enroll"}), 201).json["token"]
    c = Client(s.port, tok)
    status(c.post("/v1/enroll", {"id": "pi-wh3-17", "platform": "rpi-arm64"}), 201)
    status(c.post("/v1/enroll", {"id": "kiosk-1", "platform": "rpi-arm64"}), 201)
    r = status(c.post("/v1/enroll", {"id": "kiosk-2", "platform": "rpi-arm64"}), 403)
    eq(r.json["field"], "id")
    status(s.admin.get("/v1/devices/kiosk-2"), 404)
    # operators register whom they like
    status(s.admin.post("/v1/enroll", {"id": "kiosk-3", "platform": "rpi-arm64"}), 201)


def test_attested_enrollment_needs_a_certificate_from_the_device_ca(ctx):
    ca = pki(ctx)
    s = start_tls_server(ctx, ca, env={"RAMP_TLS_CLIENT_CA": ca.cert, "RAMP_ENROLL_REQUIRE_CERT": "1"})
    tok = status(s.tls_admin.post("/v1/tokens", {"name": "factory", "role": "enroll"}), 201).json["token"]
    body = {"id": "pi-tpm-1", "platform": "rpi-arm64"}
    r = status(TLSClient(s.port, ca.cert, token=tok).post("/v1/enroll", body), 403)
    eq(r.json["field"], "certificate")
    cert = ca.issue("pi-tpm-1", "pi-tpm-1")
    # the certificate is the credential: no enroll token needed
    dev = TLSClient(s.port, ca.cert, cert=cert)
    status(dev.post("/v1/enroll", {"id": "pi-tpm-2", "platform": "rpi-arm64"}), 403)
    r = status(dev.post("/v1/enroll", body), 201)
    status(TLSClient(s.port, ca.cert, token=r.json["token"]).get("/v1/agent/desired"), 200)
    audit = status(s.tls_admin.get("/v1/audit"), 200).json["items"]
    check(any(e["actor"] == "cert:pi-tpm-1" and e["action"] == "device.register" for e in audit), audit)
    status(s.tls_admin.get("/v1/devices/pi-tpm-2"), 404)
