"""Helpers for the on-device agent's tests (tests/integration/test_agent_device.py,
AGENT_SPEC.md): AgentProc runs build/ramp-agent from a configuration file,
Store reads the model store layout, ArtifactServer serves artifacts over
HTTP (Range, request log, scripted cut-offs and stalls), Proxy relays the
agent's controller connections and can be switched off, and small scripts
stand in for the reload action, the health check, the inference process
and a reader of current/model.

Every process and server made here is registered on the test's context;
`device_session(ctx)` closes them all and, when the body passed, requires
each agent to have exited cleanly (status 0 on SIGTERM, no sanitizer
report). A failure inside the session gets each agent's log tail appended.
"""
import contextlib
import hashlib
import http.server
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

from ramp import check
from fleet import Signer, enroll
from runners import publish, set_stable

PLATFORM = "rpi-arm64"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


# --- the test's resources ---

def _register(ctx, obj):
    if not hasattr(ctx, "agentdev"):
        ctx.agentdev = []
    ctx.agentdev.append(obj)


def _serve(ctx, obj, handler):
    """Starts obj.srv, a threading HTTP server on a free loopback port, closed with the test."""
    obj.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    obj.srv.daemon_threads = True
    obj.srv.handle_error = lambda request, address: None  # a client that hangs up is no news
    obj.thread = threading.Thread(target=obj.srv.serve_forever, daemon=True)
    obj.thread.start()
    _register(ctx, obj)


def _close_all(ctx):
    bad = []
    for obj in reversed(getattr(ctx, "agentdev", [])):
        try:
            bad += obj.close() or []
        except Exception as e:  # noqa: a helper that cannot close must not hide the others
            bad.append(f"closing {obj!r}: {e}")
    ctx.agentdev = []
    return bad


def _tails(ctx, text):
    """The log tails of the test's agents that text does not show yet."""
    return "".join(f"\n--- {a.name} log (tail) ---\n{a.tail()}" for a in getattr(ctx, "agentdev", [])
                   if isinstance(a, AgentProc) and f"--- {a.name} log (tail) ---" not in text)


@contextlib.contextmanager
def device_session(ctx):
    """Closes every agent, server and proxy made inside; a failure gets the agents' log tails."""
    try:
        yield
    except AssertionError as e:
        tails = _tails(ctx, str(e))
        _close_all(ctx)
        raise AssertionError(f"{e}{tails}") from None
    except BaseException:
        _close_all(ctx)
        raise
    bad = _close_all(ctx)
    check(not bad, "\n".join(bad))


def until(fn, msg, timeout=30, interval=0.05, agent=None):
    """fn()'s first truthy value; fails with msg (and the agent's log tail) after timeout,
    or at once when the agent has exited."""
    deadline = time.time() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if agent is not None and agent.p is not None and agent.p.poll() is not None:
            raise AssertionError(f"ramp-agent exited with {agent.p.returncode} while waiting for {msg}"
                                 f" (last: {last!r})")
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {msg} (last: {last!r})")
        time.sleep(interval)


# --- model store ---

def blob(version, size=64 * 1024):
    """Distinct bytes for a version; the first line is "weights of <version>"."""
    line = f"weights of {version}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def hexdigest(data):
    return hashlib.sha256(data).hexdigest()


class Store:
    """<model-dir>/<model>/ as AGENT_SPEC.md lays it out."""

    def __init__(self, model_dir, model):
        self.dir = os.path.join(model_dir, model)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def link(self, name):
        try:
            return os.readlink(self.path(name))
        except OSError:
            return None

    def current(self):
        return self.link("current")

    def previous(self):
        return self.link("previous")

    def read(self, name="current"):
        """The bytes of <name>/model (name: current, previous or a version), or None."""
        try:
            with open(self.path(name, "model"), "rb") as f:
                return f.read()
        except OSError:
            return None

    def versions(self):
        """The version directories (not current/previous, not dot entries), sorted."""
        try:
            names = os.listdir(self.dir)
        except OSError:
            return []
        return sorted(n for n in names if not n.startswith(".") and n not in ("current", "previous")
                      and os.path.isdir(self.path(n)) and not os.path.islink(self.path(n)))

    def partials(self):
        """{name: size} of .partial/."""
        out = {}
        try:
            for n in os.listdir(self.path(".partial")):
                try:
                    out[n] = os.path.getsize(self.path(".partial", n))
                except OSError:
                    pass
        except OSError:
            pass
        return out

    def partial(self, data):
        return self.path(".partial", hexdigest(data))

    def pending(self):
        return os.path.lexists(self.path(".pending"))

    def manifest(self, version):
        with open(self.path(version, "manifest.json")) as f:
            return json.load(f)

    def writable(self, version):
        return bool(os.stat(self.path(version, "model")).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


# --- the agent ---

def base_conf(controller, token, pubkey, **extra):
    """The keys every test's agent needs; extra keys use _ for - (model_dir -> model-dir)."""
    conf = {"controller": controller, "pubkey": pubkey, "platform": PLATFORM}
    if token:
        conf["token"] = token
    conf.update({k.replace("_", "-"): v for k, v in extra.items()})
    return conf


class AgentProc:
    """build/ramp-agent --config FILE (written from conf) plus command-line pairs (cli); the
    state directory, configuration and log stay across restarts."""

    DEFAULT_CLI = {"poll": 0.1, "poll-min": 0.1, "poll-max": 1, "telemetry-interval": 0.3}

    def __init__(self, ctx, conf, cli=None, name="agent", start=True):
        self.ctx = ctx
        self.name = name
        self.state_dir = os.path.join(ctx.tmp, f"{name}-state")
        os.makedirs(self.state_dir, exist_ok=True)
        self.conf_path = os.path.join(ctx.tmp, f"{name}.conf")
        self.log_path = os.path.join(ctx.tmp, f"{name}.log")
        self.conf = dict(conf)
        self.cli = {"state-dir": self.state_dir, **self.DEFAULT_CLI, **(cli or {})}
        self.p = None
        self.starts = 0
        _register(ctx, self)
        if start:
            self.start()

    def __repr__(self):
        return f"<ramp-agent {self.name}>"

    @property
    def model_dir(self):
        return self.cli.get("model-dir") or self.conf.get("model-dir") or os.path.join(self.state_dir, "models")

    def store(self, model):
        return Store(self.model_dir, model)

    def write_conf(self):
        with open(self.conf_path, "w") as f:
            f.write(f"# ramp-agent test configuration ({self.name})\n\n")
            for k, v in self.conf.items():
                f.write(f"{k} = {v}\n")

    def args(self):
        out = [os.path.join(self.ctx.build, "ramp-agent"), "--config", self.conf_path]
        for k, v in self.cli.items():
            out += [f"--{k}", str(v)]
        return out

    def start(self):
        check(self.p is None or self.p.poll() is not None, f"{self.name} is running already")
        self.write_conf()
        with open(self.log_path, "a") as log:
            log.write(f"=== start {self.starts}: {' '.join(self.args())}\n")
            log.flush()
            self.p = subprocess.Popen(self.args(), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.starts += 1
        return self

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signals the agent and waits for it; its exit status (None when it was not started)."""
        if self.p is None:
            return None
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise AssertionError(f"{self.name} did not exit within {timeout}s of signal {sig}")
        return self.p.returncode

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def tail(self, n=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def wait(self, fn, msg, timeout=30, interval=0.05):
        try:
            return until(fn, msg, timeout, interval, agent=self)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- {self.name} log (tail) ---\n{self.tail()}") from None

    def close(self):
        """Stops the agent; the problems: an unclean exit of a running agent, sanitizer reports."""
        bad = []
        if self.alive():
            try:
                rc = self.stop()
            except AssertionError as e:
                rc = str(e)
            if rc != 0:
                bad.append(f"{self.name} exited with {rc} on SIGTERM: {self.tail()}")
        log = self.tail(10 ** 8)
        bad += [f"{self.name}: {log[max(0, log.find(m) - 200):][:4000]}" for m in SANITIZER_MARKERS
                if m in log]
        return bad


# --- rampd's view ---

def status_rows(ctx, server, device):
    """[(version, state, detail, at as epoch seconds)] the device reported, oldest first."""
    rows = ctx.psql(server, "SELECT version, state, coalesce(detail, ''), extract(epoch FROM at)"
                            f" FROM agent_status WHERE device_id = '{device}' ORDER BY at, ctid")
    return [(r[0], r[1], r[2], float(r[3])) for r in rows]


def wait_status(ctx, server, device, version, state, after=0, agent=None, timeout=30):
    """The first status row from index `after` on with this version and state. Waiting for
    `installed` fails at once when the version is reported failed instead."""
    def look():
        rows = status_rows(ctx, server, device)[after:]
        for r in rows:
            if r[0] == version and r[1] == state:
                return r
            if state == "installed" and r[0] == version and r[1] == "failed":
                raise AssertionError(f"{version} reported failed while waiting for installed: {r}")
        return None
    if agent is not None:
        return agent.wait(look, f"{version} {state} (statuses: {status_rows(ctx, server, device)[-6:]})",
                          timeout=timeout, interval=0.1)
    return until(look, f"{version} {state}", timeout, 0.1)


def access_count(server, path):
    """How many requests to path rampd's access log (RAMP_ACCESS_LOG=1) shows."""
    needle = f'path="{path}"'
    try:
        with open(server.log_path, errors="replace") as f:
            return sum(1 for line in f if needle in line)
    except OSError:
        return 0


def access_statuses(server, path):
    needle = f'path="{path}"'
    out = []
    try:
        with open(server.log_path, errors="replace") as f:
            for line in f:
                m = re.search(r"status=(\d+)", line)
                if needle in line and m:
                    out.append(int(m.group(1)))
    except OSError:
        pass
    return out


def wait_polls(server, agent, n=5):
    """Waits until the agent has polled GET /v1/agent/desired n more times (access log)."""
    start = access_count(server, "/v1/agent/desired")
    agent.wait(lambda: access_count(server, "/v1/agent/desired") >= start + n, f"{n} more desired polls")


def spool(state_dir):
    """[(file, number of reports)] in <state-dir>/telemetry/ (dot and .tmp files left out).
    A file's reports are its "timestamp" members (one report when it names none)."""
    d = os.path.join(state_dir, "telemetry")
    out = []
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return out
    for n in names:
        if n.startswith(".") or n.endswith(".tmp"):
            continue
        try:
            with open(os.path.join(d, n), "rb") as f:
                text = f.read()
        except OSError:
            continue
        out.append((n, max(1, len(spool_timestamps(text)))))
    return out


def spool_timestamps(text):
    return [float(x) for x in re.findall(rb'"timestamp"\s*:\s*(-?[0-9][0-9.eE+-]*)', text)]


def spool_all_timestamps(state_dir):
    d = os.path.join(state_dir, "telemetry")
    out = []
    try:
        for n in os.listdir(d):
            try:
                with open(os.path.join(d, n), "rb") as f:
                    out += spool_timestamps(f.read())
            except OSError:
                pass
    except OSError:
        pass
    return sorted(out)


# --- an artifact server ---

class ArtifactServer:
    """Serves blobs at /<name> over HTTP/1.1 with Range (206, 416). Every request is kept as
    (name, method, headers, status). A name's script gives its next GETs' fate in turn:
    "cut" sends the full Content-Length but only the first half and closes; "stall" sends
    the first half and then waits (until release() or close())."""

    def __init__(self, ctx):
        self.blobs = {}
        self.scripts = {}
        self.log = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.answer(head=True)

            def do_GET(self):
                self.answer(head=False)

            def answer(self, head):
                name = self.path.lstrip("/")
                data = owner.blobs.get(name)
                with owner.lock:
                    action = None
                    if not head and owner.scripts.get(name):
                        action = owner.scripts[name].pop(0)
                    entry = [name, self.command, dict(self.headers), None, action]
                    owner.log.append(entry)
                if data is None:
                    entry[3] = 404
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-", (self.headers.get("Range") or "").strip())
                if m and int(m.group(1)) >= len(data):
                    entry[3] = 416
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if m:
                    start = int(m.group(1))
                    entry[3] = 206
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    entry[3] = 200
                    self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if head:
                    return
                if action in ("cut", "stall"):
                    self.wfile.write(data[start:max(start, len(data) // 2)])
                    self.wfile.flush()
                    if action == "stall":
                        owner.released.wait(120)
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                try:
                    self.wfile.write(data[start:])
                except OSError:
                    pass

        _serve(ctx, self, Handler)

    def __repr__(self):
        return f"<artifact server {self.srv.server_address[1]}>"

    def url(self, name):
        return f"http://127.0.0.1:{self.srv.server_address[1]}/{name}"

    def add(self, name, data, script=()):
        """Serves data at /name; returns its URL."""
        self.blobs[name] = data
        self.scripts[name] = list(script)
        return self.url(name)

    def gets(self, name):
        """[(headers, status)] of the GETs of /name, in order."""
        with self.lock:
            return [(e[2], e[3]) for e in self.log if e[0] == name and e[1] == "GET"]

    def count(self, name):
        return len(self.gets(name))

    def release(self):
        self.released.set()

    def close(self):
        self.released.set()
        self.srv.shutdown()
        self.srv.server_close()


# --- a controller link that can go down ---

class Proxy:
    """A TCP relay from a local port to rampd's. Switched off, it closes the connections it
    relays and answers each new one by reading its request line and resetting it, as a
    network that lost the controller would. Counts the GET /v1/agent/desired requests it
    sees either way (polls while up, attempts while down)."""

    PAT = b"GET /v1/agent/desired"

    def __init__(self, ctx, target_port):
        self.target = target_port
        self.lock = threading.Lock()
        self.is_up = True
        self.closed = False
        self.conns = set()
        self.polls_up = 0
        self.polls_down = 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()
        _register(ctx, self)

    def __repr__(self):
        return f"<proxy {self.port} -> {self.target}>"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def polls(self):
        with self.lock:
            return self.polls_up + self.polls_down

    def down(self):
        """Off: every relayed connection is closed now, new ones are reset."""
        with self.lock:
            self.is_up = False
            conns = list(self.conns)
            self.conns.clear()
        for s in conns:
            _kill(s)

    def up(self):
        with self.lock:
            self.is_up = True

    def close(self):
        self.closed = True
        self.down()
        self.thread.join(timeout=5)
        self.lsock.close()

    def _accept_loop(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                up = self.is_up
                if up:
                    self.conns.add(c)
            threading.Thread(target=self._relay if up else self._refuse, args=(c,), daemon=True).start()

    def _refuse(self, c):
        data = b""
        c.settimeout(0.5)
        try:
            while b"\r\n" not in data and len(data) < 4096:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        if data.startswith(self.PAT):
            with self.lock:
                self.polls_down += 1
        _kill(c)

    def _relay(self, c):
        try:
            u = socket.create_connection(("127.0.0.1", self.target), timeout=10)
        except OSError:
            _kill(c)
            return
        u.settimeout(None)
        c.settimeout(None)
        with self.lock:
            if c not in self.conns:  # switched off meanwhile
                _kill(u)
                return
            self.conns.add(u)
        t = threading.Thread(target=self._pump, args=(u, c, False), daemon=True)
        t.start()
        self._pump(c, u, True)
        t.join()
        with self.lock:
            self.conns.discard(c)
            self.conns.discard(u)

    def _pump(self, src, dst, sniff):
        prev = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if sniff:
                    buf = prev + data
                    n = buf.count(self.PAT) - prev.count(self.PAT)
                    prev = buf[-(len(self.PAT) - 1):]
                    if n:
                        with self.lock:
                            self.polls_up += n
                dst.sendall(data)
        except OSError:
            pass
        _kill(src)
        _kill(dst)


def _kill(s):
    """Resets and closes a socket (no error when it is gone already)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


# --- stand-ins for the device's own programs ---

RELOAD_SH = """\
# reload action for ramp-agent tests: logs "<model> <version> <version named in the file>"
f="$RAMP_MODEL_PATH"; [ -d "$f" ] && f="$f/model"
v=$(head -n1 "$f" 2>/dev/null | cut -d' ' -f3)
echo "$RAMP_MODEL $RAMP_VERSION $v" >> "{log}"
case " {fail} " in *" $RAMP_VERSION "*) echo "cannot load $RAMP_VERSION" >&2; exit 3;; esac
exit 0
"""

HEALTH_PY = """\
# health check for ramp-agent tests: reads the version in current/model, logs
# "<version> <time> ok|fail"; fails for the versions in argv[3] (comma list) and
# for the first N checks of a version named in argv[4] ("v=N,v=N").
import sys, time
path, log, fail, flaky = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
try:
    with open(path, "rb") as f:
        v = f.readline().split()[-1].decode()
except (OSError, IndexError):
    v = "-"
first = dict(x.split("=") for x in flaky.split(",") if "=" in x)
try:
    with open(log) as f:
        prior = sum(1 for line in f if line.split()[0] == v)
except OSError:
    prior = 0
ok = v not in fail and prior >= int(first.get(v, 0))
with open(log, "a") as f:
    f.write(f"{v} {time.time():.6f} {'ok' if ok else 'fail'}\\n")
sys.exit(0 if ok else 1)
"""

INFERENCE_PY = """\
# a stand-in inference process: writes its pid file, and on each SIGHUP appends
# the version current points at to the HUP log.
import os, signal, sys, time
pidfile, huplog, current = sys.argv[1:4]
def on_hup(sig, frame):
    try:
        v = os.readlink(current)
    except OSError:
        v = "-"
    fd = os.open(huplog, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (v + "\\n").encode())
    os.close(fd)
signal.signal(signal.SIGHUP, on_hup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
with open(pidfile + ".tmp", "w") as f:
    f.write(f"{os.getpid()}\\n")
os.rename(pidfile + ".tmp", pidfile)
while True:
    time.sleep(3600)
"""

READER_PY = """\
# opens and reads current/model in a tight loop until the stop file exists;
# prints {"reads", "seen": {name: n}, "enoent", "other_errors", "unknown"}.
import json, os, sys
path, stop = sys.argv[1], sys.argv[2]
known = {}
for p in sys.argv[3:]:
    with open(p, "rb") as f:
        known[f.read()] = os.path.basename(p)
seen, enoent, other, unknown, reads = {}, 0, 0, 0, 0
i = 0
while True:
    i += 1
    if i % 16 == 0 and os.path.exists(stop):
        break
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        enoent += 1
        continue
    except OSError:
        other += 1
        continue
    reads += 1
    name = known.get(data)
    if name is None:
        unknown += 1
    else:
        seen[name] = seen.get(name, 0) + 1
print(json.dumps({"reads": reads, "seen": seen, "enoent": enoent, "other_errors": other,
                  "unknown": unknown}))
"""


def _script(ctx, name, text):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def reload_cmd(ctx, log, fail=()):
    """A reload-cmd that logs each call to log and exits 3 for the versions in fail."""
    return "/bin/sh " + _script(ctx, "reload.sh", RELOAD_SH.format(log=log, fail=" ".join(fail)))


def reload_lines(log):
    """[[model, RAMP_VERSION, version named in the file at RAMP_MODEL_PATH]] per reload call."""
    try:
        with open(log) as f:
            return [line.split() for line in f.read().splitlines()]
    except OSError:
        return []


def health_cmd(ctx, current_model, log, fail=(), flaky=None):
    """A health-cmd checking the version current/model holds; see HEALTH_PY."""
    path = _script(ctx, "health.py", HEALTH_PY)
    fl = ",".join(f"{k}={v}" for k, v in (flaky or {}).items()) or "-"
    return f"{sys.executable} {path} {current_model} {log} {','.join(fail) or '-'} {fl}"


def health_lines(log):
    """[(version, time, ok)] per health check."""
    try:
        with open(log) as f:
            return [(x[0], float(x[1]), x[2] == "ok") for x in (line.split() for line in f) if len(x) == 3]
    except OSError:
        return []


class FakeInference:
    """A process that writes its pid file and logs which version current named at each SIGHUP."""

    def __init__(self, ctx, current_link):
        self.pidfile = os.path.join(ctx.tmp, "inference.pid")
        self.huplog = os.path.join(ctx.tmp, "inference.hups")
        path = _script(ctx, "inference.py", INFERENCE_PY)
        self.p = subprocess.Popen([sys.executable, path, self.pidfile, self.huplog, current_link])
        _register(ctx, self)
        until(lambda: os.path.exists(self.pidfile) or self.p.poll() is not None, "inference pid file")
        check(self.p.poll() is None, "the inference stand-in exited")

    def __repr__(self):
        return f"<inference {self.p.pid}>"

    def hups(self):
        try:
            with open(self.huplog) as f:
                return f.read().split()
        except OSError:
            return []

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Reader:
    """A separate process reading current/model in a loop; stop() returns its tally."""

    def __init__(self, ctx, path, blobs):
        self.stopfile = os.path.join(ctx.tmp, "reader.stop")
        files = []
        for name, data in blobs.items():
            p = os.path.join(ctx.tmp, "expect", name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
            files.append(p)
        script = _script(ctx, "reader.py", READER_PY)
        self.p = subprocess.Popen([sys.executable, script, path, self.stopfile, *files],
                                  stdout=subprocess.PIPE, text=True)
        _register(ctx, self)

    def __repr__(self):
        return f"<reader {self.p.pid}>"

    def stop(self):
        with open(self.stopfile, "w"):
            pass
        out, _ = self.p.communicate(timeout=30)
        check(self.p.returncode == 0, f"reader exited with {self.p.returncode}")
        return json.loads(out)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def send_lines(sock_path, lines):
    """Connects to the agent's telemetry socket as an inference process would and writes lines."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sock_path)
        s.sendall("".join(line + "\n" for line in lines).encode())
    finally:
        s.close()


def free_mb(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize // (1 << 20)


class HealthServer:
    """An inference process's health endpoint for health-url: GET / answers from what
    current/model holds and from the reloads the reload log (reload_cmd's) shows so far.
    A version in fail never gets a 2xx (503); any other answers 503 to the first
    `warmup` GETs after each reload and 200 from then on. Each GET is kept as
    (time before the answer is sent, version in current/model, reloads seen, status)."""

    def __init__(self, ctx, current_model, reload_log, warmup=0, fail=()):
        self.current_model = current_model
        self.reload_log = reload_log
        self.warmup = warmup
        self.fail = set(fail)
        self.lock = threading.Lock()
        self.log = []
        self.reloads_seen = 0
        self.since_reload = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                code, body = owner._answer()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        _serve(ctx, self, Handler)

    def __repr__(self):
        return f"<health server {self.srv.server_address[1]}>"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.srv.server_address[1]}/healthz"

    def _answer(self):
        try:
            with open(self.current_model, "rb") as f:
                version = f.readline().split()[-1].decode()
        except (OSError, IndexError):
            version = "-"
        with self.lock:
            reloads = len(reload_lines(self.reload_log))
            if reloads != self.reloads_seen:
                self.reloads_seen, self.since_reload = reloads, 0
            self.since_reload += 1
            ok = version not in self.fail and self.since_reload > self.warmup
            code = 200 if ok else 503
            self.log.append((time.time(), version, reloads, code))
        return code, (b"ok\n" if ok else b"loading\n")

    def gets(self, version=None):
        """[(time, version, reloads seen, status)] of the GETs (of one version's file)."""
        with self.lock:
            return [g for g in self.log if version is None or g[1] == version]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class DeviceEnv:
    """rampd (access log on), a signer, one enrolled device and an artifact server with versions."""

    def __init__(self, ctx, versions=("v1", "v2"), stable="v1", sizes=None, scripts=None):
        self.ctx = ctx
        self.s = ctx.server(env={"RAMP_ACCESS_LOG": "1"})
        self.signer = Signer(ctx, self.s)
        self.dev, self.tok = next(iter(enroll(self.s, 1, platform=PLATFORM, prefix="pi").items()))
        self.arts = ArtifactServer(ctx)
        self.blobs = {}
        self.texts = {}
        for v in versions:
            self.add(v, blob(v, (sizes or {}).get(v, 64 * 1024)), (scripts or {}).get(v, ()))
        if stable:
            set_stable(self.s, "ocr", stable)

    def add(self, version, data, script=()):
        self.blobs[version] = data
        self.texts[version] = publish(self.s, self.signer, "ocr", version, data, platform=PLATFORM,
                                      url=self.arts.add(version, data, script))

    def conf(self, controller=None, pubkey=None, **extra):
        return base_conf(controller or self.s.url, self.tok, pubkey or self.signer.pub, **extra)

    def rows(self):
        return status_rows(self.ctx, self.s, self.dev)

    def wait(self, version, state, after=0, agent=None, timeout=30):
        return wait_status(self.ctx, self.s, self.dev, version, state, after, agent, timeout)
