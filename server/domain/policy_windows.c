/*
 * policy_windows.c - the maintenance-window block of a policy
 * (docs/windows.md): top-level "windows" (the default of every stage),
 * each stage's own "windows" (an explicit [] means none) and
 * "rollback_respects_windows". Pure: zone names are checked for form here
 * and for existence by the API (store/tzdb.h) before a policy is stored.
 * policy_to_json writes each stage's windows after inheritance, so the
 * round trip compares stage by stage.
 */
#include "domain/policy.h"

#include <stdio.h>
#include <string.h>

static const json_t *present(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return v && !json_is_null(v) ? v : NULL;
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
	if (a->rollback_respects_windows != b->rollback_respects_windows || a->nstages != b->nstages)
		return false;
	for (size_t i = 0; i < a->nstages; i++)
		if (!window_list_equal(&a->stages[i].windows, &b->stages[i].windows))
			return false;
	return true;
}
