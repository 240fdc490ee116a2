#!/usr/bin/env python3
"""`make demo`: ramp from nothing, narrated, in under three minutes.

Starts rampd on its embedded PostgreSQL, makes a CI signing key with
openssl, signs and posts two manifests of invoice-ocr (artifacts uploaded),
enrolls 1,000 simulated devices with build/ramp-sim, rolls the first
version out across the empty fleet (canary 5%, 25%, 100%) to `succeeded`,
then rolls out an update that the simulator makes slow and error-prone on
rpi-arm64 devices, and watches rampd roll it back on its own.

  python3 tests/demo.py [--build build] [--devices 1000] [--keep]
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
from ramp import Client, free_port  # noqa: E402

MODEL = "invoice-ocr"
GOOD, BAD = "2026.01.10", "2026.02.01"
PLATFORMS = ("rpi-arm64", "cloud-x86-onnx")
FAULT = f"{BAD}@rpi-arm64:errors=0.03,latency_x=2.5"

FIRST_INSTALL = """# first install on a fleet that runs nothing yet: absolute thresholds only
stages:
  - name: canary
    size: 0.05
    validation_window: 15s
    min_devices: 3
    min_samples: 200
    metrics:
      - name: error_rate
        threshold: < 1%
      - name: inference_latency_p95
        threshold: < 150ms
      - name: install_failure_rate
        threshold: < 5%
  - name: ramp
    size: 0.25
    validation_window: 15s
  - name: full
    size: 1.0
    validation_window: 10s
rollback:
  automatic: true
  on_inconclusive: extend
"""

T0 = time.time()


def say(msg="", indent=0):
    print(f"[{time.time() - T0:5.1f}s] " + "   " * indent + msg, flush=True)


def fail(msg):
    say(f"demo failed: {msg}")
    sys.exit(1)


def must(r, *codes):
    if r.status not in codes:
        fail(f"HTTP {r.status}: {r.body[:400]!r}")
    return r


class Demo:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.dir = tempfile.mkdtemp(prefix="ramp-demo-")
        os.chmod(self.dir, 0o711)
        self.port = free_port()
        self.token = "adm_" + uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = Client(self.port, self.token)
        self.rampd = self.sim = None

    # --- setup ---
    def start_rampd(self):
        say(f"1. starting rampd on its embedded PostgreSQL (data in {self.dir})")
        env = dict(os.environ, RAMP_LISTEN=f"127.0.0.1:{self.port}",
                   RAMP_DATA_DIR=os.path.join(self.dir, "data"), RAMP_ADMIN_TOKEN=self.token,
                   RAMP_EVAL_INTERVAL="1", RAMP_POLL_INTERVAL="2")
        os.makedirs(env["RAMP_DATA_DIR"])
        self.log = open(os.path.join(self.dir, "rampd.log"), "wb")
        self.rampd = subprocess.Popen([os.path.join(self.build, "rampd")], env=env,
                                      stdout=self.log, stderr=self.log, cwd=ROOT)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.rampd.poll() is not None:
                fail("rampd exited; see " + self.log.name)
            try:
                if Client(self.port).get("/readyz").status == 200:
                    say(f"rampd is ready at {self.url} (initdb, migrations, engine)", 1)
                    return
            except OSError:
                pass
            time.sleep(0.2)
        fail("rampd did not become ready")

    def sign(self, text):
        path = os.path.join(self.dir, "manifest.yaml")
        with open(path, "w") as f:
            f.write(text)
        sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", self.key,
                              "-in", path], check=True, capture_output=True).stdout
        return base64.b64encode(sig).decode()

    def keys_and_manifests(self):
        self.key = os.path.join(self.dir, "ci-demo.pem")
        pub = os.path.join(self.dir, "ci-demo.pub")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", self.key],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", self.key, "-pubout", "-out", pub],
                       check=True, capture_output=True)
        must(self.api.put("/v1/keys/ci-demo", {"public_key": open(pub).read()}), 201)
        say("2. CI signing key: Ed25519 made with openssl, public half registered as ci-demo")
        for v in (GOOD, BAD):
            lines = ["model:", f"  name: {MODEL}", f"  version: {v}", "  variants:"]
            for p in PLATFORMS:
                data = f"{MODEL}-{v}-{p} model weights\n".encode() * 64
                digest = hashlib.sha256(data).hexdigest()
                must(self.api.request("PUT", f"/v1/artifacts/sha256:{digest}", raw=data,
                                      ctype="application/octet-stream"), 200, 201)
                lines += [f"    - platform: {p}", f"      file: {MODEL}-{v}-{p}.bin",
                          f"      digest: sha256:{digest}", f"      size: {len(data)}"]
            text = "\n".join(lines) + "\n"
            must(self.api.post("/v1/manifests", {"manifest": text, "signature": self.sign(text),
                                                 "key_id": "ci-demo"}), 201)
        say(f"3. signed manifests posted: {MODEL} {GOOD} and {BAD}, each with a variant for "
            f"{' and '.join(PLATFORMS)} (artifacts uploaded, content-addressed)")
        r = must(self.api.request("PUT", "/v1/policies/first-install", raw=FIRST_INSTALL.encode(),
                                  ctype="application/yaml"), 201)
        r = must(self.api.request("PUT", "/v1/policies/fast-demo",
                                  raw=open(os.path.join(ROOT, "policies", "fast-demo.yaml"), "rb").read(),
                                  ctype="application/yaml"), 201)
        del r

    def start_fleet(self):
        self.stats = os.path.join(self.dir, "fleet.json")
        n = self.a.devices
        cmd = [os.path.join(self.build, "ramp-sim"), "--server", self.url, "--token", self.token,
               "--devices", str(n), "--prefix", "pi", "--platforms",
               "rpi-arm64:0.7,cloud-x86-onnx:0.3", "--labels", "site=wh-{1..20}",
               "--report-interval", "2", "--rps", "20", "--download", "--fault", FAULT,
               "--stats-file", self.stats, "--progress", "0", "--json"]
        self.sim_err = open(os.path.join(self.dir, "sim.log"), "wb")
        self.sim = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.sim_err)
        st = self.wait_fleet(lambda st: st["devices"] == n and st["polls"] >= n, 60, "enrollment")
        plats = ", ".join(f"{v['devices']} {k}" for k, v in st["platforms"].items())
        say(f"4. ramp-sim enrolled {n} devices in bulk ({plats}; labels site=wh-1..wh-20);"
            f" each polls /v1/agent/desired every {st['poll_after_s']}s with its ETag and"
            f" reports telemetry every 2s")
        say(f"simulated fault: {BAD} on rpi-arm64 has 3% errors and 2.5x the latency", 1)

    def fleet(self):
        try:
            with open(self.stats) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def wait_fleet(self, pred, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.sim.poll() is not None:
                fail("ramp-sim exited; see " + self.sim_err.name)
            st = self.fleet()
            if st and pred(st):
                return st
            time.sleep(0.3)
        fail(f"timed out waiting for {what}")

    # --- rollouts ---
    def versions(self, st):
        parts = []
        for k, v in sorted(st["versions"].items()):
            parts.append(f"{v} {'running nothing' if k == '-' else 'on ' + k.split(':', 1)[1]}")
        return ", ".join(parts)

    def watch(self, rid, limit):
        """Narrates rollout rid until it leaves `progressing`; returns it."""
        seen, last_line = 0, 0
        deadline = time.time() + limit
        while time.time() < deadline:
            ro = must(self.api.get(f"/v1/rollouts/{rid}"), 200).json
            for e in ro["events"][seen:]:
                self.narrate_event(ro, e)
            seen = len(ro["events"])
            if ro["state"] not in ("progressing",):
                return ro
            if time.time() - last_line >= 5 and ro["devices"]["target"] > 0:
                st, d = self.fleet(), ro["devices"]
                say(f"stage {ro['stage']['name']} ({ro['stage']['size']:.0%}): "
                    f"{d['assigned']}/{d['target']} assigned, {d['installed']} installed | fleet: "
                    f"{self.versions(st)}", 1)
                last_line = time.time()
            time.sleep(0.25)
        fail(f"rollout {rid} still progressing after {limit}s")

    def decisive(self, ro, stage):
        """The canary arm's latest value per metric in stage, as text."""
        latest = {}
        for a in ro["analysis"]:
            if a["stage"] == stage and a["arm"] == "canary":
                latest[a["metric"]] = a
        out = []
        for m, a in latest.items():
            v = a["value"]
            if v is None:
                continue
            txt = f"{v:.2%}" if m.endswith("_rate") else f"{v:.1f} ms" if "latency" in m else f"{v:.3g}"
            out.append(f"{m} {txt} ({a['threshold']}, {a['result']})")
        return "; ".join(out)

    def narrate_event(self, ro, e):
        t, d = e["type"], e["detail"]
        if t == "promoted":
            say(f"promoted: {d}", 1)
            idx = ro["stage"]["index"] - 1 if ro["state"] == "progressing" else len(ro["policy_spec"]["stages"]) - 1
            say(f"decisive values: {self.decisive(ro, max(idx, 0))}", 2)
        elif t in ("breach", "rolled_back", "succeeded", "inconclusive", "stage_started",
                   "paused", "aborted"):
            say(f"{t}: {d}", 1)

    def rollout(self, version, policy, title):
        r = must(self.api.post("/v1/rollouts", {"model": MODEL, "version": version,
                                                "policy": policy}), 201).json
        base = r["baseline_version"] or "none (first install)"
        say(f"{title}: rollout {r['id']} of {MODEL} {version} under policy {policy};"
            f" baseline {base}")
        return r["id"]

    def run(self):
        n = self.a.devices
        self.start_rampd()
        self.keys_and_manifests()
        self.start_fleet()
        t = time.time()
        rid = self.rollout(GOOD, "first-install", "5. a healthy version")
        ro = self.watch(rid, 120)
        if ro["state"] != "succeeded":
            fail(f"rollout {rid} ended {ro['state']}")
        st = self.wait_fleet(lambda st: st["versions"].get(f"{MODEL}:{GOOD}") == n, 30,
                             "the fleet on the new version")
        say(f"{GOOD} succeeded in {time.time() - t:.0f}s and is now the stable version;"
            f" fleet: {self.versions(st)} (artifacts downloaded and digest-checked:"
            f" {st['downloads']}, mismatches {st['digest_mismatches']})", 1)
        time.sleep(4)  # the stable version reports for a moment: the baseline
        t = time.time()
        rid = self.rollout(BAD, "fast-demo", "6. an update that is bad on Raspberry Pis")
        ro = self.watch(rid, 60)
        if ro["state"] != "rolled_back":
            fail(f"rollout {rid} ended {ro['state']}, expected rolled_back")
        took = time.time() - t
        fails = [a for a in ro["analysis"] if a["result"] == "fail"]
        for a in fails[:3]:
            say(f"decisive: {a['metric']} = {a['value']:.4g} on the canary ({a['devices']} devices,"
                f" {a['samples']} samples) against {a['threshold']}; baseline"
                f" {a['baseline'] if a['baseline'] is None else format(a['baseline'], '.4g')}", 1)
        st = self.wait_fleet(lambda st: st["versions"].get(f"{MODEL}:{GOOD}") == n, 30,
                             "the fleet back on the stable version")
        say(f"rolled back automatically {took:.1f}s after the rollout began; fleet: "
            f"{self.versions(st)}", 1)
        audit = must(self.api.get("/v1/audit/verify"), 200).json
        say(f"7. audit log: {audit.get('entries')} hash-chained entries, verified"
            f" {'ok' if audit.get('ok') else 'BROKEN'}")

    def close(self):
        if self.sim and self.sim.poll() is None:
            self.sim.send_signal(signal.SIGTERM)
            try:
                out, _ = self.sim.communicate(timeout=20)
                s = json.loads(out.decode().strip().splitlines()[-1])
                say(f"fleet totals: {s['polls']} polls ({s['polls_304']} answered 304),"
                    f" {s['reports_accepted']} telemetry reports, {s['installs']} installs,"
                    f" {s['install_failures']} failed, errors"
                    f" {s['poll_errors'] + s['telemetry_errors'] + s['status_errors']}")
            except Exception:  # noqa: BLE001 - best effort at the end
                self.sim.kill()
        if self.rampd and self.rampd.poll() is None:
            self.rampd.send_signal(signal.SIGTERM)
            try:
                self.rampd.wait(30)
            except subprocess.TimeoutExpired:
                self.rampd.kill()
        if self.a.keep:
            say(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    a = ap.parse_args()
    print(f"ramp demo: a signed model rolled out to {a.devices} simulated devices, then a bad"
          " update rolled back automatically\n", flush=True)
    d = Demo(a)
    try:
        d.run()
    finally:
        d.close()
    say(f"demo finished in {time.time() - T0:.0f}s")


if __name__ == "__main__":
    main()
