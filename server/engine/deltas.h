/*
 * deltas.h - the delta builder: a thread of its own (a ticker) that makes
 * the zstd patch-from deltas active rollouts may use (docs/deltas.md), one
 * at a time, off every request path, at a lower CPU priority, with the
 * window (memory) and the input sizes capped by RAMP_DELTA_*. A built delta
 * goes into the artifact store under its own digest, its row into the
 * deltas table, and changed_catalog() lets the answers offer it.
 */
#ifndef RAMP_DELTAS_H
#define RAMP_DELTAS_H

#include "app.h"
#include "common/arena.h"

#include <stdint.h>

/* Starts the builder (nothing when RAMP_DELTA_BUILD=0). 0, or RAMP_EINTERNAL. */
int deltas_start(struct app *app);
/* Stops and joins it, letting a build in flight finish; safe when never started. */
void deltas_stop(void);
/* Looks for missing deltas now (a rollout or manifest changed). Thread-safe. */
void deltas_kick(void);
/* Counts a delta served to its end: saved is the full file's size minus the delta's. */
void deltas_count_served(int64_t saved);
/* The builder's and the downloads' figures for /metrics, in a. */
char *deltas_metrics_text(struct arena *a);

#endif
