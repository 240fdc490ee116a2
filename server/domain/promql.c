/*
 * promql.c - the provider block, query templates and /api/v1/query answers
 * (promql.h). Pure: no I/O, no clock.
 */
#include "domain/promql.h"

#include "domain/fields.h"
#include "domain/policy.h"
#include "domain/units.h"
#include "domain/url.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const provider_keys[] = {"prometheus", NULL};
static const char *const prom_keys[] = {"address", "query",   "baseline_query",
					"timeout", "auth",    NULL};
static const char *const auth_keys[] = {"bearer_token_file", "basic_auth", NULL};
static const char *const basic_keys[] = {"username", "password_file", NULL};
static const char *const var_names[] = {"model", "version", "baseline_version", "stage",
					"rollout"};
#define NVARS (sizeof(var_names) / sizeof(var_names[0]))

/* snprintf that may truncate (paths and messages are cut, never overrun) */
__attribute__((format(printf, 3, 4))) static void fmt(char *buf, size_t n, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, n, f, ap);
	va_end(ap);
}

static int fail(struct ramp_err *err, const char *path, const char *key, const char *msg)
{
	char field[192];

	fmt(field, sizeof(field), "%s.%s", path, key);
	return ramp_err_set(err, RAMP_EINVAL, field, "%s", msg);
}

/* null counts as absent (the policy's rule: null means the default) */
static const json_t *member(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/* 1 copied, 0 absent and optional, or an error. */
static int get_str(const json_t *obj, const char *path, const char *key, bool required,
		   char *buf, size_t n, struct ramp_err *err)
{
	const json_t *v = member(obj, key);
	char msg[64];

	if (v == NULL)
		return required ? fail(err, path, key, "is required") : 0;
	if (!json_is_string(v))
		return fail(err, path, key, "must be a string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(err, path, key, "must not contain NUL characters");
	if (json_string_length(v) == 0)
		return fail(err, path, key, "must not be empty");
	if (json_string_length(v) >= n) {
		fmt(msg, sizeof(msg), "is too long (at most %zu bytes)", n - 1);
		return fail(err, path, key, msg);
	}
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

/* A secret's file: a plain name inside RAMP_PROM_SECRETS_DIR, never a path. */
static int get_file(const json_t *obj, const char *path, const char *key, char *buf,
		    struct ramp_err *err)
{
	int rc = get_str(obj, path, key, true, buf, PROM_FILE_MAX, err);

	if (rc < 0)
		return rc;
	if (buf[0] == '.' ||
	    strspn(buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
		    strlen(buf))
		return fail(err, path, key,
			    "must be a file name inside RAMP_PROM_SECRETS_DIR "
			    "([A-Za-z0-9._-], not starting with a dot; no path)");
	return 0;
}

static int get_query(const json_t *obj, const char *path, const char *key, bool required,
		     char *buf, struct ramp_err *err)
{
	char why[128];
	int rc = get_str(obj, path, key, required, buf, PROM_QUERY_MAX, err);

	if (rc <= 0)
		return rc;
	for (const char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
			return fail(err, path, key, "must not contain control characters");
	if (prom_template_check(buf, why, sizeof(why)) < 0)
		return fail(err, path, key, why);
	return 0;
}

static int get_timeout(const json_t *obj, const char *path, int *out, struct ramp_err *err)
{
	const json_t *v = member(obj, "timeout");
	int64_t s = 0;

	*out = PROM_TIMEOUT_DEFAULT_S;
	if (v == NULL)
		return 0;
	if (json_is_integer(v))
		s = json_integer_value(v);
	else if (!json_is_string(v) ||
		 strlen(json_string_value(v)) != json_string_length(v) ||
		 units_parse_duration(json_string_value(v), &s) < 0)
		return fail(err, path, "timeout", "must be a duration like 5s or integer seconds");
	if (s < 1 || s > PROM_TIMEOUT_MAX_S)
		return fail(err, path, "timeout", "must be from 1s to 10s");
	*out = (int)s;
	return 0;
}

static int get_auth(const json_t *obj, const char *path, struct prom_provider *out,
		    struct ramp_err *err)
{
	const json_t *a = member(obj, "auth"), *basic;
	char apath[192], bpath[224];
	int rc;

	out->auth = PROM_AUTH_NONE;
	if (a == NULL)
		return 0;
	fmt(apath, sizeof(apath), "%s.auth", path);
	if (!json_is_object(a))
		return fail(err, path, "auth", "must be an object");
	if ((rc = fields_check(a, auth_keys, apath, err)) < 0)
		return rc;
	basic = member(a, "basic_auth");
	if ((member(a, "bearer_token_file") != NULL) == (basic != NULL))
		return fail(err, path, "auth",
			    "must have exactly one of bearer_token_file and basic_auth");
	if (basic == NULL) {
		out->auth = PROM_AUTH_BEARER;
		return get_file(a, apath, "bearer_token_file", out->token_file, err);
	}
	out->auth = PROM_AUTH_BASIC;
	fmt(bpath, sizeof(bpath), "%s.basic_auth", apath);
	if (!json_is_object(basic))
		return fail(err, apath, "basic_auth", "must be an object");
	if ((rc = fields_check(basic, basic_keys, bpath, err)) < 0 ||
	    (rc = get_str(basic, bpath, "username", true, out->username, sizeof(out->username),
			  err)) < 0)
		return rc;
	if (strchr(out->username, ':') || strpbrk(out->username, "\r\n"))
		return fail(err, bpath, "username", "must not contain ':' or line breaks");
	return get_file(basic, bpath, "password_file", out->password_file, err);
}

int prom_provider_parse(const json_t *v, const char *path, struct prom_provider *out,
			struct ramp_err *err)
{
	const json_t *pm;
	struct ramp_err uerr;
	struct url u;
	char ppath[192];
	int rc;

	memset(out, 0, sizeof(*out));
	out->error_limit = PROM_ERROR_LIMIT_DEFAULT;
	if (!json_is_object(v))
		return ramp_err_set(err, RAMP_EINVAL, path, "must be an object");
	if ((rc = fields_check(v, provider_keys, path, err)) < 0)
		return rc;
	pm = member(v, "prometheus");
	if (pm == NULL)
		return fail(err, path, "prometheus", "is required (the one provider ramp knows)");
	fmt(ppath, sizeof(ppath), "%s.prometheus", path);
	if (!json_is_object(pm))
		return ramp_err_set(err, RAMP_EINVAL, ppath, "must be an object");
	if ((rc = fields_check(pm, prom_keys, ppath, err)) < 0 ||
	    (rc = get_str(pm, ppath, "address", true, out->address, sizeof(out->address),
			  err)) < 0)
		return rc;
	ramp_err_clear(&uerr);
	if (url_parse(out->address, &u, &uerr) < 0)
		return fail(err, ppath, "address", uerr.msg);
	if (strchr(out->address, '?'))
		return fail(err, ppath, "address", "must not have a query string");
	if ((rc = get_query(pm, ppath, "query", true, out->query, err)) < 0 ||
	    (rc = get_query(pm, ppath, "baseline_query", false, out->baseline_query, err)) < 0 ||
	    (rc = get_timeout(pm, ppath, &out->timeout_s, err)) < 0 ||
	    (rc = get_auth(pm, ppath, out, err)) < 0)
		return rc;
	return 0;
}

int prom_metric_parse(const json_t *metric, const char *path, char name[64],
		      struct prom_provider *pv, struct threshold *t, char text[64],
		      struct ramp_err *err)
{
	const json_t *lim = member(metric, "consecutive_error_limit");
	const json_t *scope = member(metric, "scope");
	char field[192];
	int rc;

	if ((rc = get_str(metric, path, "name", true, name, 64, err)) < 0)
		return rc;
	if (!policy_name_valid(name)) {
		fmt(field, sizeof(field), "%s.name", path);
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "invalid name \"%s\": must match [a-z0-9][a-z0-9._-]{0,62}", name);
	}
	if (metric_from_name(name) >= 0)
		return fail(err, path, "name",
			    "is one of ramp's own metrics; a metric read from a provider "
			    "needs a name of its own");
	fmt(field, sizeof(field), "%s.provider", path);
	if ((rc = prom_provider_parse(member(metric, "provider"), field, pv, err)) < 0)
		return rc;
	if (lim != NULL && (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
			    json_integer_value(lim) > 1000))
		return fail(err, path, "consecutive_error_limit",
			    "must be an integer, at least 1 and at most 1000");
	if (lim != NULL)
		pv->error_limit = (int)json_integer_value(lim);
	if ((rc = get_str(metric, path, "threshold", true, text, 64, err)) < 0)
		return rc;
	fmt(field, sizeof(field), "%s.threshold", path);
	if ((rc = threshold_parse_kind(text, METRIC_KIND_PROM, name, field, t, err)) < 0)
		return rc;
	if (scope != NULL && !(json_is_string(scope) && strcmp(json_string_value(scope), "cohort") == 0))
		return fail(err, path, "scope", "must be cohort for a metric read from a provider");
	return 0;
}

json_t *prom_metric_to_json(json_t *j, const struct prom_provider *pv)
{
	if (j != NULL && pv != NULL &&
	    (json_object_set_new(j, "provider", prom_provider_to_json(pv)) < 0 ||
	     json_object_set_new(j, "consecutive_error_limit", json_integer(pv->error_limit)) < 0)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

json_t *prom_provider_to_json(const struct prom_provider *p)
{
	json_t *pm = json_pack("{s:s, s:s, s:i}", "address", p->address, "query", p->query,
			       "timeout", p->timeout_s);
	json_t *auth = NULL;
	int bad = pm == NULL;

	if (!bad && p->baseline_query[0])
		bad = json_object_set_new(pm, "baseline_query", json_string(p->baseline_query));
	if (p->auth == PROM_AUTH_BEARER)
		auth = json_pack("{s:s}", "bearer_token_file", p->token_file);
	else if (p->auth == PROM_AUTH_BASIC)
		auth = json_pack("{s:{s:s, s:s}}", "basic_auth", "username", p->username,
				 "password_file", p->password_file);
	if (!bad && p->auth != PROM_AUTH_NONE)
		bad = auth == NULL || json_object_set_new(pm, "auth", auth);
	if (bad) {
		json_decref(pm);
		return NULL;
	}
	return json_pack("{s:o}", "prometheus", pm);
}

bool prom_provider_equal(const struct prom_provider *a, const struct prom_provider *b)
{
	return strcmp(a->address, b->address) == 0 && strcmp(a->query, b->query) == 0 &&
	       strcmp(a->baseline_query, b->baseline_query) == 0 &&
	       a->timeout_s == b->timeout_s && a->error_limit == b->error_limit &&
	       a->auth == b->auth && strcmp(a->token_file, b->token_file) == 0 &&
	       strcmp(a->username, b->username) == 0 &&
	       strcmp(a->password_file, b->password_file) == 0;
}

/* At p just after "{{": the variable's index, *end after "}}"; -1 when bad. */
static int scan_var(const char *p, const char **end)
{
	const char *q, *close = strstr(p, "}}");
	size_t n;

	if (close == NULL)
		return -1;
	while (*p == ' ')
		p++;
	for (q = close; q > p && q[-1] == ' ';)
		q--;
	n = (size_t)(q - p);
	for (size_t i = 0; i < NVARS; i++)
		if (strlen(var_names[i]) == n && strncmp(var_names[i], p, n) == 0) {
			*end = close + 2;
			return (int)i;
		}
	return -1;
}

int prom_template_check(const char *tmpl, char *why, size_t whylen)
{
	const char *p = tmpl, *end;

	while ((p = strstr(p, "{{")) != NULL) {
		if (scan_var(p + 2, &end) < 0) {
			fmt(why, whylen,
				 "unknown variable at \"%.24s\": the variables are {{model}}, "
				 "{{version}}, {{baseline_version}}, {{stage}} and {{rollout}}",
				 p);
			return -1;
		}
		p = end;
	}
	return 0;
}

/* Appends c to out[*k] when it fits (one byte kept for the NUL). */
static int put(char *out, size_t n, size_t *k, char c)
{
	if (*k + 1 >= n)
		return -1;
	out[(*k)++] = c;
	return 0;
}

static int put_escaped(char *out, size_t n, size_t *k, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		int rc = 0;

		if (c == '\\' || c == '"' || c == '\'') {
			rc = put(out, n, k, '\\') | put(out, n, k, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			rc = put(out, n, k, '\\') | put(out, n, k, 'x') |
			     put(out, n, k, hex[c >> 4]) | put(out, n, k, hex[c & 15]);
		} else {
			rc = put(out, n, k, (char)c);
		}
		if (rc)
			return -1;
	}
	return 0;
}

int prom_render(const char *tmpl, const struct prom_vars *v, const char *version_as, char *out,
		size_t n)
{
	const char *vals[NVARS] = {v->model, version_as ? version_as : v->version,
				   v->baseline_version, v->stage, v->rollout};
	const char *p = tmpl, *end;
	size_t k = 0;

	if (n == 0)
		return -1;
	while (*p) {
		if (p[0] == '{' && p[1] == '{') {
			int i = scan_var(p + 2, &end);

			if (i < 0 || put_escaped(out, n, &k, vals[i]) < 0)
				goto bad;
			p = end;
		} else if (put(out, n, &k, *p++) < 0) {
			goto bad;
		}
	}
	out[k] = '\0';
	return 0;
bad:
	out[0] = '\0';
	return -1;
}

/* A sample's value: [time, "string"]; 0 or -1. */
static int sample_value(const json_t *pair, double *value)
{
	const char *s;
	char *end;

	if (!json_is_array(pair) || json_array_size(pair) != 2 ||
	    !json_is_number(json_array_get(pair, 0)) || !json_is_string(json_array_get(pair, 1)))
		return -1;
	s = json_string_value(json_array_get(pair, 1));
	if (strcmp(s, "NaN") == 0) {
		*value = NAN;
		return 0;
	}
	if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) {
		*value = INFINITY;
		return 0;
	}
	if (strcmp(s, "-Inf") == 0) {
		*value = -INFINITY;
		return 0;
	}
	if (s[0] == '\0' || strlen(s) != json_string_length(json_array_get(pair, 1)))
		return -1;
	*value = strtod(s, &end);
	/* strtod also reads "nan", "inf" and hex: Prometheus writes none of them */
	return *end == '\0' && isfinite(*value) && !strpbrk(s, "xXnN") ? 0 : -1;
}

static enum prom_outcome err_out(char *why, size_t whylen, const char *msg)
{
	fmt(why, whylen, "%s", msg);
	return PROM_ERROR;
}

enum prom_outcome prom_parse_response(const char *body, size_t len, long http_status,
				      double *value, char *why, size_t whylen)
{
	json_t *root = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, NULL);
	const json_t *data, *res;
	const char *status, *type;
	enum prom_outcome out = PROM_ERROR;

	*value = NAN;
	why[0] = '\0';
	status = json_string_value(json_object_get(root, "status"));
	if (root == NULL || !json_is_object(root) || status == NULL) {
		fmt(why, whylen, "HTTP %ld: not a Prometheus API answer", http_status);
		goto out;
	}
	if (strcmp(status, "success") != 0) {
		const char *et = json_string_value(json_object_get(root, "errorType"));
		const char *e = json_string_value(json_object_get(root, "error"));
		fmt(why, whylen, "HTTP %ld: %s: %.200s", http_status, et ? et : "error",
			 e ? e : "(no message)");
		goto out;
	}
	data = json_object_get(root, "data");
	res = json_object_get(data, "result");
	type = json_string_value(json_object_get(data, "resultType"));
	if (type == NULL || res == NULL) {
		err_out(why, whylen, "the answer has no data.resultType and data.result");
	} else if (strcmp(type, "scalar") == 0) {
		if (sample_value(res, value) < 0)
			err_out(why, whylen, "a scalar that is not [time, \"number\"]");
		else
			out = isnan(*value) ? PROM_NODATA : PROM_VALUE;
	} else if (strcmp(type, "vector") != 0) {
		fmt(why, whylen,
			 "the result is a %.16s, not a scalar or an instant vector of one sample",
			 type);
	} else if (!json_is_array(res)) {
		err_out(why, whylen, "a vector result that is not a list");
	} else if (json_array_size(res) == 0) {
		out = PROM_NODATA;
	} else if (json_array_size(res) > 1) {
		fmt(why, whylen,
			 "the result has %zu series; the query must give one (aggregate it, "
			 "e.g. with sum())",
			 json_array_size(res));
	} else if (sample_value(json_object_get(json_array_get(res, 0), "value"), value) < 0) {
		err_out(why, whylen, "a vector sample whose value is not [time, \"number\"]");
	} else {
		out = isnan(*value) ? PROM_NODATA : PROM_VALUE;
	}
	if (out == PROM_NODATA && why[0] == '\0')
		fmt(why, whylen, isnan(*value) && json_array_size(res) ? "NaN" : "no data");
out:
	json_decref(root);
	if (out != PROM_VALUE && out != PROM_NODATA)
		*value = NAN;
	return out;
}
