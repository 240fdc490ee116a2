"""What the bench scripts share: a scratch folder, child processes stopped at
exit (last started first), and a rampd on a free loopback port with its own
embedded PostgreSQL, waited for until /readyz says 200.

    tmp = scratch("ramp-ba-")
    bench = Rampd(build, tmp, RAMP_EVAL_INTERVAL="1")
    bench.c.get("/v1/devices")  # admin Client; bench.s is what fleet.py takes
"""
import atexit
import os
import signal
import subprocess
import tempfile
import time
import types

from ramp import Client, free_port

ADMIN = "secret"
_procs = []


def scratch(prefix):
    """A fresh folder others may traverse (the agent's reload command runs
    as another user in some tests)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    os.chmod(tmp, 0o711)
    return tmp


def stop_all():
    for p in reversed(_procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
    _procs.clear()


atexit.register(stop_all)


def spawn(argv, **kw):
    """subprocess.Popen, stopped with SIGTERM (then SIGKILL) at exit."""
    p = subprocess.Popen(argv, **kw)
    _procs.append(p)
    return p


class Rampd:
    """One rampd for a bench: env gets RAMP_LISTEN, RAMP_DATA_DIR (tmp/d) and
    the admin token; extra settings come as keyword arguments. Its stderr
    goes to tmp/<log>."""

    def __init__(self, build, tmp, log="rampd.log", ready_s=120, **settings):
        self.port = free_port()
        self.tmp = tmp
        self.log = os.path.join(tmp, log)
        env = dict(os.environ, RAMP_LISTEN=f"127.0.0.1:{self.port}",
                   RAMP_DATA_DIR=os.path.join(tmp, "d"), RAMP_ADMIN_TOKEN=ADMIN, **settings)
        self.proc = spawn([os.path.join(build, "rampd")], env=env, stdout=subprocess.DEVNULL,
                          stderr=open(self.log, "w"))
        self.c = Client(self.port, ADMIN)
        deadline = time.monotonic() + ready_s
        while True:
            try:
                if self.c.get("/readyz").status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"rampd did not become ready; see {self.log}")
            time.sleep(0.1)
        self.url = f"http://127.0.0.1:{self.port}"
        # what tests/lib/fleet.py's helpers take as the server
        self.s = types.SimpleNamespace(admin=self.c, port=self.port, url=self.url)
