"""A loopback HA PostgreSQL for `make test-ha`: one etcd member and two
Patroni-managed PostgreSQL 15 nodes in synchronous mode, each on free ports
under one temporary directory, run as the postgres user when we are root.
The configuration written is deploy/ha/patroni.yml.in with the ports and
paths filled in, so the test runs the recipe operators are given."""
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.request

from ramp import ROOT, free_port, pg_bindir

TEMPLATE = os.path.join(ROOT, "deploy", "ha", "patroni.yml.in")


def _drop():
    if os.getuid() != 0:
        return None
    pw = pwd.getpwnam("postgres")

    def drop():
        os.setsid()
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def _own(path):
    if os.getuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def http_json(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (OSError, ValueError):
        return None, None


class Node:
    def __init__(self, base, name, etcd_port, sync=True):
        self.name = name
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o700)
        _own(self.dir)
        self.pg_port = free_port()
        self.api_port = free_port()
        self.conf = os.path.join(self.dir, "patroni.yml")
        text = open(TEMPLATE).read()
        for k, v in {"@NAME@": name, "@API_PORT@": str(self.api_port),
                     "@PG_PORT@": str(self.pg_port), "@ETCD@": f"127.0.0.1:{etcd_port}",
                     "@DATA@": os.path.join(self.dir, "data"), "@BINDIR@": pg_bindir(),
                     "@SOCKDIR@": self.dir, "@SYNC@": "true" if sync else "false", "@PGPASS@": os.path.join(self.dir, "pgpass")}.items():
            text = text.replace(k, v)
        with open(self.conf, "w") as f:
            f.write(text)
        _own(self.conf)
        self.log_path = os.path.join(self.dir, "patroni.log")
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        _own(self.log_path)
        self.proc = subprocess.Popen(["patroni", self.conf], stdout=log, stderr=log,
                                     preexec_fn=_drop(), cwd=self.dir)
        log.close()

    def role(self):
        """'primary', 'replica', or None when the REST API does not answer."""
        code, body = http_json(f"http://127.0.0.1:{self.api_port}/patroni")
        if not body:
            return None
        if body.get("state") != "running":
            return None
        return "primary" if body.get("role") in ("master", "primary") else "replica"

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def kill9(self):
        """The node dies: Patroni and its PostgreSQL, at once (a Patroni alone
        restarts a crashed PostgreSQL in place, which is not a failover)."""
        pm = self.postmaster_pid()
        for pid in filter(None, [self.proc.pid if self.proc else None, pm]):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if pm:  # the backends die with their postmaster's group
            subprocess.run(["pkill", "-9", "-P", str(pm)], check=False)
        if self.proc:
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()
        pm = self.postmaster_pid()
        if pm:
            try:
                os.kill(pm, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def log(self, n=3000):
        try:
            return open(self.log_path, errors="replace").read()[-n:]
        except OSError:
            return ""


class HACluster:
    def __init__(self, base, nodes=2, sync=True):
        self.sync = sync
        self.base = os.path.join(base, "ha")
        os.makedirs(self.base, exist_ok=True)
        os.chmod(self.base, 0o711)
        self.etcd_port = free_port()
        self.etcd_peer = free_port()
        self.etcd_dir = os.path.join(self.base, "etcd")
        self.etcd = None
        self.nodes = [Node(self.base, f"pg{i + 1}", self.etcd_port, sync) for i in range(nodes)]

    def start(self, timeout=180):
        log = open(os.path.join(self.base, "etcd.log"), "ab")
        self.etcd = subprocess.Popen(
            ["etcd", "--name", "e1", "--data-dir", self.etcd_dir,
             "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
             "--initial-cluster", f"e1=http://127.0.0.1:{self.etcd_peer}",
             "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}"],
            stdout=log, stderr=log, preexec_fn=os.setsid)
        log.close()
        self.wait(lambda: http_json(f"http://127.0.0.1:{self.etcd_port}/health")[0] == 200,
                  60, "etcd healthy")
        self.nodes[0].start()
        self.wait(lambda: self.nodes[0].role() == "primary", timeout, "pg1 primary")
        for n in self.nodes[1:]:
            n.start()
        self.wait(lambda: all(n.role() for n in self.nodes) and self.standby_ready(), timeout,
                  "replicas streaming" + (", one synchronous" if self.sync else ""))
        return self

    def wait(self, fn, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if fn():
                return
            time.sleep(0.2)
        raise AssertionError(f"HA cluster: no {what} after {timeout}s\n"
                             + "\n".join(f"--- {n.name}\n{n.log()}" for n in self.nodes))

    def cluster_info(self):
        for n in self.nodes:
            code, body = http_json(f"http://127.0.0.1:{n.api_port}/cluster")
            if body:
                return body
        return None

    def sync_standby(self):
        info = self.cluster_info() or {}
        return any(m.get("role") == "sync_standby" and m.get("state") in ("streaming", "running")
                   for m in info.get("members", []))

    def switchover(self):
        """A planned switchover through Patroni's REST API to the other node;
        returns the new primary once the old one follows it as synchronous
        standby again."""
        old = self.primary()
        new = next(n for n in self.nodes if n is not old)
        body = json.dumps({"leader": old.name, "candidate": new.name}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{old.api_port}/switchover", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            if r.status != 200:
                raise AssertionError(f"switchover: {r.status} {r.read()!r}")
        self.wait(lambda: new.role() == "primary" and old.role() == "replica" and self.standby_ready(),
                  120, "switchover done and the old primary synchronous again")
        return new

    def standby_ready(self):
        if self.sync:
            return self.sync_standby()
        info = self.cluster_info() or {}
        return any(m.get("role") == "replica" and m.get("state") in ("streaming", "running")
                   for m in info.get("members", []))

    def primary(self):
        for n in self.nodes:
            if n.role() == "primary":
                return n
        return None

    def conninfo(self, db="ramp", user="ramp"):
        hosts = ",".join("127.0.0.1" for _ in self.nodes)
        ports = ",".join(str(n.pg_port) for n in self.nodes)
        return (f"host={hosts} port={ports} dbname={db} user={user} "
                f"target_session_attrs=read-write connect_timeout=2")

    def psql(self, sql, db="postgres", user="postgres"):
        out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                              self.conninfo(db, user), "-c", sql],
                             capture_output=True, text=True, env=dict(os.environ, PGPASSWORD="pg"))
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr}")
        return [l.split("|") for l in out.stdout.splitlines() if l]

    def stop(self):
        for n in self.nodes:
            n.stop()
        if self.etcd and self.etcd.poll() is None:
            self.etcd.kill()
            self.etcd.wait()


class HAProxy:
    """deploy/ha/haproxy.cfg.in in front of rampd replicas, on a free port."""

    def __init__(self, base, servers):
        self.port = free_port()
        self.dir = os.path.join(base, "haproxy")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "haproxy.cfg")
        lines = "\n".join(f"    server r{i + 1} 127.0.0.1:{s.port} check" for i, s in enumerate(servers))
        text = open(os.path.join(ROOT, "deploy", "ha", "haproxy.cfg.in")).read()
        with open(self.conf, "w") as f:
            f.write(text.replace("@LISTEN@", f"127.0.0.1:{self.port}").replace("@SERVERS@", lines))
        self.log_path = os.path.join(self.dir, "haproxy.log")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.conf], stdout=log, stderr=log)
        log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
