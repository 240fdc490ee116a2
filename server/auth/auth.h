/*
 * auth.h - bearer tokens: generation, hashing, the role table, and the
 * lookup every authenticated request goes through. Tokens are 192 random
 * bits, shown once, stored only as SHA-256 hashes. Lookups are cached for a
 * short time (AUTH_CACHE_TTL_MS) so the agent poll does not query the
 * database per request; revocation in this process clears the cache at once.
 */
#ifndef RAMP_AUTH_H
#define RAMP_AUTH_H

#include "app.h"
#include "common/arena.h"
#include "auth/roles.h"

#define AUTH_CACHE_TTL_MS 5000
#define AUTH_TOKEN_LEN 36 /* "rmp_" + 32 base64url chars */

/* Fills *out for token; RAMP_EAUTH when unknown/expired, RAMP_EUNAVAIL. */
int auth_lookup(struct app *app, const char *token, struct arena *a, struct auth *out);
/* auth_lookup, or RAMP_EBUSY instead of querying the database when
 * may_query is false (the MHD threads answering inline routes). */
int auth_lookup_in(struct app *app, const char *token, struct arena *a, struct auth *out,
		   bool may_query);
/* Writes a fresh random token (NUL-terminated) into out[AUTH_TOKEN_LEN + 1]. 0 or RAMP_EINTERNAL. */
int auth_new_token(char *out);
/* SHA-256 of the token text. */
void auth_hash(const char *token, unsigned char out[32]);
/* Writes last_used for the tokens used since the last call (engine, 1/s). */
int auth_flush_last_used(struct app *app);
/* Forgets every cached lookup (after a revocation or a device deletion). */
void auth_cache_clear(void);
/* "admin", "operator", ...; "unknown" for anything else. */
const char *auth_role_name(int role);
/* ROLE_* bit for a name, or 0. */
int auth_role_from_name(const char *name);
/* Installs the bootstrap admin token (from config or data_dir/admin.token,
 * generated when neither exists) as token "admin". Sets *generated when it
 * was generated now; shown gets the token then, else where it comes from
 * ("from RAMP_ADMIN_TOKEN" or the file's path). 0 or -1 (logged). */
int auth_bootstrap(struct app *app, char *shown, size_t shown_len, int *generated);

#endif
