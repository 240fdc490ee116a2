"""Helpers for rollout tests: signing keys made with the openssl CLI, signed
manifests, enrolled devices, and a small simulated fleet that polls,
installs and reports telemetry the way ramp-agent does."""
import base64
import hashlib
import math
import os
import subprocess
import time
import uuid

from ramp import Client, check, eq, status


class Signer:
    """An Ed25519 (default) or ECDSA P-256 key made by openssl, registered as key_id."""

    def __init__(self, ctx, server, key_id="ci-2026", alg="ed25519"):
        self.dir = ctx.tmp
        self.key_id = key_id
        self.alg = alg
        self.priv = os.path.join(self.dir, f"{key_id}.pem")
        self.pub = os.path.join(self.dir, f"{key_id}.pub")
        if alg == "ed25519":
            subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", self.priv], check=True,
                           capture_output=True)
        else:
            subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                            self.priv], check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", self.priv, "-pubout", "-out", self.pub], check=True,
                       capture_output=True)
        if server is not None:
            status(server.admin.put(f"/v1/keys/{key_id}", {"public_key": open(self.pub).read()}), 201)

    def sign(self, text):
        path = os.path.join(self.dir, "tosign")
        with open(path, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        if self.alg == "ed25519":
            cmd = ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", self.priv, "-in", path]
        else:
            cmd = ["openssl", "dgst", "-sha256", "-sign", self.priv, path]
        sig = subprocess.run(cmd, check=True, capture_output=True).stdout
        return base64.b64encode(sig).decode()


def manifest_text(model, version, platforms):
    lines = ["model:", f"  name: {model}", f"  version: {version}", "  variants:"]
    for p in platforms:
        digest = hashlib.sha256(f"{model}-{version}-{p}".encode()).hexdigest()
        lines += [f"    - platform: {p}", f"      file: {model}-{version}-{p}.bin",
                  f"      digest: sha256:{digest}"]
    return "\n".join(lines) + "\n"


def upload_artifacts(server, model, version, platforms=("rpi-arm64",)):
    """Stores each variant's artifact (the bytes manifest_text's digests are of),
    so the version may be made stable or rolled out."""
    for p in platforms:
        data = f"{model}-{version}-{p}".encode()
        r = server.admin.request("PUT", f"/v1/artifacts/sha256:{hashlib.sha256(data).hexdigest()}",
                                 raw=data, ctype="application/octet-stream")
        check(r.status in (200, 201), f"artifact upload: {r}")


def publish(server, signer, model, version, platforms=("rpi-arm64",), stable=False, artifacts=True):
    if artifacts:
        upload_artifacts(server, model, version, platforms)
    text = manifest_text(model, version, platforms)
    r = server.admin.post("/v1/manifests", {"manifest": text, "signature": signer.sign(text),
                                            "key_id": signer.key_id})
    check(r.status in (200, 201), f"manifest post: {r}")
    if stable:
        status(server.admin.put(f"/v1/models/{model}/stable", {"version": version}), 200)
    return text


def enroll(server, n, platform="rpi-arm64", prefix="dev", labels=None):
    devs = [{"id": f"{prefix}-{i:05d}", "platform": platform, "labels": dict(labels or {})}
            for i in range(n)]
    out = {}
    for i in range(0, n, 5000):
        r = status(server.admin.post("/v1/devices", devs[i:i + 5000]), 201)
        for d in r.json["devices"]:
            out[d["id"]] = d["token"]
    return out


def stage_members(rollout_id, device_ids, size):
    """API.md's ordering: first 8 bytes of SHA-256("<rollout id>:<device id>")."""
    order = sorted(device_ids, key=lambda d: (hashlib.sha256(f"{rollout_id}:{d}".encode()).digest()[:8], d))
    n = len(order)
    k = max(1, math.ceil(size * n - 1e-9)) if n else 0
    return set(order[:min(k, n)])


class Fleet:
    """Devices that poll /v1/agent/desired and report over /v1/telemetry."""

    def __init__(self, server, tokens, model):
        self.server = server
        self.tokens = tokens
        self.model = model
        self.clients = {}
        self.running = {}  # device -> version it installed
        self.etags = {}
        r = status(server.admin.post("/v1/tokens", {"name": f"gw-{uuid.uuid4().hex[:12]}",
                                                     "role": "ingest"}), 201)
        self.gateway = Client(server.port, r.json["token"])

    def client(self, dev):
        c = self.clients.get(dev)
        if c is None:
            c = self.clients[dev] = Client(self.server.port, self.tokens[dev])
        return c

    def desired(self, dev):
        r = status(self.client(dev).get("/v1/agent/desired"), 200)
        for m in r.json["models"]:
            if m["model"] == self.model:
                return m
        return None

    def poll_all(self, install=True):
        """Every device polls; those told a new version 'install' it. Returns {version: count}."""
        return self.poll_some(self.tokens, install)

    def poll_some(self, devices, install=True):
        """poll_all for these devices only."""
        counts = {}
        for dev in devices:
            m = self.desired(dev)
            v = m["version"] if m else None
            if install and v and self.running.get(dev) != v:
                self.client(dev).post("/v1/agent/status", {"model": self.model, "version": v,
                                                           "state": "installed"})
                self.running[dev] = v
            counts[v] = counts.get(v, 0) + 1
        return counts

    def report(self, versions_bad=(), errors=0, requests=100, latency=50.0, bad_errors=10):
        """One telemetry report per device for the version it runs, via the gateway."""
        now = time.time()
        reports = []
        for dev, v in self.running.items():
            bad = v in versions_bad
            reports.append({"device_id": dev, "model": f"{self.model}:{v}", "timestamp": now,
                            "requests": requests, "errors": bad_errors if bad else errors,
                            "latency_ms": latency * (3 if bad else 1)})
        for i in range(0, len(reports), 1000):
            r = self.gateway.post("/v1/telemetry", {"reports": reports[i:i + 1000]})
            eq(r.status, 202, f"telemetry: {r}")
        return len(reports)

    def close(self):
        for c in self.clients.values():
            c.close()
        self.gateway.close()


def rollout(server, rid):
    return status(server.admin.get(f"/v1/rollouts/{rid}"), 200).json
