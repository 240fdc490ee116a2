#!/usr/bin/env python3
"""`make bench`: ramp's four figures, each beside its anchor measured in the
same run on this machine's loopback (docs/benchmarks.md explains them).

  1. desired polls/s with 100,000 registered devices and an active rollout,
     304 path and 200 path, with wrk and a Lua script that sends each
     device's token (tests/bench/desired.lua) - beside nginx serving a
     static file of the same size with the same wrk settings;
  2. telemetry reports/s over HTTP in batches of 100 (ramp-sim --flood) -
     beside a raw COPY of the same rows into the same table;
  3. breach-to-rollback: from sending the first breaching report (its commit
     is inside that request) to the first desired answer carrying the
     baseline, evaluation interval 1 s;
  4. rampd's resident memory at 100,000 and 1,000,000 registered devices,
     and poll throughput at 1,000,000 against 10,000.

Prints a table and one `BENCH <name> <value> <unit>` line per figure. Every
load loop is bounded in time and only targets 127.0.0.1. wrk and nginx are
installed with apt-get when missing and we are root; nginx runs with a
private config on a free port and is stopped at the end.

  python3 tests/bench.py [--build build] [--seconds 8] [--max-devices 1000000]
                         [--telemetry-only]
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
from fleet import Signer, manifest_text, upload_artifacts  # noqa: E402
from ramp import Client, free_port  # noqa: E402

LUA = os.path.join(HERE, "bench", "desired.lua")
WRK_THREADS, WRK_CONNS = 2, 64


def log(msg):
    print(f"bench: {msg}", flush=True)


# --- tools --------------------------------------------------------------

def ensure_tools():
    missing = [p for p, exe in (("wrk", "wrk"), ("nginx", "nginx")) if shutil.which(exe) is None
               and not os.path.exists(f"/usr/sbin/{exe}")]
    if not missing:
        return
    if os.getuid() != 0:
        sys.exit(f"bench: missing {' '.join(missing)}; run: sudo apt-get install -y {' '.join(missing)}")
    had_pid = os.path.exists("/run/nginx.pid")
    log(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + missing
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)
    # the Debian package may start its own service: we run a private nginx
    if not had_pid and os.path.exists("/run/nginx.pid"):
        subprocess.run(["/usr/sbin/nginx", "-s", "quit"], capture_output=True)


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) // 1024
    load = open("/proc/loadavg").read().split()[:3]
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mib": mem, "kernel": platform.release(),
            "load_at_start": " ".join(load)}


# --- processes ----------------------------------------------------------

class Rampd:
    """rampd on its embedded PostgreSQL, as `make run` starts it."""

    def __init__(self, build, base):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = "adm_" + uuid.uuid4().hex
        self.data = os.path.join(base, "data")
        os.makedirs(self.data)
        self.admin = Client(self.port, self.token)
        env = dict(os.environ, RAMP_LISTEN=f"127.0.0.1:{self.port}", RAMP_DATA_DIR=self.data,
                   RAMP_ADMIN_TOKEN=self.token, RAMP_EVAL_INTERVAL="1",
                   # the probes poll one device in a tight loop: no per-token limits here
                   RAMP_RATE_DEVICE="off", RAMP_RATE_INGEST="off", RAMP_RATE_ADMIN="off")
        self.logf = open(os.path.join(base, "rampd.log"), "wb")
        self.proc = subprocess.Popen([os.path.join(build, "rampd")], env=env, stdout=self.logf,
                                     stderr=self.logf, cwd=ROOT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"bench: rampd exited; see {self.logf.name}")
            try:
                if Client(self.port).get("/readyz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit("bench: rampd did not become ready")

    def rss_mib(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
        return 0.0

    def psql(self, sql, *extra):
        out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                              f"host={self.data}/pg dbname=ramp user=ramp", *extra, "-c", sql],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"psql: {out.stderr}")
        return out.stdout.strip()

    def desired_counts(self):
        """{code: n} of /v1/agent/desired answers so far, from /metrics."""
        text = Client(self.port).get("/metrics").body.decode()
        out = {}
        for m in re.finditer(r'route="/v1/agent/desired",code="(\d+)"\} (\d+)', text):
            out[m.group(1)] = int(m.group(2))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Nginx:
    """A private nginx on a free loopback port serving one static file."""

    def __init__(self, base, body):
        self.dir = os.path.join(base, "nginx")
        os.makedirs(os.path.join(self.dir, "www"))
        os.makedirs(os.path.join(self.dir, "tmp"))
        os.chmod(self.dir, 0o755)
        os.chmod(os.path.join(self.dir, "www"), 0o755)
        path = os.path.join(self.dir, "www", "desired.json")
        with open(path, "wb") as f:
            f.write(body)
        os.chmod(path, 0o644)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        d = self.dir
        with open(conf, "w") as f:
            f.write(f"""worker_processes auto;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type application/json;
    keepalive_requests 100000000;
    client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
    server {{
        listen 127.0.0.1:{self.port};
        root {d}/www;
        location = /nginx_status {{ stub_status; }}
    }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen([nginx, "-c", conf, "-p", d], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                r = Client(self.port).get("/desired.json")
                if r.status == 200:
                    self.etag = r.header("ETag")
                    return
            except OSError:
                pass
            time.sleep(0.1)
        sys.exit("bench: nginx did not start")

    def requests(self):
        """nginx's own count of requests handled (stub_status)."""
        body = Client(self.port).get("/nginx_status").body.decode()
        return int(body.splitlines()[2].split()[2])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def sim(build, rampd, *args, timeout=900):
    """Runs ramp-sim to completion; returns its last JSON line."""
    cmd = [os.path.join(build, "ramp-sim"), "--server", rampd.url, "--token", rampd.token,
           "--progress", "0", "--json", *[str(a) for a in args]]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        sys.exit(f"bench: ramp-sim failed ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def wrk(url, tokens, mode, seconds, counter, path="-", etag="-"):
    """Throughput of one wrk run, measured by the server's own request counter
    (counter() -> total) over `seconds` once every wrk thread has loaded its
    requests; wrk's own summary supplies the latency percentiles."""
    marker = os.path.join(tempfile.mkdtemp(prefix="wrk-"), "ready")
    cmd = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNS}", f"-d{seconds + 300}s", "--latency",
           "-s", LUA, url, "--", tokens, mode, path, etag or "-", marker]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 240
        while len(os.listdir(os.path.dirname(marker))) < WRK_THREADS:
            if p.poll() is not None or time.time() > deadline:
                sys.exit(f"bench: wrk did not start: {p.communicate()[0][-1500:]}")
            time.sleep(0.1)
        time.sleep(1.0)  # connections open, caches warm
        c1, t1 = counter(), time.time()
        time.sleep(seconds)
        c2, t2 = counter(), time.time()
    finally:
        p.send_signal(signal.SIGINT)
        try:
            out = p.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0]
        shutil.rmtree(os.path.dirname(marker), ignore_errors=True)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": (c2 - c1) / (t2 - t1), "p99": p99.group(1) if p99 else "?",
            "non2xx3xx": int(errs.group(1)) if errs else 0}


def cat(out, *files):
    with open(out, "w") as o:
        for f in files:
            with open(f) as i:
                shutil.copyfileobj(i, o)
    return out


# --- the figures --------------------------------------------------------

class Bench:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.base = tempfile.mkdtemp(prefix="ramp-bench-")
        os.chmod(self.base, 0o711)
        self.results = {}
        self.rows = []
        self.nginx = None

    def figure(self, name, value, unit, anchor_name, anchor, ratio, goal, met, note=""):
        """One table row; met is True/False, or None when there is no goal."""
        self.rows.append((name, value, unit, anchor_name, anchor, ratio, goal, met, note))

    def setup(self):
        log(f"starting rampd (embedded PostgreSQL) in {self.base}")
        self.r = Rampd(self.build, self.base)

        class Ctx:
            tmp = self.base
        self.signer = Signer(Ctx, self.r)
        for m, versions in (("ocr", ("v1", "v2")), ("det", ("v1",))):
            for v in versions:
                text = manifest_text(m, v, ("rpi-arm64", "cloud-x86-onnx"))
                upload_artifacts(self.r, m, v, ("rpi-arm64", "cloud-x86-onnx"))
                r = self.r.admin.post("/v1/manifests", {"manifest": text, "key_id": self.signer.key_id,
                                                        "signature": self.signer.sign(text)})
                assert r.status == 201, r
            self.r.admin.put(f"/v1/models/{m}/stable", {"version": "v1"})
        self.tok = {}

    def enroll(self, prefix, n):
        """Enrolls n devices in bulk (each then polls once for its ETag)."""
        path = os.path.join(self.base, f"tokens-{prefix}")
        t = time.time()
        s = sim(self.build, self.r, "--devices", n, "--prefix", prefix, "--once", "--telemetry",
                "off", "--enroll-batch", 10000, "--concurrency", 64, "--tokens-out", path)
        total = time.time() - t
        log(f"enrolled {n} devices ({prefix}) in {total - s['elapsed_s']:.0f}s, then each polled"
            f" once in {s['elapsed_s']:.0f}s ({s['polls']} polls, {s['poll_errors']} errors)")
        self.tok[prefix] = path
        return path

    def refresh(self, path):
        """Polls every device in path once more and rewrites its ETags."""
        t = time.time()
        sim(self.build, self.r, "--tokens-in", path, "--once", "--telemetry", "off",
            "--tokens-out", path, "--concurrency", 64)
        log(f"refreshed ETags of {sum(1 for _ in open(path))} devices in {time.time() - t:.0f}s")

    def poll_rate(self, tokens, mode, label):
        """Best of two wrk runs against rampd, checked against /metrics."""
        best = None
        before = self.r.desired_counts()
        for _ in range(2):
            w = wrk(self.r.url, tokens, mode, self.a.seconds,
                    lambda: sum(self.r.desired_counts().values()))
            if best is None or w["rps"] > best["rps"]:
                best = w
        after = self.r.desired_counts()
        diff = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        total = sum(diff.values()) or 1
        best["share"] = diff.get(mode, 0) / total
        log(f"{label}: {best['rps']:.0f} polls/s (p99 {best['p99']}; {best['share']:.1%} answered"
            f" {mode}; answers {diff})")
        return best

    def fig4_small(self):
        self.fleet10k = self.enroll("a", 10000)
        pol = {"stages": [{"name": "canary", "size": 0.05, "validation_window": "1h"},
                          {"name": "full", "size": 1.0, "validation_window": "1h"}]}
        r = self.r.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol})
        assert r.status == 201, r
        self.rollout = r.json["id"]
        time.sleep(1.5)
        self.refresh(self.fleet10k)
        self.p10k = {m: self.poll_rate(self.fleet10k, m, f"10k devices, {m} path")
                     for m in ("304", "200")}
        self.results["rss_10k_mib"] = self.r.rss_mib()

    def fig2(self):
        t0 = self.r.psql("SELECT now()")
        out = sim(self.build, self.r, "--tokens-in", self.fleet10k, "--flood", self.a.seconds + 2,
                  "--gateway-batch", 100, "--concurrency", 32, "--flood-model", "ocr:v1")
        http_rate = out["reports_per_s"]
        cols = ("ts, device_id, model, version, requests, errors, latency_ms, lat_bounds, lat_counts,"
                " conf_bounds, conf_counts, cpu_pct, mem_pct, npu_pct, temperature_c, disk_free_mb,"
                " model_load_ms, confidence_mean, exceptions, oom_kills, timeouts")
        rows_file = os.path.join(self.base, "telemetry.copy")
        self.r.psql(f"\\copy (SELECT {cols} FROM telemetry WHERE received_at >= '{t0}') TO '{rows_file}'")
        n = sum(1 for _ in open(rows_file))
        # the same rows again, one COPY through psql over the same socket
        t = time.time()
        self.r.psql(f"\\copy telemetry ({cols}) FROM '{rows_file}'")
        copy_s = time.time() - t
        copy_rate = n / copy_s
        log(f"telemetry: {http_rate:.0f} reports/s over HTTP ({out['requests']} requests of 100,"
            f" {out['errors']} errors, {out['request_ms_mean']:.1f} ms each); COPY of the same"
            f" {n} rows: {copy_s:.2f}s = {copy_rate:.0f} rows/s")
        self.figure("telemetry ingest, batches of 100", http_rate, "reports/s",
                    "raw COPY of the same rows", copy_rate, http_rate / copy_rate, ">= 0.5",
                    http_rate / copy_rate >= 0.5)
        self.results.update(telemetry_http=http_rate, telemetry_copy=copy_rate, telemetry_rows=n)

    def breach_setup(self):
        """40 devices labelled bench=breach, an ingest token, a fast policy."""
        ids = [{"id": f"brk-{i:03d}", "platform": "rpi-arm64", "labels": {"bench": "breach"}}
               for i in range(40)]
        r = self.r.admin.post("/v1/devices", ids)
        assert r.status == 201, r
        self.brk = {d["id"]: d["token"] for d in r.json["devices"]}
        gw = self.r.admin.post("/v1/tokens", {"name": "bench-gw", "role": "ingest"}).json["token"]
        self.gw = Client(self.r.port, gw)
        self.brk_version = 1

    def canary_of(self, v, timeout=60):
        """The breach devices told version v of det (polled with their tokens)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            canary = []
            for d, t in self.brk.items():
                c = Client(self.r.port, t)
                ans = c.get("/v1/agent/desired").json
                c.close()
                if any(m["model"] == "det" and m["version"] == v for m in ans["models"]):
                    canary.append((d, t))
            if canary:
                return canary
            time.sleep(0.2)
        sys.exit(f"bench: no device was told det {v}")

    def breach_round(self, k):
        """One rollout of det on the bench=breach devices, broken on purpose:
        seconds from sending the breaching reports (and from their 202) to
        the first desired answer with the baseline."""
        self.brk_version += 1
        v = f"v{self.brk_version}"
        text = manifest_text("det", v, ("rpi-arm64", "cloud-x86-onnx"))
        upload_artifacts(self.r, "det", v, ("rpi-arm64", "cloud-x86-onnx"))
        self.r.admin.post("/v1/manifests", {"manifest": text, "key_id": self.signer.key_id,
                                            "signature": self.signer.sign(text)})
        pol = {"stages": [{"name": "canary", "size": 0.1, "validation_window": "1h",
                           "metrics": [{"name": "error_rate", "threshold": "< 1%"}]},
                          {"name": "full", "size": 1.0, "validation_window": "1h"}],
               "rollback": {"automatic": True, "failure_limit": 1}}
        r = self.r.admin.post("/v1/rollouts", {"model": "det", "version": v, "policy": pol,
                                               "selector": "bench=breach"})
        assert r.status == 201, r
        rid = r.json["id"]
        canary = self.canary_of(v)
        poller = Client(self.r.port, canary[0][1])
        time.sleep(0.3 + 0.17 * k)  # land at different points of the evaluation tick
        reports = [{"device_id": d, "model": f"det:{v}", "requests": 100, "errors": 50,
                    "latency_ms": 40} for d, _ in canary]
        t_send = time.time()
        resp = self.gw.post("/v1/telemetry", reports)
        t_commit = time.time()
        assert resp.status == 202, resp
        while time.time() - t_send < 60:
            ans = poller.get("/v1/agent/desired").json
            if any(m["model"] == "det" and m["version"] == "v1" for m in ans["models"]):
                break
        t_back = time.time()
        poller.close()
        state = self.r.admin.get(f"/v1/rollouts/{rid}").json["state"]
        if state != "rolled_back":  # bounded: leave no active rollout behind
            self.r.admin.post(f"/v1/rollouts/{rid}/abort")
        return t_back - t_send, t_back - t_commit, state

    def fig3(self, rounds=5, label=""):
        times = []
        for k in range(rounds):
            up, low, state = self.breach_round(k)
            times.append(up)
            log(f"breach-to-rollback{label} round {k + 1}: {up:.3f}s from sending the report"
                f" ({low:.3f}s from its 202); rollout {state}")
        med = statistics.median(times)
        return med, times

    def fig1(self):
        b = self.enroll("b", 90000)
        self.refresh(self.fleet10k)
        self.fleet100k = cat(os.path.join(self.base, "tokens-100k"), self.fleet10k, b)
        first = open(self.fleet100k).readline().split()
        body = Client(self.r.port, first[1]).get("/v1/agent/desired").body
        self.nginx = Nginx(self.base, body)
        log(f"nginx anchor on 127.0.0.1:{self.nginx.port}: a {len(body)}-byte static file,"
            f" ETag {self.nginx.etag}")
        res = {}
        for mode in ("304", "200"):
            res[mode] = self.poll_rate(self.fleet100k, mode, f"100k devices, {mode} path")
            best = 0
            for _ in range(2):
                w = wrk(f"http://127.0.0.1:{self.nginx.port}", self.fleet100k, mode, self.a.seconds,
                        self.nginx.requests, "/desired.json",
                        self.nginx.etag if mode == "304" else None)
                best = max(best, w["rps"])
            log(f"nginx, {mode} path: {best:.0f} requests/s")
            lim = 1.0 if mode == "304" else 0.7
            ratio = res[mode]["rps"] / best
            self.figure(f"desired polls, 100k devices, {mode} path", res[mode]["rps"], "polls/s",
                        "nginx static file", best, ratio, f">= {lim}", ratio >= lim,
                        f"p99 {res[mode]['p99']}")
            self.results[f"poll_{mode}_100k"] = res[mode]["rps"]
            self.results[f"nginx_{mode}"] = best
        self.nginx.stop()
        self.results["rss_100k_mib"] = self.r.rss_mib()
        self.results["body_bytes"] = len(body)

    def fig4(self):
        rss100k = self.results["rss_100k_mib"]
        n_big = self.a.max_devices
        c = self.enroll("c", n_big - 100000)
        self.refresh(self.fleet100k)
        big = cat(os.path.join(self.base, "tokens-big"), self.fleet100k, c)
        self.results["rss_big_idle_mib"] = self.r.rss_mib()
        pbig = {m: self.poll_rate(big, m, f"{n_big} devices, {m} path") for m in ("304", "200")}
        rss_big = self.r.rss_mib()
        self.results["rss_big_mib"] = rss_big
        self.figure("rampd RSS, 100k devices", rss100k, "MiB", "-", None, None, "-", None)
        self.figure(f"rampd RSS, {n_big // 1000}k devices", rss_big, "MiB", "-", None, None,
                    "< 1024 MiB", rss_big < 1024)
        med, times = self.fig3(3, f" at {n_big // 1000}k devices")
        self.figure(f"breach to rollback, {n_big // 1000}k devices (median of {len(times)})", med,
                    "s", "-", None, None, "<= 1.5 s", med <= 1.5, f"max {max(times):.3f}s")
        self.results.update(breach_to_rollback_big_median=med, breach_to_rollback_big_all=times)
        for m in ("304", "200"):
            ratio = pbig[m]["rps"] / self.p10k[m]["rps"]
            self.figure(f"poll throughput {n_big // 1000}k vs 10k, {m} path", pbig[m]["rps"],
                        "polls/s", "same at 10k devices", self.p10k[m]["rps"], ratio, ">= 0.8",
                        ratio >= 0.8)
            self.results[f"poll_{m}_big"] = pbig[m]["rps"]
            self.results[f"poll_{m}_10k"] = self.p10k[m]["rps"]

    # --- output ---
    def report(self):
        print()
        print("| figure | ramp | anchor | ratio | goal | met | note |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, v, unit, aname, anchor, ratio, goal, met, note in self.rows:
            a = "-" if anchor is None else f"{anchor:,.0f} ({aname})"
            rt = "-" if ratio is None else f"{ratio:.2f}x"
            ok = "-" if met is None else "yes" if met else "**no**"
            vv = f"{v:,.0f} {unit}" if v > 10 else f"{v:.3f} {unit}"
            print(f"| {name} | {vv} | {a} | {rt} | {goal} | {ok} | {note} |")
        print()
        for name, v, unit, aname, anchor, ratio, goal, met, note in self.rows:
            key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
            print(f"BENCH {key} {v:.3f} {unit}")
            if ratio is not None:
                print(f"BENCH {key}_ratio {ratio:.3f} x")
        out = os.path.join(self.build, "bench.json")
        with open(out, "w") as f:
            json.dump({"machine": self.machine, "results": self.results,
                       "rows": [list(r) for r in self.rows]}, f, indent=1)
        log(f"raw figures in {out}")

    def figures(self):
        self.fig4_small()
        self.fig2()
        self.breach_setup()
        med, times = self.fig3()
        self.figure(f"breach to rollback, 10k devices (median of {len(times)})", med, "s", "-",
                    None, None, "<= 1.5 s", med <= 1.5,
                    f"max {max(times):.3f}s; evaluation interval 1s")
        self.results.update(breach_to_rollback_median=med, breach_to_rollback_all=times)
        self.fig1()
        self.fig4()

    def run(self):
        self.machine = machine()
        log(f"machine: {self.machine}")
        t = time.time()
        try:
            self.setup()
            if self.a.telemetry_only:
                self.fleet10k = self.enroll("a", 10000)
                self.fig2()
            else:
                self.figures()
        finally:
            if self.nginx:
                self.nginx.stop()
            if hasattr(self, "r"):
                self.r.stop()
        self.machine["load_at_end"] = open("/proc/loadavg").read().split()[:3]
        log(f"done in {time.time() - t:.0f}s")
        self.report()
        if not self.a.keep:
            shutil.rmtree(self.base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=8, help="length of each load run")
    ap.add_argument("--max-devices", type=int, default=1000000)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--telemetry-only", action="store_true",
                    help="figure 2 alone (10,000 devices enrolled, then the flood and its COPY)")
    a = ap.parse_args()
    ensure_tools()
    Bench(a).run()


if __name__ == "__main__":
    main()
