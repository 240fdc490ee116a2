/*
 * snapshot.h - the in-memory picture that answers GET /v1/agent/desired
 * without touching the database: devices (platform, pins), stable
 * versions, signed manifests, active rollouts and their assigned devices.
 *
 * A snapshot is immutable once built and reference-counted; the engine
 * builds a new one when something changes (this replica's writes call
 * snapshot_changed(); other replicas' writes arrive by LISTEN/NOTIFY) and
 * swaps it in. A request holds one reference, taken at its first use
 * (authorization) and dropped when the request completes (http_snapshot()).
 */
#ifndef RAMP_SNAPSHOT_H
#define RAMP_SNAPSHOT_H

#include "app.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct snapshot;

/* Builds a snapshot from the database and makes it current. 0 or RAMP_E*. */
int snapshot_rebuild(struct app *app);
/* The generation of the newest build begun so far. A caller that finds the
 * snapshot stale reads this, then asks snapshot_refresh_if() with it. */
uint64_t snapshot_started(void);
/* Rebuilds now unless the current snapshot began reading after generation
 * seen was started (callers that found it stale coalesce into one build). */
int snapshot_refresh_if(struct app *app, uint64_t seen);
/* This replica wrote something the snapshot shows (snapshot_changed()
 * calls it after the commit): snapshot_fresh() may rebuild for it. */
void snapshot_mark_stale(void);
/* s (whose reference the caller hands over; NULL: the current one) or a
 * newer snapshot that knows device_id, with a reference the caller owns;
 * NULL before the first build. A miss takes the current snapshot when it
 * is newer, else rebuilds from the database (coalesced with other misses)
 * when this replica wrote since s began reading, else at most once a
 * second (another replica's write not yet notified, or an unknown device).
 * May read the database: call it where waiting is allowed. */
struct snapshot *snapshot_fresh(struct app *app, struct snapshot *s, const char *device_id);
/* The current snapshot with a reference taken, or NULL before the first build. */
struct snapshot *snapshot_acquire(void);
/* Drops a reference; NULL is a no-op. */
void snapshot_release(struct snapshot *s);
/* Frees the current snapshot at shutdown. */
void snapshot_shutdown(void);

/* The desired answer for device_id (API.md "Agents") as JSON text (caller
 * free()s) with its length and ETag (quoted), or NULL when the device is not
 * in the snapshot. Built from text precomputed per class of devices. */
char *snapshot_desired(const struct snapshot *s, const char *device_id, int poll_after_s,
		       size_t *len, char etag[24]);
/* The ETag snapshot_desired() would give, without building the answer;
 * false when the device is not in the snapshot. */
bool snapshot_desired_etag(const struct snapshot *s, const char *device_id, int poll_after_s,
			   char etag[24]);
/* The device a device token (SHA-256 hex) belongs to, or NULL (also once
 * the token has expired). Lives as long as the snapshot. */
const char *snapshot_device_for_token(const struct snapshot *s, const char *hash_hex);
/* True when device_id is registered as of this snapshot. */
bool snapshot_has_device(const struct snapshot *s, const char *device_id);
/* When the snapshot was built, and how many devices it holds. */
uint64_t snapshot_generation(const struct snapshot *s);
size_t snapshot_devices(const struct snapshot *s);

#endif
