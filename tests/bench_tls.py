#!/usr/bin/env python3
"""The cost of TLS on the agent poll: one rampd (embedded PostgreSQL) serving
HTTPS on RAMP_LISTEN and plain HTTP on RAMP_PLAIN_LISTEN, the same devices
polling GET /v1/agent/desired through wrk on each, in the same run. Polls
are spread over the devices' tokens; "reuse" keeps connections alive,
"new" opens one per poll (a full TLS handshake each time, which is what an
agent polling every 30 s does).

  python3 tests/bench_tls.py [--build build] [--devices 2000] [--seconds 10]
                             [--connections 64] [--threads 1]

Needs wrk (Debian package wrk) and the openssl CLI.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from pki import PKI  # noqa: E402
from ramp import free_port  # noqa: E402

LUA = r"""
local tokens = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  i = math.random(#tokens)
end
request = function()
  i = i % #tokens + 1
  local h = {["Authorization"] = "Bearer " .. tokens[i]}
  if args_close then h["Connection"] = "close" end
  return wrk.format("GET", "/v1/agent/desired", h)
end
"""


def wrk(url, script, tokens, seconds, conns, threads):
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s",
                          "-s", script, url, "--", tokens], capture_output=True, text=True)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    errs = re.search(r"Socket errors: (.*)", out.stdout)
    return (float(m.group(1)) if m else 0.0, int(non2xx.group(1)) if non2xx else 0,
            errs.group(1) if errs else "")


def cpu_seconds(pid):
    """User + system CPU of a process so far (a figure that machine load does not skew)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not installed (apt-get install wrk)")
    tmp = tempfile.mkdtemp(prefix="bench-tls-", dir="/tmp")
    os.chmod(tmp, 0o711)
    ca = PKI(tmp)
    cert, key = ca.server_cert()
    tls_port, plain_port = free_port(), free_port()
    admin = "bench-admin"
    env = dict(os.environ, RAMP_LISTEN=f"127.0.0.1:{tls_port}", RAMP_DATA_DIR=f"{tmp}/data",
               RAMP_ADMIN_TOKEN=admin, RAMP_TLS_CERT=cert, RAMP_TLS_KEY=key,
               RAMP_ALLOW_PLAINTEXT="1", RAMP_PLAIN_LISTEN=f"127.0.0.1:{plain_port}")
    os.makedirs(f"{tmp}/data")
    log = open(f"{tmp}/rampd.log", "wb")
    proc = subprocess.Popen([os.path.join(a.build, "rampd")], env=env, stdout=log, stderr=log)
    try:
        plain = f"http://127.0.0.1:{plain_port}"
        for _ in range(600):
            try:
                if urllib.request.urlopen(plain + "/readyz").status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        devs = [{"id": f"bench-{i:06d}", "platform": "rpi-arm64"} for i in range(a.devices)]
        req = urllib.request.Request(plain + "/v1/devices", data=json.dumps(devs).encode(),
                                     headers={"Authorization": f"Bearer {admin}",
                                              "Content-Type": "application/json"})
        toks = [d["token"] for d in json.load(urllib.request.urlopen(req))["devices"]]
        with open(f"{tmp}/tokens", "w") as f:
            f.write("\n".join(toks) + "\n")
        for close in (False, True):
            script = f"{tmp}/poll{int(close)}.lua"
            with open(script, "w") as f:
                f.write(("args_close = true\n" if close else "") + LUA)
            # wrk verifies no certificate: the handshake cost is the same
            for name, url in (("http", plain), ("https", f"https://127.0.0.1:{tls_port}")):
                cpu0 = cpu_seconds(proc.pid)
                rps, bad, errs = wrk(url, script, f"{tmp}/tokens", a.seconds, a.connections, a.threads)
                cpu = cpu_seconds(proc.pid) - cpu0
                per = cpu / (rps * a.seconds) * 1e6 if rps else 0
                print(f"{name:5s} connections={'new' if close else 'reuse':5s} "
                      f"polls/s={rps:10.0f} rampd_cpu_us/poll={per:7.1f} non-2xx={bad} {errs}",
                      flush=True)
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
