/*
 * analysis_int.h - what analysis.c and analysis_metric.c share: one
 * variant's arms and one metric's evaluation on them. Not for other files.
 */
#ifndef RAMP_ENGINE_ANALYSIS_INT_H
#define RAMP_ENGINE_ANALYSIS_INT_H

#include "domain/judge.h"
#include "domain/policy.h"
#include "domain/shadow.h"
#include "domain/slo.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>

/* One variant's arms (docs/judge.md "Verdicts per variant"): the devices of
 * one platform. The threshold metrics read the sliding window [slo_from,
 * now]; the sequential judge (jc, jb: NULL when no metric uses it) reads the
 * whole stage, which its always-valid test needs; drift (dc, db) the stage
 * up to its latest checkpoint. */
struct arms {
	char name[64];
	size_t ncanary; /* assigned devices of this variant */
	bool back;	/* sent back to the baseline (rollback.per_variant): not judged */
	struct slo_arm *canary, *base;
	struct judge_arm *jc, *jb, *dc, *db;
	struct shadow_arm *shadow; /* a shadow stage's canary runs; NULL otherwise */
};

struct metric_eval {
	struct slo_value canary, base;
	double baseline;
	bool have_baseline, decisive;
	int result;
	char note[96];
	bool judged; /* by the sequential judge: see j */
	struct judge_result j;
};

json_t *analysis_num(double v);
/* A sequential metric: the judge decides on the whole stage's data. */
void analysis_judge_metric(const struct rollout_row *row, const struct policy_stage *st,
			   const struct policy_metric *pm, const struct arms *s,
			   struct metric_eval *e);
/* A threshold metric on the sliding window's arms. */
void analysis_eval_metric(const struct policy_stage *st, const struct policy_metric *pm,
			  struct slo_arm *canary, struct slo_arm *base, double window_s,
			  json_t *bvals, struct metric_eval *e);
/* The row, naming its variant when the analysis is split by platform. */
json_t *analysis_row_json(int stage, const struct policy_metric *pm, const char *arm,
			  struct slo_value v, const struct metric_eval *e, const char *result,
			  const char *variant);
const char *analysis_result_name(int res, bool decisive);

/* Shadow stages (analysis_shadow.c): whether r carries a shadow run of
 * version, and a shadow_* metric on a's shadow arm. */
bool analysis_shadow_report(const struct telemetry_report *r, const char *version);
void analysis_shadow_metric(const struct policy_stage *st, const struct policy_metric *pm,
			    const struct arms *a, struct metric_eval *e);

#endif
