"""Paging: every list route reads ?limit= and ?after= the same way. A
cursor that no page could have handed out is a 400 naming `after` (never a
500), a bad limit a 400 naming `limit`, and a page's `next` still leads to
the following page."""
from fleet import Signer, enroll, publish
from ramp import check, eq, status

# the cursor kinds of api_page_args(): names, device ids, sequence numbers
BAD_ANY = ["", "%00", "%00abc", "a%20b", "x%0Ay", "%3Cb%3E", "%E2%9C%93", "x" * 300]
BAD_NAME = BAD_ANY + ["Abc", "-x", "..", "."]
BAD_DEVICE = BAD_ANY + ["..", ".", "a/b"]
BAD_SEQ = BAD_ANY + ["abc", "1.5", "99999999999999999999", "-1", "0", "%2B1", "%201", "1%20", "1e3", "0x10"]
BAD_LIMIT = ["", "0", "1001", "abc", "1.5", "-1", "%00", "99999999999999999999"]

POLICY = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}


def _fill(ctx, s):
    """Three or more items in every list."""
    signer = Signer(ctx, s)
    for i in range(3):
        status(s.admin.post("/v1/tokens", {"name": f"tok-{i}", "role": "viewer"}), 201)
        check(s.admin.put(f"/v1/cohorts/c{i}", {"selector": "platform=rpi-arm64"}).status in (200, 201))
        check(s.admin.put(f"/v1/policies/p{i}", POLICY).status in (200, 201))
        status(s.admin.put(f"/v1/webhooks/w{i}", {"url": "https://hooks.example.com/x",
                                                   "events": ["created"],
                                                   "secret": "s3cret-for-the-tests-0123"}), 201)
        Signer(ctx, s, key_id=f"key-{i}")
        publish(s, signer, f"m{i}", "v1", stable=True)
        publish(s, signer, f"m{i}", "v2")
        rid = status(s.admin.post("/v1/rollouts", {"model": f"m{i}", "version": "v2",
                                                   "policy": POLICY}), 201).json["id"]
        status(s.admin.post(f"/v1/rollouts/{rid}/abort"), 200)
    enroll(s, 5)


# path, cursor kind, the field that identifies an item
ROUTES = [
    ("/v1/tokens", BAD_NAME, "name"),
    ("/v1/devices", BAD_DEVICE, "id"),
    ("/v1/cohorts", BAD_NAME, "name"),
    ("/v1/cohorts/c0/devices", BAD_DEVICE, "id"),
    ("/v1/keys", BAD_NAME, "id"),
    ("/v1/manifests", BAD_SEQ, ("model", "version")),
    ("/v1/models", BAD_NAME, "name"),
    ("/v1/policies", BAD_NAME, "name"),
    ("/v1/rollouts?state=all", BAD_SEQ, "id"),
    ("/v1/audit", BAD_SEQ, "seq"),
    ("/v1/webhooks", BAD_NAME, "name"),
]


def _key(item, key):
    return tuple(item[k] for k in key) if isinstance(key, tuple) else item[key]


def _q(path, arg):
    return path + ("&" if "?" in path else "?") + arg


def test_every_list_route_refuses_bad_cursors_and_limits_and_follows_next(ctx):
    s = ctx.server()
    _fill(ctx, s)
    for path, bad, key in ROUTES:
        for cursor in bad:
            r = s.admin.get(_q(path, "after=" + cursor))
            eq(r.status, 400, f"{path} after={cursor!r}: {r}")
            eq(r.header("Content-Type"), "application/problem+json", path)
            if "%00" in cursor:
                # refused by the HTTP layer before any handler reads the query
                check("NUL" in r.json["detail"], f"{path} after={cursor!r}: {r.json}")
            else:
                eq(r.json["field"], "after", f"{path} after={cursor!r}")
        for lim in BAD_LIMIT:
            r = s.admin.get(_q(path, "limit=" + lim))
            eq(r.status, 400, f"{path} limit={lim!r}: {r}")
            if "%00" in lim:
                check("NUL" in r.json["detail"], f"{path} limit={lim!r}: {r.json}")
            else:
                eq(r.json["field"], "limit", f"{path} limit={lim!r}")
        # the whole list, then page by page with limit=2 following next
        whole = status(s.admin.get(_q(path, "limit=1000")), 200).json
        check(len(whole["items"]) >= 3, f"{path}: {whole}")
        eq(whole["next"], None, path)
        got, nxt, pages = [], None, 0
        while True:
            q = _q(path, "limit=2") + (f"&after={nxt}" if nxt is not None else "")
            page = status(s.admin.get(q), 200, q).json
            check(len(page["items"]) <= 2, q)
            got += [_key(i, key) for i in page["items"]]
            nxt = page["next"]
            pages += 1
            check(pages < 100, path)
            if nxt is None:
                break
            check(isinstance(nxt, str) and nxt, f"{path}: next {nxt!r}")
        eq(got, [_key(i, key) for i in whole["items"]], path)
        check(pages >= 2, f"{path}: one page only")
