"""A broker that speaks only MQTT 3.1.1, for tests: a TCP proxy on a free
loopback port in front of a real mosquitto (which accepts MQTT 5). A CONNECT
with protocol level 5 gets what a 3.1.1 broker answers (MQTT 3.1.1,
3.1.2-2): CONNACK with return code 0x01, "unacceptable protocol level",
then the connection is closed; mode="close" only closes it, as some older
brokers do. Any other CONNECT is forwarded byte for byte, both ways.
(tests/integration/test_mqtt_fallback.py)"""
import socket
import threading


def _read_exact(sk, n):
    b = b""
    while len(b) < n:
        chunk = sk.recv(n - len(b))
        if not chunk:
            raise ConnectionError("closed")
        b += chunk
    return b


def read_packet(sk):
    """One MQTT control packet: (its bytes, the body after the fixed header)."""
    head = _read_exact(sk, 1)
    n, mult, raw = 0, 1, b""
    for _ in range(4):
        c = _read_exact(sk, 1)
        raw += c
        n += (c[0] & 0x7F) * mult
        mult *= 128
        if not c[0] & 0x80:
            break
    body = _read_exact(sk, n)
    return head + raw + body, body


def connect_level(body):
    """The protocol level of a CONNECT's body (after the protocol name)."""
    name_len = int.from_bytes(body[0:2], "big")
    return body[2 + name_len]


class Mqtt311Proxy:
    def __init__(self, upstream_port, mode="connack"):
        self.upstream = upstream_port
        self.mode = mode
        self.levels = []  # the protocol level of every CONNECT seen, in order
        self.refused = 0
        self.forwarded = 0
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.socks = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            pkt, body = read_packet(c)
            if pkt[0] & 0xF0 != 0x10:
                c.close()
                return
            level = connect_level(body)
            with self.lock:
                self.levels.append(level)
            if level == 5:
                with self.lock:
                    self.refused += 1
                if self.mode == "connack":
                    c.sendall(b"\x20\x02\x00\x01")
                c.close()
                return
            u = socket.create_connection(("127.0.0.1", self.upstream))
            u.sendall(pkt)
            with self.lock:
                self.forwarded += 1
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()
            self._pump(c, u)
        except (OSError, ConnectionError, IndexError):
            c.close()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.closed = True
        self.ls.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass
