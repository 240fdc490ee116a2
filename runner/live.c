/*
 * live.c - reference-counted model versions and the current/previous pair
 * (live.h).
 *
 * `cur` and `prev` are only read or written under `lock`, and a reference is
 * taken under it, so acquire never sees a model that is being freed.  The
 * critical sections are a few loads and stores; the model runs outside it.
 * Counters of freed versions wait on `retired` until live_collect takes them.
 */
#include "live.h"

#include "common/clock.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct retired {
	struct stats *stats;
	char label[200];
	struct retired *next;
};

static struct {
	pthread_mutex_t lock;
	struct live_model *cur, *prev;
	struct retired *retired;
	unsigned long swaps;
} L = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, NULL, 0};

/* Runs m once on all-zero inputs; 0 or an error in *err. */
static int self_test(struct live_model *lm, struct runner_err *err)
{
	size_t nin = runner_model_ninputs(lm->model), nout = runner_model_noutputs(lm->model);
	struct runner_tensor *in = calloc(nin + 1, sizeof(*in)), *out = calloc(nout + 1, sizeof(*out));
	struct runner_ctx *c = live_ctx_get(lm);
	int rc = RUNNER_ENOMEM;

	snprintf(err->msg, sizeof(err->msg), "out of memory");
	for (size_t i = 0; in && i < nin; i++) {
		runner_model_input(lm->model, i, &in[i]);
		if ((in[i].data = calloc(runner_numel(&in[i]) + 1, runner_dtype_size(in[i].dtype) + 1)) == NULL)
			goto out;
	}
	if (in && out && c && (rc = runner_run(c, in, nin, out, nout, err)) != 0) {
		char why[200];
		snprintf(why, sizeof(why), "%.199s", err->msg);
		snprintf(err->msg, sizeof(err->msg), "test run on zero inputs failed: %s", why);
	}
out:
	for (size_t i = 0; in && i < nin; i++)
		free(in[i].data);
	if (c)
		live_ctx_put(lm, c);
	free(in);
	free(out);
	return rc;
}

static void free_model(struct live_model *lm)
{
	for (size_t i = 0; i < lm->npool; i++)
		runner_ctx_free(lm->pool[i]);
	free(lm->pool);
	runner_model_free(lm->model);
	pthread_mutex_destroy(&lm->pool_lock);
	free(lm);
}

struct live_model *live_load(const char *path, const char *name, const char *version,
			     const char *digest, struct runner_err *err)
{
	double t0 = (clock_mono_s() * 1e3);
	struct live_model *lm = calloc(1, sizeof(*lm));

	if (lm == NULL || (lm->stats = malloc(sizeof(*lm->stats))) == NULL) {
		free(lm);
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return NULL;
	}
	stats_init(lm->stats);
	pthread_mutex_init(&lm->pool_lock, NULL);
	atomic_init(&lm->refs, 1);
	snprintf(lm->name, sizeof(lm->name), "%s", name);
	snprintf(lm->version, sizeof(lm->version), "%s", version);
	snprintf(lm->digest, sizeof(lm->digest), "%s", digest);
	snprintf(lm->label, sizeof(lm->label), "%s:%s", name, version);
	if ((lm->model = runner_model_load_file(path, NULL, 0, err)) == NULL ||
	    self_test(lm, err) != 0) {
		free(lm->stats);
		free_model(lm);
		return NULL;
	}
	lm->load_ms = (clock_mono_s() * 1e3) - t0;
	return lm;
}

struct live_model *live_acquire(void)
{
	struct live_model *lm;

	pthread_mutex_lock(&L.lock);
	lm = L.cur;
	if (lm)
		atomic_fetch_add(&lm->refs, 1);
	pthread_mutex_unlock(&L.lock);
	return lm;
}

void live_release(struct live_model *lm)
{
	struct retired *r;

	if (lm == NULL || atomic_fetch_sub(&lm->refs, 1) != 1)
		return;
	if ((r = calloc(1, sizeof(*r))) != NULL) {
		r->stats = lm->stats;
		snprintf(r->label, sizeof(r->label), "%s", lm->label);
		pthread_mutex_lock(&L.lock);
		r->next = L.retired;
		L.retired = r;
		pthread_mutex_unlock(&L.lock);
	} else {
		free(lm->stats);
	}
	free_model(lm);
}

struct runner_ctx *live_ctx_get(struct live_model *lm)
{
	struct runner_ctx *c = NULL;

	pthread_mutex_lock(&lm->pool_lock);
	if (lm->npool)
		c = lm->pool[--lm->npool];
	pthread_mutex_unlock(&lm->pool_lock);
	return c ? c : runner_ctx_new(lm->model);
}

void live_ctx_put(struct live_model *lm, struct runner_ctx *c)
{
	pthread_mutex_lock(&lm->pool_lock);
	if (lm->npool == lm->cap) {
		size_t cap = lm->cap ? lm->cap * 2 : 8;
		struct runner_ctx **np = realloc(lm->pool, cap * sizeof(*np));
		if (np == NULL) {
			pthread_mutex_unlock(&lm->pool_lock);
			runner_ctx_free(c);
			return;
		}
		lm->pool = np;
		lm->cap = cap;
	}
	lm->pool[lm->npool++] = c;
	pthread_mutex_unlock(&lm->pool_lock);
}

void live_install(struct live_model *lm)
{
	struct live_model *drop;

	pthread_mutex_lock(&L.lock);
	drop = L.prev;
	L.prev = L.cur;
	L.cur = lm;
	L.swaps++;
	pthread_mutex_unlock(&L.lock);
	live_release(drop);
}

int live_swap_back(const char *version, const char *digest)
{
	int rc = -1;

	pthread_mutex_lock(&L.lock);
	if (L.prev && strcmp(L.prev->version, version) == 0 && strcmp(L.prev->digest, digest) == 0) {
		struct live_model *t = L.cur;
		L.cur = L.prev;
		L.prev = t;
		L.swaps++;
		rc = 0;
	}
	pthread_mutex_unlock(&L.lock);
	return rc;
}

unsigned long live_swaps(void)
{
	unsigned long n;

	pthread_mutex_lock(&L.lock);
	n = L.swaps;
	pthread_mutex_unlock(&L.lock);
	return n;
}

/* rampd counts a report as at least one request, so versions that served none send none. */
static void take(json_t *reports, struct stats *s, const char *label, double load_ms)
{
	json_t *r;

	if (atomic_load(&s->requests) == 0)
		return;
	if ((r = stats_take(s, label)) == NULL)
		return;
	if (!isnan(load_ms))
		json_object_set_new(r, "model_load_ms", json_real(load_ms));
	json_array_append_new(reports, r);
}

void live_collect(json_t *reports)
{
	struct live_model *cur, *prev;
	struct retired *r;

	pthread_mutex_lock(&L.lock);
	if ((cur = L.cur) != NULL)
		atomic_fetch_add(&cur->refs, 1);
	if ((prev = L.prev) != NULL)
		atomic_fetch_add(&prev->refs, 1);
	r = L.retired;
	L.retired = NULL;
	pthread_mutex_unlock(&L.lock);
	if (cur)
		take(reports, cur->stats, cur->label, cur->load_ms);
	if (prev)
		take(reports, prev->stats, prev->label, NAN);
	while (r) {
		struct retired *next = r->next;
		take(reports, r->stats, r->label, NAN);
		free(r->stats);
		free(r);
		r = next;
	}
	live_release(cur);
	live_release(prev);
}

void live_shutdown(void)
{
	struct live_model *cur, *prev;
	struct retired *r;

	pthread_mutex_lock(&L.lock);
	cur = L.cur;
	prev = L.prev;
	L.cur = L.prev = NULL;
	pthread_mutex_unlock(&L.lock);
	live_release(cur);
	live_release(prev);
	pthread_mutex_lock(&L.lock);
	r = L.retired;
	L.retired = NULL;
	pthread_mutex_unlock(&L.lock);
	while (r) {
		struct retired *next = r->next;
		free(r->stats);
		free(r);
		r = next;
	}
}
