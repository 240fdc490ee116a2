/*
 * policy_shadow.c - see policy_shadow.h. Runs after the stages are parsed,
 * so inherited metrics are checked as the stage will use them: a stage
 * that would inherit the other kind's gates must list its own.
 */
#include "domain/policy_shadow.h"

#include "domain/policy.h"

#include <stdio.h>
#include <string.h>

static const json_t *present(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return v && !json_is_null(v) ? v : NULL;
}

static int stage_fail(struct ramp_err *err, size_t i, const char *key, const char *msg)
{
	char field[128];

	snprintf(field, sizeof(field), "stages[%zu].%s", i, key);
	return ramp_err_set(err, RAMP_EINVAL, field, "%s", msg);
}

static int read_block(const json_t *js, size_t i, struct policy_stage *st, struct ramp_err *err)
{
	const json_t *s = present(js, "shadow"), *f = present(js, "shadow_fraction");

	if (s != NULL && !json_is_boolean(s))
		return stage_fail(err, i, "shadow", "must be true or false");
	st->shadow = s != NULL && json_is_true(s);
	if (f != NULL && !st->shadow)
		return stage_fail(err, i, "shadow_fraction", "needs shadow: true");
	st->shadow_fraction = st->shadow ? POLICY_SHADOW_FRACTION_DEFAULT : 0;
	if (f == NULL)
		return 0;
	if (!json_is_number(f) || !(json_number_value(f) > 0) || !(json_number_value(f) <= 1))
		return stage_fail(err, i, "shadow_fraction",
				  "must be a number greater than 0 and at most 1");
	st->shadow_fraction = json_number_value(f);
	return 0;
}

/* The stage's metrics against its kind; inherited names the missing list. */
static int check_metrics(const struct policy_stage *st, size_t i, bool inherited,
			 struct ramp_err *err)
{
	char key[48], msg[192];

	for (size_t k = 0; k < st->nmetrics; k++) {
		const struct policy_metric *m = &st->metrics[k];
		bool shadow_metric = m->prom == 0 && metric_is_shadow(m->metric);

		if (shadow_metric && st->shadow && m->scope != SCOPE_COHORT)
			return stage_fail(err, i, "metrics", "shadow gates take scope: cohort");
		if (shadow_metric == st->shadow && (!shadow_metric ||
						    m->threshold.kind == THRESHOLD_ABSOLUTE))
			continue;
		if (inherited)
			return stage_fail(err, i, "metrics",
					  st->shadow ? "is required on a shadow stage: the "
						       "previous stage's gates do not apply to it"
						     : "is required after a shadow stage: shadow "
						       "gates do not carry over");
		snprintf(key, sizeof(key), "metrics[%zu].%s", k,
			 shadow_metric && st->shadow ? "threshold" : "name");
		if (shadow_metric && st->shadow)
			snprintf(msg, sizeof(msg), "must be absolute for %s: a shadow run "
				 "has no baseline arm", metric_name(m->metric));
		else if (shadow_metric)
			snprintf(msg, sizeof(msg), "%s applies only to a stage with shadow: true",
				 metric_name(m->metric));
		else
			snprintf(msg, sizeof(msg), "%s does not apply to a shadow stage (no "
				 "device serves the candidate): use shadow_agreement, shadow_mad, "
				 "shadow_latency_p95 or shadow_confidence_shift",
				 policy_metric_name(m));
		return stage_fail(err, i, key, msg);
	}
	return 0;
}

int policy_shadow_parse(const json_t *root, struct policy *p, struct ramp_err *err)
{
	const json_t *stages = json_object_get(root, "stages");
	int rc;

	for (size_t i = 0; i < p->nstages; i++) {
		const json_t *js = json_array_get(stages, i);
		if ((rc = read_block(js, i, &p->stages[i], err)) != 0)
			return rc;
		if (p->stages[i].shadow && i + 1 == p->nstages)
			return stage_fail(err, i, "shadow",
					  "cannot be the last stage: no device would ever "
					  "serve the version");
		rc = check_metrics(&p->stages[i], i, present(js, "metrics") == NULL, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int policy_shadow_to_json(const struct policy *p, json_t *j)
{
	json_t *stages = json_object_get(j, "stages");

	for (size_t i = 0; i < p->nstages; i++) {
		json_t *js = json_array_get(stages, i);
		if (!p->stages[i].shadow)
			continue;
		if (js == NULL || json_object_set_new(js, "shadow", json_true()) ||
		    json_object_set_new(js, "shadow_fraction",
					json_real(p->stages[i].shadow_fraction)))
			return RAMP_ENOMEM;
	}
	return 0;
}

bool policy_shadow_equal(const struct policy *a, const struct policy *b)
{
	for (size_t i = 0; i < a->nstages && i < b->nstages; i++)
		if (a->stages[i].shadow != b->stages[i].shadow ||
		    a->stages[i].shadow_fraction != b->stages[i].shadow_fraction)
			return false;
	return true;
}
