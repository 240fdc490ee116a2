"""ramp-agent with a device certificate against rampd's own TLS, and its
health-url check (AGENT_SPEC.md, docs/agent.md, docs/security.md).

mTLS: rampd serves HTTPS with a server certificate from one CA and asks
clients for a certificate from a second CA (RAMP_TLS_CLIENT_CA) under
RAMP_DEVICE_AUTH=cert, where a certificate alone authenticates a registered
device. The agent gets `cert`, `key` and `ca` and no device token; the
artifacts are uploaded to rampd, so the download goes to rampd over the same
mutual TLS. Enrollment (agent/lib/enroll.c) is tested three ways: a
device registered by an operator first goes on with the certificate alone;
an enroll token plus the certificate under RAMP_ENROLL_REQUIRE_CERT=1; and a
factory certificate alone, which enrolls the id its common name gives.

health-url: a small HTTP server stands in for the inference process's health
endpoint and answers from the version current/model holds and the reloads
the reload command logged (agentdev.HealthServer).
"""
import http.client
import json
import os
import signal
import ssl

from agentdev import (PLATFORM, AgentProc, DeviceEnv, ArtifactServer, HealthServer, access_statuses,
                      base_conf, blob, device_session, hexdigest, reload_cmd, reload_lines,
                      status_rows, until, wait_polls, wait_status)
from fleet import Signer, enroll
from pki import PKI, TLSClient, start_tls_server
from ramp import Response, check, eq, status
from runners import publish, set_stable

MODEL = "ocr"


class TLSAdmin(TLSClient):
    """An admin HTTPS client with the calls runners.publish, runners.set_stable and
    fleet.Signer make on server.admin (raw bodies, put)."""

    def request(self, method, path, body=None, token=..., headers=None, raw=None,
                ctype="application/json"):
        hdrs = dict(headers or {})
        tok = self.token if token is ... else token
        if tok:
            hdrs["Authorization"] = f"Bearer {tok}"
        data = raw if body is None else json.dumps(body).encode()
        if data is not None and ctype:
            hdrs.setdefault("Content-Type", ctype)
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=60,
                                                        context=self.ctx)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                b = r.read()
            except (ConnectionError, http.client.RemoteDisconnected):
                self.close()  # a kept-alive connection rampd closed meanwhile
                if attempt:
                    raise
                continue
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return Response(r.status, r.getheaders(), b)
        raise AssertionError("unreachable")

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)


def _ready(c):
    try:
        return c.get("/readyz").status == 200
    except (OSError, ssl.SSLError, http.client.HTTPException):
        c.close()
        return False


class MTLSEnv:
    """rampd on HTTPS (server CA "srv") authenticating devices by certificates of the
    device CA ("devices") alone; the admin client goes over HTTPS too. Versions are
    uploaded to rampd, so their URLs are rampd's own /v1/artifacts/<digest>."""

    def __init__(self, ctx, versions=("v1", "v2"), stable="v1", env=None):
        self.ctx = ctx
        self.srv_ca = PKI(ctx.tmp, "srv")
        self.dev_ca = PKI(ctx.tmp, "devices")
        e = {"RAMP_TLS_CLIENT_CA": self.dev_ca.cert, "RAMP_DEVICE_AUTH": "cert", "RAMP_ACCESS_LOG": "1"}
        e.update(env or {})
        self.s = start_tls_server(ctx, self.srv_ca, env=e)
        self.s.admin.close()
        self.s.admin = TLSAdmin(self.s.port, self.srv_ca.cert, token=self.s.admin_token)
        self.url = f"https://127.0.0.1:{self.s.port}"
        self.signer = Signer(ctx, self.s)
        self.blobs = {}
        for v in versions:
            self.blobs[v] = blob(v)
            publish(self.s, self.signer, MODEL, v, self.blobs[v], platform=PLATFORM)
        if stable:
            set_stable(self.s, MODEL, stable)

    def restart(self, timeout=180):
        """Restarts rampd and waits for /readyz over HTTPS."""
        self.s.stop()
        self.s.start(wait_ready=False)
        c = TLSClient(self.s.port, self.srv_ca.cert)
        until(lambda: self.s.proc.poll() is not None or _ready(c), "rampd ready again (TLS)", timeout)
        c.close()
        check(self.s.proc.poll() is None, f"rampd exited: {self.s.log()}")

    def register(self, dev):
        """Registers dev as an operator does (POST /v1/devices over HTTPS); its token."""
        r = status(self.s.admin.post("/v1/devices", [{"id": dev, "platform": PLATFORM}]), 201)
        return r.json["devices"][0]["token"]

    def device_cert(self, dev, ca=None):
        """(cert, key) files with CN dev, from ca (the device CA by default), named after both."""
        ca = ca or self.dev_ca
        return ca.issue(f"{ca.name}-{dev}", dev)

    def conf(self, cert, **extra):
        """No token: the certificate is the device's only credential."""
        return base_conf(self.url, None, self.signer.pub, cert=cert[0], key=cert[1],
                         ca=self.srv_ca.cert, **extra)

    def artifact_path(self, version):
        return f"/v1/artifacts/sha256:{hexdigest(self.blobs[version])}"

    def telemetry_versions(self, dev):
        return {r[0] for r in self.ctx.psql(self.s, "SELECT version FROM telemetry WHERE"
                                                    f" device_id = '{dev}' AND model = '{MODEL}'")}

    def downloads(self, version):
        """rampd's access log lines of the GETs of version's artifact."""
        needle = f'method=GET path="{self.artifact_path(version)}"'
        with open(self.s.log_path, errors="replace") as f:
            return [line for line in f if needle in line]


def test_agent_with_only_a_client_certificate_installs_from_rampd_over_mtls_and_sends_telemetry(ctx):
    with device_session(ctx):
        e = MTLSEnv(ctx)
        dev = "pi-mtls-1"
        e.register(dev)  # the token it answers is never given to the agent
        cert = e.device_cert(dev)
        # the artifact URL handed out is rampd's own, on the agent's controller origin
        desired = status(TLSClient(e.s.port, e.srv_ca.cert, cert=cert).get("/v1/agent/desired"), 200).json
        eq(desired["device_id"], dev)
        eq(desired["models"][0]["url"], e.url + e.artifact_path("v1"))

        a = AgentProc(ctx, e.conf(cert))
        st = a.store(MODEL)
        wait_status(ctx, e.s, dev, "v1", "installed", agent=a)
        eq(st.current(), "v1")
        eq(st.read(), e.blobs["v1"])

        n = len(status_rows(ctx, e.s, dev))
        set_stable(e.s, MODEL, "v2")
        wait_status(ctx, e.s, dev, "v2", "installed", after=n, agent=a)
        eq((st.current(), st.previous()), ("v2", "v1"))
        eq(st.read(), e.blobs["v2"])
        eq(st.read("previous"), e.blobs["v1"])
        states = [r[1] for r in status_rows(ctx, e.s, dev)[n:] if r[0] == "v2"]
        eq([x for i, x in enumerate(states) if i == 0 or states[i - 1] != x],
           ["downloading", "verifying", "installed"], "v2's statuses at rampd")

        # both files came from rampd, over the agent's certificate (cert mode takes nothing else)
        for v in ("v1", "v2"):
            lines = e.downloads(v)
            check(len(lines) == 1 and "status=200" in lines[0] and f"actor=device:{dev}" in lines[0],
                  f"{v} downloaded once from rampd as the device: {lines}")

        a.wait(lambda: "v2" in e.telemetry_versions(dev), "telemetry for ocr:v2 at rampd")
        check(e.telemetry_versions(dev) <= {"v1", "v2"}, f"telemetry versions: {e.telemetry_versions(dev)}")
        check(not os.path.exists(os.path.join(a.state_dir, "device.token")),
              "no token file: the certificate alone was the credential")
        refused = [x for x in access_statuses(e.s, "/v1/agent/desired") + access_statuses(e.s, "/v1/telemetry")
                   + access_statuses(e.s, "/v1/agent/status") if x in (401, 403)]
        eq(refused, [], "no device request was refused")


def test_agent_with_a_certificate_from_another_ca_is_refused_and_installs_nothing(ctx):
    with device_session(ctx):
        e = MTLSEnv(ctx)
        dev = "pi-mtls-2"
        e.register(dev)
        rogue = PKI(ctx.tmp, "rogue")
        a = AgentProc(ctx, e.conf(e.device_cert(dev, ca=rogue)))
        st = a.store(MODEL)
        a.wait(lambda: access_statuses(e.s, "/v1/agent/desired").count(401) >= 5,
               "5 polls refused with 401 at rampd")
        a.wait(lambda: "poll failed" in a.tail(10 ** 6) and "answered 401" in a.tail(10 ** 6),
               "the refusal (401) in the agent's log")
        eq(set(access_statuses(e.s, "/v1/agent/desired")), {401}, "every poll refused")
        eq(st.current(), None, "current not created")
        eq(st.versions(), [])
        eq(status_rows(ctx, e.s, dev), [], "no status reached rampd")
        eq(e.telemetry_versions(dev), set(), "no telemetry reached rampd")
        eq(e.downloads("v1"), [], "no download was tried")
        check(a.alive(), "the agent keeps polling")

        # the certificate was the only fault: the device CA's certificate, read on SIGHUP, works
        good = e.device_cert(dev)
        a.conf.update({"cert": good[0], "key": good[1]})
        a.write_conf()
        a.p.send_signal(signal.SIGHUP)
        wait_status(ctx, e.s, dev, "v1", "installed", agent=a)
        eq(st.current(), "v1")
        eq(st.read(), e.blobs["v1"])
        a.wait(lambda: "v1" in e.telemetry_versions(dev), "telemetry with the new certificate")


def test_agent_takes_a_renewed_certificate_on_sighup_for_polls_downloads_and_telemetry(ctx):
    with device_session(ctx):
        e = MTLSEnv(ctx)
        dev = "pi-mtls-3"
        e.register(dev)
        old = e.dev_ca.issue("old-" + dev, dev)
        a = AgentProc(ctx, e.conf(old))
        wait_status(ctx, e.s, dev, "v1", "installed", agent=a)
        a.wait(lambda: "v1" in e.telemetry_versions(dev), "telemetry with the first certificate")

        # renewal: new files under new names, the old ones removed, configuration re-read
        new = e.dev_ca.issue("new-" + dev, dev)
        a.conf.update({"cert": new[0], "key": new[1]})
        a.write_conf()
        for path in old:
            os.unlink(path)
        reloads = a.tail(10 ** 8).count("configuration reloaded")
        a.p.send_signal(signal.SIGHUP)
        a.wait(lambda: a.tail(10 ** 8).count("configuration reloaded") > reloads, "the configuration re-read")
        # a rampd restart closes every kept-alive connection: what follows is new TLS handshakes
        e.restart()
        t1 = ctx.psql(e.s, "SELECT now()")[0][0]
        a.wait(lambda: ctx.psql(e.s, f"SELECT 1 FROM telemetry WHERE device_id = '{dev}'"
                                     f" AND received_at > '{t1}'"),
               "telemetry sent with the renewed certificate", timeout=30)
        n = len(status_rows(ctx, e.s, dev))
        set_stable(e.s, MODEL, "v2")
        wait_status(ctx, e.s, dev, "v2", "installed", after=n, agent=a)
        eq(a.store(MODEL).read(), e.blobs["v2"])
        check("status=200" in "".join(e.downloads("v2")), f"v2 downloaded: {e.downloads('v2')}")


def test_agent_enrolls_over_mtls_with_its_certificate_and_labels(ctx):
    with device_session(ctx):
        e = MTLSEnv(ctx, env={"RAMP_ENROLL_REQUIRE_CERT": "1"})
        tok = status(e.s.admin.post("/v1/tokens", {"name": "factory", "role": "enroll"}), 201).json["token"]
        # without a certificate the enroll token alone is refused (403): the certificate counts
        bare = AgentProc(ctx, base_conf(e.url, None, e.signer.pub, ca=e.srv_ca.cert, enroll_token=tok,
                                        device_id="pi-tpm-8"), name="bare")
        bare.wait(lambda: "enrollment failed" in bare.tail() and "status=403" in bare.tail(),
                  "the refused enrollment in the log")
        check(not os.path.exists(os.path.join(bare.state_dir, "device.token")), "no token file")
        status(e.s.admin.get("/v1/devices/pi-tpm-8"), 404)
        eq(bare.stop(), 0)

        dev = "pi-tpm-7"
        a = AgentProc(ctx, e.conf(e.device_cert(dev), enroll_token=tok, device_id=dev,
                                  labels="site=wh3,tier=canary"))
        tokfile = os.path.join(a.state_dir, "device.token")
        a.wait(lambda: os.path.exists(tokfile), "device.token written")
        eq(oct(os.stat(tokfile).st_mode & 0o777), oct(0o600))
        wait_status(ctx, e.s, dev, "v1", "installed", agent=a)
        eq(a.store(MODEL).read(), e.blobs["v1"])
        d = status(e.s.admin.get(f"/v1/devices/{dev}"), 200).json
        eq({k: d["labels"].get(k) for k in ("site", "tier")}, {"site": "wh3", "tier": "canary"}, f"{d}")
        eq(d.get("platform"), PLATFORM)
        eq(access_statuses(e.s, "/v1/enroll").count(201), 1, "one enrollment")
        audit = status(e.s.admin.get("/v1/audit"), 200).json["items"]
        eq([x["actor"] for x in audit if x["action"] == "device.register"], ["factory"],
           "registered once, by the enrollment")


def test_agent_with_only_a_factory_certificate_enrolls_itself_as_the_id_it_names(ctx):
    """Zero-touch: no token and no enroll token, only a certificate whose CN is the device's
    id. The agent enrolls that id with its labels (audit actor cert:<id>), keeps the device
    token 0600, installs; a second agent for a registered device goes on with its certificate."""
    with device_session(ctx):
        e = MTLSEnv(ctx, env={"RAMP_ENROLL_REQUIRE_CERT": "1"})
        dev = "pi-tpm-9"
        a = AgentProc(ctx, e.conf(e.device_cert(dev), labels="site=wh9"))
        tokfile = os.path.join(a.state_dir, "device.token")
        a.wait(lambda: os.path.exists(tokfile), "device.token written")
        eq(oct(os.stat(tokfile).st_mode & 0o777), oct(0o600))
        wait_status(ctx, e.s, dev, "v1", "installed", agent=a)
        d = status(e.s.admin.get(f"/v1/devices/{dev}"), 200).json
        eq((d["labels"].get("site"), d.get("platform")), ("wh9", PLATFORM), f"{d}")
        audit = status(e.s.admin.get("/v1/audit"), 200).json["items"]
        eq([x["actor"] for x in audit if x["action"] == "device.register"], [f"cert:{dev}"])
        eq(a.stop(), 0)
        os.unlink(tokfile)  # the token lost: registered already (409), the certificate goes on
        b = a.start()
        b.wait(lambda: "registered already" in b.tail(), "the 409 taken as registered")
        n = len(status_rows(ctx, e.s, dev))
        set_stable(e.s, MODEL, "v2")
        wait_status(ctx, e.s, dev, "v2", "installed", after=n, agent=b)
        check(not os.path.exists(tokfile), "no token file without an enrollment")


# --- health-url ---

class Env(DeviceEnv):
    """DeviceEnv (plain rampd, v1 and v2, v1 stable) with an agent checked by a HealthServer."""

    def agent(self, warmup=0, fail=(), timeout=30):
        """An agent whose reload-cmd logs to reloads.log and whose health-url is a HealthServer."""
        rlog = os.path.join(self.ctx.tmp, "reloads.log")
        a = AgentProc(self.ctx, base_conf(self.s.url, self.tok, self.signer.pub), start=False)
        health = HealthServer(self.ctx, a.store(MODEL).path("current", "model"), rlog, warmup=warmup,
                              fail=fail)
        a.conf.update({"reload-cmd": reload_cmd(self.ctx, rlog), "health-url": health.url,
                       "health-timeout": timeout})
        return a.start(), health, rlog


def test_health_url_answering_503_then_200_gets_the_version_installed_only_after_the_200(ctx):
    with device_session(ctx):
        e = Env(ctx)
        a, health, rlog = e.agent(warmup=2)
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        eq([g[3] for g in health.gets("v1")], [503, 503, 200], "v1: two 503s after its reload, then 200")
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        row = e.wait("v2", "installed", after=n, agent=a)
        gets = health.gets("v2")
        eq([g[3] for g in gets], [503, 503, 200], f"v2's health GETs: {gets}")
        eq({g[2] for g in gets}, {2}, "every v2 GET came after v2's reload")
        first_ok = next(g[0] for g in gets if g[3] == 200)
        check(row[3] > first_ok, f"installed ({row[3]}) after the first 200 ({first_ok})")
        eq([r for r in e.rows() if r[0] == "v2" and r[1] == "failed"], [])
        eq([x[1] for x in reload_lines(rlog)], ["v1", "v2"])
        eq((st.current(), st.previous()), ("v2", "v1"))
        eq(st.read(), e.blobs["v2"])
        wait_polls(e.s, a, 5)
        eq(len(health.gets()), 6, "no health check without a swap")


def test_health_url_never_answering_2xx_fails_the_version_and_restores_the_previous_one(ctx):
    with device_session(ctx):
        e = Env(ctx)
        # 5 s, not 1: the reload command must finish within it too, and a busy
        # machine can take over a second to run a shell script
        a, health, rlog = e.agent(fail=("v2",), timeout=5)
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        row = e.wait("v2", "failed", after=n, agent=a)
        check(row[2].startswith("health check:"), f"detail: {row}")
        check("previous version v1 restored" in row[2], f"detail: {row}")
        check(health.url in row[2] and "503" in row[2], f"the detail names the URL and its answer: {row}")
        gets = health.gets("v2")
        check(gets and all(g[3] == 503 for g in gets), f"v2 was checked and never passed: {gets}")
        eq(st.current(), "v1")
        eq(st.read(), e.blobs["v1"])
        eq([x[1] for x in reload_lines(rlog)], ["v1", "v2", "v1"], "v1 reloaded after the restore")
        eq([r for r in e.rows() if r[0] == "v2" and r[1] == "installed"], [])
        wait_polls(e.s, a, 5)
        eq(len(health.gets("v2")), len(gets), "a refused version is not checked again")
        eq(len(reload_lines(rlog)), 3)
