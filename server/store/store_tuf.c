/*
 * store_tuf.c - the TUF repository's rows (docs/tuf.md): every version of
 * every role's metadata as the bytes served, and the online snapshot and
 * timestamp keys. Every write takes one transaction-scoped advisory lock,
 * so replicas never hand out two documents of one version; an upload and
 * the snapshot and timestamp it makes necessary commit together.
 */
#include "store/store.h"

#include "domain/tuf_repo.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TUF_LOCK "SELECT pg_advisory_xact_lock(7502, 15)"
#define SNAPSHOT_TTL (7 * 86400)

/* The latest (version < 0) or given version's bytes; NULL *body when none. */
static int tuf_read(struct dbconn *c, const char *role, int64_t version, char **body,
		    size_t *len)
{
	char v[24];
	const char *p[2] = {role, v};
	PGresult *r;
	int rc;

	snprintf(v, sizeof(v), "%" PRId64, version);
	*body = NULL;
	*len = 0;
	rc = db_query(c, &r,
		      "SELECT body FROM tuf_metadata WHERE role = $1 AND ($2::bigint < 0 OR"
		      " version = $2::bigint) ORDER BY version DESC LIMIT 1", 2, p);
	if (rc)
		return rc;
	if (PQntuples(r) == 1) {
		*len = (size_t)PQgetlength(r, 0, 0);
		*body = strndup(PQgetvalue(r, 0, 0), *len);
		if (*body == NULL)
			rc = RAMP_ENOMEM;
	}
	PQclear(r);
	return rc;
}

int store_tuf_get(struct db *db, const char *role, int64_t version, char **body, size_t *len)
{
	struct dbconn *c;
	int rc = db_acquire(db, &c);

	if (rc)
		return rc;
	rc = tuf_read(c, role, version, body, len);
	db_release(db, c);
	if (rc == 0 && *body == NULL)
		rc = RAMP_ENOTFOUND;
	return rc;
}

static int tuf_insert(struct dbconn *c, const char *role, int64_t version, const char *body,
		      const char *actor)
{
	char v[24];
	const char *p[4] = {role, v, body, actor ? actor : "system"};

	snprintf(v, sizeof(v), "%" PRId64, version);
	return db_query(c, NULL,
			"INSERT INTO tuf_metadata (role, version, body, created_by)"
			" VALUES ($1, $2::bigint, $3, $4)", 4, p);
}

/* Signs doc with every online key of role that root lists for it. */
static int sign_online(struct dbconn *c, const json_t *root, const char *role, json_t *doc)
{
	json_t *ids = json_object_get(tuf_root_role(root, role), "keyids");
	char *arr = json_dumps(ids, JSON_COMPACT);
	const char *p[2] = {role, arr};
	struct ramp_err err;
	PGresult *r;
	int rc, n;

	if (arr == NULL)
		return RAMP_ENOMEM;
	rc = db_query(c, &r,
		      "SELECT private_pem FROM tuf_online_keys WHERE role = $1 AND keyid IN"
		      " (SELECT jsonb_array_elements_text($2::jsonb))", 2, p);
	free(arr);
	if (rc)
		return rc;
	n = PQntuples(r);
	for (int i = 0; i < n && rc == 0; i++)
		rc = tuf_sign(doc, PQgetvalue(r, i, 0), &err);
	PQclear(r);
	return rc == 0 && n == 0 ? RAMP_ENOTFOUND : rc;
}

/* {"<role>.json": {"version": N}} of the latest targets roles. */
static int targets_meta(struct dbconn *c, json_t **meta)
{
	return store_json_one(c,
			      "SELECT coalesce(jsonb_object_agg(role || '.json',"
			      " jsonb_build_object('version', v)), '{}')::text FROM"
			      " (SELECT role, max(version) AS v FROM tuf_metadata WHERE role NOT IN"
			      " ('root', 'snapshot', 'timestamp') GROUP BY role) m", 0, NULL, meta);
}

static int64_t latest_version(struct dbconn *c, const char *role)
{
	const char *p[1] = {role};
	PGresult *r;
	int64_t v = 0;

	if (db_query(c, &r, "SELECT coalesce(max(version), 0) FROM tuf_metadata WHERE role = $1",
		     1, p) != 0)
		return -1;
	v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* A new timestamp over snapshot bytes snap (version sv). */
static int put_timestamp(struct dbconn *c, const json_t *root, int64_t sv, const char *snap,
			 int64_t now, int64_t ttl)
{
	int64_t v = latest_version(c, "timestamp");
	json_t *ts;
	char *s = NULL;
	int rc;

	if (v < 0)
		return RAMP_EUNAVAIL;
	ts = tuf_repo_timestamp(v + 1, now + ttl, sv, snap, strlen(snap));
	rc = ts ? sign_online(c, root, "timestamp", ts) : RAMP_ENOMEM;
	if (rc == 0 && (s = tuf_repo_dump(ts)) == NULL)
		rc = RAMP_ENOMEM;
	if (rc == 0)
		rc = tuf_insert(c, "timestamp", v + 1, s, "rampd");
	free(s);
	json_decref(ts);
	return rc;
}

/* A new snapshot of the latest targets roles, and a timestamp naming it;
 * nothing while there is no root or no targets yet. */
static int resign(struct dbconn *c, int64_t now, int64_t ttl)
{
	char *rootb = NULL, *snap = NULL;
	json_t *root = NULL, *meta = NULL, *doc = NULL;
	struct ramp_err err;
	size_t len;
	int64_t v;
	int rc;

	rc = tuf_read(c, "root", -1, &rootb, &len);
	if (rc || rootb == NULL)
		return rc;
	rc = tuf_parse(rootb, len, TUF_MAX_ROOT, TUF_ROOT, &root, &err);
	if (rc == 0)
		rc = targets_meta(c, &meta);
	if (rc || json_object_get(meta, "targets.json") == NULL)
		goto out;
	v = latest_version(c, "snapshot");
	doc = v < 0 ? NULL : tuf_repo_snapshot(meta, v + 1, now + SNAPSHOT_TTL);
	rc = doc ? sign_online(c, root, "snapshot", doc) : RAMP_EUNAVAIL;
	if (rc == 0 && (snap = tuf_repo_dump(doc)) == NULL)
		rc = RAMP_ENOMEM;
	if (rc == 0)
		rc = tuf_insert(c, "snapshot", v + 1, snap, "rampd");
	if (rc == 0)
		rc = put_timestamp(c, root, v + 1, snap, now, ttl);
out:
	free(rootb);
	free(snap);
	json_decref(root);
	json_decref(meta);
	json_decref(doc);
	return rc;
}

/* A root's snapshot and timestamp roles must be ones rampd can sign: at
 * least their threshold of keys it holds for that role. */
static int check_online(struct dbconn *c, const json_t *root, struct ramp_err *err)
{
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "timestamp" : "snapshot";
		const json_t *role = tuf_root_role(root, name);
		char *ids = json_dumps(json_object_get(role, "keyids"), JSON_COMPACT);
		const char *p[2] = {name, ids};
		PGresult *r;
		long long held;
		int rc;

		if (ids == NULL)
			return RAMP_ENOMEM;
		rc = db_query(c, &r,
			      "SELECT count(*) FROM tuf_online_keys WHERE role = $1 AND keyid IN"
			      " (SELECT jsonb_array_elements_text($2::jsonb))", 2, p);
		free(ids);
		if (rc)
			return rc;
		held = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		if (held < json_integer_value(json_object_get(role, "threshold")))
			return ramp_err_set(err, RAMP_EINVAL, "roles",
					    "the %s role names %lld key(s) rampd holds, below its"
					    " threshold (GET /v1/tuf/online-keys)", name, held);
	}
	return 0;
}

static int check_upload(struct dbconn *c, const char *role, const char *body, size_t len,
			int64_t now, json_t **doc, struct ramp_err *err)
{
	char *cur = NULL, *top = NULL;
	size_t curlen = 0, toplen = 0;
	int rc = tuf_read(c, role, -1, &cur, &curlen);

	if (rc)
		return rc;
	if (!strcmp(role, "root")) {
		rc = tuf_repo_check_root(cur, curlen, body, len, now, doc, err);
		if (rc == 0)
			rc = check_online(c, *doc, err);
	} else if (!strcmp(role, "targets")) {
		rc = tuf_read(c, "root", -1, &top, &toplen);
		if (rc == 0 && top == NULL)
			rc = ramp_err_set(err, RAMP_ECONFLICT, "role",
					  "no root yet: upload root.json first (rampctl tuf init)");
		if (rc == 0)
			rc = tuf_repo_check_targets(top, toplen, cur, curlen, body, len, now, doc,
						    err);
	} else {
		rc = tuf_read(c, "targets", -1, &top, &toplen);
		if (rc == 0 && top == NULL)
			rc = ramp_err_set(err, RAMP_ENOTFOUND, "role",
					  "no targets metadata delegates %s yet", role);
		if (rc == 0)
			rc = tuf_repo_check_delegated(top, toplen, role, cur, curlen, body, len, now,
						      doc, err);
	}
	free(cur);
	free(top);
	return rc;
}

int store_tuf_put(struct db *db, const char *actor, const char *role, const char *body,
		  size_t len, int64_t now, int64_t ttl, json_t **out, struct ramp_err *err)
{
	struct dbconn *c;
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL, TUF_LOCK, 0, NULL);
	if (rc == 0)
		rc = check_upload(c, role, body, len, now, &doc, err);
	if (rc == 0)
		rc = tuf_insert(c, role, tuf_version(doc), body, actor);
	if (rc == 0)
		rc = resign(c, now, ttl);
	if (rc == RAMP_ENOTFOUND && err->code == 0)
		rc = ramp_err_set(err, RAMP_ECONFLICT, "root",
				  "the root names no snapshot or timestamp key rampd holds"
				  " (GET /v1/tuf/online-keys)");
	if (rc == 0) {
		*out = json_pack("{s:s, s:I}", "role", role, "version",
				 (json_int_t)tuf_version(doc));
		rc = store_audit(c, actor, "tuf.put", role, *out);
	}
	rc = db_tx_end(db, c, rc);
	json_decref(doc);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* Whether the latest document of role expires within half its TTL. */
static bool due(struct dbconn *c, const char *role, enum tuf_type type, int64_t ttl,
		int64_t now)
{
	char *b = NULL;
	size_t len;
	json_t *doc = NULL;
	struct ramp_err err;
	bool soon = false;

	if (tuf_read(c, role, -1, &b, &len) == 0 && b != NULL &&
	    tuf_parse(b, len, TUF_MAX_META, type, &doc, &err) == 0)
		soon = tuf_expires(doc) - now < ttl / 2;
	free(b);
	json_decref(doc);
	return soon;
}

int store_tuf_refresh(struct db *db, int64_t now, int64_t ttl, bool *resigned)
{
	struct dbconn *c;
	int rc;

	*resigned = false;
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL, TUF_LOCK, 0, NULL);
	if (rc == 0 && (due(c, "timestamp", TUF_TIMESTAMP, ttl, now) ||
			due(c, "snapshot", TUF_SNAPSHOT, SNAPSHOT_TTL, now))) {
		rc = resign(c, now, ttl);
		*resigned = rc == 0;
	}
	rc = db_tx_end(db, c, rc);
	return rc == RAMP_ENOTFOUND ? 0 : rc;
}

int store_tuf_online_keys(struct db *db, json_t **out)
{
	struct dbconn *c;
	int rc;

	*out = NULL;
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL, TUF_LOCK, 0, NULL);
	for (int i = 0; rc == 0 && i < 2; i++) {
		const char *role = i ? "timestamp" : "snapshot";
		const char *p[1] = {role};
		PGresult *r;

		rc = db_query(c, &r, "SELECT 1 FROM tuf_online_keys WHERE role = $1", 1, p);
		if (rc)
			break;
		if (PQntuples(r) == 0)
			rc = store_tuf_online_key_add(c, role, NULL);
		PQclear(r);
	}
	if (rc == 0)
		rc = store_json_one(c,
				    "SELECT jsonb_build_object("
				    "'snapshot', coalesce(jsonb_object_agg(keyid, public_key)"
				    " FILTER (WHERE role = 'snapshot'), '{}'),"
				    "'timestamp', coalesce(jsonb_object_agg(keyid, public_key)"
				    " FILTER (WHERE role = 'timestamp'), '{}'))::text"
				    " FROM tuf_online_keys", 0, NULL, out);
	return db_tx_end(db, c, rc);
}

int store_tuf_online_key_add(struct dbconn *c, const char *role, json_t **out)
{
	char *pem = NULL, *pubs = NULL, id[65];
	json_t *pub = NULL;
	int rc = tuf_key_generate(&pem, &pub);

	if (rc == 0)
		rc = tuf_keyid(pub, id);
	if (rc == 0 && (pubs = json_dumps(pub, JSON_COMPACT)) == NULL)
		rc = RAMP_ENOMEM;
	if (rc == 0) {
		const char *p[4] = {id, role, pem, pubs};

		rc = db_query(c, NULL,
			      "INSERT INTO tuf_online_keys (keyid, role, private_pem, public_key)"
			      " VALUES ($1, $2, $3, $4::jsonb)", 4, p);
	}
	if (rc == 0)
		rc = store_audit(c, NULL, "tuf.online_key", id, NULL);
	if (rc == 0 && out)
		*out = json_pack("{s:s, s:s, s:O}", "role", role, "keyid", id, "key", pub);
	free(pem);
	free(pubs);
	json_decref(pub);
	return rc;
}

int store_tuf_online_key_new(struct db *db, const char *role, json_t **out)
{
	struct dbconn *c;
	int rc;

	*out = NULL;
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	rc = store_tuf_online_key_add(c, role, out);
	rc = db_tx_end(db, c, rc);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}
