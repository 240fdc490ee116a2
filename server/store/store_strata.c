/*
 * store_strata.c - see store_strata.h. The eligible set is the one
 * store_rollout_eligible reads (store_eligible_sql); the keys become
 * columns, platform as the column and the rest as labels, like selectors.
 */
#include "store/store_strata.h"

#include "store/store.h"

#include <stdio.h>
#include <string.h>

#define MAXP 200

/* ", <expr of key 0>, <expr of key 1>..." with the label names as params. */
static char *key_cols(struct arena *a, const char *const *keys, size_t nkeys, const char **p,
		      int *np)
{
	char *s = arena_strdup(a, "");

	for (size_t i = 0; s && i < nkeys; i++) {
		if (strcmp(keys[i], "platform") == 0) {
			s = arena_printf(a, "%s, d.platform", s);
			continue;
		}
		if (*np >= MAXP)
			return NULL;
		p[(*np)++] = keys[i];
		s = arena_printf(a, "%s, d.labels->>$%d", s, *np);
	}
	return s;
}

struct rows {
	int (*each)(void *ctx, const char *id, const char *const *vals);
	void *ctx;
	size_t nkeys;
};

static int one_row(void *ctx, PGresult *r)
{
	struct rows *x = ctx;
	const char *vals[STORE_STRATA_MAX_KEYS];

	for (size_t i = 0; i < x->nkeys; i++)
		vals[i] = PQgetisnull(r, 0, (int)i + 1) ? NULL : PQgetvalue(r, 0, (int)i + 1);
	return x->each(x->ctx, PQgetvalue(r, 0, 0), vals);
}

int store_strata_eligible(struct db *db, const char *model, const char *version,
			  const struct selector *sel, const struct selector *cohort,
			  const char *const *keys, size_t nkeys,
			  int (*each)(void *ctx, const char *id, const char *const *vals), void *ctx)
{
	struct rows x = {each, ctx, nkeys};
	struct arena *a;
	const char *p[MAXP];
	int np = 2, rc;
	char *cols, *sql = NULL;
	struct dbconn *c;

	if (nkeys > STORE_STRATA_MAX_KEYS)
		return RAMP_EINVAL;
	if ((a = arena_new()) == NULL)
		return RAMP_ENOMEM;
	p[0] = model;
	p[1] = version;
	cols = key_cols(a, keys, nkeys, p, &np);
	if (cols)
		sql = store_eligible_sql(a, arena_printf(a, "SELECT d.id%s FROM devices d", cols), p,
					 &np, MAXP, sel, cohort);
	if (sql == NULL) {
		arena_free(a);
		return RAMP_ENOMEM;
	}
	if ((rc = db_acquire(db, &c)) == 0) {
		rc = db_rows(c, sql, np, p, one_row, &x);
		db_release(db, c);
	}
	arena_free(a);
	return rc;
}

/* The JSON object {key: column} of the first nkeys columns, for SQL. */
static char *values_obj(struct arena *a, const char *const *keys, size_t nkeys, const char **p,
			int *np)
{
	char *s = arena_strdup(a, "");

	for (size_t i = 0; s && i < nkeys; i++) {
		if (*np >= MAXP)
			return NULL;
		p[(*np)++] = keys[i];
		s = arena_printf(a, "%s%s$%d::text, k%zu", s, i ? ", " : "", *np, i);
	}
	return s;
}

int store_strata_counts(struct db *db, int64_t id, const char *model, const char *version,
			const struct selector *sel, const struct selector *cohort,
			const char *const *keys, size_t nkeys, json_t **out)
{
	struct arena *a;
	const char *p[MAXP];
	char sid[32], *cols, *inner = NULL, *obj = NULL, *groups = NULL, *sql = NULL;
	int np = 3, rc;
	struct dbconn *c;

	*out = NULL;
	if (nkeys == 0 || nkeys > STORE_STRATA_MAX_KEYS)
		return RAMP_EINVAL;
	if ((a = arena_new()) == NULL)
		return RAMP_ENOMEM;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	p[0] = model;
	p[1] = version;
	p[2] = sid;
	cols = key_cols(a, keys, nkeys, p, &np);
	groups = arena_strdup(a, "");
	for (size_t i = 0; groups && i < nkeys; i++)
		groups = arena_printf(a, "%s%sk%zu", groups, i ? ", " : "", i);
	if (cols && groups)
		inner = store_eligible_sql(
			a, arena_printf(a, "SELECT (rd.device_id IS NOT NULL) AS held%s FROM devices d"
					   " LEFT JOIN rollout_devices rd ON rd.rollout_id = $3::bigint"
					   " AND rd.device_id = d.id", cols),
			p, &np, MAXP, sel, cohort);
	if (inner)
		obj = values_obj(a, keys, nkeys, p, &np);
	if (obj) /* the key columns come out of the inner query as k0, k1... */
		sql = arena_printf(a,
				   "SELECT json_build_object('values', json_build_object(%s),"
				   " 'eligible', count(*), 'canary', count(*) FILTER (WHERE held))"
				   " FROM (%s) AS e (held, %s) GROUP BY %s ORDER BY %s",
				   obj, inner, groups, groups, groups);
	if (sql == NULL) {
		arena_free(a);
		return RAMP_ENOMEM;
	}
	if ((rc = db_acquire(db, &c)) == 0) {
		rc = store_json_rows(c, sql, np, p, out);
		db_release(db, c);
	}
	arena_free(a);
	return rc;
}
