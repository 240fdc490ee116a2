#!/usr/bin/env python3
"""Breach-to-rollback: the time from the commit of the first breaching
telemetry report (its 2xx) to the first desired answer that carries the
baseline, with a 1 s evaluation interval, over several rollouts.

  python3 tests/bench_rollback.py [--build build]
"""
import argparse, os, statistics, sys, time, types
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from benchlib import Rampd, scratch  # noqa: E402
from ramp import status  # noqa: E402
from fleet import Signer, publish, enroll, Fleet  # noqa: E402
ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
a = ap.parse_args()
tmp = scratch("ramp-rb-")
# the probe polls one device in a tight loop: no per-token limits
bench = Rampd(a.build, tmp, log="log", RAMP_EVAL_INTERVAL="1", RAMP_RATE_DEVICE="off",
              RAMP_RATE_INGEST="off", RAMP_RATE_ADMIN="off")
c, s, port = bench.c, bench.s, bench.port
ctx = types.SimpleNamespace(tmp=tmp)
signer = Signer(ctx, s)
publish(s, signer, "ocr", "v0", stable=True)
toks = enroll(s, 100)
res = []
for k in range(1, 8):
    v = f"v{k}"
    publish(s, signer, "ocr", v)
    pol = {"stages": [{"name": "canary", "size": 0.1, "validation_window": "1h", "min_samples": 1,
                       "metrics": [{"name": "error_rate", "threshold": "< 1%"}]},
                      {"name": "full", "size": 1.0, "validation_window": "1h"}]}
    rid = status(c.post("/v1/rollouts", {"model": "ocr", "version": v, "policy": pol}), 201).json["id"]
    f = Fleet(s, toks, "ocr")
    f.poll_all()
    canary = [d for d, ver in f.running.items() if ver == v]
    f.report()                      # healthy
    time.sleep(1.3)
    dev = canary[0]
    cl = f.client(dev)
    t0 = time.time()
    f.report(versions_bad=(v,))     # 2xx: committed
    t1 = time.time()
    while True:
        r = cl.get("/v1/agent/desired")
        if r.json["models"][0]["version"] != v:
            break
    t2 = time.time()
    res.append(t2 - t1)
    print(f"rollout {rid}: report commit {1000*(t1-t0):.0f} ms, commit -> baseline answer {1000*(t2-t1):.0f} ms", flush=True)
    # back to v0 as stable for the next round
    status(c.put("/v1/models/ocr/stable", {"version": "v0"}), 200)
    f.close()
print(f"median {1000*statistics.median(res):.0f} ms, max {1000*max(res):.0f} ms over {len(res)} rollbacks")
print(f"BENCH breach_to_rollback_median {1000*statistics.median(res):.1f} ms")
