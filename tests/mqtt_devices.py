#!/usr/bin/env python3
"""Many MQTT device sessions in one process, for tests/bench_mqtt.py: each
device id read from --ids (one a line) gets its own connection to the broker
(from --source, a loopback address, so that several processes spread over
127.0.0.x and ephemeral ports last), an MQTT 3.1.1 CONNECT (clean session,
no keepalive: an idle session sends nothing) and a QoS 1 SUBSCRIBE to its
own ramp/desired/<id>. Every PUBLISH it is sent is acknowledged (PUBACK) and,
with --watch, printed as "<unix ns> <device id> <version or ->" on stdout.
Prints "READY <n>" once every session has its SUBACK, "FAILED <n> <why>"
when some could not connect; runs until stdin closes or SIGTERM.

  python3 tests/mqtt_devices.py --port 1883 --ids FILE [--source 127.0.0.2] [--watch]
"""
import argparse
import os
import json
import resource
import selectors
import signal
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24


def mqtt_str(s):
    b = s.encode()
    return len(b).to_bytes(2, "big") + b


def packet(kind, body):
    n, rl = len(body), b""
    while True:
        byte, n = n % 128, n // 128
        rl += bytes([byte | (0x80 if n else 0)])
        if not n:
            break
    return bytes([kind]) + rl + body


class Session:
    __slots__ = ("id", "sk", "buf", "subscribed")

    def __init__(self, dev, sk):
        self.id, self.sk, self.buf, self.subscribed = dev, sk, b"", False


def parse(buf):
    """Complete packets at the head of buf: [(type byte, body)], the rest."""
    out = []
    while len(buf) >= 2:
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(buf):
                return out, buf
            c = buf[i]
            n += (c & 0x7F) * mult
            mult *= 128
            i += 1
            if not c & 0x80:
                break
        if len(buf) < i + n:
            break
        out.append((buf[0], buf[i:i + n]))
        buf = buf[i + n:]
    return out, buf


def version(payload):
    """The version of the answer's first model (b"-": none, or not an answer)."""
    try:
        m = json.loads(payload)["models"]
        return m[0]["version"].encode() if m else b"-"
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return b"-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--ids", required=True)
    ap.add_argument("--source", default=None)
    ap.add_argument("--watch", action="store_true")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ids = [x.strip() for x in open(a.ids) if x.strip()]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    sessions, failed, why = [], 0, ""
    for dev in ids:
        try:
            sk = socket.socket()
            if a.source:
                sk.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                sk.bind((a.source, 0))
            sk.connect((a.host, a.port))
            sk.sendall(packet(0x10, mqtt_str("MQTT") + bytes([4, 0x02, 0, 0]) +
                              mqtt_str("dev-session-" + dev)) +
                       packet(0x82, (1).to_bytes(2, "big") + mqtt_str("ramp/desired/" + dev) +
                              bytes([1])))
            sk.setblocking(False)
        except OSError as e:
            failed += 1
            why = str(e)
            continue
        s = Session(dev, sk)
        sessions.append(s)
        sel.register(sk, selectors.EVENT_READ, s)
    if failed:
        print(f"FAILED {failed} {why}", flush=True)
    pending = len(sessions)
    out = sys.stdout.buffer
    while not stop:
        for key, _ in sel.select(1.0):
            s = key.data
            if s is None:  # stdin: closed means stop
                if not os.read(sys.stdin.fileno(), 4096):
                    stop.append(1)
                continue
            try:
                data = s.sk.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s.sk)
                s.sk.close()
                print(f"CLOSED {s.id}", flush=True)
                continue
            now = time.time_ns()
            pkts, s.buf = parse(s.buf + data)
            acks = b""
            for kind, body in pkts:
                t = kind & 0xF0
                if t == 0x90 and not s.subscribed:  # SUBACK
                    s.subscribed = True
                    pending -= 1
                    if pending == 0:
                        print(f"READY {len(sessions)}", flush=True)
                elif t == 0x30:  # PUBLISH
                    qos = (kind >> 1) & 3
                    tl = int.from_bytes(body[:2], "big")
                    payload = body[2 + tl + (2 if qos else 0):]
                    if qos:
                        acks += packet(0x40, body[2 + tl:4 + tl])
                    if a.watch:
                        out.write(b"%d %s %s\n" % (now, s.id.encode(), version(payload)))
            if acks:
                try:
                    s.sk.sendall(acks)
                except OSError:
                    pass
            if a.watch:
                out.flush()
    for s in sessions:
        s.sk.close()


if __name__ == "__main__":
    main()
