/*
 * members.c - see members.h. Each device's values are kept in one list
 * beside its id, "=" + value for a label present and "" for one absent,
 * so that an empty label value and no label stay two strata.
 */
#include "engine/members.h"

#include "domain/selector.h"
#include "domain/strata.h"
#include "store/store_strata.h"

#include <stdlib.h>
#include <string.h>

struct collect {
	struct strlist *ids, vals;
	size_t nkeys;
};

static int collect_one(void *ctx, const char *id, const char *const *vals)
{
	struct collect *x = ctx;
	int rc = strlist_push(x->ids, id);

	for (size_t i = 0; rc == 0 && i < x->nkeys; i++) {
		if (vals[i] == NULL) {
			rc = strlist_push(&x->vals, "");
			continue;
		}
		size_t len = strlen(vals[i]);
		char *b = malloc(len + 2);
		if (b == NULL)
			return RAMP_ENOMEM;
		b[0] = '=';
		memcpy(b + 1, vals[i], len + 1);
		rc = strlist_push(&x->vals, b);
		free(b);
	}
	return rc;
}

/* The rollout's selector and stage k's cohort; *none when the cohort is
 * gone (a cohort deleted mid-rollout takes nobody new, as in rollouts.c). */
static int selectors(struct app *app, const struct rollout_row *row, const struct policy *p,
		     int k, struct selector **sel, struct selector **coh, bool *none)
{
	struct ramp_err err;
	char ctext[4200];
	int rc = selector_parse(row->selector, sel, &err);

	*coh = NULL;
	*none = false;
	if (rc == 0 && p->stages[k].cohort[0]) {
		rc = store_cohort_selector(app->db, p->stages[k].cohort, ctext, sizeof(ctext));
		if (rc == RAMP_ENOTFOUND) {
			*none = true;
			return 0;
		}
		if (rc == 0)
			rc = selector_parse(ctext, coh, &err);
	}
	return rc;
}

static int choose(const struct rollout_row *row, const struct policy *p, int k,
		  const char *const *keys, size_t nkeys, struct collect *x, const char ***ids,
		  size_t *n)
{
	size_t cnt = x->ids->n, m = 0;
	struct strata_device *d = calloc(cnt ? cnt : 1, sizeof(*d));
	const char **vals = calloc(cnt * nkeys + 1, sizeof(*vals));
	int rc = RAMP_ENOMEM;

	*ids = calloc(cnt ? cnt : 1, sizeof(**ids));
	if (d == NULL || vals == NULL || *ids == NULL)
		goto out;
	for (size_t i = 0; i < cnt; i++) {
		for (size_t j = 0; j < nkeys; j++) {
			const char *v = x->vals.v[i * nkeys + j];
			vals[i * nkeys + j] = v[0] == '=' ? v + 1 : NULL;
		}
		d[i].id = x->ids->v[i];
		d[i].vals = vals + i * nkeys;
	}
	if ((rc = strata_choose(row->id, p, k, keys, nkeys, d, cnt, n)) != 0)
		goto out;
	for (size_t i = 0; i < cnt; i++)
		if (d[i].chosen)
			(*ids)[m++] = d[i].id;
out:
	if (rc) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	free(d);
	free(vals);
	return rc;
}

int members_stratified(struct app *app, const struct rollout_row *row, const struct policy *p,
		       int k, struct strlist *all, const char ***ids, size_t *n)
{
	const char *keys[STRATA_MAX_UNION];
	size_t nkeys = strata_keys(p, k, keys, STRATA_MAX_UNION);
	struct collect x = {all, {0}, nkeys};
	struct selector *sel = NULL, *coh = NULL;
	bool none;
	int rc = selectors(app, row, p, k, &sel, &coh, &none);

	*ids = NULL;
	*n = 0;
	if (rc == 0 && !none)
		rc = store_strata_eligible(app->db, row->model, row->version, sel, coh, keys, nkeys,
					   collect_one, &x);
	if (rc == 0 && x.vals.n != all->n * nkeys)
		rc = RAMP_EINTERNAL;
	if (rc == 0)
		rc = choose(row, p, k, keys, nkeys, &x, ids, n);
	selector_free(sel);
	selector_free(coh);
	strlist_free(&x.vals);
	return rc;
}
