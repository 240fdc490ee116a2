/*
 * shadow.c - see shadow.h. Locks: Q guards the queue, the candidate and the
 * figures; the candidate runs outside it. The request path takes Q only for
 * a sampled request, and then only to push (never waits for the worker).
 */
#include "shadow.h"

#include "common/clock.h"
#include "common/log.h"

#include <math.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_IN 16
#define LAT_KEEP 4096 /* latencies kept per interval (reservoir beyond) */

struct job {
	struct runner_tensor in[MAX_IN];
	size_t nin;
	float *served; /* the served first output, NULL when not float */
	size_t nserved;
	int classes; /* served output is a (1, K) score vector */
	char label[200];
};

struct figures {
	char label[200];
	long long requests, agree, classified, errors, dropped, mad_n;
	double conf_shift_sum, mad_sum;
	double lat[LAT_KEEP];
	long long nlat;
};

static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcv = PTHREAD_COND_INITIALIZER;
static struct {
	pthread_t th;
	int started, quit;
	struct live_model *cand;
	struct job *q[SHADOW_QUEUE];
	size_t head, n;
	struct figures f;
	unsigned long runs, dropped;
	uint64_t rng;
} Q;

static _Atomic double fraction; /* 0: off */

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Whether this request is sampled: a per-thread xorshift, no lock. */
static int sampled(double f)
{
	static _Thread_local uint64_t s;

	if (f >= 1)
		return 1;
	if (s == 0)
		s = (uint64_t)(uintptr_t)&s ^ (uint64_t)(clock_mono_s() * 1e9) ^ 0x9e3779b97f4a7c15ULL;
	return (double)(next_rand(&s) >> 11) * (1.0 / 9007199254740992.0) < f;
}

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->nin; i++)
		free(j->in[i].data);
	free(j->served);
	free(j);
}

int shadow_top1(const float *p, size_t n, double *conf)
{
	size_t best = 0;
	double sum = 0, z = 0;
	int probs = 1;

	for (size_t i = 0; i < n; i++) {
		if (p[i] > p[best])
			best = i;
		probs &= p[i] >= 0 && p[i] <= 1;
		sum += p[i];
	}
	if (probs && fabs(sum - 1) < 1e-3) {
		*conf = p[best];
	} else {
		for (size_t i = 0; i < n; i++)
			z += exp((double)p[i] - p[best]);
		*conf = 1 / z;
	}
	return (int)best;
}

/* The comparison of one run, into Q.f (Q held). */
static void record(const struct job *j, const struct runner_tensor *out, double ms)
{
	struct figures *f = &Q.f;
	size_t n = out ? runner_numel(out) : 0;

	snprintf(f->label, sizeof(f->label), "%s", j->label);
	f->requests++;
	Q.runs++;
	if (f->nlat < LAT_KEEP)
		f->lat[f->nlat] = ms;
	else if ((long long)(next_rand(&Q.rng) % (uint64_t)(f->nlat + 1)) < LAT_KEEP)
		f->lat[next_rand(&Q.rng) % LAT_KEEP] = ms;
	f->nlat++;
	if (!j->served || !out || out->dtype != RUNNER_FLOAT || n != j->nserved || n == 0)
		return;
	const float *c = out->data;
	double d = 0, cs, cc;
	for (size_t i = 0; i < n; i++)
		d += fabs((double)c[i] - j->served[i]);
	f->mad_sum += d / (double)n;
	f->mad_n++;
	if (j->classes) {
		f->classified++;
		f->agree += shadow_top1(j->served, n, &cs) == shadow_top1(c, n, &cc);
		f->conf_shift_sum += fabs(cc - cs);
	}
}

/* Runs the candidate on j (Q not held). */
static void run_job(struct job *j)
{
	struct live_model *lm;
	struct runner_tensor out[MAX_IN];
	struct runner_err err;
	struct runner_ctx *c;
	double t0, ms;
	int rc = -1;

	pthread_mutex_lock(&qmu);
	if ((lm = Q.cand) != NULL)
		atomic_fetch_add(&lm->refs, 1);
	pthread_mutex_unlock(&qmu);
	if (lm == NULL)
		return;
	if ((c = live_ctx_get(lm)) != NULL && runner_model_noutputs(lm->model) <= MAX_IN) {
		t0 = clock_mono_s();
		rc = runner_run(c, j->in, j->nin, out, runner_model_noutputs(lm->model), &err);
		ms = (clock_mono_s() - t0) * 1e3;
	}
	pthread_mutex_lock(&qmu);
	if (rc == 0)
		record(j, &out[0], ms);
	else
		Q.f.errors++;
	pthread_mutex_unlock(&qmu);
	if (c)
		live_ctx_put(lm, c);
	live_release(lm);
}

static void *worker(void *arg)
{
	(void)arg;
	/* the served answer first: this thread runs at nice 19 (Linux: per
	 * thread), so request threads win the cores; when it falls behind the
	 * queue fills and offers are dropped, never waited on. Not SCHED_IDLE:
	 * on a device that is always busy that would starve it completely */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
		log_warn("msg=\"shadow worker keeps its priority: nice 19 refused\"");
	pthread_mutex_lock(&qmu);
	while (!Q.quit) {
		if (Q.n == 0) {
			pthread_cond_wait(&qcv, &qmu);
			continue;
		}
		struct job *j = Q.q[Q.head];
		Q.head = (Q.head + 1) % SHADOW_QUEUE;
		Q.n--;
		pthread_mutex_unlock(&qmu);
		run_job(j);
		job_free(j);
		pthread_mutex_lock(&qmu);
	}
	pthread_mutex_unlock(&qmu);
	return NULL;
}

int shadow_set(struct live_model *lm, double f)
{
	struct live_model *old;
	int rc = 0;

	pthread_mutex_lock(&qmu);
	old = Q.cand;
	Q.cand = lm;
	if (lm && !Q.started) {
		Q.rng = 0x2545f4914f6cdd1dULL;
		if (pthread_create(&Q.th, NULL, worker, NULL) == 0)
			Q.started = 1;
		else
			rc = -1;
	}
	pthread_mutex_unlock(&qmu);
	atomic_store(&fraction, lm && rc == 0 ? f : 0);
	live_release(old);
	return rc;
}

void shadow_offer(struct runner_tensor *in, size_t nin, const struct runner_tensor *out,
		  size_t nout, const char *label)
{
	double f = atomic_load_explicit(&fraction, memory_order_relaxed);
	struct job *j;
	size_t n;

	const char *served = strrchr(label, ':');

	if (f <= 0 || nin > MAX_IN || !sampled(f))
		return;
	pthread_mutex_lock(&qmu);
	if (Q.cand && served && strcmp(served + 1, Q.cand->version) == 0) {
		/* the candidate is served now (promoted, until the next poll
		 * drops the shadow): nothing to compare it with */
		pthread_mutex_unlock(&qmu);
		return;
	}
	if (Q.n == SHADOW_QUEUE) { /* the candidate is behind: drop, never wait */
		Q.f.dropped++;
		Q.dropped++;
		pthread_mutex_unlock(&qmu);
		return;
	}
	pthread_mutex_unlock(&qmu);
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	if (nout > 0 && out[0].dtype == RUNNER_FLOAT && (n = runner_numel(&out[0])) > 0 &&
	    (j->served = malloc(n * sizeof(float))) != NULL) {
		memcpy(j->served, out[0].data, n * sizeof(float));
		j->nserved = n;
		j->classes = n >= 2 && n == (size_t)out[0].dims[out[0].ndim - 1];
	}
	for (size_t i = 0; i < nin; i++) { /* handed over, not copied */
		j->in[i] = in[i];
		in[i].data = NULL;
	}
	j->nin = nin;
	snprintf(j->label, sizeof(j->label), "%s", label);
	pthread_mutex_lock(&qmu);
	if (Q.n == SHADOW_QUEUE) {
		Q.f.dropped++;
		Q.dropped++;
	} else {
		Q.q[(Q.head + Q.n++) % SHADOW_QUEUE] = j;
		j = NULL;
		pthread_cond_signal(&qcv);
	}
	pthread_mutex_unlock(&qmu);
	job_free(j);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The block of figures f (taken out of Q), NULL when there is nothing. */
static json_t *block(struct figures *f, const char *version)
{
	size_t n = f->nlat < LAT_KEEP ? (size_t)f->nlat : LAT_KEEP;
	json_t *b;

	if (f->requests == 0 && f->dropped == 0)
		return NULL;
	b = json_pack("{s:s, s:I, s:I}", "version", version, "requests", (json_int_t)f->requests,
		      "dropped", (json_int_t)f->dropped);
	if (b && f->classified > 0) {
		/* agree is about the classified runs: report those as requests */
		json_object_set_new(b, "requests", json_integer(f->classified));
		json_object_set_new(b, "agree", json_integer(f->agree));
		json_object_set_new(b, "confidence_shift",
				    json_real(fmin(1, f->conf_shift_sum / (double)f->classified)));
	}
	if (b && f->mad_n > 0)
		json_object_set_new(b, "mad", json_real(f->mad_sum / (double)f->mad_n));
	if (b && n > 0) {
		qsort(f->lat, n, sizeof(double), cmp_double);
		json_object_set_new(b, "latency_p95_ms", json_real(f->lat[(size_t)ceil(0.95 * (double)n) - 1]));
	}
	return b;
}

void shadow_collect(json_t *reports)
{
	struct figures *f = malloc(sizeof(*f));
	char version[129] = "";
	size_t i;
	json_t *r = NULL, *b;

	if (f == NULL)
		return;
	pthread_mutex_lock(&qmu);
	*f = Q.f;
	memset(&Q.f, 0, sizeof(Q.f));
	if (Q.cand)
		snprintf(version, sizeof(version), "%s", Q.cand->version);
	pthread_mutex_unlock(&qmu);
	if (version[0] && f->label[0] && (b = block(f, version)) != NULL) {
		json_array_foreach(reports, i, r) {
			if (strcmp(json_string_value(json_object_get(r, "model")) ?: "", f->label) == 0)
				break;
		}
		if (i == json_array_size(reports)) {
			r = json_pack("{s:s, s:i}", "model", f->label, "requests", 0);
			json_array_append_new(reports, r);
		}
		json_object_set_new(r, "shadow", b);
	}
	free(f);
}

void shadow_counts(unsigned long *runs, unsigned long *dropped)
{
	pthread_mutex_lock(&qmu);
	*runs = Q.runs;
	*dropped = Q.dropped;
	pthread_mutex_unlock(&qmu);
}

void shadow_shutdown(void)
{
	pthread_mutex_lock(&qmu);
	Q.quit = 1;
	pthread_cond_broadcast(&qcv);
	pthread_mutex_unlock(&qmu);
	if (Q.started)
		pthread_join(Q.th, NULL);
	pthread_mutex_lock(&qmu);
	while (Q.n) {
		job_free(Q.q[Q.head]);
		Q.head = (Q.head + 1) % SHADOW_QUEUE;
		Q.n--;
	}
	Q.started = 0;
	Q.quit = 0;
	pthread_mutex_unlock(&qmu);
	shadow_set(NULL, 0);
}
