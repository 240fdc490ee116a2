"""Failover: two rampd replicas on one PostgreSQL with an active rollout and
a simulated fleet; the evaluating replica is killed with kill -9, the other
takes over evaluation within seconds, no transition is applied twice, and
the fleet is never told anything inconsistent: both replicas' desired
answers agree after each refresh, and match the rollout's stage."""
import datetime
import re
import threading
import time

from fleet import Fleet, Signer, enroll, publish, rollout, stage_members
from ramp import Client, check, eq, status, wait_for

SIZES = (0.1, 0.5, 1.0)
TAKEOVER = "this replica now evaluates rollouts"


def log_time(server, text):
    """The ts= of the last log line of server holding text, as unix seconds, or None."""
    found = None
    for line in server.log().splitlines():
        if text in line:
            m = re.match(r"ts=(\S+)Z ", line)
            if m:
                found = datetime.datetime.fromisoformat(m.group(1)).replace(
                    tzinfo=datetime.timezone.utc).timestamp()
    return found


def expected_v2(rid, ids, stage):
    members = set()
    for k in range(stage + 1):
        members |= stage_members(rid, ids, SIZES[k])
    return members


def answers(fleet):
    out = {}
    for dev in fleet.tokens:
        m = fleet.desired(dev)
        out[dev] = m["version"] if m else None
    return out


class Reporter:
    """Healthy telemetry for every device on v1 and on v2, every 0.3 s, from
    its own thread: every 3 s validation window has data however long the
    test's own steps take on a busy machine (the canary arm counts only the
    assigned devices' v2 reports, the baseline the others' v1)."""

    def __init__(self, server, ids):
        tok = status(server.admin.post("/v1/tokens", {"name": "reporter", "role": "ingest"}), 201).json["token"]
        self.c = Client(server.port, tok)
        self.ids = ids
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            now = time.time()
            self.c.post("/v1/telemetry", {"reports": [
                {"device_id": d, "model": f"ocr:{v}", "timestamp": now, "requests": 100, "errors": 0,
                 "latency_ms": 50.0} for d in self.ids for v in ("v1", "v2")]})
            self.stop.wait(0.3)

    def close(self):
        self.stop.set()
        self.t.join(30)
        self.c.close()


def test_evaluation_fails_over_to_the_other_replica_after_kill_9(ctx):
    s1 = ctx.server()
    s2 = ctx.server(database=s1.database, admin_token=s1.admin_token)
    signer = Signer(ctx, s1)
    publish(s1, signer, "ocr", "v1", stable=True)
    publish(s1, signer, "ocr", "v2")
    tokens = enroll(s1, 60)
    ids = list(tokens)
    wait_for(lambda: log_time(s1, TAKEOVER) or log_time(s2, TAKEOVER), timeout=20, msg="a leader")
    leader, survivor = (s1, s2) if log_time(s1, TAKEOVER) else (s2, s1)
    check(log_time(survivor, TAKEOVER) is None, "one evaluator at a time")
    # the canary's 3 s window may end before the steps below are done on a
    # busy machine: without data in it the leader paused the rollout
    # (on_inconclusive: pause) before it was killed
    reporter = Reporter(survivor, ids)
    # approval: the rollout is still in the canary when the leader is killed,
    # however long the steps before that take (the ramp stage inherits the
    # canary's metric, and the survivor judges it on its own)
    pol = {"stages": [{"name": "canary", "size": SIZES[0], "validation_window": "3s", "approval": True,
                       "metrics": [{"name": "error_rate", "threshold": "< 5%"}]},
                      {"name": "ramp", "size": SIZES[1], "validation_window": "3s"},
                      {"name": "full", "size": SIZES[2], "validation_window": "1h"}]}
    rid = status(s1.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201).json["id"]

    # the canary: both replicas tell every device the same thing
    fl, fs = Fleet(leader, tokens, "ocr"), Fleet(survivor, tokens, "ocr")
    canary = expected_v2(rid, ids, 0)
    want = {d: ("v2" if d in canary else "v1") for d in ids}
    wait_for(lambda: answers(fl) == want and answers(fs) == want, timeout=20, msg="replicas agree on canary")
    fs.poll_all()
    fs.report()
    eq(rollout(survivor, rid)["stage"]["index"], 0, "still in the canary when the leader dies")

    killed_at = time.time()
    leader.kill9()
    fl.close()
    took_over = wait_for(lambda: log_time(survivor, TAKEOVER), timeout=30, msg="takeover")
    failover_s = took_over - killed_at
    check(failover_s < 10, f"took over after {failover_s:.1f}s")

    # the canary passed its gate (judged by whichever replica evaluated at
    # the window's end); the operator approves on the survivor
    wait_for(lambda: rollout(survivor, rid)["state"] == "awaiting_approval", timeout=60,
             msg="the canary passed and waits for approval")
    status(survivor.admin.post(f"/v1/rollouts/{rid}/approve"), 200)
    # the survivor carries the rollout on: ramp, then full, with the fleet
    def at_full():
        fs.poll_all()
        fs.report()
        return rollout(survivor, rid)["stage"]["index"] == 2
    wait_for(at_full, timeout=60, interval=0.3, msg="promoted to full by the survivor")
    ro = rollout(survivor, rid)
    stages = [e for e in ro["events"] if e["type"] in ("stage_started", "promoted")]
    promoted = [e for e in ro["events"] if e["type"] == "promoted"]
    eq(len(promoted), 2, f"each promotion once: {ro['events']}")
    eq(len(set(e["detail"] for e in stages)), len(stages), f"no event twice: {stages}")
    eq(ro["devices"]["assigned"], len(ids))
    wait_for(lambda: answers(fs) == {d: "v2" for d in ids}, timeout=20, msg="everyone on v2")
    reporter.close()

    # the killed replica comes back and agrees with the survivor at once
    leader.start()
    fr = Fleet(leader, tokens, "ocr")
    eq(answers(fr), answers(fs))
    fr.close()
    fs.close()
    print(f"failover: evaluation resumed {failover_s:.2f}s after kill -9", flush=True)


def test_a_database_that_turned_read_only_is_503_not_500(ctx):
    """A session on a standby (a primary demoted under rampd) refuses
    writes with SQLSTATE 25006: that is the database being unavailable, a
    503 with Retry-After the client retries, and the connection is opened
    anew on its next use (target_session_attrs=read-write then finds the
    new primary). Nothing is written meanwhile."""
    s = ctx.server()
    db = s.database
    ctx.cluster.psql("postgres", f"ALTER DATABASE {db} SET default_transaction_read_only = on")
    ctx.cluster.psql("postgres", f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 f"WHERE datname = '{db}' AND pid <> pg_backend_pid()")
    body = [{"id": "ro-1", "platform": "rpi-arm64"}]
    r = wait_for(lambda: (lambda x: x if x.status != 201 else None)(s.admin.post("/v1/devices", body)),
                 timeout=30, msg="a write refused")
    for _ in range(3):
        r = s.admin.post("/v1/devices", body)
        eq(r.status, 503, f"read-only database: {r}")
        check(r.header("Retry-After"), "Retry-After")
    ctx.cluster.psql("postgres", f"ALTER DATABASE {db} RESET default_transaction_read_only")
    eq(ctx.psql(s, "SELECT count(*) FROM devices WHERE id = 'ro-1'")[0][0], "0", "nothing written")
    wait_for(lambda: s.admin.post("/v1/devices", body).status == 201, timeout=30,
             msg="writes accepted once the database takes them")
    eq(ctx.psql(s, "SELECT count(*) FROM devices WHERE id = 'ro-1'")[0][0], "1")
