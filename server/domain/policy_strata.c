/*
 * policy_strata.c - see policy_strata.h. A key is "platform" (the device's
 * column, as in selectors) or a label key as selectors spell it; keys are
 * distinct, and min_per_stratum is refused without stratify_by so a typo
 * in one cannot silently leave the stage unstratified.
 */
#include "domain/policy_strata.h"
#include "domain/policy_parse.h"

#include <stdio.h>
#include <string.h>

static int parse_key(const json_t *v, const char *path, size_t i, struct policy_strata *out,
		     struct ramp_err *err)
{
	const char *s = json_string_value(v);
	char field[160];

	snprintf(field, sizeof(field), "%s.stratify_by[%zu]", path, i);
	if (s == NULL || strlen(s) != json_string_length(v))
		return ramp_err_set(err, RAMP_EINVAL, field, "must be a string");
	if (strcmp(s, "platform") != 0 && !selector_label_key_valid(s))
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "must be platform or a label name ([prefix/]name)");
	for (size_t j = 0; j < i; j++)
		if (strcmp(out->keys[j], s) == 0)
			return ramp_err_set(err, RAMP_EINVAL, field,
					    "duplicates stratify_by[%zu]", j);
	snprintf(out->keys[i], sizeof(out->keys[i]), "%s", s);
	return 0;
}

static int parse_min(const json_t *v, const char *path, struct policy_strata *out,
		     struct ramp_err *err)
{
	json_int_t n;

	out->min_per_stratum = 1;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return policy_fail(err, path, "min_per_stratum", "must be an integer");
	n = json_integer_value(v);
	if (n < 1 || n > STRATA_MAX_MIN)
		return policy_fail(err, path, "min_per_stratum", "must be between 1 and 1000");
	out->min_per_stratum = (int)n;
	return 0;
}

int policy_strata_parse(const json_t *js, const char *path, struct policy_strata *out,
			struct ramp_err *err)
{
	const json_t *by = policy_member(js, "stratify_by"), *min = policy_member(js, "min_per_stratum");
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (by == NULL) {
		if (min != NULL)
			return policy_fail(err, path, "min_per_stratum", "needs stratify_by");
		return 0;
	}
	if (!json_is_array(by))
		return policy_fail(err, path, "stratify_by", "must be a list of keys");
	n = json_array_size(by);
	if (n < 1 || n > STRATA_MAX_KEYS)
		return policy_fail(err, path, "stratify_by", "must have 1 to 4 keys");
	for (size_t i = 0; i < n; i++)
		if ((rc = parse_key(json_array_get(by, i), path, i, out, err)) != 0) {
			memset(out, 0, sizeof(*out));
			return rc;
		}
	out->nkeys = n;
	if ((rc = parse_min(min, path, out, err)) != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int policy_strata_to_json(const struct policy_strata *s, json_t *stage)
{
	json_t *by;

	if (s->nkeys == 0)
		return 0;
	by = json_array();
	for (size_t i = 0; by && i < s->nkeys; i++)
		if (json_array_append_new(by, json_string(s->keys[i])) != 0) {
			json_decref(by);
			return -1;
		}
	if (by == NULL || json_object_set_new(stage, "stratify_by", by) != 0 ||
	    json_object_set_new(stage, "min_per_stratum", json_integer(s->min_per_stratum)) != 0)
		return -1;
	return 0;
}

bool policy_strata_equal(const struct policy_strata *a, const struct policy_strata *b)
{
	if (a->nkeys != b->nkeys || a->min_per_stratum != b->min_per_stratum)
		return false;
	for (size_t i = 0; i < a->nkeys; i++)
		if (strcmp(a->keys[i], b->keys[i]) != 0)
			return false;
	return true;
}
