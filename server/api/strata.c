/*
 * strata.c - the "strata" block of a rollout in the API (docs/strata.md,
 * docs/api.md): what rampctl and the dashboard show to answer "does the
 * canary hold every platform and site?". Counts come from the store, over
 * the current stage's target set, so a stratum the canary missed shows
 * canary 0 rather than vanishing.
 */
#include "api/strata.h"

#include "domain/policy.h"
#include "domain/selector.h"
#include "store/store_strata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The last stage up to idx with stratify_by, or -1. */
static int in_force(const struct policy *p, int idx)
{
	int g = -1;

	for (int j = 0; j <= idx && (size_t)j < p->nstages; j++)
		if (p->stages[j].strata.nkeys > 0)
			g = j;
	return g;
}

static int counts(struct req *r, int64_t id, const json_t *out, const struct policy *p, int idx,
		  const struct policy_strata *s, json_t **arr)
{
	struct selector *sel = NULL, *coh = NULL;
	struct ramp_err err;
	const char *keys[STRATA_MAX_KEYS];
	char ctext[4200];
	int rc = selector_parse(json_string_value(json_object_get(out, "selector")), &sel, &err);

	for (size_t i = 0; i < s->nkeys; i++)
		keys[i] = s->keys[i];
	if (rc == 0 && p->stages[idx].cohort[0]) {
		rc = store_cohort_selector(r->app->db, p->stages[idx].cohort, ctext, sizeof(ctext));
		if (rc == RAMP_ENOTFOUND) { /* the stage takes nobody new */
			selector_free(sel);
			*arr = json_array();
			return *arr ? 0 : RAMP_ENOMEM;
		}
		if (rc == 0)
			rc = selector_parse(ctext, &coh, &err);
	}
	if (rc == 0)
		rc = store_strata_counts(r->app->db, id,
					 json_string_value(json_object_get(out, "model")),
					 json_string_value(json_object_get(out, "version")), sel, coh,
					 keys, s->nkeys, arr);
	selector_free(sel);
	selector_free(coh);
	return rc;
}

/* The block for stage g's stratification: by, min_per_stratum, the strata
 * and how many of them the canary holds fewer of than it should. */
static json_t *block(const struct policy_stage *st, json_t *arr)
{
	json_t *by = json_array(), *x;
	size_t i, shortn = 0;

	for (i = 0; by && i < st->strata.nkeys; i++)
		json_array_append_new(by, json_string(st->strata.keys[i]));
	json_array_foreach(arr, i, x) {
		json_int_t e = json_integer_value(json_object_get(x, "eligible"));
		json_int_t c = json_integer_value(json_object_get(x, "canary"));
		json_int_t want = e < st->strata.min_per_stratum ? e : st->strata.min_per_stratum;
		shortn += c < want;
	}
	return json_pack("{s:s, s:o, s:i, s:o, s:I}", "stage", st->name, "by", by,
			 "min_per_stratum", st->strata.min_per_stratum, "strata", arr, "short",
			 (json_int_t)shortn);
}

int api_rollout_strata(struct req *r, int64_t id, json_t *out)
{
	int idx = (int)json_integer_value(json_object_get(json_object_get(out, "stage"), "index"));
	struct policy *p = malloc(sizeof(*p));
	json_t *arr = NULL, *b = json_null();
	struct ramp_err err;
	int g, rc = 0;

	if (p == NULL)
		return RAMP_ENOMEM;
	/* a stored policy always parses; one that does not is shown without */
	if (policy_from_json(json_object_get(out, "policy_spec"), p, &err) == 0 &&
	    idx >= 0 && (size_t)idx < p->nstages && (g = in_force(p, idx)) >= 0) {
		rc = counts(r, id, out, p, idx, &p->stages[g].strata, &arr);
		if (rc == 0 && (b = block(&p->stages[g], arr)) == NULL)
			rc = RAMP_ENOMEM;
	}
	free(p);
	if (rc == 0 && json_object_set_new(out, "strata", b) != 0)
		rc = RAMP_ENOMEM;
	return rc;
}
