/*
 * analysis_prom.c - Prometheus metrics of a stage (analysis_prom.h).
 */
#include "engine/analysis_prom.h"

#include "engine/prom_fetch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRORS_KEY "~prometheus_errors" /* not a valid metric name: no clash */

static void error_key(int stage, const char *name, char *key, size_t n)
{
	snprintf(key, n, "%d:%s", stage, name);
}

/* Renders both queries of m; -1 (with the note) when a template does not fit. */
static int render(const struct rollout_row *row, const struct policy *p, int stage,
		  const struct prom_provider *pv, struct prom_eval *e)
{
	char rid[32];
	struct prom_vars v = {row->model, row->version, row->has_baseline ? row->baseline : "",
			      p->stages[stage].name, rid};

	snprintf(rid, sizeof(rid), "%lld", (long long)row->id);
	if (prom_render(pv->query, &v, NULL, e->query, sizeof(e->query)) < 0) {
		snprintf(e->note, sizeof(e->note), "the rendered query is longer than %d bytes",
			 PROM_QUERY_MAX - 1);
		return -1;
	}
	if (pv->baseline_query[0])
		prom_render(pv->baseline_query, &v, NULL, e->bquery, sizeof(e->bquery));
	else if (row->has_baseline)
		prom_render(pv->query, &v, row->baseline, e->bquery, sizeof(e->bquery));
	return 0;
}

static void judge(const struct policy_metric *pm, const struct prom_provider *pv,
		  const struct prom_req *cq, const struct prom_req *bq, int stage, json_t *bvals,
		  struct prom_eval *e)
{
	json_t *errs = json_object_get(bvals, ERRORS_KEY);
	json_t *stored = json_object_get(bvals, pm->name);
	bool relative = pm->threshold.kind != THRESHOLD_ABSOLUTE;
	const struct prom_req *failed = NULL;
	char key[96];

	error_key(stage, pm->name, key, sizeof(key));
	if (!json_is_object(errs)) {
		errs = json_object();
		json_object_set_new(bvals, ERRORS_KEY, errs);
	}
	if (bq && bq->outcome == PROM_VALUE) {
		e->base = bq->value;
		e->baseline = bq->value;
		e->have_baseline = isfinite(bq->value);
		if (e->have_baseline)
			json_object_set_new(bvals, pm->name, json_real(bq->value));
	} else if (json_is_number(stored)) {
		e->baseline = json_number_value(stored);
		e->have_baseline = true;
	}
	if (bq && bq->outcome != PROM_VALUE)
		snprintf(e->bnote, sizeof(e->bnote), "%s", bq->why);
	if (cq->outcome == PROM_ERROR)
		failed = cq;
	else if (bq && bq->outcome == PROM_ERROR && relative && !e->have_baseline)
		failed = bq;
	if (failed) {
		json_t *n = json_object_get(errs, key);
		e->errors = (int)json_integer_value(n) + 1;
		e->give_up = e->errors >= pv->error_limit;
		snprintf(e->note, sizeof(e->note), "%s query failed (%d of %d in a row): %.255s",
			 failed == cq ? "the" : "the baseline", e->errors, pv->error_limit,
			 failed->why);
		/* giving up acts once; the count starts over after it */
		json_object_set_new(errs, key, json_integer(e->give_up ? 0 : e->errors));
		e->result = -1;
		return;
	}
	json_object_del(errs, key);
	if (cq->outcome == PROM_NODATA) {
		snprintf(e->note, sizeof(e->note), "%s", cq->why);
		e->result = -1;
		return;
	}
	e->value = cq->value;
	e->decisive = true;
	e->result = threshold_eval(&pm->threshold, cq->value, e->baseline, e->have_baseline);
	if (e->result < 0)
		snprintf(e->note, sizeof(e->note), "no baseline value");
}

void analysis_prom_run(struct app *app, const struct rollout_row *row, const struct policy *p,
		       int stage, json_t *bvals, struct prom_eval *ev)
{
	const struct policy_stage *st = &p->stages[stage];
	struct prom_req *reqs = calloc(2 * st->nmetrics + 1, sizeof(*reqs));
	int cidx[POLICY_MAX_METRICS], bidx[POLICY_MAX_METRICS];
	size_t n = 0;

	for (size_t i = 0; i < st->nmetrics; i++) {
		const struct prom_provider *pv = policy_metric_prom(p, &st->metrics[i]);
		struct prom_eval *e = &ev[i];

		cidx[i] = bidx[i] = -1;
		if (pv == NULL)
			continue;
		memset(e, 0, sizeof(*e));
		e->value = e->base = e->baseline = NAN;
		e->result = -1;
		if (reqs == NULL) {
			snprintf(e->note, sizeof(e->note), "out of memory");
			continue;
		}
		if (render(row, p, stage, pv, e) < 0)
			continue;
		reqs[n] = (struct prom_req){.pv = pv, .query = e->query};
		cidx[i] = (int)n++;
		if (e->bquery[0]) {
			reqs[n] = (struct prom_req){.pv = pv, .query = e->bquery};
			bidx[i] = (int)n++;
		}
	}
	if (n > 0)
		prom_fetch_all(reqs, n, app->cfg.prom_secrets_dir);
	for (size_t i = 0; i < st->nmetrics; i++)
		if (cidx[i] >= 0)
			judge(&st->metrics[i], policy_metric_prom(p, &st->metrics[i]), &reqs[cidx[i]],
			      bidx[i] >= 0 ? &reqs[bidx[i]] : NULL, stage, bvals, &ev[i]);
	free(reqs);
}
