/*
 * slo.h - the SLO math: quantiles, KL divergence, and the per-arm accumulator.
 *
 * The engine feeds one arm (canary or baseline, one stage window) report by
 * report with slo_arm_add(), then asks slo_arm_value() for each policy metric
 * (API.md "Policies") and slo_arm_each_device() for scope any_device. Pure:
 * no clock, no I/O; the window length is passed in. Values are in the base
 * units of domain/metric.h. A value with no data is NaN, never 0.
 */
#ifndef RAMP_SLO_H
#define RAMP_SLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/metric.h"
#include "domain/telemetry.h"

#define SLO_KL_ALPHA 0.5 /* additive smoothing used for confidence_shift */

struct slo_point {
	double value, weight;
};

/*
 * Weighted quantile q in [0,1] of pts (weights = requests): sorted by value,
 * the smallest value whose cumulative weight >= q * total weight. Points with
 * a non-finite value or a weight that is not > 0 are ignored. NaN when the
 * total weight is 0 or q is outside [0,1]. pts may be reordered.
 */
double slo_weighted_quantile(struct slo_point *pts, size_t n, double q);

/*
 * Quantile q from a histogram: bounds[nb] increasing upper bounds,
 * counts[nb+1] (the last is the overflow bucket). Linear interpolation inside
 * the bucket; the first bucket spans [0, bounds[0]]; a quantile that falls in
 * the overflow bucket returns bounds[nb-1]. NaN when nb is 0, the counts sum
 * to 0, or q is outside [0,1]. Negative or NaN counts count as 0.
 */
double slo_hist_quantile(const double *bounds, size_t nb, const double *counts,
			 double q);

/*
 * KL divergence D(p || q) of two count vectors of length n, each normalised
 * after adding alpha (e.g. 0.5; negative counts as 0) to every bucket,
 * natural log. NaN when n is 0 or either vector sums to 0 before smoothing.
 */
double slo_kl_divergence(const double *p, const double *q, size_t n,
			 double alpha);

/* One arm's accumulated telemetry and install outcomes; opaque. */
struct slo_arm;

/* A new, empty arm, or NULL when out of memory. Free with slo_arm_free(). */
struct slo_arm *slo_arm_new(void);

/* Frees a and everything it holds; slo_arm_free(NULL) is a no-op. */
void slo_arm_free(struct slo_arm *a);

/*
 * Adds one report that telemetry_parse() accepted (r is copied from, not
 * kept). Returns 0; RAMP_ENOMEM with a left exactly as it was; RAMP_EINVAL
 * when a or r is NULL. (The engine may ignore the result: it was void.)
 */
int slo_arm_add(struct slo_arm *a, const struct telemetry_report *r);

/*
 * Adds one agent install outcome (installed: failed = false) for
 * install_failure_rate = failed / (installed + failed). device_id is copied;
 * NULL counts toward the arm only. Returns 0, RAMP_ENOMEM (a unchanged), or
 * RAMP_EINVAL when a is NULL.
 */
int slo_arm_add_install(struct slo_arm *a, const char *device_id, bool failed);

struct slo_value {
	double value;    /* NaN if no data */
	int64_t samples; /* see slo_arm_value() */
	int64_t devices; /* devices that contributed samples */
};

/*
 * Metric m over arm a. samples is Σrequests for error_rate, latency
 * percentiles, requests_per_second and confidence metrics (of the reports
 * that carry the needed fields); the count of reports carrying the gauge for
 * cpu/mem/npu/temperature/disk/model load; install outcomes for
 * install_failure_rate. requests_per_second is the mean per-device request
 * rate: Σrequests / window_s / devices. baseline_arm is used only for
 * METRIC_CONFIDENCE_SHIFT (KL of a's merged confidence histogram from the
 * baseline's, alpha SLO_KL_ALPHA; NaN when either has none or their bucket
 * bounds differ); pass NULL otherwise.
 *
 * Latency percentiles: when every latency-bearing report has a histogram
 * with the arm's layout (the bounds of the first histogram seen), the merged
 * histogram is used; otherwise the weighted points (latency_ms, requests)
 * of the reports that carry latency_ms; when there are no such points, the
 * merged histogram of the reports that match the layout.
 *
 * confidence_mean: per report its confidence_mean, or when absent the mean of
 * its confidence histogram's bucket midpoints (overflow bucket: midpoint of
 * [last bound, 1]), weighted by requests. Gauges: plain means over reports.
 */
struct slo_value slo_arm_value(const struct slo_arm *a, enum metric_id m,
			       double window_s,
			       const struct slo_arm *baseline_arm);

/* Called once per device, in the order devices were first added. */
typedef void (*slo_device_fn)(void *ctx, const char *device_id,
			      struct slo_value v);

/*
 * For scope any_device: computes m for each device of a on its own, by the
 * same rules as slo_arm_value() applied to that device's reports (devices
 * is 1, or 0 with a NaN value when the device has no data for m) and passes
 * it to fn; the caller picks the worst in its metric's direction.
 * requests_per_second is the device's Σrequests / window_s. The device id
 * passed to fn lives as long as a. confidence_shift yields NaN here: use
 * slo_arm_each_device_vs() with the baseline arm.
 */
void slo_arm_each_device(const struct slo_arm *a, enum metric_id m,
			 double window_s, slo_device_fn fn, void *ctx);

/* slo_arm_each_device() with a baseline arm for METRIC_CONFIDENCE_SHIFT. */
void slo_arm_each_device_vs(const struct slo_arm *a, enum metric_id m,
			    double window_s, const struct slo_arm *baseline_arm,
			    slo_device_fn fn, void *ctx);

/* The number of distinct devices a has seen (reports or installs). */
size_t slo_arm_device_count(const struct slo_arm *a);

#endif
