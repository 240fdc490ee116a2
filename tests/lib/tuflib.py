"""Helpers for tests/integration/test_tuf.py (docs/tuf.md): rampctl's TUF steps,
an independent verifier (python's json for canonical bytes, the cryptography
package for ed25519), and a malicious controller: an HTTP relay to rampd that
can replace what it serves for chosen paths (an old document, a changed one,
an endless one), as a compromised server or a man in the middle would.
"""
import base64
import hashlib
import http.client
import http.server
import json
import os
import subprocess
import threading

from agentdev import _register, _serve
from ramp import check, eq


def canonical(obj):
    """The OLPC canonical form: sorted keys, no spaces, UTF-8, only " and \\ escaped (the
    strings here hold no control characters, where json would escape more)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def keyid(key):
    return hashlib.sha256(canonical(key)).hexdigest()


def verify_role(doc, keys, role):
    """How many distinct keys of role signed doc's canonical bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.exceptions import InvalidSignature
    good = set()
    msg = canonical(doc["signed"])
    for s in doc["signatures"]:
        kid = s["keyid"]
        if kid not in role["keyids"] or kid not in keys or kid in good:
            continue
        pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(keys[kid]["keyval"]["public"]))
        try:
            pub.verify(bytes.fromhex(s["sig"]), msg)
            good.add(kid)
        except InvalidSignature:
            pass
    return len(good)


def sign(doc, pem_path):
    """Adds a signature by the PEM ed25519 key at pem_path (a stolen key, in the fixture)."""
    from cryptography.hazmat.primitives import serialization
    with open(pem_path, "rb") as f:
        k = serialization.load_pem_private_key(f.read(), None)
    # public_bytes(Raw, Raw): Debian 12's cryptography (38) has no public_bytes_raw()
    pub = k.public_key().public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw).hex()
    kid = keyid({"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": pub}})
    doc["signatures"] = [s for s in doc["signatures"] if s["keyid"] != kid]
    doc["signatures"].append({"keyid": kid, "sig": k.sign(canonical(doc["signed"])).hex()})
    return doc


def rampctl(ctx, s, *args, check_rc=0):
    e = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    e.update({"HOME": ctx.tmp, "RAMP_SERVER": s.url, "RAMP_TOKEN": s.admin_token})
    p = subprocess.run([os.path.join(ctx.build, "rampctl"), *args], env=e, capture_output=True,
                       text=True, timeout=120, cwd=ctx.tmp)
    if check_rc is not None:
        eq(p.returncode, check_rc, f"rampctl {' '.join(args)}: {p.stdout} {p.stderr}")
    return p


class Malicious:
    """Relays every request to rampd (port), except paths in self.serve: there a function of
    rampd's own answer (bytes, or None when it had none) gives (status, body bytes), or the
    string "endless" streams bytes without end. self.seen keeps the paths asked."""

    def __init__(self, ctx, port):
        self.port_to = port
        self.serve = {}
        self.seen = []
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def relay(self, method):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                with owner.lock:
                    owner.seen.append(self.path)
                    fn = owner.serve.get(self.path.split("?")[0])
                if fn == "endless":
                    return self.endless()
                c = http.client.HTTPConnection("127.0.0.1", owner.port_to, timeout=60)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                c.request(method, self.path, body=body, headers=hdrs)
                r = c.getresponse()
                data, st, rh = r.read(), r.status, r.getheaders()
                c.close()
                if fn is not None:
                    st, data = fn(data if st == 200 else None)
                    rh = [("Content-Type", "application/json")]
                self.send_response(st)
                for k, v in rh:
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "date",
                                         "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)

            def endless(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                chunk = b"\0" * 65536
                try:
                    for _ in range(16384):  # 1 GiB at most, then the fixture gives up
                        self.wfile.write(chunk)
                except OSError:
                    pass
                self.close_connection = True

            def do_GET(self):
                self.relay("GET")

            def do_HEAD(self):
                self.relay("HEAD")

            def do_POST(self):
                self.relay("POST")

            def do_PUT(self):
                self.relay("PUT")

        _serve(ctx, self, Handler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.srv.server_address[1]}"

    def replace(self, path, fn):
        with self.lock:
            self.serve[path] = fn

    def honest(self):
        with self.lock:
            self.serve.clear()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
        return []


def fixed(data):
    """A replacement that serves data whatever rampd had."""
    return lambda _: (200, data)


def b64(data):
    return base64.b64encode(data).decode()
