/*
 * policy.c - decodes a rollout policy (YAML via yaml_json, JSON via
 * jansson) and validates the one tree into a struct policy; writes the
 * canonical JSON back. Checks run in document order and stop at the first
 * error, whose field is the full path ("stages[0].metrics[2].threshold").
 * Invariants of a parsed policy: 1..32 stages with unique valid names,
 * sizes strictly increasing in (0,1] ending at 1.0, windows in
 * (0, POLICY_MAX_WINDOW_S], every threshold parsed for its metric.
 */
#include "domain/policy.h"
#include "domain/policy_parse.h"

#include "domain/fields.h"
#include "domain/units.h"
#include "domain/yaml_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DURATION_HINT "must be a duration like 90s, 30m, 1h, 1d or integer seconds"

static const char *const root_keys[] = {"stages", "rollback",
	"windows", "rollback_respects_windows", "label_windows", /* policy_windows.c */
	NULL};
static const char *const stage_keys[] = {
	"name",	       "size",	      "cohort",	  "validation_window",
	"min_devices", "min_samples", "approval", "metrics",
	"windows", /* policy_windows.c */
	POLICY_SHADOW_KEYS, /* policy_shadow.c */
	POLICY_STRATA_KEYS, /* policy_strata.c */
	NULL};
static const char *const metric_keys[] = {"name", "threshold", "scope", "provider",
					  "consecutive_error_limit", POLICY_JUDGE_KEYS, NULL};
static const char *const rollback_keys[] = {"automatic", "on_inconclusive",
					    "failure_limit", "per_variant", NULL};
static const char *const inconclusive_names[] = {"pause", "rollback", "extend"};
static const char *const scope_names[] = {"cohort", "any_device"};

__attribute__((format(printf, 3, 4))) static void
fmt_path(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

/* path.key, or key at the root. */
static void join(char *buf, size_t n, const char *path, const char *key)
{
	if (path[0] == '\0')
		fmt_path(buf, n, "%s", key);
	else
		fmt_path(buf, n, "%s.%s", path, key);
}

int policy_fail(struct ramp_err *err, const char *path, const char *key, const char *msg)
{
	char field[160];

	join(field, sizeof(field), path, key);
	return ramp_err_set(err, RAMP_EINVAL, field, "%s", msg);
}

bool policy_name_valid(const char *s)
{
	size_t n;

	if (s == NULL || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	for (n = 1; s[n] != '\0'; n++) {
		char c = s[n];

		if (n > 62 || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

const json_t *policy_member(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/* 1 when present and copied, 0 when absent (and not required), or an error. */
static int get_string(const json_t *obj, const char *path, const char *key,
		      bool required, char *buf, size_t n, struct ramp_err *err)
{
	const json_t *v = policy_member(obj, key);

	if (v == NULL)
		return required ? policy_fail(err, path, key, "is required") : 0;
	if (!json_is_string(v))
		return policy_fail(err, path, key, "must be a string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return policy_fail(err, path, key, "must not contain NUL characters");
	if (json_string_length(v) >= n) {
		char msg[64];

		fmt_path(msg, sizeof(msg), "is too long (at most %zu bytes)",
			 n - 1);
		return policy_fail(err, path, key, msg);
	}
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

static int get_name(const json_t *obj, const char *path, const char *key,
		    bool required, char *buf, size_t n, struct ramp_err *err)
{
	char field[128];
	int rc = get_string(obj, path, key, required, buf, n, err);

	if (rc <= 0 || policy_name_valid(buf))
		return rc;
	join(field, sizeof(field), path, key);
	return ramp_err_set(err, RAMP_EINVAL, field,
			    "invalid name \"%s\": must match "
			    "[a-z0-9][a-z0-9._-]{0,62}",
			    buf);
}

static int get_int(const json_t *obj, const char *path, const char *key,
		   int dflt, int *out, struct ramp_err *err)
{
	const json_t *v = policy_member(obj, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return policy_fail(err, path, key, "must be an integer");
	if (json_integer_value(v) < 1)
		return policy_fail(err, path, key, "must be at least 1");
	if (json_integer_value(v) > 1000000000)
		return policy_fail(err, path, key, "must be at most 1000000000");
	*out = (int)json_integer_value(v);
	return 0;
}

static int get_bool(const json_t *obj, const char *path, const char *key,
		    bool dflt, bool *out, struct ramp_err *err)
{
	const json_t *v = policy_member(obj, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return policy_fail(err, path, key, "must be true or false");
	*out = json_is_true(v);
	return 0;
}

/* Index of the string member in names[0..n), dflt when absent. */
static int get_enum(const json_t *obj, const char *path, const char *key,
		    const char *const *names, int n, int dflt, int *out,
		    const char *msg, struct ramp_err *err)
{
	const json_t *v = policy_member(obj, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	for (int i = 0; json_is_string(v) && i < n; i++) {
		if (strlen(names[i]) == json_string_length(v) &&
		    strcmp(names[i], json_string_value(v)) == 0) {
			*out = i;
			return 0;
		}
	}
	return policy_fail(err, path, key, msg);
}

static int parse_size(const json_t *st, const char *path, double *size,
		      struct ramp_err *err)
{
	const json_t *v = policy_member(st, "size");
	char field[128];

	join(field, sizeof(field), path, "size");
	if (v == NULL)
		return policy_fail(err, path, "size", "is required");
	if (json_is_number(v)) {
		*size = json_number_value(v);
	} else if (!json_is_string(v)) {
		return policy_fail(err, path, "size",
			    "must be a fraction like 0.25 or a percentage like \"1%\"");
	} else if (units_parse_size(json_string_value(v), size) < 0 ||
		   strlen(json_string_value(v)) != json_string_length(v)) {
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "invalid size \"%.64s\": must be a fraction "
				    "like 0.25 or a percentage like \"1%%\"",
				    json_string_value(v));
	}
	if (!(*size > 0 && *size <= 1))
		return policy_fail(err, path, "size", "must be greater than 0 and at most 1");
	return 0;
}

static int parse_window(const json_t *st, const char *path, int64_t *w,
			struct ramp_err *err)
{
	const json_t *v = policy_member(st, "validation_window");
	char field[128];

	join(field, sizeof(field), path, "validation_window");
	if (v == NULL)
		return policy_fail(err, path, "validation_window", "is required");
	if (json_is_integer(v)) {
		*w = json_integer_value(v);
	} else if (!json_is_string(v)) {
		return policy_fail(err, path, "validation_window", DURATION_HINT);
	} else if (units_parse_duration(json_string_value(v), w) < 0 ||
		   strlen(json_string_value(v)) != json_string_length(v)) {
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "invalid duration \"%.64s\": %s",
				    json_string_value(v), DURATION_HINT);
	}
	if (*w <= 0)
		return policy_fail(err, path, "validation_window", "must be positive");
	if (*w > POLICY_MAX_WINDOW_S)
		return policy_fail(err, path, "validation_window", "must be at most 365d");
	return 0;
}

/* A metric with a provider (promql.h); its provider is kept once in p->prom. */
static int parse_prom_metric(const json_t *jm, const char *path, struct policy *p,
			     struct policy_metric *m, struct ramp_err *err)
{
	struct prom_provider pv;
	size_t i;
	int rc = prom_metric_parse(jm, path, m->name, &pv, &m->threshold, m->text, err);

	m->metric = METRIC_COUNT;
	m->scope = SCOPE_COHORT;
	for (i = 0; rc == 0 && i < p->nprom && !prom_provider_equal(&p->prom[i], &pv); i++)
		;
	if (rc == 0 && i == PROM_MAX)
		return policy_fail(err, path, "provider", "too many distinct providers (at most 8)");
	if (rc == 0 && i == p->nprom)
		p->prom[p->nprom++] = pv;
	m->prom = (int)i + 1;
	return rc;
}

static int parse_metric(const json_t *jm, const char *path, struct policy *p,
			struct policy_metric *m, struct ramp_err *err)
{
	char name[64], field[128];
	int rc, id, scope;

	if (!json_is_object(jm))
		return ramp_err_set(err, RAMP_EINVAL, path, "must be an object");
	if ((rc = fields_check(jm, metric_keys, path, err)) < 0)
		return rc;
	if (policy_member(jm, "provider") != NULL && policy_member(jm, "judge") != NULL)
		return policy_fail(err, path, "judge", "applies only to ramp's own metrics");
	if (policy_member(jm, "provider") != NULL)
		return parse_prom_metric(jm, path, p, m, err);
	if (policy_member(jm, "consecutive_error_limit") != NULL)
		return policy_fail(err, path, "consecutive_error_limit",
			    "applies only to a metric read from a provider");
	rc = get_string(jm, path, "name", true, name, sizeof(name), err);
	if (rc < 0)
		return rc;
	if ((id = metric_from_name(name)) < 0) {
		join(field, sizeof(field), path, "name");
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "unknown metric \"%s\"", name);
	}
	m->metric = (enum metric_id)id;
	if ((rc = policy_judge_parse(jm, path, m->metric, &m->judge, err)) < 0)
		return rc;
	if (m->judge.sequential && policy_member(jm, "threshold") != NULL)
		return policy_fail(err, path, "threshold",
			    "is decided by the sequential judge: remove it or the judge");
	rc = m->judge.sequential ? 0
				 : get_string(jm, path, "threshold", true, m->text,
					      sizeof(m->text), err);
	if (rc < 0)
		return rc;
	join(field, sizeof(field), path, "threshold");
	rc = m->judge.sequential ? 0
				 : threshold_parse(m->text, m->metric, field, &m->threshold, err);
	if (rc < 0)
		return rc;
	rc = get_enum(jm, path, "scope", scope_names, 2, SCOPE_COHORT, &scope,
		      "must be cohort or any_device", err);
	m->scope = (enum metric_scope)scope;
	if (rc == 0 && m->judge.sequential && m->scope != SCOPE_COHORT)
		return policy_fail(err, path, "scope", "must be cohort with judge: sequential");
	return rc;
}

/* The stage's metrics, or a copy of prev's when the key is absent. */
static int parse_metrics(const json_t *st, const char *path,
			 const struct policy_stage *prev, struct policy *p,
			 struct policy_stage *out, struct ramp_err *err)
{
	const json_t *list = policy_member(st, "metrics");
	char mpath[128];
	int rc;

	if (list == NULL) {
		out->nmetrics = prev ? prev->nmetrics : 0;
		if (prev)
			memcpy(out->metrics, prev->metrics,
			       prev->nmetrics * sizeof(prev->metrics[0]));
		return 0;
	}
	if (!json_is_array(list))
		return policy_fail(err, path, "metrics", "must be a list");
	if (json_array_size(list) > POLICY_MAX_METRICS)
		return policy_fail(err, path, "metrics", "must have at most 32 metrics");
	for (size_t i = 0; i < json_array_size(list); i++) {
		fmt_path(mpath, sizeof(mpath), "%s.metrics[%zu]", path, i);
		rc = parse_metric(json_array_get(list, i), mpath, p,
				  &out->metrics[i], err);
		if (rc < 0)
			return rc;
	}
	out->nmetrics = json_array_size(list);
	return 0;
}

/* Checks the stage's name and size against the stages before it. */
static int check_order(const struct policy *p, size_t i, const char *path,
		       struct ramp_err *err)
{
	const struct policy_stage *st = &p->stages[i];
	char field[128];

	for (size_t j = 0; j < i; j++) {
		if (strcmp(p->stages[j].name, st->name) == 0) {
			join(field, sizeof(field), path, "name");
			return ramp_err_set(err, RAMP_EINVAL, field,
					    "duplicates stages[%zu].name", j);
		}
	}
	if (i > 0 && !(st->size > p->stages[i - 1].size)) {
		join(field, sizeof(field), path, "size");
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "must be greater than stages[%zu].size",
				    i - 1);
	}
	return 0;
}

static int parse_stage(const json_t *js, struct policy *p, size_t i,
		       struct ramp_err *err)
{
	struct policy_stage *st = &p->stages[i];
	char path[32];
	int rc;

	fmt_path(path, sizeof(path), "stages[%zu]", i);
	if (!json_is_object(js))
		return ramp_err_set(err, RAMP_EINVAL, path, "must be an object");
	if ((rc = fields_check(js, stage_keys, path, err)) < 0 ||
	    (rc = get_name(js, path, "name", true, st->name, sizeof(st->name),
			   err)) < 0 ||
	    (rc = parse_size(js, path, &st->size, err)) < 0 ||
	    (rc = check_order(p, i, path, err)) < 0 ||
	    (rc = get_name(js, path, "cohort", false, st->cohort,
			   sizeof(st->cohort), err)) < 0 ||
	    (rc = parse_window(js, path, &st->window_s, err)) < 0 ||
	    (rc = get_int(js, path, "min_devices", 1, &st->min_devices, err)) < 0 ||
	    (rc = get_int(js, path, "min_samples", 1, &st->min_samples, err)) < 0 ||
	    (rc = get_bool(js, path, "approval", false, &st->approval, err)) < 0 ||
	    (rc = policy_strata_parse(js, path, &st->strata, err)) < 0)
		return rc;
	return parse_metrics(js, path, i > 0 ? &p->stages[i - 1] : NULL, p, st,
			     err);
}

static int parse_stages(const json_t *root, struct policy *p,
			struct ramp_err *err)
{
	const json_t *list = policy_member(root, "stages");
	size_t n;
	int rc;

	if (list == NULL)
		return policy_fail(err, "", "stages", "is required");
	if (!json_is_array(list))
		return policy_fail(err, "", "stages", "must be a list");
	n = json_array_size(list);
	if (n == 0)
		return policy_fail(err, "", "stages", "must have at least one stage");
	if (n > POLICY_MAX_STAGES)
		return policy_fail(err, "", "stages", "must have at most 32 stages");
	for (size_t i = 0; i < n; i++) {
		rc = parse_stage(json_array_get(list, i), p, i, err);
		if (rc < 0)
			return rc;
		p->nstages = i + 1;
	}
	if (p->stages[n - 1].size != 1.0) {
		char field[32];

		fmt_path(field, sizeof(field), "stages[%zu].size", n - 1);
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "must be 1.0 in the last stage");
	}
	return 0;
}

static int parse_rollback(const json_t *root, struct policy *p,
			  struct ramp_err *err)
{
	const json_t *rb = policy_member(root, "rollback");
	int v, rc;

	p->automatic = true;
	p->on_inconclusive = INCONCLUSIVE_PAUSE;
	p->failure_limit = 1;
	if (rb == NULL)
		return 0;
	if (!json_is_object(rb))
		return policy_fail(err, "", "rollback", "must be an object");
	if ((rc = fields_check(rb, rollback_keys, "rollback", err)) < 0 ||
	    (rc = get_bool(rb, "rollback", "automatic", true, &p->automatic,
			   err)) < 0 ||
	    (rc = get_enum(rb, "rollback", "on_inconclusive", inconclusive_names,
			   3, INCONCLUSIVE_PAUSE, &v,
			   "must be pause, rollback or extend", err)) < 0)
		return rc;
	p->on_inconclusive = (enum on_inconclusive)v;
	if ((rc = get_bool(rb, "rollback", "per_variant", false, &p->rollback_per_variant,
			   err)) < 0)
		return rc;
	return get_int(rb, "rollback", "failure_limit", 1, &p->failure_limit,
		       err);
}

int policy_from_json(const json_t *root, struct policy *out,
		     struct ramp_err *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	ramp_err_clear(err);
	if (!json_is_object(root))
		rc = ramp_err_set(err, RAMP_EINVAL, "",
				  "policy must be an object");
	else if ((rc = fields_check(root, root_keys, "", err)) == 0 &&
		 (rc = parse_stages(root, out, err)) == 0)
		rc = parse_rollback(root, out, err);
	if (rc == 0)
		rc = policy_windows_parse(root, out, err);
	if (rc == 0)
		rc = policy_shadow_parse(root, out, err);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

static int decode_json(const char *data, size_t len, json_t **root,
		       struct ramp_err *err)
{
	json_error_t je;

	*root = json_loadb(data, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
			   &je);
	if (*root != NULL)
		return 0;
	/* jansson leaves the text empty when it cannot allocate its lexer */
	if (json_error_code(&je) == json_error_out_of_memory || je.text[0] == '\0')
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	return ramp_err_set(err, RAMP_EMALFORMED, "",
			    "could not parse json: %s at line %d, column %d",
			    je.text, je.line, je.column);
}

int policy_parse(const char *data, size_t len, enum policy_format fmt,
		 struct policy *out, struct ramp_err *err)
{
	json_t *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	ramp_err_clear(err);
	if (data == NULL && len > 0)
		return ramp_err_set(err, RAMP_EMALFORMED, "", "no policy");
	if (fmt == POLICY_JSON)
		rc = decode_json(data ? data : "", len, &root, err);
	else
		rc = yaml_json_load(data ? data : "", len, &root, err);
	if (rc == 0)
		rc = policy_from_json(root, out, err);
	json_decref(root);
	return rc;
}

const char *policy_inconclusive_name(enum on_inconclusive v)
{
	if ((int)v < 0 || v > INCONCLUSIVE_EXTEND)
		return "unknown";
	return inconclusive_names[v];
}

const char *policy_scope_name(enum metric_scope s)
{
	if ((int)s < 0 || s > SCOPE_ANY_DEVICE)
		return "unknown";
	return scope_names[s];
}
