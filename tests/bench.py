#!/usr/bin/env python3
"""`make bench`: ramp's figures, each beside its anchor or goal measured in
the same run on this machine's loopback (docs/benchmarks.md explains them).

  - breach to the first desired answer carrying the baseline, at 10,000 and
    at 1,000,000 registered devices (five rounds each, median and max);
  - desired polls/s on the 304 and 200 paths (wrk and a Lua script that
    sends each device's token, tests/bench/desired.lua) at 1,000,000
    against 10,000 devices, and at 100,000 and 1,000,000 against nginx
    serving a static file of the same size with the same wrk settings;
  - writes that change answers (stable version, pin, rollout start,
    promotion, abort): their 2xx latency, and whether this replica's very
    next poll already shows the change;
  - a second rampd on the same PostgreSQL: time from a write's 2xx on the
    first to a poll on the second showing it (10,000 and 1,000,000 devices),
    and how long it takes to load the snapshot whole at start-up;
  - rampd's VmRSS;
  - telemetry reports/s over HTTP in batches of 100 (ramp-sim --flood)
    against a raw COPY of the same rows into the same table;
  - how the cost grows: polls/s, RSS and the write and transition latencies
    at 10k, 100k, 1M (and 2M with --max-devices 2000000) devices.

Prints a table, the scaling table and one `BENCH <name> <value> <unit>` line
per figure. Every load loop is bounded in time and only targets 127.0.0.1.
wrk and nginx are installed with apt-get when missing and we are root; nginx
runs with a private config on a free port and is stopped at the end.

  python3 tests/bench.py [--build build] [--seconds 8] [--max-devices 1000000]
                         [--telemetry-only]
"""
import argparse
import http.client
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
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
from fleet import Signer, manifest_text, upload_artifacts  # noqa: E402
from ramp import Client, free_port  # noqa: E402

LUA = os.path.join(HERE, "bench", "desired.lua")
WRK_THREADS, WRK_CONNS = 2, 64


class AdminClient(Client):
    """A Client that waits up to ten minutes for an answer: a rollout's
    transition at two million devices takes longer than Client's minute."""

    def request(self, *args, **kw):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        return super().request(*args, **kw)


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

    def __init__(self, build, base, name="data", database=None, token=None):
        """Starts rampd in base/name; with database (a libpq conninfo) it
        runs on that PostgreSQL instead of an embedded one: a replica."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token or "adm_" + uuid.uuid4().hex
        self.data = os.path.join(base, name)
        os.makedirs(self.data)
        self.admin = AdminClient(self.port, self.token)
        env = dict(os.environ, RAMP_LISTEN=f"127.0.0.1:{self.port}", RAMP_DATA_DIR=self.data,
                   RAMP_ADMIN_TOKEN=self.token, RAMP_EVAL_INTERVAL="1",
                   # the probes poll one device in a tight loop: no per-token limits here
                   RAMP_RATE_DEVICE="off", RAMP_RATE_INGEST="off", RAMP_RATE_ADMIN="off")
        if database:
            env["RAMP_DATABASE_URL"] = database
        self.log_path = os.path.join(base, f"rampd-{name}.log")
        self.logf = open(self.log_path, "wb")
        t = time.time()
        self.proc = subprocess.Popen([os.path.join(build, "rampd")], env=env, stdout=self.logf,
                                     stderr=self.logf, cwd=ROOT)
        deadline = time.time() + 600
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"bench: rampd exited; see {self.log_path}")
            try:
                if Client(self.port).get("/readyz").status == 200:
                    self.ready_s = time.time() - t
                    return
            except OSError:
                pass
            time.sleep(0.05)
        sys.exit("bench: rampd did not become ready")

    def conninfo(self):
        """How another process reaches this rampd's embedded PostgreSQL."""
        return f"host={self.data}/pg dbname=ramp user=ramp"

    def snapshot_loads(self):
        """Seconds of each whole snapshot load this rampd logged (it logs
        the ones over 0.5 s)."""
        with open(self.log_path, errors="replace") as f:
            return [float(m.group(1)) for m in re.finditer(r'snapshot rebuilt.*seconds=([\d.]+)',
                                                            f.read())]

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

SIZES = (10000, 100000, 1000000, 2000000)
WINDOW = "3h"  # no stage of the bench's rollouts ends by itself during a run


def det_version(client):
    """The det version in one desired answer (None when det is absent)."""
    r = client.get("/v1/agent/desired")
    assert r.status == 200, r
    for m in r.json["models"]:
        if m["model"] == "det":
            return m["version"]
    return None


def wait_version(client, v, timeout=30):
    """Polls until the answer carries det v; seconds waited (None at the
    limit)."""
    t = time.time()
    while time.time() - t < timeout:
        if det_version(client) == v:
            return time.time() - t
    return None


def timed(fn, *args, **kw):
    t = time.time()
    r = fn(*args, **kw)
    return r, time.time() - t


def ms(x):
    return "-" if x is None else f"{1000 * x:.0f}"


def tokens_of(path, k):
    """The first k (device id, token) pairs of a tokens file."""
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            out.append((p[0], p[1]))
            if len(out) == k:
                break
    return out


class Bench:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.base = tempfile.mkdtemp(prefix="ramp-bench-")
        os.chmod(self.base, 0o711)
        self.results = {"scale": {}}
        self.rows = []
        self.nginx = None
        self.r2 = None
        self.visible = []  # (kind, devices, seconds from the 2xx to the answer showing it)
        self.conflicts = []  # (kind, devices, seconds) of verbs answered 409 and made again

    def figure(self, name, value, unit, anchor_name, anchor, ratio, goal, met, note=""):
        """One table row; met is True/False, or None when there is no goal."""
        self.rows.append((name, value, unit, anchor_name, anchor, ratio, goal, met, note))

    def setup(self):
        log(f"starting rampd (embedded PostgreSQL) in {self.base}")
        self.r = Rampd(self.build, self.base)

        class Ctx:
            tmp = self.base
        self.signer = Signer(Ctx, self.r)
        for m, versions in (("ocr", ("v1", "v2")), ("det", ("v1", "v2"))):
            for v in versions:
                self.publish(m, v)
            self.r.admin.put(f"/v1/models/{m}/stable", {"version": "v1"})
        self.det_n = 2  # det v1 is stable, v2 what stable flips and pins switch to
        self.tok = {}

    def publish(self, m, v):
        text = manifest_text(m, v, ("rpi-arm64", "cloud-x86-onnx"))
        upload_artifacts(self.r, m, v, ("rpi-arm64", "cloud-x86-onnx"))
        r = self.r.admin.post("/v1/manifests", {"manifest": text, "key_id": self.signer.key_id,
                                                "signature": self.signer.sign(text)})
        assert r.status == 201, r

    def new_det(self):
        self.det_n += 1
        v = f"v{self.det_n}"
        self.publish("det", v)
        return v

    def enroll(self, prefix, n):
        """Enrolls n devices in bulk (each then polls once for its ETag)."""
        path = os.path.join(self.base, f"tokens-{prefix}")
        t = time.time()
        s = sim(self.build, self.r, "--devices", n, "--prefix", prefix, "--once", "--telemetry",
                "off", "--enroll-batch", 10000, "--concurrency", 64, "--tokens-out", path,
                timeout=3600)
        total = time.time() - t
        log(f"enrolled {n} devices ({prefix}) in {total - s['elapsed_s']:.0f}s, then each polled"
            f" once in {s['elapsed_s']:.0f}s ({s['polls']} polls, {s['poll_errors']} errors)")
        self.tok[prefix] = path
        return path

    def refresh(self, path):
        """Polls every device in path once more and rewrites its ETags."""
        t = time.time()
        sim(self.build, self.r, "--tokens-in", path, "--once", "--telemetry", "off",
            "--tokens-out", path, "--concurrency", 64, timeout=3600)
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

    def nginx_rate(self, tokens, mode):
        best = 0
        for _ in range(2):
            w = wrk(f"http://127.0.0.1:{self.nginx.port}", tokens, mode, self.a.seconds,
                    self.nginx.requests, "/desired.json", self.nginx.etag if mode == "304" else None)
            best = max(best, w["rps"])
        log(f"nginx, {mode} path: {best:.0f} requests/s")
        return best

    # --- growing the fleet ---
    def grow(self, k, n, have, fleet):
        """The tokens file of the first n devices: enrolls n - have more and
        refreshes the ETags of the ones before (writes changed their answers)."""
        new = self.enroll(f"s{k}", n - have)
        if fleet is None:
            return new
        self.refresh(fleet)
        return cat(os.path.join(self.base, f"tokens-{n}"), fleet, new)

    def start_rollout(self):
        """ocr v2 in its canary stage (5%) while the polls run."""
        pol = {"stages": [{"name": "canary", "size": 0.05, "validation_window": WINDOW},
                          {"name": "full", "size": 1.0, "validation_window": WINDOW}]}
        r = self.r.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol})
        assert r.status == 201, r

    # --- writes that change answers ---
    def write(self, kind, n, fn, dev, want, *args):
        """Makes one write on replica 1, then polls dev (a client on replica
        1) at once: records the 2xx latency and the seconds from the 2xx
        until the answer carries det `want` (0 when the first poll does)."""
        for attempt in range(4):
            (resp, lat) = timed(fn, *args)
            t = self.t_2xx = time.time()
            if resp.status != 409:
                break
            # the evaluator moved the rollout on while the verb planned
            log(f"{kind} at {n} devices: 409 after {lat:.1f}s ({resp.body[:120]!r}); again")
            self.conflicts.append((kind, n, lat))
        if resp.status == 409:
            log(f"{kind} at {n} devices: still 409 after {attempt + 1} tries; not counted")
            return resp, None
        assert resp.status in (200, 201), (kind, resp)
        seen = det_version(dev) == want
        lag = 0.0 if seen else wait_version(dev, want)
        if not seen:
            lag = None if lag is None else time.time() - t
        self.visible.append((kind, n, lag))
        return resp, lat

    def non_canary(self, fleet, v):
        """A device of fleet whose answer does not carry det v, and its client."""
        for dev, tok in tokens_of(fleet, 400):
            c = Client(self.r.port, tok)
            if det_version(c) != v:
                return dev, tok
            c.close()
        sys.exit(f"bench: every device polled was told det {v}")

    def transition(self, n, fleet, replica=None):
        """A rollout of a fresh det version over the whole fleet: start (5%),
        promote to 100%, abort. Returns 2xx latencies and, with a replica
        client of a device outside the canary, its lag after the promotion
        and after the abort."""
        v = self.new_det()
        pol = {"stages": [{"name": "canary", "size": 0.05, "validation_window": WINDOW},
                          {"name": "full", "size": 1.0, "validation_window": WINDOW}]}
        (r, t_start) = timed(self.r.admin.post, "/v1/rollouts",
                             {"model": "det", "version": v, "policy": pol})
        assert r.status == 201, r
        rid = r.json["id"]
        dev, tok = self.non_canary(fleet, v)
        c = Client(self.r.port, tok)
        c2 = Client(replica.port, tok) if replica else None
        if c2:
            assert wait_version(c2, "v1") is not None
        _, t_prom = self.write("promote", n, self.r.admin.post, c, v, f"/v1/rollouts/{rid}/promote")
        lag_p = self.replica_sees(c2, v) if c2 and t_prom is not None else None
        _, t_abort = self.write("abort", n, self.r.admin.post, c, "v1", f"/v1/rollouts/{rid}/abort")
        lag_a = self.replica_sees(c2, "v1") if c2 else None
        c.close()
        if c2:
            c2.close()
        return {"start": t_start, "promote": t_prom, "abort": t_abort, "lag_promote": lag_p,
                "lag_abort": lag_a}

    def writes_at(self, n, fleet):
        """Stable flips, pins and one rollout's transitions at this size."""
        dev, tok = tokens_of(fleet, 1)[0]
        c = Client(self.r.port, tok)
        stable, pin = [], []
        for _ in range(3):
            for v in ("v2", "v1"):
                stable.append(self.write("stable", n, self.r.admin.put, c, v,
                                         "/v1/models/det/stable", {"version": v})[1])
            for v, p in (("v2", "v2"), ("v1", None)):
                pin.append(self.write("pin", n, self.r.admin.patch, c, v, f"/v1/devices/{dev}",
                                      {"pins": {"det": p}})[1])
        c.close()
        tr = self.transition(n, fleet)
        vis = [x for x in self.visible if x[1] == n]
        log(f"{n} devices: stable flip {ms(statistics.median(stable))} ms (max {ms(max(stable))}),"
            f" pin {ms(statistics.median(pin))} ms, rollout start {ms(tr['start'])} ms,"
            f" promote {ms(tr['promote'])} ms, abort {ms(tr['abort'])} ms; {len(vis)} writes,"
            f" {sum(1 for x in vis if x[2] == 0)} visible in the first poll after the 2xx")
        return {"stable_ms": 1000 * statistics.median(stable), "stable_max_ms": 1000 * max(stable),
                "pin_ms": 1000 * statistics.median(pin), "start_ms": 1000 * tr["start"],
                "promote_ms": None if tr["promote"] is None else 1000 * tr["promote"],
                "abort_ms": 1000 * tr["abort"],
                "promote_visible_ms": (None if tr["promote"] is None or vis[-2][2] is None
                                       else 1000 * vis[-2][2]),
                "visible_first_poll": sum(1 for x in vis if x[2] == 0), "writes": len(vis)}

    # --- a second replica ---
    def replica_sees(self, c2, v):
        """Seconds from the last write's 2xx on replica 1 until replica 2's
        answer (client c2) carries det v; None when not within 30 s."""
        return None if wait_version(c2, v) is None else time.time() - self.t_2xx

    def replica_lag(self, n, fleet, writes=20):
        """Starts a second rampd on replica 1's PostgreSQL, makes `writes`
        writes on replica 1 (stable flips, pins, promotions and aborts) and
        times each from its 2xx until a poll on replica 2 shows it."""
        log(f"{n} devices: starting a second rampd on {self.r.conninfo()}")
        r2 = self.r2 = Rampd(self.build, self.base, f"replica-{n}", self.r.conninfo(), self.r.token)
        loads = r2.snapshot_loads()
        rss2 = r2.rss_mib()
        log(f"replica 2 ready in {r2.ready_s:.2f}s (snapshot load logged: {loads or 'under 0.5 s'});"
            f" RSS {rss2:.0f} MiB")
        dev, tok = tokens_of(fleet, 1)[0]
        c1, c2 = Client(self.r.port, tok), Client(r2.port, tok)
        lags = []  # (kind, seconds)
        t_end = time.time() + 900
        k = 0
        while len(lags) < writes and time.time() < t_end:
            step, k = k % 5, k + 1
            if step == 4:
                tr = self.transition(n, fleet, r2)
                if tr["promote"] is not None:
                    lags.append(("promote", tr["lag_promote"]))
                lags.append(("abort", tr["lag_abort"]))
                continue
            v = "v2" if step % 2 == 0 else "v1"
            if step < 2:
                self.write("stable", n, self.r.admin.put, c1, v, "/v1/models/det/stable",
                           {"version": v})
                kind = "stable"
            else:
                self.write("pin", n, self.r.admin.patch, c1, v, f"/v1/devices/{dev}",
                           {"pins": {"det": v if v == "v2" else None}})
                kind = "pin"
            lags.append((kind, self.replica_sees(c2, v)))
        # leave det as it was: stable v1, no pin
        self.r.admin.put("/v1/models/det/stable", {"version": "v1"})
        self.r.admin.patch(f"/v1/devices/{dev}", {"pins": {"det": None}})
        wait_version(c2, "v1")
        c1.close()
        c2.close()
        rss2_end = r2.rss_mib()
        r2.stop()
        self.r2 = None
        got = [x for _, x in lags if x is not None]
        missed = sum(1 for _, x in lags if x is None)
        med = statistics.median(got) if got else None
        log(f"replica lag at {n} devices over {len(lags)} writes: median {ms(med)} ms, max"
            f" {ms(max(got) if got else None)} ms, {missed} not seen within 30 s; by kind "
            + ", ".join(f"{kd} {ms(x)}" for kd, x in lags))
        return {"median": med, "max": max(got) if got else None, "missed": missed,
                "all": lags, "ready_s": r2.ready_s, "loads": loads, "rss_mib": rss2,
                "rss_end_mib": rss2_end, "rss_r1_mib": self.r.rss_mib()}

    def lag_figure(self, n, lag):
        med, mx = lag["median"], lag["max"]
        ok = med is not None and med <= 0.2 and lag["missed"] == 0
        self.figure(f"write visible on a second replica, {n // 1000}k devices (median of"
                    f" {len(lag['all'])})", float("nan") if med is None else 1000 * med, "ms", "-",
                    None, None, "<= 200 ms median", ok,
                    f"max {ms(mx)} ms; {lag['missed']} not seen within 30 s")

    # --- telemetry ---
    def telemetry(self, fleet):
        t0 = self.r.psql("SELECT now()")
        out = sim(self.build, self.r, "--tokens-in", fleet, "--flood", self.a.seconds + 2,
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
                    "raw COPY of the same rows", copy_rate, http_rate / copy_rate, ">= 0.6",
                    http_rate / copy_rate >= 0.6)
        self.results.update(telemetry_http=http_rate, telemetry_copy=copy_rate, telemetry_rows=n)

    # --- breach to rollback ---
    def breach_setup(self):
        """40 devices labelled bench=breach, an ingest token, a fast policy."""
        ids = [{"id": f"brk-{i:03d}", "platform": "rpi-arm64", "labels": {"bench": "breach"}}
               for i in range(40)]
        r = self.r.admin.post("/v1/devices", ids)
        assert r.status == 201, r
        self.brk = {d["id"]: d["token"] for d in r.json["devices"]}
        gw = self.r.admin.post("/v1/tokens", {"name": "bench-gw", "role": "ingest"}).json["token"]
        self.gw = Client(self.r.port, gw)

    def canary_of(self, v, timeout=60):
        """The breach devices told version v of det (polled with their tokens)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            canary = []
            for d, t in self.brk.items():
                c = Client(self.r.port, t)
                if det_version(c) == v:
                    canary.append((d, t))
                c.close()
            if canary:
                return canary
            time.sleep(0.2)
        sys.exit(f"bench: no device was told det {v}")

    def breach_round(self, k):
        """One rollout of det on the bench=breach devices, broken on purpose:
        seconds from sending the breaching reports (and from their 202) to
        the first desired answer with the baseline."""
        v = self.new_det()
        pol = {"stages": [{"name": "canary", "size": 0.1, "validation_window": WINDOW,
                           "metrics": [{"name": "error_rate", "threshold": "< 1%"}]},
                          {"name": "full", "size": 1.0, "validation_window": WINDOW}],
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
            if det_version(poller) == "v1":
                break
        t_back = time.time()
        poller.close()
        state = self.r.admin.get(f"/v1/rollouts/{rid}").json["state"]
        if state != "rolled_back":  # bounded: leave no active rollout behind
            self.r.admin.post(f"/v1/rollouts/{rid}/abort")
        return t_back - t_send, t_back - t_commit, state

    def breach(self, n, rounds=5):
        times = []
        for k in range(rounds):
            up, low, state = self.breach_round(k)
            times.append(up)
            log(f"breach-to-rollback at {n} devices, round {k + 1}: {up:.3f}s from sending the"
                f" report ({low:.3f}s from its 202); rollout {state}")
        return statistics.median(times), times

    # --- one size of the fleet ---
    def at_size(self, n, fleet, anchor):
        row = {"devices": n}
        row["rss_idle_mib"] = self.r.rss_mib()
        for m in ("304", "200"):
            w = self.poll_rate(fleet, m, f"{n} devices, {m} path")
            row[f"poll_{m}"], row[f"p99_{m}"], row[f"share_{m}"] = w["rps"], w["p99"], w["share"]
        row["rss_mib"] = self.r.rss_mib()
        if anchor:
            if self.nginx is None:
                body = Client(self.r.port, tokens_of(fleet, 1)[0][1]).get("/v1/agent/desired").body
                self.nginx = Nginx(self.base, body)
                self.results["body_bytes"] = len(body)
                log(f"nginx anchor on 127.0.0.1:{self.nginx.port}: a {len(body)}-byte static file,"
                    f" ETag {self.nginx.etag}")
            for m in ("304", "200"):
                row[f"nginx_{m}"] = self.nginx_rate(fleet, m)
        row.update(self.writes_at(n, fleet))
        row["rss_after_writes_mib"] = self.r.rss_mib()
        log(f"{n} devices: RSS {row['rss_idle_mib']:.0f} MiB before the polls,"
            f" {row['rss_mib']:.0f} after, {row['rss_after_writes_mib']:.0f} after the writes")
        self.results["scale"][n] = row
        return row

    def figures(self, small, n_big):
        s, b = self.results["scale"][small], self.results["scale"][n_big]
        for m in ("304", "200"):
            ratio = b[f"poll_{m}"] / s[f"poll_{m}"]
            self.figure(f"desired polls {n_big // 1000}k vs 10k devices, {m} path", b[f"poll_{m}"],
                        "polls/s", "same at 10k devices", s[f"poll_{m}"], ratio, ">= 0.9",
                        ratio >= 0.9, f"p99 {b[f'p99_{m}']}")
        for n in sorted(self.results["scale"]):
            row = self.results["scale"][n]
            for m in ("304", "200"):
                if f"nginx_{m}" in row:
                    ratio = row[f"poll_{m}"] / row[f"nginx_{m}"]
                    self.figure(f"desired polls vs nginx, {n // 1000}k devices, {m} path",
                                row[f"poll_{m}"], "polls/s", "nginx static file", row[f"nginx_{m}"],
                                ratio, ">= 1.2", ratio >= 1.2, f"p99 {row[f'p99_{m}']}")
        late = [x for x in self.visible if x[2] != 0]
        worst = max((x[2] or 60.0) for x in late) if late else 0.0
        self.figure("write visible in the same replica's next answer", worst, "s", "-", None, None,
                    "0 (before the 2xx)", not late,
                    f"visible before the 2xx: {'yes' if not late else 'no'}, "
                    f"{len(self.visible) - len(late)} of {len(self.visible)} writes")
        self.figure(f"rampd RSS, {n_big // 1000}k devices", b["rss_mib"], "MiB", "-", None, None,
                    "<= 600 MiB", b["rss_mib"] <= 600)

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
        print("| devices | polls/s 304 | polls/s 200 | nginx 304 / 200 | RSS MiB | stable write ms"
              " | pin write ms | rollout start ms | promote ms | promote to answer ms | abort ms"
              " | visible before 2xx |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for n in sorted(self.results["scale"]):
            r = self.results["scale"][n]
            ng = (f"{r['nginx_304']:,.0f} / {r['nginx_200']:,.0f}" if "nginx_304" in r else "-")
            pv = "-" if r["promote_visible_ms"] is None else f"{r['promote_visible_ms']:.0f}"
            pm = "409" if r["promote_ms"] is None else f"{r['promote_ms']:.0f}"
            print(f"| {n:,} | {r['poll_304']:,.0f} | {r['poll_200']:,.0f} | {ng} |"
                  f" {r['rss_mib']:.0f} | {r['stable_ms']:.1f} | {r['pin_ms']:.1f} |"
                  f" {r['start_ms']:.0f} | {pm} | {pv} | {r['abort_ms']:.0f} |"
                  f" {r['visible_first_poll']} of {r['writes']} |")
        print()
        if self.conflicts:
            print("verbs answered 409 and made again: " + ", ".join(
                f"{k} at {n} devices after {t:.1f}s" for k, n, t in self.conflicts))
            print()
        for name, v, unit, aname, anchor, ratio, goal, met, note in self.rows:
            key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
            print(f"BENCH {key} {v:.3f} {unit}")
            if ratio is not None:
                print(f"BENCH {key}_ratio {ratio:.3f} x")
        for n in sorted(self.results["scale"]):
            r = self.results["scale"][n]
            k = f"scale_{n // 1000}k"
            for f, unit in (("poll_304", "polls/s"), ("poll_200", "polls/s"), ("rss_mib", "MiB"),
                            ("stable_ms", "ms"), ("pin_ms", "ms"), ("start_ms", "ms"),
                            ("promote_ms", "ms"), ("abort_ms", "ms")):
                if r[f] is not None:
                    print(f"BENCH {k}_{f} {r[f]:.3f} {unit}")
        out = os.path.join(self.build, "bench.json")
        with open(out, "w") as f:
            json.dump({"machine": self.machine, "results": self.results, "visible": self.visible,
                       "conflicts": self.conflicts,
                       "rows": [list(r) for r in self.rows]}, f, indent=1)
        log(f"raw figures in {out}")

    def run(self):
        self.machine = machine()
        log(f"machine: {self.machine}")
        sizes = [n for n in SIZES if n <= self.a.max_devices]
        if self.a.max_devices not in sizes:
            sizes.append(self.a.max_devices)
        small = sizes[0]
        n_big = 1000000 if 1000000 in sizes else sizes[-1]
        t = time.time()
        self.failed = None
        try:
            self.setup()
            if self.a.telemetry_only:
                self.telemetry(self.enroll("a", 10000))
            else:
                self.sizes(sizes, small, n_big)
        except Exception:  # report what was measured, then fail
            self.failed = traceback.format_exc()
            log(f"stopped early:\n{self.failed}")
        finally:
            if self.nginx:
                self.nginx.stop()
            if self.r2:
                self.r2.stop()
            if hasattr(self, "r"):
                self.r.stop()
        done = sorted(self.results["scale"])
        if done:
            self.figures(small, n_big if n_big in done else done[-1])
        self.machine["load_at_end"] = open("/proc/loadavg").read().split()[:3]
        log(f"done in {time.time() - t:.0f}s")
        self.report()
        if not self.a.keep:
            shutil.rmtree(self.base, ignore_errors=True)
        if self.failed:
            sys.exit("bench: stopped early (see above); the figures are partial")

    def sizes(self, sizes, small, n_big):
        fleet, have = None, 0
        for k, n in enumerate(sizes):
            fleet = self.grow(k, n, have, fleet)
            have = n
            if k == 0:
                self.start_rollout()
                self.refresh(fleet)
                self.fleet_small = fleet
            self.at_size(n, fleet, anchor=n >= 100000)
            if n == small:
                self.telemetry(fleet)
                self.breach_setup()
            if n in (small, n_big):
                med, times = self.breach(n)
                self.figure(f"breach to baseline answer, {n // 1000}k devices (median of"
                            f" {len(times)})", med, "s", "-", None, None,
                            "<= 0.1 s" if n == small else "<= 1.0 s median, <= 2 s max",
                            med <= 0.1 if n == small else med <= 1.0 and max(times) <= 2.0,
                            f"max {max(times):.3f}s; evaluation interval 1s")
                self.results[f"breach_{n}"] = times
                lag = self.replica_lag(n, fleet)
                self.results[f"replica_lag_{n}"] = lag
                self.lag_figure(n, lag)
                if n == n_big:
                    load = lag["loads"][-1] if lag["loads"] else None
                    self.figure(f"snapshot load at start-up, {n // 1000}k devices",
                                load if load is not None else lag["ready_s"], "s", "-", None,
                                None, "-", None, f"replica 2 ready {lag['ready_s']:.2f}s after"
                                f" start; replica 2 RSS {lag['rss_mib']:.0f} MiB after the load,"
                                f" {lag['rss_end_mib']:.0f} after the writes (replica 1"
                                f" {lag['rss_r1_mib']:.0f})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=8, help="length of each load run")
    ap.add_argument("--max-devices", type=int, default=1000000,
                    help="largest fleet (sizes 10k, 100k, 1M, 2M up to it)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--telemetry-only", action="store_true",
                    help="figure 2 alone (10,000 devices enrolled, then the flood and its COPY)")
    a = ap.parse_args()
    ensure_tools()
    Bench(a).run()


if __name__ == "__main__":
    main()
