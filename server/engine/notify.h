/*
 * notify.h - how writers keep this replica's snapshot true: after a commit
 * and before the 2xx, the write says what it changed and the snapshot
 * applies it at once (read-your-writes). Other replicas learn of it through
 * NOTIFY ramp_changed, sent by the store in the same transaction, and
 * apply the same change (engine.c). When applying fails, the engine loads
 * the snapshot anew as soon as it can.
 */
#ifndef RAMP_NOTIFY_H
#define RAMP_NOTIFY_H

#include "app.h"

#include <stddef.h>
#include <stdint.h>

/* Devices added, changed or deleted, their tokens, labels or pins. The
 * generation that holds the change, or 0 when it could not be applied
 * (for auth_revoke_done()). */
uint64_t changed_devices(struct app *app, const char *const *ids, size_t n);
uint64_t changed_device(struct app *app, const char *id);
/* Stable versions, manifests, signatures, signing keys. */
void changed_catalog(struct app *app);
/* A rollout's state, and the devices ids[0..n) it now holds. */
void changed_rollout(struct app *app, int64_t id, const char *const *ids, size_t n);
/* Something else, or unknown: the whole snapshot is loaded anew soon. Thread-safe. */
void snapshot_changed(struct app *app);

#endif
