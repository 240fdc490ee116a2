/*
 * serve.c - `ramp-runner --model FILE --listen ADDR:PORT`: serves one local
 * model over HTTP with no controller.
 *
 *   POST /v1/infer  {"inputs": {"x": {"shape": [1, 4], "data": [...]}}}
 *                   -> {"model": {...}, "outputs": {...}, "top": {...}}
 *   GET  /healthz   -> {"status": "ok"}
 *   GET  /metrics   -> Prometheus text: requests, errors, latency histogram, load time
 *
 * libmicrohttpd runs a pool of threads; each thread lazily creates its own
 * runner_ctx (a pthread key frees it), so the shared model is only read.
 * Bad tensors are answered 400 with the reason naming the input.
 */
#include "runner.h"

#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define SERVE_MAX_BODY (64u << 20)
#define SERVE_MAX_IO 16

int runner_serve_main(int argc, char **argv);

static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
#define NBUCKETS (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

static struct {
	struct runner_model *model;
	const char *path;
	double load_seconds;
	pthread_key_t ctx_key;
	atomic_ulong requests, errors, buckets[NBUCKETS + 1];
	atomic_ullong lat_sum_us;
} S;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ctx_free(void *c)
{
	runner_ctx_free(c);
}

struct body {
	char *buf;
	size_t len;
	int too_big;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", type);
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return reply(conn, status, "application/json", s ? s : strdup("{}"));
}

static enum MHD_Result problem(struct MHD_Connection *conn, unsigned status, const char *detail)
{
	atomic_fetch_add(&S.errors, 1);
	return reply_json(conn, status,
			  json_pack("{s:s, s:i, s:s}", "title", status == 400 ? "bad tensor" : "error",
				    "status", (int)status, "detail", detail));
}

/* Flattens nested arrays of numbers into data, checking the shape; 0 or -1. */
static int flatten(json_t *j, const struct runner_tensor *want, int depth, float *data, size_t *n,
		   char *why, size_t wl)
{
	if (depth == want->ndim) {
		if (!json_is_number(j))
			return snprintf(why, wl, "element %zu is not a number", *n), -1;
		double v = json_number_value(j);
		if (!isfinite(v) || fabs(v) > 3.4e38)
			return snprintf(why, wl, "element %zu is not a finite float", *n), -1;
		data[(*n)++] = (float)v;
		return 0;
	}
	if (!json_is_array(j) || (int64_t)json_array_size(j) != want->dims[depth])
		return snprintf(why, wl, "axis %d must have %lld entries", depth,
				(long long)want->dims[depth]), -1;
	for (size_t i = 0; i < json_array_size(j); i++)
		if (flatten(json_array_get(j, i), want, depth + 1, data, n, why, wl))
			return -1;
	return 0;
}

/* Reads input `name` from the request into t (data malloc'd); 0 or -1 with why. */
static int read_input(json_t *inputs, const char *name, const struct runner_tensor *want,
		      struct runner_tensor *t, char *why, size_t wl)
{
	char sub[200];
	json_t *v = json_object_get(inputs, name), *shape = json_object_get(v, "shape");
	if (!v)
		return snprintf(why, wl, "inputs.%s: missing", name), -1;
	if (want->dtype != RUNNER_FLOAT)
		return snprintf(why, wl, "inputs.%s: only float inputs are served", name), -1;
	*t = *want;
	size_t n = 0, cap = runner_numel(want);
	t->data = malloc(cap * sizeof(float) + 1);
	if (!t->data)
		return snprintf(why, wl, "inputs.%s: too large", name), -1;
	json_t *data = json_is_object(v) ? json_object_get(v, "data") : v;
	struct runner_tensor flat = *want;
	if (shape) { /* flat data + shape: the shape must be the model's */
		if (!json_is_array(shape) || (int)json_array_size(shape) != want->ndim)
			return snprintf(why, wl, "inputs.%s.shape: rank must be %d", name, want->ndim), -1;
		for (int i = 0; i < want->ndim; i++)
			if (json_integer_value(json_array_get(shape, (size_t)i)) != want->dims[i])
				return snprintf(why, wl, "inputs.%s.shape[%d]: must be %lld", name, i,
						(long long)want->dims[i]), -1;
		flat.ndim = 1;
		flat.dims[0] = (int64_t)cap;
	}
	if (flatten(data, &flat, 0, t->data, &n, sub, sizeof(sub)))
		return snprintf(why, wl, "inputs.%s.data: %s", name, sub), -1;
	return 0;
}

static json_t *tensor_json(const struct runner_tensor *t)
{
	json_t *shape = json_array(), *data = json_array();
	for (int i = 0; i < t->ndim; i++)
		json_array_append_new(shape, json_integer(t->dims[i]));
	size_t n = runner_numel(t);
	for (size_t i = 0; i < n; i++) {
		switch (t->dtype) {
		case RUNNER_FLOAT: json_array_append_new(data, json_real(((float *)t->data)[i])); break;
		case RUNNER_UINT8: json_array_append_new(data, json_integer(((uint8_t *)t->data)[i])); break;
		case RUNNER_INT8: json_array_append_new(data, json_integer(((int8_t *)t->data)[i])); break;
		case RUNNER_INT32: json_array_append_new(data, json_integer(((int32_t *)t->data)[i])); break;
		default: json_array_append_new(data, json_integer(((int64_t *)t->data)[i])); break;
		}
	}
	return json_pack("{s:o, s:o}", "shape", shape, "data", data);
}

/* The top class of a (1, K) float output, for classifiers. */
static json_t *top_json(const struct runner_tensor *t)
{
	size_t n = runner_numel(t);
	if (t->dtype != RUNNER_FLOAT || n < 2 || n != (size_t)t->dims[t->ndim - 1])
		return NULL;
	const float *p = t->data;
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (p[i] > p[best])
			best = i;
	return json_pack("{s:i, s:f}", "class", (int)best, "confidence", (double)p[best]);
}

static enum MHD_Result infer(struct MHD_Connection *conn, const struct body *b)
{
	char why[300];
	json_error_t jerr;
	struct runner_tensor in[SERVE_MAX_IO] = {0}, out[SERVE_MAX_IO];
	struct runner_err err;
	size_t nin = runner_model_ninputs(S.model), nout = runner_model_noutputs(S.model);
	if (b->too_big)
		return problem(conn, 413, "body: larger than 64 MiB");
	json_t *req = json_loadb(b->buf ? b->buf : "", b->len, 0, &jerr), *inputs = json_object_get(req, "inputs");
	if (!json_is_object(inputs)) {
		json_decref(req);
		return problem(conn, 400, "inputs: a JSON object of named tensors is required");
	}
	int bad = nin > SERVE_MAX_IO || nout > SERVE_MAX_IO;
	snprintf(why, sizeof(why), "model: too many inputs or outputs");
	for (size_t i = 0; !bad && i < nin; i++) {
		struct runner_tensor want;
		const char *name = runner_model_input(S.model, i, &want);
		bad = read_input(inputs, name, &want, &in[i], why, sizeof(why));
	}
	json_decref(req);
	struct runner_ctx *c = pthread_getspecific(S.ctx_key);
	if (!bad && !c && (c = runner_ctx_new(S.model)))
		pthread_setspecific(S.ctx_key, c);
	if (!bad && !c)
		bad = 1, snprintf(why, sizeof(why), "out of memory");
	if (!bad && runner_run(c, in, nin, out, nout, &err))
		bad = 1, snprintf(why, sizeof(why), "%s", err.msg);
	for (size_t i = 0; i < nin; i++)
		free(in[i].data);
	if (bad)
		return problem(conn, 400, why);
	json_t *outs = json_object(), *top = NULL;
	for (size_t i = 0; i < nout; i++) {
		struct runner_tensor shape;
		json_object_set_new(outs, runner_model_output(S.model, i, &shape), tensor_json(&out[i]));
		if (!top)
			top = top_json(&out[i]);
	}
	json_t *res = json_pack("{s:{s:s}, s:o}", "model", "version", S.path, "outputs", outs);
	if (top)
		json_object_set_new(res, "top", top);
	return reply_json(conn, 200, res);
}

static char *metrics_text(void)
{
	size_t cap = 4096, len = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	unsigned long cum = 0, req = atomic_load(&S.requests);
	len += (size_t)snprintf(s + len, cap - len,
				"ramp_runner_requests_total %lu\nramp_runner_errors_total %lu\n"
				"ramp_runner_model_load_seconds %.6f\n", req, atomic_load(&S.errors),
				S.load_seconds);
	for (size_t i = 0; i <= NBUCKETS; i++) {
		cum += atomic_load(&S.buckets[i]);
		if (i < NBUCKETS)
			len += (size_t)snprintf(s + len, cap - len,
						"ramp_runner_latency_seconds_bucket{le=\"%g\"} %lu\n",
						lat_bounds[i], cum);
		else
			len += (size_t)snprintf(s + len, cap - len,
						"ramp_runner_latency_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
	}
	snprintf(s + len, cap - len,
		 "ramp_runner_latency_seconds_sum %.6f\nramp_runner_latency_seconds_count %lu\n",
		 (double)atomic_load(&S.lat_sum_us) / 1e6, cum);
	return s;
}

static void observe(double secs)
{
	size_t b = 0;
	while (b < NBUCKETS && secs > lat_bounds[b])
		b++;
	atomic_fetch_add(&S.buckets[b], 1);
	atomic_fetch_add(&S.lat_sum_us, (unsigned long long)(secs * 1e6));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **state)
{
	struct body *b = *state;
	if (!b) {
		if (!(b = calloc(1, sizeof(*b))))
			return MHD_NO;
		*state = b;
		return MHD_YES;
	}
	if (*size) {
		if (b->len + *size > SERVE_MAX_BODY) {
			b->too_big = 1;
		} else if (!b->too_big) {
			char *nb = realloc(b->buf, b->len + *size + 1);
			if (!nb)
				return MHD_NO;
			memcpy(nb + b->len, data, *size);
			b->buf = nb;
			b->len += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/healthz") == 0 && strcmp(method, "GET") == 0)
		return reply(conn, 200, "application/json", strdup("{\"status\":\"ok\"}"));
	if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
		char *m = metrics_text();
		return m ? reply(conn, 200, "text/plain; version=0.0.4", m) : MHD_NO;
	}
	if (strcmp(url, "/v1/infer") == 0 && strcmp(method, "POST") == 0) {
		double t0 = now_s();
		atomic_fetch_add(&S.requests, 1);
		enum MHD_Result rc = infer(conn, b);
		observe(now_s() - t0);
		return rc;
	}
	return problem(conn, 404, "no such route");
}

static void completed(void *cls, struct MHD_Connection *conn, void **state,
		      enum MHD_RequestTerminationCode toe)
{
	struct body *b = *state;
	if (b) {
		free(b->buf);
		free(b);
	}
	*state = NULL;
}

/* Parses "ADDR:PORT" into sa; 0 or -1. */
static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int runner_serve_main(int argc, char **argv)
{
	const char *model = NULL, *listen = NULL;
	unsigned threads = 2;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--model") == 0)
			model = argv[i + 1];
		else if (strcmp(argv[i], "--listen") == 0)
			listen = argv[i + 1];
		else if (strcmp(argv[i], "--threads") == 0)
			threads = (unsigned)strtoul(argv[i + 1], NULL, 10);
	}
	struct sockaddr_in sa;
	if (!model || !listen || parse_listen(listen, &sa) || threads < 1 || threads > 256) {
		fprintf(stderr, "usage: ramp-runner --model FILE --listen ADDR:PORT [--threads N]\n");
		return 2;
	}
	struct runner_err err = {0};
	double t0 = now_s();
	S.model = runner_model_load_file(model, NULL, 0, &err);
	if (!S.model) {
		fprintf(stderr, "ramp-runner: %s\n", err.msg);
		return 1;
	}
	S.load_seconds = now_s() - t0;
	S.path = model;
	pthread_key_create(&S.ctx_key, ctx_free);
	runner_ops(); /* builds the sorted list before threads start */
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handle, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "ramp-runner: cannot listen on %s\n", listen);
		runner_model_free(S.model);
		return 1;
	}
	fprintf(stderr, "ramp-runner: serving %s on %s (load %.3f s)\n", model, listen, S.load_seconds);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	runner_model_free(S.model);
	return 0;
}
