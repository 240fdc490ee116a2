"""ramp-agent on a device (issue 11, AGENT_SPEC.md), against a real rampd:
updates through <model-dir>/<model>/{current,previous,<version>/}, rollback
from the cache, Range-resumed downloads, refused digests and signatures,
readers during swaps, disk space, offline telemetry buffering, reload and
health actions, enrollment, the telemetry socket and restarts.

Each agent runs from a configuration file (--config) with --state-dir and
short poll and telemetry intervals on the command line; artifacts come from
a counting HTTP server of the test's own (tests/lib/agentdev.py), so the
tests see every download.
"""
import base64
import os
import signal
import subprocess
import time

from agentdev import (PLATFORM, AgentProc, DeviceEnv, ArtifactServer, FakeInference, Proxy, Reader,
                      access_statuses, base_conf, blob, device_session, free_mb, health_cmd,
                      health_lines, hexdigest, reload_cmd, reload_lines, send_lines, spool,
                      spool_all_timestamps, status_rows, wait_polls, wait_status)
from fleet import Signer, enroll
from ramp import Client, Skip, check, eq, status, wait_for
from runners import publish, set_stable

MODEL = "ocr"


def dedupe(xs):
    out = []
    for x in xs:
        if not out or out[-1] != x:
            out.append(x)
    return out


def test_agent_installs_an_update_and_rolls_back_from_the_cache_keeping_n_plus_1(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2", "v3"))
        # the file says poll = 60: the command line's --poll 0.1 must win
        a = AgentProc(ctx, e.conf(poll=60), cli={"poll": 0.1})
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        eq(st.current(), "v1")
        eq(st.read(), e.blobs["v1"])

        n = len(e.rows())
        t0 = time.time()
        set_stable(e.s, MODEL, "v2")
        row = e.wait("v2", "installed", after=n, agent=a)
        update_s = row[3] - t0
        eq(st.current(), "v2", "current is a relative link to the version directory")
        eq(st.previous(), "v1")
        check(os.path.islink(st.path("current")) and os.path.islink(st.path("previous")))
        eq(st.read("current"), e.blobs["v2"])
        eq(st.read("v2"), e.blobs["v2"])
        eq(st.read("previous"), e.blobs["v1"])
        check(not st.writable("v2"), "v2/model is read-only")
        eq(st.versions(), ["v1", "v2"])
        eq(dedupe([r[1] for r in e.rows()[n:] if r[0] == "v2"]), ["downloading", "verifying", "installed"])
        check(not st.pending(), ".pending is gone once the swap is confirmed")
        eq(st.partials(), {}, ".partial holds nothing after the install")
        eq((e.arts.count("v1"), e.arts.count("v2")), (1, 1))

        # manifest.json: what was verified, as the controller handed it out
        desired = status(Client(e.s.port, e.tok).get("/v1/agent/desired"), 200).json["models"][0]
        m = st.manifest("v2")
        eq((m.get("model"), m.get("version")), (MODEL, "v2"))
        eq(m.get("digest"), "sha256:" + hexdigest(e.blobs["v2"]))
        eq(m.get("size"), len(e.blobs["v2"]))
        eq(m.get("key_id"), e.signer.key_id)
        eq(m.get("signature"), desired["signature"])
        check(m.get("manifest") in (desired["manifest"], base64.b64decode(desired["manifest"]).decode()),
              f"manifest.json's manifest is the signed text (or its base64): {m.get('manifest')!r}")
        check(m.get("installed_at") not in (None, "", 0), f"installed_at: {m}")

        # back to the kept previous version: a link swap, no download
        n = len(e.rows())
        t0 = time.time()
        set_stable(e.s, MODEL, "v1")
        row = e.wait("v1", "installed", after=n, agent=a)
        rollback_s = row[3] - t0
        check("from the cache, no download" in row[2], f"rollback detail: {row}")
        e.wait("v2", "rolled_back", after=n, agent=a)
        eq([r for r in e.rows()[n:] if r[1] in ("downloading", "verifying")], [], "no download on rollback")
        eq((e.arts.count("v1"), e.arts.count("v2")), (1, 1))
        eq((st.current(), st.previous()), ("v1", "v2"))
        eq(st.read(), e.blobs["v1"])
        eq(st.versions(), ["v1", "v2"])

        # a third version: v1 (running) is kept as previous, v2 is deleted
        n = len(e.rows())
        set_stable(e.s, MODEL, "v3")
        e.wait("v3", "installed", after=n, agent=a)
        eq((st.current(), st.previous()), ("v3", "v1"))
        eq(st.read(), e.blobs["v3"])
        eq(st.versions(), ["v1", "v3"], "N+1: only current and previous are kept")
        eq(e.arts.count("v3"), 1)
        print(f"    ramp-agent timings (set_stable -> installed at rampd): full update v1->v2 "
              f"{update_s:.3f}s ({len(e.blobs['v2'])} bytes), cached rollback v2->v1 {rollback_s:.3f}s",
              flush=True)


def test_agent_resumes_a_cut_off_download_with_a_range_request(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1",))
        big = blob("v2", 1 << 20)
        e.add("v2", big, script=["cut"])  # first GET: full Content-Length, half the bytes, closed
        a = AgentProc(ctx, e.conf())
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        e.wait("v2", "installed", after=n, agent=a)
        gets = e.arts.gets("v2")
        eq(len(gets), 2, f"one cut-off GET and one resumed: {gets}")
        eq(gets[0][1], 200)
        eq(gets[1][0].get("Range"), f"bytes={len(big) // 2}-")
        eq(gets[1][1], 206)
        check(all("Authorization" not in g[0] for g in gets), "the device token went to another host")
        eq(st.current(), "v2")
        eq(st.read(), big)
        eq(st.partials(), {})


def test_agent_resumes_a_partial_download_after_a_restart(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1",))
        big = blob("v2", 1 << 20)
        e.add("v2", big, script=["stall"])  # first GET: half the bytes, then nothing
        a = AgentProc(ctx, e.conf())
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        part = st.partial(big)
        a.wait(lambda: os.path.exists(part) and os.path.getsize(part) > 0, f"{part} with bytes")
        eq(a.stop(), 0, "SIGTERM during a download")
        e.arts.release()
        check(os.path.exists(part), ".partial/<hex> survives the stop")
        have = os.path.getsize(part)
        check(0 < have <= len(big) // 2, f"partial holds {have} bytes")
        eq(st.current(), "v1")
        a.start()
        e.wait("v2", "installed", after=n, agent=a)
        gets = e.arts.gets("v2")
        eq(len(gets), 2, f"{gets}")
        eq(gets[1][0].get("Range"), f"bytes={have}-")
        eq(gets[1][1], 206)
        eq(st.read(), big)
        eq(st.partials(), {})


def test_agent_refuses_a_wrong_digest_and_a_bad_signature_keeping_the_old_model(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1",))
        spare = Signer(ctx, None, key_id="spare")  # a second trusted key: v1 verifies with either
        rogue = Signer(ctx, e.s, key_id="rogue")  # rampd knows it, the agent does not trust it
        a = AgentProc(ctx, e.conf(pubkey=f"{spare.pub},{e.signer.pub}"))
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)

        # the signed digest and size are good's, the URL serves other bytes of the same size
        good, other = blob("v-good"), blob("v-evil")
        publish(e.s, e.signer, MODEL, "v-digest", None, digest="sha256:" + hexdigest(good), size=len(good),
                url=e.arts.add("v-digest", other), platform=PLATFORM)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v-digest")
        row = e.wait("v-digest", "failed", after=n, agent=a)
        check(row[2].startswith("digest mismatch"), f"detail: {row}")
        eq(st.current(), "v1")
        eq(st.read(), e.blobs["v1"])
        eq(st.versions(), ["v1"], "no version directory for the refused file")
        check(not os.path.exists(st.partial(good)), "the refused bytes are not kept for a resume")

        # signed by rogue
        signed = blob("v-sig")
        publish(e.s, rogue, MODEL, "v-sig", signed, url=e.arts.add("v-sig", signed), platform=PLATFORM)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v-sig")
        row = e.wait("v-sig", "failed", after=n, agent=a)
        check("manifest signature does not verify" in row[2], f"detail: {row}")
        eq(st.current(), "v1")
        eq(st.read(), e.blobs["v1"])
        eq(st.versions(), ["v1"])
        eq([r for r in e.rows() if r[1] == "installed" and r[0] in ("v-digest", "v-sig")], [])


def test_reader_of_current_model_never_sees_a_missing_or_partial_file_during_100_swaps(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"), sizes={"v1": 256 * 1024, "v2": 256 * 1024})
        a = AgentProc(ctx, e.conf(), cli={"poll": 0.05, "poll-min": 0.05})
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        reader = Reader(ctx, st.path("current", "model"), e.blobs)
        t0 = time.time()
        want = "v1"
        for i in range(100):
            want = "v2" if want == "v1" else "v1"
            set_stable(e.s, MODEL, want)
            a.wait(lambda: st.current() == want, f"swap {i + 1}: current -> {want}", timeout=15, interval=0.01)
        took = time.time() - t0
        tally = reader.stop()
        a.wait(lambda: len([r for r in e.rows() if r[1] == "installed" and
                            "from the cache, no download" in r[2]]) >= 99, "99 installs from the cache")
        eq((tally["enoent"], tally["other_errors"], tally["unknown"]), (0, 0, 0), f"reader: {tally}")
        check(tally["reads"] > 0 and set(tally["seen"]) == {"v1", "v2"}, f"reader: {tally}")
        eq((e.arts.count("v1"), e.arts.count("v2")), (1, 1), "one download per version, then the cache")
        eq(st.versions(), ["v1", "v2"])
        print(f"    100 swaps in {took:.1f}s ({took * 10:.0f} ms each); the reader read current/model "
              f"{tally['reads']} times", flush=True)


def test_agent_refuses_a_download_that_would_fill_the_disk(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        a = AgentProc(ctx, e.conf(min_free_mb=1))
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        eq(a.stop(), 0)
        a.conf["min-free-mb"] = free_mb(a.model_dir) + 100000
        a.start()
        wait_polls(e.s, a, 3)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        row = e.wait("v2", "failed", after=n, agent=a)
        check(row[2].startswith("no space"), f"detail: {row}")
        eq(e.arts.count("v2"), 0, "nothing downloaded")
        check(all(size == 0 for size in st.partials().values()), f".partial grew: {st.partials()}")
        eq(st.current(), "v1")
        eq(st.read(), e.blobs["v1"])
        eq(st.versions(), ["v1"])


def test_agent_buffers_bounded_telemetry_offline_and_replays_it_oldest_first(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        proxy = Proxy(ctx, e.s.port)
        # poll-max 0.2: the offline backoff stays about one telemetry interval, so few of the
        # buffered reports give way to new ones between the controller's return and the replay
        a = AgentProc(ctx, e.conf(proxy.url, telemetry_buffer=5),
                      cli={"telemetry-interval": 0.2, "poll-max": 0.2})
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)

        def device_ts():
            return [float(r[0]) for r in ctx.psql(e.s, "SELECT extract(epoch FROM ts) FROM telemetry"
                                                       f" WHERE device_id = '{e.dev}' ORDER BY received_at, ctid")]
        a.wait(lambda: device_ts(), "telemetry while online")

        proxy.down()
        t_off = time.time()
        max_seen, first_full, dropped = 0, None, False
        while time.time() < t_off + 20 and (time.time() < t_off + 3 or not dropped):
            sp = spool(a.state_dir)
            count = sum(k for _, k in sp)
            check(count <= 5, f"{count} reports spooled with telemetry-buffer 5: {sp}")
            max_seen = max(max_seen, count)
            mark = tuple(spool_all_timestamps(a.state_dir)) or tuple(name for name, _ in sp)
            if count == 5 and first_full is None:
                first_full = set(mark)
            elif first_full is not None and mark and not first_full & set(mark):
                dropped = True  # every report of the first full spool has given way to newer ones
            eq(st.current(), "v1", "current while offline")
            eq(st.read(), e.blobs["v1"], "current/model while offline")
            check(a.alive(), "agent alive while offline")
            time.sleep(0.05)
        snap_ts = spool_all_timestamps(a.state_dir)
        t_on = time.time()
        proxy.up()
        eq(max_seen, 5, "the spool fills up to telemetry-buffer")
        check(dropped, f"newer reports replace the oldest once the spool is full: {first_full} vs"
                       f" {spool(a.state_dir)}")
        check(proxy.polls_down >= 2, f"polls while offline: {proxy.polls_down}")

        a.wait(lambda: not spool(a.state_dir) and any(t > t_on for t in device_ts()),
               "the spool drained and a fresh report arrived")
        ts = device_ts()
        eq(ts, sorted(ts), "reports arrive oldest first")
        # of the ~15 reports made offline, only what the spool held arrives: at most 5, the
        # newest (one or two may give way to reports made after the controller came back),
        # and perhaps one more gathered offline just before the replay found the controller back
        window = [t for t in ts if t_off <= t <= t_on]
        check(3 <= len(window) <= 6, f"{len(window)} reports of the offline period arrived: {window}")
        if snap_ts:
            unmatched = [t for t in window if not any(abs(t - u) < 0.002 for u in snap_ts)]
            check(len(unmatched) <= 1, f"the replayed reports are the spooled ones: {window} vs {snap_ts}")
            check(min(window) >= min(snap_ts) - 0.002, f"the newest were kept: {window} vs {snap_ts}")

        # polling goes on after the outage
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        e.wait("v2", "installed", after=n, agent=a)


def test_failing_reload_action_reports_failed_and_restores_the_previous_model(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        log = os.path.join(ctx.tmp, "reloads.log")
        a = AgentProc(ctx, e.conf(reload_cmd=reload_cmd(ctx, log, fail=("v2",))))
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        row = e.wait("v2", "failed", after=n, agent=a)
        check(row[2].startswith("reload:"), f"detail: {row}")
        eq(st.current(), "v1")
        eq(st.read(), e.blobs["v1"])
        # the action ran for v2 (seeing v2's file), then again for v1 with v1's file back
        eq(reload_lines(log), [[MODEL, "v1", "v1"], [MODEL, "v2", "v2"], [MODEL, "v1", "v1"]])
        eq([r for r in e.rows() if r[0] == "v2" and r[1] == "installed"], [])
        wait_polls(e.s, a, 5)
        eq(len(reload_lines(log)), 3, "a refused version is not retried on every poll")
        eq(st.current(), "v1")


def test_failing_health_check_reports_failed_and_restores_the_previous_model(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        rlog, hlog = os.path.join(ctx.tmp, "reloads.log"), os.path.join(ctx.tmp, "health.log")
        a = AgentProc(ctx, e.conf(), start=False)
        st = a.store(MODEL)
        a.conf.update({"reload-cmd": reload_cmd(ctx, rlog),
                       "health-cmd": health_cmd(ctx, st.path("current", "model"), hlog, fail=("v2",)),
                       # failing checks are retried until health-timeout; a busy
                       # machine may take seconds just to start the checking
                       # interpreter, so v1's passing check gets a margin
                       "health-timeout": 10})
        a.start()
        e.wait("v1", "installed", agent=a)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        row = e.wait("v2", "failed", after=n, agent=a, timeout=90)
        check(row[2].startswith("health check:"), f"detail: {row}")
        check("previous version v1 restored" in row[2], f"detail: {row}")
        eq(st.current(), "v1")
        eq(st.read(), e.blobs["v1"])
        checks = health_lines(hlog)
        check([c for c in checks if c[0] == "v2"] and not any(c[2] for c in checks if c[0] == "v2"),
              f"v2 was health-checked and never passed: {checks}")
        eq([x[1] for x in reload_lines(rlog)], ["v1", "v2", "v1"], "the old model is reloaded")
        eq([r for r in e.rows() if r[0] == "v2" and r[1] == "installed"], [])
        wait_polls(e.s, a, 5)
        eq(len(reload_lines(rlog)), 3, "a refused version is not retried on every poll")


def test_agent_reports_installed_only_after_the_health_check_passes(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        hlog = os.path.join(ctx.tmp, "health.log")
        a = AgentProc(ctx, e.conf(), start=False)
        st = a.store(MODEL)
        a.conf.update({"health-cmd": health_cmd(ctx, st.path("current", "model"), hlog, flaky={"v2": 2}),
                       "health-timeout": 30})
        a.start()
        e.wait("v1", "installed", agent=a)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        row = e.wait("v2", "installed", after=n, agent=a)
        checks = [c for c in health_lines(hlog) if c[0] == "v2"]
        eq([c[2] for c in checks], [False, False, True], f"v2's health checks: {checks}")
        check(row[3] > checks[2][1], f"installed ({row[3]}) reported after the passing check ({checks[2][1]})")
        eq([r for r in e.rows() if r[0] == "v2" and r[1] == "failed"], [])
        eq(st.current(), "v2")


def test_agent_enrolls_once_with_labels_and_keeps_its_token_0600(ctx):
    with device_session(ctx):
        s = ctx.server(env={"RAMP_ACCESS_LOG": "1"})
        signer = Signer(ctx, s)
        arts = ArtifactServer(ctx)
        for v in ("v1", "v2"):
            publish(s, signer, MODEL, v, blob(v), url=arts.add(v, blob(v)), platform=PLATFORM)
        set_stable(s, MODEL, "v1")
        enroll_tok = status(s.admin.post("/v1/tokens", {"name": "pi-enroll", "role": "enroll"}), 201).json["token"]
        dev = "pi-wh1-007"
        a = AgentProc(ctx, base_conf(s.url, None, signer.pub, enroll_token=enroll_tok, device_id=dev,
                                     labels="site=wh1,tier=canary"))
        tokfile = os.path.join(a.state_dir, "device.token")
        a.wait(lambda: os.path.exists(tokfile), "device.token written")
        eq(oct(os.stat(tokfile).st_mode & 0o777), oct(0o600))
        wait_status(ctx, s, dev, "v1", "installed", agent=a)
        d = status(s.admin.get(f"/v1/devices/{dev}"), 200).json
        eq({k: d["labels"].get(k) for k in ("site", "tier")}, {"site": "wh1", "tier": "canary"}, f"{d}")
        eq(d.get("platform"), PLATFORM)
        with open(tokfile) as f:
            token = f.read()
        check(token.strip(), "token file is empty")

        eq(a.stop(), 0)
        n = len(status_rows(ctx, s, dev))
        set_stable(s, MODEL, "v2")
        a.start()
        wait_status(ctx, s, dev, "v2", "installed", after=n, agent=a)
        with open(tokfile) as f:
            eq(f.read(), token, "the token file is kept")
        eq(access_statuses(s, "/v1/enroll"), [201], "one enrollment; the restart used the token file")


def test_agent_signals_the_inference_process_from_its_pid_file_after_a_swap(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        a = AgentProc(ctx, e.conf(), start=False)
        st = a.store(MODEL)
        inf = FakeInference(ctx, st.path("current"))
        a.conf.update({"reload-signal": "HUP", "reload-pidfile": inf.pidfile})
        a.start()
        e.wait("v1", "installed", agent=a)
        a.wait(lambda: inf.hups() == ["v1"], f"a HUP after the swap to v1 (hups: {inf.hups()})")
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        e.wait("v2", "installed", after=n, agent=a)
        a.wait(lambda: inf.hups() == ["v1", "v2"], f"a HUP after the swap to v2 (hups: {inf.hups()})")
        wait_polls(e.s, a, 5)
        eq(inf.hups(), ["v1", "v2"], "one signal per swap")


def test_agent_turns_telemetry_socket_lines_into_a_report_for_the_running_version(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1",))
        sock = os.path.join(ctx.tmp, "tele.sock")
        a = AgentProc(ctx, e.conf(telemetry_socket=sock))
        e.wait("v1", "installed", agent=a)
        where = f"device_id = '{e.dev}' AND model = '{MODEL}' AND version = 'v1'"
        # with no lines yet: health reports with the machine's figures
        a.wait(lambda: ctx.psql(e.s, f"SELECT count(*) FROM telemetry WHERE {where} AND mem_pct IS NOT NULL"
                                     " AND disk_free_mb IS NOT NULL HAVING count(*) > 0"),
               "a health report for ocr:v1")
        a.wait(lambda: os.path.exists(sock), "the telemetry socket")
        send_lines(sock, ["ocr 12.5 ok 0.9", "ocr 30 error", "ocr npu_pct=40 model_load_ms=830",
                          "not a valid line", "ocr fast ok"])
        q = (f"SELECT coalesce(sum(requests), 0), coalesce(sum(errors), 0), min(latency_ms), max(latency_ms),"
             f" max(confidence_mean) FROM telemetry WHERE {where} AND lat_counts IS NOT NULL")
        a.wait(lambda: int(ctx.psql(e.s, q)[0][0]) >= 2, "the two requests in rampd")
        a.wait(lambda: ctx.psql(e.s, f"SELECT 1 FROM telemetry WHERE {where} AND npu_pct IS NOT NULL"),
               "npu_pct in rampd")
        wait_polls(e.s, a, 10)  # a few more intervals: nothing else is counted
        req, err, lo, hi, conf = ctx.psql(e.s, q)[0]
        eq((int(req), int(err)), (2, 1), "requests and errors of the two valid request lines")
        check(12.5 <= float(lo) <= float(hi) <= 30, f"latency_ms between the two requests': {lo} {hi}")
        check(abs(float(conf) - 0.9) < 1e-6, f"confidence_mean: {conf}")
        npu, load = ctx.psql(e.s, f"SELECT max(npu_pct), max(model_load_ms) FROM telemetry WHERE {where}")[0]
        eq((float(npu), float(load)), (40.0, 830.0))


def test_agent_restart_neither_downloads_nor_reloads_again_and_starts_offline_on_current(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        proxy = Proxy(ctx, e.s.port)
        log = os.path.join(ctx.tmp, "reloads.log")
        a = AgentProc(ctx, e.conf(proxy.url, reload_cmd=reload_cmd(ctx, log)))
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        e.wait("v2", "installed", after=n, agent=a)
        eq([x[1] for x in reload_lines(log)], ["v1", "v2"])

        eq(a.kill9(), -signal.SIGKILL)
        n = len(e.rows())
        a.start()
        polls = proxy.polls()
        a.wait(lambda: proxy.polls() >= polls + 5, "5 polls after the restart")
        eq((e.arts.count("v1"), e.arts.count("v2")), (1, 1), "no download after the restart")
        eq([x[1] for x in reload_lines(log)], ["v1", "v2"], "no reload of the version already running")
        eq([r for r in e.rows()[n:] if r[1] in ("downloading", "verifying", "failed")], [])
        eq((st.current(), st.previous()), ("v2", "v1"))
        eq(st.read(), e.blobs["v2"])
        check(not st.pending())

        # a start without the controller keeps serving what is installed and keeps polling
        eq(a.stop(), 0)
        proxy.down()
        a.start()
        attempts = proxy.polls_down
        a.wait(lambda: proxy.polls_down >= attempts + 3, "polls while the controller is down")
        eq((st.current(), st.previous()), ("v2", "v1"))
        eq(st.versions(), ["v1", "v2"])
        eq(st.read(), e.blobs["v2"])
        eq(len(reload_lines(log)), 2)
        check(a.alive())

        # back online: the kept previous version is still a rollback from the cache
        proxy.up()
        n = len(e.rows())
        set_stable(e.s, MODEL, "v1")
        row = e.wait("v1", "installed", after=n, agent=a)
        check("from the cache, no download" in row[2], f"{row}")
        eq(e.arts.count("v1"), 1)
        eq(st.current(), "v1")


def test_agent_refuses_to_start_without_its_explicit_config_file(ctx):
    key = Signer(ctx, None)
    p = subprocess.run([os.path.join(ctx.build, "ramp-agent"), "--config", os.path.join(ctx.tmp, "none.conf"),
                        "--controller", "http://127.0.0.1:9", "--token", "t", "--pubkey", key.pub,
                        "--state-dir", ctx.tmp],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode != 0, f"exit {p.returncode}: {p.stdout} {p.stderr}")
    check("none.conf" in p.stderr, f"the error names the file: {p.stderr!r}")


def test_two_models_on_one_device_are_stored_swapped_and_rolled_back_independently(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        det = {v: blob(v, 32 * 1024) for v in ("d1", "d2")}
        for v, data in det.items():
            publish(e.s, e.signer, "det", v, data, platform=PLATFORM, url=e.arts.add(v, data))
        set_stable(e.s, "det", "d1")
        log = os.path.join(ctx.tmp, "reloads.log")
        a = AgentProc(ctx, e.conf(reload_cmd=reload_cmd(ctx, log)))
        ocr, dst = a.store(MODEL), a.store("det")
        e.wait("v1", "installed", agent=a)
        e.wait("d1", "installed", agent=a)
        eq((ocr.read(), dst.read()), (e.blobs["v1"], det["d1"]))

        # one model moves; the other's store, links and process are left alone
        n = len(e.rows())
        set_stable(e.s, "det", "d2")
        e.wait("d2", "installed", after=n, agent=a)
        eq((dst.current(), dst.previous()), ("d2", "d1"))
        eq((ocr.current(), ocr.previous(), ocr.versions()), ("v1", None, ["v1"]))
        eq([x[:2] for x in reload_lines(log)][-1], ["det", "d2"])
        eq(sorted(x[0] for x in reload_lines(log)), ["det", "det", "ocr"])

        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        e.wait("v2", "installed", after=n, agent=a)
        set_stable(e.s, "det", "d1")  # det back through its cache, ocr stays on v2
        row = e.wait("d1", "installed", after=n, agent=a)
        check("no download" in row[2], row)
        eq((ocr.current(), dst.current()), ("v2", "d1"))
        eq((ocr.read(), dst.read()), (e.blobs["v2"], det["d1"]))
        eq((e.arts.count("d1"), e.arts.count("d2"), e.arts.count("v2")), (1, 1, 1))


def test_a_canary_that_errors_on_the_device_is_rolled_back_by_rampd_from_the_agents_cache(ctx):
    """The whole loop on one device: a rollout puts v2 on it, the inference process reports
    errors for v2 over the telemetry socket, rampd's analysis breaks the error-rate SLO and
    rolls back, and the agent goes back to v1 from its store without a download."""
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        sock = os.path.join(ctx.tmp, "tele.sock")
        log = os.path.join(ctx.tmp, "reloads.log")
        a = AgentProc(ctx, e.conf(telemetry_socket=sock, reload_cmd=reload_cmd(ctx, log)))
        st = a.store(MODEL)
        e.wait("v1", "installed", agent=a)
        policy = {"stages": [{"name": "canary", "size": 1.0, "validation_window": "1h",
                              "min_samples": 5, "metrics": [{"name": "error_rate", "threshold": "< 5%"}]}]}
        n = len(e.rows())
        ro = status(e.s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2", "policy": policy}),
                    201).json
        e.wait("v2", "installed", after=n, agent=a)
        eq(st.current(), "v2")
        a.wait(lambda: os.path.exists(sock), "the telemetry socket")
        n = len(e.rows())
        t0 = time.time()
        send_lines(sock, ["ocr 20 error"] * 10)
        row = e.wait("v1", "installed", after=n, agent=a, timeout=60)
        check("no download" in row[2], row)
        e.wait("v2", "rolled_back", after=n, agent=a)
        print(f"    errors sent -> v1 installed again on the device: {row[3] - t0:.2f}s", flush=True)
        r = status(e.s.admin.get(f"/v1/rollouts/{ro['id']}"), 200).json
        eq(r["state"], "rolled_back")
        check(any(ev["type"] == "breach" for ev in r["events"]), r["events"])
        eq((st.current(), st.previous(), st.read()), ("v1", "v2", e.blobs["v1"]))
        eq((e.arts.count("v1"), e.arts.count("v2")), (1, 1))
        eq([x[1] for x in reload_lines(log)], ["v1", "v2", "v1"])


def test_artifacts_in_rampds_store_come_from_the_configured_controller(ctx):
    """rampd names its artifacts under RAMP_PUBLIC_URL (a front this device does not reach);
    the agent fetches /v1/artifacts/... from the controller it was configured with, with its
    token, and the digest check still decides."""
    with device_session(ctx):
        s = ctx.server(env={"RAMP_ACCESS_LOG": "1", "RAMP_PUBLIC_URL": "http://ramp.invalid:9"})
        signer = Signer(ctx, s)
        dev, tok = next(iter(enroll(s, 1, platform=PLATFORM, prefix="pi").items()))
        data = blob("v1", 48 * 1024)
        publish(s, signer, MODEL, "v1", data, stable=True, platform=PLATFORM)
        a = AgentProc(ctx, base_conf(s.url, tok, signer.pub))
        wait_status(ctx, s, dev, "v1", "installed", agent=a)
        url = Client(s.port, tok).get("/v1/agent/desired").json["models"][0]["url"]
        check(url.startswith("http://ramp.invalid:9/v1/artifacts/sha256:"), url)
        eq(a.store(MODEL).read(), data)
        eq(access_statuses(s, f"/v1/artifacts/sha256:{hexdigest(data)}"), [201, 200], "the upload, one download")


def test_a_disk_that_fills_during_the_download_is_reported_no_space(ctx):
    """A manifest without a size cannot be checked before the download: on a 1 MiB file
    system a 3 MiB file fills the disk, the version is `failed` "no space: ...", nothing
    partial stays, and current keeps running."""
    small = os.path.join(ctx.tmp, "small")
    os.makedirs(small)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small],
                                           capture_output=True).returncode != 0:
        raise Skip("mounting a small tmpfs needs root")
    try:
        with device_session(ctx):
            e = DeviceEnv(ctx, versions=("v1",), sizes={"v1": 16 * 1024})
            big = blob("v2", 3 << 20)
            publish(e.s, e.signer, MODEL, "v2", big, platform=PLATFORM, size=None,
                    url=e.arts.add("v2", big))
            a = AgentProc(ctx, e.conf(model_dir=small, min_free_mb=0))
            st = a.store(MODEL)
            e.wait("v1", "installed", agent=a)
            n = len(e.rows())
            set_stable(e.s, MODEL, "v2")
            row = e.wait("v2", "failed", after=n, agent=a)
            check(row[2].startswith("no space"), row)
            # the partial file is removed and the disk is the device's again. The
            # agent tries again after its download backoff (about 1 s here: freeing
            # space is enough, docs/agent.md), and each try fills the disk for a
            # moment: on a busy machine this check may come during one, so it
            # waits for the state between tries instead of sampling once
            def given_back():
                sv = os.statvfs(small)
                return st.partials() == {} and sv.f_bavail * sv.f_frsize > 512 * 1024
            wait_for(given_back, timeout=30, interval=0.05,
                     msg=f"the partial file removed and the space given back ({st.partials()})")
            eq((st.current(), st.read()), ("v1", e.blobs["v1"]))
            eq(st.versions(), ["v1"])
    finally:
        subprocess.run(["umount", "-l", small], capture_output=True)


def test_status_prints_what_the_device_runs_holds_and_has_not_sent(ctx):
    with device_session(ctx):
        e = DeviceEnv(ctx, versions=("v1", "v2"))
        a = AgentProc(ctx, e.conf())
        e.wait("v1", "installed", agent=a)
        n = len(e.rows())
        set_stable(e.s, MODEL, "v2")
        e.wait("v2", "installed", after=n, agent=a)
        p = subprocess.run([*a.args(), "--status"], capture_output=True, text=True, timeout=30)
        eq(p.returncode, 0, p.stderr)
        out = p.stdout
        check(f"device {e.dev}, controller {e.s.url}" in out, out)
        check(f"model {MODEL}: current v2 (sha256:{hexdigest(e.blobs['v2'])}), previous v1" in out, out)
        check("telemetry waiting to be sent:" in out and "not confirmed" not in out, out)
        check(a.alive(), "the running agent is left alone")
