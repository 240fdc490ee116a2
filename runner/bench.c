/*
 * bench.c - `ramp-runner bench FILE [N]`: batch-1, single-thread latency of
 * runner_run() on a model (inputs uniform in [-1, 1], 10% warm-up runs),
 * printed as "p50_us P p99_us P mean_us M runs N".  tests/bench_runner.py
 * puts it beside onnxruntime on the same models.
 */
#include "runner.h"

#include "common/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int runner_bench_main(int argc, char **argv);

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Random inputs for m; NULL on out of memory or a non-float input. */
static struct runner_tensor *inputs(const struct runner_model *m, size_t n)
{
	struct runner_tensor *in = calloc(n + 1, sizeof(*in));

	for (size_t i = 0; in && i < n; i++) {
		runner_model_input(m, i, &in[i]);
		size_t k = runner_numel(&in[i]);
		float *d = in[i].dtype == RUNNER_FLOAT ? malloc((k + 1) * sizeof(float)) : NULL;
		if (d == NULL)
			return NULL;
		for (size_t j = 0; j < k; j++)
			d[j] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
		in[i].data = d;
	}
	return in;
}

int runner_bench_main(int argc, char **argv)
{
	struct runner_err err = {0};
	long runs = argc > 3 ? strtol(argv[3], NULL, 10) : 2000;
	struct runner_model *m = runner_model_load_file(argv[2], NULL, 0, &err);
	size_t nin, nout;

	if (m == NULL || runs < 10 || runs > 10000000) {
		fprintf(stderr, "ramp-runner bench: %s\n", m ? "N must be 10 to 10000000" : err.msg);
		return 1;
	}
	nin = runner_model_ninputs(m);
	nout = runner_model_noutputs(m);
	struct runner_tensor *in = inputs(m, nin), *out = calloc(nout + 1, sizeof(*out));
	struct runner_ctx *c = runner_ctx_new(m);
	double *t = malloc((size_t)runs * sizeof(double)), sum = 0;
	if (!in || !out || !c || !t) {
		fprintf(stderr, "ramp-runner bench: out of memory or a non-float input\n");
		return 1;
	}
	for (long i = 0; i < runs / 10; i++)
		runner_run(c, in, nin, out, nout, &err);
	for (long i = 0; i < runs; i++) {
		double t0 = (clock_mono_s() * 1e6);
		if (runner_run(c, in, nin, out, nout, &err) != 0) {
			fprintf(stderr, "ramp-runner bench: %s\n", err.msg);
			return 1;
		}
		t[i] = (clock_mono_s() * 1e6) - t0;
		sum += t[i];
	}
	qsort(t, (size_t)runs, sizeof(double), cmp_double);
	printf("p50_us %.2f p99_us %.2f mean_us %.2f runs %ld\n", t[runs / 2], t[runs * 99 / 100],
	       sum / (double)runs, runs);
	return 0;
}
