/*
 * leader.h - the engine's two sessions of its own with PostgreSQL, outside
 * the pool so that they outlive its churn: the evaluator's advisory lock
 * (one replica at a time evaluates rollouts) and LISTEN ramp_changed (other
 * replicas' writes). The engine thread alone uses them.
 */
#ifndef RAMP_STORE_LEADER_H
#define RAMP_STORE_LEADER_H

#include "common/err.h"
#include "store/db.h"

#include <stdbool.h>
#include <stddef.h>

struct store_session; /* one libpq connection */

/* True while this replica holds the evaluator lock on *s; when *s is NULL,
 * opens a session and tries to take the lock. A session found dead is
 * closed (*s = NULL) and false returned; the next call tries again. */
bool store_leader_hold(struct db *db, struct store_session **s);

/* A session listening on ramp_changed, non-blocking, or NULL when the
 * database cannot be reached. */
struct store_session *store_listen_changes(struct db *db);
/* The session's socket, to poll for readability. */
int store_session_fd(const struct store_session *s);
/* Reads what arrived: *notices (count of them; store_listen_free() them)
 * are other replicas' store_changed() payloads without the replica. 0,
 * RAMP_EUNAVAIL when the session is lost (close it and listen again), or
 * RAMP_ENOMEM (what arrived is lost: load everything anew). */
int store_listen_drain(struct store_session *s, char ***notices, size_t *count);
void store_listen_free(char **notices, size_t n);

/* Closes the session (a leader's lock goes with it); NULL is a no-op. */
void store_session_close(struct store_session *s);

#endif
