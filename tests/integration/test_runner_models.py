"""Models built at test time with Debian's python3-onnx (tests/runner/models.py)
give what numpy computes for the same weights, within ONNX's backend
tolerance: an MLP (Gemm with transB, Relu, Softmax) and a CNN (Conv with
padding, Relu, MaxPool, GlobalAveragePool, Flatten, Gemm, Softmax)."""
import os
import subprocess

from ramp import Skip, eq
from runners import DEBIAN_PYTHON, MODELS_PY


def run_against_numpy(ctx, kind):
    d = os.path.join(ctx.tmp, kind)
    p = subprocess.run([DEBIAN_PYTHON, MODELS_PY, "testdir", d, kind], capture_output=True, text=True)
    if "No module named" in p.stderr:
        raise Skip("Debian's python3-onnx and python3-numpy are not installed")
    eq(p.returncode, 0, p.stderr)
    r = subprocess.run([os.path.join(ctx.build, "ramp-runner"), "test", d], capture_output=True, text=True)
    eq((r.returncode, r.stdout.strip()), (0, f"ok {d}"))


def test_runner_mlp_matches_numpy(ctx):
    run_against_numpy(ctx, "mlp")


def test_runner_cnn_matches_numpy(ctx):
    run_against_numpy(ctx, "cnn")
