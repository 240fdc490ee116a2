/*
 * live.h - the model ramp-runner serves right now, swappable under load.
 *
 * A live_model is one loaded model version with its pool of per-thread
 * contexts and its telemetry counters, reference counted: a request holds a
 * reference from start to answer, so a swap never pulls a model from under
 * a request in flight (it finishes on the old one; requests that start after
 * the swap get the new one) and the last reference frees it.  The runner
 * keeps two: the current model and the previous one, so going back is a
 * pointer swap.
 */
#ifndef RAMP_RUNNER_LIVE_H
#define RAMP_RUNNER_LIVE_H

#include <jansson.h>
#include <stdatomic.h>

#include "runner.h"
#include "stats.h"

struct live_model {
	struct runner_model *model;
	char name[64], version[129], digest[72], label[200];
	double load_ms;
	atomic_int refs;
	struct stats *stats;	/* outlives the model until reported */
	pthread_mutex_t pool_lock;
	struct runner_ctx **pool;
	size_t npool, cap;
};

/*
 * Loads the model file at path, then runs it once on zero inputs to check it
 * runs.  Returns a live_model holding one reference (the caller's), or NULL
 * with *err saying why (unsupported operator, bad graph, failed run).
 */
struct live_model *live_load(const char *path, const char *name, const char *version,
			     const char *digest, struct runner_err *err);

/* The current model with a reference taken, or NULL when none is installed. */
struct live_model *live_acquire(void);
/* Drops a reference; the last one frees the model (its counters wait to be reported). */
void live_release(struct live_model *lm);

/* A context for running lm (from its pool, or new); NULL on out of memory. */
struct runner_ctx *live_ctx_get(struct live_model *lm);
/* Returns c to lm's pool. */
void live_ctx_put(struct live_model *lm, struct runner_ctx *c);

/* Makes lm (whose reference it takes) current; the current one becomes the previous one. */
void live_install(struct live_model *lm);
/* When the previous model is version/digest, swaps it with the current one: 0, else -1. */
int live_swap_back(const char *version, const char *digest);
/* Swaps counted since start. */
unsigned long live_swaps(void);

/*
 * Appends a telemetry report for each version that answered requests since
 * the last call (the current one's with model_load_ms).
 */
void live_collect(json_t *reports);

/* Drops the current and previous models. */
void live_shutdown(void);

#endif
