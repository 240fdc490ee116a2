"""Telemetry ingest: POST /v1/telemetry validation and roles, group commit
durability (kill -9 after the 2xx), concurrency, the bounded queue, the
partitioned table's retention, the scan reader, and /metrics under promtool."""
import json
import os
import shutil
import subprocess
import threading
import time

from ramp import ROOT, Skip, _as_owner, check, eq, parallel, status, wait_for

# the seed document's health report, byte for byte (/work/shared/examples/health-report.json)
SEED = os.path.join(ROOT, "tests", "fuzz", "corpus", "telemetry", "seed.json")


def server(ctx, **kw):
    """A server whose housekeeping pass at start is over: that pass deletes
    reports older than the retention (the seed report's 2025 timestamp is),
    so tests must not race it."""
    s = ctx.server(**kw)
    wait_for(lambda: (metric(s, "ramp_telemetry_maintenance_runs_total") or 0) >= 1,
             msg="housekeeping at start")
    return s


def mk_token(s, name, role):
    return status(s.admin.post("/v1/tokens", {"name": name, "role": role}), 201).json["token"]


def register(s, *ids):
    """Registers devices; returns {id: device token}."""
    r = status(s.admin.post("/v1/devices", [{"id": i, "platform": "rpi-arm64"} for i in ids]), 201)
    return {d["id"]: d["token"] for d in r.json["devices"]}


def report(dev, i=0, **kw):
    r = {"device_id": dev, "model": "invoice-ocr:v2", "latency_ms": 100 + i, "errors": 0,
         "requests": 10, "timestamp": time.time() - 60 + i * 1e-3}
    r.update(kw)
    return r


def stored(ctx, s, where="true"):
    return int(ctx.psql(s, f"SELECT count(*) FROM telemetry WHERE {where}")[0][0])


def embedded_psql(s, sql):
    """psql against an embedded server's own cluster."""
    out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                          f"host={s.data_dir}/pg dbname=ramp user=ramp", "-c", sql],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def metric(s, line_prefix):
    body = status(s.client(token=None).get("/metrics"), 200).body.decode()
    for line in body.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    return None


def test_seed_report_is_accepted_as_written(ctx):
    s = server(ctx)
    tok = register(s, "pi-warehouse-1")["pi-warehouse-1"]
    with open(SEED, "rb") as f:
        raw = f.read()
    r = status(s.admin.post("/v1/telemetry", raw=raw, token=tok), 202)
    eq(r.json, {"accepted": 1, "rejected": []})
    rows = ctx.psql(s, "SELECT device_id, model, version, requests, errors, latency_ms,"
                       " extract(epoch FROM ts)::bigint FROM telemetry")
    eq(rows, [["pi-warehouse-1", "invoice-ocr", "2026.01.10-rc1", "1", "0", "120", "1767000000"]])


def test_report_fields_round_trip_through_the_scan_reader(ctx):
    s = server(ctx)
    register(s, "d1", "d2")
    ing = mk_token(s, "gw", "ingest")
    t0 = 1790000000.0
    rich = {"device_id": "d1", "model": "invoice-ocr:2026.01.10-rc1", "latency_ms": 120.5,
            "errors": 2, "requests": 50, "timestamp": t0 + 0.25,
            "latency_hist": {"bounds_ms": [5, 10, 25.5], "counts": [1, 2, 3, 44]},
            "confidence_hist": {"bounds": [0.25, 0.5, 0.75], "counts": [0, 5, 10, 35]},
            "cpu_pct": 41.3, "mem_pct": 63, "temperature_c": -5.25, "disk_free_mb": 812,
            "npu_pct": 12, "model_load_ms": 830, "confidence_mean": 0.8125,
            "exceptions": 3, "oom_kills": 1, "timeouts": 4}
    others = [
        {"device_id": "d2", "model": "invoice-ocr:2026.01.10-rc1", "timestamp": t0 + 100},
        {"device_id": "d2", "model": "invoice-ocr:old", "timestamp": t0 + 50},
        {"device_id": "d2", "model": "invoice-ocr:2026.01.10-rc1", "timestamp": t0 + 5000},
        {"device_id": "d2", "model": "other:2026.01.10-rc1", "timestamp": t0 + 10},
    ]
    r = status(s.admin.post("/v1/telemetry", {"reports": [rich] + others}, token=ing), 202)
    eq(r.json["accepted"], 5)
    tool = os.path.join(ctx.build, "tools", "telemetry-scan")
    conn = ctx.cluster.conninfo(s.database)

    def scan(*args):
        out = subprocess.run([tool, conn, "invoice-ocr", *map(str, args)],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        eq(out[-1], f"rows {len(out) - 1}")
        return sorted((json.loads(x) for x in out[:-1]), key=lambda x: x["ts"])

    got = scan(t0, t0 + 1000, "2026.01.10-rc1")
    eq([g["ts"] for g in got], [t0 + 0.25, t0 + 100], "window and version filter")
    g = got[0]
    eq((g["device_id"], g["model"], g["version"]), ("d1", "invoice-ocr", "2026.01.10-rc1"))
    eq((g["requests"], g["errors"], g["latency_ms"]), (50, 2, 120.5))
    eq(g["latency_hist"], {"bounds": [5.0, 10.0, 25.5], "counts": [1, 2, 3, 44]})
    eq(g["confidence_hist"], {"bounds": [0.25, 0.5, 0.75], "counts": [0, 5, 10, 35]})
    for k in ["cpu_pct", "mem_pct", "temperature_c", "disk_free_mb", "npu_pct",
              "model_load_ms", "confidence_mean", "exceptions", "oom_kills", "timeouts"]:
        eq(g[k], rich[k], k)
    # absent gauges come back as NaN (null here), absent histograms as none
    h = got[1]
    eq((h["latency_ms"], h["cpu_pct"], h["latency_hist"], h["requests"]), (None, None, None, 1))
    eq(len(scan(t0, t0 + 1000, "2026.01.10-rc1", "old")), 3, "two versions")
    eq(len(scan(t0, t0 + 10000)), 4, "every version of the model")
    eq(len(scan(t0 + 0.25, t0 + 100, "2026.01.10-rc1")), 2, "the window is inclusive")


COLUMNS = ("extract(epoch FROM ts), device_id, model, version, requests, errors, latency_ms,"
           " lat_bounds, lat_counts, conf_bounds, conf_counts, cpu_pct, mem_pct, npu_pct,"
           " temperature_c, disk_free_mb, model_load_ms, confidence_mean, exceptions, oom_kills,"
           " timeouts")


def test_every_column_reads_back_as_written_on_both_paths(ctx):
    """The binary COPY rows as PostgreSQL reads them: timestamps to the
    microsecond, doubles exactly, integers to 2^53, text, arrays, NULLs;
    the same whether the body was read directly or through jansson (an
    unknown field sends it the general way)."""
    s = server(ctx)
    register(s, "d1", "d2")
    ing = mk_token(s, "gw", "ingest")
    t0 = 1790000000.123456
    rich = {"device_id": "d1", "model": "invoice-ocr:2026.01.10+b.1_x-y", "timestamp": t0,
            "requests": 9007199254740992, "errors": 2, "latency_ms": 0.1,
            "latency_hist": {"bounds_ms": [5, 10, 25.5], "counts": [1, 2, 3, 9007199254740992]},
            "confidence_hist": {"bounds": [0, 0.333333333333333314829616256247, 1],
                                "counts": [0, 5, 10, 35]},
            "cpu_pct": 41.3, "mem_pct": 100, "npu_pct": 0, "temperature_c": -5.25,
            "disk_free_mb": 1e300, "model_load_ms": 5e-324, "confidence_mean": 0.8125,
            "exceptions": 3, "oom_kills": 0, "timeouts": 9007199254740992}
    bare = {"device_id": "d2", "model": "m:1", "timestamp": "2026-09-21T12:00:00.000001Z"}
    want = [
        ["1790000000.123456", "d1", "invoice-ocr", "2026.01.10+b.1_x-y", "9007199254740992",
         "2", "0.1", "{5,10,25.5}", "{1,2,3,9007199254740992}", "{0,0.3333333333333333,1}",
         "{0,5,10,35}", "41.3", "100", "0", "-5.25", "1e+300", "5e-324", "0.8125", "3", "0",
         "9007199254740992"],
        ["1789992000.000001", "d2", "m", "1", "1", "0"] + ["NULL"] * 12
        + ["0", "0", "0"],
    ]
    for path, extra in (("direct", {}), ("general", {"firmware": "1.2"})):
        status(s.admin.post("/v1/telemetry", [dict(rich, **extra), dict(bare, **extra)],
                            token=ing), 202)
        cols = ", ".join(f"coalesce(({c})::text, 'NULL')" for c in COLUMNS.split(", "))
        got = ctx.psql(s, f"SELECT {cols} FROM telemetry ORDER BY device_id")
        eq(got, want, path)
        ctx.psql(s, "DELETE FROM telemetry")


BAD = [
    ({"model": "m:1"}, "device_id"),
    ({"device_id": "bad id!", "model": "m:1"}, "device_id"),
    ({"device_id": "d1", "model": "no-version"}, "model"),
    ({"device_id": "d1", "model": "m:1", "latency_ms": -1}, "latency_ms"),
    ({"device_id": "d1", "model": "m:1", "latency_ms": "fast"}, "latency_ms"),
    ({"device_id": "d1", "model": "m:1", "requests": 5, "errors": 6}, "errors"),
    ({"device_id": "d1", "model": "m:1", "errors": -1}, "errors"),
    ({"device_id": "d1", "model": "m:1", "requests": 0}, "requests"),
    ({"device_id": "d1", "model": "m:1", "requests": 2.5}, "requests"),
    ({"device_id": "d1", "model": "m:1", "requests": True}, "requests"),
    ({"device_id": "d1", "model": "m:1", "timestamp": time.time() + 3600}, "timestamp"),
    ({"device_id": "d1", "model": "m:1", "timestamp": "yesterday"}, "timestamp"),
    ({"device_id": "d1", "model": "m:1", "cpu_pct": 101}, "cpu_pct"),
    ({"device_id": "d1", "model": "m:1", "oom_kills": -2}, "oom_kills"),
    ({"device_id": "d1", "model": "m:1",
      "latency_hist": {"bounds_ms": [5, 10], "counts": [1, 2]}}, "latency_hist.counts"),
    ({"device_id": "d1", "model": "m:1",
      "latency_hist": {"bounds_ms": [10, 5], "counts": [1, 2, 3]}}, "latency_hist.bounds_ms[1]"),
    ({"device_id": "d1", "model": "m:1",
      "confidence_hist": {"bounds": [0.5, 1.5], "counts": [1, 2, 3]}}, "confidence_hist.bounds[1]"),
    ("not an object", ""),
]


def test_each_bad_field_is_rejected_with_its_index(ctx):
    s = server(ctx)
    register(s, "d1")
    body = [b for b, _ in BAD] + [report("d1")]
    r = status(s.admin.post("/v1/telemetry", body), 202)
    eq(r.json["accepted"], 1)
    rej = r.json["rejected"]
    eq([x["index"] for x in rej], list(range(len(BAD))))
    for x, (_, field) in zip(rej, BAD):
        eq(x["field"], field, x["error"])
        check(x["error"].startswith(field + ": ") if field else x["error"], x)
    eq(stored(ctx, s), 1)
    # a single bad report is a 400 naming the field
    r = status(s.admin.post("/v1/telemetry", BAD[3][0]), 400)
    eq(r.json["field"], "latency_ms")
    eq(r.header("Content-Type"), "application/problem+json")
    r = status(s.admin.post("/v1/telemetry", {"reports": [BAD[5][0]]}), 400)
    eq(r.json["field"], "reports[0].errors")
    eq(r.json["rejected"][0]["index"], 0)
    eq(stored(ctx, s), 1)


def test_batch_with_one_bad_report_stores_the_rest(ctx):
    s = server(ctx)
    tok = register(s, "d1")["d1"]
    body = [report("d1", i) for i in range(50)]
    body.insert(17, report("d1", errors=11))
    r = status(s.admin.post("/v1/telemetry", {"reports": body}, token=tok), 202)
    eq(r.json["accepted"], 50)
    eq([x["index"] for x in r.json["rejected"]], [17])
    eq(stored(ctx, s), 50)
    eq(stored(ctx, s, "errors > 0"), 0)


def test_device_token_cannot_report_for_another_device(ctx):
    s = server(ctx)
    toks = register(s, "d1", "d2")
    r = status(s.admin.post("/v1/telemetry", [report("d2"), report("d2", 1)], token=toks["d1"]), 403)
    eq([x["error"] for x in r.json["rejected"]], ["device_id: not this device's id"] * 2)
    eq(stored(ctx, s), 0)
    # its own reports go in, the spoofed one is listed
    r = status(s.admin.post("/v1/telemetry", [report("d1"), report("d2")], token=toks["d1"]), 202)
    eq(r.json, {"accepted": 1, "rejected": [{"index": 1, "field": "device_id",
                                            "error": "device_id: not this device's id"}]})
    eq(stored(ctx, s), 1)
    eq(stored(ctx, s, "device_id = 'd2'"), 0)
    # spoofed and invalid, nothing accepted: bad input, not only a wrong device
    status(s.admin.post("/v1/telemetry", [report("d2"), {"x": 1}], token=toks["d1"]), 400)


def test_ingest_token_reports_for_any_registered_device(ctx):
    s = server(ctx)
    register(s, *[f"d{i}" for i in range(5)])
    ing = mk_token(s, "gateway", "ingest")
    r = status(s.admin.post("/v1/telemetry", [report(f"d{i}", i) for i in range(5)], token=ing), 202)
    eq(r.json, {"accepted": 5, "rejected": []})
    eq(int(ctx.psql(s, "SELECT count(DISTINCT device_id) FROM telemetry")[0][0]), 5)
    for role in ["viewer", "operator", "ci", "enroll"]:
        status(s.admin.post("/v1/telemetry", report("d1"), token=mk_token(s, f"t-{role}", role)), 403)
    status(s.admin.post("/v1/telemetry", report("d1"), token=None), 401)
    eq(stored(ctx, s), 5)


def test_unknown_device_is_rejected_for_ingest_tokens(ctx):
    s = server(ctx)
    register(s, "d1")
    ing = mk_token(s, "gateway", "ingest")
    r = status(s.admin.post("/v1/telemetry", report("ghost"), token=ing), 400)
    eq(r.json["rejected"], [{"index": 0, "field": "device_id", "error": "device_id: unknown device"}])
    body = [report("ghost"), report("d1"), report("ghost", 1), {"device_id": "d1"}, report("ghost2")]
    r = status(s.admin.post("/v1/telemetry", body, token=ing), 202)
    eq(r.json["accepted"], 1)
    eq([(x["index"], x["field"]) for x in r.json["rejected"]],
       [(0, "device_id"), (2, "device_id"), (3, "model"), (4, "device_id")])
    eq(ctx.psql(s, "SELECT device_id FROM telemetry"), [["d1"]])


def test_device_the_snapshot_does_not_know_yet_is_asked_of_the_database(ctx):
    """A device registered a moment ago on another replica: written straight
    into the database, without the NOTIFY, so this replica's snapshot does
    not hold it. Its reports are accepted, beside those of a device the
    snapshot knows and one that exists nowhere."""
    s = server(ctx)
    register(s, "d1")
    ing = mk_token(s, "gateway", "ingest")
    ctx.psql(s, "INSERT INTO devices (id, platform) VALUES ('elsewhere', 'rpi-arm64')")
    body = [report("elsewhere"), report("d1"), report("ghost"), report("elsewhere", 1)]
    r = status(s.admin.post("/v1/telemetry", body, token=ing), 202)
    eq(r.json["accepted"], 3)
    eq(r.json["rejected"], [{"index": 2, "field": "device_id", "error": "device_id: unknown device"}])
    eq(ctx.psql(s, "SELECT device_id, count(*) FROM telemetry GROUP BY 1 ORDER BY 1"),
       [["d1", "1"], ["elsewhere", "2"]])


def test_more_than_10000_reports_is_413(ctx):
    s = server(ctx)
    register(s, "d1")
    small = {"device_id": "d1", "model": "m:1"}
    status(s.admin.post("/v1/telemetry", [small] * 10001), 413)
    status(s.admin.post("/v1/telemetry", {"reports": [small] * 10001}), 413)
    eq(stored(ctx, s), 0)
    r = status(s.admin.post("/v1/telemetry", [small] * 10000), 202)
    eq(r.json["accepted"], 10000)
    eq(stored(ctx, s), 10000)


def test_empty_or_shapeless_body_is_400(ctx):
    s = server(ctx)
    register(s, "d1")
    for body in ([], {"reports": []}, "report", 42, {"reports": {"device_id": "d1"}}):
        r = status(s.admin.post("/v1/telemetry", body), 400, repr(body))
        eq(r.header("Content-Type"), "application/problem+json")
    status(s.admin.post("/v1/telemetry", raw=b"{not json"), 400)
    status(s.admin.post("/v1/telemetry", raw=b"", ctype=None), 400)
    status(s.admin.post("/v1/telemetry", raw=b"<a/>", ctype="text/xml"), 415)
    eq(stored(ctx, s), 0)


def crash(ctx, s):
    """kill -9 rampd, then crash its PostgreSQL too (immediate stop: no checkpoint)."""
    s.kill9()
    subprocess.run([os.path.join(ctx.cluster.bindir, "pg_ctl"), "stop", "-m", "immediate",
                    "-w", "-D", os.path.join(s.data_dir, "pg")],
                   preexec_fn=_as_owner(), capture_output=True)


def test_acknowledged_reports_survive_kill9(ctx):
    s = server(ctx, embedded=True)
    toks = register(s, "d1", "d2")
    ing = mk_token(s, "gw", "ingest")
    acked = 0
    for rnd in range(4):
        body = [report("d1" if i % 2 else "d2", rnd * 1000 + i) for i in range(250)]
        r = status(s.admin.post("/v1/telemetry", body, token=ing if rnd % 2 else toks["d2"]), 202)
        acked += r.json["accepted"]
        if rnd % 2:
            crash(ctx, s)  # rampd and PostgreSQL both die: the WAL must hold the commit
        else:
            s.kill9()      # rampd alone dies right after the 2xx
        s.start()
        eq(int(embedded_psql(s, "SELECT count(*) FROM telemetry")), acked, f"round {rnd}")
    eq(acked, 250 + 250 + 125 + 125)


def test_eight_concurrent_clients_get_exact_counts(ctx):
    s = server(ctx)
    devs = [f"c{i}" for i in range(8)]
    toks = register(s, *devs)
    ing = mk_token(s, "gw", "ingest")
    batches, size = 20, 50
    acked = [0] * 8

    def client(i):
        c = s.client(token=toks[devs[i]] if i % 2 else ing)
        for b in range(batches):
            body = [report(devs[i], b * size + k) for k in range(size)]
            body.append(report(devs[(i + 1) % 8]) if i % 2 else report("ghost"))  # rejected
            r = status(c.post("/v1/telemetry", body), 202)
            eq(len(r.json["rejected"]), 1)
            acked[i] += r.json["accepted"]
        c.close()
    parallel(8, client)
    eq(acked, [batches * size] * 8)
    eq(stored(ctx, s), 8 * batches * size)
    rows = ctx.psql(s, "SELECT device_id, count(*), count(DISTINCT ts) FROM telemetry"
                       " GROUP BY device_id ORDER BY device_id")
    eq(rows, [[d, str(batches * size), str(batches * size)] for d in devs])
    eq(metric(s, "ramp_telemetry_reports_accepted_total"), 8 * batches * size)
    eq(metric(s, 'ramp_telemetry_reports_rejected_total{reason="wrong_device"}'), 4 * batches)
    eq(metric(s, 'ramp_telemetry_reports_rejected_total{reason="unknown_device"}'), 4 * batches)


def test_full_queue_answers_503_and_waiting_requests_hold_no_thread(ctx):
    s = server(ctx, env={"RAMP_INGEST_QUEUE": "150"})
    register(s, "d1")
    lock = TableLock(ctx, s)  # the writer's COPY waits with 100 rows in flight
    try:
        first = {}
        t = threading.Thread(target=lambda: first.setdefault(
            "r", s.client().post("/v1/telemetry", [report("d1", i) for i in range(100)])))
        t.start()
        wait_for(lambda: metric(s, "ramp_telemetry_queue_rows") == 100, msg="100 rows queued")
        r = status(s.admin.post("/v1/telemetry", [report("d1", 500 + i) for i in range(100)]), 503)
        eq(r.header("Retry-After"), "1")
        check("queue is full" in r.json["detail"], r.json)
        eq(metric(s, 'ramp_telemetry_requests_unavailable_total{reason="queue_full"}'), 1)
        # a request waiting for its commit holds no HTTP thread: fresh
        # connections, whichever thread takes them, are answered meanwhile
        for _ in range(40):
            c = s.client(token=None)
            status(c.get("/healthz"), 200)
            c.close()
        check(t.is_alive(), "the first request still waits for its commit")
    finally:
        lock.release()
    t.join()
    eq(status(first["r"], 202).json["accepted"], 100)
    eq(stored(ctx, s), 100)
    eq(metric(s, "ramp_telemetry_queue_rows"), 0)


class TableLock:
    """Holds ACCESS EXCLUSIVE on telemetry from a psql session, so the
    writer's COPY waits with its rows in flight."""

    def __init__(self, ctx, s):
        self.p = subprocess.Popen(["psql", "-X", "-q", "-At", ctx.cluster.conninfo(s.database)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.p.stdin.write("BEGIN; LOCK TABLE telemetry IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
        self.p.stdin.flush()
        eq(self.p.stdout.readline().strip(), "locked")

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.write("COMMIT;\n")
            self.p.stdin.close()
            self.p.wait()


def test_shutdown_commits_and_answers_parked_requests(ctx):
    s = server(ctx)
    register(s, "d1")
    lock = TableLock(ctx, s)
    got = {}

    def post():
        try:
            got["r"] = s.client().post("/v1/telemetry", [report("d1", i) for i in range(100)])
        except OSError as e:  # the listener may close before the answer is read
            got["e"] = e
    t = threading.Thread(target=post)
    t.start()
    try:
        wait_for(lambda: metric(s, "ramp_telemetry_queue_rows") == 100, msg="100 rows queued")
        s.proc.send_signal(15)
        time.sleep(0.2)  # let SIGTERM reach the waiting writer; not a timing assertion
    finally:
        lock.release()
    t.join()
    eq(s.proc.wait(60), 0, "clean exit: no request left parked")
    if "r" in got:
        eq(status(got["r"], 202).json["accepted"], 100)
    eq(stored(ctx, s), 100)


def test_database_down_gives_503_and_claims_nothing(ctx):
    s = server(ctx, embedded=True)
    tok = register(s, "d1")["d1"]
    status(s.admin.post("/v1/telemetry", report("d1"), token=tok), 202)  # token now cached
    pgdir = os.path.join(s.data_dir, "pg")
    pg_ctl = os.path.join(ctx.cluster.bindir, "pg_ctl")
    subprocess.run([pg_ctl, "stop", "-m", "fast", "-w", "-D", pgdir], preexec_fn=_as_owner(),
                   check=True, capture_output=True)
    r = status(s.admin.post("/v1/telemetry", report("d1", 1), token=tok), 503)
    check(r.header("Retry-After"))
    subprocess.run([pg_ctl, "start", "-w", "-D", pgdir, "-l", os.path.join(pgdir, "postgresql.log")],
                   preexec_fn=_as_owner(), check=True, capture_output=True)
    # the writer reconnects on its own
    wait_for(lambda: s.admin.post("/v1/telemetry", report("d1", 2), token=tok).status == 202,
             msg="ingest again")
    eq(int(embedded_psql(s, "SELECT count(*) FROM telemetry WHERE latency_ms = 101")), 0)
    eq(int(embedded_psql(s, "SELECT count(*) FROM telemetry WHERE latency_ms = 102")), 1)


def partitions(ctx, s):
    return {r[0] for r in ctx.psql(s, "SELECT c.relname FROM pg_inherits i JOIN pg_class c"
                                      " ON c.oid = i.inhrelid"
                                      " WHERE i.inhparent = 'telemetry'::regclass")}


def test_retention_drops_old_partitions_and_rows(ctx):
    s = server(ctx, env={"RAMP_TELEMETRY_RETENTION": "2d"})  # old data is planted after its pass
    today = "(now() AT TIME ZONE 'UTC')::date"
    day = lambda n: ctx.psql(s, f"SELECT to_char({today} + {n}, 'YYYYMMDD')")[0][0]  # noqa: E731
    parts = partitions(ctx, s)
    for n in range(-1, 8):
        check(f"telemetry_p{day(n)}" in parts, f"partition for today{n:+d} made ahead")
    ctx.psql(s, f"SELECT telemetry_create_partition({today} - 10), telemetry_create_partition({today} - 5)")
    ctx.psql(s, "INSERT INTO telemetry (ts, device_id, model, version, requests, errors) VALUES"
                " (now() - interval '10 days', 'd', 'm', 'v', 1, 0),"
                " (now() - interval '5 days', 'd', 'm', 'v', 1, 0),"
                " (now() - interval '30 days', 'd', 'm', 'v', 1, 0),"
                " (now() - interval '1 hour', 'd', 'm', 'v', 1, 0)")
    eq(ctx.psql(s, "SELECT tableoid::regclass::text FROM telemetry"
                   " WHERE ts < now() - interval '20 days'"), [["telemetry_default"]])
    check({f"telemetry_p{day(-10)}", f"telemetry_p{day(-5)}"} <= partitions(ctx, s))
    s.restart()  # housekeeping runs at start, then hourly
    wait_for(lambda: metric(s, "ramp_telemetry_maintenance_runs_total") == 1, msg="maintenance")
    eq(metric(s, "ramp_telemetry_maintenance_failures_total"), 0)
    eq(metric(s, "ramp_telemetry_partitions_dropped_total"), 2)
    eq(metric(s, "ramp_telemetry_rows_expired_total"), 1)
    parts = partitions(ctx, s)
    check(f"telemetry_p{day(-10)}" not in parts and f"telemetry_p{day(-5)}" not in parts, parts)
    check(f"telemetry_p{day(7)}" in parts and "telemetry_default" in parts, parts)
    eq(stored(ctx, s), 1)
    eq(stored(ctx, s, "ts > now() - interval '2 hours'"), 1)


def ensure_promtool():
    if shutil.which("promtool"):
        return
    if os.getuid() != 0:
        raise Skip("promtool missing (apt-get install prometheus) and not root to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    p = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "prometheus"],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0 or not shutil.which("promtool"):
        raise Skip(f"could not install prometheus for promtool: {p.stderr[-300:]}")
    # the package may start its service; we only want the tool
    subprocess.run(["systemctl", "disable", "--now", "prometheus"], capture_output=True)


def test_metrics_pass_promtool_and_count_ingest(ctx):
    ensure_promtool()
    s = server(ctx)
    register(s, "d1")
    status(s.admin.post("/v1/telemetry", [report("d1", i) for i in range(30)] + [{"x": 1}]), 202)
    status(s.admin.post("/v1/telemetry", [report("ghost")]), 400)
    body = status(s.client(token=None).get("/metrics"), 200).body
    p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    eq(p.returncode, 0, (p.stdout + p.stderr).decode())
    text = body.decode()
    for name in ["ramp_telemetry_reports_accepted_total 30",
                 'ramp_telemetry_reports_rejected_total{reason="invalid"} 1',
                 'ramp_telemetry_reports_rejected_total{reason="unknown_device"} 1',
                 "# TYPE ramp_telemetry_batch_rows histogram",
                 "# TYPE ramp_telemetry_commit_seconds histogram",
                 "ramp_telemetry_batch_rows_sum 30",
                 "ramp_telemetry_commit_seconds_count 1",
                 "# TYPE ramp_telemetry_queue_rows gauge"]:
        check(name in text, name)
