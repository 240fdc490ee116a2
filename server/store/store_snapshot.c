/*
 * store_snapshot.c - reads what agent polls are answered from, in one
 * consistent transaction; and writes the batched last_seen figures.
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *val(PGresult *r, int i, int j)
{
	return PQgetisnull(r, i, j) ? NULL : PQgetvalue(r, i, j);
}

struct rows {
	int (*row)(const struct snapshot_loader *, PGresult *);
	const struct snapshot_loader *l;
};

static int one_row(void *ctx, PGresult *r)
{
	struct rows *x = ctx;

	return x->row(x->l, r);
}

/* Runs sql (with one parameter p1, or none when NULL) row by row. */
static int each_row(struct dbconn *c, const char *sql, const char *p1,
		    int (*row)(const struct snapshot_loader *, PGresult *),
		    const struct snapshot_loader *l)
{
	struct rows x = {row, l};

	return db_rows(c, sql, p1 ? 1 : 0, p1 ? (const char *const[]){p1} : NULL, one_row, &x);
}

static int row_device(const struct snapshot_loader *l, PGresult *r)
{
	return l->device(l->ctx, val(r, 0, 0), val(r, 0, 1), val(r, 0, 2), val(r, 0, 3),
			 val(r, 0, 4));
}

static int row_delta(const struct snapshot_loader *l, PGresult *r)
{
	return l->delta(l->ctx, val(r, 0, 0), val(r, 0, 1), val(r, 0, 2),
			strtoll(val(r, 0, 3), NULL, 10));
}

static int row_model(const struct snapshot_loader *l, PGresult *r)
{
	return l->model(l->ctx, val(r, 0, 0), val(r, 0, 1), val(r, 0, 2));
}

static int row_manifest(const struct snapshot_loader *l, PGresult *r)
{
	return l->manifest(l->ctx, val(r, 0, 0), val(r, 0, 1), val(r, 0, 2), val(r, 0, 3),
			   val(r, 0, 4), val(r, 0, 5));
}

static int row_rollout(const struct snapshot_loader *l, PGresult *r)
{
	int64_t id = strtoll(val(r, 0, 0), NULL, 10);
	int rc = l->rollout(l->ctx, id, val(r, 0, 1), val(r, 0, 2), val(r, 0, 3), val(r, 0, 4),
			    (int)strtol(val(r, 0, 5), NULL, 10), val(r, 0, 6));

	if (rc == 0 && l->rollout_window)
		rc = l->rollout_window(l->ctx, id, val(r, 0, 7) ? strtoll(val(r, 0, 7), NULL, 10) : 0,
				       val(r, 0, 8)[0] == 't', strcmp(val(r, 0, 4), "rolled_back") == 0,
				       val(r, 0, 9));
	if (rc == 0 && l->rollout_shadow)
		rc = l->rollout_shadow(l->ctx, id, val(r, 0, 10) ? strtod(val(r, 0, 10), NULL) : 0);
	if (rc == 0 && l->rollout_back && val(r, 0, 11))
		rc = l->rollout_back(l->ctx, id, val(r, 0, 11));
	return rc;
}

static int row_token(const struct snapshot_loader *l, PGresult *r)
{
	return l->token(l->ctx, val(r, 0, 0), val(r, 0, 1), strtoll(val(r, 0, 2), NULL, 10));
}

static int row_assigned(const struct snapshot_loader *l, PGresult *r)
{
	return l->assigned(l->ctx, strtoll(val(r, 0, 0), NULL, 10), val(r, 0, 1));
}

#define SQL_MANIFESTS                                                                   \
	"SELECT m.model, m.version, m.text, s.signature, s.key_id, m.doc::text"            \
	" FROM manifests m JOIN LATERAL (SELECT ms.signature, ms.key_id"                   \
	"  FROM manifest_signatures ms JOIN signing_keys k ON k.id = ms.key_id"            \
	"  WHERE ms.model = m.model AND ms.version = m.version"                             \
	"  AND k.revoked_at IS NULL ORDER BY ms.created_at DESC LIMIT 1) s ON true"        \
	" WHERE m.expires_at IS NULL OR m.expires_at > now()"
#define ACTIVE "('progressing', 'paused', 'awaiting_approval')"
/* rollouts whose devices answer from them: the active ones, and rollbacks
 * waiting for a maintenance window (schema/017_windows.sql) */
#define ANSWERING " (r.state IN " ACTIVE " OR (r.state = 'rolled_back' AND r.window_opens_at IS NOT NULL))"
/* a held device's membership comes as -rollout_id */
#define SIGNED_ID "CASE WHEN rd.held THEN -rd.rollout_id ELSE rd.rollout_id END"

/* models, manifests and active rollouts, inside c's transaction */
static int load_catalog(struct dbconn *c, const struct snapshot_loader *l)
{
	int rc = each_row(c,
			  "SELECT name, stable_version, CASE WHEN stable_by_platform = '{}' THEN NULL"
			  " ELSE stable_by_platform::text END FROM models",
			  NULL, row_model, l);

	if (rc == 0)
		rc = each_row(c, SQL_MANIFESTS, NULL, row_manifest, l);
	if (rc == 0)
		rc = each_row(c,
			      "SELECT id, model, version, baseline_version, state, stage,"
			      " policy->'stages'->stage->>'name',"
			      " extract(epoch FROM window_opens_at)::bigint,"
			      " coalesce(jsonb_array_length(policy->'stages'->stage->'windows'), 0) > 0"
			      "  OR policy ? 'label_windows', window_opens_by::text,"
			      " CASE WHEN policy->'stages'->stage->'shadow' = 'true'"
			      " THEN coalesce((policy->'stages'->stage->>'shadow_fraction')::float8, 0.1)"
			      " ELSE 0 END,"
			      " CASE WHEN variants_rolled_back = '{}' THEN NULL"
			      " ELSE array_to_json(variants_rolled_back)::text END"
			      " FROM rollouts r WHERE" ANSWERING
			      " ORDER BY r.state IN " ACTIVE ", id", /* the active one last: it answers */
			      NULL, row_rollout, l);
	if (rc == 0)
		rc = each_row(c, "SELECT from_digest, to_digest, digest, size FROM deltas", NULL,
			      row_delta, l);
	return rc;
}

static int begin_read(struct db *db, struct dbconn **c)
{
	int rc = db_acquire(db, c);

	if (rc)
		return rc;
	rc = db_query(*c, NULL, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	if (rc) {
		db_release(db, *c);
		return rc;
	}
	(*c)->in_tx = 1;
	return 0;
}

static void end_read(struct db *db, struct dbconn *c)
{
	db_rollback(c);
	db_release(db, c);
}

int store_snapshot_load(struct db *db, const struct snapshot_loader *l)
{
	struct dbconn *c;
	int rc;

	if ((rc = begin_read(db, &c)) != 0)
		return rc;
	rc = each_row(c, "SELECT id, platform, CASE WHEN pins = '{}' THEN NULL ELSE pins::text END,"
		 " CASE WHEN running = '{}' THEN NULL ELSE running::text END, labels->>'ramp.window'"
			 " FROM devices", NULL, row_device, l);
	if (rc == 0)
		rc = load_catalog(c, l);
	if (rc == 0)
		rc = each_row(c,
			      "SELECT " SIGNED_ID ", rd.device_id FROM rollout_devices rd"
			      " JOIN rollouts r ON r.id = rd.rollout_id"
			      " WHERE" ANSWERING,
			      NULL, row_assigned, l);
	if (rc == 0)
		rc = each_row(c,
			      "SELECT encode(hash, 'hex'), device_id,"
			      " coalesce(ceil(extract(epoch FROM expires_at))::bigint, 0)"
			      " FROM tokens WHERE role = 'device'"
			      " AND (expires_at IS NULL OR expires_at > now())",
			      NULL, row_token, l);
	end_read(db, c);
	return rc;
}

int store_snapshot_catalog(struct db *db, const struct snapshot_loader *l)
{
	struct dbconn *c;
	int rc;

	if ((rc = begin_read(db, &c)) != 0)
		return rc;
	rc = load_catalog(c, l);
	end_read(db, c);
	return rc;
}

int store_snapshot_devices(struct db *db, const char *const *ids, size_t n,
			   const struct snapshot_loader *l)
{
	struct arena *a = arena_new();
	struct dbconn *c;
	char *arr = a ? store_text_array(a, ids, n) : NULL;
	int rc;

	if (arr == NULL) {
		arena_free(a);
		return RAMP_ENOMEM;
	}
	if ((rc = begin_read(db, &c)) != 0) {
		arena_free(a);
		return rc;
	}
	rc = each_row(c,
		      "SELECT id, platform, CASE WHEN pins = '{}' THEN NULL ELSE pins::text END,"
		 " CASE WHEN running = '{}' THEN NULL ELSE running::text END, labels->>'ramp.window'"
		      " FROM devices WHERE id = ANY($1::text[])",
		      arr, row_device, l);
	if (rc == 0)
		rc = each_row(c,
			      "SELECT encode(hash, 'hex'), device_id,"
			      " coalesce(ceil(extract(epoch FROM expires_at))::bigint, 0)"
			      " FROM tokens WHERE role = 'device' AND device_id = ANY($1::text[])"
			      " AND (expires_at IS NULL OR expires_at > now())",
			      arr, row_token, l);
	if (rc == 0)
		rc = each_row(c,
			      "SELECT " SIGNED_ID ", rd.device_id FROM rollout_devices rd"
			      " JOIN rollouts r ON r.id = rd.rollout_id"
			      " WHERE rd.device_id = ANY($1::text[]) AND" ANSWERING,
			      arr, row_assigned, l);
	end_read(db, c);
	arena_free(a);
	return rc;
}

int store_snapshot_members(struct db *db, int64_t id, int stage, const struct snapshot_loader *l)
{
	struct dbconn *c;
	char p[48];
	int rc;

	snprintf(p, sizeof(p), "{%lld,%d}", (long long)id, stage);
	if ((rc = begin_read(db, &c)) != 0)
		return rc;
	rc = each_row(c,
			"SELECT " SIGNED_ID ", rd.device_id FROM rollout_devices rd"
			" JOIN rollouts r ON r.id = rd.rollout_id"
			" WHERE rd.rollout_id = ($1::bigint[])[1] AND" ANSWERING
			" AND (($1::bigint[])[2] < 0 OR rd.stage = ($1::bigint[])[2])",
			p, row_assigned, l);
	end_read(db, c);
	return rc;
}

int store_devices_seen(struct db *db, const char *const *ids, const double *at,
		       const char *const *agent_versions, size_t n)
{
	struct arena *a = arena_new();
	char *p[3] = {NULL, NULL, NULL}, *t;
	struct dbconn *c;
	int rc;

	if (a && (p[2] = store_text_array(a, agent_versions, n)) != NULL)
		p[0] = store_text_array(a, ids, n);
	/* seconds with microseconds: 21 bytes a value at most, and a comma */
	if (p[0] && (p[1] = t = arena_alloc(a, 24 * n + 3)) != NULL) {
		*t++ = '{';
		for (size_t i = 0; i < n; i++)
			t += sprintf(t, "%s%.6f", i ? "," : "", at[i]);
		strcpy(t, "}");
	}
	if (p[1] == NULL) {
		arena_free(a);
		return RAMP_ENOMEM;
	}
	if ((rc = db_acquire(db, &c)) == 0) {
		rc = db_query(c, NULL,
			      "UPDATE devices d SET last_seen = to_timestamp(x.at),"
			      " agent_version = coalesce(x.v, d.agent_version)"
			      " FROM unnest($1::text[], $2::float8[], $3::text[]) AS x(id, at, v)"
			      " WHERE d.id = x.id",
			      3, (const char *const *)p);
		db_release(db, c);
	}
	arena_free(a);
	return rc;
}
