"""Helpers for tests of ramp-runner and ramp-agent as fleet agents: ONNX
models built with Debian's python3-onnx (tests/runner/models.py), artifacts
uploaded to rampd, manifests that name their real digests, and runner
processes polling a rampd."""
import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess

from ramp import Skip, check, spawn_listening, status, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS_PY = os.path.join(HERE, "..", "runner", "models.py")
PLATFORM = "cloud-x86-onnx"
DEBIAN_PYTHON = "/usr/bin/python3"


def check_exposition(text):
    """Every sample's family has # HELP and # TYPE; promtool (the prometheus
    package, which make test installs) agrees when it is there."""
    if isinstance(text, bytes):
        text = text.decode()
    typed, helped = {}, set()
    for ln in text.splitlines():
        if ln.startswith("# TYPE "):
            _, _, name, kind = ln.split(" ", 3)
            typed[name] = kind
        elif ln.startswith("# HELP "):
            helped.add(ln.split(" ")[2])
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", ln).group(0)
        fam = next((f for f in (name, re.sub(r"_(bucket|sum|count)$", "", name)) if f in typed), None)
        check(fam is not None and fam in helped, f"no # HELP/# TYPE for {ln}")
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
        check(p.returncode == 0, (p.stdout + p.stderr).decode())


def build_model(ctx, kind, *args):
    """Writes the model `kind` (models.py's names) under ctx.tmp; returns its bytes."""
    path = os.path.join(ctx.tmp, "-".join([kind, *map(str, args)]) + ".onnx")
    p = subprocess.run([DEBIAN_PYTHON, MODELS_PY, kind, path, *map(str, args)], capture_output=True,
                       text=True)
    if p.returncode != 0:
        if "No module named" in p.stderr:
            raise Skip("Debian's python3-onnx and python3-numpy are not installed")
        raise AssertionError(f"models.py {kind}: {p.stderr}")
    with open(path, "rb") as f:
        return f.read()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload(server, data):
    r = server.admin.request("PUT", f"/v1/artifacts/{digest(data)}", raw=data,
                             ctype="application/octet-stream")
    check(r.status in (200, 201), f"artifact upload: {r}")
    return digest(data)


def manifest(model, version, dig, size=None, url=None, platform=PLATFORM):
    lines = ["model:", f"  name: {model}", f"  version: {version}", "  variants:",
             f"    - platform: {platform}", f"      file: {model}-{version}.onnx",
             f"      digest: {dig}"]
    if size is not None:
        lines.append(f"      size: {size}")
    if url is not None:
        lines.append(f"      url: {url}")
    return "\n".join(lines) + "\n"


def publish(server, signer, model, version, data, stable=False, **kw):
    """Uploads data and posts a manifest for it signed by signer; kw overrides digest, size, url, platform."""
    dig = upload(server, data) if data is not None else None
    text = manifest(model, version, kw.get("digest", dig), kw.get("size", len(data) if data else None),
                    kw.get("url"), kw.get("platform", PLATFORM))
    r = server.admin.post("/v1/manifests", {"manifest": text, "signature": signer.sign(text),
                                            "key_id": signer.key_id})
    check(r.status in (200, 201), f"manifest post: {r}")
    if stable:
        set_stable(server, model, version)
    return text


def set_stable(server, model, version):
    status(server.admin.put(f"/v1/models/{model}/stable", {"version": version}), 200)


def affine_out(k, x=(1.0, 2.0, 3.0, 4.0)):
    """What models.py's affine model K answers for x."""
    return [v * k + k for v in x]


class Runner:
    """One ramp-runner process in fleet mode against server."""

    def __init__(self, ctx, server, token, pubkey, name="r", extra=(), config=None):
        self.ctx = ctx
        self.cache = os.path.join(ctx.tmp, f"cache-{name}")
        self.log_path = os.path.join(ctx.tmp, f"runner-{name}.log")
        args = ["--threads", "4"]
        if config:
            args += ["--config", config]
        else:
            args += ["--controller", server.url, "--token", token, "--pubkey", pubkey,
                     "--cache", self.cache, "--poll", "0.2", "--telemetry-interval", "0.5"]
        args += list(extra)
        self.log = open(self.log_path, "w")

        def make_args(port):
            self.port = port
            self.args = [os.path.join(ctx.build, "ramp-runner"), "--listen", f"127.0.0.1:{port}"] + args
            return self.args
        self.p, self.port = spawn_listening(make_args, self.log, lambda port: self.get("/healthz")[0] == 200)
        ctx.runners = getattr(ctx, "runners", []) + [self]

    def tail(self, n=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def request(self, method, path, body=None, conn=None):
        try:
            c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            c.request(method, path, body=None if body is None else json.dumps(body),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if conn is None:
                c.close()
            return r.status, data
        except OSError:
            return 0, b""

    def get(self, path):
        return self.request("GET", path)

    def version(self):
        st, body = self.get("/healthz")
        if st != 200:
            return None
        m = json.loads(body)["model"]
        return m and m["version"]

    def wait_version(self, v, timeout=60):
        wait_for(lambda: self.version() == v, timeout=timeout,
                 msg=f"runner on {v} (now {self.version()}): {self.tail()}")

    def infer(self, x=(1.0, 2.0, 3.0, 4.0)):
        st, data = self.request("POST", "/v1/infer", {"inputs": {"x": [list(x)]}})
        return st, json.loads(data) if data else None

    def metric(self, name):
        st, text = self.get("/metrics")
        m = re.search(rb"^" + re.escape(name.encode()) + rb" (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    def signal(self, sig):
        self.p.send_signal(sig)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def stop_runners(ctx):
    """Stops every runner of ctx; returns the problems: a non-zero exit, sanitizer reports."""
    bad = []
    for r in getattr(ctx, "runners", []):
        rc = r.stop()
        log = r.tail(10 ** 8)
        if rc != 0:
            bad.append(f"ramp-runner exited with {rc}: {log[-3000:]}")
        bad += [f"ramp-runner: {log[log.find(m) - 200:][:4000]}" for m in SANITIZER_MARKERS if m in log]
    ctx.runners = []
    return bad


@contextlib.contextmanager
def running(ctx):
    """Stops the runners started inside; when the body passed, they must have exited cleanly."""
    try:
        yield
    except BaseException:
        stop_runners(ctx)
        raise
    bad = stop_runners(ctx)
    check(not bad, "\n".join(bad))


def statuses(ctx, server, device, version=None):
    """[(version, state, detail)] the device reported, oldest first."""
    where = f"device_id = '{device}'" + (f" AND version = '{version}'" if version else "")
    return [tuple(r) for r in ctx.psql(server, "SELECT version, state, coalesce(detail, '') FROM agent_status"
                                              f" WHERE {where} ORDER BY at, ctid")]


def b64(text):
    return base64.b64encode(text.encode()).decode()
