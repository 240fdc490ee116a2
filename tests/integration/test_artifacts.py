"""The content-addressed artifact store (issue 3): streamed uploads checked
against their digest, downloads from the file with ETag and byte ranges,
nothing left behind by a refused or abandoned upload, flat memory."""
import hashlib
import os
import socket

from ramp import check, eq, status, wait_for


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def put(client, data, d=None, **kw):
    return client.request("PUT", f"/v1/artifacts/{d or digest(data)}", raw=data,
                          ctype="application/octet-stream", **kw)


def files_under(s, sub="artifacts"):
    out = []
    for root, _, files in os.walk(os.path.join(s.data_dir, sub)):
        out += [os.path.join(root, f) for f in files]
    return out


def mk_token(s, name, role):
    return status(s.admin.post("/v1/tokens", {"name": name, "role": role}), 201).json["token"]


def raw_http(s, head, body=b"", read=True):
    """Sends a hand-made request; returns (socket, status line and headers text)."""
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    if not read:
        return sock, ""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return sock, data.decode(errors="replace")


def upload_temp_fds(s):
    """The server's open descriptors on files under artifacts/tmp (uploads in flight)."""
    out = []
    fd_dir = f"/proc/{s.proc.pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if os.path.join(s.data_dir, "artifacts", "tmp") in target:
            out.append(target)
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_upload_then_download_round_trips(ctx):
    s = ctx.server()
    data = os.urandom(300_000)
    d = digest(data)
    r = status(put(s.admin, data), 201).json
    eq((r["digest"], r["size"]), (d, len(data)))
    hexd = d[7:]
    path = os.path.join(s.data_dir, "artifacts", "sha256", hexd[:2], hexd)
    with open(path, "rb") as f:
        eq(f.read(), data)
    status(put(s.admin, data), 200)
    g = status(s.admin.get(f"/v1/artifacts/{d}"), 200)
    eq(g.body, data)
    eq(g.header("ETag"), f'"{d}"')
    eq(g.header("Accept-Ranges"), "bytes")
    eq(g.header("Content-Length"), str(len(data)))
    eq(g.header("Content-Type"), "application/octet-stream")
    h = status(s.admin.request("HEAD", f"/v1/artifacts/{d}"), 200)
    eq((h.body, h.header("Content-Length"), h.header("ETag")), (b"", str(len(data)), f'"{d}"'))
    status(s.admin.get(f"/v1/artifacts/{d}", headers={"If-None-Match": f'"{d}"'}), 304)
    eq(files_under(s), [path])
    eq(ctx.psql(s, "SELECT actor, target, detail->>'created' FROM audit"
                   " WHERE action = 'artifact.put' ORDER BY seq"),
       [["admin", d, "true"], ["admin", d, "false"]])
    # an empty artifact is still content-addressed
    status(put(s.admin, b""), 201)
    eq(status(s.admin.get(f"/v1/artifacts/{digest(b'')}"), 200).body, b"")


def test_range_requests_answer_206_and_416(ctx):
    s = ctx.server()
    data = os.urandom(10_000)
    d = digest(data)
    status(put(s.admin, data), 201)

    def get(rng):
        return s.admin.get(f"/v1/artifacts/{d}", headers={"Range": rng})
    cases = [("bytes=0-99", 0, 100), ("bytes=4000-4999", 4000, 5000), ("bytes=9000-", 9000, 10_000),
             ("bytes=-100", 9900, 10_000), ("bytes=-20000", 0, 10_000),
             ("bytes=9990-20000", 9990, 10_000), ("bytes=9999-9999", 9999, 10_000)]
    for rng, a, b in cases:
        r = status(get(rng), 206, rng)
        eq(r.body, data[a:b], rng)
        eq(r.header("Content-Range"), f"bytes {a}-{b - 1}/10000", rng)
        eq(r.header("Content-Length"), str(b - a), rng)
        eq(r.header("ETag"), f'"{d}"')
    for rng in ["bytes=10000-", "bytes=20000-30000", "bytes=-0"]:
        r = status(get(rng), 416, rng)
        eq(r.header("Content-Range"), "bytes */10000", rng)
    # several ranges, other units and nonsense are served whole (documented)
    for rng in ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=x-"]:
        eq(status(get(rng), 200, rng).body, data, rng)
    # If-Range with another validator serves the whole file
    r = s.admin.get(f"/v1/artifacts/{d}", headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    eq((r.status, len(r.body)), (200, 10_000))
    r = s.admin.request("HEAD", f"/v1/artifacts/{d}", headers={"Range": "bytes=-100"})
    eq((r.status, r.header("Content-Length"), r.body), (206, "100", b""))


def test_wrong_digest_upload_leaves_nothing_behind(ctx):
    s = ctx.server()
    data = os.urandom(200_000)
    wrong = digest(b"something else")
    r = status(put(s.admin, data, wrong), 422)
    eq(r.json["field"], "digest")
    check(digest(data) in r.json["detail"], r.json["detail"])
    eq(files_under(s), [])
    eq(upload_temp_fds(s), [])
    status(s.admin.get(f"/v1/artifacts/{wrong}"), 404)
    status(s.admin.get(f"/v1/artifacts/{digest(data)}"), 404)
    eq(ctx.psql(s, "SELECT count(*) FROM audit WHERE action = 'artifact.put'"), [["0"]])
    # a path that is not a sha256 digest
    for bad in ["sha256:" + "A" * 64, "sha256:abc", "md5:" + "a" * 32]:
        eq(put(s.admin, data, bad).json["field"], "digest", bad)
        status(s.admin.get(f"/v1/artifacts/{bad}"), 404)
    eq(files_under(s), [])


def test_50_mib_upload_keeps_server_memory_flat(ctx):
    s = ctx.server()
    warm = os.urandom(4 << 20)
    status(put(s.admin, warm), 201)
    status(s.admin.get(f"/v1/artifacts/{digest(warm)}"), 200)
    data = os.urandom(50 << 20)
    before = rss_kib(s.proc.pid)
    status(put(s.admin, data), 201)
    grown = rss_kib(s.proc.pid) - before
    check(grown <= 8 * 1024, f"rampd RSS grew by {grown} KiB during a 50 MiB upload")
    before = rss_kib(s.proc.pid)
    eq(status(s.admin.get(f"/v1/artifacts/{digest(data)}"), 200).body, data)
    grown = rss_kib(s.proc.pid) - before
    check(grown <= 8 * 1024, f"rampd RSS grew by {grown} KiB during a 50 MiB download")


def test_upload_over_the_limit_is_refused(ctx):
    s = ctx.server(env={"RAMP_ARTIFACT_MAX": "1M"})
    data = os.urandom((1 << 20) + 1)
    r = status(put(s.admin, data), 413)
    check("1048576" in r.json["detail"], r.json["detail"])
    exact = data[: 1 << 20]
    status(put(s.admin, exact), 201, "exactly the limit is fine")
    # a client waiting for 100 Continue gets the refusal before sending anything
    d = digest(b"huge")
    sock, head = raw_http(s, f"PUT /v1/artifacts/{d} HTTP/1.1\nHost: x\n"
                             f"Authorization: Bearer {s.admin_token}\n"
                             f"Content-Length: {3 << 30}\nExpect: 100-continue\n")
    sock.close()
    check(head.startswith("HTTP/1.1 413"), head)
    # so does one with a bad token
    sock, head = raw_http(s, f"PUT /v1/artifacts/{d} HTTP/1.1\nHost: x\n"
                             "Authorization: Bearer rmp_wrong\n"
                             "Content-Length: 100\nExpect: 100-continue\n")
    sock.close()
    check(head.startswith("HTTP/1.1 401"), head)
    # a chunked body is counted as it streams
    chunk = os.urandom(256 << 10)
    body = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"
    sock, head = raw_http(s, f"PUT /v1/artifacts/{d} HTTP/1.1\nHost: x\n"
                             f"Authorization: Bearer {s.admin_token}\n"
                             "Transfer-Encoding: chunked\n", body)
    sock.close()
    check(head.startswith("HTTP/1.1 413"), head)
    eq([os.path.basename(f) for f in files_under(s)], [digest(exact)[7:]])
    eq(upload_temp_fds(s), [])


def test_client_disconnect_mid_upload_removes_the_temp_file(ctx):
    # libmicrohttpd (0.9.75, epoll) now and then leaves a connection whose client hung up
    # mid-body in CLOSE-WAIT with everything read and never reports the abort; the
    # connection timeout then ends it. A short one keeps that worst case inside the wait.
    s = ctx.server(env={"RAMP_CONN_TIMEOUT": "3s"})
    d = digest(b"never finished")
    sock, _ = raw_http(s, f"PUT /v1/artifacts/{d} HTTP/1.1\nHost: x\n"
                          f"Authorization: Bearer {s.admin_token}\n"
                          f"Content-Length: {8 << 20}\n", os.urandom(1 << 20), read=False)
    wait_for(lambda: upload_temp_fds(s), msg="the upload's temporary file")
    sock.close()
    wait_for(lambda: not upload_temp_fds(s), msg="the temporary file to go")
    eq(files_under(s), [])
    status(s.admin.get("/healthz"), 200)


def test_artifact_roles(ctx):
    s = ctx.server()
    tok = {r: mk_token(s, f"t-{r}", r) for r in ["operator", "viewer", "ci", "ingest", "enroll"]}
    tok["device"] = status(s.admin.post("/v1/devices", {"id": "d1", "platform": "p"}), 201).json["token"]
    data = b"model bytes"
    for role in ["operator", "viewer", "ingest", "enroll", "device"]:
        eq(put(s.admin, data, token=tok[role]).status, 403, role)
    eq(files_under(s), [])
    eq(put(s.admin, data, token=None).status, 401)
    status(put(s.admin, data, token=tok["ci"]), 201)
    eq(ctx.psql(s, "SELECT actor FROM audit WHERE action = 'artifact.put'"), [["t-ci"]])
    for role, t in tok.items():
        eq(s.admin.get(f"/v1/artifacts/{digest(data)}", token=t).body, data, role)
    status(s.admin.get(f"/v1/artifacts/{digest(data)}", token=None), 401)


def chunk_rows(ctx, s):
    return int(ctx.psql(s, "SELECT count(*) FROM artifact_chunks")[0][0])


def test_any_replica_serves_an_artifact_uploaded_through_another(ctx):
    """The database store (the default with an external database): an
    upload's 2xx means every replica has it; the other replica fetches it
    from the database on first use and serves ranges from its own copy."""
    a = ctx.server()
    b = ctx.server(database=a.database, admin_token=a.admin_token)
    data = os.urandom(3 * (1 << 20) + 12345)  # four chunks, the last short
    d = digest(data)
    eq(files_under(b), [], "nothing on the other replica yet")
    status(put(a.admin, data), 201)
    # the other replica at once: a range in the third chunk first, then all
    r = status(b.admin.get(f"/v1/artifacts/{d}", headers={"Range": "bytes=2097150-2097160"}), 206)
    eq(r.body, data[2097150:2097161])
    eq(r.header("Content-Range"), f"bytes 2097150-2097160/{len(data)}")
    r = status(b.admin.get(f"/v1/artifacts/{d}"), 200)
    check(r.body == data, "the whole artifact from the other replica")
    eq(r.header("ETag"), f'"{d}"')
    status(b.admin.get(f"/v1/artifacts/{d}", headers={"If-None-Match": f'"{d}"'}), 304)
    eq(len(files_under(b, "artifacts/sha256")), 1, "the other replica keeps its copy")
    # a second upload of the same bytes through B is a 200 and stores nothing new
    n = chunk_rows(ctx, a)
    eq(n, 4)
    status(put(b.admin, data), 200)
    eq(chunk_rows(ctx, a), 4)
    # an artifact sharing the first two chunks stores only its new ones
    data2 = data[:2 << 20] + os.urandom(1000)
    status(put(b.admin, data2), 201)
    eq(chunk_rows(ctx, a), 5, "equal chunks are stored once")
    check(status(a.admin.get(f"/v1/artifacts/{digest(data2)}"), 200).body == data2)
    # a manifest naming it may be made stable through either replica
    status(b.admin.get(f"/v1/artifacts/{digest(b'nothing')}"), 404)


def test_a_damaged_database_copy_is_never_served(ctx):
    """A chunk changed behind ramp's back: the replica that fetches it finds
    the digest wrong, answers 5xx and names no file."""
    a = ctx.server()
    b = ctx.server(database=a.database, admin_token=a.admin_token)
    data = os.urandom((1 << 20) + 10)
    d = digest(data)
    status(put(a.admin, data), 201)
    ctx.psql(a, "UPDATE artifact_chunks SET data = overlay(data placing '\\x00'::bytea from 5) "
                "WHERE length(data) > 100")
    r = b.admin.get(f"/v1/artifacts/{d}")
    check(r.status >= 500, f"a damaged copy is not served: {r}")
    eq(files_under(b, "artifacts/sha256"), [], "nothing named")
    eq(status(a.admin.get(f"/v1/artifacts/{d}"), 200).body, data, "the uploader's own copy is intact")


def test_the_disk_store_keeps_artifacts_on_the_replica_that_took_them(ctx):
    """RAMP_ARTIFACT_STORE=disk: nothing goes to the database; another
    replica does not have the artifact (the documented trade-off)."""
    env = {"RAMP_ARTIFACT_STORE": "disk"}
    a = ctx.server(env=env)
    b = ctx.server(env=env, database=a.database, admin_token=a.admin_token)
    data = b"only here"
    status(put(a.admin, data), 201)
    status(a.admin.get(f"/v1/artifacts/{digest(data)}"), 200)
    status(b.admin.get(f"/v1/artifacts/{digest(data)}"), 404)
    eq(chunk_rows(ctx, a), 0)
