/*
 * analysis.h - turns stored telemetry into the verdict the state machine
 * decides on (API.md "Arms"): the canary arm is reports from assigned
 * devices running the new version, the baseline arm reports from target
 * devices running the baseline version, both over
 * [max(stage start, now - validation_window), now]. Relative thresholds
 * fall back to the baseline value captured most recently for the rollout.
 */
#ifndef RAMP_ANALYSIS_H
#define RAMP_ANALYSIS_H

#include "app.h"
#include "common/strmap.h"
#include "domain/policy.h"
#include "domain/rollout.h"
#include "store/store.h"

struct analysis_result {
	struct rollout_analysis verdict;
	json_t *rows;            /* [{stage, metric, arm, value, threshold, baseline, samples, devices, result}] */
	json_t *baseline_values; /* row's values updated with fresh baseline figures */
	json_t *variants_back;   /* rollback.per_variant: [{variant, detail}] variants that
				    failed alone and go back to the baseline now; NULL: none */
};

/* Evaluates the current stage of row. assigned/target are sets of device ids.
 * On success the caller frees out with analysis_result_clear(). */
int analysis_run(struct app *app, const struct rollout_row *row, const struct policy *p,
		 int64_t now, const struct strmap *assigned, const struct strmap *target,
		 struct analysis_result *out);
void analysis_result_clear(struct analysis_result *r);

/* Baseline values ({metric: value}) of version's reports from target devices
 * in [now - window_s, now], for every metric the policy gates on. */
json_t *analysis_capture_baseline(struct app *app, const char *model, const char *version,
				  const struct policy *p, const struct strmap *target,
				  int64_t now);

#endif
