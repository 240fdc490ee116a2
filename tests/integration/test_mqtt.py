"""MQTT (docs/mqtt.md) against a real mosquitto started here on a free
loopback port: telemetry in through the shared subscription (stored once,
acknowledged only after the commit, nothing lost across a kill -9 or while
rampd is away, two replicas), bad payloads dropped, the broker down, and
desired state published retained to each device's topic."""
import json
import os
import shutil
import subprocess
import threading
import time

from broker import Broker, Lines
from mqtt_util import metric, verdicts
from ramp import check, eq, status, wait_for


MODEL = "invoice-ocr"


def mqtt_server(ctx, broker, client_id="rampd-a", database=None, env=None, admin_token=None):
    e = {"RAMP_MQTT_URL": broker.url, "RAMP_MQTT_CLIENT_ID": client_id}
    e.update(env or {})
    return ctx.server(env=e, database=database, admin_token=admin_token)


def subscribed(s, broker):
    """Once rampd's shared subscription is in place: a probe on a device
    nobody registered comes back as unknown_device."""
    wait_for(lambda: metric(s, "ramp_mqtt_connected") == 1, msg="rampd connected to the broker")
    before = verdicts(s, "unknown_device")
    broker.pub("ramp/telemetry/probe-nobody", json.dumps(report("probe-nobody")))
    wait_for(lambda: verdicts(s, "unknown_device") > before, msg="the probe came back")


def register(s, *ids):
    r = status(s.admin.post("/v1/devices", [{"id": i, "platform": "rpi-arm64"} for i in ids]), 201)
    return {d["id"]: d["token"] for d in r.json["devices"]}


def report(dev, i=0, **kw):
    r = {"device_id": dev, "model": MODEL + ":v2", "latency_ms": 100 + i, "errors": 0,
         "requests": 10, "timestamp": time.time() - 60 + i * 1e-3}
    r.update(kw)
    return r


def stored(ctx, s, where="true"):
    return int(ctx.psql(s, f"SELECT count(*) FROM telemetry WHERE {where}")[0][0])


def test_telemetry_from_mosquitto_pub_is_stored_and_bad_payloads_change_nothing(ctx):
    b = Broker(ctx.tmp).start()
    try:
        s = mqtt_server(ctx, b)
        register(s, "dev-1", "dev-2")
        subscribed(s, b)
        ready = status(s.client(token=None).get("/readyz"), 200).json
        eq(ready, {"status": "ready", "mqtt": "connected", "mqtt_protocol": "5"})
        b.pub("ramp/telemetry/dev-1", json.dumps(report("dev-1", 1)))
        b.pub("ramp/telemetry/dev-1", json.dumps({"reports": [report("dev-1", 2),
                                                               report("dev-1", 3)]}))
        wait_for(lambda: stored(ctx, s) == 3, msg="three reports stored")
        eq(verdicts(s, "stored"), 2)
        # bad: malformed JSON, wrong types, another device's id in the
        # reports, an empty payload, a topic with two levels, and a payload
        # over the 1 MiB body limit
        big = os.path.join(ctx.tmp, "big.json")
        with open(big, "w") as f:
            f.write(json.dumps({"reports": [report("dev-1", 10 + i) for i in range(9000)]}))
        check(os.path.getsize(big) > 1024 * 1024, "the big payload is over 1 MiB")
        b.pub("ramp/telemetry/dev-1", "{not json")
        b.pub("ramp/telemetry/dev-1", json.dumps(report("dev-1", 4, errors="many")))
        b.pub("ramp/telemetry/dev-1", json.dumps(report("dev-2", 5)))
        b.pub("ramp/telemetry/dev-1", "")
        b.pub("ramp/telemetry/dev-1", file=big)
        b.pub("ramp/telemetry/dev-1/x", json.dumps(report("dev-1", 6)))
        # a good one after them: the subscription is not blocked
        b.pub("ramp/telemetry/dev-2", json.dumps(report("dev-2", 7)))
        wait_for(lambda: stored(ctx, s, "device_id = 'dev-2'") == 1, msg="the good one after")
        wait_for(lambda: verdicts(s, "invalid") == 5, msg="five invalid payloads counted")
        eq(stored(ctx, s), 4, "nothing of the bad payloads stored")
        eq(stored(ctx, s, "latency_ms >= 104 AND device_id = 'dev-1'"), 0)
        log = s.log()
        check('topic="ramp/telemetry/dev-1"' in log and "mqtt telemetry dropped" in log,
              f"the drops are logged with their topic:\n{log}")
        check(s.proc.poll() is None, "rampd still runs")
        eq(verdicts(s, "retry"), 0)
        eq(verdicts(s, "bad_topic"), 0, "ramp/telemetry/dev-1/x is not under the subscription")
        if shutil.which("promtool"):  # the MQTT figures are valid exposition text
            body = status(s.client(token=None).get("/metrics"), 200).body
            p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
            check(p.returncode == 0, p.stdout.decode() + p.stderr.decode())
    finally:
        b.stop()


def test_telemetry_published_while_rampd_is_stopped_is_stored_after_it_starts(ctx):
    b = Broker(ctx.tmp).start()
    try:
        s = mqtt_server(ctx, b)
        register(s, "dev-1")
        subscribed(s, b)
        s.stop()
        b.pub("ramp/telemetry/dev-1", lines=[json.dumps(report("dev-1", i)) for i in range(200)])
        eq(stored(ctx, s), 0)
        s.start()
        wait_for(lambda: stored(ctx, s) == 200, msg="the 200 queued at the broker")
        eq(stored(ctx, s, "true") - 200, 0)
        eq(int(ctx.psql(s, "SELECT count(DISTINCT latency_ms) FROM telemetry")[0][0]), 200)
    finally:
        b.stop()


def test_kill9_mid_stream_loses_nothing_and_stores_nothing_twice(ctx):
    """Each message is one report with its own latency; 3000 go out while
    rampd is killed -9 and started again. Every one is stored exactly once:
    acknowledged ones were committed, unacknowledged ones came again, and
    the redelivered committed ones were recognised by their key."""
    b = Broker(ctx.tmp).start()
    try:
        s = mqtt_server(ctx, b)
        register(s, "dev-1")
        subscribed(s, b)
        n = 3000
        msgs = [json.dumps(report("dev-1", i)) for i in range(n)]
        pub = threading.Thread(target=lambda: b.pub("ramp/telemetry/dev-1", lines=msgs))
        pub.start()
        wait_for(lambda: stored(ctx, s) > 200, msg="the stream under way")
        s.kill9()
        at_kill = stored(ctx, s)
        pub.join(120)
        s.start()
        wait_for(lambda: stored(ctx, s) >= n, timeout=120, msg=f"all {n} reports")
        # and nothing more comes: wait for the queue at the broker to drain
        wait_for(lambda: metric(s, "ramp_mqtt_connected") == 1, msg="connected again")
        subscribed(s, b)
        eq(stored(ctx, s), n, f"exactly {n} (killed at {at_kill})")
        eq(int(ctx.psql(s, "SELECT count(DISTINCT latency_ms) FROM telemetry")[0][0]), n)
        check(at_kill < n, f"the kill came mid-stream ({at_kill} of {n} stored)")
    finally:
        b.stop()


def test_two_replicas_on_one_shared_subscription_store_every_report_once(ctx):
    b = Broker(ctx.tmp).start()
    try:
        s1 = mqtt_server(ctx, b, "rampd-1")
        s2 = mqtt_server(ctx, b, "rampd-2", database=s1.database, admin_token=s1.admin_token)
        register(s1, "dev-1", "dev-2")
        wait_for(lambda: status(s2.admin.get("/v1/devices/dev-2"), 200), msg="seen by replica 2")
        subscribed(s1, b)
        subscribed(s2, b)
        n = 1000
        msgs = [json.dumps(report("dev-1", i)) for i in range(n)]
        b.pub("ramp/telemetry/dev-1", lines=msgs)
        wait_for(lambda: stored(ctx, s1) == n, timeout=120, msg=f"all {n}")
        a, c = verdicts(s1, "stored"), verdicts(s2, "stored")
        eq(a + c, n, "each message stored by one replica")
        check(a > 0 and c > 0, f"the subscription is shared: {a} and {c}")
        eq(int(ctx.psql(s1, "SELECT count(DISTINCT latency_ms) FROM telemetry")[0][0]), n)
        # desired state: only the replica that evaluates publishes
        pub = "ramp_mqtt_desired_publisher"
        wait_for(lambda: sorted([metric(s1, pub), metric(s2, pub)]) == [0, 1],
                 msg="exactly one publisher")
        leader = s1 if metric(s1, pub) == 1 else s2
        check("now evaluates rollouts" in leader.log(), "the publisher is the evaluator")
    finally:
        b.stop()


def test_broker_down_rampd_serves_http_and_connects_when_it_comes(ctx):
    b = Broker(ctx.tmp)
    from ramp import free_port
    b.port = free_port()
    s = mqtt_server(ctx, b)  # nothing listens there yet
    tok = register(s, "dev-1")["dev-1"]
    ready = status(s.client(token=None).get("/readyz"), 200).json
    check(ready["mqtt"] in ("disconnected", "connecting"), ready)
    eq(metric(s, "ramp_mqtt_connected"), 0)
    status(s.client(token=tok).post("/v1/telemetry", report("dev-1", 1)), 202)
    eq(stored(ctx, s), 1)
    wait_for(lambda: (metric(s, "ramp_mqtt_connect_failures_total") or 0) >= 2,
             msg="retries with backoff")
    try:
        b.start()
        wait_for(lambda: metric(s, "ramp_mqtt_connected") == 1, timeout=60,
                 msg="connected once the broker is up")
        subscribed(s, b)
        b.pub("ramp/telemetry/dev-1", json.dumps(report("dev-1", 2)))
        wait_for(lambda: stored(ctx, s) == 2, msg="stored over MQTT")
        b.stop()
        wait_for(lambda: metric(s, "ramp_mqtt_connected") == 0, msg="the loss noticed")
        status(s.client(token=tok).post("/v1/telemetry", report("dev-1", 3)), 202)
        b.start()
        wait_for(lambda: metric(s, "ramp_mqtt_connected") == 1, timeout=60, msg="back")
        eq(stored(ctx, s), 3)
    finally:
        b.stop()


def test_no_mqtt_url_changes_nothing(ctx):
    s = ctx.server()
    eq(status(s.client(token=None).get("/readyz"), 200).json, {"status": "ready", "mqtt": "off"})
    check(metric(s, "ramp_mqtt_connected") is None, "no MQTT figures without RAMP_MQTT_URL")


def test_bad_mqtt_settings_are_refused_at_start(ctx):
    for url in ("http://127.0.0.1:1883", "mqtt://", "mqtt://h:0", "mqtt://h:1883/x", "mqtt://a b"):
        s = ctx.server(env={"RAMP_MQTT_URL": url}, start=False)
        p = subprocess.run([ctx.rampd], env=s.env(), capture_output=True, text=True, timeout=60)
        check(p.returncode == 2 and "RAMP_MQTT_URL" in p.stderr, f"{url}: {p.returncode} {p.stderr}")


# --- desired state out, and rollouts fed over MQTT ---

def read_lines(proc, timeout=60):
    """The lines a mosquitto_sub run with -C printed (it exits after them)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out.decode().splitlines()


def http_desired(s, token):
    r = status(s.client(token=token).get("/v1/agent/desired"), 200)
    return r.header("ETag"), r.json


def test_desired_state_is_published_retained_on_change_and_cleared_on_delete(ctx):
    from fleet import Signer, enroll, publish
    b = Broker(ctx.tmp).start()
    try:
        s = mqtt_server(ctx, b)
        signer = Signer(ctx, s)
        publish(s, signer, "ocr", "v1", stable=True)
        tokens = enroll(s, 3)
        ids = sorted(tokens)
        wait_for(lambda: metric(s, "ramp_mqtt_desired_publisher") == 1, msg="the publisher")

        def retained():
            # a new subscriber gets each device's retained answer at once
            p = b.sub("ramp/desired/+", count=3, wait=20, fmt="%t %p", retained_only=True)
            got = {}
            for line in read_lines(p):
                topic, payload = line.split(" ", 1)
                got[topic.rsplit("/", 1)[1]] = json.loads(payload)
            return got
        got = wait_for(lambda: (lambda g: len(g) == 3 and all(
            m["models"] and m["models"][0]["version"] == "v1" for m in g.values()) and g)(retained()),
            msg="three retained answers of v1")
        for d in ids:
            etag, body = http_desired(s, tokens[d])
            m = dict(got[d])
            eq(m.pop("etag"), etag, "the ETag of GET /v1/agent/desired")
            eq(m, body, "the same JSON as GET /v1/agent/desired")
        # a stable change reaches every device; a delete clears its message
        # retained v1 first, then v3, then the clear (live, so not flagged retained)
        watch = b.sub("ramp/desired/" + ids[2], count=3, wait=60, fmt="%l|%p")
        publish(s, signer, "ocr", "v3", stable=True)
        wait_for(lambda: all(m["models"][0]["version"] == "v3" for m in retained().values()),
                 msg="v3 retained for all")
        status(s.admin.delete(f"/v1/devices/{ids[2]}"), 204)
        lines = read_lines(watch)
        check(len(lines) == 3, lines)
        check('"version":"v1"' in lines[0] and '"version":"v3"' in lines[1], lines)
        eq(lines[2], "0|", "an empty retained message clears it")
        wait_for(lambda: sorted(retained()) == ids[:2], msg="only two retained answers left")
        check((metric(s, "ramp_mqtt_desired_cleared_total") or 0) >= 1)
    finally:
        b.stop()


def mqtt_report(b, fleet, versions_bad=()):
    """One report per running device over MQTT, to its own topic."""
    for dev, v in fleet.running.items():
        bad = v in versions_bad
        b.pub(f"ramp/telemetry/{dev}", json.dumps(
            {"device_id": dev, "model": f"ocr:{v}", "timestamp": time.time(), "requests": 100,
             "errors": 10 if bad else 0, "latency_ms": 150.0 if bad else 50.0}))


def test_mqtt_telemetry_feeds_a_rollout_that_promotes(ctx):
    from fleet import Fleet, Signer, enroll, publish, rollout
    b = Broker(ctx.tmp).start()
    try:
        s = mqtt_server(ctx, b)
        signer = Signer(ctx, s)
        publish(s, signer, "ocr", "v1", stable=True)
        publish(s, signer, "ocr", "v2")
        tokens = enroll(s, 20)
        subscribed(s, b)
        # the window slides: a slow machine's round of 20 publishes must fit in it
        pol = {"stages": [{"name": "canary", "size": 0.25, "validation_window": "6s",
                           "metrics": [{"name": "error_rate", "threshold": "< 5%"}]},
                          {"name": "full", "size": 1.0, "validation_window": "2s"}],
               "rollback": {"on_inconclusive": "extend"}}
        rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}),
                     201).json["id"]
        fleet = Fleet(s, tokens, "ocr")
        before = stored(ctx, s)
        deadline = time.time() + 90
        while time.time() < deadline and rollout(s, rid)["state"] == "progressing":
            fleet.poll_all()
            mqtt_report(b, fleet)
            time.sleep(0.3)
        ro = rollout(s, rid)
        eq(ro["state"], "succeeded", json.dumps(ro["events"]))
        check(stored(ctx, s) > before, "the reports came over MQTT")
        check(any(a["metric"] == "error_rate" and a["result"] == "pass" for a in ro["analysis"]),
              ro["analysis"])
        fleet.close()
    finally:
        b.stop()


def test_bad_canary_rolls_back_and_every_canary_device_gets_the_baseline_over_mqtt(ctx):
    from fleet import Fleet, Signer, enroll, publish, rollout
    b = Broker(ctx.tmp).start()
    try:
        s = mqtt_server(ctx, b)
        signer = Signer(ctx, s)
        publish(s, signer, "ocr", "v1", stable=True)
        publish(s, signer, "ocr", "v2")
        tokens = enroll(s, 100)
        subscribed(s, b)
        pol = {"stages": [{"name": "canary", "size": 0.1, "validation_window": "1h",
                           "metrics": [{"name": "error_rate", "threshold": "< 1%"}]},
                          {"name": "full", "size": 1.0, "validation_window": "1h"}]}
        rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}),
                     201).json["id"]
        fleet = Fleet(s, tokens, "ocr")
        eq(fleet.poll_all(), {"v2": 10, "v1": 90})
        canary = sorted(d for d, v in fleet.running.items() if v == "v2")
        # every device's topic, watched from before the breach; %U: arrival (unix ns)
        wait_for(lambda: (metric(s, "ramp_mqtt_desired_queued") or 0) == 0, msg="queue drained")
        watch = b.sub("ramp/desired/+", fmt="%U %t %p", extra=("-R",))  # -R: no stale retained
        time.sleep(0.5)  # the subscription in place (nothing to wait on that mosquitto_sub says)

        def rolled_back():
            mqtt_report(b, fleet, versions_bad=("v2",))
            return rollout(s, rid)["state"] == "rolled_back"
        wait_for(rolled_back, timeout=60, interval=0.5, msg="rollback")
        ro = rollout(s, rid)
        seen = {}

        def all_told():
            return all(d in seen for d in canary)
        deadline = time.time() + 30
        lines = Lines(watch.stdout)
        while time.time() < deadline and not all_told():
            line = lines.next(1)
            if line is None:
                continue
            at, topic, payload = (line.split(" ", 2) + ["", ""])[:3]
            dev = topic.rsplit("/", 1)[1]
            m = json.loads(payload) if payload else None
            if m and m["models"][0]["version"] == "v1" and dev in canary:
                seen.setdefault(dev, float(at))
        watch.kill()
        watch.communicate()
        check(all_told(), f"every canary device told v1 over MQTT: {sorted(seen)} of {canary}")
        ev = {e["type"]: e["at"] for e in ro["events"]}
        from datetime import datetime
        t_rb = datetime.fromisoformat(ev["rolled_back"].replace("Z", "+00:00")).timestamp()
        lag = max(seen.values()) - t_rb
        print(f"rollback event -> last canary device notified over MQTT: {lag * 1000:.0f} ms"
              f" ({len(canary)} devices; event time resolution {ev['rolled_back']})")
        check(lag < 5, f"notified {lag:.3f} s after the rollback")
        fleet.close()
    finally:
        b.stop()


# --- device identity at the broker (deploy/mosquitto/) ---

DEPLOY_ACL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                          "mosquitto", "acl")


def rampctl(ctx, s, *args):
    return subprocess.run([os.path.join(ctx.build, "rampctl"), "--server", s.url, "--token",
                           s.admin_token, *args], capture_output=True, text=True, timeout=60)


def test_password_file_from_rampctl_and_the_acl_confine_each_device(ctx):
    """rampctl mqtt passwd writes mosquitto's PBKDF2-SHA512 file from the
    enrolled devices; under deploy/mosquitto/acl the real broker lets a
    device publish only its own telemetry and read only its own desired
    state."""
    from fleet import Signer, enroll, publish
    secret = os.path.join(ctx.tmp, "mqtt.secret")
    with open(secret, "w") as f:
        f.write("0123456789abcdef-not-a-real-secret\n")
    rampd_pass = os.path.join(ctx.tmp, "rampd.pass")
    with open(rampd_pass, "w") as f:
        f.write("rampd:rampd-broker-password\n")
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    tokens = enroll(s, 2)
    d1, d2 = sorted(tokens)
    passwd = os.path.join(ctx.tmp, "passwd")
    p = rampctl(ctx, s, "mqtt", "passwd", "--secret", secret, "--rampd", rampd_pass, "-f", passwd)
    eq(p.returncode, 0, p.stderr)
    lines = open(passwd).read().splitlines()
    eq(sorted(x.split(":")[0] for x in lines), sorted(["rampd", d1, d2]))
    check(all(x.split(":", 1)[1].startswith("$7$101$") for x in lines), lines)
    pw = {}
    for d in (d1, d2):
        q = rampctl(ctx, s, "mqtt", "password", d, "--secret", secret)
        eq(q.returncode, 0, q.stderr)
        pw[d] = q.stdout.strip()
    check(pw[d1] != pw[d2] and len(pw[d1]) == 43, pw)
    b = Broker(ctx.tmp, anonymous=False,
               extra=f"password_file {passwd}\nacl_file {os.path.abspath(DEPLOY_ACL)}\n").start()
    try:
        s.stop()
        s.extra_env.update({"RAMP_MQTT_URL": b.url, "RAMP_MQTT_CLIENT_ID": "rampd-acl",
                            "RAMP_MQTT_PASSWORD_FILE": rampd_pass})
        s.start()
        wait_for(lambda: metric(s, "ramp_mqtt_connected") == 1, msg="rampd logged in")
        # rampd's retained answers are there for d1 to read, not for d2's topic
        sub1 = b.sub(f"ramp/desired/{d1}", count=1, wait=30, user=d1, password=pw[d1])
        out = read_lines(sub1)
        check(len(out) == 1 and f'"device_id":"{d1}"' in out[0], out)
        sub2 = b.sub(f"ramp/desired/{d2}", count=1, wait=3, user=d1, password=pw[d1])
        eq(read_lines(sub2), [], "d1 reads nothing of d2's desired topic")
        # a wrong password is refused at the door
        bad = b.pub(f"ramp/telemetry/{d1}", json.dumps(report(d1)), user=d1, password="nope",
                    check=False)
        check(bad.returncode != 0, "a wrong password connects")
        # d1 as d2: its topic and its report are both refused; then d1's own
        b.pub(f"ramp/telemetry/{d2}", json.dumps(report(d2, 1)), user=d1, password=pw[d1],
              check=False)
        b.pub(f"ramp/telemetry/{d1}", json.dumps(report(d2, 2)), user=d1, password=pw[d1])
        b.pub(f"ramp/telemetry/{d1}", json.dumps(report(d1, 3)), user=d1, password=pw[d1])
        wait_for(lambda: stored(ctx, s) >= 1, msg="d1's own report")
        wait_for(lambda: verdicts(s, "invalid") == 1, msg="the report naming d2 refused")
        eq(stored(ctx, s), 1)
        eq(stored(ctx, s, f"device_id = '{d2}'"), 0, "nothing stored as d2")
        b.pub(f"ramp/telemetry/{d2}", json.dumps(report(d2, 4)), user=d2, password=pw[d2])
        wait_for(lambda: stored(ctx, s, f"device_id = '{d2}'") == 1, msg="d2 as itself")
        eq(stored(ctx, s), 2)
    finally:
        b.stop()


# --- ramp-agent in MQTT mode ---

def test_agent_in_mqtt_mode_installs_what_is_pushed_and_publishes_telemetry(ctx):
    """mqtt-url in agent.conf: the agent installs an answer pushed on its
    desired topic without polling for it (HTTP polls every mqtt-poll, 600 s
    here), and its telemetry reaches rampd over MQTT, not HTTP."""
    from agentdev import AgentProc, DeviceEnv, access_count, device_session
    from runners import set_stable
    b = Broker(ctx.tmp).start()
    try:
        with device_session(ctx):
            e = DeviceEnv(ctx, versions=("v1", "v2"))
            e.s.stop()
            e.s.extra_env.update({"RAMP_MQTT_URL": b.url, "RAMP_MQTT_CLIENT_ID": "rampd-agent"})
            e.s.start()
            sock = os.path.join(ctx.tmp, "tele.sock")
            a = AgentProc(ctx, e.conf(telemetry_socket=sock, **{"mqtt-url": b.url}),
                          cli={"mqtt-poll": 600})
            e.wait("v1", "installed", agent=a)
            a.wait(lambda: "mqtt connected" in open(a.log_path).read(), "the agent on MQTT")
            a.wait(lambda: verdicts(e.s, "stored") >= 1, "a report over MQTT")
            posts = access_count(e.s, "/v1/telemetry")
            n = verdicts(e.s, "stored")
            a.wait(lambda: verdicts(e.s, "stored") >= n + 3, "three more reports over MQTT")
            eq(access_count(e.s, "/v1/telemetry"), posts, "no HTTP telemetry while MQTT is up")
            where = f"device_id = '{e.dev}' AND version = 'v1' AND mem_pct IS NOT NULL"
            check(stored(ctx, e.s, where) >= n + 3, "the reports, stored")
            polls = access_count(e.s, "/v1/agent/desired")
            t0 = time.time()
            set_stable(e.s, "ocr", "v2")
            row = e.wait("v2", "installed", agent=a)
            # one poll may have been due already when the connection came up
            check(access_count(e.s, "/v1/agent/desired") <= polls + 1,
                  "v2 came over MQTT, not from a poll")
            print(f"    ramp-agent over MQTT: set_stable -> v2 installed in {row[3] - t0:.3f}s")
            # the broker gone: the agent falls back to HTTP (polls and posts)
            b.stop()
            polls = access_count(e.s, "/v1/agent/desired")
            a.wait(lambda: access_count(e.s, "/v1/agent/desired") > polls + 2,
                   "HTTP polls again without the broker")
            posts = access_count(e.s, "/v1/telemetry")
            a.wait(lambda: access_count(e.s, "/v1/telemetry") > posts, "HTTP telemetry again")
    finally:
        b.stop()


def test_client_certificates_are_the_identity_under_mqtts(ctx):
    """mqtts:// with certificates from one CA: rampd logs in with its own
    (RAMP_MQTT_CA/CERT/KEY), and the broker takes each device's CN as its
    username (use_identity_as_username) under deploy/mosquitto/acl."""
    from pki import PKI
    pki = PKI(ctx.tmp)
    srv_cert, srv_key = pki.server_cert()
    r_cert, r_key = pki.issue("rampd", "rampd")
    certs = {d: pki.issue(d, d) for d in ("dev-1", "dev-2")}
    b = Broker(ctx.tmp, anonymous=False, extra=(
        f"cafile {pki.cert}\ncertfile {srv_cert}\nkeyfile {srv_key}\n"
        "require_certificate true\nuse_identity_as_username true\n"
        f"acl_file {os.path.abspath(DEPLOY_ACL)}\n")).start()
    try:
        s = ctx.server(env={"RAMP_MQTT_URL": f"mqtts://127.0.0.1:{b.port}", "RAMP_MQTT_CA": pki.cert,
                            "RAMP_MQTT_CERT": r_cert, "RAMP_MQTT_KEY": r_key,
                            "RAMP_MQTT_CLIENT_ID": "rampd-tls"})
        register(s, "dev-1", "dev-2")
        wait_for(lambda: metric(s, "ramp_mqtt_connected") == 1, msg="rampd over TLS")

        def tls(d):
            c, k = certs[d]
            return ("--cafile", pki.cert, "--cert", c, "--key", k)
        wait_for(lambda: read_lines(b.sub("ramp/desired/dev-1", count=1, wait=5,
                                          extra=tls("dev-1"))), msg="dev-1 reads its desired state")
        eq(read_lines(b.sub("ramp/desired/dev-2", count=1, wait=3, extra=tls("dev-1"))), [],
           "dev-1 reads nothing of dev-2's")
        b.pub("ramp/telemetry/dev-2", json.dumps(report("dev-2", 1)), extra=tls("dev-1"), check=False)
        b.pub("ramp/telemetry/dev-1", json.dumps(report("dev-1", 2)), extra=tls("dev-1"))
        wait_for(lambda: stored(ctx, s) == 1, msg="dev-1's own report")
        b.pub("ramp/telemetry/dev-2", json.dumps(report("dev-2", 3)), extra=tls("dev-2"))
        wait_for(lambda: stored(ctx, s, "device_id = 'dev-2'") == 1, msg="dev-2 as itself")
        eq(stored(ctx, s), 2, "nothing published as another device")
    finally:
        b.stop()
