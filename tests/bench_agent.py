#!/usr/bin/env python3
"""ramp-agent: one full update and one rollback through the cache, timed.

A rampd on loopback holds signed manifests for versions of a SIZE-MiB model
whose artifacts it stores; one ramp-agent (poll 0.05 s, a reload command and
a health command that succeed) runs them.  For each round the stable version
moves to a new version (full update: poll, signature, download, sha256,
store, swap, reload, health check, `installed` posted) and then back to the
one before (rollback through the cache: no download).  Each time is from the
PUT of the stable version to the `installed` status in rampd.  The anchor
is curl fetching the same artifact from the same rampd into a file, so the ratio
says what the agent adds to the transfer itself.

  python3 tests/bench_agent.py [--build build] [--mib 64] [--rounds 3]
"""
import argparse
import hashlib
import os
import signal
import statistics
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from benchlib import Rampd, scratch, spawn  # noqa: E402
from ramp import status  # noqa: E402
from fleet import Signer, enroll  # noqa: E402
from runners import publish, set_stable  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--mib", type=int, default=64)
ap.add_argument("--rounds", type=int, default=3)
a = ap.parse_args()
MODEL, PLATFORM = "ocr", "rpi-arm64"

tmp = scratch("ramp-ba-")
bench = Rampd(a.build, tmp, RAMP_RATE_DEVICE="off", RAMP_RATE_ADMIN="off")
c, s, port = bench.c, bench.s, bench.port
signer = Signer(types.SimpleNamespace(tmp=tmp), s)
versions = [f"v{i}" for i in range(a.rounds + 1)]
blobs = {}
for i, v in enumerate(versions):
    blob = hashlib.sha256(v.encode()).digest() * (a.mib * 1024 * 1024 // 32)
    blobs[v] = blob
    publish(s, signer, MODEL, v, blob, stable=(i == 0), platform=PLATFORM)
dev, tok = next(iter(enroll(s, 1, platform=PLATFORM, prefix="pi").items()))

models = os.path.join(tmp, "models")
alog = open(os.path.join(tmp, "agent.log"), "w")
agent = spawn([os.path.join(a.build, "ramp-agent"), "--controller", s.url, "--token", tok,
               "--pubkey", signer.pub, "--state-dir", os.path.join(tmp, "state"),
               "--model-dir", models, "--platform", PLATFORM, "--poll", "0.05",
               "--reload-cmd", "true", "--health-cmd", "true",
               "--telemetry-interval", "30"], stdout=alog, stderr=alog)


def state():
    d = status(c.get(f"/v1/devices/{dev}"), 200).json
    m = (d.get("models") or {}).get(MODEL) or {}
    return m.get("version"), m.get("state")


def timed(v):
    t0 = time.perf_counter()
    set_stable(s, MODEL, v)
    while state() != (v, "installed"):
        if time.perf_counter() - t0 > 300:
            sys.exit(f"bench_agent: {v} not installed in 300 s; see {tmp}/agent.log")
        time.sleep(0.005)
    t = time.perf_counter() - t0
    with open(os.path.join(models, MODEL, "current", "model"), "rb") as f:
        if hashlib.sha256(f.read()).digest() != hashlib.sha256(blobs[v]).digest():
            sys.exit(f"bench_agent: current/model is not {v}")
    return t


t0 = time.perf_counter()
while state() != (versions[0], "installed"):
    if time.perf_counter() - t0 > 300:
        sys.exit("bench_agent: the first version was not installed")
    time.sleep(0.01)

# the anchor: the same artifact over the same HTTP server, by curl
url = f"{s.url}/v1/artifacts/sha256:{hashlib.sha256(blobs[versions[1]]).hexdigest()}"
curl_t = []
for _ in range(a.rounds):
    t = time.perf_counter()
    subprocess.run(["curl", "-sf", "-o", os.path.join(tmp, "curl.out"), "-H",
                    f"Authorization: Bearer {tok}", url], check=True)
    curl_t.append(time.perf_counter() - t)

updates, rollbacks = [], []
for i in range(1, a.rounds + 1):
    updates.append(timed(versions[i]))
    rollbacks.append(timed(versions[0]))  # the kept previous version
agent.send_signal(signal.SIGTERM)
agent.wait(30)
with open(os.path.join(tmp, "agent.log")) as f:
    downloads = f.read().count('msg="downloading"')

med = statistics.median
print(f"agent   full update ({a.mib} MiB, download+verify+swap+reload+health): "
      f"median {med(updates):.3f} s  (runs: {', '.join(f'{t:.3f}' for t in updates)})")
print(f"agent   rollback through the cache (no download): "
      f"median {med(rollbacks) * 1e3:.1f} ms  (runs: {', '.join(f'{t * 1e3:.1f}' for t in rollbacks)})")
print(f"anchor  curl GET of the same artifact from rampd into a file: median {med(curl_t):.3f} s")
print(f"ratio   update / curl transfer: {med(updates) / med(curl_t):.2f}x; "
      f"downloads by the agent: {downloads} for {1 + a.rounds} versions")
