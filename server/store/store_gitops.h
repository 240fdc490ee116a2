/*
 * store_gitops.h - what the GitOps reconciler keeps in PostgreSQL
 * (schema/011_gitops.sql): its status document and, per model, the release
 * file a rollout was started for.
 */
#ifndef RAMP_STORE_GITOPS_H
#define RAMP_STORE_GITOPS_H

#include "store/db.h"

#include <jansson.h>
#include <stdint.h>

/* Replaces the status document (borrowed). */
int store_gitops_status_put(struct db *db, json_t *status);
/* The status document and updated_at in *out; RAMP_ENOTFOUND before the first sync. */
int store_gitops_status_get(struct db *db, json_t **out);

struct gitops_release_row {
	char digest[65], version[130];
	int64_t rollout_id; /* 0: none */
};
/* RAMP_ENOTFOUND when the model has no row. */
int store_gitops_release_get(struct db *db, const char *model, struct gitops_release_row *out);
int store_gitops_release_put(struct db *db, const char *model, const char *digest,
			     const char *version, int64_t rollout_id, const char *commit);
/* Queues a delivery of payload (borrowed) to every webhook subscribed to
 * type ("gitops.synced", "gitops.failed"); the webhook sender posts it. */
int store_gitops_event(struct db *db, const char *type, json_t *payload);
/* Forgets every row (the retry verb): rolled-back releases are tried again. */
int store_gitops_release_forget(struct db *db, const char *actor);

#endif
