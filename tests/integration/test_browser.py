"""The dashboard in a real browser: Debian's chromium, headless, driven by
playwright-core (tests/browser/dashboard.js) against a running rampd while
this test plays a fleet (tests/lib/fleet.py). It checks the signed-out
view, signs in, watches a rollout advance, pauses and resumes it, sees the
automatic rollback after a fault (the ladder, a chart per gated metric),
reads the fleet's devices, promotes and aborts a second rollout, checks a
viewer on a phone gets no buttons and finds the ended rollouts in the list,
and leaves screenshots in the build directory (docs/dashboard.md lists
them).

chromium is installed with apt-get when missing and we are root; the npm
package goes to <build>/node_modules once and is reused. Without chromium,
node or npm the test is skipped, never failed.
"""
import os
import shutil
import subprocess
import tempfile
import threading
import time

from fleet import Fleet, Signer, enroll, publish
from ramp import ROOT, Skip, check, status

CHROMIUM = "/usr/bin/chromium"
# the last line that runs on Debian 12's Node.js 18 (1.62 wants Node 20)
PLAYWRIGHT = "playwright-core@1.61"
_setup_lock = threading.Lock()


def ensure_chromium():
    if os.access(CHROMIUM, os.X_OK):
        return
    if os.getuid() != 0 or not shutil.which("apt-get"):
        raise Skip("chromium is not installed (apt-get install chromium)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        subprocess.run(cmd, env=env, capture_output=True)
    if not os.access(CHROMIUM, os.X_OK):
        raise Skip("chromium could not be installed with apt-get")


def ensure_playwright(build):
    if not (shutil.which("node") and shutil.which("npm")):
        raise Skip("node and npm are needed to drive chromium (apt-get install nodejs npm)")
    mod = os.path.join(build, "node_modules", "playwright-core", "package.json")
    if os.path.exists(mod):
        return os.path.join(build, "node_modules")
    r = subprocess.run(["npm", "install", "--prefix", build, "--no-audit", "--no-fund",
                        "--no-save", PLAYWRIGHT], capture_output=True, text=True, timeout=600)
    if not os.path.exists(mod):
        raise Skip(f"npm could not install {PLAYWRIGHT}: {r.stderr[-500:]}")
    return os.path.join(build, "node_modules")


# The canary gates like the seed policy (p50 and error rate, absolute) plus a
# relative p95 and a system metric; the ramp gates on other metrics (a
# baseline-relative temperature among them), so the charts must follow every
# stage's metrics, not a fixed pair.
POLICY = {
    "stages": [
        {"name": "canary", "size": 0.25, "validation_window": "5s", "min_devices": 2,
         "metrics": [{"name": "inference_latency_p50", "threshold": "< 150ms"},
                     {"name": "error_rate", "threshold": "< 2%"},
                     {"name": "inference_latency_p95", "threshold": "< 2x baseline"},
                     {"name": "cpu_pct", "threshold": "< 90"}]},
        {"name": "ramp", "size": 0.5, "validation_window": "1h",
         "metrics": [{"name": "error_rate", "threshold": "< 2%"},
                     {"name": "inference_latency_p95", "threshold": "< 2x baseline"},
                     {"name": "temperature_c", "threshold": "< baseline + 15"}]},
        {"name": "full", "size": 1.0, "validation_window": "1h"},
    ],
    "rollback": {"automatic": True, "on_inconclusive": "extend", "failure_limit": 1},
}


# no gate and a long window: it waits at the canary until the browser aborts it
QUIET = {"stages": [{"name": "canary", "size": 0.25, "validation_window": "1h"},
                    {"name": "ramp", "size": 0.5, "validation_window": "1h"},
                    {"name": "full", "size": 1.0, "validation_window": "1h"}]}


class SystemFleet(Fleet):
    """The fleet, its reports also carrying system metrics (CPU, temperature)."""

    def report(self, versions_bad=()):
        now = time.time()
        reports = [{"device_id": dev, "model": f"{self.model}:{v}", "timestamp": now,
                    "requests": 100, "errors": 10 if v in versions_bad else 0,
                    "latency_ms": 150.0 if v in versions_bad else 50.0,
                    "cpu_pct": 41.5 + (i % 5), "temperature_c": 55.0 + (i % 3)}
                   for i, (dev, v) in enumerate(sorted(self.running.items()))]
        for i in range(0, len(reports), 1000):
            r = self.gateway.post("/v1/telemetry", {"reports": reports[i:i + 1000]})
            check(r.status == 202, f"telemetry: {r}")
        return len(reports)


class Player(threading.Thread):
    """The fleet: polls and installs throughout; reports healthy telemetry
    once the browser has seen the canary stage (until then the canary is
    inconclusive and extends its window, so it cannot pass unseen), and bad
    telemetry for the new version once the browser has resumed the rollout."""

    def __init__(self, fleet):
        super().__init__(daemon=True)
        self.fleet = fleet
        self.phase = "quiet"
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.fleet.poll_all()
                if self.phase == "healthy":
                    self.fleet.report()
                elif self.phase == "faulty":
                    self.fleet.report(versions_bad=("v2",))
                self.stop.wait(0.5)
        except BaseException as e:  # noqa
            self.error = e


def test_dashboard_in_chromium_follows_a_rollout_through_pause_and_rollback(ctx):
    with _setup_lock:
        ensure_chromium()
        node_path = ensure_playwright(ctx.build)
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "invoice-ocr", "v1", stable=True)
    publish(s, signer, "invoice-ocr", "v2")
    tokens = enroll(s, 40, prefix="pi-wh")
    op = status(s.admin.post("/v1/tokens", {"name": "ops-alice", "role": "operator"}), 201).json["token"]
    viewer = status(s.admin.post("/v1/tokens", {"name": "viewer-bob", "role": "viewer"}), 201).json["token"]
    fleet = SystemFleet(s, tokens, "invoice-ocr")
    player = Player(fleet)
    player.start()
    env = dict(os.environ, NODE_PATH=node_path, RAMP_URL=s.url, RAMP_TOKEN=op,
               RAMP_VIEWER_TOKEN=viewer, RAMP_DEVICES="40",
               SHOTS=ctx.build, CHROMIUM=CHROMIUM,
               USER_DATA_DIR=tempfile.mkdtemp(prefix="chromium-", dir=ctx.tmp))
    proc = subprocess.Popen(["node", os.path.join(ROOT, "tests", "browser", "dashboard.js")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    steps = []
    killer = threading.Timer(240, proc.kill)
    killer.start()
    try:
        for line in proc.stdout:
            steps.append(line.strip())
            if line.strip() == "step signed-in":
                # started now, so the browser sees it arrive and begin at the canary
                status(s.admin.post("/v1/rollouts", {"model": "invoice-ocr", "version": "v2",
                                                     "policy": POLICY}), 201)
            elif line.strip() == "step seen-canary":
                player.phase = "healthy"
            elif line.strip() == "step resumed":
                player.phase = "faulty"
            elif line.strip() == "step devices":
                # a second rollout, for the browser to abort at its first stage
                status(s.admin.post("/v1/rollouts", {"model": "invoice-ocr", "version": "v2",
                                                     "policy": QUIET}), 201)
        err = proc.stderr.read()
        proc.wait()
    finally:
        killer.cancel()
        player.stop.set()
        player.join(10)
        fleet.close()
    check(proc.returncode == 0, f"browser run failed after {steps}:\n{err[-3000:]}")
    check(player.error is None, f"fleet: {player.error!r}")
    check(steps[-1] == "step done", steps)
    for shot in ("dashboard.png", "dashboard-progressing.png", "dashboard-phone.png",
                 "dashboard-signin.png", "dashboard-fleet-devices.png", "dashboard-aborted.png",
                 "dashboard-list-phone.png"):
        path = os.path.join(ctx.build, shot)
        check(os.path.getsize(path) > 10000 and os.path.getmtime(path) > time.time() - 600, path)
