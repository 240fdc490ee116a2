/*
 * store_mqtt.c - the MQTT client's SQL: pruning the idempotency keys
 * (schema/014_mqtt.sql; the keys themselves are inserted by the ingest
 * writer in the commit of their rows).
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>

int store_mqtt_prune_keys(struct db *db, long long older_than_s, long long *deleted)
{
	char secs[32];
	const char *p[1] = {secs};
	struct dbconn *c;
	PGresult *r;
	int rc;

	*deleted = 0;
	snprintf(secs, sizeof(secs), "%lld", older_than_s);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r,
		      "DELETE FROM mqtt_keys WHERE received_at < now() - make_interval(secs => $1::bigint)",
		      1, p);
	db_release(db, c);
	if (rc == 0) {
		*deleted = atoll(PQcmdTuples(r));
		PQclear(r);
	}
	return rc;
}
