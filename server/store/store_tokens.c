/*
 * store_tokens.c - API tokens: looked up by the hash of the presented
 * token; the token itself is never stored.
 */
#include "store/store.h"

#include "common/hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_JSON                                                             \
	"json_build_object('name', name, 'role', role, 'device_id', device_id,"   \
	" 'created_at', created_at, 'last_used', last_used, 'expires_at', expires_at)::text"

static void hex32(const unsigned char h[32], char out[68])
{
	out[0] = '\\';
	out[1] = 'x';
	hex_encode(out + 2, h, 32);
}

int store_token_lookup(struct db *db, const unsigned char hash[32], struct arena *a,
		       char *role, size_t rolelen, const char **name, const char **device_id,
		       int64_t *expires_at)
{
	struct dbconn *c;
	PGresult *r;
	char hx[68];
	const char *p[1] = {hx};
	int rc;

	hex32(hash, hx);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r,
		      "SELECT name, role, device_id,"
		      " coalesce(floor(extract(epoch FROM expires_at))::bigint, 0)"
		      " FROM tokens WHERE hash = $1::bytea"
		      " AND (expires_at IS NULL OR expires_at > now())",
		      1, p);
	db_release(db, c);
	if (rc)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return RAMP_ENOTFOUND;
	}
	*name = arena_strdup(a, PQgetvalue(r, 0, 0));
	snprintf(role, rolelen, "%s", PQgetvalue(r, 0, 1));
	*device_id = PQgetisnull(r, 0, 2) ? NULL : arena_strdup(a, PQgetvalue(r, 0, 2));
	*expires_at = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
	PQclear(r);
	return *name ? 0 : RAMP_ENOMEM;
}

int store_token_bootstrap(struct db *db, const unsigned char hash[32])
{
	struct dbconn *c;
	char hx[68];
	const char *p[1] = {hx};
	int rc;

	hex32(hash, hx);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL,
		      "INSERT INTO tokens (name, role, hash) VALUES ('admin', 'admin', $1::bytea)"
		      " ON CONFLICT (name) DO UPDATE SET hash = EXCLUDED.hash, role = 'admin',"
		      " expires_at = NULL",
		      1, p);
	db_release(db, c);
	return rc;
}

int store_token_create(struct db *db, const char *actor, const char *name,
		       const char *role, const unsigned char hash[32], int64_t expires_in,
		       json_t **out)
{
	struct dbconn *c;
	char hx[68], exp[32];
	const char *p[4] = {name, role, hx, expires_in > 0 ? exp : NULL};
	json_t *detail;
	int rc;

	hex32(hash, hx);
	snprintf(exp, sizeof(exp), "%lld", (long long)expires_in);
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	detail = json_pack("{s:s}", "role", role);
	rc = store_write_one(c,
			     "INSERT INTO tokens (name, role, hash, expires_at) VALUES ($1, $2, $3::bytea,"
			     " now() + make_interval(secs => $4::bigint)) RETURNING " TOKEN_JSON,
			     4, p, out, actor, "token.create", name, detail);
	json_decref(detail);
	return db_tx_end(db, c, rc);
}

int store_token_list(struct db *db, int limit, const char *after, struct page *out)
{
	return store_page(db, "SELECT " TOKEN_JSON " FROM tokens WHERE role <> 'device'"
			      " AND name > $1 ORDER BY name LIMIT $2::int", after, limit, "name", out);
}

int store_token_delete(struct db *db, const char *actor, const char *name)
{
	return store_delete(db, actor, "DELETE FROM tokens WHERE name = $1 AND role <> 'device'",
			    name, "token.revoke", "t"); /* other replicas drop cached lookups */
}

int store_tokens_used(struct db *db, json_t *names)
{
	struct dbconn *c;
	char *doc = json_dumps(names, JSON_COMPACT);
	const char *p[1] = {doc};
	int rc;

	if (doc == NULL)
		return RAMP_ENOMEM;
	if ((rc = db_acquire(db, &c)) == 0) {
		rc = db_query(c, NULL,
			      "UPDATE tokens SET last_used = now() WHERE name IN"
			      " (SELECT jsonb_array_elements_text($1::jsonb))",
			      1, p);
		db_release(db, c);
	}
	free(doc);
	return rc;
}
