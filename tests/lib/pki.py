"""Certificates made with the openssl CLI for the TLS tests: a CA, a server
certificate for 127.0.0.1, device certificates (CN and optional SANs), and
an HTTPS client (Python's ssl) that speaks like ramp.Client."""
import http.client
import json
import os
import ssl
import subprocess
import time

from ramp import Response


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class PKI:
    """A certificate authority in dir; issue() makes leaf certificates."""

    def __init__(self, dir, name="ca"):
        self.dir = dir
        self.name = name
        self.key = os.path.join(dir, f"{name}.key")
        self.cert = os.path.join(dir, f"{name}.pem")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.key, "-out", self.cert, "-days", "3", "-subj", f"/CN=ramp test {name}",
                 cwd=dir)

    def issue(self, stem, cn, sans=(), days=3):
        """Returns (cert path, key path) for a certificate with subject CN cn."""
        key = os.path.join(self.dir, f"{stem}.key")
        csr = os.path.join(self.dir, f"{stem}.csr")
        cert = os.path.join(self.dir, f"{stem}.pem")
        ext = os.path.join(self.dir, f"{stem}.ext")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", f"/CN={cn}", cwd=self.dir)
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            if sans:
                f.write("subjectAltName=" + ",".join(sans) + "\n")
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
                 "-out", cert, "-days", str(days), "-extfile", ext, cwd=self.dir)
        return cert, key

    def server_cert(self):
        return self.issue("server", "localhost", ["DNS:localhost", "IP:127.0.0.1"])


class TLSClient:
    """A keep-alive HTTPS client trusting ca; cert=(cert, key) presents a client certificate."""

    def __init__(self, port, ca, token=None, cert=None):
        self.port = port
        self.token = token
        self.ctx = ssl.create_default_context(cafile=ca)
        if cert:
            self.ctx.load_cert_chain(cert[0], cert[1])
        self.conn = None

    def request(self, method, path, body=None, token=..., headers=None):
        hdrs = dict(headers or {})
        tok = self.token if token is ... else token
        if tok:
            hdrs["Authorization"] = f"Bearer {tok}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                                    context=self.ctx)
        try:
            self.conn.request(method, path, body=data, headers=hdrs)
            r = self.conn.getresponse()
            b = r.read()
        except BaseException:
            self.close()
            raise
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        return Response(r.status, r.getheaders(), b)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None


def start_tls_server(ctx, pki, env=None, timeout=60):
    """rampd serving HTTPS with a certificate from pki; waits for /readyz over TLS."""
    cert, key = pki.server_cert()
    e = {"RAMP_TLS_CERT": cert, "RAMP_TLS_KEY": key}
    e.update(env or {})
    s = ctx.server(env=e, start=False)
    s.start(wait_ready=False)
    c = TLSClient(s.port, pki.cert)
    deadline = time.time() + timeout
    while True:
        if s.proc.poll() is not None:
            raise AssertionError(f"rampd exited with {s.proc.returncode}:\n{s.log()}")
        try:
            if c.get("/readyz").status == 200:
                break
        except (OSError, ssl.SSLError, http.client.HTTPException):
            pass
        if time.time() > deadline:
            raise AssertionError(f"rampd (TLS) not ready after {timeout}s:\n{s.log()}")
        time.sleep(0.05)
    c.close()
    s.tls_admin = TLSClient(s.port, pki.cert, token=s.admin_token)
    return s
