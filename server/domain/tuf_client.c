/*
 * tuf_client.c - the client workflow of TUF 1.0 section 5 over a
 * struct tuf_trust: each step takes the bytes a repository served and
 * either makes them trusted or names the attack they amount to. The
 * caller does the fetching (and caps each fetch at tuf_max_length()); the
 * order root, timestamp, snapshot, targets, delegations is the caller's.
 */
#include "domain/tuf.h"

#include "common/hex.h"

#include <openssl/evp.h>
#include <string.h>

void tuf_trust_free(struct tuf_trust *t)
{
	if (t == NULL)
		return;
	json_decref(t->root);
	json_decref(t->timestamp);
	json_decref(t->snapshot);
	json_decref(t->targets);
	json_decref(t->delegated);
	memset(t, 0, sizeof(*t));
}

static void replace(json_t **slot, json_t *doc)
{
	json_decref(*slot);
	*slot = doc;
}

int tuf_trust_init(struct tuf_trust *t, const char *root, size_t len, struct ramp_err *err)
{
	json_t *doc;
	int rc;

	memset(t, 0, sizeof(*t));
	rc = tuf_parse(root, len, TUF_MAX_ROOT, TUF_ROOT, &doc, err);
	if (rc == 0)
		rc = tuf_verify_role(doc, tuf_root_keys(doc), tuf_root_role(doc, "root"),
				     "root", err);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	t->root = doc;
	t->delegated = json_object();
	return t->delegated ? 0 : RAMP_ENOMEM;
}

static bool same_role(const json_t *a, const json_t *b, const char *name)
{
	return json_equal(tuf_root_role(a, name), tuf_root_role(b, name));
}

int tuf_update_root(struct tuf_trust *t, const char *data, size_t len, struct ramp_err *err)
{
	int64_t want = tuf_version(t->root) + 1;
	json_t *doc;
	int rc;

	rc = tuf_parse(data, len, TUF_MAX_ROOT, TUF_ROOT, &doc, err);
	if (rc == 0)
		rc = tuf_verify_role(doc, tuf_root_keys(t->root), tuf_root_role(t->root, "root"),
				     "root (by the trusted root's keys)", err);
	if (rc == 0)
		rc = tuf_verify_role(doc, tuf_root_keys(doc), tuf_root_role(doc, "root"),
				     "root (by its own keys)", err);
	if (rc == 0 && tuf_version(doc) != want)
		rc = ramp_err_set(err, RAMP_EINVAL, "rollback",
				  "root: version %lld where %lld was expected",
				  (long long)tuf_version(doc), (long long)want);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	if (!same_role(t->root, doc, "timestamp") || !same_role(t->root, doc, "snapshot")) {
		replace(&t->timestamp, NULL);
		replace(&t->snapshot, NULL);
	}
	replace(&t->root, doc);
	return 0;
}

static int check_expiry(const json_t *doc, const char *role, int64_t now, struct ramp_err *err)
{
	const char *exp = json_string_value(json_object_get(tuf_signed(doc), "expires"));

	if (tuf_expires(doc) <= now)
		return ramp_err_set(err, RAMP_EINVAL, "freeze", "%s: expired at %s", role, exp);
	return 0;
}

int tuf_check_root_expiry(const struct tuf_trust *t, int64_t now, struct ramp_err *err)
{
	return check_expiry(t->root, "root", now, err);
}

static const json_t *meta_entry(const json_t *doc, const char *file)
{
	return json_object_get(json_object_get(tuf_signed(doc), "meta"), file);
}

static int64_t meta_version(const json_t *doc, const char *file)
{
	const json_t *v = json_object_get(meta_entry(doc, file), "version");

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

int tuf_update_timestamp(struct tuf_trust *t, const char *data, size_t len, int64_t now,
			 struct ramp_err *err)
{
	json_t *doc;
	int rc;

	rc = tuf_parse(data, len, TUF_MAX_TIMESTAMP, TUF_TIMESTAMP, &doc, err);
	if (rc == 0)
		rc = tuf_verify_role(doc, tuf_root_keys(t->root), tuf_root_role(t->root, "timestamp"),
				     "timestamp", err);
	if (rc == 0 && t->timestamp && tuf_version(doc) < tuf_version(t->timestamp))
		rc = ramp_err_set(err, RAMP_EINVAL, "rollback",
				  "timestamp: version %lld is older than the trusted %lld",
				  (long long)tuf_version(doc), (long long)tuf_version(t->timestamp));
	if (rc == 0 && t->timestamp && tuf_version(doc) == tuf_version(t->timestamp)) {
		json_decref(doc);
		return check_expiry(t->timestamp, "timestamp", now, err);
	}
	if (rc == 0 && t->timestamp &&
	    meta_version(doc, "snapshot.json") < meta_version(t->timestamp, "snapshot.json"))
		rc = ramp_err_set(err, RAMP_EINVAL, "rollback",
				  "timestamp: names snapshot %lld, older than the trusted %lld",
				  (long long)meta_version(doc, "snapshot.json"),
				  (long long)meta_version(t->timestamp, "snapshot.json"));
	if (rc == 0)
		rc = check_expiry(doc, "timestamp", now, err);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	replace(&t->timestamp, doc);
	return 0;
}

/* Length and hashes a referring role gives for a document, if any. */
static int check_bytes(const json_t *meta, const char *role, const char *data, size_t len,
		       struct ramp_err *err)
{
	const json_t *l = json_object_get(meta, "length"), *hashes = json_object_get(meta, "hashes");
	const char *alg;
	json_t *h;

	if (l && (json_int_t)len > json_integer_value(l))
		return ramp_err_set(err, RAMP_EINVAL, "endless-data",
				    "%s: %zu bytes where %lld were announced", role, len,
				    (long long)json_integer_value(l));
	if (l && (json_int_t)len != json_integer_value(l))
		return ramp_err_set(err, RAMP_EINVAL, "mix-and-match",
				    "%s: %zu bytes where %lld were announced", role, len,
				    (long long)json_integer_value(l));
	json_object_foreach((json_t *)hashes, alg, h) {
		const EVP_MD *md = !strcmp(alg, "sha256") ? EVP_sha256()
				   : !strcmp(alg, "sha512") ? EVP_sha512() : NULL;
		unsigned char d[EVP_MAX_MD_SIZE];
		char hex[2 * EVP_MAX_MD_SIZE + 1];
		unsigned int n = 0;

		if (md == NULL)
			continue;
		if (EVP_Digest(data, len, d, &n, md, NULL) != 1 ||
		    strcmp(hex_encode(hex, d, n), json_string_value(h)) != 0)
			return ramp_err_set(err, RAMP_EINVAL, "mix-and-match",
					    "%s: %s does not match the referring role", role, alg);
	}
	return 0;
}

static int check_version(const json_t *doc, int64_t want, const char *role,
			 struct ramp_err *err)
{
	if (tuf_version(doc) != want)
		return ramp_err_set(err, RAMP_EINVAL, "mix-and-match",
				    "%s: version %lld where the snapshot names %lld", role,
				    (long long)tuf_version(doc), (long long)want);
	return 0;
}

/* 5.5.5: no file of the trusted snapshot may vanish or go back. */
static int check_snapshot_rollback(const json_t *old, const json_t *doc, struct ramp_err *err)
{
	const char *file;
	json_t *m;

	json_object_foreach(json_object_get(tuf_signed(old), "meta"), file, m) {
		int64_t was = json_integer_value(json_object_get(m, "version"));

		if (meta_version(doc, file) < was)
			return ramp_err_set(err, RAMP_EINVAL, "rollback",
					    "snapshot: %s goes from version %lld to %lld", file,
					    (long long)was, (long long)meta_version(doc, file));
	}
	return 0;
}

int tuf_update_snapshot(struct tuf_trust *t, const char *data, size_t len, int64_t now,
			struct ramp_err *err)
{
	const json_t *meta = meta_entry(t->timestamp, "snapshot.json");
	json_t *doc = NULL;
	int rc;

	if (meta == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "malformed", "snapshot: no trusted timestamp");
	rc = check_bytes(meta, "snapshot", data, len, err);
	if (rc == 0)
		rc = tuf_parse(data, len, TUF_MAX_META, TUF_SNAPSHOT, &doc, err);
	if (rc == 0)
		rc = tuf_verify_role(doc, tuf_root_keys(t->root), tuf_root_role(t->root, "snapshot"),
				     "snapshot", err);
	if (rc == 0)
		rc = check_version(doc, meta_version(t->timestamp, "snapshot.json"), "snapshot", err);
	if (rc == 0 && t->snapshot)
		rc = check_snapshot_rollback(t->snapshot, doc, err);
	if (rc == 0)
		rc = check_expiry(doc, "snapshot", now, err);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	replace(&t->snapshot, doc);
	return 0;
}

/* The shared tail of targets and delegated roles (5.6, 5.7). */
static int update_targets_role(const struct tuf_trust *t, const char *name, const json_t *keys,
			       const json_t *role, const char *data, size_t len, int64_t now,
			       json_t **out, struct ramp_err *err)
{
	char file[80];
	const json_t *meta;
	json_t *doc = NULL;
	int rc;

	snprintf(file, sizeof(file), "%s.json", name);
	meta = meta_entry(t->snapshot, file);
	if (meta == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "mix-and-match",
				    "%s: not in the trusted snapshot", name);
	rc = check_bytes(meta, name, data, len, err);
	if (rc == 0)
		rc = tuf_parse(data, len, TUF_MAX_META, TUF_TARGETS, &doc, err);
	if (rc == 0)
		rc = tuf_verify_role(doc, keys, role, name, err);
	if (rc == 0)
		rc = check_version(doc, meta_version(t->snapshot, file), name, err);
	if (rc == 0)
		rc = check_expiry(doc, name, now, err);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

int tuf_update_targets(struct tuf_trust *t, const char *data, size_t len, int64_t now,
		       struct ramp_err *err)
{
	json_t *doc;
	int rc = update_targets_role(t, "targets", tuf_root_keys(t->root),
				     tuf_root_role(t->root, "targets"), data, len, now, &doc, err);

	if (rc)
		return rc;
	replace(&t->targets, doc);
	json_object_clear(t->delegated);
	return 0;
}

int tuf_update_delegated(struct tuf_trust *t, const char *parent, const char *name,
			 const char *data, size_t len, int64_t now, struct ramp_err *err)
{
	const json_t *pdoc = !strcmp(parent, "targets") ? t->targets
				: json_object_get(t->delegated, parent);
	const json_t *role = pdoc ? tuf_delegation(pdoc, name) : NULL;
	json_t *doc;
	int rc;

	if (role == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "arbitrary-software",
				    "%s: not delegated by %s", name, parent);
	rc = update_targets_role(t, name,
				 json_object_get(json_object_get(tuf_signed(pdoc), "delegations"), "keys"),
				 role, data, len, now, &doc, err);
	if (rc)
		return rc;
	return json_object_set_new(t->delegated, name, doc) ? RAMP_ENOMEM : 0;
}

int64_t tuf_snapshot_version(const struct tuf_trust *t)
{
	return t->timestamp ? meta_version(t->timestamp, "snapshot.json") : -1;
}

int64_t tuf_role_version(const struct tuf_trust *t, const char *role)
{
	char file[80];

	snprintf(file, sizeof(file), "%s.json", role);
	return t->snapshot ? meta_version(t->snapshot, file) : -1;
}

size_t tuf_max_length(const struct tuf_trust *t, const char *role)
{
	const json_t *l = NULL;
	char file[80];

	if (!strcmp(role, "root"))
		return TUF_MAX_ROOT;
	if (!strcmp(role, "timestamp"))
		return TUF_MAX_TIMESTAMP;
	if (!strcmp(role, "snapshot")) {
		l = json_object_get(meta_entry(t->timestamp, "snapshot.json"), "length");
	} else {
		snprintf(file, sizeof(file), "%s.json", role);
		l = json_object_get(meta_entry(t->snapshot, file), "length");
	}
	if (json_is_integer(l) && json_integer_value(l) < TUF_MAX_META)
		return (size_t)json_integer_value(l);
	return TUF_MAX_META;
}

enum { FOUND = 0, STOP = 1 };

/* Pre-order depth-first search (5.7.7); RAMP_ENOTFOUND to go on. */
static int search(const struct tuf_trust *t, const json_t *doc, const char *name,
		  const char *path, int depth, const json_t **info, char need[64],
		  char need_parent[64])
{
	const json_t *roles, *r;
	size_t i;
	int rc;

	*info = json_object_get(json_object_get(tuf_signed(doc), "targets"), path);
	if (*info != NULL)
		return FOUND;
	if (depth >= TUF_MAX_DELEGATIONS)
		return RAMP_ENOTFOUND;
	roles = json_object_get(json_object_get(tuf_signed(doc), "delegations"), "roles");
	json_array_foreach(roles, i, r) {
		const char *child = json_string_value(json_object_get(r, "name"));
		const json_t *cdoc = json_object_get(t->delegated, child);

		if (!tuf_role_matches(r, path))
			continue;
		if (cdoc == NULL) {
			snprintf(need, 64, "%s", child);
			snprintf(need_parent, 64, "%s", name);
			return RAMP_EBUSY;
		}
		rc = search(t, cdoc, child, path, depth + 1, info, need, need_parent);
		if (rc == FOUND || rc == RAMP_EBUSY || rc == STOP)
			return rc;
		if (json_is_true(json_object_get(r, "terminating")))
			return STOP;
	}
	return RAMP_ENOTFOUND;
}

int tuf_find_target(const struct tuf_trust *t, const char *path, const json_t **info,
		    char need[64], char need_parent[64], struct ramp_err *err)
{
	int rc;

	*info = NULL;
	need[0] = need_parent[0] = '\0';
	if (t->targets == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "malformed", "no trusted targets");
	rc = search(t, t->targets, "targets", path, 0, info, need, need_parent);
	if (rc == FOUND || rc == RAMP_EBUSY)
		return rc;
	*info = NULL;
	return ramp_err_set(err, RAMP_ENOTFOUND, "arbitrary-software",
			    "%s: in no verified targets metadata", path);
}
