/*
 * policy_windows.c - the maintenance-window block of a policy
 * (docs/windows.md): top-level "windows" (the default of every stage),
 * each stage's own "windows" (an explicit [] means none) and
 * "rollback_respects_windows". Pure: zone names are checked for form here
 * and for existence by the API (store/tzdb.h) before a policy is stored.
 * policy_to_json writes each stage's windows after inheritance, so the
 * round trip compares stage by stage. "label_windows" maps values of the
 * device label ramp.window to the windows those devices take instead.
 */
#include "domain/policy.h"

#include <stdio.h>
#include <string.h>

static const json_t *present(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return v && !json_is_null(v) ? v : NULL;
}

/* A label value as a device label value may be: 1..63 bytes of [A-Za-z0-9._-]. */
static bool label_value_ok(const char *v)
{
	size_t n = strlen(v);

	return n > 0 && n < 64 && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					   "0123456789._-") == n;
}

static int label_windows_parse(const json_t *lw, struct policy *p, struct ramp_err *err)
{
	const char *value;
	const json_t *w;
	char path[128];
	int rc;

	if (lw == NULL)
		return 0;
	if (!json_is_object(lw))
		return ramp_err_set(err, RAMP_EINVAL, "label_windows",
				    "must be an object of ramp.window label values to window lists");
	if (json_object_size(lw) > POLICY_MAX_LABEL_WINDOWS)
		return ramp_err_set(err, RAMP_EINVAL, "label_windows", "has more than %d values",
				    POLICY_MAX_LABEL_WINDOWS);
	json_object_foreach((json_t *)lw, value, w) {
		struct label_windows *l = &p->label_windows[p->nlabel_windows];
		snprintf(path, sizeof(path), "label_windows.%.64s", value);
		if (!label_value_ok(value))
			return ramp_err_set(err, RAMP_EINVAL, path,
					    "a label value is 1 to 63 of A-Z a-z 0-9 . _ -");
		if (json_is_null(w))
			return ramp_err_set(err, RAMP_EINVAL, path, "must be a list ([] for none)");
		if ((rc = window_list_from_json(w, path, &l->windows, err)) != 0)
			return rc;
		snprintf(l->value, sizeof(l->value), "%s", value);
		p->nlabel_windows++;
	}
	return 0;
}

const struct window_list *policy_group_windows(const struct policy *p, int stage,
					       const char *label)
{
	for (size_t i = 0; label && i < p->nlabel_windows; i++)
		if (strcmp(p->label_windows[i].value, label) == 0)
			return &p->label_windows[i].windows;
	return stage >= 0 && (size_t)stage < p->nstages ? &p->stages[stage].windows : NULL;
}

int policy_windows_parse(const json_t *root, struct policy *p, struct ramp_err *err)
{
	const json_t *stages = json_object_get(root, "stages"), *rr;
	struct window_list dflt;
	int rc = window_list_from_json(present(root, "windows"), "windows", &dflt, err);

	if (rc)
		return rc;
	if ((rr = present(root, "rollback_respects_windows")) != NULL) {
		if (!json_is_boolean(rr))
			return ramp_err_set(err, RAMP_EINVAL, "rollback_respects_windows",
					    "must be true or false");
		p->rollback_respects_windows = json_is_true(rr);
	}
	if ((rc = label_windows_parse(present(root, "label_windows"), p, err)) != 0)
		return rc;
	for (size_t i = 0; i < p->nstages; i++) {
		const json_t *w = present(json_array_get(stages, i), "windows");
		char path[48];

		snprintf(path, sizeof(path), "stages[%zu].windows", i);
		if (w == NULL)
			p->stages[i].windows = dflt;
		else if ((rc = window_list_from_json(w, path, &p->stages[i].windows, err)) != 0)
			return rc;
	}
	return 0;
}

int policy_windows_to_json(const struct policy *p, json_t *j)
{
	json_t *stages = json_object_get(j, "stages");

	if (p->rollback_respects_windows &&
	    json_object_set_new(j, "rollback_respects_windows", json_true()) != 0)
		return RAMP_ENOMEM;
	if (p->nlabel_windows > 0) {
		json_t *lw = json_object();
		if (lw == NULL || json_object_set_new(j, "label_windows", lw) != 0)
			return RAMP_ENOMEM;
		for (size_t i = 0; i < p->nlabel_windows; i++) {
			json_t *w = window_list_to_json(&p->label_windows[i].windows);
			if (w == NULL || json_object_set_new(lw, p->label_windows[i].value, w) != 0)
				return RAMP_ENOMEM;
		}
	}
	for (size_t i = 0; i < p->nstages; i++) {
		json_t *w;
		if (p->stages[i].windows.n == 0)
			continue;
		w = window_list_to_json(&p->stages[i].windows);
		if (w == NULL || json_object_set_new(json_array_get(stages, i), "windows", w) != 0)
			return RAMP_ENOMEM;
	}
	return 0;
}

bool policy_windows_equal(const struct policy *a, const struct policy *b)
{
	if (a->rollback_respects_windows != b->rollback_respects_windows || a->nstages != b->nstages ||
	    a->nlabel_windows != b->nlabel_windows)
		return false;
	for (size_t i = 0; i < a->nlabel_windows; i++) { /* in any order */
		const char *v = a->label_windows[i].value;
		const struct window_list *bl = policy_group_windows(b, -1, v);
		if (bl == NULL || !window_list_equal(&a->label_windows[i].windows, bl))
			return false;
	}
	for (size_t i = 0; i < a->nstages; i++)
		if (!window_list_equal(&a->stages[i].windows, &b->stages[i].windows))
			return false;
	return true;
}
