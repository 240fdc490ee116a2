/*
 * judge.c - see judge.h; the method and its measured behaviour are in
 * docs/judge.md.
 */
#include "domain/judge.h"

#include "common/err.h"
#include "common/strmap.h"
#include "domain/slo.h"
#include "domain/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NB TELEMETRY_HIST_MAX

struct jdev {
	double requests, errors;
	double *conf; /* nconf + 1 counts, or NULL */
	double *lat;  /* nlat + 1 counts, or NULL */
};

struct judge_arm {
	struct strmap *index; /* id -> position + 1 */
	struct jdev *devs;
	size_t ndevs, cap;
	size_t nlat, nconf; /* bounds; 0 = no layout yet */
	bool lat_set, conf_set;
	double lat_bounds[NB], conf_bounds[NB];
	double lat[NB + 1], conf[NB + 1];
	double requests, errors;
};

struct judge_arm *judge_arm_new(void)
{
	struct judge_arm *a = calloc(1, sizeof(*a));

	if (a && (a->index = strmap_new()) == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

void judge_arm_free(struct judge_arm *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->ndevs; i++) {
		free(a->devs[i].conf);
		free(a->devs[i].lat);
	}
	free(a->devs);
	strmap_free(a->index);
	free(a);
}

size_t judge_arm_devices(const struct judge_arm *a)
{
	return a->ndevs;
}

void judge_arm_set_layout(struct judge_arm *a, const double *lat_bounds, size_t nlat,
			  const double *conf_bounds, size_t nconf)
{
	if (lat_bounds && nlat && nlat < NB) {
		memcpy(a->lat_bounds, lat_bounds, nlat * sizeof(double));
		a->nlat = nlat;
		a->lat_set = true;
	}
	if (conf_bounds && nconf && nconf < NB) {
		memcpy(a->conf_bounds, conf_bounds, nconf * sizeof(double));
		a->nconf = nconf;
		a->conf_set = true;
	}
}

static struct jdev *device(struct judge_arm *a, const char *id)
{
	uintptr_t at = (uintptr_t)strmap_get(a->index, id);

	if (at)
		return &a->devs[at - 1];
	if (a->ndevs == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct jdev *d = realloc(a->devs, cap * sizeof(*d));
		if (d == NULL)
			return NULL;
		a->devs = d;
		a->cap = cap;
	}
	if (strmap_set(a->index, id, (void *)(uintptr_t)(a->ndevs + 1)))
		return NULL;
	memset(&a->devs[a->ndevs], 0, sizeof(a->devs[0]));
	return &a->devs[a->ndevs++];
}

int judge_arm_add_counts(struct judge_arm *a, const char *id, double requests, double errors,
			 const double *lat, const double *conf)
{
	struct jdev *d = device(a, id);

	if (d == NULL)
		return RAMP_ENOMEM;
	if (conf && a->conf_set && d->conf == NULL &&
	    (d->conf = calloc(a->nconf + 1, sizeof(double))) == NULL)
		return RAMP_ENOMEM;
	if (lat && a->lat_set && d->lat == NULL &&
	    (d->lat = calloc(a->nlat + 1, sizeof(double))) == NULL)
		return RAMP_ENOMEM;
	d->requests += requests > 0 ? requests : 0;
	d->errors += errors > 0 ? errors : 0;
	a->requests += requests > 0 ? requests : 0;
	a->errors += errors > 0 ? errors : 0;
	for (size_t i = 0; lat && d->lat && i <= a->nlat; i++) {
		double l = lat[i] > 0 ? lat[i] : 0;
		d->lat[i] += l;
		a->lat[i] += l;
	}
	for (size_t i = 0; conf && d->conf && i <= a->nconf; i++) {
		double c = conf[i] > 0 ? conf[i] : 0;
		d->conf[i] += c;
		a->conf[i] += c;
	}
	return 0;
}

static bool same_layout(const double *have, size_t n, const double *b, size_t nb)
{
	return n == nb && memcmp(have, b, n * sizeof(double)) == 0;
}

int judge_arm_add(struct judge_arm *a, const struct telemetry_report *r)
{
	double lat[NB + 1], conf[NB + 1];
	bool use_lat = false, use_conf = false;

	if (r->lat_nbounds) {
		if (!a->lat_set)
			judge_arm_set_layout(a, r->lat_bounds, r->lat_nbounds, NULL, 0);
		use_lat = same_layout(a->lat_bounds, a->nlat, r->lat_bounds, r->lat_nbounds);
		for (size_t i = 0; use_lat && i <= r->lat_nbounds; i++)
			lat[i] = (double)r->lat_counts[i];
	}
	if (r->conf_nbounds) {
		if (!a->conf_set)
			judge_arm_set_layout(a, NULL, 0, r->conf_bounds, r->conf_nbounds);
		use_conf = same_layout(a->conf_bounds, a->nconf, r->conf_bounds, r->conf_nbounds);
		for (size_t i = 0; use_conf && i <= r->conf_nbounds; i++)
			conf[i] = (double)r->conf_counts[i];
	}
	return judge_arm_add_counts(a, r->device_id, (double)r->requests, (double)r->errors,
				    use_lat ? lat : NULL, use_conf ? conf : NULL);
}

static void start(struct judge_result *r, const char *test, const struct judge_arm *c,
		  const struct judge_arm *b)
{
	memset(r, 0, sizeof(*r));
	r->result = -1;
	r->test = test;
	r->statistic = r->p_value = r->lr = r->effect = r->lo = r->hi = NAN;
	r->canary_value = r->baseline_value = r->p50_shift = r->p95_shift = NAN;
	r->psi = r->js = r->ks = r->ks_p = r->se = NAN;
	r->samples[0] = c->requests;
	r->samples[1] = b->requests;
	r->devices[0] = (double)c->ndevs;
	r->devices[1] = (double)b->ndevs;
}

static double alpha_of(const struct judge_params *p)
{
	return p->alpha > 0 && p->alpha < 1 ? p->alpha : JUDGE_DEFAULT_ALPHA;
}

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/*
 * events/trials of the devices with trials. A device's weight is capped at
 * JUDGE_CHATTY_CAP times the median device's requests (its errors scaled
 * with it): one chatty device counts as a few ordinary ones, not as the arm.
 */
static int rate_of(const struct judge_arm *a, struct stats_rate *out)
{
	double *e = malloc((a->ndevs + 1) * sizeof(double));
	double *n = malloc((a->ndevs + 1) * sizeof(double));
	size_t k = 0;
	int rc = -1;

	if (e && n) {
		for (size_t i = 0; i < a->ndevs; i++)
			if (a->devs[i].requests > 0) {
				e[k] = a->devs[i].errors;
				n[k++] = a->devs[i].requests;
			}
		if (k > 0) {
			double cap;
			memcpy(e, n, k * sizeof(double));
			qsort(e, k, sizeof(double), dbl_cmp);
			cap = JUDGE_CHATTY_CAP * (k % 2 ? e[k / 2] : (e[k / 2 - 1] + e[k / 2]) / 2);
			k = 0;
			for (size_t i = 0; i < a->ndevs; i++) {
				const struct jdev *d = &a->devs[i];
				double w;
				if (!(d->requests > 0))
					continue;
				w = d->requests > cap ? cap / d->requests : 1.0;
				e[k] = d->errors * w;
				n[k++] = d->requests * w;
			}
		}
		rc = stats_cluster_rate(e, n, k, out);
		/* few clusters: CR1 is itself noisy; inflate it by the variance
		 * of a Student t with k - 1 degrees of freedom, nu / (nu - 2)
		 * (2 at 5 devices, 1.12 at 20, 1.02 at 100) */
		if (rc == 0) {
			double nu = (double)k - 1, f = nu > 2.5 ? nu / (nu - 2) : 3.0;
			out->var_logit = fmax(out->var_cluster * f, out->var_binomial);
		}
	}
	free(e);
	free(n);
	return rc;
}

static int need_devices(const struct judge_params *p)
{
	return p->min_devices > 2 ? p->min_devices : 2;
}

void judge_error_rate(const struct judge_arm *c, const struct judge_arm *b,
		      const struct judge_params *p, struct judge_result *r)
{
	struct stats_rate rc, rb;
	double alpha = alpha_of(p), delta, v, h;

	start(r, "msprt_log_odds", c, b);
	if (c->requests <= 0 || b->requests <= 0) {
		snprintf(r->why, sizeof(r->why), "no data in the %s arm",
			 c->requests <= 0 ? "canary" : "baseline");
		return;
	}
	if ((int)c->ndevs < need_devices(p) || b->ndevs < 2 || rate_of(c, &rc) || rate_of(b, &rb)) {
		snprintf(r->why, sizeof(r->why),
			 "too few devices (%zu canary, %zu baseline; %d needed)", c->ndevs,
			 b->ndevs, need_devices(p));
		return;
	}
	delta = log1p(p->min_effect > 0 ? p->min_effect : 0.5);
	r->canary_value = c->errors / c->requests;
	r->baseline_value = b->errors / b->requests;
	r->statistic = rc.logit - rb.logit;
	v = rc.var_logit + rb.var_logit;
	r->se = sqrt(v);
	r->lr = stats_msprt_lr(r->statistic, v, delta * delta, 0);
	r->p_value = r->lr > 1 ? 1.0 / r->lr : 1.0;
	h = stats_msprt_halfwidth(v, delta * delta, alpha);
	r->effect = exp(r->statistic);
	r->lo = exp(r->statistic - h);
	r->hi = exp(r->statistic + h);
	if (r->statistic > 0 && r->lr >= 1.0 / alpha) {
		r->result = 0;
		snprintf(r->why, sizeof(r->why),
			 "error odds %.3gx baseline (always-valid %.0f%% interval %.3g-%.3g excludes 1)",
			 r->effect, 100 * (1 - alpha), r->lo, r->hi);
	} else if (r->statistic + h < delta) {
		r->result = 1;
		snprintf(r->why, sizeof(r->why),
			 "error odds %.3gx baseline; a regression of %.3gx or more is excluded",
			 r->effect, exp(delta));
	} else {
		snprintf(r->why, sizeof(r->why),
			 "error odds %.3gx baseline, interval %.3g-%.3g: neither a regression nor "
			 "its absence shown yet",
			 r->effect, r->lo, r->hi);
	}
}

/* the devices' latency histograms as rows of n counts; NULL when out of memory */
static double *lat_rows(const struct judge_arm *a, size_t n, size_t *k)
{
	double *m = malloc((a->ndevs + 1) * n * sizeof(double));

	*k = 0;
	for (size_t i = 0; m && i < a->ndevs; i++)
		if (a->devs[i].lat)
			memcpy(m + n * (*k)++, a->devs[i].lat, n * sizeof(double));
	return m;
}

/* few clusters: a cluster-robust variance is itself noisy; inflate it by the
 * variance of a Student t with k - 1 degrees of freedom, nu / (nu - 2) (2 at
 * 5 devices, 1.12 at 20, 1.02 at 100) */
static double few_clusters(size_t k)
{
	double nu = (double)k - 1;

	return nu > 2.5 ? nu / (nu - 2) : 3.0;
}

/*
 * The variance of P(canary slower) with devices as clusters (stats.h,
 * stats_mw_cluster_var), inflated for few devices, and never below the
 * variance of independent requests: a device's own speed makes its
 * requests correlated, and a test that counted them as independent would
 * roll a healthy 5-device canary back more often than alpha. NaN when an
 * arm has fewer than 2 devices with histograms.
 */
static double auc_var(const struct judge_arm *c, const struct judge_arm *b,
		      const struct stats_mw *mw)
{
	size_t n = c->nlat + 1, kc, kb;
	double *x = lat_rows(c, n, &kc), *y = lat_rows(b, n, &kb), v = NAN;
	struct stats_mw_cluster cl;

	if (x && y && stats_mw_cluster_var(x, kc, y, kb, n, &cl) == 0)
		v = fmax(cl.var10 * few_clusters(cl.kx) + cl.var01 * few_clusters(cl.ky),
			 mw->var_u / (mw->nx * mw->ny) / (mw->nx * mw->ny));
	free(x);
	free(y);
	return v;
}

void judge_latency(const struct judge_arm *c, const struct judge_arm *b, double q,
		   const struct judge_params *p, struct judge_result *r)
{
	struct stats_mw mw;
	double alpha = alpha_of(p), me = p->min_effect > 0 ? p->min_effect : 0.2;
	double v, tau2 = 0.1 * 0.1;

	start(r, "mann_whitney", c, b);
	if (!c->lat_set || !b->lat_set || !same_layout(c->lat_bounds, c->nlat, b->lat_bounds, b->nlat) ||
	    stats_mann_whitney_hist(c->lat, b->lat, c->nlat + 1, &mw)) {
		snprintf(r->why, sizeof(r->why), "no comparable latency histograms in both arms");
		return;
	}
	r->samples[0] = mw.nx;
	r->samples[1] = mw.ny;
	r->canary_value = slo_hist_quantile(c->lat_bounds, c->nlat, c->lat, q);
	r->baseline_value = slo_hist_quantile(b->lat_bounds, b->nlat, b->lat, q);
	r->effect = r->canary_value / r->baseline_value - 1;
	r->p50_shift = slo_hist_quantile(c->lat_bounds, c->nlat, c->lat, 0.5) /
			       slo_hist_quantile(b->lat_bounds, b->nlat, b->lat, 0.5) -
		       1;
	r->p95_shift = slo_hist_quantile(c->lat_bounds, c->nlat, c->lat, 0.95) /
			       slo_hist_quantile(b->lat_bounds, b->nlat, b->lat, 0.95) -
		       1;
	v = auc_var(c, b, &mw);
	/* z and p with the device-clustered variance */
	r->statistic = (mw.auc - 0.5) / sqrt(v);
	r->se = sqrt(v);
	r->lr = stats_msprt_lr(mw.auc - 0.5, v, tau2, 0);
	r->p_value = stats_norm_sf(r->statistic);
	r->lo = mw.auc;
	r->hi = NAN;
	if ((int)c->ndevs < need_devices(p) || b->ndevs < 2 || isnan(v) ||
	    mw.nx < (double)p->min_samples) {
		snprintf(r->why, sizeof(r->why), "too few devices or samples (%zu devices, %.0f samples)",
			 c->ndevs, mw.nx);
		return;
	}
	if (mw.auc > 0.5 && r->lr >= 1.0 / alpha && r->effect >= me) {
		r->result = 0;
		snprintf(r->why, sizeof(r->why),
			 "latency p%.0f %+.0f%% (p50 %+.0f%%), Mann-Whitney P(canary slower) %.3f, "
			 "device-clustered z %.2f",
			 q * 100, r->effect * 100, r->p50_shift * 100, mw.auc, r->statistic);
	} else if (r->effect < me && mw.auc - 0.5 + stats_msprt_halfwidth(v, tau2, alpha) <
						  JUDGE_AUC_MARGIN) {
		/* a pass needs the data to exclude a real slowdown: the
		 * always-valid interval of P(canary slower) - 1/2 stays below
		 * the margin */
		r->result = 1;
		snprintf(r->why, sizeof(r->why),
			 "latency p%.0f %+.0f%%, P(canary slower) %.3f: a slowdown is excluded",
			 q * 100, r->effect * 100, mw.auc);
	} else {
		snprintf(r->why, sizeof(r->why),
			 "latency p%.0f %+.0f%%, P(canary slower) %.3f: not enough data to tell",
			 q * 100, r->effect * 100, mw.auc);
	}
}

static void merged_js(const struct judge_arm *c, const struct judge_arm *b, const size_t *pool,
		      size_t npool, size_t kc, double *x, double *y, size_t n, double *js)
{
	memset(x, 0, n * sizeof(double));
	memset(y, 0, n * sizeof(double));
	for (size_t i = 0; i < npool; i++) {
		size_t at = pool[i];
		const struct jdev *d = at < c->ndevs ? &c->devs[at] : &b->devs[at - c->ndevs];
		double *to = i < kc ? x : y;
		for (size_t j = 0; d->conf && j < n; j++)
			to[j] += d->conf[j];
	}
	*js = stats_js(x, y, n);
}

void judge_drift(const struct judge_arm *c, const struct judge_arm *b,
		 const struct judge_params *p, struct judge_result *r)
{
	double alpha = alpha_of(p) / (p->looks > 1 ? p->looks : 1);
	double x[NB + 1], y[NB + 1], nc = 0, nb = 0, combos = 1, crit;
	double me = p->min_effect > 0 ? p->min_effect : JUDGE_DRIFT_EFFECT;
	static _Thread_local double ref[JUDGE_PERMUTATIONS];
	size_t n, pool[JUDGE_MAX_POOL], npool = 0, kc = 0, hits = 0;
	uint64_t rng = p->seed ? p->seed : 0x6a7564676521ULL;

	start(r, "js_permutation", c, b);
	if (!c->conf_set || !b->conf_set ||
	    !same_layout(c->conf_bounds, c->nconf, b->conf_bounds, b->nconf)) {
		snprintf(r->why, sizeof(r->why), "no comparable confidence histograms in both arms");
		return;
	}
	n = c->nconf + 1;
	for (size_t j = 0; j < n; j++) {
		nc += c->conf[j];
		nb += b->conf[j];
	}
	r->samples[0] = nc;
	r->samples[1] = nb;
	if (!(nc > 0) || !(nb > 0)) {
		snprintf(r->why, sizeof(r->why), "no confidence data in the %s arm",
			 nc > 0 ? "baseline" : "canary");
		return;
	}
	r->js = r->statistic = stats_js(c->conf, b->conf, n);
	r->psi = stats_psi(c->conf, b->conf, n, 1e-4);
	r->ks = stats_ks(c->conf, b->conf, n);
	r->ks_p = stats_ks_pvalue(r->ks, nc * nb / (nc + nb));
	r->effect = r->js;
	/* the pool: every canary device with data, and baseline devices up to the cap */
	for (size_t i = 0; i < c->ndevs && npool < JUDGE_MAX_POOL / 2; i++)
		if (c->devs[i].conf)
			pool[npool++] = i;
	kc = npool;
	for (size_t i = 0, seen = 0; i < b->ndevs; i++) {
		if (!b->devs[i].conf)
			continue;
		/* reservoir sample so a large baseline is represented evenly */
		if (npool < JUDGE_MAX_POOL)
			pool[npool++] = c->ndevs + i;
		else {
			size_t at = stats_rng_below(&rng, seen + 1);
			if (at < JUDGE_MAX_POOL - kc)
				pool[kc + at] = c->ndevs + i;
		}
		seen++;
	}
	for (size_t i = 0; i < kc && combos < 1e9; i++)
		combos = combos * (double)(npool - i) / (double)(i + 1);
	if ((int)kc < need_devices(p) || npool - kc < 2 || nc < (double)p->min_samples ||
	    combos < 20.0 / alpha) {
		snprintf(r->why, sizeof(r->why),
			 "too few devices for a permutation reference (%zu canary, %zu baseline)",
			 kc, npool - kc);
		return;
	}
	for (int k = 0; k < JUDGE_PERMUTATIONS; k++) {
		for (size_t i = 0; i < kc; i++) { /* partial Fisher-Yates */
			size_t j = i + stats_rng_below(&rng, npool - i), t = pool[i];
			pool[i] = pool[j];
			pool[j] = t;
		}
		merged_js(c, b, pool, npool, kc, x, y, n, &ref[k]);
		hits += ref[k] >= r->js;
	}
	r->p_value = (1.0 + (double)hits) / (JUDGE_PERMUTATIONS + 1.0);
	/* the JS this look would need to flag: the reference's 1 - alpha quantile */
	qsort(ref, JUDGE_PERMUTATIONS, sizeof(double), dbl_cmp);
	crit = ref[(size_t)ceil((1 - alpha) * (JUDGE_PERMUTATIONS + 1.0)) - 1 < JUDGE_PERMUTATIONS
			   ? (size_t)ceil((1 - alpha) * (JUDGE_PERMUTATIONS + 1.0)) - 1
			   : JUDGE_PERMUTATIONS - 1];
	r->lo = crit;
	if (r->p_value <= alpha && r->js >= me) {
		r->result = 0;
		snprintf(r->why, sizeof(r->why),
			 "confidence drift: JS %.4f bits (permutation p %.4f), PSI %.3f, KS %.3f", r->js,
			 r->p_value, r->psi, r->ks);
	} else if (r->p_value > alpha && crit < me) {
		r->result = 1;
		snprintf(r->why, sizeof(r->why),
			 "JS %.4f bits within the device-permutation reference (p %.3f); a drift of "
			 "%.4f would show",
			 r->js, r->p_value, me);
	} else {
		snprintf(r->why, sizeof(r->why),
			 "JS %.4f bits (p %.3f): this sample could not show a drift of %.4f bits "
			 "(needs %.4f)",
			 r->js, r->p_value, me, crit);
	}
}

const char *judge_result_name(int result)
{
	return result == 1 ? "pass" : result == 0 ? "fail" : "inconclusive";
}

/* Non-finite numbers are null; magnitudes are capped at JUDGE_JSON_MAX so
 * that a stored copy (PostgreSQL jsonb renders numbers in plain notation)
 * never reads back as an integer too big for the parser. */
static json_t *jnum(double v)
{
	if (!isfinite(v))
		return json_null();
	return json_real(v > JUDGE_JSON_MAX ? JUDGE_JSON_MAX : v < -JUDGE_JSON_MAX ? -JUDGE_JSON_MAX : v);
}

json_t *judge_result_json(const struct judge_result *r)
{
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
			 "s:o, s:o, s:o, s:{s:o, s:o}, s:{s:o, s:o}, s:s}",
			 "test", r->test, "result", judge_result_name(r->result), "statistic",
			 jnum(r->statistic), "p_value", jnum(r->p_value), "likelihood_ratio",
			 jnum(r->lr), "effect", jnum(r->effect), "effect_lo", jnum(r->lo),
			 "effect_hi", jnum(r->hi), "canary_value", jnum(r->canary_value),
			 "baseline_value", jnum(r->baseline_value), "p50_shift", jnum(r->p50_shift),
			 "p95_shift", jnum(r->p95_shift), "psi", jnum(r->psi), "js", jnum(r->js),
			 "ks", jnum(r->ks), "ks_p", jnum(r->ks_p), "standard_error", jnum(r->se), "samples", "canary",
			 jnum(r->samples[0]), "baseline", jnum(r->samples[1]), "devices", "canary",
			 jnum(r->devices[0]), "baseline", jnum(r->devices[1]), "why", r->why);
}
