#!/usr/bin/env python3
"""ramp-runner's benchmarks (issue 7), standalone:

  python3 tests/bench_runner.py [--build build] [--runs 2000] [--seconds 10] [--no-ort]

1. Batch-1, single-thread latency (p50/p99) of `ramp-runner bench` on an MLP
   (256 -> 512 -> 512 -> 10) and a small CNN (tests/runner/models.py, built
   with Debian's python3-onnx), beside onnxruntime on the same files in the
   same run: npm's onnxruntime-node (CPU binaries ship inside the npm package;
   installed from the npm registry with ONNXRUNTIME_NODE_INSTALL=skip and
   --ignore-scripts, so nothing is fetched from elsewhere), intra/inter-op
   threads 1.  A one-operator model (one Add on [1,1]) through the same
   binding gives the binding's overhead; "core" is the model's time minus it.
2. Requests/s over HTTP at 64 connections (wrk) on the MLP.
3. Failed requests under the same load while the served model is swapped 20
   times (SIGHUP reload: load, check, swap under reference counting, the path
   the fleet agent installs through).

Each figure is printed as `BENCH <name> <value> <unit>`; a table follows.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS_PY = os.path.join(HERE, "runner", "models.py")
DEBIAN_PYTHON = "/usr/bin/python3"
SHAPES = {"mlp": [1, 256], "cnn": [1, 3, 32, 32], "oneop": [1, 1]}

ORT_JS = r"""
const ort = require(process.argv[2]);
(async () => {
  const [file, runs, shape] = [process.argv[3], +process.argv[4], JSON.parse(process.argv[5])];
  const s = await ort.InferenceSession.create(file, {intraOpNumThreads: 1, interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all'});
  const n = shape.reduce((a, b) => a * b, 1), d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = Math.random() * 2 - 1;
  const feeds = {[s.inputNames[0]]: new ort.Tensor('float32', d, shape)};
  for (let i = 0; i < runs / 10; i++) await s.run(feeds);
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await s.run(feeds);
    t.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  t.sort((a, b) => a - b);
  console.log(`p50_us ${t[runs >> 1]} p99_us ${t[Math.floor(runs * 0.99)]} version ${ort.env.versions.common}`);
})().catch(e => { console.error(String(e)); process.exit(1); });
"""


def bench(name, value, unit):
    print(f"BENCH {name} {value:.6g} {unit}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_models(tmp):
    paths = {}
    for kind in ("mlp", "cnn", "oneop"):
        paths[kind] = os.path.join(tmp, f"{kind}.onnx")
        p = subprocess.run([DEBIAN_PYTHON, MODELS_PY, kind, paths[kind]], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"bench_runner: cannot build {kind} with {DEBIAN_PYTHON} (apt-get install "
                     f"python3-onnx python3-numpy): {p.stderr.strip()[-300:]}")
    return paths


def runner_latency(build, path, runs):
    out = subprocess.run([os.path.join(build, "ramp-runner"), "bench", path, str(runs)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[1]), float(out[3])


def ort_module(build):
    """The onnxruntime-node package under build/npm, installed from the npm registry if missing."""
    mod = os.path.join(os.path.abspath(build), "npm", "node_modules", "onnxruntime-node")
    if os.path.isdir(mod):
        return mod, None
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None, "node and npm are not installed"
    env = dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip", ONNXRUNTIME_NODE_INSTALL_CUDA="skip")
    p = subprocess.run(["npm", "install", "--prefix", os.path.join(build, "npm"), "--no-audit", "--no-fund",
                        "--ignore-scripts", "onnxruntime-node"], capture_output=True, text=True, env=env,
                       timeout=900)
    if p.returncode != 0 or not os.path.isdir(mod):
        return None, f"npm install onnxruntime-node failed: {p.stderr.strip()[-300:]}"
    return mod, None


def ort_latency(mod, tmp, path, shape, runs):
    js = os.path.join(tmp, "ort_bench.js")
    with open(js, "w") as f:
        f.write(ORT_JS)
    out = subprocess.run(["node", js, mod, path, str(runs), json.dumps(shape)], capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[1]), float(out[3]), out[5]


class Served:
    def __init__(self, build, model, tmp, threads=2):
        self.port = free_port()
        self.log = open(os.path.join(tmp, "runner.log"), "w")
        self.p = subprocess.Popen([os.path.join(build, "ramp-runner"), "--model", model, "--listen",
                                   f"127.0.0.1:{self.port}", "--threads", str(threads)],
                                  stdout=self.log, stderr=self.log)
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("ramp-runner did not start")

    def metric(self, name):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5).read().decode()
        m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=30)
        self.log.close()


def wrk(port, tmp, seconds, shape):
    n = 1
    for d in shape:
        n *= d
    body = json.dumps({"inputs": {"x": {"shape": shape, "data": [0.25] * n}}})
    lua = os.path.join(tmp, "post.lua")
    with open(lua, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                'wrk.headers["Content-Type"] = "application/json"\n')
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "-s", lua,
                          f"http://127.0.0.1:{port}/v1/infer"], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return rps, total, failed


def http_bench(build, paths, tmp, seconds):
    s = Served(build, paths["mlp"], tmp)
    try:
        rps, total, failed = wrk(s.port, tmp, seconds, SHAPES["mlp"])
    finally:
        s.stop()
    return rps, total, failed


def swap_bench(build, paths, tmp, seconds, swaps=20):
    """wrk on the MLP while the served file is replaced and reloaded (SIGHUP) `swaps` times."""
    served = os.path.join(tmp, "served.onnx")
    shutil.copy(paths["mlp"], served)
    s = Served(build, served, tmp)
    result = {}

    def load():
        result["wrk"] = wrk(s.port, tmp, seconds, SHAPES["mlp"])

    try:
        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.5)
        for i in range(swaps):
            before = s.metric("ramp_runner_model_swaps_total")
            shutil.copy(paths["mlp"], served + ".new")
            os.rename(served + ".new", served)
            s.p.send_signal(signal.SIGHUP)
            while s.metric("ramp_runner_model_swaps_total") == before:
                time.sleep(0.01)
            time.sleep(max(0.0, (seconds - 1.5) / swaps - 0.01))
        t.join()
        done = s.metric("ramp_runner_model_swaps_total") - 1
    finally:
        s.stop()
    rps, total, failed = result["wrk"]
    return done, total, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--no-ort", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ramp-bench-runner-")
    rows = []
    try:
        paths = build_models(tmp)
        lat = {k: runner_latency(a.build, paths[k], a.runs) for k in ("mlp", "cnn", "oneop")}
        for k, (p50, p99) in lat.items():
            bench(f"runner_{k}_p50", p50, "us")
            bench(f"runner_{k}_p99", p99, "us")
        ort = {}
        mod, why = (None, "--no-ort") if a.no_ort else ort_module(a.build)
        if mod:
            for k in ("mlp", "cnn", "oneop"):
                p50, p99, version = ort_latency(mod, tmp, paths[k], SHAPES[k], a.runs)
                ort[k] = (p50, p99)
                bench(f"ort_{k}_p50", p50, "us")
                bench(f"ort_{k}_p99", p99, "us")
            for k in ("mlp", "cnn"):
                bench(f"ort_{k}_core_p50", ort[k][0] - ort["oneop"][0], "us")
            print(f"# onnxruntime-node {version}, intra/inter-op threads 1", flush=True)
        else:
            print(f"# onnxruntime skipped: {why}", flush=True)
        for k in ("mlp", "cnn", "oneop"):
            o = ort.get(k)
            core = o[0] - ort["oneop"][0] if o and k != "oneop" else None
            rows.append((k, lat[k][0], lat[k][1], o[0] if o else None, o[1] if o else None, core))
        if shutil.which("wrk"):
            rps, total, failed = http_bench(a.build, paths, tmp, a.seconds)
            bench("http_mlp_requests_per_s", rps, "req/s")
            bench("http_mlp_failed", failed, "requests")
            done, total, failed = swap_bench(a.build, paths, tmp, a.seconds)
            bench("swap_count", done, "swaps")
            bench("swap_requests", total, "requests")
            bench("swap_failed", failed, "requests")
        else:
            print("# wrk not installed: HTTP figures skipped (apt-get install wrk)")
        print("\nbatch-1, single thread, microseconds")
        print(f"{'model':8} {'runner p50':>11} {'runner p99':>11} {'ort p50':>9} {'ort p99':>9} {'ort core p50':>13}")
        for k, rp50, rp99, op50, op99, core in rows:
            f = lambda v: f"{v:.1f}" if v is not None else "-"  # noqa: E731
            print(f"{k:8} {f(rp50):>11} {f(rp99):>11} {f(op50):>9} {f(op99):>9} {f(core):>13}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
