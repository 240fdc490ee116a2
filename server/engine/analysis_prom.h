/*
 * analysis_prom.h - a stage's metrics read from Prometheus (docs/
 * telemetry.md "Gating on Prometheus"): their queries rendered for the
 * rollout, run together (prom_fetch.h), and turned into the value, baseline
 * and result analysis.c puts beside ramp's own metrics. Query errors count
 * per metric across passes (in the rollout's baseline_values, key
 * "~prometheus_errors"); the metric's consecutive_error_limit-th error in a
 * row gives up: the stage is inconclusive at once, never failing.
 */
#ifndef RAMP_ANALYSIS_PROM_H
#define RAMP_ANALYSIS_PROM_H

#include "app.h"
#include "domain/policy.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>

struct prom_eval {
	double value, base;  /* this pass's values, NAN when none */
	double baseline;     /* what a relative threshold compares with */
	bool have_baseline, decisive, give_up;
	int result;          /* 1 pass, 0 fail, -1 inconclusive */
	int errors;          /* consecutive errors after this pass */
	char query[PROM_QUERY_MAX], bquery[PROM_QUERY_MAX]; /* rendered; "" none */
	char note[320], bnote[320]; /* "" / "no data" / the error */
};

/* Fills ev[i] for each metric of stage with a provider (the others are left
 * alone); bvals (the rollout's baseline_values) is updated. */
void analysis_prom_run(struct app *app, const struct rollout_row *row, const struct policy *p,
		       int stage, json_t *bvals, struct prom_eval *ev);

#endif
