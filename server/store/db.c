/*
 * db.c - a fixed pool of libpq connections behind a mutex and condvar.
 * A connection found broken is reset on its next acquire; while the server
 * is down, acquires fail fast for a second instead of each waiting for a
 * connect timeout.
 */
#include "store/db.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct db {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *conninfo;
	int size, nfree;
	struct dbconn *conns;
	struct dbconn **free;
	int64_t down_until_ms;
	atomic_uint_least64_t acquired, waits, errors, reconnects;
	atomic_int up;
};

struct db *db_open(const char *conninfo, int size)
{
	struct db *db = calloc(1, sizeof(*db));
	size_t n = strlen(conninfo) + 64;

	if (db == NULL)
		return NULL;
	db->conninfo = malloc(n);
	db->conns = calloc((size_t)size, sizeof(*db->conns));
	db->free = calloc((size_t)size, sizeof(*db->free));
	if (!db->conninfo || !db->conns || !db->free) {
		db_close(db);
		return NULL;
	}
	snprintf(db->conninfo, n, "%s connect_timeout=3 application_name=rampd", conninfo);
	pthread_mutex_init(&db->mu, NULL);
	clock_cond_init(&db->cv); /* every wait in rampd is on the monotonic clock */
	db->size = size;
	for (int i = 0; i < size; i++)
		db->free[db->nfree++] = &db->conns[i];
	atomic_store(&db->up, 1);
	return db;
}

void db_close(struct db *db)
{
	if (db == NULL)
		return;
	for (int i = 0; db->conns && i < db->size; i++)
		if (db->conns[i].pg)
			PQfinish(db->conns[i].pg);
	free(db->conns);
	free(db->free);
	free(db->conninfo);
	free(db);
}

/* NOTICEs (e.g. "already exists, skipping") are not worth a log line. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int connect_one(struct db *db, struct dbconn *c)
{
	if (c->pg && PQstatus(c->pg) == CONNECTION_OK && !c->broken)
		return 0;
	if (c->pg)
		PQfinish(c->pg);
	c->pg = PQconnectdb(db->conninfo);
	c->broken = 0;
	c->in_tx = 0;
	atomic_fetch_add(&db->reconnects, 1);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		char *msg = PQerrorMessage(c->pg);
		msg[strcspn(msg, "\n")] = '\0';
		log_warn("msg=\"database unreachable\" error=\"%s\"", msg);
		PQfinish(c->pg);
		c->pg = NULL;
		return RAMP_EUNAVAIL;
	}
	PQsetNoticeProcessor(c->pg, quiet_notice, NULL);
	PQclear(PQexec(c->pg, "SET TIME ZONE 'UTC'"));
	return 0;
}

int db_acquire(struct db *db, struct dbconn **out)
{
	struct dbconn *c;
	int rc;

	pthread_mutex_lock(&db->mu);
	if (db->down_until_ms > clock_mono_ms()) {
		pthread_mutex_unlock(&db->mu);
		return RAMP_EUNAVAIL;
	}
	while (db->nfree == 0) {
		atomic_fetch_add(&db->waits, 1);
		pthread_cond_wait(&db->cv, &db->mu);
	}
	c = db->free[--db->nfree];
	pthread_mutex_unlock(&db->mu);
	rc = connect_one(db, c);
	if (rc != 0) {
		pthread_mutex_lock(&db->mu);
		db->down_until_ms = clock_mono_ms() + 1000;
		db->free[db->nfree++] = c;
		pthread_cond_signal(&db->cv);
		pthread_mutex_unlock(&db->mu);
		atomic_store(&db->up, 0);
		return rc;
	}
	atomic_store(&db->up, 1);
	atomic_fetch_add(&db->acquired, 1);
	*out = c;
	return 0;
}

void db_release(struct db *db, struct dbconn *c)
{
	if (c == NULL)
		return;
	if (c->in_tx)
		db_rollback(c);
	pthread_mutex_lock(&db->mu);
	db->free[db->nfree++] = c;
	pthread_cond_signal(&db->cv);
	pthread_mutex_unlock(&db->mu);
}

static int query(struct dbconn *c, PGresult **res, const char *sql, int n,
		 const char *const *params, const int *lengths, const int *formats,
		 int result_format, char sqlstate[6])
{
	PGresult *r = PQexecParams(c->pg, sql, n, NULL, params, lengths, formats, result_format);
	ExecStatusType st = PQresultStatus(r);
	const char *state;

	if (sqlstate)
		sqlstate[0] = '\0';
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		if (res)
			*res = r;
		else
			PQclear(r);
		return 0;
	}
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (sqlstate && state)
		snprintf(sqlstate, 6, "%s", state);
	/* 25006: a read-only transaction, i.e. a session on a standby (a
	 * primary demoted under us): another connection finds the new one */
	if (PQstatus(c->pg) != CONNECTION_OK || state == NULL ||
	    strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	    strcmp(state, "25006") == 0) {
		c->broken = 1;
		PQclear(r);
		return RAMP_EUNAVAIL;
	}
	if (strcmp(state, "23505") == 0 || strcmp(state, "40001") == 0) {
		PQclear(r);
		return RAMP_ECONFLICT;
	}
	if (!sqlstate) {
		char *msg = PQresultErrorMessage(r);
		msg[strcspn(msg, "\n")] = '\0';
		log_error("msg=\"query failed\" sqlstate=%s error=\"%s\"", state, msg);
	}
	PQclear(r);
	return RAMP_EINTERNAL;
}

int db_query_state(struct dbconn *c, PGresult **res, const char *sql, int n,
		   const char *const *params, char sqlstate[6])
{
	return query(c, res, sql, n, params, NULL, NULL, 0, sqlstate);
}

int db_query_bin(struct dbconn *c, PGresult **res, const char *sql, int n,
		 const char *const *params, const int *lengths, const int *formats,
		 int result_format)
{
	return query(c, res, sql, n, params, lengths, formats, result_format, NULL);
}

int db_query(struct dbconn *c, PGresult **res, const char *sql, int n,
	     const char *const *params)
{
	return db_query_state(c, res, sql, n, params, NULL);
}

int db_begin(struct dbconn *c)
{
	int rc = db_query(c, NULL, "BEGIN", 0, NULL);
	if (rc == 0)
		c->in_tx = 1;
	return rc;
}

int db_commit(struct dbconn *c)
{
	int rc = db_query(c, NULL, "COMMIT", 0, NULL);
	c->in_tx = 0;
	return rc;
}

void db_rollback(struct dbconn *c)
{
	if (!c->broken)
		PQclear(PQexec(c->pg, "ROLLBACK"));
	c->in_tx = 0;
}

int db_tx_begin(struct db *db, struct dbconn **c)
{
	int rc = db_acquire(db, c);

	if (rc) {
		*c = NULL;
		return rc;
	}
	if ((rc = db_begin(*c)) != 0) {
		db_release(db, *c);
		*c = NULL;
	}
	return rc;
}

int db_tx_end(struct db *db, struct dbconn *c, int rc)
{
	if (c == NULL)
		return rc;
	if (rc == 0 && c->in_tx)
		rc = db_commit(c);
	db_release(db, c);
	return rc;
}

void db_get_stats(struct db *db, struct db_stats *out)
{
	pthread_mutex_lock(&db->mu);
	out->size = db->size;
	out->in_use = db->size - db->nfree;
	pthread_mutex_unlock(&db->mu);
	out->acquired = atomic_load(&db->acquired);
	out->waits = atomic_load(&db->waits);
	out->errors = atomic_load(&db->errors);
	out->reconnects = atomic_load(&db->reconnects);
	out->up = atomic_load(&db->up);
}

const char *db_conninfo(struct db *db)
{
	return db->conninfo;
}

int db_rows(struct dbconn *c, const char *sql, int n, const char *const *params,
	    int (*row)(void *ctx, PGresult *r), void *ctx)
{
	PGresult *r;
	int rc = 0;

	if (!PQsendQueryParams(c->pg, sql, n, NULL, params, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(c->pg)) {
		c->broken = 1;
		return RAMP_EUNAVAIL;
	}
	while ((r = PQgetResult(c->pg)) != NULL) {
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE && rc == 0)
			rc = row(ctx, r);
		else if (st != PGRES_TUPLES_OK && st != PGRES_SINGLE_TUPLE && rc == 0) {
			rc = PQstatus(c->pg) == CONNECTION_OK ? RAMP_EINTERNAL : RAMP_EUNAVAIL;
			if (rc == RAMP_EINTERNAL) { /* said, as db_query says its failures */
				char *msg = PQresultErrorMessage(r);
				msg[strcspn(msg, "\n")] = '\0';
				log_error("msg=\"query failed\" sqlstate=%s error=\"%s\"",
					  PQresultErrorField(r, PG_DIAG_SQLSTATE), msg);
			}
		}
		PQclear(r);
	}
	if (rc == RAMP_EUNAVAIL)
		c->broken = 1;
	return rc;
}
