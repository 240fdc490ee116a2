/*
 * store_keys.c - the signing keys manifests are verified against. A key id
 * names one public key for ever: it can be revoked but never replaced or
 * deleted, so a signature row always points at the key that made it.
 */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#define KEY_JSON                                                               \
	"json_build_object('id', id, 'alg', alg, 'fingerprint', 'sha256:' || fingerprint," \
	" 'created_at', created_at, 'created_by', created_by, 'revoked_at', revoked_at," \
	" 'public_key', public_key)::text"

/* Compares the stored key under id (locked) with the one offered. */
static int key_existing(struct dbconn *c, const char *id, const char *fingerprint,
			bool *exists, struct ramp_err *err)
{
	const char *p[1] = {id};
	PGresult *r;
	int rc = db_query(c, &r,
			  "SELECT fingerprint, revoked_at IS NOT NULL FROM signing_keys"
			  " WHERE id = $1 FOR UPDATE",
			  1, p);

	if (rc)
		return rc;
	*exists = PQntuples(r) > 0;
	if (*exists && strcmp(PQgetvalue(r, 0, 1), "t") == 0)
		rc = ramp_err_set(err, RAMP_ECONFLICT, "key_id",
				  "key %s is revoked; a revoked key id cannot be reused", id);
	else if (*exists && strcmp(PQgetvalue(r, 0, 0), fingerprint) != 0)
		rc = ramp_err_set(err, RAMP_ECONFLICT, "public_key",
				  "key %s already exists with a different public key", id);
	PQclear(r);
	return rc;
}

int store_key_put(struct db *db, const char *actor, const char *id, const char *pem,
		  const char *alg, const char *fingerprint, bool *created, json_t **out,
		  struct ramp_err *err)
{
	const char *p[5] = {id, pem, alg, fingerprint, actor ? actor : "system"};
	struct dbconn *c;
	json_t *detail;
	bool exists = false;
	int rc;

	*out = NULL;
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	if ((rc = key_existing(c, id, fingerprint, &exists, err)) != 0)
		goto out;
	*created = !exists;
	if (exists) {
		rc = store_json_one(c, "SELECT " KEY_JSON " FROM signing_keys WHERE id = $1", 1, p,
				    out);
		goto out;
	}
	detail = json_pack("{s:s, s:s+}", "alg", alg, "fingerprint", "sha256:", fingerprint);
	rc = store_write_one(c,
			     "INSERT INTO signing_keys"
			     " (id, public_key, alg, fingerprint, created_by)"
			     " VALUES ($1, $2, $3, $4, $5) RETURNING " KEY_JSON,
			     5, p, out, actor, "key.put", id, detail);
	json_decref(detail);
	if (rc == RAMP_ECONFLICT) /* a concurrent PUT of the same id won */
		ramp_err_set(err, rc, "key_id", "key %s was created concurrently; retry", id);
out:
	rc = db_tx_end(db, c, rc);
	if (rc && *out) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int store_key_get(struct db *db, const char *id, json_t **out)
{
	return store_get(db, "SELECT " KEY_JSON " FROM signing_keys WHERE id = $1", id, out);
}

int store_key_list(struct db *db, int limit, const char *after, struct page *out)
{
	return store_page(db, "SELECT " KEY_JSON " FROM signing_keys WHERE id > $1"
			      " ORDER BY id LIMIT $2::int", after, limit, "id", out);
}

int store_key_revoke(struct db *db, const char *actor, const char *id, bool *changed)
{
	const char *p[1] = {id};
	struct dbconn *c;
	PGresult *r;
	int rc;

	*changed = false;
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r, "SELECT revoked_at IS NULL FROM signing_keys WHERE id = $1 FOR UPDATE",
		      1, p);
	if (rc)
		goto out;
	if (PQntuples(r) == 0)
		rc = RAMP_ENOTFOUND;
	else
		*changed = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (rc || !*changed)
		goto out;
	rc = db_query(c, NULL, "UPDATE signing_keys SET revoked_at = now() WHERE id = $1", 1, p);
	if (rc == 0)
		rc = store_audit(c, actor, "key.revoke", id, NULL);
	if (rc == 0) /* other replicas stop handing out what only this key signed */
		rc = store_changed(c, "c");
out:
	rc = db_tx_end(db, c, rc);
	if (rc)
		*changed = false;
	return rc;
}
