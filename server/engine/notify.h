/*
 * notify.h - how API writes tell the snapshot engine that what devices
 * should run may have changed (a stable version set, a key revoked, a
 * rollout moved). Callers call it after their transaction commits.
 */
#ifndef RAMP_NOTIFY_H
#define RAMP_NOTIFY_H

#include "app.h"

/* Marks the desired-state snapshot stale; thread-safe, never blocks on I/O. */
void snapshot_changed(struct app *app);

#endif
