/*
 * store_windows.h - what maintenance windows keep in the database
 * (schema/017_windows.sql, docs/windows.md): devices held until their
 * stage's window opens, the next opening they are told, and rollbacks
 * waiting for a window. Same conventions as store.h.
 */
#ifndef RAMP_STORE_WINDOWS_H
#define RAMP_STORE_WINDOWS_H

#include "common/strlist.h"
#include "store/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Inside c's transaction: rollouts.window_opens_at of id = at (-1: NULL). */
int store_window_opens_at(struct dbconn *c, int64_t id, int64_t at);

/* Releases every held device of rollout id (their ids into *ids) and
 * clears its window_opens_at, with a notice per stage released. */
int store_rollout_release(struct db *db, int64_t id, struct strlist *ids);

/* While rollout id holds devices: window_opens_at = at; *changed when it moved. */
int store_rollout_hold_until(struct db *db, int64_t id, int64_t at, bool *changed);

/* Rolled-back rollouts whose window opened (window_opens_at <= now): cleared,
 * their ids into *ids (a JSON array the caller frees). */
int store_rollouts_reverted(struct db *db, int64_t now, json_t **ids);

/* Rollbacks waiting for a window: [{"id","opens_at"}] (unix seconds). */
int store_rollouts_reverting(struct db *db, json_t **out);

/* label_windows (docs/windows.md): releases rollout id's held devices whose
 * group is open (a ramp.window value among values[] that is in
 * open_values[], or any other device when default_open), their ids into
 * *ids; then, while some stay held, window_opens_at = soonest and
 * window_opens_by = opens ({value or "": unix s} of the closed groups),
 * else both NULL; *moved when those changed. Notices as above. */
int store_rollout_release_groups(struct db *db, int64_t id, const char *const *values,
				 size_t nvalues, const char *const *open_values, size_t nopen,
				 bool default_open, int64_t soonest, json_t *opens,
				 struct strlist *ids, bool *moved);

/* The earliest window opening after now that a progressing rollout's
 * held devices or a waiting rollback wait for, into *at (0: none). */
int store_next_window_opening(struct db *db, int64_t now, int64_t *at);

/* {"held": n, "deferred": n (devices whose update lock defers the
 * install), "next_window_at": unix s or null, "opens_by"?: {group: unix s}
 * (label_windows)} of rollout id. */
int store_rollout_window_counts(struct db *db, int64_t id, json_t **out);

#endif
