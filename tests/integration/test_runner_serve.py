"""ramp-runner serving a local model (no controller): /v1/infer answers
outputs and the top class, bad tensors get 400 naming the input, /metrics
counts requests and errors.  The model is ONNX's own Softmax example from
Debian's libonnx-testdata."""
import http.client
import json
import os

from ramp import Skip, check, eq, spawn_listening
from runners import check_exposition

MODEL = "/usr/share/libonnx-testdata/data/node/test_softmax_example/model.onnx"


class Runner:
    def __init__(self, ctx, model):
        if not os.path.exists(model):
            raise Skip("libonnx-testdata is not installed")
        self.log = open(os.path.join(ctx.tmp, "runner.log"), "w")

        def make_args(port):
            self.port = port
            return [os.path.join(ctx.build, "ramp-runner"), "--model", model,
                    "--listen", f"127.0.0.1:{port}"]
        self.p, self.port = spawn_listening(make_args, self.log,
                                            lambda port: self.get("/healthz")[0] == 200)

    def request(self, method, path, body=None):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            c.request(method, path, body=None if body is None else json.dumps(body))
            r = c.getresponse()
            data = r.read()
            c.close()
            return r.status, data
        except OSError:
            return 0, b""

    def get(self, path):
        return self.request("GET", path)

    def infer(self, inputs):
        st, data = self.request("POST", "/v1/infer", {"inputs": inputs})
        return st, json.loads(data) if data else None

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=30)
        self.log.close()


def test_runner_infers_softmax_and_names_the_top_class(ctx):
    r = Runner(ctx, MODEL)
    try:
        st, body = r.infer({"x": {"shape": [1, 3], "data": [-1, 0, 1]}})
        eq(st, 200)
        y = body["outputs"]["y"]
        eq(y["shape"], [1, 3])
        want = [0.09003057, 0.24472847, 0.66524096]  # softmax([-1, 0, 1])
        check(all(abs(a - b) < 1e-6 for a, b in zip(y["data"], want)), y["data"])
        eq(body["top"]["class"], 2)
        st, nested = r.infer({"x": [[-1, 0, 1]]})
        eq(st, 200)
        eq(nested["outputs"], body["outputs"])
    finally:
        r.stop()


def test_runner_refuses_bad_tensors_with_400_naming_the_input(ctx):
    r = Runner(ctx, MODEL)
    try:
        st, body = r.infer({"x": {"shape": [1, 4], "data": [1, 2, 3, 4]}})
        eq(st, 400)
        check("inputs.x.shape[1]" in body["detail"], body)
        st, body = r.infer({"x": [[1, "two", 3]]})
        eq(st, 400)
        check("inputs.x.data" in body["detail"], body)
        st, body = r.infer({"y": [[1, 2, 3]]})
        eq(st, 400)
        check("inputs.x: missing" in body["detail"], body)
        st, _ = r.request("POST", "/v1/infer", None)
        eq(st, 400)
        st, m = r.get("/metrics")
        eq(st, 200)
        check(b"ramp_runner_requests_total 4\n" in m, m)
        check(b"ramp_runner_errors_total 4\n" in m, m)
        # per model version too: all four were answered by the model's version
        labels = f'{{model="",version="{MODEL}"}}'.encode()
        check(b"ramp_runner_model_requests_total" + labels + b" 4\n" in m, m)
        check(b"ramp_runner_model_errors_total" + labels + b" 4\n" in m, m)
    finally:
        r.stop()


def test_runner_healthz_and_metrics_have_their_documented_shape(ctx):
    """docs/runner.md: /healthz is {"status": "ok", "model": {"name", "version"}}
    (the name is empty without a controller); /metrics is Prometheus text with
    # HELP and # TYPE for every family."""
    r = Runner(ctx, MODEL)
    try:
        st, body = r.get("/healthz")
        eq(st, 200)
        eq(json.loads(body), {"status": "ok", "model": {"name": "", "version": MODEL}})
        st, body = r.infer({"x": [[-1, 0, 1]]})
        eq(body["model"], {"name": "", "version": MODEL})
        st, m = r.get("/metrics")
        eq(st, 200)
        check_exposition(m)
        text = m.decode()
        for line in ("# TYPE ramp_runner_requests_total counter",
                     "# TYPE ramp_runner_latency_seconds histogram",
                     f'ramp_runner_model_info{{name="",version="{MODEL}"}} 1',
                     "# TYPE ramp_runner_model_requests_total counter",
                     "# TYPE ramp_runner_model_errors_total counter",
                     "# TYPE ramp_runner_model_request_duration_seconds histogram",
                     f'ramp_runner_model_requests_total{{model="",version="{MODEL}"}} 1',
                     f'ramp_runner_model_errors_total{{model="",version="{MODEL}"}} 0',
                     'ramp_runner_model_request_duration_seconds_bucket'
                     f'{{model="",version="{MODEL}",le="+Inf"}} 1',
                     f'ramp_runner_model_request_duration_seconds_count{{model="",version="{MODEL}"}} 1'):
            check(line in text, line)
    finally:
        r.stop()
