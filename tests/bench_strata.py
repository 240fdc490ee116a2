#!/usr/bin/env python3
"""Stratified canaries end to end: the time of POST /v1/rollouts (the target
set read, the stage's choice, the assignment's write and the snapshot's
change, all before the 201) and of GET /v1/rollouts/{id} (whose strata
block counts the target set per stratum) with and without stratify_by, over a fleet of
3 platforms x 10 sites, alternating plain and stratified rollouts (each
aborted before the next). Loopback only, bounded: ROUNDS rollouts of each.

  python3 tests/bench_strata.py [--build build] [--devices 10000] [--rounds 5]
"""
import argparse, os, signal, statistics, subprocess, sys, tempfile, time, types
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from ramp import Client, free_port, status  # noqa: E402
from fleet import Signer, publish  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--devices", type=int, default=10000)
ap.add_argument("--rounds", type=int, default=5)
a = ap.parse_args()
tmp = tempfile.mkdtemp(prefix="ramp-strata-")
os.chmod(tmp, 0o711)
port = free_port()
env = dict(os.environ, RAMP_LISTEN=f"127.0.0.1:{port}", RAMP_DATA_DIR=os.path.join(tmp, "d"),
           RAMP_ADMIN_TOKEN="secret", RAMP_EVAL_INTERVAL="1", RAMP_RATE_ADMIN="off")
proc = subprocess.Popen([os.path.join(a.build, "rampd")], env=env, stdout=subprocess.DEVNULL,
                        stderr=open(os.path.join(tmp, "log"), "w"))
import atexit
atexit.register(lambda: proc.poll() is None and (proc.send_signal(signal.SIGTERM), proc.wait(30)))
c = Client(port, "secret")
for _ in range(1200):
    try:
        if c.get("/readyz").status == 200:
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    sys.exit(f"rampd not ready; log in {tmp}/log")
s = types.SimpleNamespace(admin=c, port=port)
signer = Signer(types.SimpleNamespace(tmp=tmp), s)
plats = ("rpi-arm64", "jetson-arm64", "cloud-x86")
publish(s, signer, "ocr", "v0", platforms=plats, stable=True)
devs = [{"id": f"dev-{i:07d}", "platform": plats[i % 3], "labels": {"site": f"wh-{(i // 3) % 10}"}}
        for i in range(a.devices)]
for i in range(0, len(devs), 5000):
    status(c.post("/v1/devices", devs[i:i + 5000]), 201)


def policy(strat):
    st = {"name": "canary", "size": 0.01, "validation_window": "1h"}
    if strat:
        st.update({"stratify_by": ["platform", "site"], "min_per_stratum": 2})
    return {"stages": [st, {"name": "full", "size": 1.0, "validation_window": "1h"}]}


times = {False: [], True: []}
gets = {False: [], True: []}  # GET /v1/rollouts/{id}: the strata block counts per stratum
n = 0
for r in range(a.rounds):
    for strat in (False, True):
        n += 1
        publish(s, signer, "ocr", f"v{n}", platforms=plats)
        t0 = time.perf_counter()
        ro = status(c.post("/v1/rollouts", {"model": "ocr", "version": f"v{n}", "policy": policy(strat)}), 201).json
        times[strat].append(time.perf_counter() - t0)
        for _ in range(3):
            t0 = time.perf_counter()
            status(c.get(f"/v1/rollouts/{ro['id']}"), 200)
            gets[strat].append(time.perf_counter() - t0)
        status(c.post(f"/v1/rollouts/{ro['id']}/abort"), 200)
        print(f"round {r}: {'stratified' if strat else 'plain'}: {1000 * times[strat][-1]:.0f} ms, "
              f"{ro['devices']['assigned']} assigned", flush=True)
for strat in (False, True):
    name = "stratified" if strat else "plain"
    print(f"BENCH rollout_create_{name}_{a.devices} {1000 * statistics.median(times[strat]):.1f} ms")
    print(f"BENCH rollout_get_{name}_{a.devices} {1000 * statistics.median(gets[strat]):.1f} ms")
