/*
 * analysis_shadow.c - a shadow stage's gates (docs/judge.md "Shadow runs"):
 * the canary devices keep serving the baseline and report, beside it, how
 * the candidate did on a share of the same requests. Those reports feed a
 * shadow arm (domain/shadow.h) per set of arms; a shadow_* metric is then
 * an absolute threshold on it, decisive like any other metric once
 * min_devices devices and min_samples shadow requests are behind it.
 */
#include "engine/analysis_int.h"

#include <math.h>
#include <string.h>

bool analysis_shadow_report(const struct telemetry_report *r, const char *version)
{
	return r->shadow_version[0] != '\0' && strcmp(r->shadow_version, version) == 0;
}

void analysis_shadow_metric(const struct policy_stage *st, const struct policy_metric *pm,
			    const struct arms *a, struct metric_eval *e)
{
	memset(e, 0, sizeof(*e));
	e->canary = shadow_arm_value(a->shadow, pm->metric);
	e->base = (struct slo_value){NAN, 0, 0};
	e->baseline = NAN;
	e->decisive = e->canary.devices >= st->min_devices && e->canary.samples >= st->min_samples;
	e->result = isnan(e->canary.value)
			    ? -1
			    : threshold_eval(&pm->threshold, e->canary.value, NAN, false);
	if (e->decisive && e->result == 0)
		strcpy(e->note, " in the shadow run");
}
