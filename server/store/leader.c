/*
 * leader.c - the evaluator's advisory lock and LISTEN ramp_changed, each on
 * a connection of its own (store/leader.h). Run by the engine thread only.
 */
#include "store/leader.h"

#include "common/log.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#define LEADER_LOCK "7261" "6d70" "6c65" "6164" /* "rampleader" */

struct store_session {
	PGconn *c;
};

static struct store_session *session_open(struct db *db)
{
	struct store_session *s = malloc(sizeof(*s));

	if (s == NULL)
		return NULL;
	s->c = PQconnectdb(db_conninfo(db));
	if (PQstatus(s->c) != CONNECTION_OK) {
		PQfinish(s->c);
		free(s);
		return NULL;
	}
	return s;
}

void store_session_close(struct store_session *s)
{
	if (s == NULL)
		return;
	PQfinish(s->c);
	free(s);
}

/* true when the query ran and its first value is "t" (want_t) or any row */
static bool exec_ok(struct store_session *s, const char *sql, bool want_t)
{
	PGresult *r = PQexec(s->c, sql);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK &&
		  (!want_t || strcmp(PQgetvalue(r, 0, 0), "t") == 0);

	PQclear(r);
	return ok;
}

bool store_leader_hold(struct db *db, struct store_session **s)
{
	if (*s && PQstatus((*s)->c) != CONNECTION_OK) {
		store_session_close(*s);
		*s = NULL;
		log_warn("msg=\"lost the leader connection\"");
	}
	if (*s) {
		/* still alive? the lock lives as long as the session */
		if (exec_ok(*s, "SELECT 1", false))
			return true;
		store_session_close(*s);
		*s = NULL;
		return false;
	}
	*s = session_open(db);
	if (*s == NULL)
		return false;
	if (!exec_ok(*s, "SELECT pg_try_advisory_lock(x'" LEADER_LOCK "'::bigint)", true)) {
		store_session_close(*s);
		*s = NULL;
		return false;
	}
	log_info("msg=\"this replica now evaluates rollouts\"");
	return true;
}

struct store_session *store_listen_changes(struct db *db)
{
	struct store_session *s = session_open(db);

	if (s == NULL)
		return NULL;
	PQclear(PQexec(s->c, "LISTEN ramp_changed"));
	PQsetnonblocking(s->c, 1);
	return s;
}

int store_session_fd(const struct store_session *s)
{
	return PQsocket(s->c);
}

int store_listen_drain(struct store_session *s)
{
	PGnotify *n;
	int got = 0;

	if (!PQconsumeInput(s->c))
		return RAMP_EUNAVAIL;
	while ((n = PQnotifies(s->c)) != NULL) {
		got++;
		PQfreemem(n);
	}
	return got;
}
