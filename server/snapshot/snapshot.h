/*
 * snapshot.h - the in-memory picture that answers GET /v1/agent/desired
 * (and the hawkBit DDI base) without touching the database: devices and
 * their tokens, stable versions, signed manifests, active rollouts and
 * their members, and the answer each device gets.
 *
 * It is loaded whole at start-up (and on recovery) and from then on
 * changed in place: every write that changes what a device should run
 * calls one of the *_changed functions after its commit and before its
 * 2xx, so this replica answers with it at once (read-your-writes). Other
 * replicas hear of it by NOTIFY ramp_changed and apply the same change
 * (snapshot_apply_notices). A request holds one reference, taken at its
 * first use and dropped when it completes (http_snapshot()); lookups take
 * the snapshot's read lock for their own duration only.
 */
#ifndef RAMP_SNAPSHOT_H
#define RAMP_SNAPSHOT_H

#include "app.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snapshot;

/* Loads a whole snapshot off to the side and makes it current. 0 or RAMP_E*. */
int snapshot_rebuild(struct app *app);

/* After a committed write, before it is answered. 0 or RAMP_E* (then the
 * caller asks for a whole load: engine/notify.h does). */
/* Devices ids[0..n) as the store now has them (added, changed, deleted,
 * their tokens, their rollouts); *gen (may be NULL) the generation that
 * holds the change. */
int snapshot_devices_changed(struct app *app, const char *const *ids, size_t n, uint64_t *gen);
int snapshot_device_changed(struct app *app, const char *device_id, uint64_t *gen);
/* Stable versions, manifests, signatures, keys, rollout states. */
int snapshot_catalog_changed(struct app *app);
/* The catalog, and devices ids[0..n) now members of rollout id. */
int snapshot_rollout_changed(struct app *app, int64_t id, const char *const *ids, size_t n);
/* Another replica's notices (store_changed() payloads without the replica). */
int snapshot_apply_notices(struct app *app, char *const *notices, size_t n);

/* The number of the newest change (or whole load) begun so far. */
uint64_t snapshot_started(void);
/* Moves on after a whole load, or when another replica assigned devices to
 * a rollout: what the evaluator keeps must be read anew. */
uint64_t snapshot_fleet_changes(void);
/* The devices changed (added, patched, deleted) since *seq, which moves on:
 * their ids in *ids (the caller frees each and the array). RAMP_ENOTFOUND
 * when more changed since than are remembered (64k), or a whole load came
 * between: read everything again, from snapshot_devices_seq() taken before. */
int snapshot_devices_changed_since(uint64_t *seq, char ***ids, size_t *n);
uint64_t snapshot_devices_seq(void);

/* s (whose reference the caller hands over; NULL: the current one) or a
 * snapshot that knows device_id, with a reference the caller owns; NULL
 * before the first load. A miss takes the current snapshot when it is
 * newer, else reloads that one device from the store (a few hundred a
 * second at most). May read the database: call it where waiting is allowed. */
struct snapshot *snapshot_fresh(struct app *app, struct snapshot *s, const char *device_id);
/* The current snapshot with a reference taken, or NULL before the first load. */
struct snapshot *snapshot_acquire(void);
/* Drops a reference; NULL is a no-op. */
void snapshot_release(struct snapshot *s);
/* Frees the current snapshot at shutdown. */
void snapshot_shutdown(void);

/* A device's poll of GET /v1/agent/desired, in one lookup: notes it (its
 * last-seen second and, when not NULL, the agent version) and answers with
 * the ETag (quoted) of its desired answer (API.md "Agents") and either
 * SNAPSHOT_POLL_SAME when if_none_match (may be NULL) is that ETag, or
 * SNAPSHOT_POLL_ANSWER with the answer as JSON text in *text (the caller
 * free()s) and *len; SNAPSHOT_POLL_UNKNOWN when the device is not in the
 * snapshot; RAMP_ENOMEM. The answer is built from text precomputed per
 * class of devices; a 304 builds nothing. */
enum { SNAPSHOT_POLL_ANSWER = 1, SNAPSHOT_POLL_SAME = 2, SNAPSHOT_POLL_UNKNOWN = 3 };
int snapshot_poll(struct snapshot *s, const char *device_id, int poll_after_s,
		  const char *agent_version, const char *if_none_match, char **text, size_t *len,
		  char etag[24]);
/* The "models" of that answer as JSON (the caller's copy) and its ETag, for
 * answers of another shape (hawkBit DDI). 0, RAMP_ENOTFOUND or RAMP_ENOMEM. */
int snapshot_desired_models(struct snapshot *s, const char *device_id, int poll_after_s,
			    json_t **models, char etag[24]);
/* The answer of snapshot_poll() without noting a poll (pushed over MQTT):
 * 0 with *text (the caller free()s), *len and etag; RAMP_ENOTFOUND,
 * RAMP_ENOMEM. */
int snapshot_desired(struct snapshot *s, const char *device_id, int poll_after_s, char **text,
		     size_t *len, char etag[24]);
/* Calls fn for every device with the hash of its answer class's text (the
 * answer changes when it does), under the read lock: fn must not call back
 * into the snapshot. */
void snapshot_each_answer(struct snapshot *s, void (*fn)(void *ctx, const char *id, uint64_t hash),
			  void *ctx);
/* The device (copied into id, idlen bytes) whose unexpired token hashes
 * (SHA-256) to h; *gen the snapshot's generation at that moment. */
bool snapshot_token_device(struct snapshot *s, const unsigned char h[32], char *id, size_t idlen,
			   uint64_t *gen);
/* True when device_id is registered as of this snapshot; *gen (may be
 * NULL) its generation at that moment. */
bool snapshot_has_device(struct snapshot *s, const char *device_id, uint64_t *gen);
/* A poll of device_id: its last-seen second and (when not NULL or empty)
 * the agent version it sent, kept in its record. Cheap: no allocation
 * unless the version is one never seen before. */
void snapshot_note_poll(struct snapshot *s, const char *device_id, const char *agent_version);
/* Calls fn for every device polled at or after second since (unix s), with
 * its last-seen second and agent version (NULL: none), under the read
 * lock: fn must not call back into the snapshot. */
void snapshot_seen_since(struct snapshot *s, uint32_t since,
			 void (*fn)(void *ctx, const char *id, uint32_t seen, const char *version),
			 void *ctx);
/* The number of the newest change applied. */
uint64_t snapshot_generation(struct snapshot *s);

/* Loads a whole snapshot beside the current one and compares them device
 * by device, token by token, answer by answer: *out {ok, devices, tokens,
 * classes, count, differences: [first few]}. 0 or RAMP_E*. */
int snapshot_verify(struct app *app, json_t **out);

/* True when digest names a delta of s's catalog: to (72 bytes) gets the
 * artifact it rebuilds, *size its own size (delta_lookup.c). */
bool snapshot_delta_target(struct snapshot *s, const char *digest, char *to, int64_t *size);

#endif
