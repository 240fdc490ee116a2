/*
 * stats.h - the statistics behind the sequential judge (docs/judge.md): the
 * normal distribution, an always-valid normal-mixture sequential test
 * (mSPRT), a cluster-robust rate estimate, Mann-Whitney U on histogram
 * buckets with tie correction, PSI, Jensen-Shannon and two-sample KS on
 * histograms, and a small deterministic random generator for permutation
 * references. Pure: no clock, no I/O, no allocation.
 */
#ifndef RAMP_STATS_H
#define RAMP_STATS_H

#include <stddef.h>
#include <stdint.h>

/* P(Z <= z) and P(Z > z) for a standard normal Z (computed with erfc, so the
 * tail keeps its precision far out). */
double stats_norm_cdf(double z);
double stats_norm_sf(double z);

/*
 * The normal-mixture sequential probability ratio (Robbins; Johari et al.
 * 2017) for an estimate est ~ N(theta, v) of H0: theta = theta0 against a
 * N(theta0, tau2) mixture of alternatives:
 *   L = sqrt(v / (v + tau2)) * exp(tau2 (est - theta0)^2 / (2 v (v + tau2))).
 * Rejecting when L >= 1/alpha keeps the type I error <= alpha however often
 * it is looked at. NaN when v or tau2 is not > 0.
 */
double stats_msprt_lr(double est, double v, double tau2, double theta0);

/*
 * The half-width h of the matching always-valid confidence sequence:
 * theta is outside [est - h, est + h] with probability <= alpha at any look.
 * |est - theta0| >= h exactly when stats_msprt_lr() >= 1/alpha.
 */
double stats_msprt_halfwidth(double v, double tau2, double alpha);

/*
 * A rate counted over clusters (devices): events[i] out of trials[i] for k
 * clusters. rate = (sum events + 0.5) / (sum trials + 1); logit = its log
 * odds; var_logit the variance of logit: the cluster-robust (CR1) variance of
 * the ratio estimator, k/(k-1) * sum (e_i - rate n_i)^2 / (sum n)^2, turned
 * to the log-odds scale by the delta method, and never below the binomial
 * variance 1/(E+0.5) + 1/(N-E+0.5) - so one chatty device weighs what its
 * scatter says, and a homogeneous fleet is not judged on a variance smaller
 * than its counts support. Returns 0, or -1 when k < 2 or there are no trials.
 */
struct stats_rate {
	double events, trials, rate, logit, var_logit;
	double var_cluster, var_binomial; /* the two candidates for var_logit */
	size_t clusters;
};
int stats_cluster_rate(const double *events, const double *trials, size_t k,
		       struct stats_rate *out);

/*
 * Mann-Whitney U of x against y from counts over the same n ordered buckets
 * (ties within a bucket). u = sum_j x_j (Y_{<j} + y_j / 2); auc = u / (nx ny)
 * = P(X > Y) + P(X = Y) / 2; z from the normal approximation with the tie
 * correction var = nx ny / 12 * ((N + 1) - sum (t^3 - t) / (N (N - 1))) and
 * no continuity correction; p_greater = P(Z >= z), the one-sided p-value for
 * "x is stochastically greater". Returns 0, or -1 when either side is empty
 * or every observation ties (var 0).
 */
struct stats_mw {
	double nx, ny, u, auc, var_u, z, p_greater;
};
int stats_mann_whitney_hist(const double *x, const double *y, size_t n,
			    struct stats_mw *out);

/*
 * The variance of the Mann-Whitney AUC when the observations come in
 * clusters (devices), after Obuchowski ("Nonparametric analysis of clustered
 * ROC curve data", Biometrics 1997): x holds kx rows of n bucket counts (one
 * row per canary device), y ky rows (baseline devices). With the pooled
 * totals X, Y (M and N observations) and A = the pooled auc,
 *   V10_i = sum_j x_ij (Y_{<j} + Y_j / 2) / N   (device i's "wins"),
 *   V01_l = sum_j y_lj (X_{>j} + X_j / 2) / M,
 *   var10 = kx / (kx - 1) sum_i (V10_i - m_i A)^2 / M^2,
 *   var01 = ky / (ky - 1) sum_l (V01_l - n_l A)^2 / N^2,
 * var(auc) = var10 + var01 (no device is in both arms). Rows without counts
 * are not clusters. The independent-observation variance of stats_mw is
 * var_u / (nx ny)^2; a device's own speed makes its requests correlated and
 * var10 + var01 larger. Returns 0, or -1 when an arm has fewer than 2
 * clusters with counts, n is 0 or above STATS_MAX_BUCKETS.
 */
#define STATS_MAX_BUCKETS 128
struct stats_mw_cluster {
	double auc, var10, var01;
	size_t kx, ky; /* clusters with counts */
};
int stats_mw_cluster_var(const double *x, size_t kx, const double *y, size_t ky, size_t n,
			 struct stats_mw_cluster *out);

/*
 * Distances between two count vectors over the same n buckets, each
 * normalised to sum 1 (NaN when either sums to 0). PSI = sum (p - q) ln(p / q)
 * with eps added to each proportion (e.g. 1e-4); Jensen-Shannon divergence in
 * bits (0..1); KS = the largest difference of the cumulative proportions.
 */
double stats_psi(const double *p, const double *q, size_t n, double eps);
double stats_js(const double *p, const double *q, size_t n);
double stats_ks(const double *p, const double *q, size_t n);

/* The asymptotic Kolmogorov tail P(K > (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) d)
 * for a two-sample KS distance d with effective size ne = n1 n2 / (n1 + n2)
 * (Numerical Recipes, probks). */
double stats_ks_pvalue(double d, double ne);

/* splitmix64: a fixed seed gives the same sequence everywhere. */
uint64_t stats_rng_next(uint64_t *state);
/* Uniform in [0, 1) with 53 bits. */
double stats_rng_unif(uint64_t *state);
/* Uniform integer in [0, n); n > 0. */
size_t stats_rng_below(uint64_t *state, size_t n);
/* A standard normal (Box-Muller). */
double stats_rng_normal(uint64_t *state);
/* Poisson(lambda): inversion for lambda < 30, else a rounded normal. */
double stats_rng_poisson(uint64_t *state, double lambda);
/* Binomial(n, p): by Poisson/normal approximations for large n. */
double stats_rng_binomial(uint64_t *state, double n, double p);

#endif
