/*
 * store_delta_gc.c - deltas' failures and pruning (store_delta_gc.h). The
 * "needed" files are every platform's file of each model's stable version
 * and of the version and baseline of every rollout that still answers
 * (active, or rolled back and waiting for a window): the bases and targets
 * a desired answer can pair. The deltas table is small (pairs, not
 * devices), so a pass reads it whole.
 */
#include "store/store_delta_gc.h"

#include "common/err.h"
#include "common/strlist.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_delta_failed(struct db *db, const char *from, const char *to, const char *reason,
		       int64_t retry_s)
{
	char secs[32];
	struct dbconn *c;
	int rc;

	snprintf(secs, sizeof(secs), "%lld", (long long)retry_s);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL,
		      "INSERT INTO delta_failures (from_digest, to_digest, reason, retry_at)"
		      " VALUES ($1, $2, $3, now() + make_interval(secs => least($4::float8, 604800)))"
		      " ON CONFLICT (from_digest, to_digest) DO UPDATE SET reason = excluded.reason,"
		      " attempts = delta_failures.attempts + 1, failed_at = now(),"
		      " retry_at = now() + make_interval(secs => least($4::float8 *"
		      "  power(2, least(delta_failures.attempts, 30)), 604800))",
		      4, (const char *const[]){from, to, reason, secs});
	db_release(db, c);
	return rc;
}

#define NEEDED                                                                              \
	"WITH needed AS (SELECT DISTINCT v->>'digest' AS digest FROM manifests m"            \
	" JOIN models mo ON mo.name = m.model"                                                \
	" CROSS JOIN LATERAL jsonb_array_elements(m.doc->'variants') v"                       \
	" WHERE m.version = mo.stable_version OR EXISTS (SELECT 1 FROM rollouts r"           \
	"  WHERE r.model = m.model AND m.version IN (r.version, r.baseline_version)"         \
	"  AND (r.state IN ('progressing', 'paused', 'awaiting_approval')"                    \
	"   OR (r.state = 'rolled_back' AND r.window_opens_at IS NOT NULL)))) "

struct gone {
	struct strlist digests; /* digest, size, orphan ("1"/"0"), ... */
};

static int on_gone(void *ctx, PGresult *r)
{
	struct gone *g = ctx;
	int rc = strlist_push(&g->digests, PQgetvalue(r, 0, 0));

	if (rc == 0)
		rc = strlist_push(&g->digests, PQgetvalue(r, 0, 1));
	return rc ? rc : strlist_push(&g->digests, PQgetvalue(r, 0, 2));
}

/* The database copy of an object (RAMP_ARTIFACT_STORE=database), with
 * the chunks no other object shares; nothing when it is not there. */
static int drop_object(struct dbconn *c, const char *digest)
{
	int rc = db_query(c, NULL,
			  "WITH p AS (DELETE FROM artifact_parts WHERE digest = $1 RETURNING chunk)"
			  " DELETE FROM artifact_chunks k USING (SELECT DISTINCT chunk FROM p) x"
			  " WHERE k.hash = x.chunk AND NOT EXISTS (SELECT 1 FROM artifact_parts q"
			  "  WHERE q.chunk = k.hash AND q.digest <> $1)",
			  1, (const char *const[]){digest});

	if (rc == 0)
		rc = db_query(c, NULL, "DELETE FROM artifact_objects WHERE digest = $1", 1,
			      (const char *const[]){digest});
	return rc;
}

int store_delta_gc(struct db *db, int64_t retention_s,
		   void (*fn)(void *ctx, const char *digest, int64_t size, bool orphan), void *ctx,
		   int *deleted)
{
	struct gone g = {0};
	struct dbconn *c;
	char ret[32];
	int rc;

	*deleted = 0;
	snprintf(ret, sizeof(ret), "%lld", (long long)retention_s);
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL,
		      NEEDED "UPDATE deltas d SET unneeded_since = CASE"
		      " WHEN EXISTS (SELECT 1 FROM needed WHERE digest = d.from_digest)"
		      "  AND EXISTS (SELECT 1 FROM needed WHERE digest = d.to_digest) THEN NULL"
		      " ELSE coalesce(d.unneeded_since, now()) END",
		      0, NULL);
	/* the object goes with the row unless something else names it */
	if (rc == 0)
		rc = db_rows(c,
			     "WITH gone AS (DELETE FROM deltas WHERE unneeded_since <="
			     " now() - make_interval(secs => $1::float8) RETURNING digest, size)"
			     " SELECT g.digest, g.size, NOT EXISTS (SELECT 1 FROM deltas o"
			     "  WHERE o.digest = g.digest AND o.unneeded_since IS NULL)"
			     " AND NOT EXISTS (SELECT 1 FROM manifests m, jsonb_array_elements("
			     "  m.doc->'variants') v WHERE v->>'digest' = g.digest) FROM gone g",
			     1, (const char *const[]){ret}, on_gone, &g);
	for (size_t i = 0; rc == 0 && i + 2 < g.digests.n; i += 3)
		if (strcmp(g.digests.v[i + 2], "t") == 0)
			rc = drop_object(c, g.digests.v[i]);
	if (rc == 0 && g.digests.n > 0)
		rc = store_changed(c, "c"); /* other replicas stop offering them */
	rc = db_tx_end(db, c, rc);
	for (size_t i = 0; rc == 0 && i + 2 < g.digests.n; i += 3) {
		fn(ctx, g.digests.v[i], strtoll(g.digests.v[i + 1], NULL, 10),
		   strcmp(g.digests.v[i + 2], "t") == 0);
		(*deleted)++;
	}
	strlist_free(&g.digests);
	return rc;
}
