"""ramp test library: a private PostgreSQL cluster for the run, a fresh
database per test (CREATE DATABASE ... TEMPLATE), and rampd servers on free
loopback ports that tests speak HTTP to.

Only the Python standard library is used, so `make test` needs nothing
beyond Debian's python3.
"""
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Skip(Exception):
    """Raised by a test that cannot run here; counted as skipped."""


def pg_bindir():
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
    d = out.stdout.strip()
    if d and os.path.exists(os.path.join(d, "initdb")):
        return d
    base = "/usr/lib/postgresql"
    vers = sorted((int(v) for v in os.listdir(base) if v.isdigit()), reverse=True)
    for v in vers:
        d = f"{base}/{v}/bin"
        if os.path.exists(f"{d}/initdb"):
            return d
    raise RuntimeError("postgresql server binaries not found")


def _as_owner():
    """preexec for subprocesses that must run as postgres when we are root."""
    if os.getuid() != 0:
        return None
    pw = pwd.getpwnam("postgres")

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PortTaken(AssertionError):
    """Our rampd could not listen: someone else holds its port."""


def listens_on(pid, port):
    """True when process pid holds the listening TCP socket on port."""
    inodes = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(cols[9])
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    except OSError:
        return False
    return False


class Cluster:
    """One PostgreSQL cluster for the whole run, reached over a Unix socket."""

    def __init__(self, base):
        self.bindir = pg_bindir()
        self.dir = os.path.join(base, "pg")
        self.sock = self.dir
        os.makedirs(self.dir, exist_ok=True)
        if os.getuid() == 0:
            os.chmod(base, 0o711)
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)

    def run(self, *args, check=True, **kw):
        return subprocess.run(list(args), preexec_fn=_as_owner(), check=check,
                              capture_output=True, text=True, **kw)

    def start(self):
        self.run(f"{self.bindir}/initdb", "-D", self.dir, "-U", "ramp", "-A", "trust",
                 "-E", "UTF8", "--no-locale")
        with open(os.path.join(self.dir, "postgresql.conf"), "a") as f:
            f.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{self.sock}'\n"
                    "fsync = off\nfull_page_writes = off\nmax_connections = 400\n"
                    "shared_buffers = 256MB\n")
        self.run(f"{self.bindir}/pg_ctl", "start", "-w", "-D", self.dir,
                 "-l", os.path.join(self.dir, "log"))

    def stop(self):
        self.run(f"{self.bindir}/pg_ctl", "stop", "-m", "immediate", "-w", "-D", self.dir,
                 check=False)

    def conninfo(self, db):
        return f"host={self.sock} dbname={db} user=ramp"

    def psql(self, db, sql):
        """Runs sql in db; returns rows as lists of strings."""
        out = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              self.conninfo(db), "-c", sql],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr}")
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def create_db(self, name, template=None):
        t = f" TEMPLATE {template}" if template else ""
        for _ in range(50):
            try:
                self.psql("postgres", f"CREATE DATABASE {name}{t}")
                return
            except RuntimeError as e:
                # the template may still be in use for a moment after a test drops it
                if "being accessed by other users" not in str(e):
                    raise
                time.sleep(0.1)
        raise RuntimeError(f"could not create database {name}")

    def drop_db(self, name):
        self.psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Client:
    """A keep-alive HTTP/1.1 client for one server."""

    def __init__(self, port, token=None):
        self.port = port
        self.token = token
        self.conn = None

    def request(self, method, path, body=None, token=..., headers=None, raw=None,
                ctype="application/json"):
        hdrs = dict(headers or {})
        tok = self.token if token is ... else token
        if tok:
            hdrs["Authorization"] = f"Bearer {tok}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None and ctype and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = ctype
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                b = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return Response(r.status, r.getheaders(), b)
            except (ConnectionError, http.client.RemoteDisconnected, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None


class Server:
    """One rampd process on a free port with its own data directory."""

    def __init__(self, ctx, database=None, env=None, data_dir=None, admin_token=None):
        self.ctx = ctx
        self.database = database
        self.extra_env = env or {}
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="d", dir=ctx.tmp)
        self.port = free_port()
        self.admin_token = admin_token or "adm_" + uuid.uuid4().hex
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "rampd.log")
        self.admin = Client(self.port, self.admin_token)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def env(self):
        e = dict(os.environ)
        e.update({"RAMP_LISTEN": f"127.0.0.1:{self.port}", "RAMP_DATA_DIR": self.data_dir,
                  "RAMP_ADMIN_TOKEN": self.admin_token, "RAMP_EVAL_INTERVAL": "1"})
        if self.database:
            e["RAMP_DATABASE_URL"] = self.ctx.cluster.conninfo(self.database)
        e.update(self.extra_env)
        return e

    def start(self, wait_ready=True, timeout=180):
        """Starts rampd; with wait_ready, returns once this process answers
        /readyz (within timeout: generous, an embedded initdb alone took 52 s
        on a machine at load 30). Another run's rampd may take the port
        free_port() gave us between that call and our bind (tests run in
        parallel, other runs beside us): ours then exits with "could not listen", and we start it
        again on another port."""
        for attempt in range(5):
            log_at = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([self.ctx.rampd], env=self.env(), stdout=log,
                                         stderr=log, cwd=ROOT)
            log.close()
            if not wait_ready:
                return self
            try:
                self.wait_ready(timeout)
                return self
            except PortTaken:
                if attempt == 4 or "RAMP_LISTEN" in self.extra_env:
                    raise AssertionError(f"rampd could not listen:\n{self.log()}")
                with open(self.log_path, "rb") as f:
                    f.seek(log_at)
                    if b"could not listen" not in f.read():
                        raise
                self.port = free_port()
                self.admin.close()
                self.admin = Client(self.port, self.admin.token)
        return self

    def wait_ready(self, timeout=180):
        """Waits until this process (not whoever else holds the port) answers
        /readyz with 200."""
        deadline = time.time() + timeout
        c = Client(self.port)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                c.close()
                if b"could not listen" in self.log().encode():
                    raise PortTaken(self.port)
                raise AssertionError(f"rampd exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if c.get("/readyz", token=None).status == 200 and listens_on(self.proc.pid, self.port):
                    c.close()
                    return
            except OSError:
                pass
            c.close()  # a fresh connection each time: the listener may change hands
            time.sleep(0.05)
        raise AssertionError(f"rampd not ready after {timeout}s:\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def client(self, token=...):
        return Client(self.port, self.admin_token if token is ... else token)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.admin.close()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()


class Context:
    """What a test receives: servers on fresh databases, the cluster, a temp dir."""

    def __init__(self, run, name):
        self.run = run
        self.cluster = run.cluster
        self.rampd = run.rampd
        self.build = run.build
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="t", dir=run.tmp)
        os.chmod(self.tmp, 0o711)
        self.databases = []
        self.servers = []

    def database(self):
        name = "t_" + uuid.uuid4().hex[:12]
        self.cluster.create_db(name, "ramp_template")
        self.databases.append(name)
        return name

    def server(self, env=None, database=None, start=True, embedded=False, admin_token=None):
        db = None if embedded else (database or self.database())
        s = Server(self, db, env, admin_token=admin_token)
        self.servers.append(s)
        return s.start() if start else s

    def psql(self, server, sql):
        return self.cluster.psql(server.database, sql)

    def sanitizer_reports(self):
        """Sanitizer findings in any server's log (make check-asan)."""
        bad = []
        for s in self.servers:
            try:
                with open(s.log_path, "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                i = text.find(marker)
                if i >= 0:
                    bad.append(f"rampd {s.port}: {text[max(0, i - 200):i + 3000]}")
        return bad

    def cleanup(self):
        for s in self.servers:
            try:
                s.stop()
            except Exception:
                pass
            if s.database is None:
                # embedded cluster: make sure its postgres is gone
                pgdir = os.path.join(s.data_dir, "pg")
                if os.path.exists(os.path.join(pgdir, "postmaster.pid")):
                    subprocess.run([f"{self.cluster.bindir}/pg_ctl", "stop", "-m", "immediate",
                                    "-D", pgdir], preexec_fn=_as_owner(), capture_output=True)
        for d in self.databases:
            try:
                self.cluster.drop_db(d)
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def check(cond, msg=""):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{a!r} != {b!r} {msg}")


def status(resp, code, msg=""):
    if resp.status != code:
        raise AssertionError(f"expected {code}, got {resp.status}: {resp.body[:500]!r} {msg}")
    return resp


def wait_for(fn, timeout=30, interval=0.1, msg="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {msg} (last: {last!r})")


def spawn_listening(make_args, log, healthy, refused=b"cannot listen", tries=5, timeout=30):
    """Starts make_args(port) on a port from free_port(), with its output to
    the file log, and returns (proc, port) once healthy(port) is true and the
    process holds that port's listening socket itself (not another process
    that took the port between free_port() and the bind). When it exits
    because it could not listen (its output says `refused`), starts it again
    on another port."""
    for attempt in range(tries):
        port = free_port()
        log.flush()
        at = log.tell()
        p = subprocess.Popen(make_args(port), stdout=log, stderr=log)

        def up():
            if p.poll() is not None:
                return "exited"
            return healthy(port) and listens_on(p.pid, port) and "up"
        if wait_for(up, timeout=timeout, msg=f"{make_args(port)[0]} on port {port}") == "up":
            return p, port
        with open(log.name, "rb") as f:
            f.seek(at)
            text = f.read()
        if refused not in text or attempt == tries - 1:
            raise AssertionError(f"exited with {p.returncode}: {text[-3000:].decode(errors='replace')}")
    raise AssertionError("unreachable")


def parallel(n, fn):
    """Runs fn(i) for i in range(n) in threads; re-raises the first error."""
    errs = []

    def wrap(i):
        try:
            fn(i)
        except BaseException as e:  # noqa
            errs.append(e)
    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errs:
        raise errs[0]
