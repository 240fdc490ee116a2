"""RAMP_LISTEN: a port in use is an error naming the address (no second
server sharing it through SO_REUSEPORT); localhost and IPv6 literals."""
import http.client
import socket

from ramp import Client, check, eq, status, wait_for


def _exit_code(s, timeout=60):
    wait_for(lambda: s.proc.poll() is not None, timeout=timeout, msg="rampd exits")
    return s.proc.returncode


def test_a_port_in_use_is_an_error_naming_the_address(ctx):
    first = ctx.server()
    second = ctx.server(start=False)
    second.extra_env = {"RAMP_LISTEN": f"127.0.0.1:{first.port}"}
    second.start(wait_ready=False)
    check(_exit_code(second) != 0, "a second rampd on a port in use exits non-zero")
    log = second.log()
    check(f"127.0.0.1:{first.port}" in log and "in use" in log, log)
    # the first one still answers every new connection on its port, with its
    # token (with SO_REUSEPORT the kernel spread them over both)
    for _ in range(20):
        c = first.client()
        status(c.get("/v1/devices"), 200)
        c.close()


def _get6(port, path, token):
    conn = http.client.HTTPConnection("::1", port, timeout=10)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as t:
            t.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_listen_accepts_localhost(ctx):
    s = ctx.server(start=False)
    s.extra_env = {"RAMP_LISTEN": f"localhost:{s.port}"}
    s.start()
    status(s.admin.get("/v1/devices"), 200)


def test_listen_accepts_ipv6_loopback_without_tls(ctx):
    if not _has_ipv6_loopback():
        from ramp import Skip
        raise Skip("no IPv6 loopback on this machine")
    s = ctx.server(start=False)
    s.extra_env = {"RAMP_LISTEN": f"[::1]:{s.port}"}
    s.start(wait_ready=False)
    wait_for(lambda: _try(lambda: _get6(s.port, "/readyz", s.admin_token)[0] == 200),
             timeout=60, msg="ready on [::1]")
    eq(_get6(s.port, "/v1/devices", s.admin_token)[0], 200)
    eq(_get6(s.port, "/v1/devices", "wrong")[0], 401)


def test_listen_on_ipv6_any_follows_the_off_loopback_rule(ctx):
    if not _has_ipv6_loopback():
        from ramp import Skip
        raise Skip("no IPv6 loopback on this machine")
    s = ctx.server(start=False)
    s.extra_env = {"RAMP_LISTEN": f"[::]:{s.port}"}
    s.start(wait_ready=False)
    check(_exit_code(s) != 0, "plain HTTP on [::] without RAMP_ALLOW_PLAINTEXT is refused")
    check("refusing to serve plain HTTP" in s.log(), s.log())
    s.extra_env["RAMP_ALLOW_PLAINTEXT"] = "1"
    s.start(wait_ready=False)
    wait_for(lambda: _try(lambda: _get6(s.port, "/readyz", s.admin_token)[0] == 200),
             timeout=60, msg="ready on [::]")
    eq(_get6(s.port, "/v1/devices", s.admin_token)[0], 200)


def test_listen_refuses_an_unbracketed_ipv6_literal(ctx):
    s = ctx.server(start=False)
    s.extra_env = {"RAMP_LISTEN": f"::1:{s.port}"}
    s.start(wait_ready=False)
    check(_exit_code(s) != 0, "::1:port without brackets is refused")


def _try(fn):
    try:
        return fn()
    except OSError:
        return False
