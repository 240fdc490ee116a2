"""Device consent (docs/windows.md): ramp-agent's update lock. While the
file named by update-lock exists the inference process is busy: the
install waits, is reported once as "deferred" with the file's first line
as the reason (shown on the rollout, never counted as a failure), and goes
ahead when the file goes or, at the latest, max-defer after the deferral
began. The inference process may take the same lock with a line on the
agent's telemetry socket ("!lock <reason>", "!unlock")."""
import os
import time

from agentdev import AgentProc, DeviceEnv, device_session, send_lines, wait_polls
from ramp import check, eq, status, wait_for
from runners import set_stable

MODEL = "ocr"


def test_busy_lock_defers_the_install_and_max_defer_forces_it(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2", "v3"))
        lock = os.path.join(ctx.tmp, "inference.busy")
        # max-defer 20 s: every check made while the lock is held must fit in it,
        # and on a busy machine a few psql reads and polls can take seconds
        a = AgentProc(ctx, e.conf(update_lock=lock, max_defer=20), cli={"poll": 0.1})
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)  # no lock: straight through

        # busy: v2 waits, reported once as deferred with the reason
        with open(lock, "w") as f:
            f.write("serving a transaction\n")
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        row = e.wait("v2", "deferred", after=n, agent=a)
        check("serving a transaction" in row[2] and "max-defer" in row[2], row)
        d = status(e.s.admin.get(f"/v1/devices/{e.dev}"), 200).json["models"][MODEL]
        eq((d["version"], d["state"], d["stuck"]), ("v2", "deferred", False))
        wait_polls(e.s, a, 5)
        eq(st.current(), "v1", "nothing swapped while the lock is held")
        eq(e.arts.count("v2"), 0, "nothing downloaded while the lock is held")
        eq([r[1] for r in e.rows()[n:]], ["deferred"], "deferred is reported once")
        # free again: the install goes ahead at the next poll
        os.unlink(lock)
        e.wait("v2", "installed", after=n, agent=a)
        eq(st.current(), "v2")

        # busy for good: a rollout's install is deferred (shown, not failed),
        # then forced once max-defer has passed
        with open(lock, "w") as f:
            f.write("kiosk session\n")
        n = len(e.rows())
        r = status(e.s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v3", "policy": {
            "stages": [{"name": "all", "size": 1.0, "validation_window": "1h",
                        "metrics": [{"name": "install_failure_rate", "threshold": "< 50%"}]}]}}),
                   201)
        rid = r.json["id"]
        row = e.wait("v3", "deferred", after=n, agent=a)
        t_deferred = row[3]
        ro = status(e.s.admin.get(f"/v1/rollouts/{rid}"), 200).json
        eq((ro["devices"]["deferred"], ro["devices"]["failed"]), (1, 0))
        eq(ro["state"], "progressing")
        row = e.wait("v3", "installed", after=n, agent=a, timeout=90)
        check(row[3] - t_deferred >= 19.5, f"forced after max-defer, not before: {row[3] - t_deferred:.1f} s")
        check(os.path.exists(lock), "the lock was still held")
        eq(st.current(), "v3")
        ro = status(e.s.admin.get(f"/v1/rollouts/{rid}"), 200).json
        eq((ro["devices"]["installed"], ro["devices"]["deferred"], ro["devices"]["failed"]), (1, 0, 0))
        check(a.alive(), "the agent still runs")


def test_a_lock_line_on_the_telemetry_socket_defers_until_unlock(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        sock = os.path.join(ctx.tmp, "infer.sock")
        a = AgentProc(ctx, e.conf(telemetry_socket=sock, max_defer=600), cli={"poll": 0.1})
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        wait_for(lambda: os.path.exists(sock), timeout=30, msg="the telemetry socket")
        send_lines(sock, ["!lock mid-transaction"])
        wait_for(lambda: "update lock taken on the telemetry socket" in a.tail(100000), timeout=30,
                 msg="the agent took the lock")
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        row = e.wait("v2", "deferred", after=n, agent=a)
        check("telemetry socket" in row[2] and "mid-transaction" in row[2], row)
        wait_polls(e.s, a, 5)
        eq(st.current(), "v1", "nothing swapped while the socket holds the lock")
        eq(e.arts.count("v2"), 0)
        send_lines(sock, ["!unlock"])
        e.wait("v2", "installed", after=n, agent=a)
        eq(st.current(), "v2")
