/*
 * policy_json.c - the other direction of policy.c: a parsed policy back to
 * its canonical JSON (what GET /v1/policies/{name} returns and what is
 * stored), and the structural equality that decides whether a PUT changed
 * anything. Providers compare by content, not by their index.
 */
#include "domain/policy.h"

#include <string.h>

/* Appends to arr, stealing v; false (and v freed) on failure. */
static bool push(json_t *arr, json_t *v)
{
	return v != NULL && json_array_append_new(arr, v) == 0;
}

const char *policy_metric_name(const struct policy_metric *m)
{
	return m->prom > 0 ? m->name : metric_name(m->metric);
}

const struct prom_provider *policy_metric_prom(const struct policy *p,
					       const struct policy_metric *m)
{
	return m->prom > 0 && (size_t)m->prom <= p->nprom ? &p->prom[m->prom - 1] : NULL;
}

static json_t *metric_to_json(const struct policy *p, const struct policy_metric *m)
{
	json_t *j = json_pack("{s:s}", "name", policy_metric_name(m));

	if (j != NULL && ((!m->judge.sequential &&
			   json_object_set_new(j, "threshold", json_string(m->text)) < 0) ||
			  json_object_set_new(j, "scope", json_string(policy_scope_name(m->scope))) ||
			  policy_judge_to_json(&m->judge, j) < 0)) {
		json_decref(j);
		return NULL;
	}
	return prom_metric_to_json(j, policy_metric_prom(p, m));
}

static json_t *stage_to_json(const struct policy *p, const struct policy_stage *st)
{
	json_t *metrics = json_array(), *js;

	for (size_t i = 0; metrics && i < st->nmetrics; i++) {
		if (!push(metrics, metric_to_json(p, &st->metrics[i]))) {
			json_decref(metrics);
			return NULL;
		}
	}
	js = json_pack("{s:s, s:f, s:I, s:i, s:i, s:b, s:o}", "name", st->name,
		       "size", st->size, "validation_window",
		       (json_int_t)st->window_s, "min_devices", st->min_devices,
		       "min_samples", st->min_samples, "approval", st->approval,
		       "metrics", metrics);
	if (js != NULL && ((st->cohort[0] != '\0' &&
			    json_object_set_new(js, "cohort", json_string(st->cohort)) < 0) ||
			   policy_strata_to_json(&st->strata, js) < 0)) {
		json_decref(js);
		return NULL;
	}
	return js;
}

json_t *policy_to_json(const struct policy *p)
{
	json_t *stages = json_array();

	for (size_t i = 0; stages && i < p->nstages; i++) {
		if (!push(stages, stage_to_json(p, &p->stages[i]))) {
			json_decref(stages);
			return NULL;
		}
	}
	json_t *j = json_pack("{s:o, s:{s:b, s:s, s:i}}", "stages", stages,
			 "rollback", "automatic", p->automatic,
			 "on_inconclusive",
			 policy_inconclusive_name(p->on_inconclusive),
			 "failure_limit", p->failure_limit);
	/* written only when set, so every other policy's canonical text is unchanged */
	if (j && p->rollback_per_variant &&
	    json_object_set_new(json_object_get(j, "rollback"), "per_variant", json_true()) != 0) {
		json_decref(j);
		return NULL;
	}
	if (j && (policy_windows_to_json(p, j) != 0 || policy_shadow_to_json(p, j) != 0)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Providers compare by content: the same policy parsed from its canonical
 * JSON may number them differently. */
static bool metric_equal(const struct policy *pa, const struct policy_metric *a,
			 const struct policy *pb, const struct policy_metric *b)
{
	const struct prom_provider *xa = policy_metric_prom(pa, a), *xb = policy_metric_prom(pb, b);

	if ((xa == NULL) != (xb == NULL) || (xa && !prom_provider_equal(xa, xb)) ||
	    (xa && strcmp(a->name, b->name) != 0))
		return false;
	return a->metric == b->metric && a->threshold.op == b->threshold.op &&
	       a->threshold.kind == b->threshold.kind &&
	       a->threshold.value == b->threshold.value &&
	       a->scope == b->scope && strcmp(a->text, b->text) == 0 &&
	       policy_judge_equal(&a->judge, &b->judge);
}

static bool stage_equal(const struct policy *pa, const struct policy_stage *a,
			const struct policy *pb, const struct policy_stage *b)
{
	if (strcmp(a->name, b->name) != 0 || a->size != b->size ||
	    strcmp(a->cohort, b->cohort) != 0 || a->window_s != b->window_s ||
	    a->min_devices != b->min_devices ||
	    a->min_samples != b->min_samples || a->approval != b->approval ||
	    a->nmetrics != b->nmetrics || !policy_strata_equal(&a->strata, &b->strata))
		return false;
	for (size_t i = 0; i < a->nmetrics; i++)
		if (!metric_equal(pa, &a->metrics[i], pb, &b->metrics[i]))
			return false;
	return true;
}

bool policy_equal(const struct policy *a, const struct policy *b)
{
	if (a->nstages != b->nstages || a->automatic != b->automatic ||
	    a->on_inconclusive != b->on_inconclusive ||
	    a->failure_limit != b->failure_limit || !policy_windows_equal(a, b) ||
	    !policy_shadow_equal(a, b) || a->rollback_per_variant != b->rollback_per_variant)
		return false;
	for (size_t i = 0; i < a->nstages; i++)
		if (!stage_equal(a, &a->stages[i], b, &b->stages[i]))
			return false;
	return true;
}
