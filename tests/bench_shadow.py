#!/usr/bin/env python3
"""Shadow runs' cost to the served answer (docs/judge.md "Shadow runs"), standalone:

  python3 tests/bench_shadow.py [--build build] [--requests 3000] [--rounds 3]

ramp-runner serves the MLP of tests/runner/models.py (256 -> 512 -> 512 ->
10) on 127.0.0.1 with 2 threads, local mode; "on" adds the same model as the
shadow candidate (`--shadow FILE --shadow-fraction F`), which the worker
thread runs off the request path. A client measures each request's served
latency (HTTP round trip, keep-alive): one connection (closed loop), then 4
connections (the machine's 2 cores saturated, where the queue drops shadow
work). Modes alternate round by round so drift hits all alike; the figures
are noisy on a shared machine. Prints `BENCH <name> <value> <unit>` lines.
"""
import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS_PY = os.path.join(HERE, "runner", "models.py")
BODY = json.dumps({"inputs": {"x": [[((i * 37) % 101) / 50.0 - 1 for i in range(256)]]}})


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Runner:
    def __init__(self, build, model, shadow=None, fraction=1.0):
        self.port = free_port()
        args = [os.path.join(build, "ramp-runner"), "--model", model, "--listen",
                f"127.0.0.1:{self.port}", "--threads", "2"]
        if shadow:
            args += ["--shadow", shadow, "--shadow-fraction", str(fraction)]
        self.p = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("ramp-runner did not start")

    def metric(self, name):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/metrics")
        m = re.search(rb"^" + name.encode() + rb" (\S+)$", c.getresponse().read(), re.M)
        return float(m.group(1)) if m else 0.0

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=30)


def client(port, n, out):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(n):
        t0 = time.perf_counter()
        c.request("POST", "/v1/infer", BODY, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"status {r.status}")
        out.append((time.perf_counter() - t0) * 1e3)
    c.close()


def measure(build, model, mode, n, conns):
    shadow, fraction = (None, 1.0) if mode == "off" else (model, float(mode.split("@")[1]))
    r = Runner(build, model, shadow, fraction)
    try:
        client(r.port, 300, [])  # warm up
        lat, ts = [], []
        for _ in range(conns):
            part = []
            lat.append(part)
            ts.append(threading.Thread(target=client, args=(r.port, n // conns, part)))
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        runs, dropped = r.metric("ramp_runner_shadow_runs_total"), r.metric("ramp_runner_shadow_dropped_total")
    finally:
        r.stop()
    return [x for p in lat for x in p], runs, dropped


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-shadow-")
    model = os.path.join(tmp, "mlp.onnx")
    subprocess.run(["/usr/bin/python3", MODELS_PY, "mlp", model], check=True)
    modes = ["off", "on@1.0", "on@0.1"]
    for conns in (1, 4):
        lat = {m: [] for m in modes}
        runs = {m: 0.0 for m in modes}
        dropped = {m: 0.0 for m in modes}
        for _ in range(a.rounds):
            for m in modes:
                x, ru, dr = measure(a.build, model, m, a.requests, conns)
                lat[m] += x
                runs[m] += ru
                dropped[m] += dr
        for m in modes:
            name = f"shadow_{m.replace('@', '_')}_c{conns}"
            print(f"BENCH {name}_p50 {pct(lat[m], 0.5):.3f} ms")
            print(f"BENCH {name}_p95 {pct(lat[m], 0.95):.3f} ms")
            print(f"BENCH {name}_p99 {pct(lat[m], 0.99):.3f} ms")
            print(f"BENCH {name}_shadow_runs {runs[m]:.0f} runs")
            print(f"BENCH {name}_shadow_dropped {dropped[m]:.0f} runs")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
