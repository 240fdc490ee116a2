/*
 * store_rollout_reads.c - rollouts read: as the API shows them (one, a page
 * of them), the active ones for the engine's evaluation, which devices are
 * eligible and assigned, agents' install status and outcomes, and the
 * per-rollout gauges for /metrics. Everything here only reads, except
 * store_agent_status(), which records what an agent reports; rollouts
 * themselves change only through store_rollout_write() (store_rollouts.c).
 */
#include "store/store.h"

#include "domain/selector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROLLOUT_JSON                                                           \
	"json_build_object('id', r.id, 'model', r.model, 'version', r.version,"    \
	" 'baseline_version', r.baseline_version, 'policy', coalesce(r.policy_name, 'inline')," \
	" 'policy_spec', r.policy, 'selector', r.selector, 'state', r.state,"     \
	" 'stage', json_build_object('index', r.stage, 'name', r.policy->'stages'->r.stage->>'name'," \
	"  'size', (r.policy->'stages'->r.stage->>'size')::float8, 'started_at', r.stage_started_at," \
	"  'window_ends_at', r.window_ends_at), 'failing', r.failing,"            \
	" 'devices', json_build_object('target', r.target_count,"                 \
	"  'assigned', (SELECT count(*) FROM rollout_devices rd WHERE rd.rollout_id = r.id)," \
	"  'installed', (SELECT count(*) FROM rollout_devices rd JOIN devices d ON d.id = rd.device_id" \
	"   WHERE rd.rollout_id = r.id AND d.models->r.model->>'version' = r.version"  \
	"   AND d.models->r.model->>'state' = 'installed'),"                      \
	"  'failed', (SELECT count(*) FROM rollout_devices rd JOIN devices d ON d.id = rd.device_id" \
	"   WHERE rd.rollout_id = r.id AND d.models->r.model->>'version' = r.version"  \
	"   AND d.models->r.model->>'state' = 'failed')),"                        \
	" 'created_by', r.created_by, 'created_at', r.created_at, 'updated_at', r.updated_at," \
	" 'finished_at', r.finished_at, 'last_evaluated_at', r.last_evaluated_at," \
	" 'variants_rolled_back', to_json(r.variants_rolled_back)"

int store_rollout_get_json(struct db *db, int64_t id, int stuck_after_s, json_t **out)
{
	struct dbconn *c;
	char sid[32], b[16];
	const char *p[2] = {sid, b};
	json_t *a = NULL, *e = NULL, *stuck = NULL;
	int rc;

	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	snprintf(b, sizeof(b), "%d", stuck_after_s);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_one(c, "SELECT " ROLLOUT_JSON ")::text FROM rollouts r WHERE r.id = $1::bigint",
			    1, p, out);
	if (rc == 0)
		rc = store_json_rows(c,
				     "SELECT json_build_object('stage', stage, 'metric', metric, 'arm', arm,"
				     " 'value', value, 'threshold', threshold, 'baseline', baseline,"
				     " 'samples', samples, 'devices', devices, 'result', result, 'at', at,"
				     " 'query', query, 'note', note, 'judge', judge,"
				     " 'variant', nullif(variant, ''))::text"
				     " FROM rollout_analysis WHERE rollout_id = $1::bigint"
				     " ORDER BY stage, metric, arm, variant",
				     1, p, &a);
	if (rc == 0)
		rc = store_json_rows(c,
				     "SELECT json_build_object('at', at, 'type', type, 'detail', detail)::text"
				     " FROM rollout_events WHERE rollout_id = $1::bigint ORDER BY id",
				     1, p, &e);
	/* assigned devices stuck on this rollout's version (schema/010) */
	if (rc == 0)
		rc = store_json_one(c,
				    "SELECT count(*)::text FROM rollouts r JOIN rollout_devices rd"
				    " ON rd.rollout_id = r.id JOIN devices d ON d.id = rd.device_id"
				    " WHERE r.id = $1::bigint AND d.models->r.model->>'version' = r.version"
				    " AND device_model_stuck(d.models->r.model, $2::int)",
				    2, p, &stuck);
	db_release(db, c);
	if (rc == 0) {
		json_object_set_new(*out, "analysis", a);
		json_object_set_new(*out, "events", e);
		json_object_set(json_object_get(*out, "devices"), "stuck", stuck);
		json_decref(stuck);
	} else {
		json_decref(a);
		json_decref(e);
		json_decref(stuck);
	}
	return rc;
}

int store_rollout_list(struct db *db, bool active_only, const char *model, int limit,
		       const char *after, struct page *out)
{
	struct dbconn *c;
	char lim[16];
	const char *p[4] = {after ? after : "0", lim, model, active_only ? "t" : "f"};
	int rc;

	snprintf(lim, sizeof(lim), "%d", limit + 1);
	memset(out, 0, sizeof(*out));
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_rows(c, "SELECT " ROLLOUT_JSON ")::text FROM rollouts r"
				" WHERE r.id > $1::bigint AND ($3::text IS NULL OR r.model = $3)"
				" AND (NOT $4::bool OR r.state IN ('progressing', 'paused', 'awaiting_approval'))"
				" ORDER BY r.id LIMIT $2::int",
			     4, p, &out->items);
	db_release(db, c);
	if (rc == 0)
		store_paginate(out, limit, "id");
	return rc;
}

int store_rollouts_active(struct db *db, json_t **ids)
{
	struct dbconn *c;
	int rc;

	*ids = NULL;
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_rows(c, "SELECT id::text FROM rollouts WHERE state IN"
				" ('progressing', 'paused', 'awaiting_approval') ORDER BY id",
			     0, NULL, ids);
	db_release(db, c);
	return rc;
}

struct ids {
	int (*each)(void *ctx, const char *id);
	void *ctx;
};

static int one_id(void *ctx, PGresult *r)
{
	struct ids *x = ctx;

	return x->each(x->ctx, PQgetvalue(r, 0, 0));
}

char *store_eligible_sql(struct arena *a, const char *select, const char **p, int *np, int maxp,
			 const struct selector *sel, const struct selector *cohort)
{
	char *w1 = store_selector_sql(sel, a, p, np, maxp), *w2 = "";

	if (cohort)
		w2 = store_selector_sql(cohort, a, p, np, maxp);
	/* the variants' platforms once, then a plain scan of the devices */
	return w1 && w2 ? arena_printf(a,
				       "%s WHERE d.platform = ANY (ARRAY("
				       " SELECT v->>'platform' FROM manifests m,"
				       " jsonb_array_elements(m.doc->'variants') v"
				       " WHERE m.model = $1 AND m.version = $2))"
				       " AND NOT d.pins ? $1%s%s",
				       select, w1, w2)
			: NULL;
}

int store_rollout_eligible(struct db *db, const char *model, const char *version,
			   const struct selector *sel, const struct selector *cohort,
			   const char *const *only, size_t n,
			   int (*each)(void *ctx, const char *id), void *ctx)
{
	struct ids x = {each, ctx};
	struct arena *a = arena_new();
	const char *p[200];
	int np = 2, rc;
	char *w3 = "", *sql;
	struct dbconn *c;

	if (a == NULL)
		return RAMP_ENOMEM;
	p[0] = model;
	p[1] = version;
	sql = store_eligible_sql(a, "SELECT d.id FROM devices d", p, &np, 200, sel, cohort);
	if (only) {
		p[np] = store_text_array(a, only, n);
		w3 = p[np] ? arena_printf(a, " AND d.id = ANY ($%d::text[])", np + 1) : NULL;
		np++;
	}
	sql = sql && w3 ? arena_printf(a, "%s%s", sql, w3) : NULL;
	if (sql == NULL) {
		arena_free(a);
		return RAMP_ENOMEM;
	}
	if ((rc = db_acquire(db, &c)) == 0) {
		rc = db_rows(c, sql, np, p, one_id, &x);
		db_release(db, c);
	}
	arena_free(a);
	return rc;
}

int store_cohort_selector(struct db *db, const char *name, char *buf, size_t len)
{
	json_t *j = NULL;
	int rc = store_cohort_get(db, name, &j);

	if (rc == 0)
		snprintf(buf, len, "%s", json_string_value(json_object_get(j, "selector")));
	json_decref(j);
	return rc;
}

int store_model_stable(struct db *db, const char *model, char *buf, size_t len)
{
	struct dbconn *c;
	PGresult *r;
	int rc;

	buf[0] = '\0';
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r, "SELECT stable_version FROM models WHERE name = $1", 1,
		      (const char *const[]){model});
	db_release(db, c);
	if (rc)
		return rc;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		snprintf(buf, len, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

int store_rollout_assigned(struct db *db, int64_t id, int (*each)(void *ctx, const char *id),
			   void *ctx)
{
	struct ids x = {each, ctx};
	struct dbconn *c;
	char sid[32];
	int rc;

	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_rows(c, "SELECT device_id FROM rollout_devices WHERE rollout_id = $1::bigint", 1,
		     (const char *const[]){sid}, one_id, &x);
	db_release(db, c);
	return rc;
}

static int agent_status_tx(struct db *db, const char *device_id, const char *model,
			   const char *version, const char *state, const char *detail,
			   bool running, const char *delta_json, bool *changed)
{
	struct dbconn *c;
	const char *p[5] = {device_id, model, version, state, detail};
	PGresult *res = NULL;
	int rc;

	*changed = false;
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL, "INSERT INTO agent_status (device_id, model, version, state, detail)"
			       " VALUES ($1, $2, $3, $4, $5)", 5, p);
	if (rc == 0)
		rc = db_query(c, NULL,
			      "UPDATE devices SET models = models || jsonb_build_object($2::text,"
			      " device_model_report(models->$2::text, $3, $4, $5))"
			      " WHERE id = $1",
			      5, p);
	if (rc == 0 && delta_json)
		rc = db_query(c, NULL,
			      "UPDATE devices SET models = jsonb_set(models, ARRAY[$2::text, 'delta'],"
			      " $3::jsonb) WHERE id = $1 AND models ? $2::text", 3,
			      (const char *const[]){device_id, model, delta_json});
	/* what the device is known to run: a delta is offered from exactly that */
	if (rc == 0 && running && strcmp(state, "installed") == 0)
		rc = db_query(c, &res,
			      "UPDATE devices SET running = running || jsonb_build_object($2::text, $3::text)"
			      " WHERE id = $1 AND running->>$2::text IS DISTINCT FROM $3", 3, p);
	else if (rc == 0 && running && strcmp(state, "rolled_back") == 0)
		rc = db_query(c, &res,
			      "UPDATE devices SET running = running - $2::text"
			      " WHERE id = $1 AND running->>$2::text = $3", 3, p);
	*changed = rc == 0 && res && strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	if (*changed) { /* a repeated report changes nothing: no notice, no snapshot change */
		char what[160];
		snprintf(what, sizeof(what), "d %s", device_id);
		rc = store_changed(c, what);
	}
	return db_tx_end(db, c, rc);
}

int store_agent_status(struct db *db, const char *device_id, const char *model,
		       const char *version, const char *state, const char *detail)
{
	bool changed;

	return agent_status_tx(db, device_id, model, version, state, detail, false, NULL, &changed);
}

int store_agent_report(struct db *db, const char *device_id, const char *model,
		       const char *version, const char *state, const char *detail,
		       const char *delta_json, bool *running_changed)
{
	return agent_status_tx(db, device_id, model, version, state, detail, true, delta_json,
			       running_changed);
}

int store_install_outcomes(struct db *db, const char *model, const char *version,
			   double from_ts, double to_ts, json_t **out)
{
	struct dbconn *c;
	char f[64], t[64];
	int rc;

	*out = NULL;
	snprintf(f, sizeof(f), "%.6f", from_ts);
	snprintf(t, sizeof(t), "%.6f", to_ts);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_rows(c,
			     "SELECT DISTINCT ON (device_id) json_build_object('device_id', device_id,"
			     " 'failed', state = 'failed')::text FROM agent_status"
			     " WHERE model = $1 AND version = $2 AND state IN ('installed', 'failed')"
			     " AND at >= to_timestamp($3::float8) AND at <= to_timestamp($4::float8)"
			     " ORDER BY device_id, at DESC",
			     4, (const char *const[]){model, version, f, t}, out);
	db_release(db, c);
	return rc;
}

int store_rollout_gauges(struct db *db, json_t **out)
{
	struct dbconn *c;
	int rc;

	*out = NULL;
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_rows(c,
			     "SELECT json_build_object('id', r.id, 'model', r.model, 'version', r.version,"
			     " 'state', r.state, 'stage', r.stage, 'failing', r.failing,"
			     " 'assigned', (SELECT count(*) FROM rollout_devices rd WHERE rd.rollout_id = r.id),"
			     " 'analysis', coalesce((SELECT json_agg(json_build_object('metric', a.metric,"
			     "  'arm', a.arm, 'value', a.value)) FROM rollout_analysis a"
			     "  WHERE a.rollout_id = r.id AND a.stage = r.stage), '[]'))::text"
			     " FROM rollouts r WHERE r.state IN ('progressing', 'paused', 'awaiting_approval')"
			     " ORDER BY r.id",
			     0, NULL, out);
	db_release(db, c);
	return rc;
}
