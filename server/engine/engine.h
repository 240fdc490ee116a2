/*
 * engine.h - the background loop (libuv): evaluation timer, telemetry
 * flush, snapshot refresh. Runs in its own thread; HTTP threads wake it
 * with engine_wake().
 */
#ifndef RAMP_ENGINE_H
#define RAMP_ENGINE_H

#include "app.h"
#include "common/arena.h"

/* Starts the loop thread. 0 or -1 (logged). */
int engine_start(struct app *app);
/* Stops the loop and joins its thread; safe when never started. */
void engine_stop(struct app *app);
/* Asks the loop to run an evaluation soon (thread-safe; at most once a second). */
void engine_wake(struct app *app);
/* Prometheus gauges of the active rollouts (refreshed every 5 s), copied into a. */
char *engine_metrics_text(struct arena *a);
/* Records a poll for the batched last_seen write (thread-safe). */
void engine_seen(struct app *app, const char *device_id, const char *agent_version);

#endif
