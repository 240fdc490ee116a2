/*
 * store_deltas.c - the deltas table (schema/016_deltas.sql): registering a
 * delta (built by rampd or uploaded by CI) with its audit entry and the
 * catalog notice in one transaction, listing them, and the pairs the
 * builder should make: for each active rollout and platform, from the
 * model's stable version and from the rollout's baseline to the rollout's
 * version, where no delta exists yet (nor a failure waiting for its
 * retry time: store_delta_gc.c).
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_delta_put(struct db *db, const char *actor, const char *from, const char *to,
		    const char *digest, int64_t size, const char *source, int64_t build_ms,
		    bool *created)
{
	char sz[32], ms[32];
	const char *p[7] = {from, to, digest, sz, source, build_ms >= 0 ? ms : NULL, actor};
	struct dbconn *c;
	PGresult *res = NULL;
	json_t *detail;
	int rc;

	*created = false;
	snprintf(sz, sizeof(sz), "%lld", (long long)size);
	snprintf(ms, sizeof(ms), "%lld", (long long)build_ms);
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, &res,
		      "INSERT INTO deltas (from_digest, to_digest, digest, size, source, build_ms,"
		      " created_by) VALUES ($1, $2, $3, $4::bigint, $5, $6::bigint, $7)"
		      " ON CONFLICT (from_digest, to_digest) DO NOTHING RETURNING 1",
		      7, p);
	if (rc == 0)
		*created = PQntuples(res) == 1;
	PQclear(res);
	if (rc == 0) /* a pair that failed before has its delta now */
		rc = db_query(c, NULL, "DELETE FROM delta_failures WHERE from_digest = $1"
				       " AND to_digest = $2", 2, p);
	if (rc == 0 && *created) {
		detail = json_pack("{s:s, s:s, s:I, s:s}", "from", from, "to", to, "size",
				   (json_int_t)size, "source", source);
		rc = store_audit(c, actor, "delta.put", digest, detail);
		json_decref(detail);
		if (rc == 0)
			rc = store_changed(c, "c"); /* other replicas read the catalog again */
	}
	return db_tx_end(db, c, rc);
}

#define DELTA_JSON                                                                        \
	"json_build_object('id', d.id, 'from', d.from_digest, 'to', d.to_digest, 'digest', d.digest,"   \
	" 'size', d.size, 'format', d.format, 'source', d.source, 'build_ms', d.build_ms,"  \
	" 'url', '/v1/artifacts/' || d.digest, 'created_by', d.created_by,"                 \
	" 'created_at', d.created_at)"

int store_delta_list(struct db *db, int limit, const char *after, struct page *out)
{
	return store_page(db, "SELECT " DELTA_JSON " FROM deltas d"
			      " WHERE d.id > coalesce(nullif($1, '')::bigint, 0)"
			      " ORDER BY d.id LIMIT $2::int",
			  after, limit, "id", out);
}

struct wanted_ctx {
	int (*fn)(void *ctx, const char *from, const char *to);
	void *ctx;
};

static int wanted_row(void *ctx, PGresult *r)
{
	struct wanted_ctx *w = ctx;

	return w->fn(w->ctx, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
}

int store_delta_wanted(struct db *db, int (*fn)(void *ctx, const char *from, const char *to),
		       void *ctx)
{
	struct wanted_ctx w = {fn, ctx};
	struct dbconn *c;
	int rc;

	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_rows(c,
		     "SELECT DISTINCT fv->>'digest', tv->>'digest'"
		     " FROM rollouts r JOIN models mo ON mo.name = r.model"
		     " CROSS JOIN LATERAL unnest(ARRAY[mo.stable_version, r.baseline_version]) f(v)"
		     " JOIN manifests fm ON fm.model = r.model AND fm.version = f.v"
		     " JOIN manifests tm ON tm.model = r.model AND tm.version = r.version"
		     " CROSS JOIN LATERAL jsonb_array_elements(fm.doc->'variants') fv"
		     " CROSS JOIN LATERAL jsonb_array_elements(tm.doc->'variants') tv"
		     " WHERE r.state IN ('progressing', 'paused', 'awaiting_approval')"
		     " AND fv->>'platform' = tv->>'platform'"
		     " AND fv->>'digest' <> tv->>'digest'"
		     " AND fv->>'url' IS NULL AND tv->>'url' IS NULL"
		     " AND NOT EXISTS (SELECT 1 FROM deltas d WHERE d.from_digest = fv->>'digest'"
		     "  AND d.to_digest = tv->>'digest')"
		     " AND NOT EXISTS (SELECT 1 FROM delta_failures f WHERE f.from_digest ="
		     "  fv->>'digest' AND f.to_digest = tv->>'digest' AND f.retry_at > now())",
		     0, NULL, wanted_row, &w);
	db_release(db, c);
	return rc;
}
