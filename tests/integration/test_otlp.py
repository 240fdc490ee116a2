"""OTLP/HTTP metrics in (POST /otlp/v1/metrics): the real OpenTelemetry
JavaScript SDK exporting over protobuf and JSON, with and without gzip;
cumulative streams counted once across rounds, retries and two replicas;
a rollout gated on p95 latency and error rate fed only by OTLP; and bad
bodies refused with nothing stored."""
import gzip
import json
import os
import select
import shutil
import struct
import subprocess
import threading
import time

from fleet import Fleet, publish, rollout, Signer, enroll
from ramp import ROOT, Skip, check, eq, status, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SDK_JS = os.path.join(HERE, "otlp_sdk.js")
NPM_PKGS = ["@opentelemetry/api", "@opentelemetry/sdk-metrics", "@opentelemetry/resources",
            "@opentelemetry/exporter-metrics-otlp-proto", "@opentelemetry/exporter-metrics-otlp-http"]
PB = "application/x-protobuf"


# --- a minimal protobuf writer for hand-made test bodies (the server decodes
# with protobuf-c's generated code; this only builds inputs) ---

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field, payload):
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _f64(field, v, fmt="<Q"):
    return _varint(field << 3 | 1) + struct.pack(fmt, v)


def _kv(k, v):
    return _ld(1, k.encode()) + _ld(2, _ld(1, v.encode()))


def pb_sum_request(device, version, value, start_ns, time_ns, model="ocr", name="ramp.inference.requests"):
    """An ExportMetricsServiceRequest with one cumulative monotonic sum point."""
    res = b"".join(_ld(1, _kv(k, v)) for k, v in
                   (("device.id", device), ("ramp.model.name", model), ("ramp.model.version", version)))
    point = _f64(2, start_ns) + _f64(3, time_ns) + _f64(4, float(value), "<d")
    sum_ = _ld(1, point) + _varint(2 << 3) + _varint(2) + _varint(3 << 3) + _varint(1)
    metric = _ld(1, name.encode()) + _ld(7, sum_)
    scope_metrics = _ld(1, _ld(1, b"test")) + _ld(2, metric)
    rm = _ld(1, res) + _ld(2, scope_metrics)
    return _ld(1, rm)


def json_gauge_request(device, version, name, value, time_ns, model="ocr"):
    attrs = [{"key": k, "value": {"stringValue": v}} for k, v in
             (("device.id", device), ("ramp.model.name", model), ("ramp.model.version", version))]
    return {"resourceMetrics": [{"resource": {"attributes": attrs}, "scopeMetrics": [{
        "scope": {"name": "test"},
        "metrics": [{"name": name, "gauge": {"dataPoints": [
            {"timeUnixNano": str(time_ns), "asDouble": value}]}}]}]}]}


def now_ns():
    import time
    return int(time.time() * 1e9)


def stored(ctx, s, where="true", what="count(*)"):
    v = ctx.psql(s, f"SELECT {what} FROM telemetry WHERE {where}")[0][0]
    return int(float(v)) if v not in ("", None) else 0


def metric(s, name):
    body = status(s.client(token=None).get("/metrics"), 200).body.decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def register(s, *ids):
    r = status(s.admin.post("/v1/devices", [{"id": i, "platform": "rpi-arm64"} for i in ids]), 201)
    return {d["id"]: d["token"] for d in r.json["devices"]}


# --- the real SDK ---

_npm_lock = threading.Lock()


def sdk_modules(ctx):
    """build/npm/node_modules with the OpenTelemetry packages, installed from
    the npm registry when missing; Skip only when npm cannot reach it."""
    build = os.path.abspath(ctx.build if hasattr(ctx, "build") else os.path.join(ROOT, "build"))
    mods = os.path.join(build, "npm", "node_modules")
    with _npm_lock:
        if all(os.path.isdir(os.path.join(mods, p)) for p in NPM_PKGS):
            return mods
        if shutil.which("npm") is None or shutil.which("node") is None:
            raise AssertionError("node and npm are test dependencies (TEST_DEB_PKGS)")
        p = subprocess.run(["npm", "install", "--prefix", os.path.join(build, "npm"), "--no-audit",
                            "--no-fund"] + NPM_PKGS, capture_output=True, text=True, timeout=900)
        if p.returncode != 0:
            err = p.stderr.strip()[-400:]
            if any(w in err for w in ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "network")):
                raise Skip(f"npm cannot reach the registry: {err}")
            raise AssertionError(f"npm install failed: {err}")
    return mods


def run_sdk(ctx, s, devices, rounds=3, interval_ms=200, temporality="cumulative", model="ocr",
            background=False, devices_file=None):
    mods = sdk_modules(ctx)
    cfg = {"url": s.url, "model": model, "rounds": rounds, "interval_ms": interval_ms,
           "temporality": temporality, "devices": devices}
    if devices_file:
        cfg["devices_file"] = devices_file
    env = dict(os.environ, NODE_PATH=mods)
    args = ["node", SDK_JS, json.dumps(cfg)]
    if background:
        return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"SDK script failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def warm_sdk(ctx, s, rounds, interval_ms):
    """The SDK script started and its modules loaded before the rollout
    starts its clock (loading takes seconds on a busy machine); returns the
    process and the file to write its devices to. Its output is drained from
    then on, so it never blocks on a full pipe."""
    path = os.path.join(ctx.tmp, "sdk-devices.json")
    p = run_sdk(ctx, s, None, rounds=rounds, interval_ms=interval_ms, background=True,
                devices_file=path)
    fd, buf, end = p.stdout.fileno(), b"", time.time() + 180
    while b"\n" not in buf:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.time()))
        chunk = os.read(fd, 4096) if r else b""
        if not chunk:
            p.kill()
            raise AssertionError(f"the SDK script did not get ready: {buf!r} {p.stderr.read()[-2000:]}")
        buf += chunk
    eq(buf.split(b"\n")[0], b"ready")
    threading.Thread(target=lambda: [None for _ in iter(lambda: os.read(fd, 65536), b"")],
                     daemon=True).start()
    return p, path


def hand_over(path, devices):
    with open(path + ".tmp", "w") as f:
        json.dump(devices, f)
    os.rename(path + ".tmp", path)


def dev(i, token, version, encoding, gzip_=False, latency=20.0, error_rate=0.0, requests=50):
    return {"id": i, "token": token, "version": version, "encoding": encoding, "gzip": gzip_,
            "latency_ms": latency, "error_rate": error_rate, "requests": requests}


def test_sdk_exports_over_both_encodings_count_cumulative_streams_once(ctx):
    s = ctx.server()
    toks = register(s, "p-1", "pz-1", "j-1", "jz-1")
    devs = [dev("p-1", toks["p-1"], "v1", "proto", error_rate=0.1),
            dev("pz-1", toks["pz-1"], "v1", "proto", gzip_=True),
            dev("j-1", toks["j-1"], "v2", "json", error_rate=0.2),
            dev("jz-1", toks["jz-1"], "v2", "json", gzip_=True)]
    out = run_sdk(ctx, s, devs, rounds=3)
    # three cumulative exports per stream; each request counted once
    for d in devs:
        i = d["id"]
        eq(stored(ctx, s, f"device_id = '{i}'", "sum(requests)"), out["requests"][i], i)
        eq(stored(ctx, s, f"device_id = '{i}'", "sum(errors)"), out["errors"][i], i)
        # one report per export that carried new inferences (the SDK's last
        # export at shutdown repeats the same sums: stale, only gauges)
        eq(stored(ctx, s, f"device_id = '{i}' AND requests > 0"), 3, f"{i}: one report per export")
    eq(out["requests"]["p-1"], 150)
    eq(out["errors"]["j-1"], 30)
    # the latency histogram and the gauges, in ramp's units
    rows = ctx.psql(s, "SELECT version, lat_bounds[2], lat_counts, cpu_pct, temperature_c"
                       " FROM telemetry WHERE device_id = 'j-1' ORDER BY ts LIMIT 1")
    eq(rows[0][0], "v2")
    eq(float(rows[0][1]), 10.0)  # the SDK's default bounds in ms, 0 dropped: 5, 10, 25, ...
    eq(sum(int(c) for c in rows[0][2].strip("{}").split(",")), 50)
    eq(float(rows[0][3]), 35.0)
    eq(float(rows[0][4]), 48.5)
    check(metric(s, "ramp_otlp_unknown_data_points_total") >= 12, "process.uptime counted as unknown")
    check(metric(s, "ramp_otlp_requests_total") >= 12)


def test_sdk_delta_temporality_is_stored_as_sent(ctx):
    s = ctx.server()
    ing = status(s.admin.post("/v1/tokens", {"name": "gw", "role": "ingest"}), 201).json["token"]
    register(s, "d-1", "d-2")
    devs = [dev("d-1", ing, "v1", "proto", requests=7), dev("d-2", ing, "v1", "json", requests=9)]
    out = run_sdk(ctx, s, devs, rounds=2, temporality="delta")
    eq(stored(ctx, s, "device_id = 'd-1'", "sum(requests)"), out["requests"]["d-1"])
    eq(stored(ctx, s, "device_id = 'd-2'", "sum(requests)"), 18)


def test_retries_and_out_of_order_points_count_once(ctx):
    s = ctx.server()
    tok = register(s, "r-1")["r-1"]
    c = s.client(token=tok)
    t0 = now_ns()
    start = t0 - 5 * 10**9
    bodies = [pb_sum_request("r-1", "v1", 10, start, t0), pb_sum_request("r-1", "v1", 25, start, t0 + 10**9),
              pb_sum_request("r-1", "v1", 10, start, t0),          # a retry of the first: stale
              pb_sum_request("r-1", "v1", 25, start, t0 + 10**9),  # the second again
              pb_sum_request("r-1", "v1", 4, t0 + 2 * 10**9, t0 + 3 * 10**9)]  # a restart: reset
    for b in bodies:
        r = status(c.post("/otlp/v1/metrics", raw=b, ctype=PB), 200)
        eq(r.body, b"", "no partial_success")
    eq(stored(ctx, s, "device_id = 'r-1'", "sum(requests)"), 29)


def test_the_same_stream_at_two_replicas_counts_once(ctx):
    s1 = ctx.server()
    s2 = ctx.server(database=s1.database, admin_token=s1.admin_token)
    tok = register(s1, "two-1")["two-1"]
    t0 = now_ns()
    start = t0 - 5 * 10**9
    points = [(10, t0), (30, t0 + 10**9), (45, t0 + 2 * 10**9)]
    errs = []

    def send(server, v, t):
        r = server.client(token=tok).post("/otlp/v1/metrics", raw=pb_sum_request("two-1", "v1", v, start, t),
                                           ctype=PB)
        if r.status != 200:
            errs.append(r)

    # a collector that fans out (or retries against the other replica):
    # every point reaches both, at the same time
    for v, t in points:
        ts = [threading.Thread(target=send, args=(srv, v, t)) for srv in (s1, s2)]
        for th in ts:
            th.start()
        for th in ts:
            th.join()
    eq(errs, [])
    eq(stored(ctx, s1, "device_id = 'two-1'", "sum(requests)"), 45)
    eq(int(ctx.psql(s1, "SELECT count(*) FROM otlp_streams")[0][0]), 1)


def test_partial_success_names_the_refused_points(ctx):
    s = ctx.server()
    tok = register(s, "ps-1")["ps-1"]
    c = s.client(token=tok)
    body = json_gauge_request("ps-1", "v1", "system.cpu.utilization", 0.5, now_ns())
    bad = json_gauge_request("ps-1", "v1", "system.memory.utilization", 7.0, now_ns())
    body["resourceMetrics"] += bad["resourceMetrics"]
    r = status(c.post("/otlp/v1/metrics", body), 200)
    eq(r.json["partialSuccess"]["rejectedDataPoints"], "1")
    check("system.memory.utilization" in r.json["partialSuccess"]["errorMessage"], r.json)
    eq(stored(ctx, s, "device_id = 'ps-1' AND cpu_pct = 50"), 1)
    eq(stored(ctx, s, "mem_pct IS NOT NULL"), 0)


def test_bad_bodies_are_refused_and_store_nothing(ctx):
    s = ctx.server()
    toks = register(s, "b-1", "b-2")
    c = s.client(token=toks["b-1"])
    good = pb_sum_request("b-1", "v1", 5, now_ns() - 10**9, now_ns())
    cases = [
        ("malformed protobuf", dict(raw=b"\x0a\xff\xff\xff\xff\x0f garbage", ctype=PB), 400, "protobuf"),
        ("truncated protobuf", dict(raw=good[:-3], ctype=PB), 400, "truncated"),
        ("malformed JSON", dict(raw=b'{"resourceMetrics": [', ctype="application/json"), 400, "JSON"),
        ("wrong JSON types", dict(raw=b'{"resourceMetrics": {}}', ctype="application/json"), 400,
         "resourceMetrics"),
        ("corrupt gzip", dict(raw=gzip.compress(good)[:-8] + b"\0" * 8, ctype=PB,
                              headers={"Content-Encoding": "gzip"}), 400, "gzip"),
        ("gzip bomb", dict(raw=gzip.compress(b"\0" * (64 * 1024 * 1024), 9), ctype=PB,
                           headers={"Content-Encoding": "gzip"}), 413, "inflates"),
        ("unknown encoding", dict(raw=good, ctype=PB, headers={"Content-Encoding": "br"}), 415, "encoding"),
        ("wrong content type", dict(raw=good, ctype="text/plain"), 415, "content type"),
        ("another device's id", dict(raw=pb_sum_request("b-2", "v1", 5, now_ns() - 10**9, now_ns()),
                                     ctype=PB), 403, "not this device"),
        ("unknown device", dict(raw=pb_sum_request("nope-1", "v1", 5, now_ns() - 10**9, now_ns()),
                                ctype=PB, token=status(s.admin.post("/v1/tokens", {"name": "g", "role": "ingest"}),
                                                       201).json["token"]), 400, "unknown device"),
        ("wrong token", dict(raw=good, ctype=PB, token="rd_not-a-token"), 401, ""),
        ("no token", dict(raw=good, ctype=PB, token=None), 401, ""),
    ]
    for what, kw, code, word in cases:
        r = c.post("/otlp/v1/metrics", **kw)
        eq(r.status, code, f"{what}: {r}")
        check(word.lower() in r.body.decode(errors="replace").lower(), f"{what}: {r.body[:300]}")
        eq(stored(ctx, s), 0, f"{what}: nothing stored")
        eq(int(ctx.psql(s, "SELECT count(*) FROM otlp_streams WHERE state <> ''")[0][0]), 0, what)
    # and the same good body is then taken
    status(c.post("/otlp/v1/metrics", raw=good, ctype=PB), 200)
    eq(stored(ctx, s, "device_id = 'b-1'", "sum(requests)"), 5)


# --- a rollout gated on OTLP telemetry alone ---

GATES = [{"name": "inference_latency_p95", "threshold": "< 200ms"},
         {"name": "error_rate", "threshold": "< 5%"}]


def otlp_rollout(ctx, s, windows):
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    tokens = enroll(s, 20)
    pol = {"stages": [{"name": "canary", "size": 0.1, "validation_window": windows[0], "metrics": GATES},
                      {"name": "full", "size": 1.0, "validation_window": windows[1]}],
           "rollback": {"on_inconclusive": "extend"}}
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    fleet = Fleet(s, tokens, "ocr")
    fleet.poll_all()
    canary = sorted(d for d, v in fleet.running.items() if v == "v2")
    baseline = sorted(d for d, v in fleet.running.items() if v == "v1")[:4]
    eq(len(canary), 2)
    return rid, fleet, tokens, canary, baseline


def sdk_fleet(tokens, canary, baseline, canary_latency, canary_errors):
    out = []
    for k, d in enumerate(canary + baseline):
        is_canary = d in canary
        out.append(dev(d, tokens[d], "v2" if is_canary else "v1", "proto" if k % 2 == 0 else "json",
                       gzip_=k % 3 == 0, latency=canary_latency if is_canary else 20.0,
                       error_rate=canary_errors if is_canary else 0.0, requests=40))
    return out


def test_rollout_gated_on_otlp_p95_and_errors_promotes_when_healthy(ctx):
    s = ctx.server(env={"RAMP_EVAL_INTERVAL": "1"})
    p, path = warm_sdk(ctx, s, rounds=400, interval_ms=250)
    rid, fleet, tokens, canary, baseline = otlp_rollout(ctx, s, ("3s", "1s"))
    hand_over(path, sdk_fleet(tokens, canary, baseline, 20.0, 0.0))
    try:
        def done():
            fleet.poll_all()
            return rollout(s, rid)["state"] in ("succeeded", "rolled_back", "failed")
        wait_for(done, timeout=90, interval=0.5, msg="rollout ends")
    finally:
        p.kill()
        p.wait()
    ro = rollout(s, rid)
    eq(ro["state"], "succeeded", json.dumps(ro["events"])[-1500:])
    passed = {a["metric"] for a in ro["analysis"] if a["arm"] == "canary" and a["result"] == "pass"}
    check({"inference_latency_p95", "error_rate"} <= passed, ro["analysis"])
    fleet.close()


def test_rollout_gated_on_otlp_p95_and_errors_rolls_back_when_bad(ctx):
    s = ctx.server(env={"RAMP_EVAL_INTERVAL": "1"})
    rid, fleet, tokens, canary, baseline = otlp_rollout(ctx, s, ("1h", "1h"))
    p = run_sdk(ctx, s, sdk_fleet(tokens, canary, baseline, 400.0, 0.2), rounds=400, interval_ms=250,
                background=True)
    try:
        wait_for(lambda: rollout(s, rid)["state"] == "rolled_back", timeout=90, interval=0.5,
                 msg="rollback")
    finally:
        p.kill()
        p.wait()
    ro = rollout(s, rid)
    breach = [e for e in ro["events"] if e["type"] == "breach"]
    check(breach and ("inference_latency_p95" in breach[0]["detail"] or "error_rate" in breach[0]["detail"]),
          ro["events"])
    fails = {a["metric"]: a for a in ro["analysis"] if a["arm"] == "canary" and a["result"] == "fail"}
    check(fails, ro["analysis"])
    if "inference_latency_p95" in fails:
        check(fails["inference_latency_p95"]["value"] > 200, fails)
    fleet.close()


def test_stream_state_is_bounded_by_ttl_and_cap(ctx):
    s = ctx.server(env={"RAMP_OTLP_STREAM_TTL": "2s", "RAMP_OTLP_STREAMS_MAX": "3"})
    ing = status(s.admin.post("/v1/tokens", {"name": "gw", "role": "ingest"}), 201).json["token"]
    ids = [f"cap-{i}" for i in range(6)]
    register(s, *ids)
    c = s.client(token=ing)
    n = [0]

    def send(dev):
        n[0] += 1
        t = now_ns()
        status(c.post("/otlp/v1/metrics", raw=pb_sum_request(dev, "v1", n[0], t - 10**8, t), ctype=PB), 200)

    def streams():
        return int(ctx.psql(s, "SELECT count(*) FROM otlp_streams")[0][0])
    for d in ids:
        send(d)
    # the cap: a sweep after a later commit keeps the 3 most recently seen
    wait_for(lambda: send(ids[-1]) or streams() <= 3, timeout=30, interval=0.2, msg="cap of 3 streams")
    # the TTL: streams idle for 2 s go; the one still sending stays
    wait_for(lambda: send(ids[-1]) or streams() == 1, timeout=30, interval=0.3, msg="idle streams evicted")
    eq(ctx.psql(s, "SELECT count(*) FROM otlp_streams s WHERE state <> ''")[0][0], "1")


def test_throttled_exports_get_429_with_retry_after_and_store_nothing(ctx):
    s = ctx.server(env={"RAMP_RATE_DEVICE": "1/m,burst=2"})
    tok = register(s, "th-1")["th-1"]
    c = s.client(token=tok)
    t = now_ns()
    codes = []
    for k in range(4):
        r = c.post("/otlp/v1/metrics", raw=pb_sum_request("th-1", "v1", k + 1, t - 10**9, t + k), ctype=PB)
        codes.append(r.status)
        if r.status == 429:
            check(int(r.header("Retry-After")) >= 1, r)
    eq(codes[:2], [200, 200])
    eq(codes[2:], [429, 429])
    # what was taken counts once; the throttled points were not stored
    eq(stored(ctx, s, "device_id = 'th-1'", "sum(requests)"), 2)
