#!/usr/bin/python3
"""Small ONNX models for ramp-runner's tests and benchmarks, built with
Debian's python3-onnx (run it with /usr/bin/python3: a pyenv `python3` on
PATH may not see Debian's packages).

  models.py affine OUT K        y = x * K + K on x[1,4] (the version is K)
  models.py classify OUT V      a 3-class scorer on x[1,4]: V base, agree (same class) or flip
  models.py mlp OUT             MLP 256 -> 512 -> 512 -> 10 (Gemm, Relu, Softmax)
  models.py cnn OUT             small CNN on [1,3,32,32]: 2x (Conv, Relu, MaxPool),
                                GlobalAveragePool, Flatten, Gemm, Softmax
  models.py oneop OUT           one Add on [1,1] (measures binding overhead)
  models.py unsupported OUT     a graph with Erf, which ramp-runner does not run
  models.py testdir DIR KIND    a backend-test directory: KIND's model.onnx and
                                test_data_set_0/{input,output}_0.pb with the
                                expected output computed by numpy

Weights are seeded, so every run writes the same bytes.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def model(nodes, inputs, outputs, inits):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ramp-tests")
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def affine(k):
    k = float(k)
    nodes = [helper.make_node("Mul", ["x", "k"], ["t"]), helper.make_node("Add", ["t", "k"], ["y"])]
    return model(nodes, [vi("x", [1, 4])], [vi("y", [1, 4])], [const("k", [k])])


def classify(variant):
    """A 3-class scorer on x [1, 4] (shadow runs): "base" scores x0..x2, "agree" the same
    scaled by 1.5 (same class, other confidence), "flip" the classes reversed."""
    w = np.eye(3, 4, dtype=np.float32)
    if variant == "agree":
        w = w * 1.5
    elif variant == "flip":
        w = w[::-1].copy()
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
             helper.make_node("Softmax", ["g"], ["y"], axis=1)]
    return model(nodes, [vi("x", [1, 4])], [vi("y", [1, 3])], [const("w", w), const("b", [0, 0, 0])])


def mlp_weights(rng):
    dims = [256, 512, 512, 10]
    return [(rng.standard_normal((dims[i + 1], dims[i])).astype(np.float32) / np.sqrt(dims[i]),
             (rng.standard_normal(dims[i + 1]) * 0.1).astype(np.float32)) for i in range(3)]


def mlp():
    w = mlp_weights(np.random.default_rng(7))
    nodes, inits, cur = [], [], "x"
    for i, (wi, bi) in enumerate(w):
        inits += [const(f"w{i}", wi), const(f"b{i}", bi)]
        nodes.append(helper.make_node("Gemm", [cur, f"w{i}", f"b{i}"], [f"g{i}"], transB=1))
        cur = f"g{i}"
        if i < 2:
            nodes.append(helper.make_node("Relu", [cur], [f"r{i}"]))
            cur = f"r{i}"
    nodes.append(helper.make_node("Softmax", [cur], ["y"], axis=1))
    return model(nodes, [vi("x", [1, 256])], [vi("y", [1, 10])], inits)


def mlp_ref(x):
    h = x
    for i, (wi, bi) in enumerate(mlp_weights(np.random.default_rng(7))):
        h = h @ wi.T + bi
        if i < 2:
            h = np.maximum(h, 0)
    return softmax(h)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cnn_weights(rng):
    return {"c1": (rng.standard_normal((16, 3, 3, 3)) * 0.2).astype(np.float32),
            "b1": (rng.standard_normal(16) * 0.1).astype(np.float32),
            "c2": (rng.standard_normal((32, 16, 3, 3)) * 0.1).astype(np.float32),
            "b2": (rng.standard_normal(32) * 0.1).astype(np.float32),
            "fw": (rng.standard_normal((10, 32)) * 0.3).astype(np.float32),
            "fb": (rng.standard_normal(10) * 0.1).astype(np.float32)}


def cnn():
    w = cnn_weights(np.random.default_rng(11))
    n = helper.make_node
    nodes = [n("Conv", ["x", "c1", "b1"], ["a1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             n("Relu", ["a1"], ["r1"]),
             n("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             n("Conv", ["p1", "c2", "b2"], ["a2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             n("Relu", ["a2"], ["r2"]),
             n("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
             n("GlobalAveragePool", ["p2"], ["gp"]),
             n("Flatten", ["gp"], ["f"]),
             n("Gemm", ["f", "fw", "fb"], ["logits"], transB=1),
             n("Softmax", ["logits"], ["y"], axis=1)]
    inits = [const(k, v) for k, v in w.items()]
    return model(nodes, [vi("x", [1, 3, 32, 32])], [vi("y", [1, 10])], inits)


def conv_ref(x, w, b):
    """3x3 convolution, stride 1, padding 1, NCHW, by shifted sums."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd), dtype=np.float64)
    for i in range(3):
        for j in range(3):
            patch = xp[:, :, i:i + h, j:j + wd]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out + b[None, :, None, None]


def pool_ref(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def cnn_ref(x):
    w = cnn_weights(np.random.default_rng(11))
    h = pool_ref(np.maximum(conv_ref(x, w["c1"], w["b1"]), 0))
    h = pool_ref(np.maximum(conv_ref(h, w["c2"], w["b2"]), 0))
    h = h.mean(axis=(2, 3))
    return softmax(h @ w["fw"].T + w["fb"])


def oneop():
    return model([helper.make_node("Add", ["x", "one"], ["y"])], [vi("x", [1, 1])], [vi("y", [1, 1])],
                 [const("one", [1.0])])


def unsupported():
    return model([helper.make_node("Erf", ["x"], ["y"])], [vi("x", [1, 4])], [vi("y", [1, 4])], [])


BUILDERS = {"mlp": mlp, "cnn": cnn, "oneop": oneop, "unsupported": unsupported}
REFS = {"mlp": (mlp_ref, (1, 256)), "cnn": (cnn_ref, (1, 3, 32, 32))}


def testdir(path, kind):
    ref, shape = REFS[kind]
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    y = ref(x.astype(np.float64)).astype(np.float32)
    os.makedirs(os.path.join(path, "test_data_set_0"), exist_ok=True)
    onnx.save(BUILDERS[kind](), os.path.join(path, "model.onnx"))
    for name, arr in (("input_0.pb", numpy_helper.from_array(x, "x")), ("output_0.pb", numpy_helper.from_array(y, "y"))):
        with open(os.path.join(path, "test_data_set_0", name), "wb") as f:
            f.write(arr.SerializeToString())


def main(argv):
    if len(argv) >= 3 and argv[1] == "affine":
        onnx.save(affine(argv[3]), argv[2])
    elif len(argv) == 4 and argv[1] == "classify" and argv[3] in ("base", "agree", "flip"):
        onnx.save(classify(argv[3]), argv[2])
    elif len(argv) == 3 and argv[1] in BUILDERS:
        onnx.save(BUILDERS[argv[1]](), argv[2])
    elif len(argv) == 4 and argv[1] == "testdir" and argv[3] in REFS:
        testdir(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
