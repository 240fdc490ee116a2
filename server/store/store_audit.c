/*
 * store_audit.c - reading and verifying the hash-chained audit log
 * (entries are written by store_audit() inside each action's transaction).
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_audit_list(struct db *db, int64_t after, int limit, struct page *out)
{
	struct dbconn *c;
	char lim[16], aft[32];
	const char *p[2] = {aft, lim};
	int rc;

	snprintf(lim, sizeof(lim), "%d", limit + 1);
	snprintf(aft, sizeof(aft), "%lld", (long long)after);
	memset(out, 0, sizeof(*out));
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_rows(c,
			     "SELECT json_build_object('seq', seq, 'at', at, 'actor', actor,"
			     " 'action', action, 'target', target, 'detail', detail,"
			     " 'prev_hash', prev_hash, 'hash', hash)::text"
			     " FROM audit WHERE seq > $1::bigint ORDER BY seq LIMIT $2::int",
			     2, p, &out->items);
	db_release(db, c);
	if (rc == 0)
		store_paginate(out, limit, "seq");
	return rc;
}

/* Walks the chain in the database: each row's hash must be recomputable and
 * its prev_hash must be the previous row's hash; seq has no gaps. */
int store_audit_verify(struct db *db, bool *ok, int64_t *entries, int64_t *broken_at,
		       char *why, size_t whylen)
{
	struct dbconn *c;
	PGresult *r;
	int rc;

	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r,
		      "WITH chain AS (SELECT seq, hash, prev_hash,"
		      "  audit_hash(seq, at, actor, action, target, detail, prev_hash) AS calc,"
		      "  coalesce(lag(hash) OVER w, repeat('0', 64)) AS expect_prev,"
		      "  coalesce(lag(seq) OVER w, 0) AS prev_seq"
		      "  FROM audit WINDOW w AS (ORDER BY seq))"
		      " SELECT (SELECT count(*) FROM audit),"
		      "  (SELECT seq FROM chain WHERE calc <> hash OR prev_hash <> expect_prev"
		      "   OR seq <> prev_seq + 1 ORDER BY seq LIMIT 1),"
		      "  (SELECT CASE WHEN calc <> hash THEN 'entry hash does not match its content'"
		      "   WHEN prev_hash <> expect_prev THEN 'prev_hash does not match the previous entry'"
		      "   ELSE 'sequence gap' END FROM chain WHERE calc <> hash OR prev_hash <> expect_prev"
		      "   OR seq <> prev_seq + 1 ORDER BY seq LIMIT 1),"
		      "  (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1) ="
		      "  (SELECT hash FROM audit_head) OR NOT EXISTS (SELECT 1 FROM audit)",
		      0, NULL);
	db_release(db, c);
	if (rc)
		return rc;
	*entries = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	*ok = PQgetisnull(r, 0, 1);
	*broken_at = *ok ? 0 : strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	snprintf(why, whylen, "%s", *ok ? "" : PQgetvalue(r, 0, 2));
	if (*ok && strcmp(PQgetvalue(r, 0, 3), "t") != 0) {
		*ok = false;
		*broken_at = *entries;
		snprintf(why, whylen, "the last entry is not the chain head (entries removed)");
	}
	PQclear(r);
	return 0;
}
