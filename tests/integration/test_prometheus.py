"""Prometheus as a gate metric provider (issue 20, part 2), against the real
Prometheus from Debian: it scrapes two ramp-runner processes (cloud
endpoints) every second; a rollout of their model gated on a PromQL error
rate and p95 latency promotes when the new version is healthy and rolls back
when it errors; a query with a syntax error, an unreachable Prometheus and a
missing token each leave a rollout paused with a clear inconclusive reason
(never a rollback), and a bearer token from RAMP_PROM_SECRETS_DIR is sent."""
import base64
import http.server
import json
import os
import shutil
import threading
import time
import urllib.parse
import urllib.request

from fleet import Signer, enroll
from ramp import Skip, check, eq, free_port, spawn_listening, status, wait_for
from runners import PLATFORM, Runner, build_model, check_exposition, publish, running

MODEL = "scorer"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
LABELS = '{model="{{model}}",version="{{version}}"}'
ERROR_RATE = (f"sum(rate(ramp_runner_model_errors_total{LABELS}[10s]))"
              f" / sum(rate(ramp_runner_model_requests_total{LABELS}[10s]))")
P95 = ("histogram_quantile(0.95, sum by (le) "
       f"(rate(ramp_runner_model_request_duration_seconds_bucket{LABELS}[10s])))")


class Prometheus:
    """The prometheus binary on a free loopback port, its own storage, a
    generated config scraping targets every second."""

    def __init__(self, ctx, targets):
        exe = shutil.which("prometheus")
        if exe is None:
            raise Skip("Debian's prometheus is not installed")
        self.dir = os.path.join(ctx.tmp, "prometheus")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: runners\n    static_configs:\n"
                    f"      - targets: {json.dumps(targets)}\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")

        def args(port):
            return [exe, f"--config.file={conf}", f"--storage.tsdb.path={self.dir}/data",
                    f"--web.listen-address=127.0.0.1:{port}"]
        self.p, self.port = spawn_listening(args, self.log, lambda port: self.ready(port),
                                            refused=b"address already in use", timeout=90)
        self.url = f"http://127.0.0.1:{self.port}"

    @staticmethod
    def ready(port):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, q):
        data = urllib.parse.urlencode({"query": q}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/query", data=data, timeout=10) as r:
            return json.loads(r.read())["data"]["result"]

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=30)
        except Exception:
            self.p.kill()
            self.p.wait()
        self.log.close()


class Load:
    """Inference requests to every runner, a few a second each, until stopped
    (bounded: at most 20 minutes)."""

    def __init__(self, runners):
        self.runners = runners
        self.stopped = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        deadline = time.time() + 1200
        while not self.stopped.is_set() and time.time() < deadline:
            for r in self.runners:
                r.infer()
            self.stopped.wait(0.05)

    def stop(self):
        self.stopped.set()
        self.t.join(timeout=60)


def rollout(s, rid):
    return status(s.admin.get(f"/v1/rollouts/{rid}"), 200).json


def gated_policy(address, window="10s", **prom):
    def metric(name, query, threshold):
        return {"name": name, "threshold": threshold,
                "provider": {"prometheus": {"address": address, "query": query, "timeout": "5s",
                                            **prom}}}
    metrics = [metric("cloud_error_rate", ERROR_RATE, "< 1%"), metric("cloud_latency_p95", P95, "< 500ms")]
    # a busy machine's first scrapes may come late: extend a window without data
    return {"stages": [{"name": "canary", "size": 0.5, "validation_window": window, "metrics": metrics},
                       {"name": "full", "size": 1.0, "validation_window": window}],
            "rollback": {"automatic": True, "on_inconclusive": "extend", "failure_limit": 1}}


def wait_state(s, rid, states, timeout=240):
    return wait_for(lambda: rollout(s, rid)["state"] in states and rollout(s, rid), timeout=timeout,
                    interval=0.5, msg=f"rollout {rid} in {states}: {json.dumps(rollout(s, rid))[-3000:]}")


def test_promql_gates_promote_a_healthy_version_and_roll_back_an_erroring_one(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    tokens = enroll(s, 2, platform=PLATFORM, prefix="cloud")
    publish(s, signer, MODEL, "v1", build_model(ctx, "affine", 1), stable=True)
    publish(s, signer, MODEL, "v2", build_model(ctx, "affine", 2))
    # oneop takes a [1, 1] input: every [1, 4] request to it is refused, an error
    publish(s, signer, MODEL, "v3", build_model(ctx, "oneop"))
    with running(ctx):
        runners = [Runner(ctx, s, tokens[d], signer.pub, name=d) for d in sorted(tokens)]
        for r in runners:
            r.wait_version("v1")
        prom = Prometheus(ctx, [f"127.0.0.1:{r.port}" for r in runners])
        load = Load(runners)
        try:
            st, text = runners[0].get("/metrics")
            check_exposition(text)
            # Prometheus has scraped both runners' per-version series, twice
            wait_for(lambda: len(prom.query(f'rate(ramp_runner_model_requests_total{{version="v1"}}[10s]) > 0'))
                     == 2, timeout=120, interval=0.5, msg="rate() of both runners' v1 requests")

            rid = status(s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2",
                                                       "policy": gated_policy(prom.url)}), 201).json["id"]
            ro = wait_state(s, rid, ("succeeded", "rolled_back", "paused"))
            eq(ro["state"], "succeeded", json.dumps(ro["events"]))
            rows = {(a["metric"], a["arm"]): a for a in ro["analysis"] if a["stage"] == 0}
            canary = rows[("cloud_error_rate", "canary")]
            eq(canary["result"], "pass")
            eq(canary["value"], 0)
            eq(canary["threshold"], "< 1%")
            check('version="v2"' in canary["query"] and 'model="scorer"' in canary["query"], canary)
            # the default baseline query: the same text for the baseline version
            check('version="v1"' in rows[("cloud_error_rate", "baseline")]["query"], rows)
            lat = rows[("cloud_latency_p95", "canary")]
            eq(lat["result"], "pass")
            check(0 < lat["value"] < 0.5, lat)
            check(any(e["type"] == "promoted" for e in ro["events"]), ro["events"])
            for r in runners:
                r.wait_version("v2")

            rid = status(s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v3",
                                                       "policy": gated_policy(prom.url)}), 201).json["id"]
            ro = wait_state(s, rid, ("succeeded", "rolled_back", "paused"))
            eq(ro["state"], "rolled_back", json.dumps(ro["events"]))
            breach = [e for e in ro["events"] if e["type"] == "breach"]
            check(breach and breach[0]["detail"].startswith("cloud_error_rate ") and
                  "breaches < 1% (prometheus; baseline " in breach[0]["detail"], ro["events"])
            check('version="v3"' in breach[0]["detail"], breach)
            canary = next(a for a in ro["analysis"] if a["metric"] == "cloud_error_rate" and a["arm"] == "canary")
            eq(canary["result"], "fail")
            check(canary["value"] > 0.9, canary)
            for r in runners:
                r.wait_version("v2")
        finally:
            load.stop()
            prom.stop()


class TokenStub(http.server.BaseHTTPRequestHandler):
    """An /api/v1/query that answers only "Bearer s3cret" or ramp:pa55 in
    basic auth, with one sample."""
    seen = []
    allowed = ("Bearer s3cret", "Basic " + base64.b64encode(b"ramp:pa55").decode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        TokenStub.seen.append((self.headers.get("Authorization"), urllib.parse.parse_qs(body)))
        if self.headers.get("Authorization") not in TokenStub.allowed:
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b"unauthorized\n")
            return
        out = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [time.time(), "0.25"]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


def one_stage(address, query, window="1h", **prom):
    return {"stages": [{"name": "full", "size": 1.0, "validation_window": window, "metrics": [
        {"name": "cloud_check", "threshold": "< 1", "consecutive_error_limit": 3,
         "provider": {"prometheus": {"address": address, "query": query, "timeout": 2, **prom}}}]}],
        "rollback": {"automatic": True, "on_inconclusive": "pause", "failure_limit": 1}}


def test_promql_policy_example_is_stored_and_bad_provider_blocks_are_refused(ctx):
    s = ctx.server()
    with open(os.path.join(ROOT, "policies", "cloud-promql.yaml"), "rb") as f:
        status(s.admin.request("PUT", "/v1/policies/cloud-promql", raw=f.read(),
                               ctype="application/yaml"), 201)
    got = status(s.admin.get("/v1/policies/cloud-promql"), 200).json["policy"]
    metrics = got["stages"][0]["metrics"]
    eq([m["name"] for m in metrics], ["cloud_error_rate", "cloud_latency_p95", "error_rate"])
    pm = metrics[0]["provider"]["prometheus"]
    eq(pm["address"], "http://prometheus:9090")
    eq(pm["timeout"], 5)
    check(pm["query"].startswith('sum(rate(ramp_runner_model_errors_total{model="{{model}}"'), pm)
    eq(metrics[1]["consecutive_error_limit"], 4)
    check("provider" not in metrics[2], metrics[2])
    eq(got["stages"][2]["metrics"][0]["provider"], metrics[0]["provider"])  # inherited
    ok = {"name": "cloud_x", "threshold": "< 1%",
          "provider": {"prometheus": {"address": "http://127.0.0.1:9090", "query": "up"}}}
    bad = [
        ({**ok, "provider": {"prometheus": {**ok["provider"]["prometheus"], "step": "1m"}}},
         "stages[0].metrics[0].provider.prometheus.step"),
        ({**ok, "provider": {"datadog": {}}}, "stages[0].metrics[0].provider.datadog"),
        ({**ok, "provider": {"prometheus": {"address": "http://127.0.0.1:9090",
                                            "query": "up{v=\"{{vresion}}\"}"}}},
         "stages[0].metrics[0].provider.prometheus.query"),
        ({**ok, "provider": {"prometheus": {**ok["provider"]["prometheus"],
                                            "auth": {"bearer_token_file": "/etc/passwd"}}}},
         "stages[0].metrics[0].provider.prometheus.auth.bearer_token_file"),
        ({**ok, "provider": {"prometheus": {**ok["provider"]["prometheus"], "timeout": "1m"}}},
         "stages[0].metrics[0].provider.prometheus.timeout"),
        ({**ok, "name": "error_rate"}, "stages[0].metrics[0].name"),
    ]
    for metric, field in bad:
        body = {"stages": [{"name": "full", "size": 1.0, "validation_window": "1m", "metrics": [metric]}]}
        r = status(s.admin.put("/v1/policies/bad", body), 422)
        eq(r.json["field"], field, json.dumps(body))
        status(s.admin.get("/v1/policies/bad"), 404)


def test_promql_errors_are_inconclusive_with_their_reason_never_a_rollback(ctx):
    secrets = os.path.join(ctx.tmp, "secrets")
    os.makedirs(secrets)
    with open(os.path.join(secrets, "prom.token"), "w") as f:
        f.write("s3cret\n")
    with open(os.path.join(secrets, "wrong.token"), "w") as f:
        f.write("nope")
    with open(os.path.join(secrets, "prom.password"), "w") as f:
        f.write("pa55\n")
    s = ctx.server(env={"RAMP_PROM_SECRETS_DIR": secrets})
    signer = Signer(ctx, s)
    prom = Prometheus(ctx, [])
    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TokenStub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    stub_url = f"http://127.0.0.1:{stub.server_address[1]}"
    closed = f"http://127.0.0.1:{free_port()}"
    try:
        cases = {
            "syntax": (one_stage(prom.url, "sum(rate(up{job=\"{{model}}\"}[1m])"),
                       ["bad_data", "parse error", "sum(rate(up{job=\"syntax\"}[1m])", "3 of 3 in a row"]),
            "unreachable": (one_stage(closed, "up"), [f"could not query {closed}/api/v1/query"]),
            "notoken": (one_stage(stub_url, "up", auth={"bearer_token_file": "missing.token"}),
                        ["missing.token", "RAMP_PROM_SECRETS_DIR"]),
            "wrongtoken": (one_stage(stub_url, "up", auth={"bearer_token_file": "wrong.token"}),
                           ["HTTP 401: not a Prometheus API answer"]),
            "token": (one_stage(stub_url, "up", auth={"bearer_token_file": "prom.token"}), None),
            "basic": (one_stage(stub_url, "up", auth={"basic_auth": {"username": "ramp",
                                                                     "password_file": "prom.password"}}),
                      None),
        }
        ids = {}
        for model, (pol, _) in cases.items():
            publish(s, signer, model, "v1", b"one", stable=True, platform=PLATFORM)
            publish(s, signer, model, "v2", b"two", platform=PLATFORM)
            ids[model] = status(s.admin.post("/v1/rollouts", {"model": model, "version": "v2", "policy": pol}),
                                201).json["id"]
        for model, (_, words) in cases.items():
            if words is None:
                continue
            ro = wait_state(s, ids[model], ("paused", "rolled_back", "succeeded"), timeout=120)
            eq(ro["state"], "paused", f"{model}: {json.dumps(ro['events'])}")
            inc = [e for e in ro["events"] if e["type"] == "inconclusive"]
            check(inc, ro["events"])
            for w in words:
                check(w in inc[0]["detail"], f"{model}: {w!r} not in {inc[0]['detail']!r}")
            check("before its window's end" in inc[0]["detail"], inc[0])
            check(not [e for e in ro["events"] if e["type"] in ("breach", "rolled_back")], ro["events"])
            row = next(a for a in ro["analysis"] if a["arm"] == "canary")
            eq(row["result"], "inconclusive")
            eq(row["value"], None)
            check(words[0] in row["note"], row)
        # the right token passes: 0.25 < 1, and the stage decides at its window's end
        ro = rollout(s, ids["token"])
        eq(ro["state"], "progressing")
        row = wait_for(lambda: next((a for a in rollout(s, ids["token"])["analysis"]
                                     if a["arm"] == "canary" and a["result"] == "pass"), None),
                       msg="the token-checked query's value")
        eq(row["value"], 0.25)
        eq(row["query"], "up")
        # the dashboard's charts: a metric of the policy's own has its history
        hist = status(s.admin.get(f"/v1/rollouts/{ids['token']}/history?metric=cloud_check"), 200).json
        check(any(i["arm"] == "canary" and i["value"] == 0.25 for i in hist["items"]), hist)
        eq(status(s.admin.get(f"/v1/rollouts/{ids['token']}/history?metric=cloud_nope"), 400).json["field"],
           "metric")
        status(s.admin.get("/v1/rollouts/99999/history?metric=cloud_check"), 404)
        wait_for(lambda: next((a for a in rollout(s, ids["basic"])["analysis"]
                               if a["arm"] == "canary" and a["result"] == "pass"), None),
                 msg="the basic-auth query's value")
        auths = {a for a, _ in TokenStub.seen}
        eq(auths, {*TokenStub.allowed, "Bearer nope"})  # a missing file sends nothing
        q = next(b for a, b in TokenStub.seen if a == "Bearer s3cret")
        eq(q["query"], ["up"])
        eq(q["timeout"], ["2s"])
        status(s.admin.get("/healthz"), 200)
    finally:
        stub.shutdown()
        prom.stop()
