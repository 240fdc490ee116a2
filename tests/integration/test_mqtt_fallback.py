"""MQTT 5 -> 3.1.1 fallback (docs/mqtt.md) against a broker that speaks only
3.1.1: a proxy (tests/lib/mqtt311.py) in front of the real mosquitto refuses
protocol level 5 the way a 3.1.1 broker does and forwards 3.1.1 byte for
byte. rampd must end up connected at 3.1.1, store telemetry and publish
desired state through it, and say so on /readyz and /metrics."""
import json

from broker import Broker
from mqtt311 import Mqtt311Proxy
from ramp import check, eq, status, wait_for
from mqtt_util import metric, read_lines, register, report, stored, verdicts


def rampd_behind(ctx, proxy, client_id="rampd-311"):
    return ctx.server(env={"RAMP_MQTT_URL": proxy.url, "RAMP_MQTT_CLIENT_ID": client_id})


def fallback_case(ctx, mode):
    from fleet import Signer, enroll, publish
    b = Broker(ctx.tmp).start()
    proxy = Mqtt311Proxy(b.port, mode=mode)
    try:
        s = rampd_behind(ctx, proxy)
        wait_for(lambda: metric(s, "ramp_mqtt_connected") == 1, timeout=60,
                 msg="rampd connected through the 3.1.1-only broker")
        eq(metric(s, "ramp_mqtt_protocol_version"), 4, "MQTT 3.1.1 is protocol level 4")
        eq(status(s.client(token=None).get("/readyz"), 200).json,
           {"status": "ready", "mqtt": "connected", "mqtt_protocol": "3.1.1"})
        with proxy.lock:
            levels = list(proxy.levels)
        eq(levels[0], 5, "MQTT 5 asked first")
        check(proxy.refused >= 1 and proxy.forwarded >= 1, levels)
        eq(levels[-1], 4, f"then 3.1.1: {levels}")
        check("falling back to 3.1.1" in s.log(), "the fallback is logged")
        # telemetry through the 3.1.1 session (the shared subscription is
        # mosquitto's own for 3.1.1 clients too)
        register(s, "dev-1")
        before = verdicts(s, "unknown_device")
        b.pub("ramp/telemetry/nobody", json.dumps(report("nobody")))
        wait_for(lambda: verdicts(s, "unknown_device") > before, msg="the subscription is there")
        b.pub("ramp/telemetry/dev-1", json.dumps({"reports": [report("dev-1", 1),
                                                               report("dev-1", 2)]}))
        b.pub("ramp/telemetry/dev-1", "{not json")
        wait_for(lambda: stored(ctx, s) == 2, msg="two reports stored over 3.1.1")
        wait_for(lambda: verdicts(s, "invalid") == 1, msg="the bad one counted")
        eq(stored(ctx, s), 2, "nothing of the bad one")
        # desired state: retained, the ETag only in the JSON (no user
        # properties in 3.1.1), read by an MQTT 5 subscriber straight at
        # the broker
        signer = Signer(ctx, s)
        publish(s, signer, "ocr", "v1", stable=True)
        tokens = enroll(s, 2)

        def retained():
            got = {}
            p = b.sub("ramp/desired/+", count=3, wait=10, fmt="%t|%P|%p", retained_only=True,
                      extra=("-V", "mqttv5"))
            for line in read_lines(p):
                topic, props, payload = line.split("|", 2)
                got[topic.rsplit("/", 1)[1]] = (props, json.loads(payload))
            return got
        got = wait_for(lambda: (lambda g: all(d in g and g[d][1]["models"] for d in tokens)
                                and g)(retained()), msg="the retained answers of both devices")
        for d, tok in tokens.items():
            r = status(s.client(token=tok).get("/v1/agent/desired"), 200)
            props, m = got[d]
            eq(m.pop("etag"), r.header("ETag"))
            eq(m, r.json, "the same JSON as GET /v1/agent/desired")
            eq(props, "", "no user property over 3.1.1")
        check(proxy.refused <= 2, f"MQTT 5 is not asked again once refused: {proxy.levels}")
    finally:
        proxy.stop()
        b.stop()


def test_a_broker_that_answers_mqtt5_with_connack_0x01_gets_311(ctx):
    fallback_case(ctx, "connack")


def test_mqtt5_and_311_on_the_real_broker(ctx):
    """Against mosquitto itself rampd stays on MQTT 5 and says so."""
    b = Broker(ctx.tmp).start()
    try:
        s = ctx.server(env={"RAMP_MQTT_URL": b.url, "RAMP_MQTT_CLIENT_ID": "rampd-5"})
        wait_for(lambda: metric(s, "ramp_mqtt_connected") == 1, msg="connected")
        eq(metric(s, "ramp_mqtt_protocol_version"), 5)
        eq(status(s.client(token=None).get("/readyz"), 200).json,
           {"status": "ready", "mqtt": "connected", "mqtt_protocol": "5"})
    finally:
        b.stop()


def test_a_broker_that_closes_on_mqtt5_gets_311(ctx):
    """Some older brokers close the connection on a level they do not know
    instead of answering CONNACK 0x01."""
    fallback_case(ctx, "close")
