/*
 * store_devices.c - the device inventory and cohorts. Selectors become SQL
 * (store_selector_sql) so lists and counts page through the database
 * instead of loading the fleet.
 */
#include "store/store.h"

#include "domain/selector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* b: the parameter holding the stuck bound in seconds (schema/010) */
#define DEVICE_JSON(b)                                                                   \
	"json_build_object('id', d.id, 'platform', d.platform, 'labels', d.labels,"        \
	" 'pins', d.pins, 'models', device_models_shown(d.models, " b "::int),"           \
	" 'agent_version', d.agent_version, 'last_seen', d.last_seen,"                    \
	" 'created_at', d.created_at)::text"

#define MAXP 200

int store_devices_create(struct db *db, const char *actor, json_t *devices,
			 struct ramp_err *err)
{
	struct dbconn *c;
	PGresult *r;
	char *doc = json_dumps(devices, JSON_COMPACT);
	const char *p[1] = {doc};
	json_t *detail;
	int rc;

	if (doc == NULL)
		return RAMP_ENOMEM;
	if ((rc = db_tx_begin(db, &c)) != 0)
		goto out_free;
	rc = db_query(c, &r,
		      "SELECT d.id FROM devices d JOIN jsonb_array_elements($1::jsonb) x"
		      " ON d.id = x->>'id' LIMIT 1",
		      1, p);
	if (rc)
		goto out;
	if (PQntuples(r) > 0) {
		ramp_err_set(err, RAMP_ECONFLICT, "id", "device %s already exists",
			     PQgetvalue(r, 0, 0));
		PQclear(r);
		rc = RAMP_ECONFLICT;
		goto out;
	}
	PQclear(r);
	rc = db_query(c, NULL,
		      "INSERT INTO devices (id, platform, labels)"
		      " SELECT x->>'id', x->>'platform', coalesce(x->'labels', '{}')"
		      " FROM jsonb_array_elements($1::jsonb) x",
		      1, p);
	if (rc == 0)
		rc = db_query(c, NULL,
			      "INSERT INTO tokens (name, role, hash, device_id)"
			      " SELECT 'device:' || (x->>'id') || ':1', 'device',"
			      " decode(x->>'token_hash', 'hex'), x->>'id'"
			      " FROM jsonb_array_elements($1::jsonb) x",
			      1, p);
	if (rc == RAMP_ECONFLICT)
		ramp_err_set(err, rc, "id", "a device in the request already exists");
	detail = json_pack("{s:i}", "count", (json_int_t)json_array_size(devices));
	if (rc == 0) {
		char tag[32];
		snprintf(tag, sizeof(tag), "%s d ", store_replica());
		rc = db_query(c, NULL,
			      "SELECT pg_notify('ramp_changed', $2 || (x->>'id'))"
			      " FROM jsonb_array_elements($1::jsonb) x",
			      2, (const char *const[]){p[0], tag});
	}
	if (rc == 0)
		rc = store_audit(c, actor, "device.register",
				 json_array_size(devices) == 1
					 ? json_string_value(json_object_get(json_array_get(devices, 0), "id"))
					 : "bulk",
				 detail);
	json_decref(detail);
out:
	rc = db_tx_end(db, c, rc);
out_free:
	free(doc);
	return rc;
}

int store_device_get(struct db *db, const char *id, int stuck_after_s, json_t **out)
{
	struct dbconn *c;
	char b[16];
	const char *p[2] = {id, b};
	int rc;

	snprintf(b, sizeof(b), "%d", stuck_after_s);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_one(c, "SELECT " DEVICE_JSON("$2") " FROM devices d WHERE d.id = $1", 2, p,
			    out);
	db_release(db, c);
	return rc;
}

int store_devices_list(struct db *db, const struct selector *sel, int limit,
		       const char *after, const struct device_view *view, struct page *out)
{
	struct arena *a = arena_new();
	const char *p[MAXP];
	int np = 3, rc;
	char lim[16], bound[16], *where, *sql;
	struct dbconn *c;

	memset(out, 0, sizeof(*out));
	if (a == NULL)
		return RAMP_ENOMEM;
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	snprintf(bound, sizeof(bound), "%d", view->stuck_after_s);
	p[0] = after ? after : "";
	p[1] = lim;
	p[2] = bound;
	where = store_selector_sql(sel, a, p, &np, MAXP);
	sql = where ? arena_printf(a, "SELECT " DEVICE_JSON("$3") " FROM devices d WHERE d.id > $1%s%s"
				      " ORDER BY d.id LIMIT $2::int", where,
				   view->stuck < 0 ? ""
				   : view->stuck ? " AND device_stuck(d.models, $3::int)"
						 : " AND NOT device_stuck(d.models, $3::int)")
		    : NULL;
	if (sql == NULL) {
		arena_free(a);
		return RAMP_ENOMEM;
	}
	if ((rc = db_acquire(db, &c)) == 0) {
		rc = store_json_rows(c, sql, np, p, &out->items);
		db_release(db, c);
	}
	if (rc == 0)
		store_paginate(out, limit, "id");
	arena_free(a);
	return rc;
}

int store_devices_count(struct db *db, const struct selector *sel, int64_t *n)
{
	struct arena *a = arena_new();
	const char *p[MAXP];
	int np = 0, rc;
	char *where, *sql;
	struct dbconn *c;
	PGresult *r;

	if (a == NULL)
		return RAMP_ENOMEM;
	where = store_selector_sql(sel, a, p, &np, MAXP);
	sql = where ? arena_printf(a, "SELECT count(*) FROM devices d WHERE true%s", where) : NULL;
	if (sql == NULL) {
		arena_free(a);
		return RAMP_ENOMEM;
	}
	if ((rc = db_acquire(db, &c)) == 0) {
		rc = db_query(c, &r, sql, np, p);
		if (rc == 0) {
			*n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
			PQclear(r);
		}
		db_release(db, c);
	}
	arena_free(a);
	return rc;
}

int store_device_patch(struct db *db, const char *actor, const char *id, json_t *patch,
		       int stuck_after_s, json_t **out)
{
	struct dbconn *c;
	char *doc = json_dumps(patch, JSON_COMPACT), b[16];
	const char *p[3] = {id, doc, b};
	int rc;

	if (doc == NULL)
		return RAMP_ENOMEM;
	snprintf(b, sizeof(b), "%d", stuck_after_s);
	if ((rc = db_tx_begin(db, &c)) != 0)
		goto out_free;
	rc = store_json_one(c,
			    "UPDATE devices d SET"
			    " labels = jsonb_strip_nulls(d.labels || coalesce($2::jsonb->'labels', '{}')),"
			    " platform = coalesce($2::jsonb->>'platform', d.platform),"
			    " pins = jsonb_strip_nulls(d.pins || coalesce($2::jsonb->'pins', '{}')),"
			    " updated_at = now()"
			    " WHERE d.id = $1 RETURNING " DEVICE_JSON("$3"),
			    3, p, out);
	if (rc == 0) {
		char notice[160];
		snprintf(notice, sizeof(notice), "d %s", id);
		rc = store_changed(c, notice);
	}
	if (rc == 0)
		rc = store_audit(c, actor, "device.update", id, patch);
	rc = db_tx_end(db, c, rc);
	if (rc && *out) {
		json_decref(*out);
		*out = NULL;
	}
out_free:
	free(doc);
	return rc;
}

int store_device_delete(struct db *db, const char *actor, const char *id)
{
	char notice[160];

	snprintf(notice, sizeof(notice), "d %s", id);
	return store_delete(db, actor, "DELETE FROM devices WHERE id = $1", id, "device.delete",
			    notice);
}

#define COHORT_JSON                                                            \
	"json_build_object('name', name, 'selector', selector, 'created_at', created_at," \
	" 'updated_at', updated_at)::text"

int store_cohort_put(struct db *db, const char *actor, const char *name,
		     const char *selector, bool *created, json_t **out)
{
	struct dbconn *c;
	PGresult *r;
	const char *p[2] = {name, selector};
	json_t *detail;
	int rc;

	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r, "SELECT 1 FROM cohorts WHERE name = $1 FOR UPDATE", 1, p);
	if (rc)
		goto out;
	*created = PQntuples(r) == 0;
	PQclear(r);
	detail = json_pack("{s:s}", "selector", selector);
	rc = store_write_one(c,
			     "INSERT INTO cohorts (name, selector) VALUES ($1, $2)"
			     " ON CONFLICT (name) DO UPDATE SET selector = EXCLUDED.selector,"
			     " updated_at = now() RETURNING " COHORT_JSON,
			     2, p, out, actor, "cohort.put", name, detail);
	json_decref(detail);
out:
	return db_tx_end(db, c, rc);
}

int store_cohort_get(struct db *db, const char *name, json_t **out)
{
	return store_get(db, "SELECT " COHORT_JSON " FROM cohorts WHERE name = $1", name, out);
}

int store_cohort_list(struct db *db, int limit, const char *after, struct page *out)
{
	return store_page(db, "SELECT " COHORT_JSON " FROM cohorts WHERE name > $1"
			      " ORDER BY name LIMIT $2::int", after, limit, "name", out);
}

int store_cohort_delete(struct db *db, const char *actor, const char *name)
{
	return store_delete(db, actor, "DELETE FROM cohorts WHERE name = $1", name, "cohort.delete",
			    NULL);
}
