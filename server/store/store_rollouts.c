/*
 * store_rollouts.c - policies, and rollouts written: created, loaded for the
 * engine, and moved on (state, sticky device assignments, events, analysis).
 * Reading them for the API and the engine is store_rollout_reads.c.
 *
 * Transitions are written by store_rollout_write() in one transaction
 * guarded by the rollout's rev column: a writer that computed its change
 * from an older rev gets RAMP_ECONFLICT and nothing is applied, so a lost
 * leader lock or a racing operator verb never applies a transition twice.
 */
#include "store/store.h"
#include "store/store_windows.h"

#include "domain/selector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_JSON                                                            \
	"json_build_object('name', name, 'policy', doc, 'source', source,"       \
	" 'created_at', created_at, 'updated_at', updated_at)::text"

int store_policy_put(struct db *db, const char *actor, const char *name, json_t *doc,
		     const char *source, bool *created, json_t **out)
{
	struct dbconn *c;
	PGresult *r;
	char *d = json_dumps(doc, JSON_COMPACT);
	const char *p[3] = {name, d, source};
	int rc;

	if (d == NULL)
		return RAMP_ENOMEM;
	if ((rc = db_tx_begin(db, &c)) != 0)
		goto out_free;
	rc = db_query(c, &r, "SELECT 1 FROM policies WHERE name = $1 FOR UPDATE", 1, p);
	if (rc)
		goto out;
	*created = PQntuples(r) == 0;
	PQclear(r);
	rc = store_write_one(c,
			     "INSERT INTO policies (name, doc, source) VALUES ($1, $2::jsonb, $3)"
			     " ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc,"
			     " source = EXCLUDED.source, updated_at = now() RETURNING " POLICY_JSON,
			     3, p, out, actor, "policy.put", name, NULL);
out:
	rc = db_tx_end(db, c, rc);
out_free:
	free(d);
	return rc;
}

int store_policy_get(struct db *db, const char *name, json_t **out)
{
	return store_get(db, "SELECT " POLICY_JSON " FROM policies WHERE name = $1", name, out);
}

int store_policy_list(struct db *db, int limit, const char *after, struct page *out)
{
	return store_page(db, "SELECT " POLICY_JSON " FROM policies WHERE name > $1"
			      " ORDER BY name LIMIT $2::int", after, limit, "name", out);
}

void rollout_row_clear(struct rollout_row *r)
{
	json_decref(r->policy);
	json_decref(r->baseline_values);
	json_decref(r->variants_back);
	memset(r, 0, sizeof(*r));
}

/* 0 when (model, version) exists, is unexpired and an unrevoked key signed it. */
static int check_signable(struct dbconn *c, const char *model, const char *version,
			  struct ramp_err *err)
{
	const char *p[2] = {model, version};
	PGresult *r;
	int rc = db_query(c, &r,
			  "SELECT m.expires_at IS NULL OR m.expires_at > now(),"
			  " EXISTS (SELECT 1 FROM manifest_signatures ms JOIN signing_keys k"
			  "  ON k.id = ms.key_id WHERE ms.model = m.model AND ms.version = m.version"
			  "  AND k.revoked_at IS NULL)"
			  " FROM manifests m WHERE m.model = $1 AND m.version = $2",
			  2, p);

	if (rc)
		return rc;
	if (PQntuples(r) == 0)
		rc = ramp_err_set(err, RAMP_EINVAL, "version", "no manifest for %s version %s",
				  model, version);
	else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		rc = ramp_err_set(err, RAMP_EINVAL, "version", "the manifest of %s %s has expired",
				  model, version);
	else if (strcmp(PQgetvalue(r, 0, 1), "t") != 0)
		rc = ramp_err_set(err, RAMP_EINVAL, "version",
				  "every key that signed %s %s is revoked", model, version);
	PQclear(r);
	return rc;
}

int store_rollout_insert(struct db *db, const char *actor, const char *model,
			 const char *version, const char *policy_name, json_t *policy,
			 const char *selector, int64_t now, int64_t window_ends_at,
			 json_t *baseline_values, int64_t *id, struct ramp_err *err)
{
	struct dbconn *c;
	PGresult *r;
	char *pol = json_dumps(policy, JSON_COMPACT);
	char *bv = json_dumps(baseline_values, JSON_COMPACT);
	char snow[32], send[32];
	const char *p[8] = {model, version, policy_name, pol, selector, snow, send, bv};
	int rc;

	snprintf(snow, sizeof(snow), "%lld", (long long)now);
	snprintf(send, sizeof(send), "%lld", (long long)window_ends_at);
	if (pol == NULL || bv == NULL) {
		rc = RAMP_ENOMEM;
		goto out_free;
	}
	if ((rc = db_tx_begin(db, &c)) != 0)
		goto out_free;
	if ((rc = check_signable(c, model, version, err)) != 0)
		goto out;
	rc = db_query(c, &r,
		      "INSERT INTO rollouts (model, version, baseline_version, policy_name, policy,"
		      " selector, state, stage, stage_started_at, window_ends_at, baseline_values,"
		      " created_by) SELECT $1, $2, (SELECT stable_version FROM models WHERE name = $1),"
		      " $3, $4::jsonb, $5, 'progressing', 0, to_timestamp($6::bigint),"
		      " to_timestamp($7::bigint), $8::jsonb, $9 RETURNING id",
		      9, (const char *const[]){p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], actor});
	if (rc == RAMP_ECONFLICT)
		ramp_err_set(err, rc, "model", "model %s already has an active rollout", model);
	if (rc)
		goto out;
	*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
out:
	rc = db_tx_end(db, c, rc);
out_free:
	free(pol);
	free(bv);
	return rc;
}

static int64_t ts_of(PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? 0 : (int64_t)strtod(PQgetvalue(r, 0, col), NULL);
}

int store_rollout_load(struct db *db, int64_t id, struct rollout_row *out)
{
	struct dbconn *c;
	PGresult *r;
	char sid[32];
	const char *p[1] = {sid};
	int rc;

	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	memset(out, 0, sizeof(*out));
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r,
		      "SELECT id, rev, model, version, baseline_version, selector, state, stage,"
		      " failing, extensions, extract(epoch from stage_started_at),"
		      " extract(epoch from window_ends_at), extract(epoch from paused_at),"
		      " extract(epoch from created_at), policy::text, baseline_values::text,"
		      " array_to_json(variants_rolled_back)::text"
		      " FROM rollouts WHERE id = $1::bigint",
		      1, p);
	db_release(db, c);
	if (rc)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return RAMP_ENOTFOUND;
	}
	out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	out->rev = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	snprintf(out->model, sizeof(out->model), "%s", PQgetvalue(r, 0, 2));
	snprintf(out->version, sizeof(out->version), "%s", PQgetvalue(r, 0, 3));
	out->has_baseline = !PQgetisnull(r, 0, 4);
	snprintf(out->baseline, sizeof(out->baseline), "%s", PQgetvalue(r, 0, 4));
	snprintf(out->selector, sizeof(out->selector), "%s", PQgetvalue(r, 0, 5));
	snprintf(out->state, sizeof(out->state), "%s", PQgetvalue(r, 0, 6));
	out->stage = (int)strtol(PQgetvalue(r, 0, 7), NULL, 10);
	out->failing = (int)strtol(PQgetvalue(r, 0, 8), NULL, 10);
	out->extensions = (int)strtol(PQgetvalue(r, 0, 9), NULL, 10);
	out->stage_started_at = ts_of(r, 10);
	out->window_ends_at = ts_of(r, 11);
	out->paused_at = ts_of(r, 12);
	out->created_at = ts_of(r, 13);
	out->policy = json_loads(PQgetvalue(r, 0, 14), 0, NULL);
	out->baseline_values = json_loads(PQgetvalue(r, 0, 15), 0, NULL);
	out->variants_back = json_loads(PQgetvalue(r, 0, 16), 0, NULL);
	PQclear(r);
	return out->policy ? 0 : RAMP_EINTERNAL;
}

/* rollback.per_variant: each platform joins the rollout's variants_rolled_back
 * (once) with a breach event naming it */
static int write_variants_back(struct dbconn *c, const struct rollout_write *w, const char *sid)
{
	size_t i;
	json_t *v;
	int rc = 0;

	json_array_foreach(w->variants_back, i, v) {
		const char *p[3] = {sid, json_string_value(json_object_get(v, "variant")),
				    json_string_value(json_object_get(v, "detail"))};
		char target[48];
		json_t *d;
		if (p[1] == NULL || p[2] == NULL)
			continue;
		rc = db_query(c, NULL,
			      "WITH u AS (UPDATE rollouts SET variants_rolled_back ="
			      "  array_append(variants_rolled_back, $2)"
			      "  WHERE id = $1::bigint AND NOT ($2 = ANY(variants_rolled_back))"
			      "  RETURNING id)"
			      " INSERT INTO rollout_events (rollout_id, type, detail)"
			      " SELECT id, 'breach', $3 FROM u",
			      3, p);
		if (rc)
			return rc;
		snprintf(target, sizeof(target), "rollout/%s", sid);
		d = json_pack("{s:s, s:s}", "variant", p[1], "detail", p[2]);
		rc = store_audit(c, w->actor, "rollout.breach", target, d);
		json_decref(d);
		if (rc)
			return rc;
	}
	return 0;
}

static int write_events(struct dbconn *c, const struct rollout_write *w, const char *sid)
{
	size_t i;
	json_t *e;
	char target[48];
	int rc = 0;

	snprintf(target, sizeof(target), "rollout/%s", sid);
	json_array_foreach(w->events, i, e) {
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *detail = json_string_value(json_object_get(e, "detail"));
		const char *p[3] = {sid, type, detail ? detail : ""};
		char action[64];
		json_t *d;
		rc = db_query(c, NULL, "INSERT INTO rollout_events (rollout_id, type, detail)"
				       " VALUES ($1::bigint, $2, $3)", 3, p);
		if (rc)
			return rc;
		snprintf(action, sizeof(action), "rollout.%s", type);
		d = json_pack("{s:s}", "detail", detail ? detail : "");
		rc = store_audit(c, w->actor, action, target, d);
		json_decref(d);
		if (rc)
			return rc;
	}
	return 0;
}

static int write_assign(struct dbconn *c, const struct rollout_write *w, const char *sid)
{
	json_t *ids = json_array();
	char stage[16], *doc;
	int rc;

	for (size_t i = 0; i < w->nassign; i++)
		json_array_append_new(ids, json_string(w->assign_ids[i]));
	doc = json_dumps(ids, JSON_COMPACT);
	json_decref(ids);
	if (doc == NULL)
		return RAMP_ENOMEM;
	snprintf(stage, sizeof(stage), "%d", w->assign_stage);
	rc = db_query(c, NULL,
		      "INSERT INTO rollout_devices (rollout_id, device_id, stage, held)"
		      " SELECT $1::bigint, x, $2::int, $4::bool FROM jsonb_array_elements_text($3::jsonb) x"
		      " ON CONFLICT DO NOTHING",
		      4, (const char *const[]){sid, stage, doc, w->assign_held ? "t" : "f"});
	free(doc);
	return rc;
}

static int write_analysis(struct dbconn *c, const struct rollout_write *w, const char *sid)
{
	char *doc = json_dumps(w->analysis, JSON_COMPACT);
	int rc;

	if (doc == NULL)
		return RAMP_ENOMEM;
	/* the evaluation's rows replace the stage's: a row of a variant (or of
	 * the unsplit analysis) this evaluation no longer has does not linger */
	rc = db_query(c, NULL,
		      "DELETE FROM rollout_analysis WHERE rollout_id = $1::bigint AND stage IN"
		      " (SELECT DISTINCT (x->>'stage')::int FROM jsonb_array_elements($2::jsonb) x)"
		      " AND (metric, arm, variant) NOT IN (SELECT x->>'metric', x->>'arm',"
		      " coalesce(x->>'variant', '') FROM jsonb_array_elements($2::jsonb) x)",
		      2, (const char *const[]){sid, doc});
	if (rc == 0)
		rc = db_query(c, NULL,
			      "INSERT INTO rollout_analysis (rollout_id, stage, metric, arm, value,"
			      " threshold, baseline, samples, devices, result, at, judge, variant, query,"
			      " note)"
			      " SELECT $1::bigint, (x->>'stage')::int, x->>'metric', x->>'arm',"
			      " (x->>'value')::float8, x->>'threshold', (x->>'baseline')::float8,"
			      " (x->>'samples')::bigint, (x->>'devices')::bigint, x->>'result', now(),"
			      " x->'judge', coalesce(x->>'variant', ''), x->>'query', x->>'note'"
			      " FROM jsonb_array_elements($2::jsonb) x"
			      " ON CONFLICT (rollout_id, stage, metric, arm, variant) DO UPDATE SET"
			      " value = EXCLUDED.value, threshold = EXCLUDED.threshold,"
			      " baseline = EXCLUDED.baseline, samples = EXCLUDED.samples,"
			      " devices = EXCLUDED.devices, result = EXCLUDED.result, at = EXCLUDED.at,"
			      " judge = EXCLUDED.judge, query = EXCLUDED.query, note = EXCLUDED.note",
			      2, (const char *const[]){sid, doc});
	free(doc);
	return rc;
}

static int write_row(struct dbconn *c, const struct rollout_write *w, const char *sid)
{
	char rev[32], stage[16], failing[16], ext[16], ss[32], we[32], pa[32], tc[16];
	char *bv = w->baseline_values ? json_dumps(w->baseline_values, JSON_COMPACT) : NULL;
	PGresult *r;
	int rc;

	snprintf(rev, sizeof(rev), "%lld", (long long)w->rev);
	snprintf(stage, sizeof(stage), "%d", w->stage);
	snprintf(failing, sizeof(failing), "%d", w->failing);
	snprintf(ext, sizeof(ext), "%d", w->extensions);
	snprintf(ss, sizeof(ss), "%lld", (long long)w->stage_started_at);
	snprintf(we, sizeof(we), "%lld", (long long)w->window_ends_at);
	snprintf(pa, sizeof(pa), "%lld", (long long)w->paused_at);
	snprintf(tc, sizeof(tc), "%d", w->target_count);
	rc = db_query(c, &r,
		      /* rev moves only with a transition: an evaluation that changes
		       * nothing but its figures does not make a verb planned
		       * meanwhile (seconds at a million devices) lose its race */
		      "UPDATE rollouts SET rev = rev + CASE WHEN $10::bool OR"
		      " (state, stage, failing, extensions, stage_started_at, window_ends_at,"
		      "  paused_at) IS DISTINCT FROM ($3, $4::int, $5::int, $6::int,"
		      "  to_timestamp($7::bigint), to_timestamp($8::bigint),"
		      "  CASE WHEN $9::bigint = 0 THEN NULL ELSE to_timestamp($9::bigint) END)"
		      " THEN 1 ELSE 0 END, state = $3, stage = $4::int,"
		      " failing = $5::int, extensions = $6::int,"
		      " stage_started_at = to_timestamp($7::bigint),"
		      " window_ends_at = to_timestamp($8::bigint),"
		      " paused_at = CASE WHEN $9::bigint = 0 THEN NULL ELSE to_timestamp($9::bigint) END,"
		      " finished_at = CASE WHEN $10::bool THEN now() ELSE finished_at END,"
		      " baseline_values = coalesce($11::jsonb, baseline_values),"
		      " target_count = CASE WHEN $12::int < 0 THEN target_count ELSE $12::int END,"
		      " last_evaluated_at = CASE WHEN $13::bool THEN now() ELSE last_evaluated_at END,"
		      " updated_at = now() WHERE id = $1::bigint AND rev = $2::bigint",
		      13,
		      (const char *const[]){sid, rev, w->state, stage, failing, ext, ss, we, pa,
					    w->finished ? "t" : "f", bv, tc, w->evaluated ? "t" : "f"});
	free(bv);
	if (rc)
		return rc;
	rc = PQcmdTuples(r)[0] == '1' ? 0 : RAMP_ECONFLICT;
	PQclear(r);
	return rc;
}

int store_rollout_write(struct db *db, const struct rollout_write *w)
{
	struct dbconn *c;
	char sid[32], notice[64];
	int rc;

	snprintf(sid, sizeof(sid), "%lld", (long long)w->id);
	/* other replicas reload the catalog and the members of the stage assigned */
	snprintf(notice, sizeof(notice), "r %s %d", sid, w->nassign > 0 ? w->assign_stage : -1);
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = write_row(c, w, sid);
	if (rc == 0 && w->assign_stage >= 0 && w->nassign > 0)
		rc = write_assign(c, w, sid);
	if (rc == 0 && w->analysis && json_array_size(w->analysis) > 0)
		rc = write_analysis(c, w, sid);
	if (rc == 0 && w->window_opens_at != 0)
		rc = store_window_opens_at(c, w->id, w->window_opens_at);
	if (rc == 0 && w->variants_back)
		rc = write_variants_back(c, w, sid);
	/* the platforms a per-variant rollback sent back stay on the baseline
	 * when the version becomes stable without them */
	if (rc == 0 && w->set_stable)
		rc = db_query(c, NULL,
			      "INSERT INTO models (name, stable_version, stable_by_platform, updated_at)"
			      " SELECT model, version, (SELECT coalesce(jsonb_object_agg(p,"
			      "  r.baseline_version), '{}') FROM unnest(r.variants_rolled_back) p"
			      "  WHERE r.baseline_version IS NOT NULL), now()"
			      " FROM rollouts r WHERE id = $1::bigint"
			      " ON CONFLICT (name) DO UPDATE SET stable_version = EXCLUDED.stable_version,"
			      " stable_by_platform = EXCLUDED.stable_by_platform, updated_at = now()",
			      1, (const char *const[]){sid});
	if (rc == 0 && w->events && json_array_size(w->events) > 0)
		rc = write_events(c, w, sid);
	if (rc == 0 && (w->nassign > 0 || w->set_stable || w->finished || w->window_opens_at ||
			json_array_size(w->variants_back) > 0 ||
			(w->events && json_array_size(w->events) > 0)))
		rc = store_changed(c, notice);
	return db_tx_end(db, c, rc);
}
