/*
 * gitops.h - the GitOps reconciler (docs/gitops.md): a thread of its own
 * that, on the replica holding the evaluator lock, fetches RAMP_GITOPS_REPO
 * every RAMP_GITOPS_INTERVAL (sooner when asked), applies a new commit whole
 * or not at all, and keeps each release's rollout in line with Git. Its
 * status is kept in the database (GET /v1/gitops on any replica).
 */
#ifndef RAMP_ENGINE_GITOPS_H
#define RAMP_ENGINE_GITOPS_H

#include "app.h"
#include "common/arena.h"

#include <stdbool.h>

/* Starts the thread when RAMP_GITOPS_REPO is set; 0 (also when off), or RAMP_E*. */
int gitops_start(struct app *app);
/* Stops and joins it; safe when never started. */
void gitops_stop(void);
/* True when RAMP_GITOPS_REPO is set and the reconciler runs. */
bool gitops_enabled(void);
/* Asks for a sync now (thread-safe); retry: releases whose rollout rolled
 * back are tried again. */
void gitops_sync_now(bool retry);
/* The reconciler's Prometheus lines, copied into a ("" when off); NULL on OOM. */
char *gitops_metrics_text(struct arena *a);

#endif
