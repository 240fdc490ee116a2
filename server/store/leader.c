/*
 * leader.c - the evaluator's advisory lock and LISTEN ramp_changed, each on
 * a connection of its own (store/leader.h). Run by the engine thread only.
 */
#include "store/leader.h"

#include "common/log.h"
#include "store/store.h"

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

int store_listen_drain(struct store_session *s, char ***notices, size_t *count)
{
	const char *me = store_replica();
	size_t mlen = strlen(me), cap = 0;
	PGnotify *n;
	int rc = 0;

	*notices = NULL;
	*count = 0;
	if (!PQconsumeInput(s->c))
		return RAMP_EUNAVAIL;
	while ((n = PQnotifies(s->c)) != NULL) {
		const char *p = n->extra;
		/* "<replica> <what>": this replica's own were applied when written */
		bool own = strncmp(p, me, mlen) == 0 && p[mlen] == ' ';
		const char *sp = strchr(p, ' ');
		if (!own && rc == 0) {
			if (*count == cap) {
				char **q = realloc(*notices, (cap = cap ? 2 * cap : 16) * sizeof(*q));
				if (q == NULL)
					rc = RAMP_ENOMEM;
				else
					*notices = q;
			}
			/* no replica: an older writer's bare notice, "" (load it all) */
			if (rc == 0 && ((*notices)[*count] = strdup(sp ? sp + 1 : "")) == NULL)
				rc = RAMP_ENOMEM;
			if (rc == 0)
				(*count)++;
		}
		PQfreemem(n);
	}
	if (rc) {
		store_listen_free(*notices, *count);
		*notices = NULL;
		*count = 0;
	}
	return rc;
}

void store_listen_free(char **notices, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(notices[i]);
	free(notices);
}
