/*
 * notify.h - how writers say "what devices should run may have changed":
 * the snapshot is rebuilt soon on this replica, and other replicas learn of
 * it through NOTIFY ramp_changed (sent by the store in the same transaction).
 */
#ifndef RAMP_NOTIFY_H
#define RAMP_NOTIFY_H

#include "app.h"

/* Marks the snapshot stale and wakes the engine to rebuild it. Thread-safe. */
void snapshot_changed(struct app *app);

#endif
