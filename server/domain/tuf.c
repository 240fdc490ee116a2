/*
 * tuf.c - TUF metadata documents: parsing with the checks every role's
 * document must pass (spec 4.x formats), time stamps, delegations and
 * their path patterns. Unknown members are kept, as the spec allows
 * extensions; what is known is checked for type and range, so the
 * workflow in tuf_client.c reads only well-formed trees.
 */
#include "domain/tuf.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const type_names[] = {"root", "timestamp", "snapshot", "targets"};

const json_t *tuf_signed(const json_t *doc)
{
	return json_object_get(doc, "signed");
}

int64_t tuf_version(const json_t *doc)
{
	return json_integer_value(json_object_get(tuf_signed(doc), "version"));
}

int64_t tuf_time_parse(const char *s)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, se, n = 0;

	if (s == NULL || strlen(s) != 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 ||
	    n != 20 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 ||
	    y < 1970)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	return (int64_t)timegm(&tm);
}

void tuf_time_format(int64_t t, char out[21])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t tuf_expires(const json_t *doc)
{
	return tuf_time_parse(json_string_value(json_object_get(tuf_signed(doc), "expires")));
}

static int bad(struct ramp_err *err, const char *what, const char *msg)
{
	return ramp_err_set(err, RAMP_EINVAL, "malformed", "%s: %s", what, msg);
}

static bool is_count(const json_t *v, json_int_t min)
{
	return json_is_integer(v) && json_integer_value(v) >= min;
}

static bool string_array(const json_t *a)
{
	size_t i;

	if (!json_is_array(a))
		return false;
	for (i = 0; i < json_array_size(a); i++)
		if (!json_is_string(json_array_get(a, i)))
			return false;
	return true;
}

static int check_keys(const json_t *keys, const char *where, struct ramp_err *err)
{
	const char *id;
	json_t *k;

	if (!json_is_object(keys))
		return bad(err, where, "keys must be an object");
	json_object_foreach((json_t *)keys, id, k) {
		if (!json_is_object(k) || !json_is_string(json_object_get(k, "keytype")) ||
		    !json_is_string(json_object_get(k, "scheme")) ||
		    !json_is_object(json_object_get(k, "keyval")))
			return bad(err, where, "a key needs keytype, scheme and keyval");
	}
	return 0;
}

static int check_role(const json_t *r, const char *where, struct ramp_err *err)
{
	if (!json_is_object(r) || !string_array(json_object_get(r, "keyids")) ||
	    !is_count(json_object_get(r, "threshold"), 1))
		return bad(err, where, "a role needs keyids and a threshold of at least 1");
	return 0;
}

static int check_root(const json_t *s, struct ramp_err *err)
{
	const json_t *roles = json_object_get(s, "roles");
	int rc = check_keys(json_object_get(s, "keys"), "root", err);

	if (rc)
		return rc;
	if (!json_is_object(roles))
		return bad(err, "root", "roles must be an object");
	for (size_t i = 0; i < 4; i++) {
		rc = check_role(json_object_get(roles, type_names[i]), type_names[i], err);
		if (rc)
			return rc;
	}
	if (json_object_get(s, "consistent_snapshot") &&
	    !json_is_boolean(json_object_get(s, "consistent_snapshot")))
		return bad(err, "root", "consistent_snapshot must be a boolean");
	return 0;
}

/* {version, length?, hashes?} of timestamp and snapshot "meta". */
static int check_metafile(const json_t *m, struct ramp_err *err)
{
	const json_t *len = json_object_get(m, "length"), *h = json_object_get(m, "hashes");
	const char *alg;
	json_t *v;

	if (!json_is_object(m) || !is_count(json_object_get(m, "version"), 1) ||
	    (len && !is_count(len, 0)) || (h && !json_is_object(h)))
		return bad(err, "meta", "an entry needs a version, and length and hashes if any");
	json_object_foreach((json_t *)h, alg, v)
		if (!json_is_string(v))
			return bad(err, "meta", "hashes must be strings");
	return 0;
}

static int check_meta(const json_t *s, bool timestamp, struct ramp_err *err)
{
	const json_t *meta = json_object_get(s, "meta");
	const char *name;
	json_t *m;
	int rc;

	if (!json_is_object(meta))
		return bad(err, "meta", "must be an object");
	if (timestamp && (json_object_size(meta) != 1 || !json_object_get(meta, "snapshot.json")))
		return bad(err, "timestamp", "meta must name snapshot.json alone");
	json_object_foreach((json_t *)meta, name, m) {
		rc = check_metafile(m, err);
		if (rc)
			return rc;
	}
	return 0;
}

static bool role_name_ok(const char *n)
{
	size_t len = strlen(n);

	return len > 0 && len < 64 && n[0] != '.' &&
	       strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len &&
	       strcmp(n, "root") && strcmp(n, "targets") && strcmp(n, "snapshot") &&
	       strcmp(n, "timestamp");
}

static int check_delegations(const json_t *d, struct ramp_err *err)
{
	const json_t *roles = json_object_get(d, "roles"), *r;
	size_t i, j;
	int rc;

	if (!json_is_object(d))
		return bad(err, "delegations", "must be an object");
	rc = check_keys(json_object_get(d, "keys"), "delegations", err);
	if (rc)
		return rc;
	if (!json_is_array(roles) || json_array_size(roles) > TUF_MAX_DELEGATIONS)
		return bad(err, "delegations", "roles must be an array of at most 32");
	json_array_foreach(roles, i, r) {
		const char *name = json_string_value(json_object_get(r, "name"));

		rc = check_role(r, "delegations.roles", err);
		if (rc)
			return rc;
		if (name == NULL || !role_name_ok(name))
			return bad(err, "delegations.roles", "a name must be [A-Za-z0-9._-], not a top-level role");
		if (!string_array(json_object_get(r, "paths")) ||
		    !json_is_boolean(json_object_get(r, "terminating")))
			return bad(err, name, "a delegation needs paths and terminating");
		for (j = 0; j < i; j++)
			if (!strcmp(name, json_string_value(json_object_get(json_array_get(roles, j), "name"))))
				return bad(err, name, "delegated twice");
	}
	return 0;
}

static int check_targets(const json_t *s, struct ramp_err *err)
{
	const json_t *targets = json_object_get(s, "targets"), *d = json_object_get(s, "delegations");
	const char *path, *alg;
	json_t *t, *h;

	if (!json_is_object(targets))
		return bad(err, "targets", "must be an object");
	json_object_foreach((json_t *)targets, path, t) {
		const json_t *hashes = json_object_get(t, "hashes");
		const json_t *custom = json_object_get(t, "custom");

		if (!json_is_object(t) || !is_count(json_object_get(t, "length"), 0) ||
		    !json_is_object(hashes) || json_object_size(hashes) == 0 ||
		    (custom && !json_is_object(custom)))
			return bad(err, path, "a target needs length, hashes, and custom as an object");
		json_object_foreach((json_t *)hashes, alg, h)
			if (!json_is_string(h))
				return bad(err, path, "hashes must be strings");
	}
	return d ? check_delegations(d, err) : 0;
}

static int check_signed(const json_t *doc, enum tuf_type type, struct ramp_err *err)
{
	const json_t *s = tuf_signed(doc), *sigs = json_object_get(doc, "signatures"), *g;
	const char *t = json_string_value(json_object_get(s, "_type"));
	const char *spec = json_string_value(json_object_get(s, "spec_version"));
	size_t i;

	if (!json_is_object(s) || !json_is_array(sigs))
		return bad(err, type_names[type], "needs signed and signatures");
	json_array_foreach(sigs, i, g)
		if (!json_is_string(json_object_get(g, "keyid")) ||
		    !json_is_string(json_object_get(g, "sig")))
			return bad(err, type_names[type], "a signature needs keyid and sig");
	if (t == NULL || strcmp(t, type_names[type]) != 0)
		return ramp_err_set(err, RAMP_EINVAL, "mix-and-match", "%s: _type is \"%s\"",
				    type_names[type], t ? t : "");
	if (spec == NULL || strncmp(spec, "1.", 2) != 0)
		return bad(err, type_names[type], "spec_version must be 1.x");
	if (!is_count(json_object_get(s, "version"), 1))
		return bad(err, type_names[type], "version must be an integer of at least 1");
	if (tuf_expires(doc) < 0)
		return bad(err, type_names[type], "expires must be YYYY-MM-DDTHH:MM:SSZ");
	switch (type) {
	case TUF_ROOT:
		return check_root(s, err);
	case TUF_TIMESTAMP:
		return check_meta(s, true, err);
	case TUF_SNAPSHOT:
		return check_meta(s, false, err);
	case TUF_TARGETS:
		return check_targets(s, err);
	}
	return 0;
}

int tuf_parse(const char *data, size_t len, size_t max, enum tuf_type type,
	      json_t **out, struct ramp_err *err)
{
	json_error_t jerr;
	json_t *doc;
	int rc;

	*out = NULL;
	ramp_err_clear(err);
	if (len > max)
		return ramp_err_set(err, RAMP_ETOOBIG, "endless-data",
				    "%s: %zu bytes, at most %zu expected", type_names[type], len, max);
	doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "malformed", "%s: not JSON: %s",
				    type_names[type], jerr.text);
	rc = check_signed(doc, type, err);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

const json_t *tuf_root_keys(const json_t *root)
{
	return json_object_get(tuf_signed(root), "keys");
}

const json_t *tuf_root_role(const json_t *root, const char *name)
{
	return json_object_get(json_object_get(tuf_signed(root), "roles"), name);
}

const json_t *tuf_delegation(const json_t *targets, const char *name)
{
	const json_t *roles = json_object_get(json_object_get(tuf_signed(targets), "delegations"),
					      "roles"), *r;
	size_t i;

	json_array_foreach(roles, i, r)
		if (!strcmp(json_string_value(json_object_get(r, "name")), name))
			return r;
	return NULL;
}

/* Segment by segment, so "*" never crosses a "/". */
static bool pattern_matches(const char *pat, const char *path)
{
	char p[1024], q[1024], *ps, *qs, *pt, *qt;

	if (strlen(pat) >= sizeof(p) || strlen(path) >= sizeof(q))
		return false;
	memcpy(p, pat, strlen(pat) + 1);
	memcpy(q, path, strlen(path) + 1);
	pt = strtok_r(p, "/", &ps);
	qt = strtok_r(q, "/", &qs);
	while (pt != NULL && qt != NULL) {
		if (fnmatch(pt, qt, 0) != 0)
			return false;
		pt = strtok_r(NULL, "/", &ps);
		qt = strtok_r(NULL, "/", &qs);
	}
	return pt == NULL && qt == NULL;
}

bool tuf_role_matches(const json_t *role, const char *path)
{
	const json_t *paths = json_object_get(role, "paths");
	size_t i;

	for (i = 0; i < json_array_size(paths); i++)
		if (pattern_matches(json_string_value(json_array_get(paths, i)), path))
			return true;
	return false;
}

int64_t tuf_target_length(const json_t *info)
{
	const json_t *l = json_object_get(info, "length");

	return json_is_integer(l) ? json_integer_value(l) : -1;
}

const char *tuf_target_sha256(const json_t *info)
{
	return json_string_value(json_object_get(json_object_get(info, "hashes"), "sha256"));
}
