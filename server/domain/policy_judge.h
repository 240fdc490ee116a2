/*
 * policy_judge.h - a policy metric's `judge` block (docs/judge.md):
 *
 *   - name: error_rate
 *     judge: sequential     # "threshold" (the default) or "sequential"
 *     alpha: 0.05           # false-rollback rate, (0, 0.5]; default 0.05
 *     min_effect: 0.5       # smallest regression that matters: +50% odds
 *                           # (rates), +20% (latency), JS bits (drift)
 *
 * A sequential metric has no threshold: the statistical test decides. It is
 * offered for error_rate, inference_latency_p50/p95/p99 and
 * confidence_shift. Kept apart from policy.c so the block parses, prints and
 * compares on its own.
 */
#ifndef RAMP_POLICY_JUDGE_H
#define RAMP_POLICY_JUDGE_H

#include "common/err.h"
#include "domain/metric.h"

#include <jansson.h>
#include <stdbool.h>

struct policy_judge {
	bool sequential;
	double alpha;	   /* 0 when not sequential */
	double min_effect; /* 0 when not sequential */
};

/* The metric object's keys this block owns, for the unknown-field check. */
#define POLICY_JUDGE_KEYS "judge", "alpha", "min_effect"

/* Reads the block of metric object jm at path (e.g. "stages[0].metrics[1]")
 * for metric m. 0, or RAMP_EINVAL with err naming the field. */
int policy_judge_parse(const json_t *jm, const char *path, enum metric_id m,
		       struct policy_judge *out, struct ramp_err *err);

/* Adds the block's keys to the metric object (nothing for the default).
 * 0, or -1 when out of memory. */
int policy_judge_to_json(const struct policy_judge *j, json_t *metric);

bool policy_judge_equal(const struct policy_judge *a, const struct policy_judge *b);

/* The default min_effect of a sequential judge on metric m. */
double policy_judge_default_effect(enum metric_id m);

#endif
