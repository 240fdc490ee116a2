/*
 * manifest.c - validate the signed model manifest.
 *
 * The text becomes a jansson tree (domain/yamltree: JSON or YAML, plain
 * scalars kept as written), then one validator walks it into struct
 * manifest, checking keys before values so an unknown field is named first.
 * Only size, capabilities and signatures resolve YAML plain scalars to
 * typed values; every other field is read as the string it was written as.
 */
#include "domain/manifest.h"
#include "domain/fields.h"
#include "domain/yamltree.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_SIZE_VALUE 9007199254740992LL /* 2^53 */

static int field_err(struct ramp_err *err, int code, const char *prefix,
		     const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int field_err(struct ramp_err *err, int code, const char *prefix,
		     const char *key, const char *fmt, ...)
{
	char path[sizeof(err->field)], msg[sizeof(err->msg)];
	va_list ap;

	if (prefix && *prefix && key)
		snprintf(path, sizeof(path), "%s.%s", prefix, key);
	else
		snprintf(path, sizeof(path), "%s", key ? key : prefix);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ramp_err_set(err, code, path, "%s", msg);
}

/* ---- field checks ---- */

static bool name_valid_n(const char *s, size_t n)
{
	if (n < 1 || n > 63 || strlen(s) != n)
		return false;
	if (!islower((unsigned char)s[0]) && !isdigit((unsigned char)s[0]))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

bool manifest_name_valid(const char *name)
{
	return name != NULL && name_valid_n(name, strlen(name));
}

static bool version_valid(const char *s, size_t n)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "abcdefghijklmnopqrstuvwxyz0123456789._+-";

	if (n < 1 || n > 128 || strlen(s) != n || !isalnum((unsigned char)s[0]))
		return false;
	return strspn(s, ok) == n;
}

static bool digest_valid(const char *s, size_t n)
{
	return n == 71 && strncmp(s, "sha256:", 7) == 0 &&
	       strspn(s + 7, "0123456789abcdef") == 64;
}

static int check_file(const char *s, size_t n, const char *prefix,
		      struct ramp_err *err)
{
	const char *msg = NULL;

	if (n < 1 || n > 255)
		msg = "must be 1 to 255 characters";
	else if (memchr(s, '\0', n) != NULL)
		msg = "must not contain a nul byte";
	else if (strchr(s, '/') != NULL)
		msg = "must not contain '/'";
	else if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		msg = "must not be \".\" or \"..\"";
	return msg ? field_err(err, RAMP_EINVAL, prefix, "file", "%s", msg) : 0;
}

static int check_url(const char *s, size_t n, const char *prefix,
		     struct ramp_err *err)
{
	size_t skip = 0;
	bool printable = true;

	if (n > MANIFEST_MAX_URL)
		return field_err(err, RAMP_EINVAL, prefix, "url",
				 "must be at most %d characters",
				 MANIFEST_MAX_URL);
	if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			printable = false;
	if (skip == 0 || skip >= n || s[skip] == '/' || !printable)
		return field_err(err, RAMP_EINVAL, prefix, "url",
				 "must be an http:// or https:// url");
	return 0;
}

static bool two_digits(const char *s, int *out)
{
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
		return false;
	*out = (s[0] - '0') * 10 + (s[1] - '0');
	return true;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads the offset ("Z", "+02:00") at s[i..n); seconds east of UTC. */
static bool parse_offset(const char *s, size_t i, size_t n, int *off)
{
	int oh, om;

	*off = 0;
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
		return true;
	if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':' ||
	    !two_digits(s + i + 1, &oh) || !two_digits(s + i + 4, &om) ||
	    oh > 23 || om > 59)
		return false;
	*off = (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	return true;
}

/* RFC 3339 date-time to unix seconds (fractions dropped); -1 when invalid. */
static int64_t parse_rfc3339(const char *s, size_t n)
{
	struct tm tm = {0};
	int yh, yl, mo, d, h, mi, sec, off;
	size_t i = 19;

	if (n < 20 || strlen(s) != n || !two_digits(s, &yh) ||
	    !two_digits(s + 2, &yl) || s[4] != '-' || !two_digits(s + 5, &mo) ||
	    s[7] != '-' || !two_digits(s + 8, &d) ||
	    (s[10] != 'T' && s[10] != 't') || !two_digits(s + 11, &h) ||
	    s[13] != ':' || !two_digits(s + 14, &mi) || s[16] != ':' ||
	    !two_digits(s + 17, &sec))
		return -1;
	if (s[i] == '.') {
		size_t nd = strspn(s + i + 1, "0123456789");

		if (nd == 0)
			return -1;
		i += 1 + nd;
	}
	if (!parse_offset(s, i, n, &off))
		return -1;
	tm.tm_year = yh * 100 + yl - 1900;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(tm.tm_year + 1900, mo) ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (int64_t)timegm(&tm) - off;
}

/* ---- the validator ---- */

/* *s is NULL (and 0 returned) when an optional key is absent. */
static int get_str(json_t *obj, const char *prefix, const char *key,
		   bool required, const char **s, size_t *n,
		   struct ramp_err *err)
{
	json_t *v = json_object_get(obj, key);

	*s = NULL;
	*n = 0;
	if (v == NULL)
		return required ? field_err(err, RAMP_EINVAL, prefix, key,
					    "is required")
				: 0;
	if (!json_is_string(v))
		return field_err(err, RAMP_EINVAL, prefix, key,
				 "must be a string");
	*s = json_string_value(v);
	*n = json_string_length(v);
	return 0;
}

static int variant_ids(json_t *v, const char *prefix, struct manifest *m,
		       size_t idx, struct ramp_err *err)
{
	struct manifest_variant *mv = &m->variants[idx];
	const char *s;
	size_t n;
	int rc;

	if ((rc = get_str(v, prefix, "platform", true, &s, &n, err)))
		return rc;
	if (!name_valid_n(s, n))
		return field_err(err, RAMP_EINVAL, prefix, "platform",
				 "must be 1 to 63 characters of a-z, 0-9, '.', '_' or '-' starting with a letter or digit");
	for (size_t i = 0; i < idx; i++)
		if (strcmp(m->variants[i].platform, s) == 0)
			return field_err(err, RAMP_EINVAL, prefix, "platform",
					 "duplicate platform \"%s\" (also model.variants[%zu])",
					 s, i);
	snprintf(mv->platform, sizeof(mv->platform), "%s", s);
	if ((rc = get_str(v, prefix, "file", true, &s, &n, err)) ||
	    (rc = check_file(s, n, prefix, err)))
		return rc;
	snprintf(mv->file, sizeof(mv->file), "%s", s);
	if ((rc = get_str(v, prefix, "digest", true, &s, &n, err)))
		return rc;
	if (!digest_valid(s, n))
		return field_err(err, RAMP_EINVAL, prefix, "digest",
				 "not a canonical sha256 digest");
	snprintf(mv->digest, sizeof(mv->digest), "%s", s);
	return 0;
}

static int variant_size(json_t *v, const char *prefix,
			const struct yamltree *t, int64_t *out,
			struct ramp_err *err)
{
	json_t *raw = json_object_get(v, "size"), *r;
	json_int_t n;

	if (raw == NULL)
		return 0;
	r = yamltree_resolve(t, raw);
	if (r == NULL)
		return RAMP_ENOMEM;
	n = json_is_integer(r) ? json_integer_value(r) : -1;
	json_decref(r);
	if (n < 0)
		return field_err(err, RAMP_EINVAL, prefix, "size",
				 "must be a non-negative integer");
	if (n > MAX_SIZE_VALUE)
		return field_err(err, RAMP_EINVAL, prefix, "size",
				 "must be at most %lld", MAX_SIZE_VALUE);
	*out = n;
	return 0;
}

static int variant_capabilities(json_t *v, const char *prefix,
				const struct yamltree *t, json_t **out,
				struct ramp_err *err)
{
	char path[sizeof(err->field)];
	json_t *caps = json_object_get(v, "capabilities"), *item;
	const char *key;

	if (caps == NULL)
		return 0;
	if (!json_is_object(caps))
		return field_err(err, RAMP_EINVAL, prefix, "capabilities",
				 "must be a mapping");
	*out = yamltree_resolve(t, caps);
	if (*out == NULL)
		return RAMP_ENOMEM;
	snprintf(path, sizeof(path), "%s.capabilities", prefix);
	json_object_foreach(*out, key, item) {
		if (!json_is_string(item) && !json_is_number(item) &&
		    !json_is_boolean(item))
			return field_err(err, RAMP_EINVAL, path, key,
					 "must be a string, number or boolean");
	}
	return 0;
}

static int validate_variant(json_t *v, size_t idx, const struct yamltree *t,
			    struct manifest *m, struct ramp_err *err)
{
	static const char *const keys[] = {"platform", "file", "digest", "url",
					   "size", "capabilities", NULL};
	struct manifest_variant *mv = &m->variants[idx];
	char prefix[48];
	const char *s;
	size_t n;
	int rc;

	snprintf(prefix, sizeof(prefix), "model.variants[%zu]", idx);
	if (!json_is_object(v))
		return field_err(err, RAMP_EINVAL, prefix, NULL,
				 "must be a mapping");
	if ((rc = fields_check(v, keys, prefix, err)) ||
	    (rc = variant_ids(v, prefix, m, idx, err)))
		return rc;
	if ((rc = get_str(v, prefix, "url", false, &s, &n, err)))
		return rc;
	if (s != NULL) {
		if ((rc = check_url(s, n, prefix, err)))
			return rc;
		mv->url = strdup(s);
		if (mv->url == NULL)
			return RAMP_ENOMEM;
	}
	if ((rc = variant_size(v, prefix, t, &mv->size, err)))
		return rc;
	return variant_capabilities(v, prefix, t, &mv->capabilities, err);
}

static int validate_variants(json_t *model, const struct yamltree *t,
			     struct manifest *m, struct ramp_err *err)
{
	json_t *arr = json_object_get(model, "variants");
	size_t n;
	int rc;

	if (arr == NULL)
		return field_err(err, RAMP_EINVAL, "model", "variants",
				 "is required");
	if (!json_is_array(arr))
		return field_err(err, RAMP_EINVAL, "model", "variants",
				 "must be a list");
	n = json_array_size(arr);
	if (n == 0)
		return field_err(err, RAMP_EINVAL, "model", "variants",
				 "must list at least one variant");
	if (n > MANIFEST_MAX_VARIANTS)
		return field_err(err, RAMP_EINVAL, "model", "variants",
				 "must list at most %d variants",
				 MANIFEST_MAX_VARIANTS);
	m->variants = calloc(n, sizeof(*m->variants));
	if (m->variants == NULL)
		return RAMP_ENOMEM;
	m->nvariants = n;
	for (size_t i = 0; i < n; i++)
		m->variants[i].size = -1;
	for (size_t i = 0; i < n; i++)
		if ((rc = validate_variant(json_array_get(arr, i), i, t, m, err)))
			return rc;
	return 0;
}

static int validate_expires(json_t *model, struct manifest *m,
			    struct ramp_err *err)
{
	json_t *v = json_object_get(model, "expires");
	int64_t t = -1;

	if (v == NULL)
		return 0;
	if (json_is_string(v))
		t = parse_rfc3339(json_string_value(v), json_string_length(v));
	if (t <= 0)
		return field_err(err, RAMP_EINVAL, "model", "expires",
				 "must be an rfc 3339 timestamp after 1970 such as 2027-01-10T00:00:00Z");
	m->expires = t;
	return 0;
}

static int validate_model(json_t *model, const struct yamltree *t,
			  struct manifest *m, struct ramp_err *err)
{
	static const char *const keys[] = {"name", "version", "variants",
					   "expires", NULL};
	const char *s;
	size_t n;
	int rc;

	if (!json_is_object(model))
		return field_err(err, RAMP_EINVAL, "", "model",
				 "must be a mapping");
	if ((rc = fields_check(model, keys, "model", err)) ||
	    (rc = get_str(model, "model", "name", true, &s, &n, err)))
		return rc;
	if (!name_valid_n(s, n))
		return field_err(err, RAMP_EINVAL, "model", "name",
				 "must be 1 to 63 characters of a-z, 0-9, '.', '_' or '-' starting with a letter or digit");
	snprintf(m->name, sizeof(m->name), "%s", s);
	if ((rc = get_str(model, "model", "version", true, &s, &n, err)))
		return rc;
	if (!version_valid(s, n))
		return field_err(err, RAMP_EINVAL, "model", "version",
				 "must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', '+' or '-' starting with a letter or digit");
	snprintf(m->version, sizeof(m->version), "%s", s);
	if ((rc = validate_expires(model, m, err)))
		return rc;
	return validate_variants(model, t, m, err);
}

static int validate_root(json_t *root, const struct yamltree *t,
			 struct manifest *m, struct ramp_err *err)
{
	static const char *const keys[] = {"model", "signatures", NULL};
	json_t *model, *sigs;
	int rc;

	if (!json_is_object(root))
		return ramp_err_set(err, RAMP_EINVAL, "",
				    "manifest must be a mapping");
	if ((rc = fields_check(root, keys, "", err)))
		return rc;
	model = json_object_get(root, "model");
	if (model == NULL)
		return field_err(err, RAMP_EINVAL, "", "model", "is required");
	if ((rc = validate_model(model, t, m, err)))
		return rc;
	sigs = json_object_get(root, "signatures");
	if (sigs == NULL)
		return 0;
	if (!json_is_object(sigs))
		return field_err(err, RAMP_EINVAL, "", "signatures",
				 "must be a mapping");
	m->signatures = yamltree_resolve(t, sigs);
	return m->signatures ? 0 : RAMP_ENOMEM;
}

int manifest_parse(const char *data, size_t len, struct manifest *out,
		   struct ramp_err *err)
{
	struct yamltree t;
	int rc;

	ramp_err_clear(err);
	memset(out, 0, sizeof(*out));
	if (len > MANIFEST_MAX_BYTES)
		return ramp_err_set(err, RAMP_ETOOBIG, "",
				    "manifest is larger than %d bytes",
				    MANIFEST_MAX_BYTES);
	rc = yamltree_parse(data, len, &t, err);
	if (rc)
		return rc;
	rc = validate_root(t.root, &t, out, err);
	yamltree_free(&t);
	if (rc == RAMP_ENOMEM)
		ramp_err_set(err, rc, "", "out of memory");
	if (rc)
		manifest_free(out);
	return rc;
}

void manifest_free(struct manifest *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nvariants; i++) {
		free(m->variants[i].url);
		json_decref(m->variants[i].capabilities);
	}
	free(m->variants);
	json_decref(m->signatures);
	memset(m, 0, sizeof(*m));
}

const struct manifest_variant *manifest_variant_for(const struct manifest *m,
						    const char *platform)
{
	if (m == NULL || platform == NULL)
		return NULL;
	for (size_t i = 0; i < m->nvariants; i++)
		if (strcmp(m->variants[i].platform, platform) == 0)
			return &m->variants[i];
	return NULL;
}

void manifest_iso8601(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* {"variants": [...], "expires"} as stored in manifests.doc. */
json_t *manifest_doc_json(const struct manifest *m)
{
	json_t *vs = json_array();
	char exp[32];

	for (size_t i = 0; i < m->nvariants; i++) {
		const struct manifest_variant *v = &m->variants[i];
		json_array_append_new(
			vs, json_pack("{s:s, s:s, s:s, s:s?, s:o, s:O?}", "platform", v->platform,
				      "file", v->file, "digest", v->digest, "url", v->url, "size",
				      v->size >= 0 ? json_integer(v->size) : json_null(),
				      "capabilities", v->capabilities));
	}
	if (m->expires)
		manifest_iso8601(m->expires, exp);
	return json_pack("{s:o, s:s?}", "variants", vs, "expires", m->expires ? exp : NULL);
}
