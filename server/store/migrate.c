/*
 * migrate.c - applies schema/NNN_*.sql in order under an advisory lock.
 */
#include "store/migrate.h"

#include "common/err.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK "7262616d70" /* "ramp" in hex, an arbitrary lock key */

static int applied(struct dbconn *c, const char *name, int *yes)
{
	PGresult *r;
	const char *p[1] = {name};
	int rc = db_query(c, &r, "SELECT 1 FROM schema_migrations WHERE name = $1", 1, p);

	if (rc)
		return rc;
	*yes = PQntuples(r) > 0;
	PQclear(r);
	return 0;
}

static int apply_one(struct dbconn *c, const struct migration *m)
{
	const char *p[1] = {m->name};
	PGresult *r;
	int rc;

	if ((rc = db_begin(c)) != 0)
		return rc;
	r = PQexec(c->pg, m->sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		char *msg = PQresultErrorMessage(r);
		msg[strcspn(msg, "\n")] = '\0';
		log_error("msg=\"migration failed\" name=%s error=\"%s\"", m->name, msg);
		PQclear(r);
		db_rollback(c);
		return RAMP_EINTERNAL;
	}
	PQclear(r);
	rc = db_query(c, NULL, "INSERT INTO schema_migrations (name) VALUES ($1)", 1, p);
	if (rc == 0)
		rc = db_commit(c);
	if (rc == 0)
		log_info("msg=\"migration applied\" name=%s", m->name);
	return rc;
}

int migrate_run(struct db *db)
{
	struct dbconn *c;
	int rc, yes;

	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL, "SELECT pg_advisory_lock(x'" MIGRATE_LOCK "'::bigint)", 0, NULL);
	if (rc)
		goto out;
	rc = db_query(c, NULL,
		      "CREATE TABLE IF NOT EXISTS schema_migrations ("
		      " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
		      0, NULL);
	for (const struct migration *m = migrations; rc == 0 && m->name; m++) {
		rc = applied(c, m->name, &yes);
		if (rc == 0 && !yes)
			rc = apply_one(c, m);
	}
	db_query(c, NULL, "SELECT pg_advisory_unlock(x'" MIGRATE_LOCK "'::bigint)", 0, NULL);
out:
	db_release(db, c);
	return rc;
}

int migrate_check(struct db *db)
{
	struct dbconn *c;
	PGresult *r;
	int rc, n = 0;

	for (const struct migration *m = migrations; m->name; m++)
		n++;
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r, "SELECT count(*) FROM schema_migrations", 0, NULL);
	if (rc == 0) {
		rc = strtol(PQgetvalue(r, 0, 0), NULL, 10) >= n ? 0 : RAMP_EBUSY;
		PQclear(r);
	}
	db_release(db, c);
	return rc == RAMP_EINTERNAL ? RAMP_EBUSY : rc;
}
