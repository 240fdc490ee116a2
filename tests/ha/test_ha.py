"""`make test-ha`: ramp on HA PostgreSQL. One etcd member, two Patroni-managed
PostgreSQL 15 nodes in synchronous mode and two rampd replicas, all on
loopback. A rollout runs with telemetry through both replicas and polls on
both; the PostgreSQL primary's node is killed with kill -9 mid-stage; Patroni
promotes the standby; both replicas recover without a restart and the
rollout goes on from the same state; every acknowledged report is stored
exactly once, one replica evaluates, the audit chain verifies. Then the
evaluating rampd is killed too, and the same is checked. The write gap and
the time until the evaluator resumed are printed."""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleet import Fleet, Signer, enroll, publish, rollout, stage_members  # noqa: E402
from hacluster import HACluster, HAProxy  # noqa: E402
from ramp import Client, check, eq, status, wait_for  # noqa: E402

SIZES = (0.1, 0.5, 1.0)
N = 40


def ready(port):
    c = Client(port)
    try:
        return c.get("/readyz", token=None).status == 200
    except OSError:
        return False
    finally:
        c.close()


def metric(server, name):
    try:
        r = server.client(token=None).get("/metrics")
    except OSError:
        return None
    if r.status != 200:
        return None
    for line in r.body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


class Writer:
    """Reports through one replica as fast as it answers, each report with its
    own (device, timestamp); remembers which were acknowledged (202) and the
    spans in which none could be written."""

    def __init__(self, server, token, device, model="probe:v0", batch=1):
        self.server, self.device, self.model, self.batch = server, device, model, batch
        self.c = Client(server.port, token)
        self.acked = []
        self.failed = 0
        self.fail_since = None
        self.gaps = []  # (first failure, first success after it)
        self.seq = 0
        self.base = time.time() - 30
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            tss = []
            for _ in range(self.batch):
                self.seq += 1
                tss.append(round(self.base + self.seq * 0.001, 3))
            body = {"reports": [{"device_id": self.device, "model": self.model, "timestamp": ts,
                                 "requests": 1, "errors": 0, "latency_ms": 1.0} for ts in tss]}
            try:
                r = self.c.post("/v1/telemetry", body)
                ok = r.status == 202
                if not ok:
                    check(r.status == 503 and r.header("Retry-After"),
                          f"a failed write is 503 with Retry-After: {r}")
            except OSError:
                ok = False
                self.c.close()
                self.c = Client(self.server.port, self.c.token)
            now = time.time()
            if ok:
                self.acked.extend(tss)
                if self.fail_since is not None:
                    self.gaps.append((self.fail_since, now))
                    self.fail_since = None
            else:
                self.failed += 1
                if self.fail_since is None:
                    self.fail_since = now
                self.stop.wait(0.05)
            self.stop.wait(0.01)

    def close(self):
        self.stop.set()
        self.t.join(30)
        self.c.close()


class Reporter:
    """Healthy telemetry for every device on v1 and v2 every 0.3 s through
    one replica, from its own thread, so each validation window has data
    however long the test's own steps take (the canary arm counts the
    assigned devices' v2 reports, the baseline the others' v1). Refusals
    while the database is away are expected and not counted here."""

    def __init__(self, server, token, ids):
        self.server, self.ids = server, ids
        self.c = Client(server.port, token)
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            now = time.time()
            try:
                self.c.post("/v1/telemetry", {"reports": [
                    {"device_id": d, "model": f"ocr:{v}", "timestamp": now, "requests": 100,
                     "errors": 0, "latency_ms": 50.0} for d in self.ids for v in ("v1", "v2")]})
            except OSError:
                self.c.close()
                self.c = Client(self.server.port, self.c.token)
            self.stop.wait(0.3)

    def close(self):
        self.stop.set()
        self.t.join(30)
        self.c.close()


class Poller:
    """Polls every device's desired answer through one replica; counts what
    failed (polls are answered from the snapshot, the database down or not)."""

    def __init__(self, server, tokens):
        self.server, self.tokens = server, tokens
        self.polls = self.failures = 0
        self.failed_with = {}
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        clients = {d: Client(self.server.port, t) for d, t in self.tokens.items()}
        while not self.stop.is_set():
            for d, c in clients.items():
                try:
                    r = c.get("/v1/agent/desired")
                    self.polls += 1
                    if r.status != 200:
                        self.failures += 1
                        k = f"{r.status} {r.body[:120]!r}"
                        self.failed_with[k] = self.failed_with.get(k, 0) + 1
                except OSError as e:
                    self.failures += 1
                    self.failed_with[repr(e)] = self.failed_with.get(repr(e), 0) + 1
                    clients[d] = Client(self.server.port, self.tokens[d])
            self.stop.wait(0.2)
        for c in clients.values():
            c.close()

    def close(self):
        self.stop.set()
        self.t.join(30)


def evaluators(servers):
    """The replicas that say they hold the evaluator lock (ramp_evaluator 1)."""
    return [s for s in servers if metric(s, "ramp_evaluator") == 1]


def one_evaluator(servers, timeout, msg):
    """Waits until exactly one of servers holds the evaluator lock; returns it."""
    return wait_for(lambda: (lambda e: e[0] if len(e) == 1 else None)(evaluators(servers)),
                    timeout=timeout, msg=msg)


def stored_once(ha, writers, lost_ok=False):
    """Every acknowledged report is in the table exactly once (with
    lost_ok, the missing ones are counted instead); returns (acknowledged,
    missing)."""
    acked = lost = 0
    for w in writers:
        rows = ha.psql(f"SELECT extract(epoch FROM ts)::numeric(20,3), count(*) FROM telemetry "
                       f"WHERE device_id = '{w.device}' AND model = 'probe' GROUP BY 1", db="ramp")
        have = {round(float(t), 3): int(n) for t, n in rows}
        missing = [t for t in w.acked if t not in have]
        twice = {t: n for t, n in have.items() if n != 1}
        check(lost_ok or not missing, f"{len(missing)} of {len(w.acked)} acknowledged reports "
                                      f"through {w.server.port} are missing, e.g. {missing[:3]}")
        check(not twice, f"stored more than once: {list(twice.items())[:3]}")
        acked += len(w.acked)
        lost += len(missing)
        print(f"  {w.device}: {len(w.acked)} acknowledged, {len(missing)} missing, none twice "
              f"({len(have)} rows, {w.failed} writes refused)", flush=True)
    return acked, lost


def audit_ok(server):
    r = wait_for(lambda: (lambda x: x if x.status == 200 else None)(server.admin.get("/v1/audit/verify")),
                 timeout=60, msg="audit verify answers")
    check(r.json.get("ok") is True, f"audit chain: {r.json}")
    return r.json["entries"]


def gap_of(writers, after):
    spans = [(a, b) for w in writers for a, b in w.gaps if b >= after]
    if not spans:
        return 0.0, 0.0
    return min(a for a, _ in spans) - after, max(b for _, b in spans) - after


def test_failover_of_the_database_then_of_the_evaluator(ctx):
    ha = HACluster(ctx.tmp).start()
    try:
        run(ctx, ha)
    finally:
        ha.stop()


def run(ctx, ha):
    a, b = start_replicas(ctx, ha)
    servers = [a, b]
    proxy = HAProxy(ha.base, servers)
    try:
        run_behind(ctx, ha, a, b, servers, proxy)
    finally:
        proxy.stop()


def run_behind(ctx, ha, a, b, servers, proxy):
    signer = Signer(ctx, a)
    publish(a, signer, "ocr", "v1", stable=True)
    publish(a, signer, "ocr", "v2")
    tokens = enroll(a, N)
    ids = sorted(tokens)
    ingest = status(a.admin.post("/v1/tokens", {"name": "writer", "role": "ingest"}), 201).json["token"]
    writers = [Writer(a, ingest, ids[0]), Writer(b, ingest, ids[1])]
    pollers = [Poller(a, dict(list(tokens.items())[:10])), Poller(b, dict(list(tokens.items())[10:20]))]
    wait_for(lambda: ready(proxy.port), timeout=30, msg="HAProxy in front of the replicas")
    front = Poller(proxy, dict(list(tokens.items())[20:30]))
    pol = {"stages": [{"name": "canary", "size": SIZES[0], "validation_window": "2s", "approval": True,
                       "metrics": [{"name": "error_rate", "threshold": "< 5%"}]},
                      {"name": "ramp", "size": SIZES[1], "validation_window": "2s"},
                      {"name": "full", "size": SIZES[2], "validation_window": "1h"}]}
    rid = status(a.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]
    fa, fb = Fleet(a, tokens, "ocr"), Fleet(b, tokens, "ocr")
    canary = stage_members(rid, ids, SIZES[0])
    reporters = [Reporter(a, ingest, ids), Reporter(b, ingest, ids)]
    wait_for(lambda: rollout(b, rid)["state"] == "awaiting_approval", timeout=60,
             msg="the canary passed its gate and waits for approval")
    eq({d for d in ids if (fa.desired(d) or {}).get("version") == "v2"}, canary)
    leader = one_evaluator(servers, 30, "one evaluator")
    print(f"before: evaluator on {leader.port}, rollout {rid} in the canary", flush=True)

    # 1. a planned switchover: Patroni moves the primary, rampd follows
    t0 = time.time()
    ha.switchover()
    n0 = [len(w.acked) for w in writers]
    wait_for(lambda: all(len(w.acked) > n + 20 for w, n in zip(writers, n0)), timeout=60,
             msg="writes accepted after the switchover through both replicas")
    sw_first, sw_last = gap_of(writers, t0)
    one_evaluator(servers, 60, "one evaluator after the switchover")
    eq(rollout(a, rid)["state"], "awaiting_approval", "the rollout is where it was")
    print(f"switchover: writes failed from +{sw_first:.1f}s to +{sw_last:.1f}s", flush=True)

    # 2. the PostgreSQL primary's node dies mid-stage
    old = ha.primary()
    killed = time.time()
    old.kill9()
    wait_for(lambda: (p := ha.primary()) is not None and p is not old, timeout=120, interval=0.2,
             msg="Patroni promotes the standby")
    promoted = time.time() - killed
    for s in servers:
        wait_for(lambda s=s: s.client(token=None).get("/readyz").status == 200, timeout=60,
                 msg=f"rampd {s.port} ready again without a restart")
    n0 = [len(w.acked) for w in writers]
    wait_for(lambda: all(len(w.acked) > n + 20 for w, n in zip(writers, n0)), timeout=60,
             msg="writes accepted again through both replicas")
    first_fail, last_fail = gap_of(writers, killed)
    leader = one_evaluator(servers, 60, "one evaluator after the failover")
    resumed = time.time() - killed
    eq(rollout(a, rid)["state"], "awaiting_approval", "the rollout is where it was")
    eq(rollout(a, rid)["stage"]["index"], 0)
    status(b.admin.post(f"/v1/rollouts/{rid}/approve"), 200)

    wait_for(lambda: rollout(a, rid)["stage"]["index"] >= 1, timeout=60, interval=0.3,
             msg="promoted past the canary after the failover")
    for w in writers:
        w.close()
    stored_once(ha, writers)
    entries = audit_ok(a)
    print(f"database failover: Patroni promoted the standby {promoted:.1f}s after kill -9; "
          f"writes failed from +{first_fail:.1f}s to +{last_fail:.1f}s; evaluation resumed by "
          f"+{resumed:.1f}s; audit chain of {entries} entries verifies", flush=True)

    # 3. the evaluating rampd dies as well
    leader = one_evaluator(servers, 60, "one evaluator")
    survivor = b if leader is a else a
    for r in reporters:
        if r.server is leader:
            r.close()
    # polls kept being answered (from the snapshot) while the database was away
    for p in pollers:
        eq(p.failures, 0, f"polls through {p.server.port} during the database failover: {p.failed_with}")
        if p.server is leader:
            p.close()
    writers = [Writer(survivor, ingest, ids[2])]
    killed = time.time()
    leader.kill9()
    one_evaluator([survivor], 60, "the surviving replica evaluates")
    resumed2 = time.time() - killed

    fs = Fleet(survivor, tokens, "ocr")
    wait_for(lambda: rollout(survivor, rid)["stage"]["index"] == 2, timeout=90, interval=0.3,
             msg="promoted to full by the survivor")
    eq({d: (fs.desired(d) or {}).get("version") for d in ids}, {d: "v2" for d in ids},
       "every device is told v2")
    ro = rollout(survivor, rid)
    promoted_ev = [e for e in ro["events"] if e["type"] == "promoted"]
    eq(len(promoted_ev), 2, f"each promotion once: {ro['events']}")
    stages = [e for e in ro["events"] if e["type"] in ("stage_started", "promoted")]
    eq(len({e["detail"] for e in stages}), len(stages), f"no transition applied twice: {stages}")
    for w in writers:
        w.close()
    stored_once(ha, writers)
    entries = audit_ok(survivor)
    for p in pollers:
        p.close()
        if p.server is survivor:
            eq(p.failures, 0, f"polls through the survivor: {p.failed_with}")
    front.close()
    eq(front.failures, 0, f"polls through HAProxy while the database and a replica failed: "
                          f"{front.failed_with}")
    check(front.polls > 0, "polls through HAProxy ran")
    for r in reporters:
        r.close()
    check(all(p.polls > 0 for p in pollers), "polls ran")
    leader.start()
    eq(one_evaluator(servers, 30, "one evaluator once the killed replica is back"), survivor,
       "the lock stays where it is")
    fa.close()
    fb.close()
    fs.close()
    print(f"evaluator failover: the survivor evaluated {resumed2:.1f}s after kill -9; "
          f"audit chain of {entries} entries verifies; polls during both: "
          f"{sum(p.polls for p in pollers)} direct and {front.polls} through HAProxy, none failed",
          flush=True)


def start_replicas(ctx, ha):
    ha.psql("CREATE ROLE ramp LOGIN PASSWORD 'ramp-secret'")
    ha.psql("CREATE DATABASE ramp OWNER ramp")
    env = {"RAMP_DATABASE_URL": ha.conninfo() + " password=ramp-secret", "RAMP_EVAL_INTERVAL": "1"}
    a = ctx.server(env=env, embedded=True)
    b = ctx.server(env=env, embedded=True, admin_token=a.admin_token)
    return a, b


def test_asynchronous_replication_loses_what_the_standby_had_not_received(ctx):
    """The other durability choice, measured: with synchronous_mode off a
    commit returns before the standby has it, so a killed primary can take
    acknowledged reports with it. Reports are written as fast as four
    clients can through both replicas while the primary's node is killed;
    what is missing afterwards is counted and printed (never duplicated)."""
    ha = HACluster(ctx.tmp, sync=False).start()
    try:
        a, b = start_replicas(ctx, ha)
        tokens = enroll(a, 8)
        ids = sorted(tokens)
        ingest = status(a.admin.post("/v1/tokens", {"name": "w", "role": "ingest"}), 201).json["token"]
        writers = [Writer(s, ingest, ids[i], batch=50) for i, s in enumerate((a, b, a, b))]
        wait_for(lambda: all(len(w.acked) > 500 for w in writers), timeout=60, msg="writes flowing")
        old = ha.primary()
        killed = time.time()
        old.kill9()
        wait_for(lambda: (p := ha.primary()) is not None and p is not old, timeout=120, interval=0.2,
                 msg="Patroni promotes the standby")
        n0 = [len(w.acked) for w in writers]
        wait_for(lambda: all(len(w.acked) > n + 100 for w, n in zip(writers, n0)), timeout=60,
                 msg="writes accepted again")
        for w in writers:
            w.close()
        acked, lost = stored_once(ha, writers, lost_ok=True)
        first, last = gap_of(writers, killed)
        print(f"asynchronous replication: {lost} of {acked} acknowledged reports lost "
              f"({100.0 * lost / max(acked, 1):.3f}%); writes failed from +{first:.1f}s to "
              f"+{last:.1f}s", flush=True)
    finally:
        ha.stop()


def test_reports_per_second_on_a_synchronous_primary(ctx):
    """Sizing: what one synchronously replicated primary takes through two
    replicas, with a rollout being evaluated every second, batches of 100
    reports from eight clients for ten seconds (a 1M-device fleet reporting
    every 60 s needs about 17k reports/s)."""
    ha = HACluster(ctx.tmp).start()
    try:
        a, b = start_replicas(ctx, ha)
        signer = Signer(ctx, a)
        publish(a, signer, "ocr", "v1", stable=True)
        publish(a, signer, "ocr", "v2")
        tokens = enroll(a, 100)
        ids = sorted(tokens)
        ingest = status(a.admin.post("/v1/tokens", {"name": "w", "role": "ingest"}), 201).json["token"]
        pol = {"stages": [{"name": "canary", "size": 0.1, "validation_window": "1h",
                           "metrics": [{"name": "error_rate", "threshold": "< 5%"}]},
                          {"name": "full", "size": 1.0, "validation_window": "1h"}]}
        status(a.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201)
        reporter = Reporter(b, ingest, ids)
        writers = [Writer(s, ingest, ids[i], batch=100) for i, s in enumerate((a, b) * 4)]
        wait_for(lambda: all(len(w.acked) > 0 for w in writers), timeout=60, msg="writes flowing")
        n0, t0 = sum(len(w.acked) for w in writers), time.time()
        time.sleep(10)  # a measurement over a fixed span, not a wait for a state
        n1, t1 = sum(len(w.acked) for w in writers), time.time()
        for w in writers:
            w.close()
        reporter.close()
        rate = (n1 - n0) / (t1 - t0)
        check(rate > 0, "reports were acknowledged")
        stored_once(ha, writers)
        check(sum(1 for s in (a, b) if metric(s, "ramp_evaluator") == 1) == 1, "one evaluator")
        print(f"synchronous primary: {rate:,.0f} reports/s through two replicas, batches of 100, "
              f"8 clients, a rollout evaluated every second ({rate / 16667:.2f}x what 1M devices "
              f"every 60 s need)", flush=True)
    finally:
        ha.stop()
