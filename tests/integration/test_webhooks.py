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
    s = ctx.server()
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
    s = ctx.server()
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
