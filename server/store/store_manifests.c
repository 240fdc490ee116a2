/*
 * store_manifests.c - signed manifests, their signatures, models and their
 * stable versions, and the audit entries of artifact uploads.
 *
 * (model, version) is immutable: the exact bytes are stored once, and the
 * same bytes posted again can only add a signature by another key. A
 * manifest is "signable" (may be installed, may become stable, may start a
 * rollout) while at least one non-revoked key signed it and it has not
 * expired; the key rows are locked FOR SHARE while that is decided, so a
 * concurrent revocation waits for the decision to commit.
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The full record of manifest m; the primary signature is the newest by a
 * key that is not revoked (so re-signing with a new key takes over). */
#define MANIFEST_RECORD                                                        \
	"json_build_object('model', m.model, 'version', m.version, 'manifest', m.text," \
	" 'signature', s.sig, 'key_id', s.key_id, 'signatures', s.sigs,"          \
	" 'digest', 'sha256:' || m.digest, 'posted_by', m.posted_by,"            \
	" 'created_at', m.created_at, 'expires', m.expires_at,"                  \
	" 'variants', m.doc->'variants')::text"                                  \
	" FROM manifests m, LATERAL (SELECT"                                     \
	"  json_agg(json_build_object('key_id', ms.key_id, 'signature', ms.signature," \
	"   'revoked', k.revoked_at IS NOT NULL, 'created_at', ms.created_at)"     \
	"   ORDER BY ms.created_at, ms.key_id) AS sigs,"                          \
	"  (array_agg(ms.signature ORDER BY k.revoked_at IS NULL DESC, ms.created_at DESC," \
	"   ms.key_id))[1] AS sig,"                                                \
	"  (array_agg(ms.key_id ORDER BY k.revoked_at IS NULL DESC, ms.created_at DESC," \
	"   ms.key_id))[1] AS key_id"                                              \
	"  FROM manifest_signatures ms JOIN signing_keys k ON k.id = ms.key_id"   \
	"  WHERE ms.model = m.model AND ms.version = m.version) s"

#define MODEL_JSON                                                             \
	"json_build_object('name', md.name, 'stable_version', md.stable_version," \
	" 'stable_by_platform', md.stable_by_platform," \
	" 'versions', (SELECT count(*) FROM manifests x WHERE x.model = md.name)," \
	" 'updated_at', md.updated_at, 'updated_by', md.updated_by)::text"

static int record(struct dbconn *c, const char *model, const char *version, json_t **out)
{
	const char *p[2] = {model, version};

	return store_json_one(c, "SELECT " MANIFEST_RECORD " WHERE m.model = $1 AND m.version = $2",
			      2, p, out);
}

/* Locks the posting key and refuses a revoked one (it may have been revoked
 * since the handler verified the signature). */
static int lock_key(struct dbconn *c, const char *key_id, struct ramp_err *err)
{
	const char *p[1] = {key_id};
	PGresult *r;
	int rc = db_query(c, &r, "SELECT revoked_at IS NOT NULL FROM signing_keys"
				 " WHERE id = $1 FOR SHARE",
			  1, p);

	if (rc)
		return rc;
	if (PQntuples(r) == 0)
		rc = ramp_err_set(err, RAMP_EINVAL, "key_id", "unknown signing key %s", key_id);
	else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		rc = ramp_err_set(err, RAMP_EINVAL, "key_id", "signing key %s is revoked", key_id);
	PQclear(r);
	return rc;
}

/* An existing (model, version): identical bytes add the signature when this
 * key has not signed yet; other bytes are a conflict. */
static int post_existing(struct dbconn *c, const struct manifest_post *mp, PGresult *r,
			 enum manifest_outcome *outcome, struct ramp_err *err)
{
	const char *p[4] = {mp->model, mp->version, mp->key_id, mp->signature};
	PGresult *s;
	int rc;

	if (strcmp(PQgetvalue(r, 0, 0), mp->text) != 0)
		return ramp_err_set(err, RAMP_ECONFLICT, "manifest",
				    "%s version %s already exists with different content;"
				    " (name, version) is immutable",
				    mp->model, mp->version);
	rc = db_query(c, &s,
		      "INSERT INTO manifest_signatures (model, version, key_id, signature)"
		      " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
		      4, p);
	if (rc)
		return rc;
	*outcome = PQcmdTuples(s)[0] == '1' ? MANIFEST_SIGNED : MANIFEST_UNCHANGED;
	PQclear(s);
	return 0;
}

static int post_new(struct dbconn *c, const char *actor, const struct manifest_post *mp)
{
	char *doc = json_dumps(mp->doc, JSON_COMPACT);
	const char *p[8] = {mp->model, mp->version, mp->text, mp->digest_hex,
			    doc, mp->expires_at, actor ? actor : "system", NULL};
	const char *ps[4] = {mp->model, mp->version, mp->key_id, mp->signature};
	int rc;

	if (doc == NULL)
		return RAMP_ENOMEM;
	rc = db_query(c, NULL,
		      "INSERT INTO manifests"
		      " (model, version, text, digest, doc, expires_at, posted_by)"
		      " VALUES ($1, $2, $3, $4, $5::jsonb, $6::timestamptz, $7)",
		      7, p);
	free(doc);
	if (rc == 0)
		rc = db_query(c, NULL,
			      "INSERT INTO manifest_signatures (model, version, key_id, signature)"
			      " VALUES ($1, $2, $3, $4)",
			      4, ps);
	if (rc == 0)
		rc = db_query(c, NULL,
			      "INSERT INTO models (name, updated_by) VALUES ($1, $2)"
			      " ON CONFLICT (name) DO NOTHING",
			      2, (const char *const[]){mp->model, actor ? actor : "system"});
	return rc;
}

static int post_once(struct db *db, const char *actor, const struct manifest_post *mp,
		     enum manifest_outcome *outcome, json_t **out, struct ramp_err *err)
{
	static const char *const names[] = {[MANIFEST_CREATED] = "created",
					    [MANIFEST_SIGNED] = "signature_added",
					    [MANIFEST_UNCHANGED] = "unchanged"};
	const char *p[2] = {mp->model, mp->version};
	char target[200];
	struct dbconn *c;
	PGresult *r;
	json_t *detail;
	int rc;

	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	if ((rc = lock_key(c, mp->key_id, err)) != 0)
		goto out;
	rc = db_query(c, &r, "SELECT text FROM manifests WHERE model = $1 AND version = $2"
			     " FOR UPDATE",
		      2, p);
	if (rc)
		goto out;
	*outcome = MANIFEST_CREATED;
	rc = PQntuples(r) == 0 ? post_new(c, actor, mp) : post_existing(c, mp, r, outcome, err);
	PQclear(r);
	if (rc)
		goto out;
	snprintf(target, sizeof(target), "%s:%s", mp->model, mp->version);
	detail = json_pack("{s:s, s:s+, s:s, s:s}", "result", names[*outcome], "digest", "sha256:",
			   mp->digest_hex, "key_id", mp->key_id, "version", mp->version);
	rc = store_audit(c, actor, "manifest.post", target, detail);
	json_decref(detail);
	if (rc == 0)
		rc = record(c, mp->model, mp->version, out);
	if (rc == 0)
		rc = store_changed(c, "c");
out:
	return db_tx_end(db, c, rc);
}

int store_manifest_post(struct db *db, const char *actor, const struct manifest_post *mp,
			enum manifest_outcome *outcome, json_t **out, struct ramp_err *err)
{
	int rc;

	*out = NULL;
	rc = post_once(db, actor, mp, outcome, out, err);
	/* a concurrent first post of the same (model, version) won the insert:
	 * once more, now as an existing manifest (identical bytes are a 200) */
	if (rc == RAMP_ECONFLICT && err->code != RAMP_ECONFLICT) {
		json_decref(*out);
		*out = NULL;
		rc = post_once(db, actor, mp, outcome, out, err);
	}
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int store_manifest_get(struct db *db, const char *model, const char *version, json_t **out)
{
	struct dbconn *c;
	int rc;

	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = record(c, model, version, out);
	db_release(db, c);
	return rc;
}

int store_manifest_list(struct db *db, const char *model, int limit, int64_t after,
			struct page *out)
{
	struct dbconn *c;
	char lim[16], aft[24];
	const char *p[3] = {model ? model : "", aft, lim};
	json_t *v;
	size_t i;
	int rc;

	snprintf(lim, sizeof(lim), "%d", limit + 1);
	snprintf(aft, sizeof(aft), "%lld", (long long)after);
	memset(out, 0, sizeof(*out));
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = store_json_rows(
		c,
		"SELECT json_build_object('model', m.model, 'version', m.version,"
		" 'digest', 'sha256:' || m.digest, 'key_ids', (SELECT json_agg(ms.key_id"
		"  ORDER BY ms.created_at, ms.key_id) FROM manifest_signatures ms"
		"  WHERE ms.model = m.model AND ms.version = m.version),"
		" 'posted_by', m.posted_by, 'created_at', m.created_at, 'expires', m.expires_at,"
		" 'seq', m.seq)::text FROM manifests m"
		" WHERE ($1 = '' OR m.model = $1) AND ($2::bigint = 0 OR m.seq < $2::bigint)"
		" ORDER BY m.seq DESC LIMIT $3::int",
		3, p, &out->items);
	db_release(db, c);
	if (rc)
		return rc;
	store_paginate(out, limit, "seq");
	json_array_foreach(out->items, i, v)
		json_object_del(v, "seq");
	return 0;
}

/* Why (model, version) may not be used: RAMP_ENOTFOUND, or RAMP_EINVAL with
 * err naming the reason. Locks the valid keys FOR SHARE inside a transaction. */
static int signable(struct dbconn *c, const char *model, const char *version,
		    struct ramp_err *err)
{
	const char *p[2] = {model, version};
	PGresult *r;
	int rc = db_query(c, &r,
			  "SELECT m.expires_at IS NOT NULL AND m.expires_at <= now(),"
			  " (SELECT count(*) FROM (SELECT 1 FROM manifest_signatures ms"
			  "  JOIN signing_keys k ON k.id = ms.key_id"
			  "  WHERE ms.model = m.model AND ms.version = m.version"
			  "  AND k.revoked_at IS NULL FOR SHARE OF k) v)"
			  " FROM manifests m WHERE m.model = $1 AND m.version = $2",
			  2, p);

	if (rc)
		return rc;
	if (PQntuples(r) == 0)
		rc = ramp_err_set(err, RAMP_ENOTFOUND, "version", "no manifest for %s version %s",
				  model, version);
	else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		rc = ramp_err_set(err, RAMP_EINVAL, "version", "manifest %s version %s has expired",
				  model, version);
	else if (strcmp(PQgetvalue(r, 0, 1), "0") == 0)
		rc = ramp_err_set(err, RAMP_EINVAL, "version",
				  "every key that signed %s version %s is revoked; re-sign it"
				  " with a valid key",
				  model, version);
	PQclear(r);
	return rc;
}

int store_manifest_signable(struct db *db, const char *model, const char *version,
			    json_t **manifest_record)
{
	struct ramp_err err;
	struct dbconn *c;
	int rc;

	*manifest_record = NULL;
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = signable(c, model, version, &err);
	if (rc == 0)
		rc = record(c, model, version, manifest_record);
	db_release(db, c);
	return rc;
}

int store_model_set_stable(struct db *db, const char *actor, const char *model,
			   const char *version, bool *changed, json_t **out,
			   struct ramp_err *err)
{
	const char *p[3] = {model, version, actor ? actor : "system"};
	struct dbconn *c;
	PGresult *r;
	json_t *detail;
	int rc;

	*out = NULL;
	*changed = false;
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	if ((rc = signable(c, model, version, err)) != 0)
		goto out;
	rc = db_query(c, &r,
		      "SELECT stable_version, stable_by_platform <> '{}' FROM models"
		      " WHERE name = $1 FOR UPDATE",
		      1, p);
	if (rc)
		goto out;
	/* an explicit stable version is for every platform: it clears the ones
	 * a per-variant rollback kept back (docs/judge.md) */
	*changed = PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 0), version) != 0 ||
		   PQgetvalue(r, 0, 1)[0] == 't';
	detail = json_pack("{s:s, s:s?}", "version", version, "previous",
			   PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : NULL);
	PQclear(r);
	if (*changed)
		rc = db_query(c, NULL,
			      "INSERT INTO models (name, stable_version, updated_at, updated_by)"
			      " VALUES ($1, $2, now(), $3) ON CONFLICT (name) DO UPDATE SET"
			      " stable_version = $2, stable_by_platform = '{}', updated_at = now(),"
			      " updated_by = $3",
			      3, p);
	if (rc == 0 && *changed)
		rc = store_audit(c, actor, "model.stable", model, detail);
	json_decref(detail);
	if (rc == 0)
		rc = store_json_one(c, "SELECT " MODEL_JSON " FROM models md WHERE md.name = $1", 1,
				    p, out);
	if (rc == 0 && *changed)
		rc = store_changed(c, "c");
out:
	rc = db_tx_end(db, c, rc);
	if (rc) {
		json_decref(*out);
		*out = NULL;
		*changed = false;
	}
	return rc;
}

int store_model_get(struct db *db, const char *name, json_t **out)
{
	return store_get(db, "SELECT " MODEL_JSON " FROM models md WHERE md.name = $1", name, out);
}

int store_model_list(struct db *db, int limit, const char *after, struct page *out)
{
	return store_page(db, "SELECT " MODEL_JSON " FROM models md WHERE md.name > $1"
			      " ORDER BY md.name LIMIT $2::int", after, limit, "name", out);
}

int store_artifact_audit(struct db *db, const char *actor, const char *digest, int64_t size,
			 bool created)
{
	struct dbconn *c;
	json_t *detail = json_pack("{s:I, s:b}", "size", (json_int_t)size, "created", created);
	int rc;

	if ((rc = db_tx_begin(db, &c)) == 0) {
		rc = store_audit(c, actor, "artifact.put", digest, detail);
		rc = db_tx_end(db, c, rc);
	}
	json_decref(detail);
	return rc;
}
