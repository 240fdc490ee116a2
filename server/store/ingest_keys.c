/*
 * ingest_keys.c - the ingest writer's idempotency keys (MQTT messages,
 * schema/014_mqtt.sql): claimed in the transaction of their rows.
 */
#include "store/ingest.h"

#include <libpq-fe.h>
#include <string.h>

/* The batch after the first n of list (NULL past its end). */
struct ingest_batch *ingest_nth(struct ingest_batch *list, int n)
{
	while (list && n-- > 0)
		list = list->next;
	return list;
}

/* MQTT's idempotency keys (docs/mqtt.md): opens a transaction and inserts
 * the keys of the first n batches; a batch whose key is there already (a
 * redelivery, committed before; or the same key earlier in this group) is
 * marked duplicate and its rows are not sent. Another replica inserting the
 * same key meanwhile makes this wait for its commit, then see it. False
 * when the database refused (the caller rolls back). */
bool ingest_claim_keys(PGconn *pg, struct ingest_batch *list, int n)
{
	struct buf arr = {0};
	struct ingest_batch *end = ingest_nth(list, n), *b, *o;
	PGresult *r;
	const char *p[1];
	bool ok;

	r = PQexec(pg, "BEGIN");
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok)
		return false;
	buf_append(&arr, "{", 1);
	for (b = list; b != end; b = b->next)
		if (b->key) {
			if (arr.len > 1)
				buf_append(&arr, ",", 1);
			buf_append(&arr, b->key, strlen(b->key)); /* hex: no quoting */
		}
	buf_append(&arr, "}", 2);
	if (buf_failed(&arr)) {
		buf_free(&arr);
		return false;
	}
	p[0] = arr.p;
	r = PQexecParams(pg,
			 "INSERT INTO mqtt_keys (key) SELECT unnest($1::text[])"
			 " ON CONFLICT DO NOTHING RETURNING key",
			 1, NULL, p, NULL, NULL, 0);
	buf_free(&arr);
	ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	for (b = list; ok && b != end; b = b->next) {
		if (!b->key)
			continue;
		b->duplicate = true;
		for (int i = 0; i < PQntuples(r); i++)
			if (strcmp(PQgetvalue(r, i, 0), b->key) == 0)
				b->duplicate = false;
		for (o = list; !b->duplicate && o != b; o = o->next)
			if (o->key && strcmp(o->key, b->key) == 0)
				b->duplicate = true;
	}
	PQclear(r);
	return ok;
}

