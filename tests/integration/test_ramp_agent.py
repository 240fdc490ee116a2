"""ramp-agent, the on-device agent built from the same agent library as
ramp-runner: verified files behind an atomically swapped symlink, N+1 files
kept, the reload hook run after each swap (and a failing hook undone), and
telemetry posted."""
import os
import signal
import subprocess

from fleet import Signer, enroll
from ramp import check, eq, wait_for
from runners import publish, set_stable, statuses

MODEL = "ocr"
PLATFORM = "rpi-arm64"


class Agent:
    def __init__(self, ctx, server, token, pubkey):
        self.dir = os.path.join(ctx.tmp, "models")
        self.reloads = os.path.join(ctx.tmp, "reloads.log")
        os.makedirs(self.dir)
        # the hook refuses one version, as an application that cannot load it would
        hook = (f'echo "$RAMP_MODEL $RAMP_VERSION $(head -n1 "$RAMP_MODEL_PATH")" >> {self.reloads}; '
                f'test "$RAMP_VERSION" != v-hook-fails')
        self.log = open(os.path.join(ctx.tmp, "agent.log"), "w")
        self.p = subprocess.Popen([os.path.join(ctx.build, "ramp-agent"), "--controller", server.url,
                                   "--token", token, "--pubkey", pubkey, "--model-dir", self.dir,
                                   "--platform", PLATFORM, "--reload-cmd", hook, "--poll", "0.2",
                                   "--telemetry-interval", "0.5"], stdout=self.log, stderr=self.log)

    def content(self):
        try:
            with open(os.path.join(self.dir, MODEL, "current", "model"), "rb") as f:
                return f.read()
        except OSError:
            return None

    def wait_content(self, data):
        wait_for(lambda: self.content() == data, msg=f"model link to {data[:20]!r}")

    def files(self):
        d = os.path.join(self.dir, MODEL)
        return sorted(f for f in os.listdir(d) if not f.startswith(".") and f not in ("current", "previous"))

    def reload_lines(self):
        with open(self.reloads) as f:
            return [line.split() for line in f.read().splitlines()]

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=30)
        self.log.close()
        return rc


def test_ramp_agent_swaps_a_symlink_runs_the_reload_hook_and_keeps_n_plus_1_files(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    dev, tok = next(iter(enroll(s, 1, platform=PLATFORM, prefix="pi").items()))
    blobs = {v: f"weights of {v}\n".encode() * 50 for v in ("v1", "v2", "v3", "v-hook-fails")}
    for v, data in blobs.items():
        publish(s, signer, MODEL, v, data, stable=(v == "v1"), platform=PLATFORM)
    a = Agent(ctx, s, tok, signer.pub)
    try:
        a.wait_content(blobs["v1"])
        check(os.path.islink(os.path.join(a.dir, MODEL, "current")))
        for v in ("v2", "v3"):
            set_stable(s, MODEL, v)
            a.wait_content(blobs[v])
        wait_for(lambda: statuses(ctx, s, dev)[-1][:2] == ("v3", "installed"), msg="v3 installed")
        eq(len(a.files()), 2)  # running and previous: v1's file is gone
        set_stable(s, MODEL, "v2")  # the kept previous one: back without a download
        a.wait_content(blobs["v2"])
        wait_for(lambda: statuses(ctx, s, dev)[-1][:2] == ("v2", "installed"), msg="v2 installed")
        check("no download" in statuses(ctx, s, dev)[-1][2], statuses(ctx, s, dev)[-1])
        set_stable(s, MODEL, "v-hook-fails")
        rows = wait_for(lambda: [x for x in statuses(ctx, s, dev, "v-hook-fails") if x[1] == "failed"],
                        msg="v-hook-fails reported failed")
        check("reload: command exited with 1; previous version v2 restored" in rows[0][2], rows)
        eq(a.content(), blobs["v2"])  # the link was put back
        lines = a.reload_lines()
        eq([x[1] for x in lines], ["v1", "v2", "v3", "v2", "v-hook-fails", "v2"])
        eq(lines[-1][2:], ["weights", "of", "v2"])  # the hook ran again on the old model
        wait_for(lambda: ctx.psql(s, "SELECT count(*) FROM telemetry WHERE device_id = "
                                     f"'{dev}' AND model_load_ms IS NOT NULL HAVING count(*) > 0"),
                 msg="telemetry from ramp-agent")
    finally:
        rc = a.stop()
        eq(rc, 0)
