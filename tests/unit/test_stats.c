/*
 * test_stats.c - the judge's statistics (domain/stats.c) against values
 * computed independently: published normal and Kolmogorov tables, and numpy
 * reimplementations (Mann-Whitney by expanding the buckets into observations
 * and ranking them with average ranks; the mixture ratio and the
 * cluster-robust variance from their textbook formulas). The judges
 * (domain/judge.c) on constructed arms, and the peeking property: the
 * error-rate judge keeps its false-rollback rate under alpha when it looks
 * after every batch of reports, in a seeded simulation.
 */
#include "unit.h"

#include "domain/judge.h"
#include "domain/stats.h"

static void stats_normal_matches_table(void)
{
	CHECK_NEAR(stats_norm_cdf(1.96), 0.9750021048517795, 1e-12);
	CHECK_NEAR(stats_norm_cdf(1.0), 0.8413447460685429, 1e-12);
	CHECK_NEAR(stats_norm_cdf(-3.0), 0.0013498980316301, 1e-14);
	CHECK_NEAR(stats_norm_sf(1.6448536269514722), 0.05, 1e-12);
	CHECK_NEAR(stats_norm_sf(8.0), 6.22096057427178e-16, 1e-28); /* tail precision */
}

static void stats_msprt_matches_formula(void)
{
	/* numpy: sqrt(v/(v+t2)) * exp(t2 d^2 / (2 v (v+t2))) */
	CHECK_NEAR(stats_msprt_lr(0.3, 0.01, 0.16, 0), 16.754844588539992, 1e-9);
	CHECK_NEAR(stats_msprt_lr(-0.1, 0.04, 0.09, 0.05), 0.6739388092128555, 1e-12);
	CHECK_NEAR(stats_msprt_halfwidth(0.01, 0.16, 0.05), 0.30620614395145573, 1e-12);
	/* the half-width is where the ratio reaches 1/alpha */
	CHECK_NEAR(stats_msprt_lr(0.30620614395145573, 0.01, 0.16, 0), 20.0, 1e-9);
	CHECK(isnan(stats_msprt_lr(0.1, 0, 0.1, 0)));
	CHECK(isnan(stats_msprt_halfwidth(0.1, 0.1, 0)));
}

static void stats_cluster_rate_is_robust(void)
{
	double e[] = {3, 0, 10, 1}, n[] = {100, 50, 120, 80};
	double e2[] = {5, 5, 5, 5}, n2[] = {100, 100, 100, 100};
	struct stats_rate r;

	CHECK_EQ_INT(stats_cluster_rate(e, n, 4, &r), 0);
	CHECK_NEAR(r.rate, 0.04131054131054131, 1e-15);
	CHECK_NEAR(r.logit, -3.1444494996582537, 1e-12);
	/* scattered devices: the cluster variance (0.2518) beats the binomial (0.0719) */
	CHECK_NEAR(r.var_logit, 0.25181292063880856, 1e-12);
	/* identical devices: the cluster variance (1.8e-4) is floored at the binomial */
	CHECK_EQ_INT(stats_cluster_rate(e2, n2, 4, &r), 0);
	CHECK_NEAR(r.var_logit, 0.051408608698439155, 1e-12);
	CHECK_EQ_INT(stats_cluster_rate(e, n, 1, &r), -1);
}

static void stats_mann_whitney_with_ties(void)
{
	double x[] = {1, 2, 0, 3}, y[] = {2, 1, 2, 0}, same[] = {0, 5, 0, 0};
	struct stats_mw mw;

	CHECK_EQ_INT(stats_mann_whitney_hist(x, y, 4, &mw), 0);
	CHECK_NEAR(mw.u, 21.0, 1e-12);
	CHECK_NEAR(mw.auc, 0.7, 1e-12);
	CHECK_NEAR(mw.var_u, 28.227272727272727, 1e-10);
	CHECK_NEAR(mw.z, 1.1293194051465598, 1e-10);
	CHECK_NEAR(mw.p_greater, 0.12938155888449313, 1e-10);
	/* every observation in one bucket: no variance, no test */
	CHECK_EQ_INT(stats_mann_whitney_hist(same, same, 4, &mw), -1);
	CHECK_EQ_INT(stats_mann_whitney_hist(x, same + 0, 0, &mw), -1);
}

/* numpy (Obuchowski 1997): the buckets expanded into observations, the
 * kernel psi = [x > y] + [x = y] / 2 over all pairs, each observation's mean
 * kernel summed per device, the CR1 sums of squares around m_i A */
static void stats_mann_whitney_clustered_matches_numpy(void)
{
	double x[] = {1, 2, 0, 3, 0, 4, 1, 1, 2, 0, 3, 2};
	double y[] = {2, 1, 2, 0, 3, 3, 0, 1, 1, 0, 1, 0, 0, 2, 2, 2};
	/* devices that differ: each sits in its own buckets */
	double xs[] = {10, 0, 0, 0, 0, 0, 0, 10, 0, 10, 0, 0};
	double ys[] = {5, 5, 0, 0, 0, 0, 5, 5, 0, 5, 5, 0};
	double empty[] = {0, 0, 0, 0, 1, 1, 1, 1};
	struct stats_mw_cluster c;
	struct stats_mw mw;
	double tx[4] = {0}, ty[4] = {0};

	CHECK_EQ_INT(stats_mw_cluster_var(x, 3, y, 4, 4, &c), 0);
	CHECK_NEAR(c.auc, 0.6105263157894737, 1e-12);
	CHECK_NEAR(c.var10, 0.0003085698007228305, 1e-15);
	CHECK_NEAR(c.var01, 0.006322622345337025, 1e-14);
	CHECK(c.kx == 3 && c.ky == 4);
	/* the pooled auc is the unclustered Mann-Whitney's */
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 4; j++)
			tx[j] += x[i * 4 + j];
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			ty[j] += y[i * 4 + j];
	CHECK_EQ_INT(stats_mann_whitney_hist(tx, ty, 4, &mw), 0);
	CHECK_NEAR(mw.auc, c.auc, 1e-12);
	/* heterogeneous devices: 0.0756 against 0.0052 for independent requests */
	CHECK_EQ_INT(stats_mw_cluster_var(xs, 3, ys, 3, 4, &c), 0);
	CHECK_NEAR(c.auc, 0.4444444444444444, 1e-12);
	CHECK_NEAR(c.var10, 0.060956790123456776, 1e-14);
	CHECK_NEAR(c.var01, 0.0146604938271605, 1e-14);
	/* a device without counts is not a cluster: one left is too few */
	CHECK_EQ_INT(stats_mw_cluster_var(empty, 2, y, 4, 4, &c), -1);
	CHECK_EQ_INT(stats_mw_cluster_var(x, 3, y, 4, 0, &c), -1);
	CHECK_EQ_INT(stats_mw_cluster_var(x, 3, y, 4, STATS_MAX_BUCKETS + 1, &c), -1);
}

static void stats_distances_match_numpy(void)
{
	double p[] = {10, 20, 30, 40}, q[] = {25, 25, 25, 25}, z[] = {0, 0, 0, 0};

	CHECK_NEAR(stats_psi(p, q, 4, 1e-4), 0.22809664997413376, 1e-12);
	CHECK_NEAR(stats_js(p, q, 4), 0.04020158234614189, 1e-12);
	CHECK_NEAR(stats_ks(p, q, 4), 0.2, 1e-12);
	CHECK_NEAR(stats_js(p, p, 4), 0.0, 1e-15);
	CHECK(isnan(stats_js(p, z, 4)));
	/* Kolmogorov tail: numpy series with ne = 50, d = 0.2 */
	CHECK_NEAR(stats_ks_pvalue(0.2, 50), 0.03137665215307253, 1e-8);
	/* published: the 5% critical value of the Kolmogorov distribution is 1.358 */
	CHECK_NEAR(stats_ks_pvalue(1.3581 / 1000.0 * 1000.0 / (sqrt(1e8) + 0.12 + 0.11 / sqrt(1e8)),
				   1e8),
		   0.05, 1e-4);
}

static void stats_rng_is_deterministic(void)
{
	uint64_t a = 42, b = 42;
	double sum = 0;

	for (int i = 0; i < 1000; i++)
		CHECK(stats_rng_next(&a) == stats_rng_next(&b));
	for (int i = 0; i < 20000; i++)
		sum += stats_rng_poisson(&a, 4.0);
	CHECK_NEAR(sum / 20000, 4.0, 0.1);
}

/* --- the judges ------------------------------------------------------ */

static void add_dev(struct judge_arm *a, int i, const char *pfx, double req, double err)
{
	char id[32];

	snprintf(id, sizeof(id), "%s-%d", pfx, i);
	CHECK_EQ_INT(judge_arm_add_counts(a, id, req, err, NULL, NULL), 0);
}

static void judge_error_rate_fails_a_clear_regression(void)
{
	struct judge_arm *c = judge_arm_new(), *b = judge_arm_new();
	struct judge_params p = {0.05, 0.5, 3, 0, 1, 1};
	struct judge_result r;

	for (int i = 0; i < 20; i++)
		add_dev(c, i, "c", 1000, 40); /* 4% */
	for (int i = 0; i < 100; i++)
		add_dev(b, i, "b", 1000, 10); /* 1% */
	judge_error_rate(c, b, &p, &r);
	CHECK_EQ_INT(r.result, 0);
	CHECK(r.lr >= 20);
	CHECK(r.lo > 1 && r.effect > 3.5 && r.effect < 4.5);
	CHECK_NEAR(r.devices[0], 20, 0);
	CHECK_NEAR(r.samples[1], 100000, 0);
	judge_arm_free(c);
	judge_arm_free(b);
}

static void judge_error_rate_one_chatty_device_does_not_decide(void)
{
	struct judge_arm *c = judge_arm_new(), *b = judge_arm_new();
	struct judge_params p = {0.05, 0.5, 3, 0, 1, 1};
	struct judge_result r;

	/* one device sends most requests and most errors; the rest look like the
	 * baseline. Pooled counts would say 2.7x; with devices as clusters the
	 * interval is wide and the verdict is not a rollback. */
	add_dev(c, 0, "c", 20000, 600);
	for (int i = 1; i < 6; i++)
		add_dev(c, i, "c", 500, 5);
	for (int i = 0; i < 100; i++)
		add_dev(b, i, "b", 1000, 10);
	judge_error_rate(c, b, &p, &r);
	CHECK(r.canary_value / r.baseline_value > 2.5); /* pooled counts */
	CHECK(r.effect < 2.0);				  /* device-weighted odds */
	CHECK(r.result != 0);
	judge_arm_free(c);
	judge_arm_free(b);
}

static void judge_error_rate_passes_healthy_and_says_inconclusive_when_thin(void)
{
	struct judge_arm *c = judge_arm_new(), *b = judge_arm_new(), *thin = judge_arm_new();
	struct judge_params p = {0.05, 0.5, 3, 0, 1, 1};
	struct judge_result r;

	for (int i = 0; i < 20; i++)
		add_dev(c, i, "c", 5000, 50);
	for (int i = 0; i < 100; i++)
		add_dev(b, i, "b", 5000, 50);
	judge_error_rate(c, b, &p, &r);
	CHECK_EQ_INT(r.result, 1);
	CHECK(r.hi < 1.5);
	for (int i = 0; i < 5; i++)
		add_dev(thin, i, "t", 20, 0);
	judge_error_rate(thin, b, &p, &r);
	CHECK_EQ_INT(r.result, -1);
	judge_arm_free(thin);
	thin = judge_arm_new();
	add_dev(thin, 0, "t", 100000, 5000); /* one device: too few */
	judge_error_rate(thin, b, &p, &r);
	CHECK_EQ_INT(r.result, -1);
	CHECK(strstr(r.why, "too few devices") != NULL);
	judge_arm_free(thin);
	thin = judge_arm_new();
	judge_error_rate(thin, b, &p, &r);
	CHECK_EQ_INT(r.result, -1);
	CHECK(strstr(r.why, "no data") != NULL);
	judge_arm_free(thin);
	judge_arm_free(c);
	judge_arm_free(b);
}

/*
 * The peeking test: 1000 healthy canaries (20 devices, heterogeneous rates
 * and traffic, the same distribution as the 100 baseline devices), each
 * judged after every one of 60 batches. A fixed-sample test at 5% looked at
 * 60 times would roll back far more than 5% of them (see
 * judge_fixed_z_test_inflates_under_peeking); the always-valid test must
 * stay at or under alpha.
 */
/* 1000 seeded healthy runs; naive: a fixed-sample one-sided z test at 5% on
 * the same estimate at each look instead of the mixture ratio */
static int peeking_rollbacks(bool naive)
{
	uint64_t rng = 20261202;
	int rollbacks = 0;
	struct judge_params p = {0.05, 0.5, 3, 0, 1, 1};

	for (int run = 0; run < 1000; run++) {
		struct judge_arm *c = judge_arm_new(), *b = judge_arm_new();
		double crate[20], cl[20], brate[100], bl[100];
		bool failed = false;

		for (int i = 0; i < 20; i++) {
			crate[i] = 0.01 * exp(0.5 * stats_rng_normal(&rng));
			cl[i] = 5 + 40 * stats_rng_unif(&rng);
		}
		for (int i = 0; i < 100; i++) {
			brate[i] = 0.01 * exp(0.5 * stats_rng_normal(&rng));
			bl[i] = 5 + 40 * stats_rng_unif(&rng);
		}
		for (int look = 0; look < 60 && !failed; look++) {
			struct judge_result r;
			for (int i = 0; i < 20; i++) {
				double n = stats_rng_poisson(&rng, cl[i]);
				add_dev(c, i, "c", n, stats_rng_binomial(&rng, n, crate[i]));
			}
			for (int i = 0; i < 100; i++) {
				double n = stats_rng_poisson(&rng, bl[i]);
				add_dev(b, i, "b", n, stats_rng_binomial(&rng, n, brate[i]));
			}
			judge_error_rate(c, b, &p, &r);
			if (!naive) {
				failed = r.result == 0;
			} else if (isfinite(r.statistic)) {
				failed = r.statistic / r.se > 1.6448536269514722;
			}
		}
		rollbacks += failed;
		judge_arm_free(c);
		judge_arm_free(b);
	}
	return rollbacks;
}

/*
 * The peeking test: 1000 healthy canaries (20 devices, heterogeneous rates
 * and traffic, the same distribution as the 100 baseline devices), each
 * judged after every one of 60 batches. The always-valid test must stay at
 * or under alpha (5%) however often it looks.
 */
static void judge_error_rate_alpha_holds_under_repeated_looks(void)
{
	int n = peeking_rollbacks(false);

	fprintf(stderr, "  peeking: %d of 1000 healthy canaries rolled back\n", n);
	CHECK(n <= 50);
}

/* ...while a fixed-sample 5% test looked at 60 times is far above 5%: the
 * simulation is sensitive enough to catch an invalid test. */
static void judge_fixed_z_test_inflates_under_peeking(void)
{
	int n = peeking_rollbacks(true);

	fprintf(stderr, "  peeking, fixed z test: %d of 1000 rolled back\n", n);
	CHECK(n > 150);
}

/*
 * The early pass under peeking: a stage whose gates are all sequential
 * passes at the first look where the always-valid interval excludes the
 * regression (rollout.c, early_pass). 1000 seeded canaries of a version
 * exactly as bad as min_effect (every device's error rate x1.5, 20
 * heterogeneous devices against 100), judged after every one of 60 batches
 * and stopped at the first pass or fail: a pass here is a false promotion,
 * and it must stay at or under alpha.
 */
static void judge_error_rate_early_pass_holds_alpha_for_a_bad_version(void)
{
	uint64_t rng = 20261204;
	int passes = 0, fails = 0;
	struct judge_params p = {0.05, 0.5, 3, 0, 1, 1};

	for (int run = 0; run < 1000; run++) {
		struct judge_arm *c = judge_arm_new(), *b = judge_arm_new();
		double crate[20], cl[20], brate[100], bl[100];
		int verdict = -1;

		for (int i = 0; i < 20; i++) {
			crate[i] = 1.5 * 0.01 * exp(0.5 * stats_rng_normal(&rng));
			cl[i] = 5 + 40 * stats_rng_unif(&rng);
		}
		for (int i = 0; i < 100; i++) {
			brate[i] = 0.01 * exp(0.5 * stats_rng_normal(&rng));
			bl[i] = 5 + 40 * stats_rng_unif(&rng);
		}
		for (int look = 0; look < 60 && verdict == -1; look++) {
			struct judge_result r;
			for (int i = 0; i < 20; i++) {
				double n = stats_rng_poisson(&rng, cl[i]);
				add_dev(c, i, "c", n, stats_rng_binomial(&rng, n, crate[i]));
			}
			for (int i = 0; i < 100; i++) {
				double n = stats_rng_poisson(&rng, bl[i]);
				add_dev(b, i, "b", n, stats_rng_binomial(&rng, n, brate[i]));
			}
			judge_error_rate(c, b, &p, &r);
			verdict = r.result;
		}
		passes += verdict == 1;
		fails += verdict == 0;
		judge_arm_free(c);
		judge_arm_free(b);
	}
	fprintf(stderr, "  early pass, x1.5 canaries: %d of 1000 promoted, %d rolled back\n", passes,
		fails);
	CHECK(passes <= 50);
}

static void judge_latency_detects_a_shift(void)
{
	double bounds[] = {10, 20, 40, 80, 160, 320};
	double base[] = {100, 400, 300, 150, 40, 10, 0};
	double slow[] = {20, 150, 330, 300, 150, 50, 0};
	struct judge_arm *c = judge_arm_new(), *b = judge_arm_new(), *h = judge_arm_new();
	struct judge_params p = {0.05, 0.2, 3, 100, 1, 1};
	struct judge_result r;

	judge_arm_set_layout(c, bounds, 6, NULL, 0);
	judge_arm_set_layout(b, bounds, 6, NULL, 0);
	judge_arm_set_layout(h, bounds, 6, NULL, 0);
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof(id), "d%d", i);
		judge_arm_add_counts(c, id, 1000, 0, slow, NULL);
		judge_arm_add_counts(b, id, 1000, 0, base, NULL);
		judge_arm_add_counts(h, id, 1000, 0, base, NULL);
	}
	judge_latency(c, b, 0.95, &p, &r);
	CHECK_EQ_INT(r.result, 0);
	CHECK(r.p95_shift > 0.2 && r.p50_shift > 0.2);
	CHECK(r.p_value < 1e-6);
	judge_latency(h, b, 0.95, &p, &r);
	CHECK_EQ_INT(r.result, 1);
	CHECK_NEAR(r.p95_shift, 0, 1e-12);
	judge_arm_free(c);
	judge_arm_free(b);
	judge_arm_free(h);
}

/*
 * Latency under peeking with devices that differ: 400 seeded healthy
 * 5-device canaries against 100 baseline devices, every device with its own
 * speed (lognormal latency, median 50 ms x exp(0.1 N(0,1)), sigma 0.5, 30
 * requests a minute: the bench's high-traffic fleet), judged after every one
 * of 30 minutes with min_effect 0.1. Counted twice: the judge (the AUC's
 * variance with devices as clusters) and the same mixture test on the
 * variance of independent requests (what the judge did before), which a
 * device's own speed fools. Returns the judge's rollbacks; *naive gets the
 * other count.
 */
static int latency_peeking_rollbacks(int *naive)
{
	double bounds[] = {10, 20, 30, 40, 50, 70, 100, 150, 200, 300};
	uint64_t rng = 20261203;
	int rollbacks = 0;
	struct judge_params p = {0.05, 0.1, 3, 100, 1, 1};

	*naive = 0;
	for (int run = 0; run < 400; run++) {
		struct judge_arm *c = judge_arm_new(), *b = judge_arm_new();
		double speed[105], tc[11] = {0}, tb[11] = {0};
		bool failed = false, naive_failed = false;

		judge_arm_set_layout(c, bounds, 10, NULL, 0);
		judge_arm_set_layout(b, bounds, 10, NULL, 0);
		for (int i = 0; i < 105; i++)
			speed[i] = exp(0.1 * stats_rng_normal(&rng));
		for (int minute = 0; minute < 30 && !(failed && naive_failed); minute++) {
			struct judge_result r;
			struct stats_mw mw;
			for (int i = 0; i < 105; i++) {
				double h[11], prev = 0, mu = log(50 * speed[i]);
				char id[16];
				for (int j = 0; j <= 10; j++) {
					double cdf = j < 10 ? stats_norm_cdf((log(bounds[j]) - mu) / 0.5) : 1;
					h[j] = stats_rng_poisson(&rng, 30 * (cdf - prev));
					prev = cdf;
					(i < 5 ? tc : tb)[j] += h[j];
				}
				snprintf(id, sizeof(id), "%c%d", i < 5 ? 'c' : 'b', i);
				judge_arm_add_counts(i < 5 ? c : b, id, 0, 0, h, NULL);
			}
			judge_latency(c, b, 0.95, &p, &r);
			failed |= r.result == 0;
			if (!naive_failed && stats_mann_whitney_hist(tc, tb, 11, &mw) == 0) {
				double v = mw.var_u / (mw.nx * mw.ny) / (mw.nx * mw.ny);
				naive_failed = mw.auc > 0.5 && r.effect >= 0.1 &&
					       stats_msprt_lr(mw.auc - 0.5, v, 0.01, 0) >= 20;
			}
		}
		rollbacks += failed;
		*naive += naive_failed;
		judge_arm_free(c);
		judge_arm_free(b);
	}
	return rollbacks;
}

static void judge_latency_alpha_holds_with_device_clusters(void)
{
	int naive, n = latency_peeking_rollbacks(&naive);

	fprintf(stderr, "  latency peeking: %d of 400 rolled back (independent requests: %d)\n",
		n, naive);
	CHECK(n <= 20); /* <= alpha */
	CHECK(naive > n);
}

/* devices draw confidence histograms around a profile; shifted moves mass */
static void drift_arm(struct judge_arm *a, const char *pfx, int n, double shift, double reqs,
		      uint64_t *rng)
{
	double bounds[] = {0.2, 0.4, 0.6, 0.8};
	double prof[] = {0.05, 0.10, 0.20, 0.35, 0.30};

	judge_arm_set_layout(a, NULL, 0, bounds, 4);
	for (int i = 0; i < n; i++) {
		double h[5], dev = 0.05 * stats_rng_normal(rng);
		char id[32];
		for (int j = 0; j < 5; j++) {
			double w = prof[j] * (1 + (j >= 3 ? -shift : shift)) * (1 + (j - 2) * dev);
			h[j] = stats_rng_poisson(rng, reqs * (w > 0 ? w : 0));
		}
		snprintf(id, sizeof(id), "%s-%d", pfx, i);
		judge_arm_add_counts(a, id, reqs, 0, NULL, h);
	}
}

static void judge_drift_is_calibrated_for_small_canaries(void)
{
	uint64_t rng = 7;
	struct judge_params p = {0.05, 0.002, 3, 0, 99, 1};
	int flagged = 0, caught = 0;

	for (int run = 0; run < 100; run++) {
		struct judge_arm *c = judge_arm_new(), *b = judge_arm_new(), *s = judge_arm_new();
		struct judge_result r;
		drift_arm(c, "c", 5, 0, 50, &rng);
		drift_arm(b, "b", 60, 0, 50, &rng);
		drift_arm(s, "s", 20, 0.4, 50, &rng);
		judge_drift(c, b, &p, &r);
		flagged += r.result == 0;
		if (run == 0) {
			CHECK(r.js > 0 && r.psi > 0 && r.ks > 0 && r.ks_p > 0);
			CHECK(r.p_value > 0 && r.p_value <= 1);
		}
		judge_drift(s, b, &p, &r);
		caught += r.result == 0;
		judge_arm_free(c);
		judge_arm_free(b);
		judge_arm_free(s);
	}
	fprintf(stderr, "  drift: healthy 5-device canaries flagged %d/100, shifted 20-device "
			"caught %d/100\n",
		flagged, caught);
	CHECK(flagged <= 8);
	CHECK(caught >= 95);
}

static void judge_drift_too_few_devices_is_inconclusive(void)
{
	uint64_t rng = 3;
	struct judge_arm *c = judge_arm_new(), *b = judge_arm_new();
	struct judge_params p = {0.05, 0, 2, 0, 1, 1};
	struct judge_result r;

	drift_arm(c, "c", 5, 0.5, 500, &rng);
	drift_arm(b, "b", 2, 0, 500, &rng);
	judge_drift(c, b, &p, &r);
	CHECK_EQ_INT(r.result, -1);
	CHECK(strstr(r.why, "too few devices") != NULL);
	judge_arm_free(c);
	judge_arm_free(b);
}

static void judge_result_json_names_everything(void)
{
	struct judge_arm *c = judge_arm_new(), *b = judge_arm_new();
	struct judge_params p = {0.05, 0.5, 3, 0, 1, 1};
	struct judge_result r;
	json_t *j;

	for (int i = 0; i < 5; i++) {
		add_dev(c, i, "c", 1000, 50);
		add_dev(b, i, "b", 1000, 10);
	}
	judge_error_rate(c, b, &p, &r);
	j = judge_result_json(&r);
	CHECK(j != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(j, "test")), "msprt_log_odds");
	CHECK_EQ_STR(json_string_value(json_object_get(j, "result")), "fail");
	CHECK(json_is_number(json_object_get(j, "likelihood_ratio")));
	CHECK(json_is_null(json_object_get(j, "psi")));
	CHECK_NEAR(json_number_value(json_object_get(json_object_get(j, "devices"), "canary")), 5,
		   0);
	json_decref(j);
	r.lr = 1e30; /* capped so a stored copy reads back */
	r.statistic = NAN;
	j = judge_result_json(&r);
	CHECK_NEAR(json_number_value(json_object_get(j, "likelihood_ratio")), 1e12, 0);
	CHECK(json_is_null(json_object_get(j, "statistic")));
	json_decref(j);
	judge_arm_free(c);
	judge_arm_free(b);
}

static const struct unit_case cases[] = {
	UNIT(stats_normal_matches_table),
	UNIT(stats_msprt_matches_formula),
	UNIT(stats_cluster_rate_is_robust),
	UNIT(stats_mann_whitney_with_ties),
	UNIT(stats_mann_whitney_clustered_matches_numpy),
	UNIT(stats_distances_match_numpy),
	UNIT(stats_rng_is_deterministic),
	UNIT(judge_error_rate_fails_a_clear_regression),
	UNIT(judge_error_rate_one_chatty_device_does_not_decide),
	UNIT(judge_error_rate_passes_healthy_and_says_inconclusive_when_thin),
	UNIT(judge_error_rate_alpha_holds_under_repeated_looks),
	UNIT(judge_fixed_z_test_inflates_under_peeking),
	UNIT(judge_error_rate_early_pass_holds_alpha_for_a_bad_version),
	UNIT(judge_latency_detects_a_shift),
	UNIT(judge_latency_alpha_holds_with_device_clusters),
	UNIT(judge_drift_is_calibrated_for_small_canaries),
	UNIT(judge_drift_too_few_devices_is_inconclusive),
	UNIT(judge_result_json_names_everything),
	{0},
};

UNIT_MAIN(cases)
