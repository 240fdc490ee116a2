/*
 * engine.h - the background loop (libuv): the evaluation timer (the leader
 * replica only), other replicas' changes to the snapshot (LISTEN), whole
 * loads when a change could not be applied, the catalog every 30 s, and
 * once a second the batched last_seen and token last_used writes and the
 * rollout gauges (every 5 s). Runs in its own thread; HTTP threads wake it
 * with engine_wake() and snapshot_changed(). Telemetry is committed
 * by store/ingest.c's writer, not here.
 */
#ifndef RAMP_ENGINE_H
#define RAMP_ENGINE_H

#include "app.h"
#include "common/arena.h"

#include <stdbool.h>

/* Starts the loop thread. 0, or RAMP_ENOMEM or RAMP_EINTERNAL. */
int engine_start(struct app *app);
/* Stops the loop and joins its thread; safe when never started. */
void engine_stop(struct app *app);
/* Asks the loop to run an evaluation soon (thread-safe): at once, or when
 * 200 ms have passed since the last one (EARLY_GAP_MS, engine.c). */
void engine_wake(struct app *app);
/* True while this replica holds the evaluator lock (as of its last pass):
 * it alone reconciles GitOps, publishes desired state over MQTT and
 * re-signs the TUF timestamp. */
bool engine_leading(void);
/* Prometheus gauges of the active rollouts (refreshed every 5 s), copied into a. */
char *engine_metrics_text(struct arena *a);

#endif
