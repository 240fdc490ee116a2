/*
 * store_windows.c - held devices and waiting rollbacks (store_windows.h).
 * Every write here sends the notice other replicas apply: "r <id> <stage>"
 * re-reads that stage's members (now released), "r <id> -1" the catalog.
 */
#include "store/store_windows.h"

#include "common/arena.h"
#include "domain/policy.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_window_opens_at(struct dbconn *c, int64_t id, int64_t at)
{
	char sid[32], sat[32];

	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	snprintf(sat, sizeof(sat), "%lld", (long long)at);
	return db_query(c, NULL,
			"UPDATE rollouts SET window_opens_at = CASE WHEN $2::bigint < 0 THEN NULL"
			" ELSE to_timestamp($2::bigint) END WHERE id = $1::bigint",
			2, (const char *const[]){sid, sat});
}

struct released {
	struct strlist *ids;
	int stages[64];
	size_t nstages;
};

static int on_released(void *ctx, PGresult *r)
{
	struct released *x = ctx;
	int st = (int)strtol(PQgetvalue(r, 0, 1), NULL, 10);
	size_t i;

	for (i = 0; i < x->nstages && x->stages[i] != st; i++)
		;
	if (i == x->nstages && x->nstages < 64)
		x->stages[x->nstages++] = st;
	return strlist_push(x->ids, PQgetvalue(r, 0, 0));
}

int store_rollout_release(struct db *db, int64_t id, struct strlist *ids)
{
	struct released x = {ids, {0}, 0};
	struct dbconn *c;
	char sid[32], notice[64];
	int rc;

	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_rows(c,
		     "UPDATE rollout_devices SET held = false WHERE rollout_id = $1::bigint AND held"
		     " RETURNING device_id, stage",
		     1, (const char *const[]){sid}, on_released, &x);
	if (rc == 0 && ids->n > 0)
		rc = store_window_opens_at(c, id, -1);
	for (size_t i = 0; rc == 0 && i < x.nstages; i++) {
		snprintf(notice, sizeof(notice), "r %s %d", sid, x.stages[i]);
		rc = store_changed(c, notice);
	}
	return db_tx_end(db, c, rc);
}

int store_rollout_hold_until(struct db *db, int64_t id, int64_t at, bool *changed)
{
	struct dbconn *c;
	PGresult *r = NULL;
	char sid[32], sat[32], notice[64];
	int rc;

	*changed = false;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	snprintf(sat, sizeof(sat), "%lld", (long long)at);
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r,
		      "UPDATE rollouts SET window_opens_at = to_timestamp($2::bigint)"
		      " WHERE id = $1::bigint AND window_opens_at IS DISTINCT FROM to_timestamp($2::bigint)"
		      " AND EXISTS (SELECT 1 FROM rollout_devices WHERE rollout_id = $1::bigint AND held)",
		      2, (const char *const[]){sid, sat});
	if (rc == 0) {
		*changed = PQcmdTuples(r)[0] == '1';
		PQclear(r);
	}
	snprintf(notice, sizeof(notice), "r %s -1", sid);
	if (rc == 0 && *changed)
		rc = store_changed(c, notice);
	return db_tx_end(db, c, rc);
}

static int on_id(void *ctx, PGresult *r)
{
	return json_array_append_new(ctx, json_integer(strtoll(PQgetvalue(r, 0, 0), NULL, 10)));
}

int store_rollouts_reverted(struct db *db, int64_t now, json_t **ids)
{
	struct dbconn *c;
	char snow[32], notice[64];
	size_t i;
	json_t *v;
	int rc;

	*ids = json_array();
	if (*ids == NULL)
		return RAMP_ENOMEM;
	snprintf(snow, sizeof(snow), "%lld", (long long)now);
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_rows(c,
		     "UPDATE rollouts SET window_opens_at = NULL WHERE state = 'rolled_back'"
		     " AND window_opens_at IS NOT NULL AND window_opens_at <= to_timestamp($1::bigint)"
		     " RETURNING id",
		     1, (const char *const[]){snow}, on_id, *ids);
	json_array_foreach(*ids, i, v) {
		if (rc)
			break;
		snprintf(notice, sizeof(notice), "r %lld -1", (long long)json_integer_value(v));
		rc = store_changed(c, notice);
	}
	return db_tx_end(db, c, rc);
}

static int on_reverting(void *ctx, PGresult *r)
{
	return json_array_append_new(ctx, json_pack("{s:I, s:I}", "id",
						    (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10),
						    "opens_at",
						    (json_int_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10)));
}

int store_rollouts_reverting(struct db *db, json_t **out)
{
	struct dbconn *c;
	int rc;

	if ((*out = json_array()) == NULL)
		return RAMP_ENOMEM;
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_rows(c,
		     "SELECT id, extract(epoch FROM window_opens_at)::bigint FROM rollouts"
		     " WHERE state = 'rolled_back' AND window_opens_at IS NOT NULL",
		     0, NULL, on_reverting, *out);
	db_release(db, c);
	return rc;
}

static int on_counts(void *ctx, PGresult *r)
{
	json_t *o = ctx;

	json_object_set_new(o, "held", json_integer(strtoll(PQgetvalue(r, 0, 0), NULL, 10)));
	json_object_set_new(o, "deferred", json_integer(strtoll(PQgetvalue(r, 0, 2), NULL, 10)));
	if (!PQgetisnull(r, 0, 3)) /* label_windows: each waiting group's opening */
		json_object_set_new(o, "opens_by", json_loads(PQgetvalue(r, 0, 3), 0, NULL));
	json_object_set_new(o, "next_window_at",
			    PQgetisnull(r, 0, 1)
				    ? json_null()
				    : json_integer(strtoll(PQgetvalue(r, 0, 1), NULL, 10)));
	return 0;
}

int store_rollout_window_counts(struct db *db, int64_t id, json_t **out)
{
	struct dbconn *c;
	char sid[32];
	int rc;

	if ((*out = json_object()) == NULL)
		return RAMP_ENOMEM;
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_rows(c,
		     "SELECT (SELECT count(*) FROM rollout_devices WHERE rollout_id = r.id AND held),"
		     " extract(epoch FROM r.window_opens_at)::bigint,"
		     " (SELECT count(*) FROM rollout_devices rd JOIN devices d ON d.id = rd.device_id"
		     "  WHERE rd.rollout_id = r.id AND d.models->r.model->>'version' = r.version"
		     "  AND d.models->r.model->>'state' = 'deferred'), r.window_opens_by::text"
		     " FROM rollouts r WHERE r.id = $1::bigint",
		     1, (const char *const[]){sid}, on_counts, *out);
	db_release(db, c);
	return rc;
}

int store_next_window_opening(struct db *db, int64_t now, int64_t *at)
{
	struct dbconn *c;
	PGresult *r = NULL;
	char snow[32];
	int rc;

	*at = 0;
	snprintf(snow, sizeof(snow), "%lld", (long long)now);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r,
		      "SELECT extract(epoch FROM min(window_opens_at))::bigint FROM rollouts"
		      " WHERE window_opens_at > to_timestamp($1::bigint)"
		      " AND state IN ('progressing', 'rolled_back')",
		      1, (const char *const[]){snow});
	if (rc == 0) {
		if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
			*at = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	db_release(db, c);
	return rc;
}

/* the held devices of rollout $1 whose group is open: a ramp.window value
 * of $2 that is in $3, or (any other device) $4 */
#define RELEASE_GROUPS                                                                      \
	"UPDATE rollout_devices rd SET held = false FROM devices d"                         \
	" WHERE rd.rollout_id = $1::bigint AND rd.held AND d.id = rd.device_id AND"          \
	" CASE WHEN coalesce(d.labels->>'" POLICY_WINDOW_LABEL "', '') = ANY($2::text[])"   \
	" THEN d.labels->>'" POLICY_WINDOW_LABEL "' = ANY($3::text[]) ELSE $4::bool END"    \
	" RETURNING rd.device_id, rd.stage"

#define OPENS_AT "CASE WHEN x.h AND $2::bigint > 0 THEN to_timestamp($2::bigint) END"
#define OPENS_BY "CASE WHEN x.h AND $2::bigint > 0 THEN $3::jsonb END"

int store_rollout_release_groups(struct db *db, int64_t id, const char *const *values,
				 size_t nvalues, const char *const *open_values, size_t nopen,
				 bool default_open, int64_t soonest, json_t *opens,
				 struct strlist *ids, bool *moved)
{
	struct released x = {ids, {0}, 0};
	struct arena *a = arena_new();
	char sid[32], sat[32], notice[64], *all, *open, *by = json_dumps(opens, JSON_COMPACT | JSON_SORT_KEYS);
	struct dbconn *c;
	PGresult *r = NULL;
	int rc;

	*moved = false;
	all = a ? store_text_array(a, values, nvalues) : NULL;
	open = a ? store_text_array(a, open_values, nopen) : NULL;
	if (all == NULL || open == NULL || by == NULL) {
		arena_free(a);
		free(by);
		return RAMP_ENOMEM;
	}
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	snprintf(sat, sizeof(sat), "%lld", (long long)soonest);
	if ((rc = db_tx_begin(db, &c)) != 0)
		goto out;
	rc = db_rows(c, RELEASE_GROUPS, 4,
		     (const char *const[]){sid, all, open, default_open ? "t" : "f"}, on_released, &x);
	if (rc == 0)
		rc = db_query(c, &r,
			      "UPDATE rollouts SET window_opens_at = " OPENS_AT ", window_opens_by = "
			      OPENS_BY " FROM (SELECT EXISTS (SELECT 1 FROM rollout_devices WHERE"
			      " rollout_id = $1::bigint AND held) AS h) x WHERE id = $1::bigint AND"
			      " (window_opens_at IS DISTINCT FROM " OPENS_AT " OR window_opens_by"
			      " IS DISTINCT FROM " OPENS_BY ")",
			      3, (const char *const[]){sid, sat, by});
	if (rc == 0) {
		*moved = PQcmdTuples(r)[0] == '1';
		PQclear(r);
	}
	for (size_t i = 0; rc == 0 && i < x.nstages; i++) {
		snprintf(notice, sizeof(notice), "r %s %d", sid, x.stages[i]);
		rc = store_changed(c, notice);
	}
	snprintf(notice, sizeof(notice), "r %s -1", sid);
	if (rc == 0 && *moved)
		rc = store_changed(c, notice);
	rc = db_tx_end(db, c, rc);
out:
	arena_free(a);
	free(by);
	return rc;
}
