"""hawkBit's DDI API on rampd, endpoint by endpoint: the JSON of the poll,
deploymentBase and cancelAction, feedback mapped onto agent status, the
TargetToken/GatewayToken schemes, configData, installedBase, and rollouts
and rollbacks seen through DDI."""
import hashlib
from urllib.parse import parse_qs, urlsplit

from ddi import DDI, action_of, links, publish_artifact, register
from fleet import Signer
from ramp import check, eq, status, wait_for

MODEL = "ocr"
V1 = b"ocr model v1 " * 100
V2 = b"ocr model v2 " * 300


def setup(ctx, s, devices=("dev-1",), labels=None):
    """ocr v1 stable and v2 published with stored artifacts; devices registered."""
    signer = Signer(ctx, s)
    publish_artifact(s, signer, MODEL, "v1", V1, "ocr-v1.swu", stable=True)
    publish_artifact(s, signer, MODEL, "v2", V2, "ocr-v2.swu")
    return signer, {d: register(s, d, labels=labels) for d in devices}


def agent_states(ctx, s, dev):
    return ctx.psql(s, f"SELECT version, state, coalesce(detail, '') FROM agent_status"
                       f" WHERE device_id = '{dev}' ORDER BY at")


def canary_policy(metrics=None):
    return {"stages": [{"name": "canary", "size": 0.01, "validation_window": "1h",
                        "metrics": metrics or []},
                       {"name": "full", "size": 1.0, "validation_window": "1h"}]}


def test_poll_links_the_desired_version_until_the_device_reports_it(ctx):
    s = ctx.server(env={"RAMP_POLL_INTERVAL": "90"})
    _, tokens = setup(ctx, s)
    dev = DDI(s, "dev-1", tokens["dev-1"])
    r = dev.poll()
    eq(r.json["config"], {"polling": {"sleep": "00:01:30"}})
    ls = links(r)
    eq(sorted(ls), ["configData", "deploymentBase"])
    href = ls["deploymentBase"]["href"]
    u = urlsplit(href)
    eq(f"{u.scheme}://{u.netloc}", s.url)
    check(u.path.startswith("/DEFAULT/controller/v1/dev-1/deploymentBase/"), href)
    c = parse_qs(u.query)["c"][0]
    check(c.isdigit() and int(c) < 2 ** 31, href)
    aid = action_of(href)
    check(0 < aid < 2 ** 31, "action ids fit the int suricatta reads them into")
    eq(ls["configData"]["href"], f"{s.url}/DEFAULT/controller/v1/dev-1/configData")
    # the same answer: the same link and an ETag with 304
    r2 = dev.poll()
    eq(links(r2)["deploymentBase"]["href"], href)
    etag = r2.header("ETag")
    status(dev.request("GET", headers={"If-None-Match": etag}), 304)
    # links follow the host the device used
    r3 = dev.poll(headers={"Host": "ramp.example:8443", "X-Forwarded-Proto": "https"})
    check(links(r3)["deploymentBase"]["href"].startswith(
        "https://ramp.example:8443/DEFAULT/controller/v1/dev-1/deploymentBase/"), links(r3))
    # the device reports v1 installed: nothing left to deploy
    status(dev.request("PUT", "/installedBase", {"name": MODEL, "version": "v1"}), 200)
    check("deploymentBase" not in links(dev.poll()))
    d = status(s.admin.get("/v1/devices/dev-1"), 200).json
    eq((d["models"][MODEL]["version"], d["models"][MODEL]["state"]), ("v1", "installed"))
    dev.close()


def test_deployment_base_describes_the_artifact_in_ramps_store(ctx):
    s = ctx.server()
    signer, tokens = setup(ctx, s)
    dev = DDI(s, "dev-1", tokens["dev-1"])
    href = links(dev.poll())["deploymentBase"]["href"]
    r = status(dev.follow(href), 200)
    body = r.json
    eq(body["id"], str(action_of(href)))
    dep = body["deployment"]
    eq((dep["download"], dep["update"]), ("forced", "forced"))
    eq(len(dep["chunks"]), 1)
    ch = dep["chunks"][0]
    eq((ch["part"], ch["name"], ch["version"]), ("os", MODEL, "v1"))
    eq(len(ch["artifacts"]), 1)
    a = ch["artifacts"][0]
    eq(a["filename"], "ocr-v1.swu")
    eq(a["size"], len(V1))
    eq(a["hashes"], {"sha256": hashlib.sha256(V1).hexdigest(), "sha1": hashlib.sha1(V1).hexdigest(),
                     "md5": hashlib.md5(V1).hexdigest()})
    dl = a["_links"]["download-http"]["href"]
    eq(dl, f"{s.url}/v1/artifacts/sha256:{hashlib.sha256(V1).hexdigest()}")
    meta = {m["key"]: m["value"] for m in ch["metadata"]}
    eq(meta["ramp.digest"], "sha256:" + hashlib.sha256(V1).hexdigest())
    eq(meta["ramp.key_id"], signer.key_id)
    check("ramp.rollout" not in meta, "the stable version comes from no rollout")
    # the artifact downloads with the TargetToken, whole or by range
    g = status(dev.follow(dl), 200)
    eq(g.body, V1)
    p = dev.request("GET", path=urlsplit(dl).path, headers={"Range": "bytes=100-199"})
    eq((p.status, p.body), (206, V1[100:200]))
    # an unknown or malformed action is 404
    status(dev.request("GET", "/deploymentBase/999999"), 404)
    status(dev.request("GET", "/deploymentBase/abc"), 404)
    dev.close()


def test_feedback_becomes_agent_status_and_closing_ends_the_deployment(ctx):
    s = ctx.server()
    _, tokens = setup(ctx, s)
    dev = DDI(s, "dev-1", tokens["dev-1"])
    aid = action_of(links(dev.poll())["deploymentBase"]["href"])
    status(dev.request("GET", f"/deploymentBase/{aid}"), 200)
    status(dev.feedback(aid, "proceeding", "none", ["Installing Update Chunk Artifacts."]), 200)
    status(dev.feedback(aid, "downloaded", "none"), 200)
    # still open: the poll keeps the deployment
    eq(action_of(links(dev.poll())["deploymentBase"]["href"]), aid)
    status(dev.feedback(aid, "closed", "success", ["Update Installed."]), 200)
    eq(agent_states(ctx, s, "dev-1"), [["v1", "downloading", "Installing Update Chunk Artifacts."],
                                      ["v1", "verifying", ""],
                                      ["v1", "installed", "Update Installed."]])
    d = status(s.admin.get("/v1/devices/dev-1"), 200).json
    eq(d["models"][MODEL]["state"], "installed")
    check("deploymentBase" not in links(dev.poll()))
    # bad feedback: 4xx naming the field, nothing stored
    n = len(agent_states(ctx, s, "dev-1"))
    r = status(dev.request("POST", f"/deploymentBase/{aid}/feedback", {"status": {}}), 422)
    eq(r.json["field"], "status.execution")
    r = status(dev.request("POST", f"/deploymentBase/{aid}/feedback",
                           {"status": {"execution": "closed", "result": {"finished": "perhaps"}}}),
               422)
    eq(r.json["field"], "status.result.finished")
    status(dev.request("POST", f"/deploymentBase/{aid}/feedback", raw=b"{nope",
                       headers={"Content-Type": "application/json"}), 400)
    status(dev.request("POST", f"/deploymentBase/{aid}/feedback", raw=b"x",
                       headers={"Content-Type": "text/plain"}), 415)
    status(dev.feedback(424242, "closed", "success"), 404)
    eq(len(agent_states(ctx, s, "dev-1")), n)
    dev.close()


def test_a_failed_install_counts_and_is_not_offered_again(ctx):
    s = ctx.server()
    _, tokens = setup(ctx, s, devices=[f"d{i}" for i in range(3)])
    rid = status(s.admin.post("/v1/rollouts", {
        "model": MODEL, "version": "v2",
        "policy": canary_policy([{"name": "install_failure_rate", "threshold": "< 50%"}])}),
        201).json["id"]
    devs = [DDI(s, d, tok) for d, tok in tokens.items()]
    for dev in devs:
        status(dev.request("PUT", "/installedBase", {"name": MODEL, "version": "v1"}), 200)

    def canary_links():
        out = []
        for dev in devs:
            ls = links(dev.poll())
            if "deploymentBase" in ls:
                out.append((dev, action_of(ls["deploymentBase"]["href"])))
        return out
    # a 1% canary of three devices is one device
    canary = wait_for(lambda: canary_links() if len(canary_links()) == 1 else None,
                      timeout=10, msg="one canary device")
    dev, aid = canary[0]
    dep = status(dev.request("GET", f"/deploymentBase/{aid}"), 200).json
    meta = {m["key"]: m["value"] for m in dep["deployment"]["chunks"][0]["metadata"]}
    eq((meta["ramp.rollout"], meta["ramp.stage"]), (str(rid), "canary"))
    status(dev.feedback(aid, "closed", "failure", ["ERROR : Compatible SW not found"]), 200)
    eq(agent_states(ctx, s, dev.controller)[-1], ["v2", "failed", "ERROR : Compatible SW not found"])
    # the reason is kept on the device record, as for ramp-agent's reports
    m = status(s.admin.get(f"/v1/devices/{dev.controller}"), 200).json["models"][MODEL]
    eq((m["version"], m["state"], m["detail"], m["failures"], m["stuck"]),
       ("v2", "failed", "ERROR : Compatible SW not found", 1, False))
    check(m["detail_at"], m)
    ls = links(dev.poll())
    check("deploymentBase" not in ls and "cancelAction" not in ls, ls)
    wait_for(lambda: status(s.admin.get(f"/v1/rollouts/{rid}"), 200).json["state"] == "rolled_back",
             timeout=30, interval=0.3, msg="install_failure_rate to roll the canary back")
    for d in devs:
        d.close()


def test_rollback_cancels_an_unfinished_install_and_a_late_report_is_not_counted(ctx):
    s = ctx.server()
    _, tokens = setup(ctx, s)
    dev = DDI(s, "dev-1", tokens["dev-1"])
    status(dev.request("PUT", "/installedBase", {"name": MODEL, "version": "v1"}), 200)
    rid = status(s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2",
                                               "policy": canary_policy()}), 201).json["id"]
    href = wait_for(lambda: links(dev.poll()).get("deploymentBase"), msg="the canary deployment")
    aid = action_of(href["href"])
    status(dev.follow(href["href"]), 200)
    status(dev.feedback(aid, "proceeding", "none", ["downloading"]), 200)
    status(s.admin.post(f"/v1/rollouts/{rid}/rollback"), 200)
    ls = wait_for(lambda: links(dev.poll()).get("cancelAction") and links(dev.poll()),
                  timeout=10, msg="a cancelAction after the rollback")
    check("deploymentBase" not in ls, ls)
    eq(action_of(ls["cancelAction"]["href"]), aid)
    c = status(dev.follow(ls["cancelAction"]["href"]), 200).json
    eq(c, {"id": str(aid), "cancelAction": {"stopId": str(aid)}})
    # the withdrawn version is no longer served as a deployment
    status(dev.request("GET", f"/deploymentBase/{aid}"), 404)
    status(dev.feedback(aid, "closed", "success", ["cancellation acknowledged."],
                        kind="cancelAction"), 200)
    ls = links(dev.poll())
    check("cancelAction" not in ls and "deploymentBase" not in ls, ls)
    # a late report that v2 got installed anyway: accepted, not counted for
    # v2, and the device is told to go back to v1
    status(dev.feedback(aid, "closed", "success", ["Update Installed."]), 200)
    eq([r[:2] for r in agent_states(ctx, s, "dev-1")],
       [["v1", "installed"], ["v2", "downloading"]])
    back = links(dev.poll()).get("deploymentBase")
    check(back, "the device that ran v2 is offered v1 again")
    dep = status(dev.follow(back["href"]), 200).json
    eq(dep["deployment"]["chunks"][0]["version"], "v1")
    # cancelAction of an action that is still desired is 404
    status(dev.request("GET", f"/cancelAction/{action_of(back['href'])}"), 404)
    dev.close()


def test_c_changes_with_the_answer_while_the_action_keeps_its_number(ctx):
    s = ctx.server()
    _, tokens = setup(ctx, s)
    dev = DDI(s, "dev-1", tokens["dev-1"])
    status(dev.request("PUT", "/installedBase", {"name": MODEL, "version": "v1"}), 200)
    rid = status(s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2",
                                               "policy": canary_policy()}), 201).json["id"]
    first = wait_for(lambda: links(dev.poll()).get("deploymentBase"), msg="deployment")["href"]
    status(dev.follow(first), 200)  # the device starts installing
    status(s.admin.post(f"/v1/rollouts/{rid}/promote?full=true"), 200)

    def moved():
        h = links(dev.poll()).get("deploymentBase", {}).get("href")
        return h if h and h != first else None
    second = wait_for(moved, timeout=20, msg="a new ?c= after the stage changed")
    eq(action_of(second), action_of(first))
    check(parse_qs(urlsplit(second).query)["c"] != parse_qs(urlsplit(first).query)["c"])
    meta = {m["key"]: m["value"] for m in
            status(dev.follow(second), 200).json["deployment"]["chunks"][0]["metadata"]}
    eq((meta["ramp.rollout"], meta["ramp.stage"]), (str(rid), "full"))
    dev.close()


def test_one_deployment_per_poll_first_model_first(ctx):
    s = ctx.server()
    signer, tokens = setup(ctx, s)
    publish_artifact(s, signer, "asr", "a1", b"asr a1", "asr-a1.swu", stable=True)
    dev = DDI(s, "dev-1", tokens["dev-1"])

    def first():
        d = status(dev.follow(links(dev.poll())["deploymentBase"]["href"]), 200).json
        return d if d["deployment"]["chunks"][0]["name"] == "asr" else None
    # asr sorts before ocr: it comes first once the snapshot knows it
    d1 = wait_for(first, timeout=10, msg="the asr deployment first")
    status(dev.feedback(int(d1["id"]), "closed", "success"), 200)
    d2 = status(dev.follow(links(dev.poll())["deploymentBase"]["href"]), 200).json
    eq(d2["deployment"]["chunks"][0]["name"], MODEL)
    check(d2["id"] != d1["id"])
    status(dev.feedback(int(d2["id"]), "closed", "success"), 200)
    check("deploymentBase" not in links(dev.poll()))
    dev.close()


def test_target_and_gateway_tokens_and_enrolment(ctx):
    s = ctx.server(env={"RAMP_HAWKBIT_PLATFORM": "linux"})
    _, tokens = setup(ctx, s, devices=("dev-1", "dev-2"))
    gw = status(s.admin.post("/v1/tokens", {"name": "gw", "role": "ingest"}), 201).json["token"]
    ci = status(s.admin.post("/v1/tokens", {"name": "ci", "role": "ci"}), 201).json["token"]
    t1 = tokens["dev-1"]
    status(DDI(s, "dev-1", t1).request("GET"), 200)
    status(DDI(s, "dev-1", t1, scheme="Bearer").request("GET"), 200)
    # a TargetToken is a device token for its own controller only
    status(DDI(s, "dev-1", gw).request("GET"), 401)
    status(DDI(s, "dev-2", t1).request("GET"), 403)
    status(DDI(s, "nobody", t1).request("GET"), 401)
    status(DDI(s, "dev-1", "rmp_not_a_token").request("GET"), 401)
    r = DDI(s, "dev-1", t1).request("GET", headers={"Authorization": ""})
    status(r, 401)
    # a GatewayToken is an ingest or admin token, for any controller
    status(DDI(s, "dev-1", t1, scheme="GatewayToken").request("GET"), 401)
    status(DDI(s, "dev-1", ci, scheme="GatewayToken").request("GET"), 401)
    status(DDI(s, "dev-2", gw, scheme="GatewayToken").request("GET"), 200)
    status(DDI(s, "dev-2", s.admin_token, scheme="GatewayToken").request("GET"), 200)
    # a ci token as Bearer has no DDI role
    status(DDI(s, "dev-1", ci, scheme="Bearer").request("GET"), 403)
    # the gateway's first poll of an unknown controller enrolls it
    status(s.admin.get("/v1/devices/new-box"), 404)
    g = DDI(s, "new-box", gw, scheme="GatewayToken")
    r = status(g.request("GET"), 200)
    check("deploymentBase" in links(r), "a new device is offered the stable version")
    d = status(s.admin.get("/v1/devices/new-box"), 200).json
    eq(d["platform"], "linux")
    # other endpoints do not enroll; bad ids and tenants are 404
    status(DDI(s, "other-box", gw, scheme="GatewayToken").request(
        "PUT", "/configData", {"data": {"a": "b"}}), 404)
    status(s.admin.get("/v1/devices/other-box"), 404)
    status(DDI(s, "bad*id", gw, scheme="GatewayToken").request("GET"), 404)
    status(s.admin.get("/v1/devices/bad*id"), 404)
    status(DDI(s, "dev-1", t1, tenant="acme").request("GET"), 404)
    status(DDI(s, "dev-1", t1, tenant="default").request("GET"), 200)
    status(DDI(s, "dev-1", t1).request("DELETE"), 405)


def test_tenant_is_configurable(ctx):
    s = ctx.server(env={"RAMP_HAWKBIT_TENANT": "acme"})
    _, tokens = setup(ctx, s)
    status(DDI(s, "dev-1", tokens["dev-1"]).request("GET"), 404)
    r = status(DDI(s, "dev-1", tokens["dev-1"], tenant="acme").request("GET"), 200)
    check(links(r)["deploymentBase"]["href"].startswith(f"{s.url}/acme/controller/v1/dev-1/"))


def test_config_data_merges_valid_labels_and_ignores_the_rest(ctx):
    s = ctx.server()
    _, tokens = setup(ctx, s, labels={"site": "wh-1", "owner": "ops"})
    dev = DDI(s, "dev-1", tokens["dev-1"])
    check("configData" in links(dev.poll()))
    status(dev.request("PUT", "/configData", {
        "mode": "merge", "id": "", "time": "20260101T000000",
        "status": {"execution": "closed", "result": {"finished": "success"}},
        "data": {"site": "wh-3", "hwRevision": "2", "serial number": "x y", "mac": "12:34:56:78:9A:BC",
                 "platform": "rpi-arm64", "bad": "a b c"}}), 200)
    d = status(s.admin.get("/v1/devices/dev-1"), 200).json
    eq(d["labels"], {"site": "wh-3", "owner": "ops", "hwRevision": "2", "mac": "12:34:56:78:9A:BC"})
    eq(d["platform"], "linux", "the platform is the operator's, not configData's")
    check("configData" not in links(dev.poll()), "the link goes once configData arrived")
    status(dev.request("PUT", "/configData", {"mode": "remove", "data": {"hwRevision": ""}}), 200)
    d = status(s.admin.get("/v1/devices/dev-1"), 200).json
    check("hwRevision" not in d["labels"], d["labels"])
    eq(status(dev.request("PUT", "/configData", {"mode": "melt", "data": {}}), 422).json["field"],
       "mode")
    eq(status(dev.request("PUT", "/configData", {"mode": "merge"}), 422).json["field"], "data")
    status(dev.request("PUT", "/configData", raw=b"[", headers={"Content-Type": "application/json"}),
           400)
    dev.close()


def test_installed_base_validates_its_body(ctx):
    s = ctx.server()
    _, tokens = setup(ctx, s)
    dev = DDI(s, "dev-1", tokens["dev-1"])
    eq(status(dev.request("PUT", "/installedBase", {"version": "v1"}), 422).json["field"], "name")
    eq(status(dev.request("PUT", "/installedBase", {"name": MODEL}), 422).json["field"], "version")
    eq(status(dev.request("PUT", "/installedBase", {"name": MODEL, "version": ""}), 422)
       .json["field"], "version")
    eq(agent_states(ctx, s, "dev-1"), [])
    status(dev.request("PUT", "/installedBase", {"name": MODEL, "version": "v1"}), 200)
    eq(agent_states(ctx, s, "dev-1"), [["v1", "installed", "reported through DDI installedBase"]])
    dev.close()


def test_action_numbers_are_shared_and_stable(ctx):
    s = ctx.server()
    _, tokens = setup(ctx, s, devices=("a", "b"))
    ids = set()
    for d, tok in tokens.items():
        dev = DDI(s, d, tok)
        for _ in range(3):
            ids.add(action_of(links(dev.poll())["deploymentBase"]["href"]))
        dev.close()
    eq(len(ids), 1, "every device on the stable version shares one action")
    eq(ctx.psql(s, "SELECT count(*) FROM hawkbit_actions"), [["1"]])


def test_rollback_redeploys_the_stable_version_a_device_installed_before(ctx):
    s = ctx.server()
    _, tokens = setup(ctx, s)
    dev = DDI(s, "dev-1", tokens["dev-1"])
    # first install of the stable version, through DDI
    a1 = action_of(links(dev.poll())["deploymentBase"]["href"])
    status(dev.request("GET", f"/deploymentBase/{a1}"), 200)
    status(dev.feedback(a1, "closed", "success"), 200)
    rid = status(s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2",
                                               "policy": canary_policy()}), 201).json["id"]
    a2 = action_of(wait_for(lambda: links(dev.poll()).get("deploymentBase"),
                            msg="the canary deployment")["href"])
    check(a2 != a1)
    status(dev.request("GET", f"/deploymentBase/{a2}"), 200)
    status(dev.feedback(a2, "closed", "success"), 200)
    check("deploymentBase" not in links(dev.poll()))
    status(s.admin.post(f"/v1/rollouts/{rid}/rollback"), 200)
    # the stable version's action was closed once, but the device has moved
    # on since: it is offered again
    back = wait_for(lambda: links(dev.poll()).get("deploymentBase"), timeout=10,
                    msg="v1 offered again after the rollback")
    eq(action_of(back["href"]), a1)
    dep = status(dev.follow(back["href"]), 200).json
    eq(dep["deployment"]["chunks"][0]["version"], "v1")
    status(dev.feedback(a1, "closed", "success"), 200)
    check("deploymentBase" not in links(dev.poll()))
    eq([r[:2] for r in agent_states(ctx, s, "dev-1")],
       [["v1", "installed"], ["v2", "installed"], ["v1", "installed"]])
    dev.close()
