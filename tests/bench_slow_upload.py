#!/usr/bin/env python3
"""What slow anonymous uploads cost rampd: one rampd (private PostgreSQL)
on 127.0.0.1, N connections that each POST /v1/devices with no token,
declare a --length body (1 MiB), push --burst bytes of it at once and then trickle a
byte a second per connection. Prints rampd's RSS before, at its peak, and
how many of the connections rampd still holds at the end.

  python3 tests/bench_slow_upload.py [--build build] [--conns 1000]
                                     [--burst 262144] [--seconds 20]
                                     [--length 1048576]

Bounded: loopback only, --conns at most 5000, --seconds at most 120.
"""
import argparse
import os
import resource
import select
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from ramp import Cluster, free_port  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--burst", type=int, default=256 * 1024)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--length", type=int, default=1024 * 1024,
                    help="the Content-Length each connection declares")
    a = ap.parse_args()
    a.conns = min(a.conns, 5000)
    a.seconds = min(a.seconds, 120)
    a.length = max(1, min(a.length, 1024 * 1024))
    a.burst = min(a.burst, a.length - 1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, a.conns * 2 + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    tmp = tempfile.mkdtemp(prefix="slowup")
    port = free_port()
    cluster = Cluster(tmp)  # a private PostgreSQL, as the tests use (works as root)
    cluster.start()
    cluster.create_db("bench")
    env = dict(os.environ, RAMP_LISTEN=f"127.0.0.1:{port}", RAMP_DATA_DIR=f"{tmp}/data",
               RAMP_ADMIN_TOKEN="adm_bench_slow_upload",
               RAMP_DATABASE_URL=cluster.conninfo("bench"))
    log = open(f"{tmp}/rampd.log", "wb")
    proc = subprocess.Popen([os.path.join(a.build, "rampd")], env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 120
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz").status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                sys.exit(f"rampd did not start; see {tmp}/rampd.log")
            time.sleep(0.1)
        base = rss_kib(proc.pid)
        head = (b"POST /v1/devices HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % a.length)
        chunk = b"x" * 65536
        left, socks = {}, []
        for _ in range(a.conns):
            s = socket.create_connection(("127.0.0.1", port))
            s.setblocking(False)
            s.send(head)
            socks.append(s)
            left[s] = a.burst
        start, peak, last_trickle = time.time(), base, 0.0
        while time.time() - start < a.seconds:
            for s in socks:
                if s.fileno() < 0:
                    continue
                try:
                    if left[s] > 0:
                        left[s] -= s.send(chunk[:min(len(chunk), left[s])])
                    elif time.time() - last_trickle >= 1:
                        s.send(b"x")
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
            if all(v <= 0 for v in left.values()) and time.time() - last_trickle >= 1:
                last_trickle = time.time()
            live = [s for s in socks if s.fileno() >= 0]
            r, _, _ = select.select(live[:1000], [], [], 0.05) if live else ([], [], [])
            for s in r:
                try:
                    if s.recv(65536) == b"":
                        s.close()
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
            peak = max(peak, rss_kib(proc.pid))
        held = sum(1 for s in socks if s.fileno() >= 0)
        end = rss_kib(proc.pid)
        print(f"connections {a.conns}, Content-Length {a.length}, burst {a.burst} bytes each, "
              f"{a.seconds:.0f}s")
        print(f"rampd RSS: before {base / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
              f"end {end / 1024:.1f} MiB")
        print(f"connections still open on our side at the end: {held}")
        for s in socks:
            s.close()
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        cluster.stop()


if __name__ == "__main__":
    main()
