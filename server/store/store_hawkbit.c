/*
 * store_hawkbit.c - SQL for the hawkBit DDI surface (store_hawkbit.h).
 *
 * Action numbers are taken only for (rollout, model, version) triples that
 * have none yet: an INSERT that met a conflict would still burn a sequence
 * value, and polls repeat all day.
 */
#include "store/store_hawkbit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WANT_SQL                                                               \
	"WITH want AS (SELECT w.model, w.version, coalesce(w.rollout_id, 0) AS rollout_id" \
	" FROM jsonb_to_recordset($2::jsonb) AS w(model text, version text, rollout_id bigint))"

static const char poll_insert_sql[] =
	WANT_SQL
	" INSERT INTO hawkbit_actions (rollout_id, model, version)"
	" SELECT w.rollout_id, w.model, w.version FROM want w WHERE NOT EXISTS"
	" (SELECT 1 FROM hawkbit_actions a WHERE a.rollout_id = w.rollout_id"
	" AND a.model = w.model AND a.version = w.version)"
	" AND $1::text IS NOT NULL"
	" ON CONFLICT DO NOTHING";

static const char poll_select_sql[] =
	WANT_SQL
	" SELECT json_build_object("
	" 'actions', (SELECT coalesce(json_object_agg(a.model, a.id), '{}') FROM want w"
	"  JOIN hawkbit_actions a ON a.rollout_id = w.rollout_id AND a.model = w.model"
	"  AND a.version = w.version),"
	" 'records', (SELECT coalesce(json_agg(json_build_object('id', a.id, 'model', a.model,"
	"  'version', a.version, 'state', r.state, 'left_on', r.left_on) ORDER BY a.id), '[]')"
	"  FROM hawkbit_device_actions r JOIN hawkbit_actions a ON a.id = r.action_id"
	"  WHERE r.device_id = d.id AND (r.state = 'open' OR r.action_id IN"
	"  (SELECT a2.id FROM want w JOIN hawkbit_actions a2 ON a2.rollout_id = w.rollout_id"
	"  AND a2.model = w.model AND a2.version = w.version))),"
	" 'installed', (SELECT coalesce(jsonb_object_agg(m.key, m.value->>'version'), '{}')"
	"  FROM jsonb_each(d.models) m WHERE m.value->>'state' = 'installed')"
	"  || (SELECT coalesce(jsonb_object_agg(i.model, i.version), '{}')"
	"  FROM hawkbit_installed i WHERE i.device_id = d.id),"
	" 'config_sent', EXISTS (SELECT 1 FROM hawkbit_targets t WHERE t.device_id = d.id"
	"  AND t.config_sent_at IS NOT NULL))::text"
	" FROM devices d WHERE d.id = $1";

/* True when every wanted model has an action number in out. */
static bool all_numbered(json_t *want, json_t *out)
{
	json_t *actions = json_object_get(out, "actions"), *w;
	size_t i;

	json_array_foreach(want, i, w) {
		if (!json_object_get(actions, json_string_value(json_object_get(w, "model"))))
			return false;
	}
	return true;
}

int store_hawkbit_poll(struct db *db, const char *device_id, json_t *want, json_t **out)
{
	struct dbconn *c;
	char *doc = json_dumps(want, JSON_COMPACT);
	const char *p[2] = {device_id, doc};
	int rc;

	*out = NULL;
	if (doc == NULL)
		return RAMP_ENOMEM;
	if ((rc = db_acquire(db, &c)) != 0)
		goto out_free;
	/* a concurrent poll may number the same triple: look again once */
	for (int attempt = 0; attempt < 2; attempt++) {
		json_decref(*out);
		*out = NULL;
		rc = store_json_one(c, poll_select_sql, 2, p, out);
		if (rc || all_numbered(want, *out))
			break;
		if ((rc = db_query(c, NULL, poll_insert_sql, 2, p)) != 0 && rc != RAMP_ECONFLICT)
			break;
		rc = 0;
	}
	if (rc == 0 && !all_numbered(want, *out)) {
		json_decref(*out);
		*out = NULL;
		rc = store_json_one(c, poll_select_sql, 2, p, out);
	}
	if (rc && *out) {
		json_decref(*out);
		*out = NULL;
	}
	db_release(db, c);
out_free:
	free(doc);
	return rc;
}

int store_hawkbit_action(struct db *db, int64_t id, json_t **out)
{
	struct dbconn *c;
	char ids[24];
	const char *p[1] = {ids};
	int rc;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_one(c,
			    "SELECT json_build_object('id', id, 'rollout_id', rollout_id, 'model', model,"
			    " 'version', version)::text FROM hawkbit_actions WHERE id = $1::bigint",
			    1, p, out);
	db_release(db, c);
	return rc;
}

int store_hawkbit_record(struct db *db, const char *device_id, int64_t action_id,
			 const char *state, const char *result, const char *model,
			 const char *installed_version)
{
	struct dbconn *c;
	char ids[24];
	const char *p[6] = {device_id, ids, state, result, model, installed_version};
	const char *q[3] = {device_id, model, installed_version};
	int rc;

	snprintf(ids, sizeof(ids), "%" PRId64, action_id);
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	/* what ramp's agent status says the device runs, before DDI
	 * feedback overwrites it with a state that is not "installed" */
	if (model)
		rc = db_query(c, NULL,
			      "INSERT INTO hawkbit_installed (device_id, model, version)"
			      " SELECT d.id, $2, d.models->$2->>'version' FROM devices d"
			      " WHERE d.id = $1 AND d.models->$2->>'state' = 'installed'"
			      " ON CONFLICT DO NOTHING",
			      2, (const char *const[]){device_id, model});
	if (rc == 0)
		rc = db_query(c, NULL,
			      "INSERT INTO hawkbit_device_actions AS r"
			      " (device_id, action_id, state, result, left_on)"
			      " VALUES ($1, $2::bigint, $3, $4, CASE WHEN $3 = 'closed' THEN"
			      " coalesce($6::text, (SELECT i.version FROM hawkbit_installed i"
			      " WHERE i.device_id = $1 AND i.model = $5::text), '') END)"
			      " ON CONFLICT (device_id, action_id) DO UPDATE SET state = EXCLUDED.state,"
			      " result = coalesce(EXCLUDED.result, r.result),"
			      " left_on = coalesce(EXCLUDED.left_on, r.left_on), updated_at = now()"
			      " WHERE EXCLUDED.state <> 'open' OR r.state = 'canceled'",
			      6, p);
	if (rc == 0 && installed_version && model)
		rc = db_query(c, NULL,
			      "INSERT INTO hawkbit_installed (device_id, model, version) VALUES ($1, $2, $3)"
			      " ON CONFLICT (device_id, model) DO UPDATE SET version = EXCLUDED.version,"
			      " at = now()",
			      3, q);
	return db_tx_end(db, c, rc);
}

int store_hawkbit_installed(struct db *db, const char *device_id, const char *model,
			    const char *version)
{
	struct dbconn *c;
	const char *p[3] = {device_id, model, version};
	int rc;

	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL,
		      "INSERT INTO hawkbit_installed (device_id, model, version) VALUES ($1, $2, $3)"
		      " ON CONFLICT (device_id, model) DO UPDATE SET version = EXCLUDED.version,"
		      " at = now()",
		      3, p);
	if (rc == 0)
		rc = db_query(c, NULL,
			      "UPDATE hawkbit_device_actions r SET state = 'closed', result = 'success',"
			      " left_on = $3, updated_at = now() FROM hawkbit_actions a"
			      " WHERE a.id = r.action_id AND r.device_id = $1 AND r.state = 'open'"
			      " AND a.model = $2 AND a.version = $3",
			      3, p);
	return db_tx_end(db, c, rc);
}

int store_hawkbit_config_sent(struct db *db, const char *device_id)
{
	struct dbconn *c;
	const char *p[1] = {device_id};
	int rc;

	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL,
		      "INSERT INTO hawkbit_targets (device_id, config_sent_at) VALUES ($1, now())"
		      " ON CONFLICT (device_id) DO UPDATE SET config_sent_at = now()",
		      1, p);
	db_release(db, c);
	return rc;
}

int store_hawkbit_hashes_get(struct db *db, const char *digest, json_t **out)
{
	struct dbconn *c;
	const char *p[1] = {digest};
	int rc;

	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_one(c,
			    "SELECT json_build_object('sha1', sha1, 'md5', md5, 'size', size)::text"
			    " FROM hawkbit_artifact_hashes WHERE digest = $1",
			    1, p, out);
	db_release(db, c);
	return rc;
}

int store_hawkbit_hashes_put(struct db *db, const char *digest, const char *sha1,
			     const char *md5, int64_t size)
{
	struct dbconn *c;
	char sz[24];
	const char *p[4] = {digest, sha1, md5, sz};
	int rc;

	snprintf(sz, sizeof(sz), "%" PRId64, size);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL,
		      "INSERT INTO hawkbit_artifact_hashes (digest, sha1, md5, size)"
		      " VALUES ($1, $2, $3, $4::bigint) ON CONFLICT (digest) DO NOTHING",
		      4, p);
	db_release(db, c);
	return rc;
}
