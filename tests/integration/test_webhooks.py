"""Webhooks: signed rollout event notifications from the outbox, retried
with backoff, and the webhook list's validation, roles and audit."""
import hashlib
import hmac
import http.server
import json
import threading

from fleet import Fleet, Signer, enroll, publish, rollout
from ramp import check, eq, status, wait_for

SECRET = "s3cret-for-the-tests-0123"
# the receivers below listen on loopback, which rampd refuses by default
PRIVATE_OK = {"RAMP_WEBHOOK_ALLOW_PRIVATE": "1"}


class Receiver:
    """A local HTTP server that records every POST and answers 500 to the
    first `fail` of them."""

    def __init__(self, fail=0):
        self.got = []
        self.fail = fail
        self.lock = threading.Lock()
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rec.lock:
                    rec.got.append((dict(self.headers), body))
                    code = 500 if len(rec.got) <= rec.fail else 204
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def events(self):
        with self.lock:
            return list(self.got)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def signed(headers, body, secret=SECRET):
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Ramp-Signature", ""), want)


def test_subscribed_rollout_events_arrive_signed_with_their_payload(ctx):
    s = ctx.server(env=PRIVATE_OK)
    rx = Receiver()
    try:
        hook = {"url": rx.url, "events": ["breach", "rolled_back", "succeeded"], "secret": SECRET}
        r = status(s.admin.put("/v1/webhooks/ops", hook), 201)
        check("secret" not in r.json, r.json)
        signer = Signer(ctx, s)
        publish(s, signer, "ocr", "v1", stable=True)
        publish(s, signer, "ocr", "v2")
        publish(s, signer, "ocr", "v3")
        tokens = enroll(s, 40)
        # a breach rolls v2 back
        pol = {"stages": [{"name": "canary", "size": 0.25, "validation_window": "1h",
                           "metrics": [{"name": "error_rate", "threshold": "< 1%"}]},
                          {"name": "full", "size": 1.0, "validation_window": "1h"}]}
        bad = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}),
                     201).json["id"]
        fleet = Fleet(s, tokens, "ocr")
        fleet.poll_all()

        def rolled_back():
            fleet.report(versions_bad=("v2",))
            return rollout(s, bad)["state"] == "rolled_back"
        wait_for(rolled_back, timeout=30, interval=0.5, msg="rollback")
        fleet.close()
        # v3 goes to everyone and succeeds
        pol2 = {"stages": [{"name": "canary", "size": 0.25, "validation_window": "1h"},
                           {"name": "full", "size": 1.0, "validation_window": "1s"}]}
        good = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v3", "policy": pol2}),
                      201).json["id"]
        status(s.admin.post(f"/v1/rollouts/{good}/promote?full=true"), 200)
        wait_for(lambda: rollout(s, good)["state"] == "succeeded", timeout=30, msg="succeeded")

        def types():
            return [json.loads(b)["type"] for _, b in rx.events()]
        wait_for(lambda: "rolled_back" in types() and "succeeded" in types(), timeout=30,
                 msg="deliveries")
        got = rx.events()
        check(all(t in ("breach", "rolled_back", "succeeded") for t in types()), types())
        check("breach" in types(), types())
        events = {e["type"]: e for e in rollout(s, bad)["events"]}
        for headers, body in got:
            check(signed(headers, body), headers)
            check(not signed(headers, body, secret=SECRET + "x"))
            eq(headers.get("Content-Type"), "application/json")
            p = json.loads(body)
            eq(headers.get("X-Ramp-Event"), p["type"])
            check(headers.get("X-Ramp-Delivery", "").isdigit(), headers)
            for k in ("id", "type", "detail", "at", "rollout"):
                check(k in p, f"{k} in {p}")
            eq(p["rollout"]["model"], "ocr")
        by_type = {json.loads(b)["type"]: json.loads(b) for _, b in got}
        rb = by_type["rolled_back"]
        eq((rb["rollout"]["id"], rb["rollout"]["version"], rb["rollout"]["state"]),
           (bad, "v2", "rolled_back"))
        eq(rb["detail"], events["rolled_back"]["detail"])
        ok = by_type["succeeded"]
        eq((ok["rollout"]["id"], ok["rollout"]["version"], ok["rollout"]["state"]),
           (good, "v3", "succeeded"))
        # the webhook shows its deliveries, all delivered
        w = status(s.admin.get("/v1/webhooks/ops"), 200).json
        check("secret" not in w, w)
        eq(len(w["deliveries"]), len(got))
        check(all(d["delivered_at"] and d["attempts"] == 1 for d in w["deliveries"]), w)
    finally:
        rx.close()


def test_a_failing_receiver_is_retried_until_delivered(ctx):
    s = ctx.server(env=PRIVATE_OK)
    rx = Receiver(fail=2)
    try:
        status(s.admin.put("/v1/webhooks/flaky", {"url": rx.url, "events": ["created"],
                                                   "secret": SECRET}), 201)
        signer = Signer(ctx, s)
        publish(s, signer, "ocr", "v1", stable=True)
        publish(s, signer, "ocr", "v2")
        enroll(s, 5)
        pol = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}
        rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}),
                     201).json["id"]

        def delivered():
            ds = status(s.admin.get("/v1/webhooks/flaky"), 200).json["deliveries"]
            return ds and ds[0]["delivered_at"] and ds[0]
        d = wait_for(delivered, timeout=30, interval=0.3, msg="delivered")
        d = delivered()
        eq(d["attempts"], 3)
        eq(d["type"], "created")
        eq(d["last_status"], 204)
        check("500" in (d["last_error"] or ""), d)
        got = rx.events()
        eq(len(got), 3)
        eq(len({h["X-Ramp-Delivery"] for h, _ in got}), 1)   # one delivery, three attempts
        eq(len({b for _, b in got}), 1)                       # the same body each time
        check(all(signed(h, b) for h, b in got))
        eq(json.loads(got[0][1])["rollout"]["id"], rid)
    finally:
        rx.close()


def test_bad_webhooks_are_422_store_nothing_and_viewers_cannot_write(ctx):
    s = ctx.server()
    good = {"url": "https://hooks.example.com/ramp", "events": ["promoted", "paused"],
            "secret": SECRET}
    bad = [
        ({**good, "url": "ftp://example.com/x"}, "url"),
        ({**good, "url": "http://"}, "url"),
        ({**good, "url": "http://a b/"}, "url"),
        ({**good, "url": 7}, "url"),
        ({**good, "events": []}, "events"),
        ({**good, "events": ["deployed"]}, "events"),
        ({**good, "events": ["paused", "paused"]}, "events"),
        ({**good, "events": "paused"}, "events"),
        ({**good, "secret": "short"}, "secret"),
        ({k: v for k, v in good.items() if k != "secret"}, "secret"),
        ({**good, "colour": "red"}, "colour"),
    ]
    for body, field in bad:
        r = status(s.admin.put("/v1/webhooks/w1", body), 422, json.dumps(body))
        eq(r.json["field"], field, json.dumps(body))
    eq(status(s.admin.put("/v1/webhooks/Bad_Name", good), 422).json["field"], "name")
    status(s.admin.get("/v1/webhooks/w1"), 404)
    eq(ctx.psql(s, "SELECT count(*) FROM webhooks")[0][0], "0")

    viewer = status(s.admin.post("/v1/tokens", {"name": "v", "role": "viewer"}), 201).json["token"]
    v = s.client(token=viewer)
    status(v.put("/v1/webhooks/w1", good), 403)
    status(v.delete("/v1/webhooks/w1"), 403)
    operator = status(s.admin.post("/v1/tokens", {"name": "o", "role": "operator"}), 201).json["token"]
    op = s.client(token=operator)
    r = status(op.put("/v1/webhooks/w1", good), 201).json
    eq((r["name"], r["url"], r["events"]), ("w1", good["url"], ["promoted", "paused"]))
    r = status(op.put("/v1/webhooks/w1", {**good, "events": ["succeeded"]}), 200).json
    eq(r["events"], ["succeeded"])
    items = status(v.get("/v1/webhooks"), 200).json["items"]
    eq([i["name"] for i in items], ["w1"])
    check(all("secret" not in i for i in items), items)
    check(SECRET not in status(v.get("/v1/webhooks/w1"), 200).body.decode())
    status(op.delete("/v1/webhooks/w1"), 204)
    status(op.delete("/v1/webhooks/w1"), 404)
    audit = status(s.admin.get("/v1/audit?limit=1000"), 200).json["items"]
    acts = [a["action"] for a in audit if a["target"] == "w1"]
    eq(acts, ["webhook.create", "webhook.update", "webhook.delete"])
    check(SECRET not in json.dumps(audit))


def test_webhook_urls_are_parsed_strictly_and_nothing_bad_is_stored(ctx):
    s = ctx.server()
    good = {"url": "https://hooks.example.com/ramp", "events": ["paused"], "secret": SECRET}
    bad_urls = [
        "http://user:pw@hooks.example.com/x",      # credentials belong in headers
        "https://token@hooks.example.com/x",
        "https://hooks.example.com:99999/x",       # port out of range
        "https://hooks.example.com:0/x",
        "https://hooks.example.com:/x",
        "https://hooks.example.com:8o/x",
        "https://hooks.example.com/a b",            # spaces and markup anywhere
        "https://hooks.example.com/<script>",
        'https://hooks.example.com/"x"',
        "https://hooks.example.com/x\ty",
        "https://hooks.example.com/\u00e9",
        "https://hooks.example.com/x#frag",
        "https://hooks..example.com:443/%",
        "https://hooks.example.com\\@evil.example/",
        "https://[::1/x",
        "https://[zz::1]/x",
        "https:///x",
        "https://:443/x",
        "HTTPS://hooks.example.com/x",
        "https://" + "a" * 2100,
    ]
    for u in bad_urls:
        r = status(s.admin.put("/v1/webhooks/w1", {**good, "url": u}), 422, u)
        eq(r.header("Content-Type"), "application/problem+json")
        eq(r.json["field"], "url", u)
    r = status(s.admin.put("/v1/webhooks/w1", {**good, "url": "http://u:hunter2@hooks.example.com/"}), 422)
    check("headers" in r.json["detail"], r.json)
    eq(ctx.psql(s, "SELECT count(*) FROM webhooks")[0][0], "0")
    audit = status(s.admin.get("/v1/audit?limit=1000"), 200).json["items"]
    check("hunter2" not in str(audit), audit)
    for u in ("https://hooks.example.com:8443/x?a=1&b=%20", "http://hooks.example.com",
              "https://[2001:db8::1]:443/x", "https://93.184.216.34/x", "https://HOOKS.example.com/x"):
        r = s.admin.put("/v1/webhooks/w1", {**good, "url": u})
        check(r.status in (200, 201), f"{u}: {r}")
        eq(r.json["url"], u)


def test_loopback_private_and_link_local_targets_are_refused_unless_allowed(ctx):
    s = ctx.server()
    good = {"url": "https://hooks.example.com/ramp", "events": ["paused"], "secret": SECRET}
    private = ["http://127.0.0.1:8080/x", "http://127.1.2.3/x", "http://127.1/x", "http://2130706433/x",
               "http://0x7f.1/x", "http://[::1]/x", "http://10.1.2.3/x", "http://172.16.0.1/x",
               "http://172.31.255.255/x", "http://192.168.1.1/x", "http://169.254.169.254/latest/",
               "http://[fe80::1]/x", "http://[fd00::1]/x", "http://[fc00::1]/x", "http://0.0.0.0/x",
               "http://[::]/x", "http://[::ffff:127.0.0.1]/x", "http://localhost:9/x",
               "http://LOCALHOST/x", "http://api.localhost/x"]
    for u in private:
        r = status(s.admin.put("/v1/webhooks/w1", {**good, "url": u}), 422, u)
        eq(r.json["field"], "url", u)
        check("RAMP_WEBHOOK_ALLOW_PRIVATE" in r.json["detail"], r.json)
    eq(ctx.psql(s, "SELECT count(*) FROM webhooks")[0][0], "0")
    # public neighbours of those ranges are fine
    for u in ("http://172.32.0.1/x", "http://11.0.0.1/x", "http://[2001:db8::1]/x",
              "http://192.169.0.1/x", "http://localhost.example.com/x"):
        r = s.admin.put("/v1/webhooks/w1", {**good, "url": u})
        check(r.status in (200, 201), f"{u}: {r}")
    # with the setting, the same loopback URL is accepted
    s2 = ctx.server(env=PRIVATE_OK)
    status(s2.admin.put("/v1/webhooks/w1", {**good, "url": private[0]}), 201)


def test_a_name_resolving_to_loopback_is_refused_at_delivery(ctx):
    # names /etc/hosts maps to loopback (besides localhost, refused by name)
    names = []
    for line in open("/etc/hosts"):
        f = line.split("#")[0].split()
        if len(f) >= 2 and (f[0].startswith("127.") or f[0] == "::1"):
            names += [n for n in f[1:] if "localhost" not in n.lower()]
    if not names:
        from ramp import Skip
        raise Skip("no loopback name besides localhost in /etc/hosts")
    s = ctx.server()
    rx = Receiver()
    try:
        port = rx.url.rsplit(":", 1)[1]
        url = f"http://{names[0]}:{port}"
        status(s.admin.put("/v1/webhooks/local", {"url": url, "events": ["created"],
                                                   "secret": SECRET}), 201)
        signer = Signer(ctx, s)
        publish(s, signer, "ocr", "v1", stable=True)
        publish(s, signer, "ocr", "v2")
        enroll(s, 2)
        pol = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}
        status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201)

        def tried():
            ds = status(s.admin.get("/v1/webhooks/local"), 200).json["deliveries"]
            return ds and ds[0]["attempts"] >= 1 and ds[0]
        d = wait_for(tried, timeout=30, interval=0.3, msg="attempted")
        check(d["delivered_at"] is None, d)
        check("RAMP_WEBHOOK_ALLOW_PRIVATE" in (d["last_error"] or ""), d)
        eq(rx.events(), [])
    finally:
        rx.close()


def test_secret_headers_are_sent_but_never_shown(ctx):
    s = ctx.server(env=PRIVATE_OK)
    rx = Receiver()
    try:
        token = "Bearer very-secret-receiver-token"
        hook = {"url": rx.url, "events": ["created"], "secret": SECRET,
                "headers": {"Authorization": token, "X-Team": "ml-platform"}}
        r = status(s.admin.put("/v1/webhooks/auth", hook), 201).json
        eq(r["header_names"], ["Authorization", "X-Team"])
        check(token not in str(r), r)
        for body, why in [
            ({**hook, "headers": []}, "not an object"),
            ({**hook, "headers": {"Bad Name": "x"}}, "space in a name"),
            ({**hook, "headers": {"X-A": "a\r\nX-Injected: 1"}}, "CRLF in a value"),
            ({**hook, "headers": {"X-A": ""}}, "empty value"),
            ({**hook, "headers": {"X-A": 7}}, "not a string"),
            ({**hook, "headers": {"Content-Type": "text/plain"}}, "rampd's own header"),
            ({**hook, "headers": {"X-Ramp-Signature": "x"}}, "rampd's own header"),
            ({**hook, "headers": {f"X-{i}": "v" for i in range(9)}}, "too many"),
        ]:
            r = status(s.admin.put("/v1/webhooks/auth2", body), 422, why)
            eq(r.json["field"], "headers", why)
        status(s.admin.get("/v1/webhooks/auth2"), 404)
        viewer = status(s.admin.post("/v1/tokens", {"name": "v", "role": "viewer"}), 201).json["token"]
        v = s.client(token=viewer)
        check(token not in status(v.get("/v1/webhooks"), 200).body.decode())
        got = status(v.get("/v1/webhooks/auth"), 200)
        check(token not in got.body.decode())
        eq(got.json["header_names"], ["Authorization", "X-Team"])
        audit = status(s.admin.get("/v1/audit?limit=1000"), 200).json["items"]
        check("very-secret-receiver-token" not in str(audit), audit)
        check(any(a["action"] == "webhook.create" and a["target"] == "auth" for a in audit), audit)
        signer = Signer(ctx, s)
        publish(s, signer, "ocr", "v1", stable=True)
        publish(s, signer, "ocr", "v2")
        enroll(s, 2)
        pol = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}
        status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201)
        wait_for(lambda: rx.events(), timeout=30, msg="delivery")
        h, body = rx.events()[0]
        eq(h.get("Authorization"), token)
        eq(h.get("X-Team"), "ml-platform")
        check(signed(h, body), h)
    finally:
        rx.close()


def test_schema_009_moves_stored_url_credentials_into_headers(ctx):
    import os
    s = ctx.server()
    ctx.psql(s, "INSERT INTO webhooks (name, url, events, secret, created_by) VALUES"
                " ('old', 'https://bot:hunter2@hooks.example.com/x', '{paused}', 'x', 'admin'),"
                " ('plain', 'https://hooks.example.com/y@z', '{paused}', 'x', 'admin')")
    sql = open(os.path.join(os.path.dirname(__file__), "..", "..", "schema",
                            "009_webhook_headers.sql")).read()
    ctx.psql(s, sql[sql.index("UPDATE webhooks"):])
    w = status(s.admin.get("/v1/webhooks/old"), 200).json
    eq(w["url"], "https://hooks.example.com/x")
    eq(w["header_names"], ["Authorization"])
    eq(ctx.psql(s, "SELECT headers->>'Authorization' FROM webhooks WHERE name = 'old'")[0][0],
       "Basic Ym90Omh1bnRlcjI=")
    eq(status(s.admin.get("/v1/webhooks/plain"), 200).json["url"], "https://hooks.example.com/y@z")
