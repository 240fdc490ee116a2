"""A real mosquitto broker for tests and benchmarks: started on a free
loopback port with a config written here, stopped by the caller
(tests/integration/test_mqtt.py, tests/bench_mqtt.py)."""
import getpass
import os
import shutil
import socket
import subprocess
import time

from ramp import Skip, spawn_listening, wait_for


def have_mosquitto():
    return all(shutil.which(t) for t in ("mosquitto", "mosquitto_pub", "mosquitto_sub"))


def _tcp_up(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Broker:
    """mosquitto on 127.0.0.1 with its own directory; extra: more config
    lines (ACL, password file, TLS listener options)."""

    def __init__(self, tmp, extra="", anonymous=True, port=None):
        if not have_mosquitto():
            raise Skip("mosquitto and mosquitto-clients are not installed")
        self.dir = os.path.join(tmp, f"broker{time.monotonic_ns()}")
        os.makedirs(self.dir)
        self.extra = extra
        self.anonymous = anonymous
        self.port = port
        self.proc = None
        self.log = open(os.path.join(self.dir, "mosquitto.out"), "ab")

    def conf(self, port):
        path = os.path.join(self.dir, "mosquitto.conf")
        with open(path, "w") as f:
            f.write(f"user {getpass.getuser()}\n"
                    f"listener {port} 127.0.0.1\n"
                    f"allow_anonymous {'true' if self.anonymous else 'false'}\n"
                    f"persistence true\npersistence_location {self.dir}/\n"
                    "max_queued_messages 200000\nmax_inflight_messages 1000\n"
                    "message_size_limit 2000000\n"
                    f"log_dest file {self.dir}/mosquitto.log\nlog_type error\nlog_type warning\n"
                    "log_type notice\nlog_type information\n"
                    f"{self.extra}\n")
        return path

    def start(self):
        if self.port:  # a fixed port (a broker started again where rampd expects it)
            self.proc = subprocess.Popen(["mosquitto", "-c", self.conf(self.port)],
                                         stdout=self.log, stderr=self.log)
            wait_for(lambda: _tcp_up(self.port), msg=f"mosquitto on {self.port}")
            return self
        self.proc, self.port = spawn_listening(
            lambda p: ["mosquitto", "-c", self.conf(p)], self.log, _tcp_up,
            refused=b"Address already in use")
        return self

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logtext(self):
        try:
            with open(os.path.join(self.dir, "mosquitto.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def pub(self, topic, payload=None, qos=1, file=None, lines=None, user=None, password=None,
            client_id=None, check=True, extra=()):
        """mosquitto_pub: one message (payload bytes or str, or file), or
        every line of lines (-l, one message each). Returns the process."""
        args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", str(qos),
                "-t", topic, *extra]
        if client_id:
            args += ["-i", client_id]
        if user:
            args += ["-u", user]
        if password is not None:
            args += ["-P", password]
        stdin = None
        if file:
            args += ["-f", file]
        elif lines is not None:
            args += ["-l"]
            stdin = "".join(x + "\n" for x in lines).encode()
        elif not payload:
            args += ["-n"]  # an empty message
        else:
            args += ["-s"]
            stdin = payload.encode() if isinstance(payload, str) else payload
        p = subprocess.run(args, input=stdin, capture_output=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"mosquitto_pub failed: {p.stderr.decode()}")
        return p

    def sub(self, topic, count=None, wait=None, fmt="%t %p", user=None, password=None,
            extra=(), retained_only=False):
        """Starts mosquitto_sub printing fmt per message; returns the process
        (stdout a pipe)."""
        args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1",
                "-t", topic, "-F", fmt, *extra]
        if count:
            args += ["-C", str(count)]
        if wait:
            args += ["-W", str(wait)]
        if retained_only:
            args += ["--retained-only"]
        if user:
            args += ["-u", user]
        if password is not None:
            args += ["-P", password]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class Lines:
    """Reads a subprocess pipe's lines without Python's buffering, so that
    select() on the descriptor never misses lines already taken from it."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buf = b""

    def next(self, timeout):
        """The next line (str, without its newline), or None after timeout
        seconds with none complete, or at the end of the stream."""
        import select
        deadline = time.time() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()
