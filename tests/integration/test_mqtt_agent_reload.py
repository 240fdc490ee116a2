"""ramp-agent re-reads its MQTT settings on SIGHUP (docs/mqtt.md): a new
mqtt-url makes it drop the old broker connection and connect to the new
one, where pushed answers and telemetry flow again; a SIGHUP that leaves the
MQTT settings alone keeps the connection; removing mqtt-url goes back to
polling. The two "brokers" are forwarders (tests/lib/mqtt311.py) in front of
one real mosquitto, so which one the agent uses is counted exactly."""
import os
import signal

from broker import Broker
from mqtt311 import Mqtt311Proxy
from mqtt_util import verdicts
from ramp import check, eq


def agent_conns(proxy):
    with proxy.lock:
        return proxy.forwarded


def test_sighup_reconnects_the_agent_with_new_mqtt_settings(ctx):
    from agentdev import AgentProc, DeviceEnv, access_count, device_session
    from runners import set_stable
    b = Broker(ctx.tmp).start()
    one, two = Mqtt311Proxy(b.port), Mqtt311Proxy(b.port)
    try:
        with device_session(ctx):
            e = DeviceEnv(ctx, versions=("v1", "v2", "v3"))
            e.s.stop()
            e.s.extra_env.update({"RAMP_MQTT_URL": b.url, "RAMP_MQTT_CLIENT_ID": "rampd-hup"})
            e.s.start()
            sock = os.path.join(ctx.tmp, "tele.sock")
            a = AgentProc(ctx, e.conf(telemetry_socket=sock, **{"mqtt-url": one.url}),
                          cli={"mqtt-poll": 600})
            e.wait("v1", "installed", agent=a)
            a.wait(lambda: agent_conns(one) == 1, "the agent on the first broker")
            a.wait(lambda: a.tail(10 ** 8).count("mqtt connected") == 1, "connected once")
            eq(agent_conns(two), 0)
            # a SIGHUP with the same MQTT settings keeps the connection
            reloads = a.tail(10 ** 8).count("configuration reloaded")
            a.p.send_signal(signal.SIGHUP)
            a.wait(lambda: a.tail(10 ** 8).count("configuration reloaded") > reloads, "re-read")
            check("mqtt_changed=0" in a.tail(10 ** 8), a.tail())
            # the new broker
            a.conf["mqtt-url"] = two.url
            a.write_conf()
            a.p.send_signal(signal.SIGHUP)
            a.wait(lambda: agent_conns(two) == 1, "the agent on the second broker")
            a.wait(lambda: a.tail(10 ** 8).count("mqtt connected") == 2, "connected again")
            eq(agent_conns(one), 1, "not back on the first one")
            one.stop()  # anything still going through the first is cut
            # pushed answers come through the new connection, not a poll
            polls = access_count(e.s, "/v1/agent/desired")
            set_stable(e.s, "ocr", "v2")
            e.wait("v2", "installed", agent=a)
            check(access_count(e.s, "/v1/agent/desired") <= polls + 1,
                  "v2 came over MQTT, not from a poll")
            n = verdicts(e.s, "stored")
            posts = access_count(e.s, "/v1/telemetry")
            a.wait(lambda: verdicts(e.s, "stored") >= n + 2, "telemetry over the new connection")
            eq(access_count(e.s, "/v1/telemetry"), posts, "not over HTTP")
            # mqtt-url removed: the connection goes, HTTP polls take over
            del a.conf["mqtt-url"]
            a.write_conf()
            a.p.send_signal(signal.SIGHUP)
            a.wait(lambda: "mqtt_changed=1" in a.tail(10 ** 8).split("mqtt connected")[-1],
                   "the MQTT settings seen gone")
            polls = access_count(e.s, "/v1/agent/desired")
            a.wait(lambda: access_count(e.s, "/v1/agent/desired") > polls + 3, "polling again")
            set_stable(e.s, "ocr", "v3")
            e.wait("v3", "installed", agent=a)
            eq(agent_conns(two), 1, "no new connection")
    finally:
        one.stop()
        two.stop()
        b.stop()
