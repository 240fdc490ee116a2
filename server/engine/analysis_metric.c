/*
 * analysis_metric.c - one metric on one set of arms: its value, its verdict
 * (a threshold on the sliding window, or the sequential judge on the whole
 * stage) and the two rows the analysis shows for it.
 */
#include "engine/analysis_int.h"

#include "common/hash.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

json_t *analysis_num(double v)
{
	return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

struct worst {
	const struct policy_metric *pm;
	double base;
	bool have_base;
	int result; /* 1 pass, 0 fail, -1 inconclusive */
	const char *device;
	double value;
};

static void on_device(void *ctx, const char *device_id, struct slo_value v)
{
	struct worst *w = ctx;
	int res;

	if (isnan(v.value))
		return;
	res = threshold_eval(&w->pm->threshold, v.value, w->base, w->have_base);
	if (res == 0 && w->result != 0) {
		w->result = 0;
		w->device = device_id;
		w->value = v.value;
	}
}


/* A sequential metric: the judge decides on the whole stage's data. */
void analysis_judge_metric(const struct rollout_row *row, const struct policy_stage *st,
			 const struct policy_metric *pm, const struct arms *s,
			 struct metric_eval *e)
{
	struct judge_params jp = {pm->judge.alpha, pm->judge.min_effect, st->min_devices,
				  st->min_samples,
				  hash_fnv1a_str(HASH_FNV1A_BASIS, row->version) ^
					  (uint64_t)row->stage_started_at,
				  JUDGE_DRIFT_LOOKS};
	struct judge_result *j = &e->j;

	e->judged = true;
	switch (pm->metric) {
	case METRIC_ERROR_RATE:
		judge_error_rate(s->jc, s->jb, &jp, j);
		break;
	case METRIC_CONFIDENCE_SHIFT:
		judge_drift(s->dc, s->db, &jp, j);
		break;
	default:
		judge_latency(s->jc, s->jb,
			      pm->metric == METRIC_LATENCY_P50   ? 0.5
			      : pm->metric == METRIC_LATENCY_P95 ? 0.95
								 : 0.99,
			      &jp, j);
		break;
	}
	e->canary = (struct slo_value){j->canary_value, (int64_t)j->samples[0],
				       (int64_t)j->devices[0]};
	e->base = (struct slo_value){j->baseline_value, (int64_t)j->samples[1],
				     (int64_t)j->devices[1]};
	if (pm->metric == METRIC_CONFIDENCE_SHIFT)
		e->canary.value = j->js;
	e->baseline = j->baseline_value;
	e->have_baseline = isfinite(j->baseline_value);
	e->decisive = j->result != -1;
	e->result = j->result;
}

void analysis_eval_metric(const struct policy_stage *st, const struct policy_metric *pm,
			struct slo_arm *canary, struct slo_arm *base, double window_s,
			json_t *bvals, struct metric_eval *e)
{
	const char *name = metric_name(pm->metric);
	json_t *stored = json_object_get(bvals, name);

	memset(e, 0, sizeof(*e));
	e->canary = slo_arm_value(canary, pm->metric, window_s,
				  pm->metric == METRIC_CONFIDENCE_SHIFT ? base : NULL);
	e->base = slo_arm_value(base, pm->metric, window_s, NULL);
	if (!isnan(e->base.value) && e->base.samples >= st->min_samples && e->base.devices >= 1) {
		e->baseline = e->base.value;
		e->have_baseline = true;
		if (pm->metric != METRIC_CONFIDENCE_SHIFT)
			json_object_set_new(bvals, name, json_real(e->base.value));
	} else if (json_is_number(stored)) {
		e->baseline = json_number_value(stored);
		e->have_baseline = true;
	}
	if (pm->metric == METRIC_INSTALL_FAILURE_RATE)
		e->decisive = e->canary.devices >= st->min_devices && e->canary.samples >= 1;
	else
		e->decisive = e->canary.devices >= st->min_devices &&
			      e->canary.samples >= st->min_samples;
	e->result = isnan(e->canary.value) ? -1
					   : threshold_eval(&pm->threshold, e->canary.value,
							    e->baseline, e->have_baseline);
	if (pm->scope == SCOPE_ANY_DEVICE && e->result != -1) {
		struct worst w = {pm, e->baseline, e->have_baseline, 1, NULL, 0};
		slo_arm_each_device_vs(canary, pm->metric, window_s,
				       pm->metric == METRIC_CONFIDENCE_SHIFT ? base : NULL, on_device,
				       &w);
		if (w.result == 0) {
			e->result = 0;
			snprintf(e->note, sizeof(e->note), " on device %s (%.4g)", w.device, w.value);
		}
	}
}

static json_t *row_json_any(int stage, const struct policy_metric *pm, const char *arm,
			    struct slo_value v, const struct metric_eval *e, const char *result)
{
	json_t *row;

	if (e->judged) {
		char text[64];
		snprintf(text, sizeof(text), "sequential (alpha %g, min_effect %g)",
			 pm->judge.alpha, pm->judge.min_effect);
		row = json_pack("{s:i, s:s, s:s, s:o, s:s, s:o, s:I, s:I, s:s}", "stage", stage,
				"metric", metric_name(pm->metric), "arm", arm, "value",
				analysis_num(v.value), "threshold", text, "baseline",
				e->have_baseline ? analysis_num(e->baseline) : json_null(), "samples",
				(json_int_t)v.samples, "devices", (json_int_t)v.devices, "result",
				result);
		if (row && strcmp(arm, "canary") == 0)
			json_object_set_new(row, "judge", judge_result_json(&e->j));
		return row;
	}
	return json_pack("{s:i, s:s, s:s, s:o, s:s, s:o, s:I, s:I, s:s}", "stage", stage, "metric",
			 metric_name(pm->metric), "arm", arm, "value", analysis_num(v.value), "threshold",
			 pm->text, "baseline", e->have_baseline ? analysis_num(e->baseline) : json_null(),
			 "samples", (json_int_t)v.samples, "devices", (json_int_t)v.devices, "result",
			 result);
}

/* The row, naming its variant when the analysis is split by platform. */
json_t *analysis_row_json(int stage, const struct policy_metric *pm, const char *arm,
			struct slo_value v, const struct metric_eval *e, const char *result,
			const char *variant)
{
	json_t *row = row_json_any(stage, pm, arm, v, e, result);

	if (row && variant[0])
		json_object_set_new(row, "variant", json_string(variant));
	return row;
}

const char *analysis_result_name(int res, bool decisive)
{
	if (res == 0 && decisive)
		return "fail";
	if (res == 1 && decisive)
		return "pass";
	return "inconclusive";
}

