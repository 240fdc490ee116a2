"""The idempotency keys of MQTT telemetry (mqtt_keys, docs/mqtt.md): a
redelivery within the keep window is not counted twice, and keys older than
RAMP_MQTT_KEY_KEEP are pruned every RAMP_MQTT_PRUNE_INTERVAL. The keys'
ages are set in the database, so nothing waits on the wall clock."""
import json

from broker import Broker
from mqtt_util import metric, register, report, stored, verdicts
from ramp import check, eq, wait_for


def keys(ctx, s, where="true"):
    return int(ctx.psql(s, f"SELECT count(*) FROM mqtt_keys WHERE {where}")[0][0])


def prune_pass(s):
    """Waits for a prune pass that started after this call."""
    n = metric(s, "ramp_mqtt_key_prune_passes_total") or 0
    wait_for(lambda: (metric(s, "ramp_mqtt_key_prune_passes_total") or 0) >= n + 2,
             timeout=60, msg="a whole prune pass")


def test_old_keys_are_pruned_and_a_redelivery_in_the_window_is_not_counted_twice(ctx):
    b = Broker(ctx.tmp).start()
    try:
        s = ctx.server(env={"RAMP_MQTT_URL": b.url, "RAMP_MQTT_CLIENT_ID": "rampd-keys",
                            "RAMP_MQTT_KEY_KEEP": "10m", "RAMP_MQTT_PRUNE_INTERVAL": "1s"})
        register(s, "dev-1")
        wait_for(lambda: metric(s, "ramp_mqtt_connected") == 1, msg="connected")
        msg = json.dumps(report("dev-1", 1))
        b.pub("ramp/telemetry/dev-1", msg)
        wait_for(lambda: stored(ctx, s) == 1, msg="the report stored")
        eq(keys(ctx, s), 1, "its key, in the same commit")
        # a key from 11 minutes ago (past the keep window) and one from 9
        ctx.psql(s, "INSERT INTO mqtt_keys (key, received_at) VALUES"
                    " ('old', now() - interval '11 minutes'),"
                    " ('young', now() - interval '9 minutes')")
        prune_pass(s)
        eq(keys(ctx, s, "key = 'old'"), 0, "the key past RAMP_MQTT_KEY_KEEP is pruned")
        eq(keys(ctx, s, "key = 'young'"), 1, "the key within it is kept")
        eq(keys(ctx, s), 2)
        check("mqtt keys pruned" in s.log(), "the prune is logged")
        # the same message again, as the broker redelivers it (same topic,
        # same bytes): within the window it is a duplicate, stored once
        b.pub("ramp/telemetry/dev-1", msg)
        wait_for(lambda: verdicts(s, "duplicate") == 1, msg="the redelivery recognised")
        eq(stored(ctx, s), 1, "not counted twice")
        eq(verdicts(s, "stored"), 1)
        # its key aged past the window and pruned: the same bytes are new
        ctx.psql(s, "UPDATE mqtt_keys SET received_at = now() - interval '2 hours'"
                    " WHERE key <> 'young'")
        prune_pass(s)
        eq(keys(ctx, s), 1, "only the young key left")
        b.pub("ramp/telemetry/dev-1", msg)
        wait_for(lambda: verdicts(s, "stored") == 2, msg="stored again once its key is gone")
        eq(stored(ctx, s), 2)
        eq(keys(ctx, s), 2)
    finally:
        b.stop()


def test_bad_key_settings_are_refused_at_start(ctx):
    import subprocess
    for name, v in (("RAMP_MQTT_KEY_KEEP", "0"), ("RAMP_MQTT_KEY_KEEP", "soon"),
                    ("RAMP_MQTT_PRUNE_INTERVAL", "0"), ("RAMP_MQTT_PRUNE_INTERVAL", "2d")):
        s = ctx.server(env={name: v}, start=False)
        p = subprocess.run([ctx.rampd], env=s.env(), capture_output=True, text=True, timeout=60)
        check(p.returncode == 2 and name in p.stderr, f"{name}={v}: {p.returncode} {p.stderr}")
