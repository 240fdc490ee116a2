"""server/ folders include only what sits below them in the flow
(DESIGN.md; tests/tools/include_graph.py holds the allowed edges)."""
import os
import subprocess
import sys
import tempfile

from ramp import ROOT, check

TOOL = os.path.join(ROOT, "tests", "tools", "include_graph.py")


def _graph(server_dir):
    return subprocess.run([sys.executable, TOOL, server_dir], capture_output=True, text=True,
                          timeout=60)


def test_server_includes_point_down_the_flow(ctx):
    p = _graph(os.path.join(ROOT, "server"))
    check(p.returncode == 0, f"include graph against the flow:\n{p.stdout}{p.stderr}")
    check("api -> " in p.stdout, f"no graph printed:\n{p.stdout}")


def test_include_graph_refuses_an_upward_include(ctx):
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "http"))
        os.makedirs(os.path.join(d, "api"))
        with open(os.path.join(d, "api", "a.h"), "w") as f:
            f.write('#include "http/h.h"\n')
        with open(os.path.join(d, "http", "h.c"), "w") as f:
            f.write('#include "api/a.h"\n')
        p = _graph(d)
        check(p.returncode == 1, f"an http -> api include passed:\n{p.stdout}")
        check("http/h.c" in p.stdout and "http may not include api" in p.stdout, p.stdout)
