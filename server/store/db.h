/*
 * db.h - the PostgreSQL connection pool under the store. The store is the
 * only code that speaks SQL; it borrows a connection, runs text-format
 * parameterised queries, and maps failures onto RAMP_E* codes:
 * unreachable, shutting down or read-only (a standby) -> RAMP_EUNAVAIL
 * (HTTP 503, the connection reopened on its next use), unique violation ->
 * RAMP_ECONFLICT, anything else -> RAMP_EINTERNAL (logged).
 */
#ifndef RAMP_DB_H
#define RAMP_DB_H

#include <libpq-fe.h>
#include <stdint.h>

struct db;

struct dbconn {
	PGconn *pg;
	int broken;
	int in_tx;
};

struct db_stats {
	int size, in_use;
	uint64_t acquired, waits, errors, reconnects;
	int up;
};

/* Opens a pool of size connections lazily; never fails on an unreachable
 * server (requests get RAMP_EUNAVAIL until it answers). NULL on OOM. */
struct db *db_open(const char *conninfo, int size);
void db_close(struct db *db);
/* Borrows a live connection; RAMP_EUNAVAIL when the server cannot be reached. */
int db_acquire(struct db *db, struct dbconn **out);
/* Returns a connection; an open transaction is rolled back first. */
void db_release(struct db *db, struct dbconn *c);
/* Runs sql with n text params (NULL entries are SQL NULL). On success
 * returns 0 and *res (caller PQclear()s; res may be NULL to discard). */
int db_query(struct dbconn *c, PGresult **res, const char *sql, int n,
	     const char *const *params);
/* Runs sql in single-row mode, calling row() with each row (one row in r)
 * until it returns non-zero, which is then returned: a big result is never
 * held whole. 0 or RAMP_E*. */
int db_rows(struct dbconn *c, const char *sql, int n, const char *const *params,
	    int (*row)(void *ctx, PGresult *r), void *ctx);
/* Like db_query with binary parameters where formats[i] is 1 (lengths[i]
 * bytes) and, with result_format 1, binary results. */
int db_query_bin(struct dbconn *c, PGresult **res, const char *sql, int n,
		 const char *const *params, const int *lengths, const int *formats,
		 int result_format);
/* Like db_query for statements whose SQLSTATE the caller wants (sqlstate gets 6 bytes). */
int db_query_state(struct dbconn *c, PGresult **res, const char *sql, int n,
		   const char *const *params, char sqlstate[6]);
int db_begin(struct dbconn *c);
int db_commit(struct dbconn *c);
void db_rollback(struct dbconn *c);
/*
 * The frame of every write: db_tx_begin borrows a connection and opens a
 * transaction on it (on failure nothing is held and *c is NULL); db_tx_end
 * commits when rc is 0 and the transaction is still open, then gives the
 * connection back, which rolls back anything not committed. db_tx_end
 * returns rc, or the commit's error.
 */
int db_tx_begin(struct db *db, struct dbconn **c);
int db_tx_end(struct db *db, struct dbconn *c, int rc);
/* A point-in-time copy of the pool's figures for /metrics. */
void db_get_stats(struct db *db, struct db_stats *out);
/* The conninfo the pool was opened with (for LISTEN connections). */
const char *db_conninfo(struct db *db);

#endif
