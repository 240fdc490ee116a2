/*
 * store_gitops.c - the GitOps reconciler's rows (store_gitops.h).
 */
#include "store/store_gitops.h"

#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_gitops_status_put(struct db *db, json_t *status)
{
	char *text = json_dumps(status, JSON_COMPACT);
	const char *p[1] = {text};
	struct dbconn *c;
	PGresult *r = NULL;
	int rc;

	if (text == NULL)
		return RAMP_ENOMEM;
	if ((rc = db_acquire(db, &c)) == 0) {
		rc = db_query(c, &r,
			      "INSERT INTO gitops_status (id, status) VALUES (1, $1::jsonb)"
			      " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,"
			      " updated_at = now()",
			      1, p);
		PQclear(r);
		db_release(db, c);
	}
	free(text);
	return rc;
}

int store_gitops_status_get(struct db *db, json_t **out)
{
	return store_get(db,
			 "SELECT (status || jsonb_build_object('updated_at', updated_at))::text"
			 " FROM gitops_status WHERE id = 1 AND $1 = ''",
			 "", out);
}

int store_gitops_release_get(struct db *db, const char *model, struct gitops_release_row *out)
{
	json_t *row = NULL;
	int rc = store_get(db,
			   "SELECT json_build_object('digest', digest, 'version', version,"
			   " 'rollout_id', rollout_id)::text FROM gitops_releases WHERE model = $1",
			   model, &row);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	snprintf(out->digest, sizeof(out->digest), "%s",
		 json_string_value(json_object_get(row, "digest")) ?: "");
	snprintf(out->version, sizeof(out->version), "%s",
		 json_string_value(json_object_get(row, "version")) ?: "");
	out->rollout_id = json_integer_value(json_object_get(row, "rollout_id"));
	json_decref(row);
	return 0;
}

int store_gitops_release_put(struct db *db, const char *model, const char *digest,
			     const char *version, int64_t rollout_id, const char *commit)
{
	char id[24];
	const char *p[5] = {model, digest, version, id, commit};
	struct dbconn *c;
	PGresult *r = NULL;
	int rc;

	snprintf(id, sizeof(id), "%lld", (long long)rollout_id);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r,
		      "INSERT INTO gitops_releases (model, digest, version, rollout_id, commit)"
		      " VALUES ($1, $2, $3, NULLIF($4, '0')::bigint, $5) ON CONFLICT (model) DO"
		      " UPDATE SET digest = EXCLUDED.digest, version = EXCLUDED.version,"
		      " rollout_id = EXCLUDED.rollout_id, commit = EXCLUDED.commit,"
		      " updated_at = now()",
		      5, p);
	PQclear(r);
	db_release(db, c);
	return rc;
}

int store_gitops_release_forget(struct db *db, const char *actor)
{
	struct dbconn *c;
	PGresult *r = NULL;
	int rc;

	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r, "DELETE FROM gitops_releases", 0, NULL);
	PQclear(r);
	if (rc == 0)
		rc = store_audit(c, actor, "gitops.retry", "gitops", NULL);
	return db_tx_end(db, c, rc);
}

int store_gitops_event(struct db *db, const char *type, json_t *payload)
{
	char *text = json_dumps(payload, JSON_COMPACT);
	const char *p[2] = {type, text};
	struct dbconn *c;
	PGresult *r = NULL;
	int rc;

	if (text == NULL)
		return RAMP_ENOMEM;
	if ((rc = db_acquire(db, &c)) == 0) {
		/* event_id 0: not a rollout event; the payload says what happened */
		rc = db_query(c, &r,
			      "INSERT INTO webhook_deliveries (webhook, event_id, event_type, payload)"
			      " SELECT w.name, 0, $1, $2::jsonb FROM webhooks w"
			      " WHERE $1 = ANY (w.events)",
			      2, p);
		PQclear(r);
		db_release(db, c);
	}
	free(text);
	return rc;
}
