/*
 * migrate.h - schema migrations: the files of schema/ are compiled into
 * rampd (build/gen/schema.c) and applied in order at start-up, each in its
 * own transaction, recorded in schema_migrations. A session advisory lock
 * makes concurrent rampds take turns, so none is applied twice.
 */
#ifndef RAMP_MIGRATE_H
#define RAMP_MIGRATE_H

#include "store/db.h"

struct migration {
	const char *name; /* "001_foundation" */
	const char *sql;
};

/* The compiled-in list, ending with {NULL, NULL}. */
extern const struct migration migrations[];

/* Applies what is missing. 0, RAMP_EUNAVAIL, or RAMP_EINTERNAL (logged). */
int migrate_run(struct db *db);
/* 0 when the database answers and every migration is applied; RAMP_EUNAVAIL or RAMP_EBUSY (behind). */
int migrate_check(struct db *db);

#endif
