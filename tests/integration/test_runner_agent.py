"""ramp-runner as a fleet agent against a real rampd (issue 7): it installs
only verified models, swaps them under load without failing a request,
refuses bad ones with the reason while the old model keeps serving, goes
back to the kept previous model without a download, resumes downloads,
re-reads its configuration on SIGHUP, and follows rampd's rollouts and
rollbacks on two runners.  Models are built with Debian's python3-onnx."""
import http.client
import http.server
import json
import os
import signal
import threading

from fleet import Signer, enroll
from ramp import check, eq, status, wait_for
from runners import (PLATFORM, Runner, affine_out, build_model, check_exposition, digest, publish,
                     set_stable, running, statuses, upload)

MODEL = "scorer"


def setup(ctx, n_devices=1, versions=(1, 2)):
    """rampd, a signer, devices, and affine models published as v<K> (stable: the first)."""
    s = ctx.server()
    signer = Signer(ctx, s)
    tokens = enroll(s, n_devices, platform=PLATFORM, prefix="runner")
    models = {}
    for i, k in enumerate(versions):
        models[k] = build_model(ctx, "affine", k)
        publish(s, signer, MODEL, f"v{k}", models[k], stable=(i == 0))
    return s, signer, tokens, models


def check_answer(body, versions):
    """The answer came whole from one of versions: its version and its outputs agree."""
    v = body["model"]["version"]
    check(v in versions, f"answer from unexpected version {v}")
    eq(body["outputs"]["y"]["data"], affine_out(int(v[1:])), f"outputs of {v}")
    return v


def test_runner_installs_the_signed_model_and_reports_status_and_telemetry(ctx):
    s, signer, tokens, _ = setup(ctx)
    dev, tok = next(iter(tokens.items()))
    with running(ctx):
        r = Runner(ctx, s, tok, signer.pub)
        r.wait_version("v1")
        st, body = r.infer()
        eq(st, 200)
        check_answer(body, {"v1"})
        eq(body["model"]["name"], MODEL)
        st, hz = r.get("/healthz")
        eq(json.loads(hz), {"status": "ok", "model": {"name": MODEL, "version": "v1"}})
        st, m = r.get("/metrics")
        check_exposition(m)
        check(b"# TYPE ramp_runner_agent_polls_total counter" in m, m)
        eq([x[1] for x in statuses(ctx, s, dev)], ["downloading", "verifying", "installed"])
        eq(status(s.admin.get(f"/v1/devices/{dev}"), 200).json["models"][MODEL]["state"], "installed")
        rows = wait_for(lambda: ctx.psql(s, "SELECT sum(requests), max(model_load_ms) >= 0,"
                                            " bool_and(cpu_pct IS NOT NULL AND mem_pct IS NOT NULL)"
                                            f" FROM telemetry WHERE device_id = '{dev}' AND version = 'v1'"
                                            " HAVING sum(requests) >= 1"),
                        msg="telemetry for v1")
        eq(rows[0], ["1", "t", "t"])
        hist = ctx.psql(s, "SELECT lat_counts, conf_counts FROM telemetry"
                           f" WHERE device_id = '{dev}' AND requests = 1")
        eq(len(hist), 1)
        check(hist[0][0].startswith("{") and hist[0][1].startswith("{"), hist)
        eq(r.metric("ramp_runner_agent_downloads_total"), 1)


def test_runner_swaps_models_20_times_under_load_without_a_failed_request(ctx):
    s, signer, tokens, _ = setup(ctx, versions=(1, 2, 3))
    dev, tok = next(iter(tokens.items()))
    stop = threading.Event()
    seen, failures, counts = set(), [], [0]
    lock = threading.Lock()

    def hammer(r):
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=30)
        while not stop.is_set():
            st, data = r.request("POST", "/v1/infer", {"inputs": {"x": [[1, 2, 3, 4]]}}, conn=conn)
            with lock:
                counts[0] += 1
                if st != 200:
                    failures.append((st, data[:200]))
                    continue
            try:
                v = check_answer(json.loads(data), {"v1", "v2", "v3"})
            except AssertionError as e:
                with lock:
                    failures.append(str(e))
                continue
            with lock:
                seen.add(v)
        conn.close()

    with running(ctx):
        r = Runner(ctx, s, tok, signer.pub)
        r.wait_version("v1")
        threads = [threading.Thread(target=hammer, args=(r,)) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            # v1 -> v2 -> v3 -> v1 -> v3 -> v2 -> v3 -> v1 ...: a version that is neither running
            # nor kept is downloaded (the cache keeps two files) and loaded, and the oldest model
            # is dropped; going back to the kept one (every v3 after the first) is a pointer swap
            order = ["v2", "v3", "v1", "v3"] * 5
            for v in order:
                set_stable(s, MODEL, v)
                r.wait_version(v)
        finally:
            stop.set()
            for t in threads:
                t.join()
        eq(failures, [], "failed requests during swaps")
        eq(seen, {"v1", "v2", "v3"})
        check(counts[0] > 20, f"only {counts[0]} requests")
        eq(r.metric("ramp_runner_model_swaps_total"), 1 + len(order))
        # the runner serves the new model inside the install step; the store's links and the
        # counter follow a moment later
        wait_for(lambda: r.metric("ramp_runner_agent_swaps_back_total") == 9,
                 msg=f"9 swaps back (now {r.metric('ramp_runner_agent_swaps_back_total')})")
        eq(r.metric("ramp_runner_agent_downloads_total"), 1 + len(order) - 9)
        eq(r.metric("ramp_runner_errors_total"), 0)


def versions_stored(r):
    """The version directories of MODEL in r's store (agent/lib/store.h)."""
    d = os.path.join(r.cache, MODEL)
    return sorted(f for f in os.listdir(d) if not f.startswith(".") and f not in ("current", "previous"))


def partial(r, data):
    """Where r keeps a partial download of data (created)."""
    d = os.path.join(r.cache, MODEL, ".partial")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, digest(data)[7:])


def failed_detail(ctx, s, dev, version):
    rows = wait_for(lambda: [x for x in statuses(ctx, s, dev, version) if x[1] == "failed"],
                    msg=f"{version} reported failed")
    return rows[0][2]


def test_runner_refuses_bad_models_with_the_reason_and_keeps_serving(ctx):
    s, signer, tokens, models = setup(ctx, versions=(1,))
    dev, tok = next(iter(tokens.items()))
    rogue = Signer(ctx, s, key_id="rogue")
    good = build_model(ctx, "affine", 5)
    other = build_model(ctx, "affine", 6)
    unsupported = build_model(ctx, "unsupported")
    truncated = good[: len(good) // 2]
    other_url = f"{s.url}/v1/artifacts/{upload(s, other)}"
    trunc_url = f"{s.url}/v1/artifacts/{upload(s, truncated)}"
    upload(s, good)
    cases = [
        # the signed digest is good's, the URL serves another file
        ("v-digest", lambda v: publish(s, signer, MODEL, v, None, digest=digest(good), url=other_url),
         "digest mismatch"),
        # signed by a key rampd knows but the runner was not configured with
        ("v-sig", lambda v: publish(s, rogue, MODEL, v, good), "manifest signature does not verify"),
        # the URL serves only the first half of the signed file
        ("v-trunc", lambda v: publish(s, signer, MODEL, v, None, digest=digest(good), size=len(good),
                                      url=trunc_url), "file is truncated"),
        # a truncated file signed as it is: it verifies, and the loader refuses it
        ("v-trunc-signed", lambda v: publish(s, signer, MODEL, v, truncated), "load:"),
        ("v-erf", lambda v: publish(s, signer, MODEL, v, unsupported), "Erf"),
    ]
    with running(ctx):
        r = Runner(ctx, s, tok, signer.pub)
        r.wait_version("v1")
        for version, make, reason in cases:
            make(version)
            set_stable(s, MODEL, version)
            detail = failed_detail(ctx, s, dev, version)
            check(reason in detail, f"{version}: {reason!r} not in {detail!r}")
            st, body = r.infer()
            eq(st, 200, version)
            check_answer(body, {"v1"})
            eq(r.version(), "v1")
        eq(versions_stored(r), ["v1"], "refused versions left in the store")
        check(not os.listdir(os.path.join(r.cache, MODEL, ".partial")), "partial files left")
        # a refused version is not retried on every poll: one failure each
        polls = r.metric("ramp_runner_agent_polls_total")
        wait_for(lambda: r.metric("ramp_runner_agent_polls_total") > polls + 3, msg="more polls")
        eq(r.metric("ramp_runner_agent_failures_total"), len(cases))
        set_stable(s, MODEL, "v1")
        eq(r.version(), "v1")


def wait_installed(ctx, s, dev, version):
    """The runner serves a new model from inside the agent's install step;
    the agent then finishes it (links, pruning the store, including partial
    downloads) and reports 'installed'. A test that puts files into the
    store waits for that report, or the prune may take them away."""
    wait_for(lambda: statuses(ctx, s, dev)[-1:] and statuses(ctx, s, dev)[-1][:2] == (version, "installed"),
             msg=f"{dev} reported {version} installed: {statuses(ctx, s, dev)[-3:]}")


def wait_swap_reported(ctx, s, dev, version="v1"):
    """The runner serves the kept version as soon as the swap is live; the
    agent counts the swap and only then reports it: once rampd holds that
    report, the agent's counters are final."""
    def reported():
        last = statuses(ctx, s, dev)[-1]
        return last[:2] == (version, "installed") and "kept previous version back" in last[2]
    wait_for(reported, msg=f"{dev} reported the swap back: {statuses(ctx, s, dev)[-3:]}")


def test_runner_goes_back_to_the_kept_previous_model_without_a_download(ctx):
    s, signer, tokens, _ = setup(ctx)
    dev, tok = next(iter(tokens.items()))
    with running(ctx):
        r = Runner(ctx, s, tok, signer.pub)
        r.wait_version("v1")
        set_stable(s, MODEL, "v2")
        r.wait_version("v2")
        eq(r.metric("ramp_runner_agent_downloads_total"), 2)
        set_stable(s, MODEL, "v1")
        r.wait_version("v1")
        wait_swap_reported(ctx, s, dev)
        eq(r.metric("ramp_runner_agent_downloads_total"), 2)
        eq(r.metric("ramp_runner_agent_swaps_back_total"), 1)
        last = statuses(ctx, s, dev)[-1]
        eq(last[:2], ("v1", "installed"))
        check("no download" in last[2], last)
        # N+1: the cache holds the running and the previous file, nothing else
        eq(versions_stored(r), ["v1", "v2"])
        eq(os.readlink(os.path.join(r.cache, MODEL, "current")), "v1")
        eq(os.readlink(os.path.join(r.cache, MODEL, "previous")), "v2")


def test_runner_resumes_a_partial_download_with_range(ctx):
    s, signer, tokens, models = setup(ctx, versions=(1,))
    big = build_model(ctx, "mlp")
    publish(s, signer, MODEL, "v-mlp", big)
    dev, tok = next(iter(tokens.items()))
    with running(ctx):
        r = Runner(ctx, s, tok, signer.pub)
        r.wait_version("v1")
        wait_installed(ctx, s, dev, "v1")
        half = len(big) // 2
        with open(partial(r, big), "wb") as f:
            f.write(big[:half])
        set_stable(s, MODEL, "v-mlp")
        r.wait_version("v-mlp")
        eq(r.metric("ramp_runner_agent_resumed_downloads_total"), 1)
        eq(r.metric("ramp_runner_agent_download_bytes_total"), len(models[1]) + len(big) - half)


def test_runner_rereads_its_configuration_on_sighup(ctx):
    s, signer, tokens, _ = setup(ctx, versions=(1,))
    dev, tok = next(iter(tokens.items()))
    other = Signer(ctx, None, key_id="other")
    conf = os.path.join(ctx.tmp, "runner.conf")

    def write_conf(pub):
        with open(conf, "w") as f:
            f.write(f"# ramp-runner\ncontroller = {s.url}\ntoken = {tok}\npubkey = {pub}\n"
                    f"cache = {ctx.tmp}/cache-conf\npoll = 0.2\ntelemetry-interval = 0.5\n")

    write_conf(other.pub)
    with running(ctx):
        r = Runner(ctx, s, tok, None, name="conf", config=conf)
        detail = failed_detail(ctx, s, dev, "v1")
        check("signature does not verify" in detail, detail)
        eq(r.version(), None)
        st, body = r.infer()
        eq(st, 503)
        write_conf(signer.pub)
        r.signal(signal.SIGHUP)
        r.wait_version("v1")
        eq(r.infer()[0], 200)


def test_rampd_rolls_a_model_out_to_two_runners_and_rolls_it_back(ctx):
    s, signer, tokens, _ = setup(ctx, n_devices=2)
    devs = sorted(tokens)
    policy = {"stages": [{"name": "canary", "size": 0.5, "validation_window": "1h", "metrics": []},
                         {"name": "full", "size": 1.0, "validation_window": "1h"}]}
    with running(ctx):
        runners = [Runner(ctx, s, tokens[d], signer.pub, name=d) for d in devs]
        for r in runners:
            r.wait_version("v1")
        ro = status(s.admin.post("/v1/rollouts", {"model": MODEL, "version": "v2", "policy": policy}), 201).json
        # the canary stage takes one of the two
        wait_for(lambda: sorted(r.version() for r in runners) == ["v1", "v2"], msg="canary on one runner")
        status(s.admin.post(f"/v1/rollouts/{ro['id']}/promote?full=true"), 200)
        for r in runners:
            r.wait_version("v2")
        wait_for(lambda: status(s.admin.get(f"/v1/rollouts/{ro['id']}"), 200).json["devices"]["installed"] == 2,
                 msg="both installed")
        for r in runners:
            st, body = r.infer()
            eq(st, 200)
            check_answer(body, {"v2"})
        wait_for(lambda: ctx.psql(s, "SELECT count(DISTINCT device_id) FROM telemetry"
                                     " WHERE version = 'v2' HAVING count(DISTINCT device_id) = 2"),
                 msg="telemetry from both runners on v2")
        status(s.admin.post(f"/v1/rollouts/{ro['id']}/rollback"), 200)
        for r, d in zip(runners, devs):
            r.wait_version("v1")
            wait_swap_reported(ctx, s, d)
            eq(r.metric("ramp_runner_agent_downloads_total"), 2)  # back without a download
            eq(r.metric("ramp_runner_agent_swaps_back_total"), 1)
            check_answer(r.infer()[1], {"v1"})
        eq(status(s.admin.get(f"/v1/rollouts/{ro['id']}"), 200).json["state"], "rolled_back")
        for d in devs:
            eq(statuses(ctx, s, d)[-1][:2], ("v1", "installed"))


def test_runner_restarts_a_partial_file_when_the_server_ignores_range_and_keeps_its_token(ctx):
    s, signer, tokens, models = setup(ctx, versions=(1,))
    dev, tok = next(iter(tokens.items()))
    v7 = build_model(ctx, "affine", 7)
    seen = []

    class Plain(http.server.BaseHTTPRequestHandler):
        """Answers every GET with the whole file (200), whatever Range asks."""

        def do_GET(self):
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", str(len(v7)))
            self.end_headers()
            self.wfile.write(v7)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Plain)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        publish(s, signer, MODEL, "v7", None, digest=digest(v7), size=len(v7),
                url=f"http://127.0.0.1:{srv.server_address[1]}/v7.onnx")
        with running(ctx):
            r = Runner(ctx, s, tok, signer.pub)
            r.wait_version("v1")
            wait_installed(ctx, s, dev, "v1")
            with open(partial(r, v7), "wb") as f:
                f.write(b"stale bytes")
            set_stable(s, MODEL, "v7")
            r.wait_version("v7")
            check_answer(r.infer()[1], {"v7"})
            eq(seen[0].get("Range"), "bytes=11-")
            check("Authorization" not in seen[0], "the device token went to another host")
            eq(r.metric("ramp_runner_agent_resumed_downloads_total"), 0)
            eq(r.metric("ramp_runner_agent_download_bytes_total"), len(models[1]) + len(v7))
    finally:
        srv.shutdown()
        srv.server_close()
