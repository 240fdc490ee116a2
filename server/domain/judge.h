/*
 * judge.h - the sequential judge (policy `judge: sequential`, docs/judge.md):
 * per-device accumulators for a canary and a baseline arm, and three tests
 * that decide fail / pass / inconclusive and say why, with the statistic,
 * its p-value or likelihood ratio, the effect size and the samples and
 * devices behind it:
 *   error_rate         mSPRT on the log odds ratio with cluster-robust
 *                      (device) variance, each device's weight capped at
 *                      3 median devices: always valid under repeated looks;
 *   latency quantiles  Mann-Whitney U on the merged histogram buckets with
 *                      tie correction, read through the same normal mixture
 *                      on P(canary slower) - 1/2; a fail also needs the
 *                      quantile's relative shift >= min_effect, a pass an
 *                      interval below JUDGE_AUC_MARGIN;
 *   confidence_shift   Jensen-Shannon (with PSI and KS) of the merged
 *                      confidence histograms, against a permutation reference
 *                      that reshuffles whole devices between the arms (fixed
 *                      seed): calibrated for the sample size by construction.
 *                      Not a sequential test: the caller looks at most
 *                      `looks` times a window (checkpoints; the engine uses
 *                      JUDGE_DRIFT_LOOKS) and each look spends alpha/looks.
 *                      It passes only when the reference shows that a drift
 *                      of min_effect bits would have been flagged.
 * Pure: the caller feeds reports and reads results.
 */
#ifndef RAMP_JUDGE_H
#define RAMP_JUDGE_H

#include "domain/telemetry.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JUDGE_DEFAULT_ALPHA 0.05
#define JUDGE_PERMUTATIONS 400
#define JUDGE_DRIFT_LOOKS 4 /* drift checkpoints per validation window */
#define JUDGE_AUC_MARGIN 0.05 /* latency: P(canary slower) within 0.5 +- this passes */
#define JUDGE_DRIFT_EFFECT 0.002 /* JS bits: about 10% of the mass moved */
#define JUDGE_MAX_POOL 400 /* devices in a permutation reference */
#define JUDGE_JSON_MAX 1e12 /* larger figures are written as 1e12 */
#define JUDGE_CHATTY_CAP 3.0 /* a device weighs at most 3 median devices */

struct judge_arm;

/* A new empty arm, or NULL; free with judge_arm_free() (NULL is a no-op). */
struct judge_arm *judge_arm_new(void);
void judge_arm_free(struct judge_arm *a);

/* Adds one report (requests, errors, latency and confidence histograms).
 * Histograms whose bounds differ from the first one seen in the arm are
 * left out. 0 or RAMP_ENOMEM. */
int judge_arm_add(struct judge_arm *a, const struct telemetry_report *r);

/* Adds counts directly (the experiment harness): device by index; lat/conf
 * may be NULL, else n counts over the bounds set by judge_arm_set_layout(). */
int judge_arm_add_counts(struct judge_arm *a, const char *device, double requests,
			 double errors, const double *lat, const double *conf);
void judge_arm_set_layout(struct judge_arm *a, const double *lat_bounds, size_t nlat,
			  const double *conf_bounds, size_t nconf);

size_t judge_arm_devices(const struct judge_arm *a);

struct judge_params {
	double alpha;      /* false-rollback rate; 0 means JUDGE_DEFAULT_ALPHA */
	double min_effect; /* relative (0.5 = +50%) for rates and latency; JS bits for drift */
	int min_devices;   /* canary devices needed to decide */
	int64_t min_samples;
	uint64_t seed;     /* permutation reference */
	int looks;	   /* drift: looks per window sharing alpha (Bonferroni); 0 = 1 */
};

struct judge_result {
	int result;	  /* 1 pass, 0 fail, -1 inconclusive */
	const char *test; /* "msprt_log_odds", "mann_whitney", "js_permutation" */
	double statistic; /* log odds ratio; z; JS bits */
	double se;	  /* standard error of the log odds ratio (mSPRT) */
	double p_value;	  /* always-valid p = min(1, 1/lr) for mSPRT */
	double lr;	  /* mixture likelihood ratio (mSPRT), else NaN */
	double effect;	  /* odds ratio; quantile shift (relative); JS bits */
	double lo, hi;	  /* confidence sequence of the effect (mSPRT); latency: lo is
			     P(canary slower); drift: lo is the JS this look needs */
	double canary_value, baseline_value;
	double p50_shift, p95_shift; /* latency, relative */
	double psi, js, ks, ks_p;    /* drift */
	double samples[2], devices[2]; /* canary, baseline */
	char why[160];
};

/* The three judges; every outcome, inconclusive included, fills r. q is the
 * latency quantile (0.5, 0.95, 0.99). */
void judge_error_rate(const struct judge_arm *c, const struct judge_arm *b,
		      const struct judge_params *p, struct judge_result *r);
void judge_latency(const struct judge_arm *c, const struct judge_arm *b, double q,
		   const struct judge_params *p, struct judge_result *r);
void judge_drift(const struct judge_arm *c, const struct judge_arm *b,
		 const struct judge_params *p, struct judge_result *r);

/* {"test", "result", "statistic", "p_value", "likelihood_ratio", "effect",
 * "effect_lo", "effect_hi", ... "samples": {canary, baseline}, "devices": {..},
 * "why"}; non-finite numbers are null, magnitudes above JUDGE_JSON_MAX are
 * written as JUDGE_JSON_MAX. NULL when out of memory. */
json_t *judge_result_json(const struct judge_result *r);

/* "pass", "fail", "inconclusive". */
const char *judge_result_name(int result);

#endif
