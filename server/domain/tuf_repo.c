/*
 * tuf_repo.c - the repository side of TUF: what rampd accepts as the next
 * root, top-level targets or delegated targets document (each checked
 * against what it already serves, the way a client would check it), and
 * the snapshot and timestamp documents it signs with its online keys.
 */
#include "domain/tuf_repo.h"

#include "domain/sig.h"

#include <string.h>

int tuf_repo_check_root(const char *cur, size_t curlen, const char *data, size_t len,
			int64_t now, json_t **doc, struct ramp_err *err)
{
	struct tuf_trust t;
	int rc;

	*doc = NULL;
	if (cur == NULL) {
		rc = tuf_trust_init(&t, data, len, err);
		if (rc == 0 && tuf_version(t.root) != 1)
			rc = ramp_err_set(err, RAMP_EINVAL, "version",
					  "the first root must be version 1");
	} else {
		rc = tuf_trust_init(&t, cur, curlen, err);
		if (rc == 0)
			rc = tuf_update_root(&t, data, len, err);
	}
	if (rc == 0)
		rc = tuf_check_root_expiry(&t, now, err);
	if (rc == 0 && !json_is_true(json_object_get(tuf_signed(t.root), "consistent_snapshot")))
		rc = ramp_err_set(err, RAMP_EINVAL, "consistent_snapshot",
				  "must be true: rampd serves consistent snapshots only");
	if (rc == 0) {
		*doc = t.root;
		t.root = NULL;
	}
	tuf_trust_free(&t);
	return rc;
}

static int check_next(const json_t *doc, const char *cur, size_t curlen, const char *name,
		      int64_t now, struct ramp_err *err)
{
	json_t *old = NULL;
	struct ramp_err ignored;

	if (tuf_expires(doc) <= now)
		return ramp_err_set(err, RAMP_EINVAL, "expires", "%s: already expired", name);
	if (cur && tuf_parse(cur, curlen, TUF_MAX_META, TUF_TARGETS, &old, &ignored) == 0 &&
	    tuf_version(doc) <= tuf_version(old)) {
		int64_t was = tuf_version(old);

		json_decref(old);
		return ramp_err_set(err, RAMP_ECONFLICT, "version",
				    "%s: version %lld is not above the current %lld", name,
				    (long long)tuf_version(doc), (long long)was);
	}
	json_decref(old);
	return 0;
}

int tuf_repo_check_targets(const char *root, size_t rootlen, const char *cur, size_t curlen,
			   const char *data, size_t len, int64_t now, json_t **doc,
			   struct ramp_err *err)
{
	json_t *r = NULL;
	int rc;

	*doc = NULL;
	rc = tuf_parse(root, rootlen, TUF_MAX_ROOT, TUF_ROOT, &r, err);
	if (rc == 0)
		rc = tuf_parse(data, len, TUF_MAX_META, TUF_TARGETS, doc, err);
	if (rc == 0)
		rc = tuf_verify_role(*doc, tuf_root_keys(r), tuf_root_role(r, "targets"),
				     "targets", err);
	if (rc == 0)
		rc = check_next(*doc, cur, curlen, "targets", now, err);
	json_decref(r);
	if (rc) {
		json_decref(*doc);
		*doc = NULL;
	}
	return rc;
}

/* Every target of a delegated role lies inside the delegation's paths. */
static int check_paths(const json_t *doc, const json_t *role, const char *name,
		       struct ramp_err *err)
{
	const char *path;
	json_t *t;

	json_object_foreach(json_object_get(tuf_signed(doc), "targets"), path, t) {
		if (!tuf_role_matches(role, path))
			return ramp_err_set(err, RAMP_EINVAL, "arbitrary-software",
					    "%s: target %s is outside the delegated paths", name,
					    path);
	}
	return 0;
}

int tuf_repo_check_delegated(const char *targets, size_t tlen, const char *name,
			     const char *cur, size_t curlen, const char *data, size_t len,
			     int64_t now, json_t **doc, struct ramp_err *err)
{
	const json_t *role;
	json_t *top = NULL;
	int rc;

	*doc = NULL;
	rc = tuf_parse(targets, tlen, TUF_MAX_META, TUF_TARGETS, &top, err);
	role = rc == 0 ? tuf_delegation(top, name) : NULL;
	if (rc == 0 && role == NULL)
		rc = ramp_err_set(err, RAMP_ENOTFOUND, "role",
				  "%s: the targets role delegates nothing by that name", name);
	if (rc == 0)
		rc = tuf_parse(data, len, TUF_MAX_META, TUF_TARGETS, doc, err);
	if (rc == 0)
		rc = tuf_verify_role(*doc,
				     json_object_get(json_object_get(tuf_signed(top), "delegations"),
						     "keys"), role, name, err);
	if (rc == 0)
		rc = check_paths(*doc, role, name, err);
	if (rc == 0)
		rc = check_next(*doc, cur, curlen, name, now, err);
	json_decref(top);
	if (rc) {
		json_decref(*doc);
		*doc = NULL;
	}
	return rc;
}

json_t *tuf_repo_snapshot(json_t *meta, int64_t version, int64_t expires)
{
	char exp[21];

	tuf_time_format(expires, exp);
	return json_pack("{s:{s:s, s:s, s:I, s:s, s:O}, s:[]}", "signed", "_type", "snapshot",
			 "spec_version", TUF_SPEC_VERSION, "version", (json_int_t)version,
			 "expires", exp, "meta", meta, "signatures");
}

json_t *tuf_repo_timestamp(int64_t version, int64_t expires, int64_t snap_version,
			   const char *snap, size_t snaplen)
{
	char exp[21], sha[65];

	tuf_time_format(expires, exp);
	sig_sha256_hex(snap, snaplen, sha);
	return json_pack("{s:{s:s, s:s, s:I, s:s, s:{s:{s:I, s:I, s:{s:s}}}}, s:[]}", "signed",
			 "_type", "timestamp", "spec_version", TUF_SPEC_VERSION, "version",
			 (json_int_t)version, "expires", exp, "meta", "snapshot.json", "version",
			 (json_int_t)snap_version, "length", (json_int_t)snaplen, "hashes",
			 "sha256", sha, "signatures");
}

char *tuf_repo_dump(const json_t *doc)
{
	return json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
}
