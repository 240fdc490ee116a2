"""Debian's SWUpdate, unchanged, rolls out through ramp: its suricatta
hawkBit client polls rampd's DDI API, is given the canary's deployment,
downloads the signed .swu through ramp's artifact store, installs it and
reports back, and its feedback arrives as ramp agent status."""
import os
import re
import shutil
import signal
import subprocess
import time

from ddi import DDI, publish_artifact, register
from fleet import Signer
from ramp import Skip, check, eq, status, wait_for
from swu import build_swu, make_cert

MODEL = "edge-ocr"
DEVICE = "swu-dev-1"


def ensure_swupdate():
    if shutil.which("swupdate"):
        return
    if os.getuid() != 0:
        raise Skip("swupdate is not installed (apt-get install swupdate as root)")
    p = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "swupdate"],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0 or not shutil.which("swupdate"):
        raise Skip(f"could not install swupdate: {p.stderr[-300:]}")


CONFIG = """globals : {
	verbose = true;
};
identify : (
	{ name = "site"; value = "wh-3"; },
	{ name = "board"; value = "ramp-test"; },
	{ name = "serial number"; value = "not a label"; }
);
"""


class Suricatta:
    """swupdate in suricatta mode against rampd, in its own process group,
    stopped by its PID; its identify section becomes DDI configData."""

    def __init__(self, ctx, server, token, cert, tag, confirm=None):
        self.log_path = os.path.join(ctx.tmp, f"swupdate-{tag}.log")
        cfg = os.path.join(ctx.tmp, "swupdate.cfg")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        sur = f"-t DEFAULT -u {server.url} -i {DEVICE} -k {token} -p 1 -r 2 -w 1"
        if confirm:
            sur += f" -c {confirm}"
        # TMPDIR keeps its IPC sockets apart from any other swupdate
        env = dict(os.environ, TMPDIR=ctx.tmp)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["swupdate", "-v", "-f", cfg, "-H", "ramp:1.0", "-k", cert,
                                      "-u", sur],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     cwd=ctx.tmp, start_new_session=True,
                                     # as under its systemd unit: a peer that closes a
                                     # connection is an EPIPE for swupdate, not a SIGPIPE
                                     preexec_fn=lambda: signal.signal(signal.SIGPIPE,
                                                                      signal.SIG_IGN))

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def running(self):
        """True while swupdate runs; an early exit fails the test with its log."""
        if self.proc.poll() is not None:
            raise AssertionError(f"swupdate exited with {self.proc.returncode}:\n"
                                 f"{self.text()[-3000:]}")
        return True

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def statuses(ctx, s):
    return ctx.psql(s, f"SELECT version, state FROM agent_status WHERE device_id = '{DEVICE}'"
                       " ORDER BY at, state")


def log_lines(s):
    with open(s.log_path, "rb") as f:
        return f.read().decode(errors="replace").splitlines()


def transcript(s, since=0):
    """The DDI and artifact requests in rampd's access log from line since on."""
    out = []
    for line in log_lines(s)[since:]:
        m = re.search(r'msg=request method=(\S+) path="([^"]+)" status=(\d+)', line)
        if m and ("/controller/v1/" in m.group(2) or m.group(2).startswith("/v1/artifacts/")):
            out.append(f"{m.group(1)} {m.group(2)} -> {m.group(3)}")
    return out


def setup(ctx, s, v2_signed_by_other=False):
    """1.0.0 stable and 2.0.0 published as signed .swu images, the device on
    1.0.0; returns (device token, the signer certificate swupdate trusts)."""
    signer = Signer(ctx, s)
    key, cert = make_cert(ctx.tmp)
    target = os.path.join(ctx.tmp, "rootfs", "model.bin")
    os.makedirs(os.path.dirname(target))
    v1 = build_swu(ctx.tmp, "1.0.0", [("model.bin", b"model v1\n", target)], key, cert)
    k2, c2 = (key, cert)
    if v2_signed_by_other:
        other = os.path.join(ctx.tmp, "other")
        os.makedirs(other)
        k2, c2 = make_cert(other, cn="someone-else")
    v2 = build_swu(ctx.tmp, "2.0.0", [("model.bin", b"model v2 weights\n", target)], k2, c2)
    publish_artifact(s, signer, MODEL, "1.0.0", v1, "edge-ocr-1.0.0.swu", stable=True)
    publish_artifact(s, signer, MODEL, "2.0.0", v2, "edge-ocr-2.0.0.swu")
    token = register(s, DEVICE)
    # the device already runs 1.0.0 and says so, as any DDI client may
    dev = DDI(s, DEVICE, token)
    status(dev.request("PUT", "/installedBase", {"name": MODEL, "version": "1.0.0"}), 200)
    dev.close()
    return token, cert, target


def save_transcript(ctx, s, since, tags):
    out = os.environ.get("RAMP_HAWKBIT_TRANSCRIPT")
    if not out:
        return
    with open(out, "a") as f:
        f.write("--- rampd access log: requests while suricatta ran ---\n")
        f.write("\n".join(transcript(s, since)) + "\n")
        f.write("--- agent_status rows ---\n")
        f.write("\n".join(" ".join(r) for r in statuses(ctx, s)) + "\n")
        for t in tags:
            f.write(f"--- swupdate ({t}) ---\n")
            with open(os.path.join(ctx.tmp, f"swupdate-{t}.log"), errors="replace") as g:
                f.write(g.read())


def test_swupdate_suricatta_installs_the_canary_through_ramp_and_reports_back(ctx):
    ensure_swupdate()
    s = ctx.server(env={"RAMP_ACCESS_LOG": "1", "RAMP_POLL_INTERVAL": "1"})
    token, cert, target = setup(ctx, s)
    pol = {"stages": [{"name": "canary", "size": 0.01, "validation_window": "1h"},
                      {"name": "full", "size": 1.0, "validation_window": "1h"}]}
    rid = status(s.admin.post("/v1/rollouts", {"model": MODEL, "version": "2.0.0",
                                               "policy": pol}), 201).json["id"]
    since = len(log_lines(s))
    sur = Suricatta(ctx, s, token, cert, "install")
    try:
        wait_for(lambda: sur.running() and ["2.0.0", "downloading"] in statuses(ctx, s)
                 and os.path.exists(target)
                 and open(target, "rb").read() == b"model v2 weights\n",
                 timeout=90, interval=0.5, msg="suricatta to download and install 2.0.0")
        # SWUpdate says "installed, testing pending" until the new image is
        # confirmed (after a reboot on a real device)
        wait_for(lambda: "Update successful" in sur.text() or sur.proc.poll() is not None,
                 timeout=60, msg="suricatta to finish the install")
    finally:
        sur.stop()
    first = transcript(s, since)
    eq(statuses(ctx, s)[-1], ["2.0.0", "downloading"], "not installed before it is confirmed")
    # the "reboot": suricatta starts again and confirms the update (-c 2: SUCCESS)
    sur = Suricatta(ctx, s, token, cert, "confirm", confirm="2")
    try:
        wait_for(lambda: sur.running() and ["2.0.0", "installed"] in statuses(ctx, s), timeout=60, interval=0.5,
                 msg="suricatta's confirmation as an installed status")
    finally:
        sur.stop()
    d = status(s.admin.get(f"/v1/devices/{DEVICE}"), 200).json
    eq((d["models"][MODEL]["version"], d["models"][MODEL]["state"]), ("2.0.0", "installed"))
    # its identify section arrived as configData: valid labels merged, the rest ignored
    eq((d["labels"].get("site"), d["labels"].get("board")), ("wh-3", "ramp-test"))
    check("serial number" not in d["labels"], d["labels"])
    ro = status(s.admin.get(f"/v1/rollouts/{rid}"), 200).json
    eq(ro["devices"]["installed"], 1, str(ro["devices"]))
    check(any(x.startswith("GET /DEFAULT/controller/v1/swu-dev-1/deploymentBase/") for x in first),
          first)
    check(any(x.startswith("GET /v1/artifacts/sha256:") and x.endswith(("200", "206"))
              for x in first), first)
    check(any(x.startswith("PUT /DEFAULT/controller/v1/swu-dev-1/configData") for x in first),
          first)
    # nothing more to do: the poll carries no deployment now
    dev = DDI(s, DEVICE, token)
    check("deploymentBase" not in dev.poll().json["_links"])
    dev.close()
    save_transcript(ctx, s, since, ["install", "confirm"])


def test_swupdate_failure_counts_toward_install_failure_rate_and_rolls_back(ctx):
    ensure_swupdate()
    s = ctx.server(env={"RAMP_ACCESS_LOG": "1", "RAMP_POLL_INTERVAL": "1"})
    token, cert, target = setup(ctx, s, v2_signed_by_other=True)
    pol = {"stages": [{"name": "canary", "size": 0.01, "validation_window": "1h",
                       "metrics": [{"name": "install_failure_rate", "threshold": "< 50%"}]},
                      {"name": "full", "size": 1.0, "validation_window": "1h"}],
           "rollback": {"failure_limit": 1}}
    rid = status(s.admin.post("/v1/rollouts", {"model": MODEL, "version": "2.0.0",
                                               "policy": pol}), 201).json["id"]
    since = len(log_lines(s))
    sur = Suricatta(ctx, s, token, cert, "reject")
    try:
        wait_for(lambda: sur.running() and ["2.0.0", "failed"] in statuses(ctx, s), timeout=90, interval=0.5,
                 msg="suricatta to report the rejected image as failed")
        wait_for(lambda: status(s.admin.get(f"/v1/rollouts/{rid}"), 200).json["state"]
                 == "rolled_back", timeout=30, interval=0.5, msg="the canary to roll back")
    finally:
        sur.stop()
    check(not os.path.exists(target), "an image signed by an unknown key is not installed")
    ro = status(s.admin.get(f"/v1/rollouts/{rid}"), 200).json
    check(any(a["metric"] == "install_failure_rate" and a["result"] == "fail"
              for a in ro["analysis"]), ro["analysis"])
    # back on 1.0.0, which it never left: nothing to deploy
    dev = DDI(s, DEVICE, token)
    links = dev.poll().json["_links"]
    check("deploymentBase" not in links and "cancelAction" not in links, links)
    dev.close()
    save_transcript(ctx, s, since, ["reject"])
