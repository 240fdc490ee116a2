/*
 * store_dash.c - the dashboard's read-only queries: analysis history for
 * the charts and the fleet summary. Both are aggregates computed in
 * PostgreSQL so the browser never pages through the whole fleet.
 */
#include "store/store_dash.h"

#include "store/store.h"

#include <stdio.h>

int store_rollout_names_metric(struct db *db, int64_t id, const char *metric, bool *yes)
{
	struct dbconn *c;
	char sid[32];
	const char *p[2] = {sid, metric};
	json_t *v = NULL;
	int rc;

	*yes = false;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_one(c,
			    "SELECT (EXISTS (SELECT 1 FROM jsonb_array_elements(r.policy->'stages') st,"
			    " jsonb_array_elements(coalesce(st->'metrics', '[]')) m"
			    " WHERE m->>'name' = $2))::text FROM rollouts r WHERE r.id = $1::bigint",
			    2, p, &v);
	db_release(db, c);
	*yes = rc == 0 && json_is_true(v);
	json_decref(v);
	return rc;
}

int store_analysis_history(struct db *db, int64_t id, const char *metric, int limit,
			   json_t **items)
{
	struct dbconn *c;
	char sid[32], lim[16];
	const char *p[3] = {sid, metric, lim};
	json_t *exists = NULL;
	int rc;

	*items = NULL;
	if (limit < 1 || limit > STORE_HISTORY_MAX)
		limit = STORE_HISTORY_MAX;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	snprintf(lim, sizeof(lim), "%d", limit);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_one(c, "SELECT id::text FROM rollouts WHERE id = $1::bigint", 1, p,
			    &exists);
	json_decref(exists);
	if (rc == 0)
		rc = store_json_rows(c,
				     "SELECT json_build_object('at', at, 'stage', stage, 'arm', arm,"
				     " 'value', value, 'baseline', baseline, 'result', result,"
				     " 'samples', samples)::text FROM ("
				     " SELECT * FROM rollout_analysis_history"
				     " WHERE rollout_id = $1::bigint AND metric = $2"
				     " ORDER BY id DESC LIMIT $3::int) h ORDER BY id",
				     3, p, items);
	db_release(db, c);
	return rc;
}

int store_fleet_summary(struct db *db, json_t **out)
{
	struct dbconn *c;
	int rc;

	*out = NULL;
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_one(
		c,
		"SELECT json_build_object("
		" 'devices', (SELECT count(*) FROM devices),"
		" 'platforms', (SELECT coalesce(json_object_agg(platform, n ORDER BY platform), '{}')"
		"  FROM (SELECT platform, count(*) n FROM devices GROUP BY 1) x),"
		" 'models', (SELECT coalesce(json_agg(json_build_object('model', m, 'version', v,"
		"  'state', s, 'devices', n) ORDER BY m, v, s), '[]')"
		"  FROM (SELECT e.key m, e.value->>'version' v, e.value->>'state' s, count(*) n"
		"  FROM devices d, jsonb_each(d.models) e GROUP BY 1, 2, 3) y),"
		" 'last_seen', (SELECT json_build_object("
		"  '5m', count(*) FILTER (WHERE last_seen >= now() - interval '5 minutes'),"
		"  '1h', count(*) FILTER (WHERE last_seen < now() - interval '5 minutes'"
		"   AND last_seen >= now() - interval '1 hour'),"
		"  '24h', count(*) FILTER (WHERE last_seen < now() - interval '1 hour'"
		"   AND last_seen >= now() - interval '1 day'),"
		"  'older', count(*) FILTER (WHERE last_seen < now() - interval '1 day'),"
		"  'never', count(*) FILTER (WHERE last_seen IS NULL)) FROM devices))::text",
		0, NULL, out);
	db_release(db, c);
	return rc;
}
