/*
 * store_variants.c - see store_variants.h.
 */
#include "store/store_variants.h"

int store_device_platforms(struct db *db, store_platform_fn fn, void *ctx)
{
	struct dbconn *c;
	PGresult *r = NULL;
	int rc;

	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r, "SELECT id, platform FROM devices", 0, NULL);
	db_release(db, c);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++)
		rc = fn(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	PQclear(r);
	return rc;
}
