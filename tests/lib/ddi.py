"""Helpers for the hawkBit DDI tests: a DDI client speaking to rampd with
TargetToken or GatewayToken auth, and models published with a real
artifact in ramp's store (DDI deployments link to it)."""
import hashlib
from urllib.parse import urlsplit

from ramp import Client, check, status


class DDI:
    """One controller's view of /{tenant}/controller/v1/{controllerId}."""

    def __init__(self, server, controller, token, scheme="TargetToken", tenant="DEFAULT"):
        self.server = server
        self.controller = controller
        self.auth = f"{scheme} {token}"
        self.root = f"/{tenant}/controller/v1/{controller}"
        self.client = Client(server.port, None)

    def request(self, method, sub="", body=None, headers=None, raw=None, path=None):
        h = {"Authorization": self.auth, "Accept": "application/hal+json"}
        h.update(headers or {})
        return self.client.request(method, path or self.root + sub, body=body, token=None,
                                   headers=h, raw=raw)

    def poll(self, **kw):
        return status(self.request("GET", **kw), 200)

    def follow(self, href, method="GET", body=None):
        """Requests a link from an answer (absolute URL) on this server."""
        u = urlsplit(href)
        check(u.port == self.server.port, f"link {href} points at this server")
        path = u.path + (f"?{u.query}" if u.query else "")
        return self.request(method, path=path, body=body)

    def feedback(self, action_id, execution, finished, details=(), kind="deploymentBase"):
        body = {"id": str(action_id), "time": "20260101T000000",
                "status": {"execution": execution, "result": {"finished": finished,
                                                              "progress": {"cnt": 1, "of": 1}},
                           "details": list(details)}}
        return self.request("POST", f"/{kind}/{action_id}/feedback", body)

    def close(self):
        self.client.close()


def links(resp):
    return resp.json.get("_links", {})


def action_of(href):
    """The action id in a deploymentBase/cancelAction link."""
    return int(urlsplit(href).path.rstrip("/").split("/")[-1])


def publish_artifact(server, signer, model, version, data, filename, platform="linux",
                     stable=False):
    """Stores data as an artifact and posts a signed manifest whose variant is it."""
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    r = server.admin.request("PUT", f"/v1/artifacts/{d}", raw=data,
                             ctype="application/octet-stream")
    check(r.status in (200, 201), f"artifact upload: {r}")
    text = (f"model:\n  name: {model}\n  version: {version}\n  variants:\n"
            f"    - platform: {platform}\n      file: {filename}\n      digest: {d}\n"
            f"      size: {len(data)}\n")
    r = server.admin.post("/v1/manifests", {"manifest": text, "signature": signer.sign(text),
                                            "key_id": signer.key_id})
    check(r.status in (200, 201), f"manifest post: {r}")
    if stable:
        status(server.admin.put(f"/v1/models/{model}/stable", {"version": version}), 200)
    return d


def register(server, device_id, platform="linux", labels=None):
    """Registers one device; returns its token."""
    r = status(server.admin.post("/v1/devices", {"id": device_id, "platform": platform,
                                                 "labels": labels or {}}), 201)
    return r.json["token"]
