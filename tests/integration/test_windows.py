"""Maintenance windows end to end (docs/windows.md). Windows are computed
around the test's own clock in UTC with second precision ("HH:MM:SS-HH:MM:SS"),
so a window opens seconds from now and nothing sleeps for real hours:
canary devices outside their window are held on their previous version and
told next_window_at, then install when it opens; rollbacks reach devices at
once by default and wait for the next window with rollback_respects_windows;
the hawkBit DDI path says maintenanceWindow unavailable, then available;
bad window specs are refused with nothing stored."""
import os
import subprocess
import time
from datetime import datetime, timezone

from ddi import DDI, action_of, links, publish_artifact, register
from fleet import Fleet, Signer, enroll, publish, rollout, stage_members
from ramp import check, eq, status, wait_for


def hms(t):
    return datetime.fromtimestamp(int(t), timezone.utc).strftime("%H:%M:%S")


def rfc3339(t):
    return datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(start, end):
    """A UTC window from unix second start to end (crossing midnight is fine)."""
    return f"{hms(start)}-{hms(end)}"


def rampctl_status(ctx, s, rid):
    e = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    e.update({"HOME": ctx.tmp, "RAMP_SERVER": s.url, "RAMP_TOKEN": s.admin_token})
    p = subprocess.run([os.path.join(ctx.build, "rampctl"), "rollout", "status", str(rid)], env=e,
                       capture_output=True, text=True, timeout=120)
    eq(p.returncode, 0, p.stderr)
    return p.stdout


def verified(s):
    r = status(s.admin.get("/v1/snapshot/verify"), 200).json
    check(r["ok"], f"snapshot differs from a fresh load: {r}")


def policy(windows, size=0.25, respects=None, validation="2s"):
    p = {"stages": [{"name": "canary", "size": size, "validation_window": validation,
                     "approval": True, "windows": windows},
                    {"name": "full", "size": 1.0, "validation_window": "1h"}]}
    if size == 1.0:
        p["stages"] = p["stages"][:1]
    if respects is not None:
        p["rollback_respects_windows"] = respects
    return p


def test_canary_outside_its_window_waits_then_installs_when_it_opens(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    tokens = enroll(s, 40)
    ids = list(tokens)
    opens = int(time.time()) + 12
    pol = policy([window(opens, opens + 1800)])
    r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201)
    rid = r.json["id"]
    members = stage_members(rid, ids, 0.25)
    eq(len(members), 10)
    fleet = Fleet(s, tokens, "ocr")
    # before the window: members keep v1 and are told when it opens
    for d in ids:
        m = fleet.desired(d)
        eq(m["version"], "v1", d)
        if d in members:
            eq(m["next_window_at"], rfc3339(opens), d)
            eq(m["pending"]["version"], "v2")
        else:
            check("next_window_at" not in m and "pending" not in m, m)
    ro = rollout(s, rid)
    check(time.time() < opens - 1, "the checks above ran before the window opened")
    eq(ro["devices"]["assigned"], 10)
    eq(ro["windows"]["waiting"], 10)
    eq(ro["windows"]["next_window_at"], rfc3339(opens))
    eq(ro["windows"]["stages"], [pol["stages"][0]["windows"], []])
    # the stage's validation window starts when its devices may update
    ends = datetime.fromisoformat(ro["stage"]["window_ends_at"].replace("Z", "+00:00")).timestamp()
    check(ends >= opens + 2, f"window_ends_at {ro['stage']['window_ends_at']} before {opens}+2s")
    verified(s)
    out = rampctl_status(ctx, s, rid)
    check(f'stage 1: "{pol["stages"][0]["windows"][0]}"' in out, out)
    check("waiting for a window: 10 device(s)" in out, out)
    check(f"next window opens:    {rfc3339(opens)}" in out, out)
    counts = fleet.poll_all()
    eq(counts, {"v1": 40})
    status(s.admin.post(f"/v1/rollouts/{rid}/approve"), 409)  # the canary has not passed
    # the window opens: the members get v2 within the evaluation interval
    wait_for(lambda: fleet.poll_all() == {"v1": 30, "v2": 10}, timeout=60,
             msg="canary installs when its window opens")
    check(time.time() >= opens, "nothing installed before the window opened")
    eq({d for d, v in fleet.running.items() if v == "v2"}, members)
    m = fleet.desired(sorted(members)[0])
    check("next_window_at" not in m and "pending" not in m, m)
    eq(m["rollout"]["id"], rid)
    ro = rollout(s, rid)
    eq(ro["windows"]["waiting"], 0)
    eq(ro["windows"]["open_now"], True)
    check("waiting for a window: 0 device(s)" in rampctl_status(ctx, s, rid))
    eq(ro["devices"]["installed"], 10)
    eq(ro["devices"]["failed"], 0)
    verified(s)
    fleet.close()


def test_rollback_reaches_devices_at_once_unless_it_respects_windows(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    tokens = enroll(s, 12)
    fleets = {}
    now = int(time.time())
    # open now for 25 s, then again 35 s later: long enough to install, then
    # a rollback lands between the two
    wins = [window(now - 60, now + 25), window(now + 60, now + 1800)]
    for model, respects in (("a", None), ("b", True), ("c", True)):
        publish(s, signer, model, "v1", stable=True)
        publish(s, signer, model, "v2")
    rids = {}
    for model, respects in (("a", None), ("b", True), ("c", True)):
        r = status(s.admin.post("/v1/rollouts", {"model": model, "version": "v2",
                                                 "policy": policy(wins, size=1.0, respects=respects)}),
                   201)
        rids[model] = r.json["id"]
        fleets[model] = Fleet(s, tokens, model)
        wait_for(lambda f=fleets[model]: f.poll_all() == {"v2": 12}, timeout=30,
                 msg=f"{model}: installed inside the window")
    # c: rolled back inside the window even though it respects windows: at once
    status(s.admin.post(f"/v1/rollouts/{rids['c']}/rollback"), 200)
    check(time.time() < now + 25, "c was rolled back inside its window")
    eq(fleets["c"].poll_all(), {"v1": 12})
    eq(rollout(s, rids["c"])["windows"]["next_window_at"], None)
    wait_for(lambda: time.time() > now + 26, timeout=30, msg="the window closes")
    verified(s)
    # a: outside the window, default: the rollback reaches devices at once
    status(s.admin.post(f"/v1/rollouts/{rids['a']}/rollback"), 200)
    eq(fleets["a"].poll_all(), {"v1": 12})
    # b: outside the window, respecting windows: devices keep v2 until it opens
    status(s.admin.post(f"/v1/rollouts/{rids['b']}/rollback"), 200)
    check(time.time() < now + 59, "the rollback came before the next window")
    eq(fleets["b"].poll_all(), {"v2": 12})
    m = fleets["b"].desired(list(tokens)[0])
    eq(m["next_window_at"], rfc3339(now + 60))
    ro = rollout(s, rids["b"])
    eq(ro["state"], "rolled_back")
    eq(ro["windows"]["next_window_at"], rfc3339(now + 60))
    eq(ro["windows"]["rollback_respects_windows"], True)
    verified(s)
    wait_for(lambda: fleets["b"].poll_all() == {"v1": 12}, timeout=90,
             msg="b goes back when the next window opens")
    check(time.time() >= now + 60, "b went back before its window")
    eq(rollout(s, rids["b"])["windows"]["next_window_at"], None)
    verified(s)
    for f in fleets.values():
        f.close()


def test_ddi_says_unavailable_then_available(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    publish_artifact(s, signer, "ocr", "v1", b"one " * 100, "ocr-v1.swu", stable=True)
    publish_artifact(s, signer, "ocr", "v2", b"two " * 300, "ocr-v2.swu")
    tok = register(s, "dev-1")
    dev = DDI(s, "dev-1", tok)
    status(dev.request("PUT", "/installedBase", {"name": "ocr", "version": "v1"}), 200)
    check("deploymentBase" not in links(dev.poll()))
    opens = int(time.time()) + 12
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2",
                                               "policy": policy([window(opens, opens + 1800)],
                                                                size=1.0)}), 201).json["id"]
    href = links(dev.poll())["deploymentBase"]["href"]
    dep = status(dev.follow(href), 200).json["deployment"]
    check(time.time() < opens, "asked before the window opened")
    eq(dep["maintenanceWindow"], "unavailable")
    eq((dep["download"], dep["update"]), ("forced", "skip"))
    eq(dep["chunks"][0]["version"], "v2")
    # SWUpdate closes a skipped update as success: nothing is installed
    aid = action_of(href)
    status(dev.feedback(aid, "closed", "success", ["Skipped Update."]), 200)
    d = status(s.admin.get("/v1/devices/dev-1"), 200).json
    eq(d["models"]["ocr"]["version"], "v1")
    eq(links(dev.poll())["deploymentBase"]["href"], href)  # the action stays open
    eq(rollout(s, rid)["devices"]["installed"], 0)

    def available():
        dep2 = status(dev.follow(links(dev.poll())["deploymentBase"]["href"]), 200).json
        return dep2["deployment"].get("maintenanceWindow") == "available" and dep2
    got = wait_for(available, timeout=60, msg="the window opens for DDI")
    eq(got["deployment"]["update"], "forced")
    check(time.time() >= opens)
    aid = int(got["id"])
    # a "Skipped Update." close that was on its way when the window opened
    # installed nothing either
    status(dev.feedback(aid, "closed", "success", ["Skipped Update."]), 200)
    eq(status(s.admin.get("/v1/devices/dev-1"), 200).json["models"]["ocr"]["version"], "v1")
    eq(links(dev.poll())["deploymentBase"]["href"].split("?")[0].rsplit("/", 1)[1], str(aid))
    status(dev.feedback(aid, "closed", "success", ["installed"]), 200)
    wait_for(lambda: rollout(s, rid)["devices"]["installed"] == 1, timeout=20, msg="installed")
    verified(s)
    dev.close()


def test_bad_windows_are_refused_and_nothing_is_stored(ctx):
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    bad = [
        (["Mon-Fri 02:00-04:00 Mars/Olympus"], "stages[0].windows[0]", "unknown time zone"),
        (["Mon-Fri 02:00-04:00 ../../etc/passwd"], "stages[0].windows[0]", "bad time zone"),
        (["Someday 02:00-04:00"], "stages[0].windows[0]", "unknown day"),
        (["02:00-02:00"], "stages[0].windows[0]", "empty"),
        ("Sat 00:00-06:00", "stages[0].windows", "must be a list"),
        ([7], "stages[0].windows", "must be a string"),
    ]
    for wins, field, why in bad:
        p = policy(wins)
        r = status(s.admin.put("/v1/policies/win", p), 422, str(wins))
        eq(r.json["field"], field)
        check(why in r.json["detail"], r.json)
        status(s.admin.get("/v1/policies/win"), 404)
        r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": p}),
                   422)
        eq(r.json["field"], "policy." + field)
    eq(status(s.admin.get("/v1/rollouts?state=all"), 200).json["items"], [])
    r = status(s.admin.put("/v1/policies/win", {"rollback_respects_windows": "yes",
                                                "stages": [{"name": "a", "size": 1.0,
                                                            "validation_window": "1m"}]}), 422)
    eq(r.json["field"], "rollback_respects_windows")
    # a good one round-trips
    good = policy(["Mon-Fri 02:00-04:00 Europe/Berlin", "Sat 22:00-02:00"], respects=True)
    status(s.admin.put("/v1/policies/win", good), 201)
    got = status(s.admin.get("/v1/policies/win"), 200).json["policy"]
    eq(got["stages"][0]["windows"], good["stages"][0]["windows"])
    eq(got["rollback_respects_windows"], True)
    check("windows" not in got["stages"][1], got)


def _swupdate_helpers():
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_hawkbit_swupdate.py")
    spec = importlib.util.spec_from_file_location("windows_swupdate_helpers", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_swupdate_skips_while_the_window_is_unavailable_then_installs(ctx):
    """Debian's SWUpdate (suricatta) against rampd: outside the window the
    deployment says update "skip" / maintenanceWindow "unavailable" and
    SWUpdate installs nothing; when the window opens it installs."""
    sw = _swupdate_helpers()
    sw.ensure_swupdate()
    s = ctx.server(env={"RAMP_ACCESS_LOG": "1", "RAMP_POLL_INTERVAL": "1"})
    token, cert, target = sw.setup(ctx, s)
    opens = int(time.time()) + 30
    pol = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h",
                       "windows": [window(opens, opens + 1800)]}]}
    rid = status(s.admin.post("/v1/rollouts", {"model": sw.MODEL, "version": "2.0.0",
                                               "policy": pol}), 201).json["id"]
    sur = sw.Suricatta(ctx, s, token, cert, "window")
    try:
        wait_for(lambda: sur.running() and "classified as 'skip'" in sur.text(),
                 timeout=max(5, opens - time.time() - 3), interval=0.5,
                 msg="suricatta to see the update classified as skip")
        check(time.time() < opens, "seen before the window opened")
        check(not os.path.exists(target), "nothing installed outside the window")
        check(["2.0.0", "downloading"] not in sw.statuses(ctx, s), sw.statuses(ctx, s))
        eq(rollout(s, rid)["devices"]["installed"], 0)
        wait_for(lambda: sur.running() and os.path.exists(target)
                 and open(target, "rb").read() == b"model v2 weights\n",
                 timeout=120, interval=0.5, msg="suricatta installs 2.0.0 once the window opens")
        check(time.time() >= opens, "installed only after the window opened")
        check("classified as 'forced'" in sur.text(), sur.text()[-2000:])
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- swupdate log (tail) ---\n{sur.text()[-4000:]}") from None
    finally:
        sur.stop()


def test_a_later_stage_holds_only_its_new_devices(ctx):
    """Promoted into a stage whose window is closed: the earlier stage's
    devices keep the new version, only the stage's new devices wait."""
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    tokens = enroll(s, 20)
    ids = list(tokens)
    opens = int(time.time()) + 3600
    pol = {"stages": [{"name": "canary", "size": 0.25, "validation_window": "1h"},
                      {"name": "full", "size": 1.0, "validation_window": "1h",
                       "windows": [window(opens, opens + 1800)]}]}
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}),
                 201).json["id"]
    canary = stage_members(rid, ids, 0.25)
    fleet = Fleet(s, tokens, "ocr")
    eq(fleet.poll_all(), {"v1": 15, "v2": 5})
    status(s.admin.post(f"/v1/rollouts/{rid}/promote"), 200)
    verified(s)
    for d in ids:
        m = fleet.desired(d)
        if d in canary:
            eq(m["version"], "v2", d)
            check("next_window_at" not in m, m)
        else:
            eq((m["version"], m["next_window_at"]), ("v1", rfc3339(opens)), d)
    ro = rollout(s, rid)
    eq((ro["stage"]["name"], ro["windows"]["waiting"], ro["devices"]["assigned"]), ("full", 15, 20))
    fleet.close()


def test_missing_tz_database_is_said_at_start_and_on_policy_put(ctx):
    """Without tzdata (an empty TZDIR here) rampd says so at start, and a
    window in a zone is refused with 422 naming the zone and the missing
    database; nothing is stored. A UTC window needs no tz database."""
    empty = os.path.join(ctx.tmp, "no-zoneinfo")
    os.makedirs(empty, exist_ok=True)
    s = ctx.server(env={"TZDIR": empty})
    wait_for(lambda: "the system tz database is missing" in s.log(), timeout=30,
             msg="start-up warning about the tz database")
    check(empty in s.log(), "the warning names the directory")
    p = policy(["Mon-Fri 02:00-04:00 Europe/Berlin"])
    r = status(s.admin.put("/v1/policies/kiosk", p), 422)
    eq(r.json["field"], "stages[0].windows[0]")
    check('"Europe/Berlin"' in r.json["detail"] and "tz database" in r.json["detail"]
          and "missing" in r.json["detail"] and "tzdata" in r.json["detail"], r.json)
    status(s.admin.get("/v1/policies/kiosk"), 404)
    top = {"windows": ["Sat 00:00-06:00 America/New_York"],
           "stages": [{"name": "all", "size": 1.0, "validation_window": "1m"}]}
    r = status(s.admin.put("/v1/policies/kiosk", top), 422)
    check('"America/New_York"' in r.json["detail"] and "missing" in r.json["detail"], r.json)
    status(s.admin.get("/v1/policies/kiosk"), 404)
    status(s.admin.put("/v1/policies/kiosk", policy(["Sat 00:00-06:00"])), 201)
    # with the database there, the same zone is accepted and the start is quiet
    s2 = ctx.server()
    status(s2.admin.put("/v1/policies/kiosk", p), 201)
    check("the system tz database is missing" not in s2.log(), "no warning with tzdata")


def test_held_device_of_a_model_without_stable_version_is_told_when_its_window_opens(ctx):
    """A first version (no stable one): a held device has nothing to keep,
    so its entry has version null with next_window_at and pending; the
    others get no entry; when the window opens the members get v1."""
    s = ctx.server()
    signer = Signer(ctx, s)
    publish(s, signer, "asr", "v1")  # no stable version
    tokens = enroll(s, 20)
    ids = list(tokens)
    opens = int(time.time()) + 12
    pol = policy([window(opens, opens + 1800)])
    rid = status(s.admin.post("/v1/rollouts", {"model": "asr", "version": "v1", "policy": pol}),
                 201).json["id"]
    members = stage_members(rid, ids, 0.25)
    eq(len(members), 5)
    fleet = Fleet(s, tokens, "asr")
    for d in ids:
        m = fleet.desired(d)
        if d in members:
            check(m is not None, f"{d}: a held member has an entry")
            eq(m["version"], None, d)
            eq(m["rollout"], None)
            eq(m["next_window_at"], rfc3339(opens), d)
            eq(m["pending"]["version"], "v1")
            check("digest" not in m and "url" not in m, m)
        else:
            eq(m, None, d)
    check(time.time() < opens - 1, "the checks above ran before the window opened")
    verified(s)
    eq(fleet.poll_all(), {None: 20})
    wait_for(lambda: fleet.poll_all() == {None: 15, "v1": 5}, timeout=60,
             msg="members install v1 when the window opens")
    check(time.time() >= opens, "nothing installed before the window opened")
    eq({d for d, v in fleet.running.items() if v == "v1"}, members)
    m = fleet.desired(sorted(members)[0])
    check("next_window_at" not in m and "pending" not in m, m)
    verified(s)
    fleet.close()


def _first_time(fn, timeout, msg):
    """The time.time() at which fn() first held (polled every 0.1 s)."""
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return time.time()
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s: {msg}")


def test_devices_are_released_at_the_opening_not_at_the_next_tick(ctx):
    """RAMP_EVAL_INTERVAL is an hour: only the engine's opening timer can
    release held devices at their window's opening, and a rollback that
    respects windows reaches its devices at its opening too."""
    s = ctx.server(env={"RAMP_EVAL_INTERVAL": "3600"})
    signer = Signer(ctx, s)
    for model in ("ocr", "asr"):
        publish(s, signer, model, "v1", stable=True)
        publish(s, signer, model, "v2")
    tokens = enroll(s, 8)
    now = int(time.time())
    # asr: open now until +15, then again from +30; ocr: opens at +10
    asr_wins = [window(now - 60, now + 15), window(now + 30, now + 1800)]
    asr = status(s.admin.post("/v1/rollouts", {"model": "asr", "version": "v2", "policy":
                                               policy(asr_wins, size=1.0, respects=True)}),
                 201).json["id"]
    fa = Fleet(s, tokens, "asr")
    eq(fa.poll_all(), {"v2": 8})  # open: assigned at once
    opens = int(time.time()) + 10
    ocr = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy":
                                               policy([window(opens, opens + 1800)], size=1.0)}),
                 201).json["id"]
    fo = Fleet(s, tokens, "ocr")
    eq(fo.poll_all(), {"v1": 8})
    check(time.time() < opens - 1, "held before the opening")
    at = _first_time(lambda: fo.poll_all() == {"v2": 8}, 60, "ocr released at its opening")
    check(at >= opens, f"released {opens - at:.1f} s before the opening")
    check(at - opens <= 5, f"released {at - opens:.1f} s after the opening (interval 3600 s)")
    eq(rollout(s, ocr)["windows"]["waiting"], 0)
    verified(s)
    # the asr window closes at +15; a rollback then waits for +30
    wait_for(lambda: time.time() > now + 16, timeout=30, msg="asr's window closes")
    status(s.admin.post(f"/v1/rollouts/{asr}/rollback"), 200)
    check(time.time() < now + 29, "the rollback came before the next window")
    eq(fa.poll_all(), {"v2": 8})
    at = _first_time(lambda: fa.poll_all() == {"v1": 8}, 60, "asr goes back at its opening")
    check(at >= now + 30, "went back before its window")
    check(at - (now + 30) <= 5, f"went back {at - now - 30:.1f} s after the opening")
    verified(s)
    fa.close()
    fo.close()


def test_ddi_device_of_a_model_without_stable_version_sees_unavailable_then_available(ctx):
    """The version-null entry of a held device reaches a hawkBit client as
    the pending deployment with maintenanceWindow unavailable, then
    available when the window opens."""
    s = ctx.server()
    signer = Signer(ctx, s)
    publish_artifact(s, signer, "kws", "v1", b"one " * 100, "kws-v1.swu")  # no stable version
    tok = register(s, "dev-1")
    dev = DDI(s, "dev-1", tok)
    check("deploymentBase" not in links(dev.poll()))
    opens = int(time.time()) + 12
    status(s.admin.post("/v1/rollouts", {"model": "kws", "version": "v1",
                                         "policy": policy([window(opens, opens + 1800)],
                                                          size=1.0)}), 201)
    href = links(dev.poll())["deploymentBase"]["href"]
    dep = status(dev.follow(href), 200).json["deployment"]
    check(time.time() < opens, "asked before the window opened")
    eq(dep["maintenanceWindow"], "unavailable")
    eq(dep["update"], "skip")
    eq(dep["chunks"][0]["version"], "v1")
    verified(s)

    def available():
        dep2 = status(dev.follow(links(dev.poll())["deploymentBase"]["href"]), 200).json
        return dep2["deployment"].get("maintenanceWindow") == "available" and dep2
    got = wait_for(available, timeout=60, msg="the window opens for DDI")
    eq(got["deployment"]["update"], "forced")
    check(time.time() >= opens)
    verified(s)
    dev.close()


def test_windows_per_device_label_hold_each_group_until_its_own_window_opens(ctx):
    """label_windows: devices labelled ramp.window=kiosk wait for the kiosk
    window, =lab for a later one, =warehouse ([]) and unlabelled devices
    (the stage's window, open) install at once; each waiting group is told
    its own next_window_at and installs when its window opens."""
    s = ctx.server(env={"RAMP_EVAL_INTERVAL": "3600"})
    signer = Signer(ctx, s)
    publish(s, signer, "ocr", "v1", stable=True)
    publish(s, signer, "ocr", "v2")
    groups = {}
    tokens = {}
    for value in ("kiosk", "lab", "warehouse", None):
        t = enroll(s, 6, prefix=value or "plain", labels={"ramp.window": value} if value else {})
        groups[value] = set(t)
        tokens.update(t)
    now = int(time.time())
    kiosk, lab = now + 12, now + 20
    pol = {"label_windows": {"kiosk": [window(kiosk, kiosk + 1800)],
                             "lab": [window(lab, lab + 1800)], "warehouse": []},
           "stages": [{"name": "all", "size": 1.0, "validation_window": "1h",
                       "windows": [window(now - 60, now + 1800)]}]}
    rid = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}),
                 201).json["id"]
    fleet = Fleet(s, tokens, "ocr")
    for value, opens in (("kiosk", kiosk), ("lab", lab)):
        for d in groups[value]:
            m = fleet.desired(d)
            eq((m["version"], m["rollout"]), ("v1", None), d)
            eq(m["next_window_at"], rfc3339(opens), d)
            eq(m["pending"]["version"], "v2")
    for d in groups["warehouse"] | groups[None]:
        m = fleet.desired(d)
        eq(m["version"], "v2", d)
        check("next_window_at" not in m and "pending" not in m, m)
    check(time.time() < kiosk - 1, "the checks above ran before the kiosk window opened")
    ro = rollout(s, rid)
    eq(ro["windows"]["waiting"], 12)
    eq(ro["windows"]["next_window_at"], rfc3339(kiosk))
    eq(ro["windows"]["labels"], pol["label_windows"])
    eq(ro["windows"]["next_window_by"], {"kiosk": rfc3339(kiosk), "lab": rfc3339(lab)})
    verified(s)
    eq(fleet.poll_all(), {"v1": 12, "v2": 12})
    wait_for(lambda: fleet.poll_all() == {"v1": 6, "v2": 18}, timeout=60,
             msg="the kiosks install when their window opens")
    check(time.time() >= kiosk, "kiosks installed before their window")
    check(time.time() < lab, "the lab group waited for its own, later window")
    eq({d for d, v in fleet.running.items() if v == "v1"}, groups["lab"])
    eq(fleet.desired(sorted(groups["lab"])[0])["next_window_at"], rfc3339(lab))
    ro = rollout(s, rid)
    eq(ro["windows"]["next_window_at"], rfc3339(lab))
    eq(ro["windows"]["next_window_by"], {"lab": rfc3339(lab)})
    verified(s)
    wait_for(lambda: fleet.poll_all() == {"v2": 24}, timeout=60,
             msg="the lab group installs when its window opens")
    check(time.time() >= lab, "lab installed before its window")
    ro = rollout(s, rid)
    eq((ro["windows"]["waiting"], ro["windows"]["next_window_by"]), (0, {}))
    verified(s)
    fleet.close()


def test_bad_label_windows_are_refused_and_nothing_is_stored(ctx):
    s = ctx.server()
    base = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1m"}]}
    bad = [
        ({"kiosk": ["Mon 02:00-04:00 Mars/Olympus"]}, "label_windows.kiosk[0]", "unknown time zone"),
        ({"kiosk": ["Someday 02:00-04:00"]}, "label_windows.kiosk[0]", "unknown day"),
        ({"kiosk": None}, "label_windows.kiosk", "must be a list"),
        ({"bad value!": []}, "label_windows.bad value!", "label value"),
        (["kiosk"], "label_windows", "must be an object"),
        ({f"v{i}": [] for i in range(9)}, "label_windows", "more than 8"),
    ]
    for lw, field, why in bad:
        r = status(s.admin.put("/v1/policies/lw", dict(base, label_windows=lw)), 422, str(lw))
        eq(r.json["field"], field)
        check(why in r.json["detail"], r.json)
        status(s.admin.get("/v1/policies/lw"), 404)
    good = dict(base, label_windows={"kiosk": ["Mon-Fri 02:00-04:00 Europe/Berlin"],
                                     "warehouse": []})
    status(s.admin.put("/v1/policies/lw", good), 201)
    eq(status(s.admin.get("/v1/policies/lw"), 200).json["policy"]["label_windows"],
       good["label_windows"])
