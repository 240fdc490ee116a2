/*
 * serve.c - ramp-runner's HTTP front on the live model (serve.h).
 *
 *   POST /v1/infer  {"inputs": {"x": {"shape": [1, 4], "data": [...]}}}
 *                   -> {"model": {"name", "version"}, "outputs": {...}, "top": {...}}
 *   GET  /healthz   -> {"status": "ok", "model": {"name", "version"} | null}
 *   GET  /metrics   -> Prometheus text: requests, errors, latency histogram,
 *                      load time, current version, swaps, agent counters, and
 *                      requests, errors and latency per model version (what a
 *                      cloud rollout gates on through Prometheus)
 *
 * Each request takes a reference on the current model (live.h) for its whole
 * run, so a swap never fails it: it answers from the model it started on.
 * Bad tensors are answered 400 with the reason naming the input; with no
 * model installed yet /v1/infer answers 503.
 */
#include "serve.h"

#include "agent.h"
#include "common/buf.h"
#include "common/clock.h"
#include "live.h"
#include "runner.h"
#include "shadow.h"

#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERVE_MAX_BODY (64u << 20)
#define SERVE_MAX_IO 16

static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
#define NBUCKETS (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

static struct {
	struct agent *agent;
	atomic_ulong requests, errors, buckets[NBUCKETS + 1];
	atomic_ullong lat_sum_us;
} S;

/* Per model version, kept for the process's life so counters never go back;
 * the first VERSIONS_MAX versions served are counted, later ones only in
 * the totals above. */
#define VERSIONS_MAX 32
static struct vstats {
	char model[64], version[129];
	atomic_ulong requests, errors, buckets[NBUCKETS + 1];
	atomic_ullong lat_sum_us;
} V[VERSIONS_MAX];
static atomic_size_t nversions;
static pthread_mutex_t versions_mu = PTHREAD_MUTEX_INITIALIZER;

static struct vstats *vstats_for(const char *model, const char *version)
{
	size_t n = atomic_load(&nversions), i;
	struct vstats *v = NULL;

	for (i = 0; i < n; i++)
		if (strcmp(V[i].version, version) == 0 && strcmp(V[i].model, model) == 0)
			return &V[i];
	pthread_mutex_lock(&versions_mu);
	n = atomic_load(&nversions);
	for (i = 0; i < n && !v; i++)
		if (strcmp(V[i].version, version) == 0 && strcmp(V[i].model, model) == 0)
			v = &V[i];
	if (!v && n < VERSIONS_MAX) {
		v = &V[n];
		snprintf(v->model, sizeof(v->model), "%s", model);
		snprintf(v->version, sizeof(v->version), "%s", version);
		atomic_store(&nversions, n + 1); /* published after its names */
	}
	pthread_mutex_unlock(&versions_mu);
	return v;
}

static void vstats_observe(const struct live_model *lm, double secs, int error)
{
	struct vstats *v = vstats_for(lm->name, lm->version);
	size_t b = 0;

	if (v == NULL)
		return;
	while (b < NBUCKETS && secs > lat_bounds[b])
		b++;
	atomic_fetch_add(&v->requests, 1);
	if (error)
		atomic_fetch_add(&v->errors, 1);
	atomic_fetch_add(&v->buckets[b], 1);
	atomic_fetch_add(&v->lat_sum_us, (unsigned long long)(secs * 1e6));
}

/* A label value as the text format wants it: \, \" and \n escaped. */
static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f), fputc(*s, f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void labels(FILE *f, const struct vstats *v, const char *le)
{
	fputs("{model=\"", f);
	label_value(f, v->model);
	fputs("\",version=\"", f);
	label_value(f, v->version);
	fputc('"', f);
	if (le)
		fprintf(f, ",le=\"%s\"", le);
	fputc('}', f);
}

static void metrics_versions(FILE *f)
{
	size_t n = atomic_load(&nversions);

	fprintf(f, "# HELP ramp_runner_model_requests_total Inference requests answered, by model "
		   "version.\n# TYPE ramp_runner_model_requests_total counter\n");
	for (size_t i = 0; i < n; i++) {
		fputs("ramp_runner_model_requests_total", f);
		labels(f, &V[i], NULL);
		fprintf(f, " %lu\n", atomic_load(&V[i].requests));
	}
	fprintf(f, "# HELP ramp_runner_model_errors_total Inference requests that failed, by model "
		   "version.\n# TYPE ramp_runner_model_errors_total counter\n");
	for (size_t i = 0; i < n; i++) {
		fputs("ramp_runner_model_errors_total", f);
		labels(f, &V[i], NULL);
		fprintf(f, " %lu\n", atomic_load(&V[i].errors));
	}
	fprintf(f, "# HELP ramp_runner_model_request_duration_seconds Inference latency, by model "
		   "version.\n# TYPE ramp_runner_model_request_duration_seconds histogram\n");
	for (size_t i = 0; i < n; i++) {
		unsigned long cum = 0;
		char le[32];

		for (size_t b = 0; b <= NBUCKETS; b++) {
			cum += atomic_load(&V[i].buckets[b]);
			if (b < NBUCKETS)
				snprintf(le, sizeof(le), "%g", lat_bounds[b]);
			else
				snprintf(le, sizeof(le), "+Inf");
			fputs("ramp_runner_model_request_duration_seconds_bucket", f);
			labels(f, &V[i], le);
			fprintf(f, " %lu\n", cum);
		}
		fputs("ramp_runner_model_request_duration_seconds_sum", f);
		labels(f, &V[i], NULL);
		fprintf(f, " %.6f\n", (double)atomic_load(&V[i].lat_sum_us) / 1e6);
		fputs("ramp_runner_model_request_duration_seconds_count", f);
		labels(f, &V[i], NULL);
		fprintf(f, " %lu\n", cum);
	}
}

struct body {
	struct buf in; /* capped at SERVE_MAX_BODY */
	int too_big;
};

/* What one inference produced, for the counters. */
struct outcome {
	int error;
	double confidence;	/* NAN when the answer has no top class */
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

static enum MHD_Result problem(struct MHD_Connection *conn, unsigned status, const char *detail,
			       struct outcome *oc)
{
	const char *title = status == 400 ? "bad tensor" : status == 503 ? "no model" : "error";
	atomic_fetch_add(&S.errors, 1);
	oc->error = 1;
	return reply_json(conn, status, json_pack("{s:s, s:i, s:s}", "title", title, "status",
						  (int)status, "detail", detail));
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

/*
 * The top class of a (1, K) float output, for classifiers.  Its confidence
 * is the probability itself when the output is a distribution, else the
 * softmax of the logits.
 */
static json_t *top_json(const struct runner_tensor *t, double *confidence)
{
	size_t n = runner_numel(t);
	int best;

	if (t->dtype != RUNNER_FLOAT || n < 2 || n != (size_t)t->dims[t->ndim - 1])
		return NULL;
	best = shadow_top1(t->data, n, confidence);
	return json_pack("{s:i, s:f}", "class", best, "confidence", *confidence);
}

/* {"name", "version"}, always both: the name is "" without a controller */
static json_t *model_json(const struct live_model *lm)
{
	return json_pack("{s:s, s:s}", "name", lm->name, "version", lm->version);
}

/* Parses the request's inputs for lm; 0, or -1 with why (in[] freed by the caller). */
static int read_inputs(const struct body *b, struct live_model *lm, struct runner_tensor *in,
		       char *why, size_t wl)
{
	json_error_t jerr;
	size_t nin = runner_model_ninputs(lm->model);
	json_t *req = json_loadb(b->in.p ? b->in.p : "", b->in.len, 0, &jerr);
	json_t *inputs = json_object_get(req, "inputs");
	int bad = 0;

	if (!json_is_object(inputs))
		bad = -1, snprintf(why, wl, "inputs: a JSON object of named tensors is required");
	else if (nin > SERVE_MAX_IO || runner_model_noutputs(lm->model) > SERVE_MAX_IO)
		bad = -1, snprintf(why, wl, "model: too many inputs or outputs");
	for (size_t i = 0; !bad && i < nin; i++) {
		struct runner_tensor want;
		const char *name = runner_model_input(lm->model, i, &want);
		bad = read_input(inputs, name, &want, &in[i], why, wl);
	}
	json_decref(req);
	return bad;
}

static enum MHD_Result answer(struct MHD_Connection *conn, struct live_model *lm,
			      struct runner_tensor *out, struct outcome *oc)
{
	size_t nout = runner_model_noutputs(lm->model);
	json_t *outs = json_object(), *top = NULL;

	for (size_t i = 0; i < nout; i++) {
		struct runner_tensor shape;
		json_object_set_new(outs, runner_model_output(lm->model, i, &shape), tensor_json(&out[i]));
		if (!top)
			top = top_json(&out[i], &oc->confidence);
	}
	json_t *res = json_pack("{s:o, s:o}", "model", model_json(lm), "outputs", outs);
	if (top)
		json_object_set_new(res, "top", top);
	return reply_json(conn, 200, res);
}

static enum MHD_Result infer_on(struct MHD_Connection *conn, const struct body *b,
				struct live_model *lm, struct outcome *oc)
{
	char why[300];
	struct runner_tensor in[SERVE_MAX_IO] = {0}, out[SERVE_MAX_IO];
	struct runner_err err;
	struct runner_ctx *c = NULL;
	enum MHD_Result rc;
	int bad = read_inputs(b, lm, in, why, sizeof(why));

	if (!bad && (c = live_ctx_get(lm)) == NULL)
		bad = 1, snprintf(why, sizeof(why), "out of memory");
	if (!bad && runner_run(c, in, runner_model_ninputs(lm->model), out,
			       runner_model_noutputs(lm->model), &err))
		bad = 1, snprintf(why, sizeof(why), "%s", err.msg);
	if (!bad) /* a sampled share goes to the shadow candidate, off this path */
		shadow_offer(in, runner_model_ninputs(lm->model), out,
			     runner_model_noutputs(lm->model), lm->label);
	for (size_t i = 0; i < SERVE_MAX_IO; i++)
		free(in[i].data);
	rc = bad ? problem(conn, 400, why, oc) : answer(conn, lm, out, oc);
	if (c)
		live_ctx_put(lm, c); /* after the answer is built: out points into c's arena */
	return rc;
}

static enum MHD_Result infer(struct MHD_Connection *conn, const struct body *b, struct outcome *oc)
{
	struct live_model *lm;
	enum MHD_Result rc;
	double t0 = clock_mono_s();

	if (b->too_big)
		return problem(conn, 413, "body: larger than 64 MiB", oc);
	if ((lm = live_acquire()) == NULL)
		return problem(conn, 503, "model: no model is installed yet", oc);
	rc = infer_on(conn, b, lm, oc);
	stats_observe(lm->stats, (clock_mono_s() - t0) * 1e3, oc->error, oc->confidence);
	vstats_observe(lm, clock_mono_s() - t0, oc->error);
	live_release(lm);
	return rc;
}

static void counter(FILE *f, const char *name, const char *help, unsigned long v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %lu\n", name, help, name, name, v);
}

static void metrics_agent(FILE *f)
{
	struct agent_counters *c;

	if (S.agent == NULL)
		return;
	c = agent_counters(S.agent);
	counter(f, "ramp_runner_agent_polls_total", "Polls of the controller.",
		atomic_load(&c->polls));
	counter(f, "ramp_runner_agent_downloads_total", "Model files downloaded.",
		atomic_load(&c->downloads));
	counter(f, "ramp_runner_agent_download_bytes_total", "Bytes downloaded.",
		atomic_load(&c->download_bytes));
	counter(f, "ramp_runner_agent_resumed_downloads_total",
		"Downloads resumed with a Range request.", atomic_load(&c->resumes));
	counter(f, "ramp_runner_agent_installs_total", "Model versions installed.",
		atomic_load(&c->installs));
	counter(f, "ramp_runner_agent_swaps_back_total",
		"Instant rollbacks to the previous version.", atomic_load(&c->swaps_back));
	counter(f, "ramp_runner_agent_failures_total",
		"Failed downloads, verifications or installs.", atomic_load(&c->failures));
	counter(f, "ramp_runner_agent_telemetry_reports_total", "Telemetry reports sent.",
		atomic_load(&c->telemetry_reports));
	counter(f, "ramp_runner_agent_delta_installs_total",
		"Versions installed from a delta (docs/deltas.md).", atomic_load(&c->delta_installs));
	counter(f, "ramp_runner_agent_delta_fallbacks_total",
		"Deltas not used: the full file was downloaded instead.",
		atomic_load(&c->delta_fallbacks));
	counter(f, "ramp_runner_agent_delta_bytes_saved_total",
		"Full file bytes minus delta bytes, per install from a delta.",
		atomic_load(&c->delta_bytes_saved));
}

static char *metrics_text(void)
{
	char *s = NULL;
	size_t len = 0;
	unsigned long cum = 0, runs, dropped;
	struct live_model *lm = live_acquire();
	FILE *f = open_memstream(&s, &len);

	if (f == NULL) {
		live_release(lm);
		return NULL;
	}
	counter(f, "ramp_runner_requests_total", "Inference requests answered.",
		atomic_load(&S.requests));
	counter(f, "ramp_runner_errors_total", "Inference requests that failed.",
		atomic_load(&S.errors));
	fprintf(f,
		"# HELP ramp_runner_model_load_seconds How long the current model took to load.\n"
		"# TYPE ramp_runner_model_load_seconds gauge\n"
		"ramp_runner_model_load_seconds %.6f\n",
		lm ? lm->load_ms / 1e3 : 0.0);
	counter(f, "ramp_runner_model_swaps_total", "Models swapped in (the first load counts).",
		live_swaps());
	fprintf(f, "# HELP ramp_runner_model_info The model being served (name is empty without a "
		   "controller).\n"
		   "# TYPE ramp_runner_model_info gauge\n");
	if (lm)
		fprintf(f, "ramp_runner_model_info{name=\"%s\",version=\"%s\"} 1\n", lm->name,
			lm->version);
	fprintf(f, "# HELP ramp_runner_latency_seconds Inference latency.\n"
		   "# TYPE ramp_runner_latency_seconds histogram\n");
	for (size_t i = 0; i <= NBUCKETS; i++) {
		cum += atomic_load(&S.buckets[i]);
		if (i < NBUCKETS)
			fprintf(f, "ramp_runner_latency_seconds_bucket{le=\"%g\"} %lu\n", lat_bounds[i], cum);
		else
			fprintf(f, "ramp_runner_latency_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
	}
	fprintf(f, "ramp_runner_latency_seconds_sum %.6f\nramp_runner_latency_seconds_count %lu\n",
		(double)atomic_load(&S.lat_sum_us) / 1e6, cum);
	metrics_versions(f);
	shadow_counts(&runs, &dropped);
	counter(f, "ramp_runner_shadow_runs_total", "Shadow runs of a candidate.", runs);
	counter(f, "ramp_runner_shadow_dropped_total", "Shadow runs dropped: queue full.", dropped);
	metrics_agent(f);
	fclose(f);
	live_release(lm);
	return s;
}

static char *healthz_text(void)
{
	struct live_model *lm = live_acquire();
	json_t *j = json_pack("{s:s, s:o}", "status", "ok", "model", lm ? model_json(lm) : json_null());
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	live_release(lm);
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
		buf_init(&b->in, SERVE_MAX_BODY);
		*state = b;
		return MHD_YES;
	}
	if (*size) {
		if (!b->too_big && buf_append(&b->in, data, *size) != 0) {
			if (b->in.len + *size <= SERVE_MAX_BODY)
				return MHD_NO; /* out of memory */
			b->too_big = 1;
		}
		*size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/healthz") == 0 && strcmp(method, "GET") == 0) {
		char *h = healthz_text();
		return h ? reply(conn, 200, "application/json", h) : MHD_NO;
	}
	if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
		char *m = metrics_text();
		return m ? reply(conn, 200, "text/plain; version=0.0.4", m) : MHD_NO;
	}
	struct outcome oc = {0, NAN};
	if (strcmp(url, "/v1/infer") == 0 && strcmp(method, "POST") == 0) {
		double t0 = clock_mono_s();
		atomic_fetch_add(&S.requests, 1);
		enum MHD_Result rc = infer(conn, b, &oc);
		observe(clock_mono_s() - t0);
		return rc;
	}
	return problem(conn, 404, "no such route", &oc);
}

static void completed(void *cls, struct MHD_Connection *conn, void **state,
		      enum MHD_RequestTerminationCode toe)
{
	struct body *b = *state;
	if (b) {
		buf_free(&b->in);
		free(b);
	}
	*state = NULL;
}

int serve_parse_listen(const char *s, struct sockaddr_in *sa)
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

void *serve_start(const struct sockaddr_in *sa, unsigned threads, struct agent *agent)
{
	S.agent = agent;
	runner_ops(); /* builds the sorted list before threads start */
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
				handle, NULL, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)sa,
				MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED,
				completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
				MHD_OPTION_END); /* no SO_REUSEPORT: a taken port fails */
}

void serve_stop(void *daemon)
{
	if (daemon)
		MHD_stop_daemon(daemon);
}
