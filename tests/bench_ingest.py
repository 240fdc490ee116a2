#!/usr/bin/env python3
"""bench_ingest.py - the telemetry figures for issue 5's closing note (a
script, not a test; run it on an otherwise idle machine).

1. Reports/s ingested over HTTP: rampd on its embedded PostgreSQL (fsync and
   synchronous_commit on, as shipped), CLIENTS keep-alive clients posting
   batches of BATCH reports with an ingest token for SECONDS; beside it a raw
   `COPY ... FROM STDIN` through psql of the same rows into the same table
   of the same database, and the ratio.
2. The cost of reading one stage window with SCAN_ROWS stored reports:
   generate_series spreads them over 7 days and 200 versions; then EXPLAIN
   ANALYZE of the query store_telemetry_scan() runs, and the scan itself
   (build/tools/telemetry-scan), for one version's 30-minute and 24-hour
   windows.

  python3 tests/bench_ingest.py [--build build] [--seconds 10] [--clients 4]
                                [--batch 100] [--scan-rows 10000000] [--keep]
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import ramp  # noqa: E402

COLUMNS = ("ts, device_id, model, version, requests, errors, latency_ms, lat_bounds,"
           " lat_counts, cpu_pct, mem_pct, temperature_c")
BOUNDS = [5, 10, 25, 50, 100, 250, 500, 1000]
DEVICES = 1000


def make_reports(n, now):
    rnd = random.Random(7)
    out = []
    for i in range(n):
        counts = [rnd.randint(0, 20) for _ in range(len(BOUNDS) + 1)]
        out.append({"device_id": f"dev-{i % DEVICES}", "model": "bench:v2",
                    "timestamp": now - 600 + i * 0.01, "requests": sum(counts) + 1,
                    "errors": rnd.randint(0, 1), "latency_ms": round(rnd.uniform(20, 300), 3),
                    "latency_hist": {"bounds_ms": BOUNDS, "counts": counts},
                    "cpu_pct": round(rnd.uniform(5, 95), 2), "mem_pct": round(rnd.uniform(20, 80), 2),
                    "temperature_c": round(rnd.uniform(35, 75), 2)})
    return out


def copy_line(r):
    ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(r["timestamp"])))
    frac = f"{r['timestamp'] % 1:.6f}"[1:]
    h = r["latency_hist"]
    arr = lambda xs: "{" + ",".join(str(x) for x in xs) + "}"  # noqa: E731
    name, version = r["model"].split(":", 1)
    return "\t".join([ts + frac + "+00", r["device_id"], name, version, str(r["requests"]),
                      str(r["errors"]), str(r["latency_ms"]), arr(h["bounds_ms"]), arr(h["counts"]),
                      str(r["cpu_pct"]), str(r["mem_pct"]), str(r["temperature_c"])]) + "\n"


class Rampd:
    def __init__(self, build, data_dir):
        self.port = ramp.free_port()
        self.token = "adm_" + uuid.uuid4().hex
        self.data_dir = data_dir
        env = dict(os.environ, RAMP_LISTEN=f"127.0.0.1:{self.port}", RAMP_DATA_DIR=data_dir,
                   RAMP_ADMIN_TOKEN=self.token)
        env.pop("RAMP_DATABASE_URL", None)
        self.log = open(os.path.join(data_dir, "rampd.log"), "ab")
        self.proc = subprocess.Popen([os.path.join(build, "rampd")], env=env,
                                     stdout=self.log, stderr=self.log)
        c = ramp.Client(self.port)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if c.get("/readyz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("rampd did not become ready; see " + self.log.name)

    @property
    def conninfo(self):
        return f"host={self.data_dir}/pg dbname=ramp user=ramp"

    def psql(self, sql, stdin=None):
        p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", self.conninfo,
                            "-c", sql], input=stdin, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"psql failed: {p.stderr}")
        return p.stdout

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(text, name):
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def bench_http(srv, a):
    admin = ramp.Client(srv.port, srv.token)
    devs = [{"id": f"dev-{i}", "platform": "rpi-arm64"} for i in range(DEVICES)]
    if admin.post("/v1/devices", devs).status != 201:
        raise SystemExit("could not register the devices")
    tok = admin.post("/v1/tokens", {"name": "bench", "role": "ingest"}).json["token"]
    reports = make_reports(100 * a.batch, time.time())
    bodies = [json.dumps(reports[i:i + a.batch]).encode()
              for i in range(0, len(reports), a.batch)]
    accepted = [0] * a.clients
    errors = []
    start = threading.Barrier(a.clients + 1)

    def client(i):
        c = ramp.Client(srv.port, tok)
        start.wait()
        k = i
        while time.time() < deadline and not errors:
            try:
                r = c.post("/v1/telemetry", raw=bodies[k % len(bodies)])
            except OSError as e:
                errors.append(e)
                return
            if r.status != 202:
                errors.append(r)
                return
            accepted[i] += r.json["accepted"]
            k += a.clients
        c.close()
    ts = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    for t in ts:
        t.start()
    deadline = time.time() + a.seconds
    t0 = time.time()
    cpu0 = cpu_seconds(srv.proc.pid)
    start.wait()
    for t in ts:
        t.join()
    elapsed = time.time() - t0
    cpu = cpu_seconds(srv.proc.pid) - cpu0
    if errors:
        srv.log.flush()
        with open(srv.log.name, errors="replace") as f:
            tail = f.read()[-2000:]
        raise SystemExit(f"a request failed: {errors[0]}\nrampd exit status"
                         f" {srv.proc.poll()}; log:\n{tail}")
    total = sum(accepted)
    m = admin.get("/metrics").body.decode()
    commits = metric(m, "ramp_telemetry_commit_requests_count")
    stored = int(srv.psql("SELECT count(*) FROM telemetry"))
    print(f"http: {total} reports in {elapsed:.1f} s from {a.clients} clients, batches of"
          f" {a.batch}: {total / elapsed:,.0f} reports/s"
          f" ({total / a.batch / elapsed:,.0f} requests/s)")
    print(f"      group commit: {metric(m, 'ramp_telemetry_commit_requests_sum') / commits:.2f}"
          f" requests and {metric(m, 'ramp_telemetry_batch_rows_sum') / commits:.0f} rows per"
          f" commit, {metric(m, 'ramp_telemetry_commit_seconds_sum') / commits * 1000:.2f} ms"
          f" per commit; rows stored {stored}")
    print(f"      rampd CPU {cpu:.2f} s: {cpu / total * 1e6:.1f} us per report"
          f" (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")
    if stored != total:
        raise SystemExit(f"stored {stored} != accepted {total}")

    # the same rows, one COPY through psql into the same table
    text = "".join(copy_line(reports[i % len(reports)]) for i in range(total))
    t0 = time.time()
    srv.psql(f"COPY telemetry ({COLUMNS}) FROM STDIN", stdin=text)
    copy_s = time.time() - t0
    print(f"copy: {total} rows in {copy_s:.2f} s through psql COPY FROM STDIN:"
          f" {total / copy_s:,.0f} rows/s")
    print(f"ratio: http ingest is {total / elapsed / (total / copy_s):.2f} x raw COPY"
          f" ({(total / copy_s) / (total / elapsed):.1f} x slower)")
    srv.psql("TRUNCATE telemetry")


SCAN_SQL = ("SELECT extract(epoch FROM ts)::float8, device_id, model, version, requests,"
            " errors, latency_ms, lat_bounds, lat_counts, conf_bounds, conf_counts, cpu_pct,"
            " mem_pct, npu_pct, temperature_c, disk_free_mb, model_load_ms, confidence_mean,"
            " exceptions, oom_kills, timeouts FROM telemetry"
            " WHERE model = 'bench' AND ('{{v17}}'::text[] IS NULL OR version = ANY ('{{v17}}'::text[]))"
            " AND ts >= to_timestamp({lo}) AND ts <= to_timestamp({hi})")


def bench_scan(srv, a, build):
    n = a.scan_rows
    for d in range(2, 8):
        srv.psql(f"SELECT telemetry_create_partition((now() AT TIME ZONE 'UTC')::date - {d})")
    print(f"scan: generating {n:,} reports over 7 days, 200 versions ...", flush=True)
    t0 = time.time()
    chunk = 1000000
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        srv.psql(
            "INSERT INTO telemetry (ts, device_id, model, version, requests, errors, latency_ms,"
            " lat_bounds, lat_counts, cpu_pct, mem_pct)"
            f" SELECT now() - make_interval(secs => g * (7 * 86400.0 / {n})),"
            " 'dev-' || (g % 5000), 'bench', 'v' || (g % 200), 50, g % 3, 50 + g % 200,"
            " '{5,10,25,50,100,250,500,1000}', '{1,2,3,4,5,6,7,8,9}', 40, 60"
            f" FROM generate_series({lo + 1}, {hi}) g")
    srv.psql("ANALYZE telemetry")
    size = srv.psql("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid)))"
                    " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = 'telemetry'::regclass").strip()
    print(f"      loaded in {time.time() - t0:.0f} s; telemetry is {size} with its index")
    now = float(srv.psql("SELECT extract(epoch FROM now())"))
    tool = os.path.join(build, "tools", "telemetry-scan")
    for label, secs in (("30-minute", 1800), ("24-hour", 86400)):
        hi = now - 3 * 3600
        lo = hi - secs
        plan = srv.psql("EXPLAIN (ANALYZE, BUFFERS) " + SCAN_SQL.format(lo=lo, hi=hi))
        exec_ms = re.search(r"Execution Time: ([\d.]+) ms", plan).group(1)
        parts = len(set(re.findall(r"on (telemetry_\w+)", plan)))
        times = []
        rows = None
        for _ in range(5):
            out = subprocess.run([tool, "--count", srv.conninfo, "bench", str(lo), str(hi), "v17"],
                                 capture_output=True, text=True, check=True).stdout.split()
            rows, ms = out[1], float(out[3])
            times.append(ms)
        print(f"scan: one version's {label} window: {rows} rows; EXPLAIN ANALYZE {exec_ms} ms"
              f" over {parts} partition(s) (first read); store_telemetry_scan median of 5:"
              f" {statistics.median(times):.1f} ms (first {times[0]:.1f} ms)")
        if a.verbose:
            print(plan)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--scan-rows", type=int, default=10000000)
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--verbose", action="store_true", help="print the query plans")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    data = tempfile.mkdtemp(prefix="tele-bench-", dir="/tmp")
    os.chmod(data, 0o711)
    srv = Rampd(build, data)
    try:
        bench_http(srv, a)
        if a.scan_rows:
            bench_scan(srv, a, build)
    finally:
        srv.stop()
        if not a.keep:
            shutil.rmtree(data, ignore_errors=True)
        else:
            print(f"data kept in {data}")


if __name__ == "__main__":
    main()
