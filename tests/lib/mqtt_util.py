"""Small helpers of the MQTT tests (tests/integration/test_mqtt_*.py)."""
import subprocess
import time

from ramp import status


def metric(s, name, labels=None):
    body = status(s.client(token=None).get("/metrics"), 200).body.decode()
    want = name + (("{" + labels + "}") if labels else "")
    for line in body.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


def verdicts(s, result):
    return metric(s, "ramp_mqtt_telemetry_messages_total", f'result="{result}"') or 0


def register(s, *ids):
    status(s.admin.post("/v1/devices", [{"id": i, "platform": "rpi-arm64"} for i in ids]), 201)


def report(dev, i=0):
    return {"device_id": dev, "model": "invoice-ocr:v2", "latency_ms": 100 + i, "errors": 0,
            "requests": 10, "timestamp": time.time() - 60 + i * 1e-3}


def stored(ctx, s, where="true"):
    return int(ctx.psql(s, f"SELECT count(*) FROM telemetry WHERE {where}")[0][0])


def read_lines(proc, timeout=60):
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode().splitlines()
