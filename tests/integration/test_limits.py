"""Limits that keep one client from hurting the others: per-token rate
limits (429 with Retry-After, then recovery), a deadline for a request's
headers (slow clients are cut off while others are served), a maximum
number of connections, and all of it visible in /metrics."""
import http.client
import re
import socket
import threading
import time

from ramp import Client, check, eq, status, wait_for


def metric(s, name):
    text = status(Client(s.port).get("/metrics"), 200).body.decode()
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_rate_limit_answers_429_with_retry_after_and_recovers(ctx):
    s = ctx.server(env={"RAMP_RATE_DEVICE": "1/s,burst=3"})
    devs = status(s.admin.post("/v1/devices", [{"id": "pi-1", "platform": "rpi"},
                                               {"id": "pi-2", "platform": "rpi"}]), 201).json["devices"]
    c1, c2 = Client(s.port, devs[0]["token"]), Client(s.port, devs[1]["token"])
    for _ in range(3):
        status(c1.get("/v1/agent/desired"), 200)
    r = status(c1.get("/v1/agent/desired"), 429)
    wait = int(r.header("Retry-After"))
    check(wait >= 1, r.header("Retry-After"))
    check("device" in r.json["detail"], r.json["detail"])
    # the limit is per token: another device and the admin are served
    status(c2.get("/v1/agent/desired"), 200)
    status(s.admin.get("/v1/devices"), 200)
    eq(metric(s, 'ramp_rate_limited_total{role="device"}'), 1.0)
    eq(metric(s, 'ramp_rate_limit_per_second{role="device"}'), 1.0)
    eq(metric(s, 'ramp_rate_limit_burst{role="device"}'), 3.0)
    time.sleep(wait)
    status(c1.get("/v1/agent/desired"), 200)


def test_rate_limits_are_configurable_per_role(ctx):
    s = ctx.server(env={"RAMP_RATE_VIEWER": "2/m,burst=2", "RAMP_RATE_DEVICE": "off"})
    tok = status(s.admin.post("/v1/tokens", {"name": "dash", "role": "viewer"}), 201).json["token"]
    v = Client(s.port, tok)
    status(v.get("/v1/devices"), 200)
    status(v.get("/v1/devices"), 200)
    r = status(v.get("/v1/devices"), 429)
    check(int(r.header("Retry-After")) >= 20, r.header("Retry-After"))
    eq(metric(s, 'ramp_rate_limit_per_second{role="device"}'), 0.0)
    # admins are not limited by default
    for _ in range(50):
        status(s.admin.get("/v1/devices"), 200)


class SlowClient(threading.Thread):
    """Sends a request line, then one header line every 0.2 s, never the end."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.cut_off = threading.Event()
        self.stop = False

    def run(self):
        try:
            self.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            for i in range(300):
                if self.stop:
                    return
                self.sock.sendall(b"X-Slow-%d: 1\r\n" % i)
                time.sleep(0.2)
        except OSError:
            self.cut_off.set()
            return
        self.sock.settimeout(0.5)
        try:
            if self.sock.recv(1) == b"":
                self.cut_off.set()
        except OSError:
            pass


def test_slow_header_client_is_cut_off_while_others_are_served(ctx):
    s = ctx.server(env={"RAMP_HEADER_TIMEOUT": "2", "RAMP_CONN_TIMEOUT": "60",
                        "RAMP_HTTP_THREADS": "1"})
    slow = [SlowClient(s.port) for _ in range(3)]
    for t in slow:
        t.start()
    silent = socket.create_connection(("127.0.0.1", s.port))
    # while they dribble, everybody else is answered on the one HTTP thread
    c = Client(s.port, s.admin_token)
    for _ in range(20):
        status(c.get("/v1/devices"), 200)
    for t in slow:
        wait_for(t.cut_off.is_set, timeout=30, msg="slow client cut off")
        t.stop = True
    silent.settimeout(30)
    eq(silent.recv(1), b"", "a client that never sends is cut off too")
    check(metric(s, "ramp_http_header_timeouts_total") >= 4, "timeouts counted")
    eq(metric(s, "ramp_http_header_timeout_seconds"), 2.0)
    eq(metric(s, "ramp_http_idle_timeout_seconds"), 60.0)


def test_idle_keep_alive_connection_is_not_cut_by_the_header_deadline(ctx):
    s = ctx.server(env={"RAMP_HEADER_TIMEOUT": "1", "RAMP_CONN_TIMEOUT": "60"})
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    conn.request("GET", "/healthz")
    eq(conn.getresponse().read(), b'{"status":"ok"}')
    time.sleep(2.5)  # past the header deadline, well within the idle timeout
    conn.request("GET", "/healthz")
    eq(conn.getresponse().status, 200)
    conn.close()
    eq(metric(s, "ramp_http_header_timeouts_total"), 0.0)


def test_connections_beyond_the_maximum_are_refused(ctx):
    s = ctx.server(env={"RAMP_MAX_CONNECTIONS": "3", "RAMP_HTTP_THREADS": "1"})
    held = []
    for _ in range(3):
        h = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        h.request("GET", "/healthz")
        eq(h.getresponse().read(), b'{"status":"ok"}')
        held.append(h)  # kept open (keep-alive)
    try:
        r = Client(s.port).get("/healthz")
        raise AssertionError(f"a fourth connection was served: {r}")
    except (ConnectionError, http.client.HTTPException, OSError):
        pass
    for h in held:
        h.close()
    wait_for(lambda: _served(s.port), timeout=15, msg="served once connections closed")
    check(metric(s, "ramp_http_connections_refused_total") >= 1, "refusals counted")
    eq(metric(s, "ramp_http_connections_max"), 3.0)


def _served(port):
    try:
        return Client(port).get("/healthz").status == 200
    except (ConnectionError, http.client.HTTPException, OSError):
        return False
