/*
 * auth.h - bearer tokens: generation, hashing, the role table, and the
 * lookup every authenticated request goes through. Tokens are 192 random
 * bits, shown once, stored only as SHA-256 hashes. Lookups are cached for a
 * short time (AUTH_CACHE_TTL_MS) so the agent poll does not query the
 * database per request; revocation in this process clears the cache at once.
 *
 * Revoking on this replica takes effect before its 2xx: the handler calls
 * auth_revoke_begin() before the database write (from then on the credential
 * or device is refused whatever the snapshot or the cache still hold),
 * ingest_barrier() so no telemetry authenticated earlier commits after the
 * delete, then applies it to the snapshot and calls auth_revoke_done() with
 * the generation that applied it (or _cancel()). Other replicas
 * follow on NOTIFY ramp_changed.
 */
#ifndef RAMP_AUTH_H
#define RAMP_AUTH_H

#include "app.h"
#include "common/arena.h"
#include "auth/roles.h"

struct snapshot;

#define AUTH_CACHE_TTL_MS 5000
#define AUTH_TOKEN_LEN 36 /* "rmp_" + 32 base64url chars */

/* Fills *out for token; RAMP_EAUTH when unknown/expired, RAMP_EUNAVAIL. */
int auth_lookup(struct app *app, const char *token, struct arena *a, struct auth *out);
/* auth_lookup answered first from snap (the request's snapshot, may be
 * NULL) for device tokens, or RAMP_EBUSY instead of querying the database
 * when may_query is false (the MHD threads answering inline routes). */
int auth_lookup_in(struct app *app, struct snapshot *snap, const char *token,
		   struct arena *a, struct auth *out, bool may_query);
/* Writes a fresh random token (NUL-terminated) into out[AUTH_TOKEN_LEN + 1]. 0 or RAMP_EINTERNAL. */
int auth_new_token(char *out);
/* SHA-256 of the token text. */
void auth_hash(const char *token, unsigned char out[32]);
/* Writes last_used for the tokens used since the last call (engine, 1/s). */
int auth_flush_last_used(struct app *app);
/* Forgets every cached lookup (after a revocation or a device deletion);
 * a lookup that began before the call does not put its answer back. */
void auth_cache_clear(void);

/* Refuses, from now on, every token of device_id (a device being deleted)
 * or the token named name (a token being revoked); either may be NULL.
 * Returns a handle for _done()/_cancel(), 0 when out of memory (then the
 * write must not go ahead). */
uint64_t auth_revoke_begin(const char *device_id, const char *name);
/* The database write committed: the database now says so, the cache is
 * cleared, and only snapshots that have not applied it are still
 * overruled: those before generation applied (0: it is not applied yet,
 * so every snapshot until the next change or load). */
void auth_revoke_done(uint64_t handle, uint64_t applied);
/* The write did not happen (not found, database error): forget it. */
void auth_revoke_cancel(uint64_t handle);
/* The revocation counter; struct auth.epoch holds its value at lookup. */
uint64_t auth_epoch(void);
/* True when a was authenticated (a->epoch) before a revocation that covers
 * it or, when device_id is not NULL, before device_id was deleted: what it
 * is about to store must not be stored. Cheap when nothing was revoked. */
bool auth_revoked_since(const struct auth *a, const char *device_id);
/* True when a snapshot of generation snap_gen must not be believed about
 * device_id: its deletion on this replica is under way, or committed after
 * that snapshot began reading. With snap_gen 0 (an answer from the
 * database): only a deletion under way. Cheap when nothing was revoked. */
bool auth_device_overruled(const char *device_id, uint64_t snap_gen);
/* "admin", "operator", ...; "unknown" for anything else. */
const char *auth_role_name(int role);
/* ROLE_* bit for a name, or 0. */
int auth_role_from_name(const char *name);
/* Installs the bootstrap admin token (from config or data_dir/admin.token,
 * generated when neither exists) as token "admin". Sets *generated when it
 * was generated now; shown gets the token then, else where it comes from
 * ("from RAMP_ADMIN_TOKEN" or the file's path). 0, or a RAMP_E* code (logged). */
int auth_bootstrap(struct app *app, char *shown, size_t shown_len, int *generated);

#endif
