/*
 * slo.c - SLO math for rollout analysis: quantiles, KL divergence, arms.
 *
 * An arm keeps one accumulator for all its reports and one per device (for
 * scope any_device), found through an open-addressing hash table over an
 * insertion-ordered device array. Each arm has one histogram layout per kind
 * (latency, confidence): the bounds of the first histogram it saw; only
 * histograms with exactly those bounds are merged. Counts are summed with
 * saturation so that no input can overflow. slo_arm_add() reserves every
 * allocation before it changes anything, so out of memory leaves the arm as
 * it was.
 */
#include "domain/slo.h"

#include "common/hash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QUANTILE_EPS 1e-12 /* relative slack for cumulative-weight rounding */

enum { G_CPU, G_MEM, G_NPU, G_TEMP, G_DISK, G_LOAD, G_COUNT };

struct layout {
	size_t nb; /* 0: no histogram seen yet */
	double bounds[TELEMETRY_HIST_MAX];
};

struct acc {
	int64_t reports, requests, errors;
	int64_t lat_reports, lat_requests; /* with latency_ms or latency_hist */
	int64_t lat_hist_reports;          /* ... whose histogram was merged */
	double *lat_counts;                /* TELEMETRY_HIST_MAX, lazily */
	struct slo_point *pts;             /* (latency_ms, requests) */
	size_t npts, cap;
	double conf_wsum; /* Σ confidence mean × requests */
	int64_t conf_requests;
	int64_t conf_hist_requests;
	double *conf_counts; /* TELEMETRY_HIST_MAX, lazily */
	double gsum[G_COUNT];
	int64_t gn[G_COUNT];
	int64_t installed, failed;
};

struct device {
	struct acc acc;
	char id[]; /* NUL-terminated */
};

struct slo_arm {
	struct acc all;
	struct layout lat, conf;
	struct device **devs; /* in order of first appearance */
	size_t ndevs, devcap;
	uint32_t *slots; /* index into devs + 1; 0 is empty */
	size_t nslots;   /* a power of two, or 0 */
};

static double nonneg(double x)
{
	return x > 0 ? x : 0;
}

static int point_cmp(const void *x, const void *y)
{
	double a = ((const struct slo_point *)x)->value;
	double b = ((const struct slo_point *)y)->value;

	return (a > b) - (a < b);
}

double slo_weighted_quantile(struct slo_point *pts, size_t n, double q)
{
	size_t k = 0;
	double total = 0, target, cum = 0;
	struct slo_point t;

	if (pts == NULL || !(q >= 0 && q <= 1))
		return NAN;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(pts[i].value) || !(pts[i].weight > 0) ||
		    !isfinite(pts[i].weight))
			continue;
		t = pts[k];
		pts[k++] = pts[i];
		pts[i] = t;
		total += pts[k - 1].weight;
	}
	if (!(total > 0) || !isfinite(total))
		return NAN;
	qsort(pts, k, sizeof(*pts), point_cmp);
	target = q * total - total * QUANTILE_EPS;
	for (size_t i = 0; i < k; i++) {
		cum += pts[i].weight;
		if (cum >= target)
			return pts[i].value;
	}
	return pts[k - 1].value;
}

double slo_hist_quantile(const double *bounds, size_t nb, const double *counts,
			 double q)
{
	double total = 0, cum = 0, c, lo, frac;

	if (bounds == NULL || counts == NULL || nb == 0 || !(q >= 0 && q <= 1))
		return NAN;
	for (size_t i = 0; i <= nb; i++)
		total += nonneg(counts[i]);
	if (!(total > 0) || !isfinite(total))
		return NAN;
	for (size_t i = 0; i <= nb; i++) {
		c = nonneg(counts[i]);
		if (c == 0 || cum + c < q * total - total * QUANTILE_EPS) {
			cum += c;
			continue;
		}
		if (i == nb)
			return bounds[nb - 1];
		lo = i == 0 ? fmin(0, bounds[0]) : bounds[i - 1];
		frac = fmin(fmax((q * total - cum) / c, 0), 1);
		return lo + frac * (bounds[i] - lo);
	}
	return bounds[nb - 1];
}

double slo_kl_divergence(const double *p, const double *q, size_t n,
			 double alpha)
{
	double sp = 0, sq = 0, d = 0, pi, qi;

	if (p == NULL || q == NULL || n == 0)
		return NAN;
	if (!(alpha > 0) || !isfinite(alpha))
		alpha = 0;
	for (size_t i = 0; i < n; i++) {
		sp += nonneg(p[i]);
		sq += nonneg(q[i]);
	}
	if (!(sp > 0) || !(sq > 0) || !isfinite(sp) || !isfinite(sq))
		return NAN;
	for (size_t i = 0; i < n; i++) {
		pi = (nonneg(p[i]) + alpha) / (sp + (double)n * alpha);
		qi = (nonneg(q[i]) + alpha) / (sq + (double)n * alpha);
		if (pi > 0)
			d += pi * log(pi / qi); /* qi == 0 gives +inf */
	}
	return fmax(d, 0); /* rounding can dip a hair below 0 */
}

static void sat_add(int64_t *sum, int64_t v)
{
	if (__builtin_add_overflow(*sum, v, sum))
		*sum = v < 0 ? INT64_MIN : INT64_MAX;
}

static bool same_layout(const struct layout *l, size_t nb, const double *b)
{
	if (l->nb != nb)
		return false;
	for (size_t i = 0; i < nb; i++)
		if (l->bounds[i] != b[i])
			return false;
	return true;
}

/* The mean of r's confidence histogram from bucket midpoints. */
static bool conf_hist_mean(const struct telemetry_report *r, double *mean)
{
	double sum = 0, n = 0, lo, hi, c;

	for (size_t i = 0; i <= r->conf_nbounds; i++) {
		lo = i == 0 ? 0 : r->conf_bounds[i - 1];
		hi = i == r->conf_nbounds ? 1 : r->conf_bounds[i];
		c = (double)r->conf_counts[i];
		sum += (lo + hi) / 2 * c;
		n += c;
	}
	if (!(n > 0))
		return false;
	*mean = sum / n;
	return true;
}

static int acc_reserve(struct acc *c, const struct telemetry_report *r)
{
	struct slo_point *p;
	size_t cap;

	if (r->lat_nbounds > 0 && c->lat_counts == NULL &&
	    (c->lat_counts = calloc(TELEMETRY_HIST_MAX, sizeof(double))) == NULL)
		return RAMP_ENOMEM;
	if (r->conf_nbounds > 0 && c->conf_counts == NULL &&
	    (c->conf_counts = calloc(TELEMETRY_HIST_MAX, sizeof(double))) == NULL)
		return RAMP_ENOMEM;
	if (!r->has_latency || c->npts < c->cap)
		return 0;
	cap = c->cap ? c->cap * 2 : 8;
	p = realloc(c->pts, cap * sizeof(*p));
	if (p == NULL)
		return RAMP_ENOMEM;
	c->pts = p;
	c->cap = cap;
	return 0;
}

static void acc_add_hist(double *dst, const int64_t *src, size_t nb)
{
	for (size_t i = 0; i <= nb; i++)
		dst[i] += (double)src[i];
}

static void acc_add_confidence(struct acc *c, const struct telemetry_report *r,
			       bool conf_match)
{
	double mean = r->confidence_mean;

	if (!isnan(mean) || (r->conf_nbounds > 0 && conf_hist_mean(r, &mean))) {
		c->conf_wsum += mean * (double)r->requests;
		sat_add(&c->conf_requests, r->requests);
	}
	if (conf_match) {
		sat_add(&c->conf_hist_requests, r->requests);
		acc_add_hist(c->conf_counts, r->conf_counts, r->conf_nbounds);
	}
}

/* Adds r; acc_reserve(c, r) must have succeeded. Never allocates. */
static void acc_add(struct acc *c, const struct telemetry_report *r,
		    bool lat_match, bool conf_match)
{
	const double g[G_COUNT] = {r->cpu_pct,       r->mem_pct,
				   r->npu_pct,       r->temperature_c,
				   r->disk_free_mb, r->model_load_ms};

	c->reports++;
	sat_add(&c->requests, r->requests);
	sat_add(&c->errors, r->errors);
	if (r->has_latency || r->lat_nbounds > 0) {
		c->lat_reports++;
		sat_add(&c->lat_requests, r->requests);
	}
	if (lat_match) {
		c->lat_hist_reports++;
		acc_add_hist(c->lat_counts, r->lat_counts, r->lat_nbounds);
	}
	if (r->has_latency)
		c->pts[c->npts++] = (struct slo_point){r->latency_ms,
						       (double)r->requests};
	acc_add_confidence(c, r, conf_match);
	for (int i = 0; i < G_COUNT; i++) {
		if (isnan(g[i]))
			continue;
		c->gsum[i] += g[i];
		c->gn[i]++;
	}
}

static void acc_free(struct acc *c)
{
	free(c->lat_counts);
	free(c->conf_counts);
	free(c->pts);
}

/* The device called id, or NULL with *slot set to where it would go. */
static struct device *dev_find(const struct slo_arm *a, const char *id,
			       size_t *slot)
{
	size_t mask, i;

	*slot = 0;
	if (a->nslots == 0)
		return NULL;
	mask = a->nslots - 1;
	for (i = hash_fnv1a_str(HASH_FNV1A_BASIS, id) & mask; a->slots[i]; i = (i + 1) & mask) {
		struct device *d = a->devs[a->slots[i] - 1];

		if (strcmp(d->id, id) == 0)
			return d;
	}
	*slot = i;
	return NULL;
}

/* Makes room for one more device; a's contents are unchanged. */
static int dev_reserve(struct slo_arm *a)
{
	size_t n, slot;
	uint32_t *slots;
	struct device **devs;

	if (a->ndevs >= UINT32_MAX - 1)
		return RAMP_ENOMEM;
	if (a->ndevs == a->devcap) {
		n = a->devcap ? a->devcap * 2 : 16;
		devs = realloc(a->devs, n * sizeof(*devs));
		if (devs == NULL)
			return RAMP_ENOMEM;
		a->devs = devs;
		a->devcap = n;
	}
	if ((a->ndevs + 1) * 10 <= a->nslots * 7)
		return 0;
	n = a->nslots ? a->nslots * 2 : 32;
	slots = calloc(n, sizeof(*slots));
	if (slots == NULL)
		return RAMP_ENOMEM;
	free(a->slots);
	a->slots = slots;
	a->nslots = n;
	for (size_t i = 0; i < a->ndevs; i++) {
		dev_find(a, a->devs[i]->id, &slot);
		a->slots[slot] = (uint32_t)(i + 1);
	}
	return 0;
}

/* A fresh device called id, not yet in a's table (dev_insert() adds it). */
static struct device *dev_new(struct slo_arm *a, const char *id)
{
	size_t n = strlen(id);
	struct device *d;

	if (dev_reserve(a))
		return NULL;
	d = calloc(1, sizeof(*d) + n + 1);
	if (d != NULL)
		memcpy(d->id, id, n + 1);
	return d;
}

static void dev_insert(struct slo_arm *a, struct device *d)
{
	size_t slot;

	dev_find(a, d->id, &slot);
	a->slots[slot] = (uint32_t)(a->ndevs + 1);
	a->devs[a->ndevs++] = d;
}

static void dev_discard(struct device *d)
{
	if (d == NULL)
		return;
	acc_free(&d->acc);
	free(d);
}

struct slo_arm *slo_arm_new(void)
{
	return calloc(1, sizeof(struct slo_arm));
}

void slo_arm_free(struct slo_arm *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->ndevs; i++)
		dev_discard(a->devs[i]);
	acc_free(&a->all);
	free(a->devs);
	free(a->slots);
	free(a);
}

/* Sets the layout from the first histogram and says whether this one fits. */
static bool layout_take(struct layout *l, size_t nb, const double *bounds)
{
	if (nb == 0)
		return false;
	if (l->nb == 0) {
		l->nb = nb;
		memcpy(l->bounds, bounds, nb * sizeof(*bounds));
	}
	return same_layout(l, nb, bounds);
}

int slo_arm_add(struct slo_arm *a, const struct telemetry_report *r)
{
	size_t slot;
	struct device *d, *fresh = NULL;
	bool lat, conf;

	if (a == NULL || r == NULL)
		return RAMP_EINVAL;
	d = dev_find(a, r->device_id, &slot);
	if (d == NULL && (d = fresh = dev_new(a, r->device_id)) == NULL)
		return RAMP_ENOMEM;
	if (acc_reserve(&a->all, r) || acc_reserve(&d->acc, r)) {
		dev_discard(fresh);
		return RAMP_ENOMEM;
	}
	if (fresh != NULL)
		dev_insert(a, fresh);
	lat = layout_take(&a->lat, r->lat_nbounds, r->lat_bounds);
	conf = layout_take(&a->conf, r->conf_nbounds, r->conf_bounds);
	acc_add(&a->all, r, lat, conf);
	acc_add(&d->acc, r, lat, conf);
	return 0;
}

int slo_arm_add_install(struct slo_arm *a, const char *device_id, bool failed)
{
	size_t slot;
	struct device *d = NULL;

	if (a == NULL)
		return RAMP_EINVAL;
	if (device_id != NULL) {
		d = dev_find(a, device_id, &slot);
		if (d == NULL) {
			if ((d = dev_new(a, device_id)) == NULL)
				return RAMP_ENOMEM;
			dev_insert(a, d);
		}
		sat_add(failed ? &d->acc.failed : &d->acc.installed, 1);
	}
	sat_add(failed ? &a->all.failed : &a->all.installed, 1);
	return 0;
}

size_t slo_arm_device_count(const struct slo_arm *a)
{
	return a == NULL ? 0 : a->ndevs;
}

/* What metric m's value over c rests on; 0 means no data. */
static int64_t acc_samples(const struct acc *c, enum metric_id m)
{
	switch (m) {
	case METRIC_ERROR_RATE:
	case METRIC_REQUESTS_PER_SECOND:
		return c->requests;
	case METRIC_LATENCY_P50:
	case METRIC_LATENCY_P95:
	case METRIC_LATENCY_P99:
		return c->lat_requests;
	case METRIC_INSTALL_FAILURE_RATE:
		return c->installed + c->failed;
	case METRIC_CONFIDENCE_MEAN:
		return c->conf_requests;
	case METRIC_CONFIDENCE_SHIFT:
		return c->conf_hist_requests;
	case METRIC_CPU_PCT:
		return c->gn[G_CPU];
	case METRIC_MEM_PCT:
		return c->gn[G_MEM];
	case METRIC_NPU_PCT:
		return c->gn[G_NPU];
	case METRIC_TEMPERATURE_C:
		return c->gn[G_TEMP];
	case METRIC_DISK_FREE_MB:
		return c->gn[G_DISK];
	case METRIC_MODEL_LOAD_TIME_MS:
		return c->gn[G_LOAD];
	default:
		return 0;
	}
}

static double latency_value(const struct layout *l, const struct acc *c,
			    double q)
{
	struct slo_point *tmp;
	double v;

	if (c->lat_hist_reports > 0 &&
	    (c->lat_hist_reports == c->lat_reports || c->npts == 0))
		return slo_hist_quantile(l->bounds, l->nb, c->lat_counts, q);
	if (c->npts == 0)
		return NAN;
	tmp = malloc(c->npts * sizeof(*tmp)); /* the sort must not touch c */
	if (tmp == NULL)
		return NAN;
	memcpy(tmp, c->pts, c->npts * sizeof(*tmp));
	v = slo_weighted_quantile(tmp, c->npts, q);
	free(tmp);
	return v;
}

static double shift_value(const struct slo_arm *a, const struct acc *c,
			  const struct slo_arm *base)
{
	if (base == NULL || c->conf_hist_requests == 0 ||
	    base->all.conf_hist_requests == 0 ||
	    !same_layout(&a->conf, base->conf.nb, base->conf.bounds))
		return NAN;
	return slo_kl_divergence(c->conf_counts, base->all.conf_counts,
				 a->conf.nb + 1, SLO_KL_ALPHA);
}

static double ratio(double num, double den)
{
	return den > 0 ? num / den : NAN;
}

/* m over c alone, as if c were a single device (rate not divided). */
static double acc_value(const struct slo_arm *a, const struct acc *c,
			enum metric_id m, double window_s,
			const struct slo_arm *base)
{
	/* gauge index + 1, so that 0 means "not a gauge" */
	static const int gauge_of[METRIC_COUNT] = {
		[METRIC_CPU_PCT] = G_CPU + 1,
		[METRIC_MEM_PCT] = G_MEM + 1,
		[METRIC_NPU_PCT] = G_NPU + 1,
		[METRIC_TEMPERATURE_C] = G_TEMP + 1,
		[METRIC_DISK_FREE_MB] = G_DISK + 1,
		[METRIC_MODEL_LOAD_TIME_MS] = G_LOAD + 1,
	};
	int g;

	if ((int)m < 0 || m >= METRIC_COUNT)
		return NAN;
	g = gauge_of[m] - 1;
	if (g >= 0)
		return ratio(c->gsum[g], (double)c->gn[g]);
	switch (m) {
	case METRIC_ERROR_RATE:
		return ratio((double)c->errors, (double)c->requests);
	case METRIC_LATENCY_P50:
		return latency_value(&a->lat, c, 0.50);
	case METRIC_LATENCY_P95:
		return latency_value(&a->lat, c, 0.95);
	case METRIC_LATENCY_P99:
		return latency_value(&a->lat, c, 0.99);
	case METRIC_REQUESTS_PER_SECOND:
		return c->requests > 0 && isfinite(window_s)
			       ? ratio((double)c->requests, window_s)
			       : NAN;
	case METRIC_INSTALL_FAILURE_RATE:
		return ratio((double)c->failed, (double)(c->installed + c->failed));
	case METRIC_CONFIDENCE_MEAN:
		return ratio(c->conf_wsum, (double)c->conf_requests);
	case METRIC_CONFIDENCE_SHIFT:
		return shift_value(a, c, base);
	default:
		return NAN;
	}
}

struct slo_value slo_arm_value(const struct slo_arm *a, enum metric_id m,
			       double window_s,
			       const struct slo_arm *baseline_arm)
{
	struct slo_value v = {NAN, 0, 0};

	if (a == NULL)
		return v;
	v.samples = acc_samples(&a->all, m);
	for (size_t i = 0; i < a->ndevs; i++)
		v.devices += acc_samples(&a->devs[i]->acc, m) > 0;
	if (v.samples == 0)
		return v;
	v.value = acc_value(a, &a->all, m, window_s, baseline_arm);
	if (m == METRIC_REQUESTS_PER_SECOND)
		v.value = ratio(v.value, (double)v.devices);
	return v;
}

void slo_arm_each_device_vs(const struct slo_arm *a, enum metric_id m,
			    double window_s, const struct slo_arm *baseline_arm,
			    slo_device_fn fn, void *ctx)
{
	struct slo_value v;
	const struct acc *c;

	if (a == NULL || fn == NULL)
		return;
	for (size_t i = 0; i < a->ndevs; i++) {
		c = &a->devs[i]->acc;
		v.samples = acc_samples(c, m);
		v.devices = v.samples > 0;
		v.value = v.samples > 0
				  ? acc_value(a, c, m, window_s, baseline_arm)
				  : NAN;
		fn(ctx, a->devs[i]->id, v);
	}
}

void slo_arm_each_device(const struct slo_arm *a, enum metric_id m,
			 double window_s, slo_device_fn fn, void *ctx)
{
	slo_arm_each_device_vs(a, m, window_s, NULL, fn, ctx);
}
