"""End-to-end rollouts on a simulated fleet: build/ramp-sim enrolls a few
hundred devices that poll, install (downloading, verifying, installed or
failed) and report telemetry, with faults injected per version and
platform; rampd promotes healthy versions through every stage and rolls
faulty ones back on its own."""
import json
import signal

from fleet import Signer
from ramp import check, eq, status, wait_for
from simfleet import Sim, on_version, publish_with_artifacts

N = 300
FAST = {"RAMP_POLL_INTERVAL": "1"}
SIM_ARGS = ["--report-interval", "1", "--rps", "50", "--install-time", "0.1",
            "--labels", "site=wh-{1..4}"]


def policy(metrics, windows=("3s", "3s", "3s"), sizes=(0.05, 0.25, 1.0), min_samples=1000):
    """A fast three-stage policy. min_samples is high enough that the smoothed
    KL behind confidence_shift is not biased by a small canary."""
    names = ["canary", "ramp", "full"]
    stages = [{"name": names[i], "size": z, "validation_window": w}
              for i, (w, z) in enumerate(zip(windows, sizes))]
    stages[0]["metrics"] = metrics
    # every stage judges on enough data: a stage that just began must not
    # decide on its first hundred requests (1 error in 100 is 1%)
    for st in stages:
        st.update({"min_devices": 3, "min_samples": min_samples})
    return {"stages": stages, "rollback": {"automatic": True, "on_inconclusive": "extend",
                                           "failure_limit": 1}}


def start_fleet(ctx, s, *args, platforms=("rpi-arm64", "cloud-x86-onnx"), devices=N,
                sim_platforms="rpi-arm64:0.7,cloud-x86-onnx:0.3"):
    """v1 stable and v2 published; a fleet that runs v1 and has reported on it."""
    signer = Signer(ctx, s)
    publish_with_artifacts(s, signer, "ocr", "v1", platforms=platforms, stable=True)
    publish_with_artifacts(s, signer, "ocr", "v2", platforms=platforms)
    sim = Sim(ctx.build, s, *SIM_ARGS, "--platforms", sim_platforms, *args, devices=devices,
              tmp=ctx.tmp).start()
    return sim


def wait_on_v1(sim, n=N):
    # the baseline version runs everywhere and has reported at least twice
    return sim.wait(lambda st: on_version(st, "v1") == n and st["reports_accepted"] >= 2 * n,
                    timeout=30, msg="fleet on v1")


def start_rollout(s, pol, target=None):
    r = status(s.admin.post("/v1/rollouts", {"model": "ocr", "version": "v2", "policy": pol}), 201)
    eq(r.json["baseline_version"], "v1")
    rid = r.json["id"]
    if target is not None:
        wait_for(lambda: rollout(s, rid)["devices"]["target"] == target, timeout=10,
                 msg=f"target {target}")
    return rid


def rollout(s, rid):
    return status(s.admin.get(f"/v1/rollouts/{rid}"), 200).json


def wait_state(s, rid, state, timeout=40):
    def done():
        ro = rollout(s, rid)
        return ro if ro["state"] not in ("progressing",) else None
    ro = wait_for(done, timeout=timeout, interval=0.3, msg=f"rollout {state}")
    eq(ro["state"], state, json.dumps(ro["events"]))
    return ro


def breach_of(ro, metric):
    ev = [e for e in ro["events"] if e["type"] == "breach"]
    check(ev and metric in ev[0]["detail"], f"breach on {metric}: {ro['events']}")
    canary = [a for a in ro["analysis"] if a["metric"] == metric and a["arm"] == "canary"
              and a["result"] == "fail"]
    check(canary, f"failing {metric} analysis: {ro['analysis']}")
    return canary[0]


def rolled_back_everywhere(sim, n=N):
    """After a rollback every device runs v1 again, none is left on v2."""
    st = sim.wait(lambda st: on_version(st, "v1") == n, timeout=20, msg="fleet back on v1")
    eq(on_version(st, "v2"), 0)
    return st


def clean(summary):
    for k in ("poll_errors", "telemetry_errors", "reports_rejected", "status_errors",
              "enroll_errors", "reports_dropped"):
        eq(summary[k], 0, f"{k} in {json.dumps(summary)}")


def test_healthy_version_is_promoted_through_every_stage_on_a_simulated_fleet(ctx):
    s = ctx.server(env=FAST)
    with start_fleet(ctx, s, "--download") as sim:
        wait_on_v1(sim)
        pol = policy([{"name": "error_rate", "threshold": "< 1%"},
                      {"name": "inference_latency_p95", "threshold": "< 2x baseline"},
                      {"name": "confidence_shift", "threshold": "< 0.1"},
                      {"name": "install_failure_rate", "threshold": "< 5%"}])
        rid = start_rollout(s, pol)
        ro = wait_state(s, rid, "succeeded", timeout=60)
        st = sim.wait(lambda st: on_version(st, "v2") == N, timeout=15, msg="fleet on v2")
        summary = sim.stop()
    types = [e["type"] for e in ro["events"]]
    eq(types.count("promoted"), 2, types)
    check("breach" not in types, types)
    for m in ("error_rate", "inference_latency_p95", "confidence_shift", "install_failure_rate"):
        check(any(a["metric"] == m and a["arm"] == "canary" and a["result"] == "pass"
                  for a in ro["analysis"]), f"{m} passed: {ro['analysis']}")
    clean(summary)
    eq(on_version(summary, "v2"), N)
    eq(summary["install_failures"], 0)
    eq(summary["digest_mismatches"], 0)
    # every device downloaded v1 and then v2 and checked both digests
    eq(summary["downloads"], 2 * N)
    m = status(s.admin.get("/v1/devices/sim-000000"), 200).json["models"]["ocr"]
    eq((m["version"], m["state"]), ("v2", "installed"))
    check(st["polls_304"] > 0, "devices poll with their ETag")


def test_error_rate_fault_rolls_back_automatically(ctx):
    s = ctx.server(env=FAST)
    with start_fleet(ctx, s, "--fault", "v2:errors=0.05", "--telemetry", "gateway",
                     "--gateway-batch", "100") as sim:
        wait_on_v1(sim)
        rid = start_rollout(s, policy([{"name": "error_rate", "threshold": "< 1%"}],
                                      windows=("1h", "1h", "1h")))
        ro = wait_state(s, rid, "rolled_back")
        fail = breach_of(ro, "error_rate")
        check(abs(fail["value"] - 0.05) < 0.02, fail)
        base = [a for a in ro["analysis"] if a["metric"] == "error_rate" and a["arm"] == "baseline"]
        check(base and base[0]["value"] < 0.01, base)
        rolled_back_everywhere(sim)
        summary = sim.stop()
    clean(summary)
    check(any(e["type"] == "rolled_back" for e in ro["events"]))


def test_latency_fault_breaches_relative_to_the_baseline_version(ctx):
    s = ctx.server(env=FAST)
    with start_fleet(ctx, s, "--fault", "v2:latency_x=3") as sim:
        wait_on_v1(sim)
        rid = start_rollout(s, policy([{"name": "inference_latency_p95",
                                        "threshold": "< 2x baseline"}],
                                      windows=("1h", "1h", "1h")))
        ro = wait_state(s, rid, "rolled_back")
        fail = breach_of(ro, "inference_latency_p95")
        # the baseline is the stable version's p95 from the same fleet: about 71 ms
        check(50 < fail["baseline"] < 100, fail)
        check(fail["value"] > 2 * fail["baseline"], fail)
        rolled_back_everywhere(sim)
        clean(sim.stop())


def test_confidence_shift_fault_rolls_back(ctx):
    s = ctx.server(env=FAST)
    with start_fleet(ctx, s, "--fault", "v2:confidence_shift=0.3") as sim:
        wait_on_v1(sim)
        rid = start_rollout(s, policy([{"name": "error_rate", "threshold": "< 1%"},
                                       {"name": "confidence_shift", "threshold": "< 0.1"}],
                                      windows=("1h", "1h", "1h")))
        ro = wait_state(s, rid, "rolled_back")
        fail = breach_of(ro, "confidence_shift")
        check(fail["value"] > 0.1, fail)
        ok = [a for a in ro["analysis"] if a["metric"] == "error_rate" and a["arm"] == "canary"]
        eq(ok[0]["result"], "pass", "only the confidence fault was injected")
        rolled_back_everywhere(sim)
        clean(sim.stop())


def test_install_failures_roll_back(ctx):
    s = ctx.server(env=FAST)
    with start_fleet(ctx, s, "--fault", "v2@rpi-arm64:install_fail=1") as sim:
        wait_on_v1(sim)
        pol = policy([{"name": "install_failure_rate", "threshold": "< 5%"}],
                     windows=("1h", "1h", "1h"), sizes=(0.1, 0.5, 1.0))
        rid = start_rollout(s, pol)
        ro = wait_state(s, rid, "rolled_back")
        fail = breach_of(ro, "install_failure_rate")
        check(fail["value"] > 0.05, fail)
        st = rolled_back_everywhere(sim)
        summary = sim.stop()
    check(summary["install_failures"] >= 1, summary)
    eq(summary["platforms"]["rpi-arm64"]["install_failures"], summary["install_failures"])
    eq(summary["status_errors"], 0)
    check(st["platforms"]["rpi-arm64"]["versions"] == {"ocr:v1": st["platforms"]["rpi-arm64"]["devices"]})


def test_devices_enrolled_mid_rollout_join_it(ctx):
    s = ctx.server(env=FAST)
    late = 40
    tokens = f"{ctx.tmp}/tokens"
    with start_fleet(ctx, s, "--late", late, "--tokens-out", tokens, devices=200) as sim:
        wait_on_v1(sim, n=200)
        pol = policy([{"name": "error_rate", "threshold": "< 1%"}], windows=("1h",), sizes=(1.0,))
        rid = start_rollout(s, pol, target=200)
        sim.wait(lambda st: on_version(st, "v2") == 200, timeout=20, msg="fleet on v2")
        sim.proc.send_signal(signal.SIGUSR1)   # now enroll the late devices
        st = sim.wait(lambda st: st["devices"] == 200 + late and on_version(st, "v2") == 200 + late,
                      timeout=30, msg="late devices on v2")
        ro = rollout(s, rid)
        eq(ro["state"], "progressing")
        eq(ro["devices"]["target"], 200 + late)
        eq(ro["devices"]["assigned"], 200 + late)
        summary = sim.stop()
    clean(summary)
    eq(summary["enrolled"], 200 + late)
    eq(st["versions"], {"ocr:v2": 200 + late})
    # a late device is told v2 by the rollout, not by a stable version
    lines = [ln.split() for ln in open(tokens)]
    eq(len(lines), 200 + late)
    dev, tok = lines[-1][0], lines[-1][1]
    eq(dev, "sim-000239")
    r = status(s.client(token=tok).get("/v1/agent/desired"), 200).json
    eq((r["models"][0]["version"], r["models"][0]["rollout"]["id"]), ("v2", rid))


def test_device_whose_platform_has_no_variant_is_left_alone(ctx):
    s = ctx.server(env=FAST)
    with start_fleet(ctx, s, platforms=("rpi-arm64",),
                     sim_platforms="rpi-arm64:0.8,riscv64-npu:0.2") as sim:
        st = sim.wait(lambda st: st["reports_accepted"] >= 2 * st["platforms"]["rpi-arm64"]["devices"]
                      and on_version(st, "v1") == st["platforms"]["rpi-arm64"]["devices"],
                      timeout=30, msg="rpi devices on v1")
        rpi = st["platforms"]["rpi-arm64"]["devices"]
        odd = st["platforms"]["riscv64-npu"]["devices"]
        check(odd > 0 and rpi + odd == N, st["platforms"])
        pol = policy([{"name": "error_rate", "threshold": "< 1%"}])
        rid = start_rollout(s, pol, target=rpi)
        wait_state(s, rid, "succeeded", timeout=60)
        st = sim.wait(lambda st: on_version(st, "v2") == rpi, timeout=15, msg="rpi on v2")
        summary = sim.stop()
    clean(summary)
    p = summary["platforms"]["riscv64-npu"]
    check(p["polls"] >= odd, p)
    eq(p["versions"], {"-": odd})
    eq((p["status_posts"], p["installs"], p["reports"]), (0, 0, 0))
    odd_ids = [d["id"] for d in status(s.admin.get("/v1/devices?selector=platform%3Driscv64-npu&limit=1000"),
                                       200).json["items"]]
    eq(len(odd_ids), odd)
    eq(status(s.admin.get(f"/v1/devices/{odd_ids[0]}"), 200).json["models"], {})
