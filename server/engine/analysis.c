/*
 * analysis.c - arms, metric values and the stage verdict.
 *
 * A metric is decisive once its own data meets the stage's min_devices and
 * min_samples (install_failure_rate counts install outcomes instead of
 * requests: each assigned device's latest outcome since the stage began,
 * where telemetry is read over the sliding window). One decisive failure makes the verdict FAIL at once; PASS
 * needs every metric decisive and passing; anything else is INCONCLUSIVE.
 */
#include "engine/analysis.h"
#include "engine/analysis_int.h"

#include "common/hash.h"
#include "common/log.h"
#include "domain/judge.h"
#include "engine/analysis_prom.h"
#include "domain/slo.h"
#include "domain/telemetry.h"
#include "store/store_variants.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VARIANTS 16

struct scan_ctx {
	const char *version, *baseline;
	const struct strmap *assigned, *target;
	struct strmap *variant_of; /* device id -> index + 1 into v; NULL: one arm set */
	struct arms all;	  /* every device: the stage's pooled verdict */
	struct arms v[MAX_VARIANTS]; /* per platform, fed when split */
	size_t nv;
	bool split;		  /* canary devices on more than one platform */
	const json_t *back;	  /* platforms a per-variant rollback sent back */
	bool judged;
	bool shadow; /* a shadow stage: the canary is its devices' shadow runs */
	double slo_from, drift_until;
};

static void arms_free(struct arms *a)
{
	slo_arm_free(a->canary);
	slo_arm_free(a->base);
	judge_arm_free(a->jc);
	judge_arm_free(a->jb);
	judge_arm_free(a->dc);
	judge_arm_free(a->db);
	shadow_arm_free(a->shadow);
	memset(a, 0, sizeof(*a));
}

/* Fresh arms named name into *a: 0 or RAMP_ENOMEM (a freed by arms_free). */
static int arms_init(const struct scan_ctx *s, struct arms *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->canary = slo_arm_new();
	a->base = slo_arm_new();
	if (s->judged) {
		a->jc = judge_arm_new();
		a->jb = judge_arm_new();
		a->dc = judge_arm_new();
		a->db = judge_arm_new();
	}
	if (s->shadow)
		a->shadow = shadow_arm_new();
	if (!a->canary || !a->base || (s->judged && (!a->jc || !a->jb || !a->dc || !a->db)) ||
	    (s->shadow && !a->shadow))
		return RAMP_ENOMEM;
	return 0;
}

static bool platform_in(const json_t *list, const char *platform)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), platform) == 0)
			return true;
	return false;
}

/* store_device_platforms(): every device of the stage's sets joins the arm
 * set of its platform (the last one takes what does not fit) */
static int on_platform(void *ctx, const char *id, const char *platform)
{
	struct scan_ctx *s = ctx;
	bool canary = strmap_get(s->assigned, id) != NULL;
	size_t i;
	int rc;

	if (!canary && !strmap_get(s->target, id))
		return 0;
	for (i = 0; i < s->nv && strcmp(s->v[i].name, platform) != 0; i++)
		;
	if (i == s->nv && s->nv == MAX_VARIANTS)
		i = MAX_VARIANTS - 1;
	else if (i == s->nv) {
		if ((rc = arms_init(s, &s->v[s->nv], platform)) != 0)
			return rc;
		s->v[s->nv++].back = platform_in(s->back, platform);
	}
	s->v[i].ncanary += canary;
	return strmap_set(s->variant_of, id, (void *)(uintptr_t)(i + 1));
}

/* The variant's arms of a device when the analysis is split, else NULL. */
static struct arms *arms_of(const struct scan_ctx *s, const char *device_id)
{
	uintptr_t at;

	if (!s->split || s->variant_of == NULL)
		return NULL;
	at = (uintptr_t)strmap_get(s->variant_of, device_id);
	return at ? (struct arms *)&s->v[at - 1] : NULL;
}

static int arms_feed(const struct scan_ctx *s, struct arms *a, bool canary,
		     const struct telemetry_report *r)
{
	struct judge_arm *j = canary ? a->jc : a->jb, *d = canary ? a->dc : a->db;
	int rc = 0;

	if (j)
		rc = judge_arm_add(j, r);
	if (rc == 0 && d && r->ts < s->drift_until)
		rc = judge_arm_add(d, r);
	if (rc == 0 && r->ts >= s->slo_from)
		rc = slo_arm_add(canary ? a->canary : a->base, r);
	return rc;
}

static int on_report(void *ctx, const struct telemetry_report *r)
{
	struct scan_ctx *s = ctx;
	struct arms *a;
	int rc = 0;
	bool canary;
	uintptr_t at;

	if (s->shadow) {
		/* what the canary devices ran beside the model they serve */
		if (!analysis_shadow_report(r, s->version) || r->ts < s->slo_from ||
		    !strmap_get(s->assigned, r->device_id))
			return 0;
		rc = shadow_arm_add(s->all.shadow, r);
		if (rc == 0 && (a = arms_of(s, r->device_id)) != NULL)
			rc = shadow_arm_add(a->shadow, r);
		return rc;
	}
	if (strcmp(r->version, s->version) == 0)
		canary = true;
	else if (s->baseline && strcmp(r->version, s->baseline) == 0)
		canary = false;
	else
		return 0;
	if (!strmap_get(canary ? s->assigned : s->target, r->device_id))
		return 0;
	/* a variant sent back to the baseline: its canary reports are history,
	 * not the version's health on the variants that go on */
	if (canary && s->variant_of &&
	    (at = (uintptr_t)strmap_get(s->variant_of, r->device_id)) != 0 && s->v[at - 1].back)
		return 0;
	rc = arms_feed(s, &s->all, canary, r);
	if (rc == 0 && (a = arms_of(s, r->device_id)) != NULL)
		rc = arms_feed(s, a, canary, r);
	return rc;
}

void analysis_result_clear(struct analysis_result *r)
{
	json_decref(r->rows);
	json_decref(r->baseline_values);
	json_decref(r->variants_back);
	memset(r, 0, sizeof(*r));
}

static int fill_arms(struct app *app, const struct rollout_row *row, double from, double to,
		     struct scan_ctx *s)
{
	const char *versions[2] = {row->version, row->baseline};
	json_t *outcomes = NULL, *o;
	size_t i;
	/* a shadow run is reported with whatever version its device serves */
	int rc = store_telemetry_scan(app->db, row->model, versions,
				      s->shadow ? 0 : row->has_baseline ? 2 : 1, from, to, on_report, s);

	if (rc)
		return rc;
	/* a device installs once per stage: its outcome counts for the whole
	 * stage, not only while it is inside the sliding window (a late or
	 * extended evaluation would otherwise never see it again) */
	rc = store_install_outcomes(app->db, row->model, row->version,
				    (double)row->stage_started_at, to, &outcomes);
	json_array_foreach(outcomes, i, o) {
		const char *dev = json_string_value(json_object_get(o, "device_id"));
		struct arms *a = dev ? arms_of(s, dev) : NULL;
		bool failed = json_is_true(json_object_get(o, "failed"));
		if (rc == 0 && dev && strmap_get(s->assigned, dev))
			rc = slo_arm_add_install(s->all.canary, dev, failed);
		if (rc == 0 && a && strmap_get(s->assigned, dev))
			rc = slo_arm_add_install(a->canary, dev, failed);
	}
	json_decref(outcomes);
	return rc;
}

struct verdict_acc {
	bool all_decisive, any_fail, all_pass;
	bool early; /* every gate may pass before the window's end */
	bool per_variant; /* rollback.per_variant: a variant's failure sends it back */
};

/* The detail line, prefixed with the variant when it is about one. */
__attribute__((format(printf, 4, 5))) static void detail(struct analysis_result *out,
							 const struct verdict_acc *acc,
							 const char *variant, const char *fmt, ...)
{
	char *d = out->verdict.detail;
	size_t n = 0;
	va_list ap;

	d[0] = '\0';
	if (variant[0]) {
		snprintf(d, sizeof(out->verdict.detail), "variant %.60s: ", variant);
		n = strlen(d);
	}
	va_start(ap, fmt);
	vsnprintf(d + n, sizeof(out->verdict.detail) - n, fmt, ap);
	va_end(ap);
}

/* A metric read from Prometheus: its two rows (with the rendered queries
 * and what went wrong) and its part of the verdict. Pooled only: the query
 * is the policy's, not a variant's. */
static void prom_metric(struct analysis_result *out, int stage, const struct policy_metric *pm,
			const struct prom_eval *e, struct verdict_acc *acc)
{
	struct rollout_analysis *v = &out->verdict;
	json_t *base = e->have_baseline ? analysis_num(e->baseline) : json_null();

	json_array_append_new(out->rows,
			      json_pack("{s:i, s:s, s:s, s:o, s:s, s:O, s:i, s:i, s:s, s:s, s:s?}",
					"stage", stage, "metric", pm->name, "arm", "canary",
					"value", analysis_num(e->value), "threshold", pm->text, "baseline",
					base, "samples", e->decisive ? 1 : 0, "devices", 0,
					"result", analysis_result_name(e->result, e->decisive), "query",
					e->query, "note", e->note[0] ? e->note : NULL));
	json_array_append_new(out->rows,
			      json_pack("{s:i, s:s, s:s, s:o, s:s, s:O, s:i, s:i, s:s, s:s?, s:s?}",
					"stage", stage, "metric", pm->name, "arm", "baseline",
					"value", analysis_num(e->base), "threshold", pm->text, "baseline",
					base, "samples", isnan(e->base) ? 0 : 1, "devices", 0,
					"result", "info", "query", e->bquery[0] ? e->bquery : NULL,
					"note", e->bnote[0] ? e->bnote : NULL));
	json_decref(base);
	acc->all_decisive &= e->decisive;
	acc->all_pass &= e->decisive && e->result == 1;
	if (e->decisive && e->result == 0 && !acc->any_fail) {
		acc->any_fail = true;
		v->give_up = false;
		snprintf(v->detail, sizeof(v->detail),
			 "%s %.6g breaches %s (prometheus; baseline %s%.6g; query %s)", pm->name,
			 e->value, pm->text, e->have_baseline ? "" : "none ",
			 e->have_baseline ? e->baseline : 0.0, e->query);
	} else if (e->give_up && !acc->any_fail && !v->give_up) {
		v->give_up = true;
		snprintf(v->detail, sizeof(v->detail), "%s: %s; query %s", pm->name, e->note,
			 e->query);
	} else if (e->result != 1 && v->detail[0] == '\0' && !acc->any_fail) {
		snprintf(v->detail, sizeof(v->detail), "%s: %s (prometheus; query %s)", pm->name,
			 e->note[0] ? e->note : "no value", e->query);
	}
}

/* rollback.per_variant: the variant goes back to the baseline (once, with
 * its first failing metric's reason), the stage goes on without it */
static void variant_back(struct analysis_result *out, const char *variant,
			 const struct policy_metric *pm, const struct metric_eval *e)
{
	char d[400];
	size_t i;
	json_t *v;

	if (out->variants_back == NULL && (out->variants_back = json_array()) == NULL)
		return;
	json_array_foreach(out->variants_back, i, v)
		if (strcmp(json_string_value(json_object_get(v, "variant")), variant) == 0)
			return;
	if (e->judged)
		snprintf(d, sizeof(d), "variant %s: %s fails the sequential judge: %s (p %.3g; %lld "
			 "samples, %lld devices)",
			 variant, metric_name(pm->metric), e->j.why, e->j.p_value,
			 (long long)e->canary.samples, (long long)e->canary.devices);
	else
		snprintf(d, sizeof(d), "variant %s: %s %.6g breaches %s (%lld samples, %lld devices)",
			 variant, metric_name(pm->metric), e->canary.value, pm->text,
			 (long long)e->canary.samples, (long long)e->canary.devices);
	snprintf(d + strlen(d), sizeof(d) - strlen(d),
		 "; per_variant: its devices go back to the baseline, the other variants go on");
	json_array_append_new(out->variants_back,
			      json_pack("{s:s, s:s}", "variant", variant, "detail", d));
}

/*
 * Every metric of the stage on one set of arms: the pooled ones (variant
 * false), which decide as they always did, or one variant's, which can only
 * fail the stage or hold back its pass: a variant too small to decide on its
 * own (min_devices, min_samples, too few devices for the judge) is covered
 * by the pooled verdict.
 */
static void eval_variant(const struct rollout_row *row, const struct policy_stage *st,
			 struct arms *a, bool variant, int64_t now, double slo_from,
			 const struct prom_eval *pe, struct verdict_acc *acc,
			 struct analysis_result *out)
{
	const char *vname = variant ? a->name : "";

	for (size_t i = 0; i < st->nmetrics; i++) {
		const struct policy_metric *pm = &st->metrics[i];
		struct metric_eval e;
		if (pm->prom > 0) {
			if (!variant)
				prom_metric(out, row->stage, pm, &pe[i], acc);
			acc->early = false;
			continue;
		}
		if (metric_is_shadow(pm->metric))
			analysis_shadow_metric(st, pm, a, &e);
		else if (pm->judge.sequential)
			analysis_judge_metric(row, st, pm, a, &e);
		else
			analysis_eval_metric(st, pm, a->canary, a->base, (double)(now - (int64_t)slo_from),
				    out->baseline_values, &e);
		json_array_append_new(out->rows, analysis_row_json(row->stage, pm, "canary", e.canary, &e,
							  analysis_result_name(e.result, e.decisive), vname));
		json_array_append_new(out->rows, analysis_row_json(row->stage, pm, "baseline", e.base, &e,
							  "info", vname));
		if (variant) {
			acc->all_pass &= !e.decisive || e.result == 1;
			if (!(e.decisive && e.result == 0))
				continue; /* only a variant's failure is news */
			if (acc->per_variant) {
				variant_back(out, vname, pm, &e);
				continue;
			}
		} else {
			/* an early pass: only the always-valid judges (drift is
			 * decided at checkpoints, thresholds at the window's end) */
			acc->early &= e.judged && pm->metric != METRIC_CONFIDENCE_SHIFT &&
				      e.canary.devices >= st->min_devices &&
				      e.canary.samples >= st->min_samples;
			acc->all_decisive &= e.decisive;
			acc->all_pass &= e.decisive && e.result == 1;
		}
		if (e.judged && e.result == 0 && !acc->any_fail) {
			acc->any_fail = true;
			detail(out, acc, vname,
			       "%s fails the sequential judge: %s (p %.3g; %lld samples, %lld devices)",
			       metric_name(pm->metric), e.j.why, e.j.p_value,
			       (long long)e.canary.samples, (long long)e.canary.devices);
		} else if (e.judged && e.result == -1 && !acc->all_pass &&
			   out->verdict.detail[0] == '\0' && !acc->any_fail) {
			detail(out, acc, vname, "%s: inconclusive: %s", metric_name(pm->metric),
			       e.j.why);
		} else if (e.judged) {
			/* a pass: nothing to say in the verdict line */
		} else if (e.decisive && e.result == 0 && !acc->any_fail) {
			char base[64];
			acc->any_fail = true;
			/* an absolute threshold needs no baseline: say there was none
			 * rather than print "nan" */
			if (e.have_baseline && !isnan(e.baseline))
				snprintf(base, sizeof(base), "baseline %.6g", e.baseline);
			else
				snprintf(base, sizeof(base), "baseline: no data");
			detail(out, acc, vname, "%s %.6g breaches %s%s (%s; %lld samples, %lld devices)",
			       metric_name(pm->metric), e.canary.value, pm->text, e.note, base,
			       (long long)e.canary.samples, (long long)e.canary.devices);
		} else if (!acc->all_pass && out->verdict.detail[0] == '\0' && !acc->any_fail) {
			detail(out, acc, vname, "%s: %s (%lld samples, %lld devices%s)",
			       metric_name(pm->metric),
			       !e.decisive ? "not enough data"
					   : (e.have_baseline ? "no value" : "no baseline value"),
			       (long long)e.canary.samples, (long long)e.canary.devices,
			       e.have_baseline ? "" : ", no baseline");
		}
	}
}

int analysis_run(struct app *app, const struct rollout_row *row, const struct policy *p,
		 int64_t now, const struct strmap *assigned, const struct strmap *target,
		 struct analysis_result *out)
{
	const struct policy_stage *st = &p->stages[row->stage];
	int64_t from = now - st->window_s;
	struct scan_ctx s;
	struct verdict_acc acc = {true, false, true, true, p->rollback_per_variant};
	struct prom_eval *pe = NULL;
	size_t nactive = 0, nprom = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	s.version = row->version;
	s.baseline = row->has_baseline ? row->baseline : NULL;
	s.assigned = assigned;
	s.target = target;
	s.shadow = st->shadow;
	s.back = row->variants_back;
	if (from < row->stage_started_at)
		from = row->stage_started_at;
	s.slo_from = (double)from;
	for (size_t i = 0; i < st->nmetrics; i++)
		s.judged |= st->metrics[i].judge.sequential;
	if (s.judged) {
		/* drift is decided at JUDGE_DRIFT_LOOKS checkpoints a window, the
		 * k-th at k * window / JUDGE_DRIFT_LOOKS (so the last one is the
		 * window's end): on the data before the latest one, so every
		 * evaluation between two checkpoints sees the same data and the
		 * looks stay counted */
		int64_t w = st->window_s > 0 ? st->window_s : 1;
		int64_t k = (now - row->stage_started_at) * JUDGE_DRIFT_LOOKS / w;
		s.drift_until = (double)(row->stage_started_at + k * w / JUDGE_DRIFT_LOOKS);
		from = row->stage_started_at; /* the judge reads the whole stage */
	}
	out->rows = json_array();
	out->baseline_values = json_deep_copy(row->baseline_values ? row->baseline_values
								   : json_object());
	out->verdict.evaluated = true;
	/* the arms per platform: a regression in one variant must not be
	 * hidden by another's healthy traffic */
	if (st->nmetrics) {
		s.variant_of = strmap_new();
		rc = s.variant_of ? store_device_platforms(app->db, on_platform, &s) : RAMP_ENOMEM;
	}
	for (size_t i = 0; i < s.nv; i++)
		nactive += s.v[i].ncanary > 0 && !s.v[i].back;
	s.split = nactive > 1;
	if (rc == 0)
		rc = arms_init(&s, &s.all, "");
	for (size_t i = 0; i < st->nmetrics; i++)
		nprom += st->metrics[i].prom > 0;
	if (rc == 0 && nprom > 0) {
		/* the PromQL metrics, side by side (analysis_prom.c) */
		if ((pe = calloc(st->nmetrics, sizeof(*pe))) == NULL)
			rc = RAMP_ENOMEM;
		else
			analysis_prom_run(app, row, p, row->stage, out->baseline_values, pe);
	}
	if (rc == 0 && st->nmetrics > nprom)
		rc = fill_arms(app, row, (double)from, (double)now + 1, &s);
	if (rc)
		goto out;
	eval_variant(row, st, &s.all, false, now, s.slo_from, pe, &acc, out);
	for (size_t i = 0; s.split && i < s.nv; i++)
		if (s.v[i].ncanary > 0 && !s.v[i].back)
			eval_variant(row, st, &s.v[i], true, now, s.slo_from, NULL, &acc, out);
	out->verdict.give_up &= !acc.any_fail;
	out->verdict.enough_data = acc.any_fail || acc.all_decisive;
	out->verdict.early_pass = acc.early && st->nmetrics > 0 && !acc.any_fail && acc.all_pass;
	out->verdict.verdict = acc.any_fail ? VERDICT_FAIL
			       : acc.all_pass ? VERDICT_PASS
					      : VERDICT_INCONCLUSIVE;
out:
	free(pe);
	arms_free(&s.all);
	for (size_t i = 0; i < s.nv; i++)
		arms_free(&s.v[i]);
	strmap_free(s.variant_of);
	if (rc)
		analysis_result_clear(out);
	return rc;
}

json_t *analysis_capture_baseline(struct app *app, const char *model, const char *version,
				  const struct policy *p, const struct strmap *target,
				  int64_t now)
{
	struct strmap *none = strmap_new();
	struct scan_ctx s;
	const char *versions[1] = {version};
	json_t *out = json_object();
	double window = (double)p->stages[0].window_s;

	memset(&s, 0, sizeof(s));
	s.version = "";
	s.baseline = version;
	s.assigned = none;
	s.target = target;
	s.slo_from = (double)now - window;
	if (none && arms_init(&s, &s.all, "") == 0 &&
	    store_telemetry_scan(app->db, model, versions, 1, (double)now - window,
				 (double)now + 1, on_report, &s) == 0) {
		for (size_t k = 0; k < p->nstages; k++)
			for (size_t i = 0; i < p->stages[k].nmetrics; i++) {
				enum metric_id m = p->stages[k].metrics[i].metric;
				if (p->stages[k].metrics[i].prom > 0)
					continue; /* read from Prometheus at each pass */
				struct slo_value v = slo_arm_value(s.all.base, m, window, NULL);
				if (!isnan(v.value) && m != METRIC_CONFIDENCE_SHIFT)
					json_object_set_new(out, metric_name(m), json_real(v.value));
			}
	}
	strmap_free(none);
	arms_free(&s.all);
	return out;
}
