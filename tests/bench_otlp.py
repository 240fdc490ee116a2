#!/usr/bin/env python3
"""Data points per second committed over OTLP/HTTP protobuf
(POST /otlp/v1/metrics) against ramp's own JSON (POST /v1/telemetry)
carrying the same content: per device a 15-bound latency histogram,
requests, errors, CPU and memory (5 data points; one JSON report), 100
devices per request, a few client threads for a few seconds each. Also the
OTLP cumulative case, where every point goes through its stream's row in
otlp_streams. One rampd on its embedded PostgreSQL, 127.0.0.1 only; a
2-core machine shared with other work: the figures are noisy.

  python3 tests/bench_otlp.py [--build build] [--seconds 5] [--threads 4]
"""
import argparse
import http.client
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from ramp import Client, free_port, status  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--seconds", type=float, default=5.0)
ap.add_argument("--threads", type=int, default=4)
ap.add_argument("--devices", type=int, default=400)
a = ap.parse_args()

PER_REQ = 100                    # devices per request
POINTS = 5                       # data points per device
BOUNDS = [5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000, 20000]


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ld(field, payload):
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def f64(field, v, fmt="<Q"):
    return varint(field << 3 | 1) + struct.pack(fmt, v)


def kv(k, v):
    return ld(1, k.encode()) + ld(2, ld(1, v.encode()))


def counts_for(i):
    c = [0] * (len(BOUNDS) + 1)
    c[2 + i % 3] = 60
    c[6] = 30
    c[8] = 10
    return c


def pb_device(dev, start, t, scale, temporality):
    """One ResourceMetrics: the device's 5 points (scale multiplies the
    values, for cumulative streams)."""
    c = [x * scale for x in counts_for(len(dev))]
    res = ld(1, kv("device.id", dev)) + ld(1, kv("ramp.model.name", "ocr")) + ld(1, kv("ramp.model.version", "v1"))
    hp = (f64(2, start) + f64(3, t) + f64(4, sum(c)) +
          ld(6, b"".join(struct.pack("<Q", x) for x in c)) + ld(7, b"".join(struct.pack("<d", x) for x in BOUNDS)))
    hist = ld(1, hp) + varint(2 << 3) + varint(temporality)
    m = [ld(1, b"ramp.inference.duration") + ld(3, b"ms") + ld(9, hist)]

    def sum_metric(name, v):
        p = f64(2, start) + f64(3, t) + f64(4, float(v), "<d")
        return ld(1, name) + ld(7, ld(1, p) + varint(2 << 3) + varint(temporality) + varint(3 << 3) + varint(1))

    def gauge(name, v):
        return ld(1, name) + ld(5, ld(1, f64(3, t) + f64(4, v, "<d")))
    m.append(sum_metric(b"ramp.inference.requests", 100 * scale))
    m.append(sum_metric(b"ramp.inference.errors", 1 * scale))
    m.append(gauge(b"system.cpu.utilization", 0.4))
    m.append(gauge(b"system.memory.utilization", 0.6))
    scope = ld(1, ld(1, b"bench")) + b"".join(ld(2, x) for x in m)
    return ld(1, ld(1, res) + ld(2, scope))


def json_report(dev, t):
    return {"device_id": dev, "model": "ocr:v1", "timestamp": t, "requests": 100, "errors": 1,
            "latency_hist": {"bounds_ms": BOUNDS, "counts": counts_for(len(dev))},
            "cpu_pct": 40.0, "mem_pct": 60.0}


def start_server():
    tmp = tempfile.mkdtemp(prefix="ramp-otlp-bench-")
    os.chmod(tmp, 0o711)
    port = free_port()
    env = dict(os.environ, RAMP_LISTEN=f"127.0.0.1:{port}", RAMP_DATA_DIR=os.path.join(tmp, "d"),
               RAMP_ADMIN_TOKEN="secret", RAMP_RATE_DEVICE="off", RAMP_RATE_INGEST="off",
               RAMP_RATE_ADMIN="off")
    proc = subprocess.Popen([os.path.join(a.build, "rampd")], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, "log"), "w"))
    c = Client(port, "secret")
    for _ in range(600):
        try:
            if c.get("/readyz").status == 200:
                return proc, port, c
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("rampd did not become ready")


def drive(port, token, make_body, ctype, want):
    """Threads posting bodies for a.seconds; returns (requests ok, seconds)."""
    ok = [0] * a.threads
    errors = []
    stop = time.time() + a.seconds

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = 0
        while time.time() < stop:
            body = make_body(k, n)
            if body is None:
                break
            conn.request("POST", want[0], body=body,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": ctype})
            r = conn.getresponse()
            r.read()
            if r.status != want[1]:
                errors.append(r.status)
                break
            ok[k] += 1
            n += 1
        conn.close()
    t0 = time.time()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise SystemExit(f"{want[0]}: answered {errors[:3]}")
    return sum(ok), time.time() - t0


def main():
    proc, port, c = start_server()
    try:
        devs = [f"bench-{i:05d}" for i in range(a.devices)]
        for i in range(0, len(devs), 5000):
            status(c.post("/v1/devices", [{"id": d, "platform": "rpi-arm64"} for d in devs[i:i + 5000]]), 201)
        tok = status(c.post("/v1/tokens", {"name": "bench", "role": "ingest"}), 201).json["token"]
        groups = [devs[i:i + PER_REQ] for i in range(0, len(devs), PER_REQ)]
        start = int(time.time() * 1e9) - 10**9

        # bodies are made before the clock starts (a Python client builds a
        # protobuf body far slower than rampd reads it); a thread that runs
        # out of its bodies stops
        t = time.time()
        now_ns = int(t * 1e9)
        per = 150
        json_bodies = [[json.dumps({"reports": [json_report(d, t) for d in groups[(k + n) % len(groups)]]}).encode()
                        for n in range(min(per, 40))] for k in range(a.threads)]
        delta_bodies = [[b"".join(pb_device(d, start, now_ns, 1, 1) for d in groups[(k + n) % len(groups)])
                         for n in range(min(per, 40))] for k in range(a.threads)]
        # each thread owns its group's streams: the cumulative values only grow
        cum_bodies = [[b"".join(pb_device(d, start, now_ns + n * 10**6, n + 1, 2) for d in groups[k % len(groups)])
                       for n in range(per)] for k in range(a.threads)]

        def cycle(bodies):
            return lambda k, n: bodies[k][n % len(bodies[k])]

        def once(bodies):
            return lambda k, n: bodies[k][n] if n < len(bodies[k]) else None
        json_body, pb_delta, pb_cum = cycle(json_bodies), cycle(delta_bodies), once(cum_bodies)
        res = {}
        for name, make, ctype, want in (
                ("json", json_body, "application/json", ("/v1/telemetry", 202)),
                ("otlp_protobuf_delta", pb_delta, "application/x-protobuf", ("/otlp/v1/metrics", 200)),
                ("otlp_protobuf_cumulative", pb_cum, "application/x-protobuf", ("/otlp/v1/metrics", 200))):
            reqs, secs = drive(port, tok, make, ctype, want)
            pts = reqs * PER_REQ * POINTS / secs
            res[name] = pts
            print(f"{name}: {reqs} requests of {PER_REQ} devices x {POINTS} points in {secs:.1f} s"
                  f" = {pts:,.0f} data points/s", flush=True)
        for name, v in res.items():
            print(f"BENCH {name}_points_per_s {v:.0f}")
        print(f"BENCH otlp_protobuf_delta_vs_json {res['otlp_protobuf_delta'] / res['json']:.2f}x")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


main()
