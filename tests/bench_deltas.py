#!/usr/bin/env python3
"""Deltas on realistic model pairs: size against the full file, rampd's build
time, the device's apply time on one core.

Three pairs of ONNX models are made here with numpy and onnx (Debian's
python3-numpy, python3-onnx), each weights-heavy like a real CNN:
  retrain    a 5-conv CNN (float32) and the same with its last layer (Gemm
             1000x512 and bias) re-trained: new weights, everything else equal
  requant    the same CNN quantized to int8 (QuantizeLinear/DequantizeLinear,
             per-tensor scale = max|w|/127) and re-quantized with a new
             calibration (scale = 99.9th percentile |w|/127, clipped): every
             layer's bytes move a little
  unrelated  two CNNs of another shape and seed
For each pair a rampd on loopback (its own embedded PostgreSQL) gets both
versions into its artifact store with signed manifests and a rollout from v1
to v2; its delta builder (RAMP_DELTA_* defaults: level 3, window log cap 28)
makes the delta in the background and records build_ms. The apply time is
the agent's own code (common/zpatch.c via build/tools/zpatch-tool) pinned to
one core with taskset, applying the stored delta to v1; the result's sha256
must be v2's. A pair whose delta is no smaller than the file is not kept by
rampd; its row shows the size the same code gives (zpatch-tool make).

  python3 tests/bench_deltas.py [--build build] [--scale 1]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import types

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # Debian's packages live under the system interpreter
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("bench_deltas: needs python3-numpy and python3-onnx (apt-get install them)")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from benchlib import Rampd, scratch  # noqa: E402
from ramp import status  # noqa: E402
from fleet import Signer  # noqa: E402
from runners import publish  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--scale", type=int, default=1, help="channel multiplier (1: about 9 MB models)")
a = ap.parse_args()
PLATFORM = "rpi-arm64"
ALL = {"stages": [{"name": "all", "size": 1.0, "validation_window": "1h"}]}


def conv_weights(rng, chans):
    ws = {}
    for i, (cin, cout) in enumerate(zip(chans, chans[1:])):
        ws[f"conv{i}.w"] = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2 / (cin * 9))).astype(np.float32)
        ws[f"conv{i}.b"] = (rng.standard_normal(cout) * 0.01).astype(np.float32)
    return ws


def fc_weights(rng, cin, classes=1000):
    return {"fc.w": (rng.standard_normal((classes, cin)) * np.sqrt(1 / cin)).astype(np.float32),
            "fc.b": (rng.standard_normal(classes) * 0.01).astype(np.float32)}


def cnn(ws, chans, quant=None):
    """An ONNX CNN over the weights ws; quant {name: scale} stores those as int8 + DequantizeLinear."""
    nodes, inits, x = [], [], "input"
    for name, w in ws.items():
        if quant and name in quant:
            q = np.clip(np.round(w / quant[name]), -127, 127).astype(np.int8)
            inits += [numpy_helper.from_array(q, name + ".q"),
                      numpy_helper.from_array(np.array(quant[name], np.float32), name + ".s"),
                      numpy_helper.from_array(np.array(0, np.int8), name + ".z")]
            nodes.append(helper.make_node("DequantizeLinear", [name + ".q", name + ".s", name + ".z"], [name]))
        else:
            inits.append(numpy_helper.from_array(w, name))
    for i in range(len(chans) - 1):
        nodes += [helper.make_node("Conv", [x, f"conv{i}.w", f"conv{i}.b"], [f"c{i}"], pads=[1, 1, 1, 1],
                                   strides=[2, 2]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x = f"r{i}"
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1)]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, chans[0], 224, 224])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="ramp-bench")
    onnx.checker.check_model(m)
    return m.SerializeToString()


def pairs():
    k = a.scale
    chans = [3, 32 * k, 64 * k, 128 * k, 256 * k, 512 * k]
    rng = np.random.default_rng(1)
    base = {**conv_weights(rng, chans), **fc_weights(rng, chans[-1])}
    retrained = {**base, **fc_weights(np.random.default_rng(2), chans[-1])}
    out = {"retrain": (cnn(base, chans), cnn(retrained, chans))}
    qnames = [n for n in base if n.endswith(".w")]
    q1 = {n: float(np.abs(base[n]).max() / 127) for n in qnames}
    q2 = {n: float(np.percentile(np.abs(base[n]), 99.9) / 127) for n in qnames}
    out["requant"] = (cnn(base, chans, q1), cnn(base, chans, q2))
    other = [3, 48 * k, 96 * k, 192 * k, 384 * k, 512 * k]
    r3 = np.random.default_rng(3)
    out["unrelated"] = (cnn(base, chans), cnn({**conv_weights(r3, other), **fc_weights(r3, other[-1])}, other))
    return out


tmp = scratch("ramp-bd-")
bench = Rampd(a.build, tmp, RAMP_DELTA_INTERVAL="1")
c, s = bench.c, bench.s
signer = Signer(types.SimpleNamespace(tmp=tmp), s)


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def failures():
    text = status(c.get("/metrics"), 200).body.decode()
    return float(text.split("\nramp_deltas_build_failures_total ")[1].split()[0])


def tool(*args):
    out = subprocess.run(["taskset", "-c", "0", os.path.join(a.build, "tools", "zpatch-tool"), *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


rows = []
for name, (v1, v2) in pairs().items():
    publish(s, signer, name, "v1", v1, stable=True, platform=PLATFORM)
    publish(s, signer, name, "v2", v2, platform=PLATFORM)
    before = failures()
    t0 = time.time()
    status(c.post("/v1/rollouts", {"model": name, "version": "v2", "policy": ALL}), 201)
    found = None
    while found is None and time.time() - t0 < 900:
        found = next((d for d in status(c.get("/v1/deltas?limit=1000"), 200).json["items"]
                      if d["from"] == sha(v1) and d["to"] == sha(v2)), None)
        if found is None and failures() > before:
            break
        time.sleep(0.2)
    p1, p2, pd, po = (os.path.join(tmp, f"{name}.{x}") for x in ("v1", "v2", "delta", "out"))
    for p, b in ((p1, v1), (p2, v2)):
        with open(p, "wb") as f:
            f.write(b)
    if found:
        d = found["digest"][7:]
        pd = os.path.join(tmp, "d", "artifacts", "sha256", d[:2], d)
        size, build_ms, note = found["size"], found["build_ms"], "built by rampd"
    else:
        m = tool("make", p1, p2, pd, "19", "28")
        size, build_ms, note = m["delta"], m["wall_s"] * 1000, "not kept by rampd (no smaller); zpatch-tool make"
    ap_ = tool("apply", p1, pd, po, "28")
    if "sha256:" + ap_["sha256"] != sha(v2):
        sys.exit(f"bench_deltas: {name}: the applied delta is not v2")
    rows.append((name, len(v2), size, build_ms, ap_["cpu_s"], ap_["wall_s"], note))

print("pair       full bytes  delta bytes  delta/full  rampd build  apply (1 core, cpu/wall)  note")
for n, full, size, bms, cpu, wall, note in rows:
    print(f"{n:<10} {full:>10}  {size:>11}  {100 * size / full:>8.1f}%  {bms / 1000:>9.2f} s  "
          f"{cpu:>8.3f} s / {wall:.3f} s        {note}")
