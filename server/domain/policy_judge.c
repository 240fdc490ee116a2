/*
 * policy_judge.c - see policy_judge.h.
 */
#include "domain/policy_judge.h"
#include "domain/policy_parse.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double policy_judge_default_effect(enum metric_id m)
{
	switch (m) {
	case METRIC_ERROR_RATE:
		return 0.5;
	case METRIC_CONFIDENCE_SHIFT:
		return 0.002;
	default:
		return 0.2;
	}
}

static bool offered(enum metric_id m)
{
	return m == METRIC_ERROR_RATE || m == METRIC_LATENCY_P50 || m == METRIC_LATENCY_P95 ||
	       m == METRIC_LATENCY_P99 || m == METRIC_CONFIDENCE_SHIFT;
}

int policy_judge_parse(const json_t *jm, const char *path, enum metric_id m,
		       struct policy_judge *out, struct ramp_err *err)
{
	const json_t *j = policy_member(jm, "judge"), *a = policy_member(jm, "alpha"),
		     *e = policy_member(jm, "min_effect");

	memset(out, 0, sizeof(*out));
	if (j != NULL) {
		const char *s = json_string_value(j);
		if (s == NULL || (strcmp(s, "sequential") != 0 && strcmp(s, "threshold") != 0) ||
		    strlen(s) != json_string_length(j))
			return policy_fail(err, path, "judge", "must be threshold or sequential");
		out->sequential = strcmp(s, "sequential") == 0;
	}
	if (!out->sequential) {
		if (a != NULL)
			return policy_fail(err, path, "alpha", "needs judge: sequential");
		if (e != NULL)
			return policy_fail(err, path, "min_effect", "needs judge: sequential");
		return 0;
	}
	if (!offered(m))
		return policy_fail(err, path, "judge",
			   "sequential is offered for error_rate, inference_latency_p50/p95/p99 "
			   "and confidence_shift");
	out->alpha = 0.05;
	out->min_effect = policy_judge_default_effect(m);
	if (a != NULL) {
		if (!json_is_number(a) || !(json_number_value(a) > 0) ||
		    !(json_number_value(a) <= 0.5))
			return policy_fail(err, path, "alpha", "must be a number in (0, 0.5]");
		out->alpha = json_number_value(a);
	}
	if (e != NULL) {
		double v = json_is_number(e) ? json_number_value(e) : NAN;
		if (!(v > 0) || !(v <= 100))
			return policy_fail(err, path, "min_effect", "must be a number in (0, 100]");
		out->min_effect = v;
	}
	return 0;
}

int policy_judge_to_json(const struct policy_judge *j, json_t *metric)
{
	if (!j->sequential)
		return 0;
	if (json_object_set_new(metric, "judge", json_string("sequential")) ||
	    json_object_set_new(metric, "alpha", json_real(j->alpha)) ||
	    json_object_set_new(metric, "min_effect", json_real(j->min_effect)))
		return -1;
	return 0;
}

bool policy_judge_equal(const struct policy_judge *a, const struct policy_judge *b)
{
	return a->sequential == b->sequential && a->alpha == b->alpha &&
	       a->min_effect == b->min_effect;
}
