/*
 * store.c - helpers shared by the store_*.c files: JSON rows, audit
 * entries, label selectors translated to SQL, pages.
 */
#include "store/store.h"

#include "common/hex.h"
#include "domain/selector.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void page_free(struct page *p)
{
	if (p == NULL)
		return;
	json_decref(p->items);
	free(p->next);
	p->items = NULL;
	p->next = NULL;
}

int store_json_rows(struct dbconn *c, const char *sql, int n, const char *const *p, json_t **arr)
{
	PGresult *r;
	int rc = db_query(c, &r, sql, n, p);

	if (rc)
		return rc;
	if (*arr == NULL)
		*arr = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *j = json_loads(PQgetvalue(r, i, 0), JSON_DECODE_ANY, NULL);
		if (j == NULL) {
			PQclear(r);
			return RAMP_EINTERNAL;
		}
		json_array_append_new(*arr, j);
	}
	PQclear(r);
	return 0;
}

int store_json_one(struct dbconn *c, const char *sql, int n, const char *const *p, json_t **out)
{
	json_t *arr = NULL;
	int rc = store_json_rows(c, sql, n, p, &arr);

	if (rc == 0 && json_array_size(arr) == 0)
		rc = RAMP_ENOTFOUND;
	if (rc == 0)
		*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return rc;
}

int store_write_one(struct dbconn *c, const char *sql, int n, const char *const *p, json_t **out,
		    const char *actor, const char *action, const char *target, json_t *detail)
{
	int rc = store_json_one(c, sql, n, p, out);

	if (rc == 0)
		rc = store_audit(c, actor, action, target, detail);
	if (rc == 0)
		rc = db_commit(c);
	return rc;
}

int store_audit(struct dbconn *c, const char *actor, const char *action,
		const char *target, json_t *detail)
{
	char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	const char *p[4] = {actor ? actor : "system", action, target, d ? d : "{}"};
	int rc = db_query(c, NULL, "SELECT audit_append($1, $2, $3, $4::jsonb)", 4, p);

	free(d);
	return rc;
}

static const char *param(struct arena *a, const char **params, int *np, int maxp,
			 const char *v)
{
	if (*np >= maxp)
		return NULL;
	params[(*np)++] = v;
	return arena_printf(a, "$%d", *np);
}

/* The SQL expression for a label: platform is a column, the rest jsonb. */
static const char *label_expr(struct arena *a, const char **params, int *np, int maxp,
			      const char *key)
{
	const char *k;

	if (strcmp(key, "platform") == 0)
		return "d.platform";
	k = param(a, params, np, maxp, key);
	return k ? arena_printf(a, "(d.labels->>%s)", k) : NULL;
}

static char *set_sql(const struct selector_req *q, struct arena *a, const char **params,
		     int *np, int maxp)
{
	char *list = arena_strdup(a, "");

	for (size_t i = 0; list && i < q->nvalues; i++) {
		const char *v = param(a, params, np, maxp, q->values[i]);
		if (v == NULL)
			return NULL;
		list = arena_printf(a, "%s%s%s", list, i ? ", " : "", v);
	}
	return list;
}

static char *req_sql(const struct selector_req *q, struct arena *a, const char **params,
		     int *np, int maxp)
{
	static const char *const cmp[] = {[SELECTOR_GT] = ">", [SELECTOR_LT] = "<",
					  [SELECTOR_GE] = ">=", [SELECTOR_LE] = "<="};
	const char *e = label_expr(a, params, np, maxp, q->key), *v;
	char num[64], *set;

	if (e == NULL)
		return NULL;
	switch (q->op) {
	case SELECTOR_EQ:
		v = param(a, params, np, maxp, q->values[0]);
		return v ? arena_printf(a, "%s = %s", e, v) : NULL;
	case SELECTOR_NE:
		v = param(a, params, np, maxp, q->values[0]);
		return v ? arena_printf(a, "%s IS DISTINCT FROM %s", e, v) : NULL;
	case SELECTOR_IN:
	case SELECTOR_NOTIN:
		set = set_sql(q, a, params, np, maxp);
		if (set == NULL)
			return NULL;
		return q->op == SELECTOR_IN ? arena_printf(a, "%s IN (%s)", e, set)
					    : arena_printf(a, "(%s IS NULL OR %s NOT IN (%s))", e, e, set);
	case SELECTOR_EXISTS:
		return arena_printf(a, "%s IS NOT NULL", e);
	case SELECTOR_NOTEXISTS:
		return arena_printf(a, "%s IS NULL", e);
	case SELECTOR_GT:
	case SELECTOR_LT:
	case SELECTOR_GE:
	case SELECTOR_LE:
		snprintf(num, sizeof(num), "%.17g", q->number);
		v = param(a, params, np, maxp, arena_strdup(a, num));
		return v ? arena_printf(a, "ramp_num(%s) %s %s::numeric", e, cmp[q->op], v) : NULL;
	}
	return NULL;
}

char *store_selector_sql(const struct selector *sel, struct arena *a,
			 const char **params, int *np, int maxp)
{
	char *out = arena_strdup(a, "");

	for (size_t i = 0; sel && out && i < selector_count(sel); i++) {
		char *one = req_sql(selector_get(sel, i), a, params, np, maxp);
		if (one == NULL)
			return NULL;
		out = arena_printf(a, "%s AND (%s)", out, one);
	}
	return out;
}

void store_paginate(struct page *out, int limit, const char *key)
{
	json_t *last;
	const char *v;
	char buf[32];

	if ((int)json_array_size(out->items) <= limit)
		return;
	json_array_remove(out->items, (size_t)limit);
	last = json_array_get(out->items, (size_t)limit - 1);
	v = json_string_value(json_object_get(last, key));
	if (v == NULL && json_is_integer(json_object_get(last, key))) {
		snprintf(buf, sizeof(buf), "%lld",
			 (long long)json_integer_value(json_object_get(last, key)));
		v = buf;
	}
	out->next = v ? strdup(v) : NULL;
}

int store_get(struct db *db, const char *sql, const char *param, json_t **out)
{
	const char *p[1] = {param};
	struct dbconn *c;
	int rc;

	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_one(c, sql, 1, p, out);
	db_release(db, c);
	return rc;
}

int store_page(struct db *db, const char *sql, const char *after, int limit, const char *key,
	       struct page *out)
{
	struct dbconn *c;
	char lim[16];
	const char *p[2] = {after ? after : "", lim};
	int rc;

	snprintf(lim, sizeof(lim), "%d", limit + 1);
	memset(out, 0, sizeof(*out));
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_rows(c, sql, 2, p, &out->items);
	db_release(db, c);
	if (rc == 0)
		store_paginate(out, limit, key);
	return rc;
}

int store_delete(struct db *db, const char *actor, const char *sql, const char *id,
		 const char *action, const char *notice)
{
	struct dbconn *c;
	PGresult *r;
	const char *p[1] = {id};
	int rc;

	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r, sql, 1, p);
	if (rc == 0) {
		rc = strcmp(PQcmdTuples(r), "0") != 0 ? 0 : RAMP_ENOTFOUND;
		PQclear(r);
	}
	if (rc == 0 && notice)
		rc = store_changed(c, notice);
	if (rc == 0)
		rc = store_audit(c, actor, action, id, NULL);
	return db_tx_end(db, c, rc);
}

static char replica[17];
static pthread_once_t replica_once = PTHREAD_ONCE_INIT;

static void replica_init(void)
{
	unsigned char b[8] = {0};
	FILE *f = fopen("/dev/urandom", "rb");
	uint64_t x = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);

	if (f == NULL || fread(b, 1, sizeof(b), f) != sizeof(b))
		memcpy(b, &x, sizeof(b)); /* unique enough among a few replicas */
	if (f)
		fclose(f);
	hex_encode(replica, b, sizeof(b));
}

const char *store_replica(void)
{
	pthread_once(&replica_once, replica_init);
	return replica;
}

int store_changed(struct dbconn *c, const char *what)
{
	char payload[512];

	snprintf(payload, sizeof(payload), "%s %s", store_replica(), what);
	return db_query(c, NULL, "SELECT pg_notify('ramp_changed', $1)", 1,
			(const char *const[]){payload});
}

char *store_text_array(struct arena *a, const char *const *items, size_t n)
{
	size_t cap = 3;
	char *out, *at;

	for (size_t i = 0; i < n; i++)
		cap += items[i] ? 2 * strlen(items[i]) + 3 : 5;
	if ((out = at = arena_alloc(a, cap)) == NULL)
		return NULL;
	*at++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*at++ = ',';
		if (items[i] == NULL) {
			memcpy(at, "NULL", 4);
			at += 4;
			continue;
		}
		*at++ = '"'; /* quoted, with " and \ escaped: any text */
		for (const char *p = items[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				*at++ = '\\';
			*at++ = *p;
		}
		*at++ = '"';
	}
	*at++ = '}';
	*at = '\0';
	return out;
}
