"""Driving build/ramp-sim from Python: start a simulated fleet against a
rampd Server, watch its live --stats-file, stop it and read the --json
summary. Used by tests/integration/test_sim.py, tests/demo.py and
tests/bench.py. Also: publishing manifests whose artifacts are really
uploaded, so `--download` verifies digests end to end."""
import hashlib
import json
import os
import signal
import subprocess
import time
import uuid

from fleet import manifest_text
from ramp import check, status


def artifact_bytes(model, version, platform):
    """The bytes whose SHA-256 fleet.manifest_text() puts in the manifest."""
    return f"{model}-{version}-{platform}".encode()


def publish_with_artifacts(server, signer, model, version, platforms=("rpi-arm64",), stable=False):
    """Uploads each variant's artifact, then posts the signed manifest."""
    for p in platforms:
        data = artifact_bytes(model, version, p)
        digest = hashlib.sha256(data).hexdigest()
        r = server.admin.request("PUT", f"/v1/artifacts/sha256:{digest}", raw=data,
                                 ctype="application/octet-stream")
        check(r.status in (200, 201), f"artifact upload: {r}")
    text = manifest_text(model, version, platforms)
    r = server.admin.post("/v1/manifests", {"manifest": text, "signature": signer.sign(text),
                                            "key_id": signer.key_id})
    check(r.status in (200, 201), f"manifest post: {r}")
    if stable:
        status(server.admin.put(f"/v1/models/{model}/stable", {"version": version}), 200)
    return text


class Sim:
    """One ramp-sim process. Use as a context manager so it never outlives a test."""

    def __init__(self, build, server, *args, devices=300, prefix="sim", tmp="/tmp", token=None):
        self.stats_path = os.path.join(tmp, f"sim-{uuid.uuid4().hex[:8]}.json")
        self.err_path = self.stats_path + ".err"
        self.cmd = [os.path.join(build, "ramp-sim"), "--server", server.url,
                    "--token", token or server.admin_token, "--devices", str(devices),
                    "--prefix", prefix, "--stats-file", self.stats_path, "--json",
                    "--progress", "0"] + [str(a) for a in args]
        self.proc = None
        self.summary = None

    def start(self):
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self.err)
        return self

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.err.close()

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode(errors="replace")[-3000:]
        except OSError:
            return ""

    def stats(self):
        """The latest --stats-file summary, or None before the first."""
        if self.proc.poll() is not None and self.summary is None:
            raise AssertionError(f"ramp-sim exited with {self.proc.returncode}: {self.stderr()}")
        try:
            with open(self.stats_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def wait(self, pred, timeout=30, msg="fleet condition", interval=0.2):
        deadline = time.time() + timeout
        st = None
        while time.time() < deadline:
            st = self.stats()
            if st is not None and pred(st):
                return st
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {msg}; last stats: {json.dumps(st)[:1500]}"
                             f"\nramp-sim stderr: {self.stderr()}")

    def stop(self, timeout=30):
        """SIGTERM, then the JSON summary it prints (dict)."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=timeout)
        check(self.proc.returncode == 0, f"ramp-sim exit {self.proc.returncode}: {self.stderr()}")
        self.summary = json.loads(out.decode().strip().splitlines()[-1])
        return self.summary

    def run(self, timeout=600):
        """Runs to completion (--duration/--once); returns the JSON summary."""
        if self.proc is None:
            self.start()
        out, _ = self.proc.communicate(timeout=timeout)
        check(self.proc.returncode == 0, f"ramp-sim exit {self.proc.returncode}: {self.stderr()}")
        self.summary = json.loads(out.decode().strip().splitlines()[-1])
        return self.summary


def on_version(stats, version, model="ocr"):
    return stats["versions"].get(f"{model}:{version}", 0)
