/* test_slo.c - the SLO math: quantiles, KL divergence and arm metrics, each
 * against an answer computed by hand in the comment beside it. */
#include "domain/slo.h"
#include "unit.h"

#include <string.h>

/* A valid report with no optional fields, as telemetry_parse() leaves it. */
static struct telemetry_report rep(const char *dev, int64_t requests,
				   int64_t errors)
{
	struct telemetry_report r;

	memset(&r, 0, sizeof(r));
	snprintf(r.device_id, sizeof(r.device_id), "%s", dev);
	snprintf(r.model, sizeof(r.model), "m");
	snprintf(r.version, sizeof(r.version), "1");
	r.requests = requests;
	r.errors = errors;
	r.latency_ms = NAN;
	r.cpu_pct = r.mem_pct = r.npu_pct = r.temperature_c = NAN;
	r.disk_free_mb = r.model_load_ms = r.confidence_mean = NAN;
	return r;
}

static void set_lat_hist(struct telemetry_report *r, size_t nb,
			 const double *b, const int64_t *c)
{
	r->lat_nbounds = nb;
	memcpy(r->lat_bounds, b, nb * sizeof(*b));
	memcpy(r->lat_counts, c, (nb + 1) * sizeof(*c));
}

static void set_conf_hist(struct telemetry_report *r, size_t nb,
			  const double *b, const int64_t *c)
{
	r->conf_nbounds = nb;
	memcpy(r->conf_bounds, b, nb * sizeof(*b));
	memcpy(r->conf_counts, c, (nb + 1) * sizeof(*c));
}

static void slo_weighted_p95_of_small_set(void)
{
	/* sorted: 100 (w 90), 200 (w 6), 300 (w 4); total 100.
	 * p95: target 95; cumulative 90 < 95, then 96 >= 95 -> 200.
	 * p99: target 99; 90, 96 < 99, then 100 -> 300.
	 * p90: target 90; 90 >= 90 already at 100 -> 100. */
	struct slo_point p[] = {{300, 4}, {100, 90}, {200, 6}};

	CHECK_NEAR(slo_weighted_quantile(p, 3, 0.95), 200, 0);
	CHECK_NEAR(slo_weighted_quantile(p, 3, 0.99), 300, 0);
	CHECK_NEAR(slo_weighted_quantile(p, 3, 0.90), 100, 0);
}

static void slo_weighted_p50_follows_uneven_weights(void)
{
	/* values 1,2,3,4 with weights 1,1,1,7: total 10, target 5;
	 * cumulative 1,2,3 < 5, then 10 -> 4 (the unweighted median is 2.5) */
	struct slo_point p[] = {{4, 7}, {2, 1}, {1, 1}, {3, 1}};

	CHECK_NEAR(slo_weighted_quantile(p, 4, 0.5), 4, 0);
	/* q = 0 is the smallest value */
	CHECK_NEAR(slo_weighted_quantile(p, 4, 0), 1, 0);
}

static void slo_weighted_quantile_skips_unusable_points(void)
{
	/* only (5, 2) and (9, 2) count: total 4, p50 target 2 -> 5 */
	struct slo_point p[] = {{1, 0}, {NAN, 5}, {9, 2}, {2, -3}, {5, 2}};
	struct slo_point z[] = {{1, 0}, {2, 0}};

	CHECK_NEAR(slo_weighted_quantile(p, 5, 0.5), 5, 0);
	CHECK(isnan(slo_weighted_quantile(z, 2, 0.5)));
	CHECK(isnan(slo_weighted_quantile(z, 0, 0.5)));
	CHECK(isnan(slo_weighted_quantile(p, 5, 1.5)));
	CHECK(isnan(slo_weighted_quantile(p, 5, NAN)));
}

static const double b4[] = {10, 20, 50, 100};
static const int64_t ca[] = {40, 40, 10, 8, 2};
static const int64_t cb[] = {20, 30, 30, 18, 2};

static void slo_hist_p95_interpolates_in_bucket(void)
{
	/* counts 40,40,10,8,2 (total 100), target 95: cumulative 40,80,90
	 * then 98 in bucket (50,100]: 50 + (95-90)/8 * 50 = 81.25 */
	const double c[] = {40, 40, 10, 8, 2};

	CHECK_NEAR(slo_hist_quantile(b4, 4, c, 0.95), 81.25, 1e-9);
	/* p50: target 50 in (10,20]: 10 + (50-40)/40 * 10 = 12.5 */
	CHECK_NEAR(slo_hist_quantile(b4, 4, c, 0.5), 12.5, 1e-9);
}

static void slo_hist_first_bucket_starts_at_zero(void)
{
	/* all 10 in [0,10]: p50 = 0 + 5/10 * 10 = 5 */
	const double c[] = {10, 0, 0};
	const double b[] = {10, 20};

	CHECK_NEAR(slo_hist_quantile(b, 2, c, 0.5), 5, 1e-9);
}

static void slo_hist_overflow_bucket_returns_last_bound(void)
{
	/* bounds 10,20,50; counts 20,50,20,10: cumulative 20,70,90 < 95 ->
	 * overflow bucket -> 50 */
	const double b[] = {10, 20, 50};
	const double c[] = {20, 50, 20, 10};

	CHECK_NEAR(slo_hist_quantile(b, 3, c, 0.95), 50, 0);
	/* p90 lands exactly on the top of (20,50]: 20 + 20/20 * 30 = 50 */
	CHECK_NEAR(slo_hist_quantile(b, 3, c, 0.90), 50, 1e-9);
}

static void slo_hist_empty_is_nan(void)
{
	const double z[] = {0, 0, 0, 0, 0};

	CHECK(isnan(slo_hist_quantile(b4, 4, z, 0.5)));
	CHECK(isnan(slo_hist_quantile(b4, 0, z, 0.5)));
}

static void slo_arm_merges_two_histograms_for_p95(void)
{
	/* merged counts: 40+20, 40+30, 10+30, 8+18, 2+2 = 60,70,40,26,4
	 * (total 200). p95 target 190: cumulative 60,130,170 then 196 in
	 * (50,100]: 50 + (190-170)/26 * 50 = 88.461538...
	 * p50 target 100: 60 then 130 in (10,20]: 10 + 40/70*10 = 15.714285... */
	struct slo_arm *a = slo_arm_new();
	struct telemetry_report r1 = rep("d1", 100, 0), r2 = rep("d2", 100, 0);
	struct slo_value v;

	set_lat_hist(&r1, 4, b4, ca);
	set_lat_hist(&r2, 4, b4, cb);
	CHECK_EQ_INT(slo_arm_add(a, &r1), 0);
	CHECK_EQ_INT(slo_arm_add(a, &r2), 0);
	v = slo_arm_value(a, METRIC_LATENCY_P95, 60, NULL);
	CHECK_NEAR(v.value, 50 + 20.0 / 26 * 50, 1e-9);
	CHECK_NEAR(v.value, 88.461538, 1e-6);
	CHECK_EQ_INT(v.samples, 200);
	CHECK_EQ_INT(v.devices, 2);
	v = slo_arm_value(a, METRIC_LATENCY_P50, 60, NULL);
	CHECK_NEAR(v.value, 15.714286, 1e-6);
	slo_arm_free(a);
}

static void slo_arm_latency_falls_back_to_points(void)
{
	/* r1 has a histogram and latency_ms 100 (w 10); r2 only latency_ms
	 * 300 (w 30): not every report has the histogram, so points are used:
	 * sorted 100 (10), 300 (30), p50 target 20 -> 300 */
	struct slo_arm *a = slo_arm_new();
	struct telemetry_report r1 = rep("d1", 10, 0), r2 = rep("d2", 30, 0);

	set_lat_hist(&r1, 4, b4, ca);
	r1.has_latency = true;
	r1.latency_ms = 100;
	CHECK_EQ_INT(slo_arm_add(a, &r1), 0);
	/* alone, r1's histogram decides: p50 = 12.5 (see above) */
	CHECK_NEAR(slo_arm_value(a, METRIC_LATENCY_P50, 1, NULL).value, 12.5,
		   1e-9);
	r2.has_latency = true;
	r2.latency_ms = 300;
	CHECK_EQ_INT(slo_arm_add(a, &r2), 0);
	CHECK_NEAR(slo_arm_value(a, METRIC_LATENCY_P50, 1, NULL).value, 300, 0);
	slo_arm_free(a);
}

static void slo_arm_histograms_with_other_bounds_are_not_merged(void)
{
	/* r1 sets the layout (10,20,50,100); r2's bounds differ, so the arm
	 * uses points: r1 latency_ms 40 (w 100), r2 latency_ms 70 (w 100);
	 * p95 target 190: 100 < 190, 200 -> 70 */
	struct slo_arm *a = slo_arm_new();
	struct telemetry_report r1 = rep("d1", 100, 0), r2 = rep("d1", 100, 0);
	const double other[] = {10, 20, 50, 200};

	set_lat_hist(&r1, 4, b4, ca);
	set_lat_hist(&r2, 4, other, cb);
	r1.has_latency = r2.has_latency = true;
	r1.latency_ms = 40;
	r2.latency_ms = 70;
	slo_arm_add(a, &r1);
	slo_arm_add(a, &r2);
	CHECK_NEAR(slo_arm_value(a, METRIC_LATENCY_P95, 1, NULL).value, 70, 0);
	/* without points the matching histogram (r1's alone) is used: 81.25 */
	slo_arm_free(a);
	a = slo_arm_new();
	r1.has_latency = r2.has_latency = false;
	slo_arm_add(a, &r1);
	slo_arm_add(a, &r2);
	CHECK_NEAR(slo_arm_value(a, METRIC_LATENCY_P95, 1, NULL).value, 81.25,
		   1e-9);
	slo_arm_free(a);
}

static void slo_kl_divergence_by_hand(void)
{
	/* p = 8,2,0 and q = 4,4,2 with alpha 0.5: both sum to 10 + 1.5 = 11.5,
	 * P = 8.5,2.5,0.5 /11.5 = .739130, .217391, .043478
	 * Q = 4.5,4.5,2.5 /11.5 = .391304, .391304, .217391
	 * D = .739130 ln(8.5/4.5) + .217391 ln(2.5/4.5) + .043478 ln(0.5/2.5)
	 *   = .739130(.635989) + .217391(-.587787) + .043478(-1.609438)
	 *   = .470079 - .127780 - .069976 = .272323 */
	const double p[] = {8, 2, 0}, q[] = {4, 4, 2};

	CHECK_NEAR(slo_kl_divergence(p, q, 3, 0.5), 0.272323, 1e-6);
	/* KL is not symmetric: D(q || p) differs */
	CHECK(fabs(slo_kl_divergence(q, p, 3, 0.5) - 0.272323) > 1e-3);
}

static void slo_kl_of_identical_histograms_is_zero(void)
{
	const double p[] = {3, 0, 7, 1}, q[] = {6, 0, 14, 2}, z[] = {0, 0, 0, 0};

	CHECK_NEAR(slo_kl_divergence(p, p, 4, 0.5), 0, 0);
	/* same shape, double counts: smoothing makes it small but not 0 */
	CHECK(slo_kl_divergence(p, q, 4, 0.5) > 0);
	CHECK_NEAR(slo_kl_divergence(p, q, 4, 0), 0, 1e-12);
	CHECK(isnan(slo_kl_divergence(p, z, 4, 0.5)));
	CHECK(isnan(slo_kl_divergence(z, p, 4, 0.5)));
	CHECK(isnan(slo_kl_divergence(p, p, 0, 0.5)));
}

static void slo_empty_arm_gives_nan_and_no_samples(void)
{
	struct slo_arm *a = slo_arm_new(), *b = slo_arm_new();
	struct slo_value v;

	for (int m = 0; m < METRIC_COUNT; m++) {
		v = slo_arm_value(a, (enum metric_id)m, 60, b);
		CHECK(isnan(v.value));
		CHECK_EQ_INT(v.samples, 0);
		CHECK_EQ_INT(v.devices, 0);
	}
	/* an arm with only an install outcome still has no telemetry */
	slo_arm_add_install(a, "d1", false);
	v = slo_arm_value(a, METRIC_ERROR_RATE, 60, NULL);
	CHECK(isnan(v.value));
	CHECK_EQ_INT(v.devices, 0);
	slo_arm_free(a);
	slo_arm_free(b);
	slo_arm_free(NULL);
}

static void slo_error_rate_is_weighted_by_requests(void)
{
	/* (100 req, 1 err), (300, 9), (100, 0): 10 / 500 = 0.02, not the mean
	 * of rates (0.01 + 0.03 + 0) / 3 = 0.0133 */
	struct slo_arm *a = slo_arm_new();
	struct telemetry_report r1 = rep("d1", 100, 1), r2 = rep("d2", 300, 9),
				r3 = rep("d1", 100, 0);
	struct slo_value v;

	slo_arm_add(a, &r1);
	slo_arm_add(a, &r2);
	slo_arm_add(a, &r3);
	v = slo_arm_value(a, METRIC_ERROR_RATE, 60, NULL);
	CHECK_NEAR(v.value, 0.02, 1e-12);
	CHECK_EQ_INT(v.samples, 500);
	CHECK_EQ_INT(v.devices, 2);
	slo_arm_free(a);
}

static void slo_install_failure_rate_counts_outcomes(void)
{
	/* 3 installed, 1 failed: 1 / (3 + 1) = 0.25 */
	struct slo_arm *a = slo_arm_new();
	struct slo_value v;

	slo_arm_add_install(a, "d1", false);
	slo_arm_add_install(a, "d2", false);
	slo_arm_add_install(a, "d3", true);
	slo_arm_add_install(a, NULL, false);
	v = slo_arm_value(a, METRIC_INSTALL_FAILURE_RATE, 60, NULL);
	CHECK_NEAR(v.value, 0.25, 1e-12);
	CHECK_EQ_INT(v.samples, 4);
	CHECK_EQ_INT(v.devices, 3); /* the NULL device counts toward the arm only */
	slo_arm_free(a);
}

static void slo_requests_per_second_is_mean_per_device(void)
{
	/* d1: two reports, 200 + 400 = 600; d2: 1200; window 60 s:
	 * 1800 / 60 / 2 devices = 15 req/s; per device 10 and 20 */
	struct slo_arm *a = slo_arm_new();
	struct telemetry_report r1 = rep("d1", 200, 0), r2 = rep("d2", 1200, 0),
				r3 = rep("d1", 400, 0);
	struct slo_value v;

	slo_arm_add(a, &r1);
	slo_arm_add(a, &r2);
	slo_arm_add(a, &r3);
	v = slo_arm_value(a, METRIC_REQUESTS_PER_SECOND, 60, NULL);
	CHECK_NEAR(v.value, 15, 1e-12);
	CHECK_EQ_INT(v.samples, 1800);
	CHECK_EQ_INT(v.devices, 2);
	CHECK(isnan(slo_arm_value(a, METRIC_REQUESTS_PER_SECOND, 0, NULL).value));
	slo_arm_free(a);
}

struct collect {
	int n;
	char ids[4][16];
	struct slo_value v[4];
};

static void collect_fn(void *ctx, const char *id, struct slo_value v)
{
	struct collect *c = ctx;

	if (c->n < 4) {
		snprintf(c->ids[c->n], sizeof(c->ids[0]), "%s", id);
		c->v[c->n] = v;
	}
	c->n++;
}

static void slo_each_device_computes_per_device_values(void)
{
	/* latency points: d1 = 50 (w 10) and 70 (w 10) -> p95 target 19: 70;
	 * d2 = 400 (w 5) -> 400; d3 has only an install outcome -> NaN.
	 * requests_per_second over 10 s: d1 20/10 = 2, d2 5/10 = 0.5 */
	struct slo_arm *a = slo_arm_new();
	struct telemetry_report r[3] = {rep("d1", 10, 0), rep("d2", 5, 0),
					rep("d1", 10, 0)};
	const double lat[3] = {50, 400, 70};
	struct collect c = {0};

	for (int i = 0; i < 3; i++) {
		r[i].has_latency = true;
		r[i].latency_ms = lat[i];
		slo_arm_add(a, &r[i]);
	}
	slo_arm_add_install(a, "d3", true);
	slo_arm_each_device(a, METRIC_LATENCY_P95, 10, collect_fn, &c);
	CHECK_EQ_INT(c.n, 3);
	CHECK_EQ_STR(c.ids[0], "d1");
	CHECK_EQ_STR(c.ids[1], "d2");
	CHECK_EQ_STR(c.ids[2], "d3");
	CHECK_NEAR(c.v[0].value, 70, 0);
	CHECK_EQ_INT(c.v[0].samples, 20);
	CHECK_EQ_INT(c.v[0].devices, 1);
	CHECK_NEAR(c.v[1].value, 400, 0);
	CHECK(isnan(c.v[2].value));
	CHECK_EQ_INT(c.v[2].devices, 0);
	memset(&c, 0, sizeof(c));
	slo_arm_each_device(a, METRIC_REQUESTS_PER_SECOND, 10, collect_fn, &c);
	CHECK_NEAR(c.v[0].value, 2, 1e-12);
	CHECK_NEAR(c.v[1].value, 0.5, 1e-12);
	slo_arm_free(a);
}

static void slo_confidence_mean_weights_reports_and_uses_midpoints(void)
{
	/* r1: confidence_mean 0.9, 10 requests.
	 * r2: no mean; histogram bounds 0.5, counts 1,3: midpoints 0.25 and
	 * 0.75 -> (0.25 + 3 * 0.75) / 4 = 0.625, 30 requests.
	 * (0.9 * 10 + 0.625 * 30) / 40 = (9 + 18.75) / 40 = 0.69375 */
	struct slo_arm *a = slo_arm_new();
	struct telemetry_report r1 = rep("d1", 10, 0), r2 = rep("d2", 30, 0);
	const double b[] = {0.5};
	const int64_t c[] = {1, 3};
	struct slo_value v;

	r1.confidence_mean = 0.9;
	set_conf_hist(&r2, 1, b, c);
	slo_arm_add(a, &r1);
	slo_arm_add(a, &r2);
	v = slo_arm_value(a, METRIC_CONFIDENCE_MEAN, 60, NULL);
	CHECK_NEAR(v.value, 0.69375, 1e-12);
	CHECK_EQ_INT(v.samples, 40);
	slo_arm_free(a);
}

static void slo_confidence_shift_is_kl_from_baseline(void)
{
	/* canary counts 8,2,0 vs baseline 4,4,2 on bounds 0.5,0.8: 0.272323
	 * (slo_kl_divergence_by_hand); canary split over two reports 5,1,0 +
	 * 3,1,0 to prove merging */
	struct slo_arm *can = slo_arm_new(), *base = slo_arm_new();
	struct slo_arm *other = slo_arm_new();
	struct telemetry_report c1 = rep("c1", 6, 0), c2 = rep("c2", 4, 0),
				b1 = rep("b1", 10, 0), o1 = rep("o1", 10, 0);
	const double b[] = {0.5, 0.8}, ob[] = {0.5, 0.9};
	const int64_t k1[] = {5, 1, 0}, k2[] = {3, 1, 0}, kb[] = {4, 4, 2};
	struct slo_value v;

	set_conf_hist(&c1, 2, b, k1);
	set_conf_hist(&c2, 2, b, k2);
	set_conf_hist(&b1, 2, b, kb);
	set_conf_hist(&o1, 2, ob, kb);
	slo_arm_add(can, &c1);
	slo_arm_add(can, &c2);
	slo_arm_add(base, &b1);
	slo_arm_add(other, &o1);
	v = slo_arm_value(can, METRIC_CONFIDENCE_SHIFT, 60, base);
	CHECK_NEAR(v.value, 0.272323, 1e-6);
	CHECK_EQ_INT(v.samples, 10);
	CHECK_EQ_INT(v.devices, 2);
	CHECK_NEAR(slo_arm_value(base, METRIC_CONFIDENCE_SHIFT, 60, base).value,
		   0, 0);
	CHECK(isnan(slo_arm_value(can, METRIC_CONFIDENCE_SHIFT, 60, NULL).value));
	/* different bucket bounds cannot be compared */
	CHECK(isnan(slo_arm_value(can, METRIC_CONFIDENCE_SHIFT, 60, other).value));
	slo_arm_free(can);
	slo_arm_free(base);
	slo_arm_free(other);
}

static void slo_gauges_are_plain_means_over_reports(void)
{
	/* cpu 40 (1 request) and 60 (100 requests): plain mean 50, not the
	 * request-weighted 59.8; a report without cpu_pct does not count.
	 * model_load_ms 800 and 1000 -> model_load_time_ms 900 */
	struct slo_arm *a = slo_arm_new();
	struct telemetry_report r1 = rep("d1", 1, 0), r2 = rep("d2", 100, 0),
				r3 = rep("d3", 5, 0);
	struct slo_value v;

	r1.cpu_pct = 40;
	r2.cpu_pct = 60;
	r1.model_load_ms = 800;
	r3.model_load_ms = 1000;
	r2.temperature_c = -10;
	slo_arm_add(a, &r1);
	slo_arm_add(a, &r2);
	slo_arm_add(a, &r3);
	v = slo_arm_value(a, METRIC_CPU_PCT, 60, NULL);
	CHECK_NEAR(v.value, 50, 1e-12);
	CHECK_EQ_INT(v.samples, 2);
	CHECK_EQ_INT(v.devices, 2);
	CHECK_NEAR(slo_arm_value(a, METRIC_MODEL_LOAD_TIME_MS, 60, NULL).value,
		   900, 1e-12);
	CHECK_NEAR(slo_arm_value(a, METRIC_TEMPERATURE_C, 60, NULL).value, -10,
		   0);
	CHECK(isnan(slo_arm_value(a, METRIC_NPU_PCT, 60, NULL).value));
	slo_arm_free(a);
}

static void count_fn(void *ctx, const char *id, struct slo_value v)
{
	int64_t *sum = ctx;

	(void)id;
	*sum += v.samples;
}

static void slo_arm_handles_thousands_of_devices(void)
{
	/* 5000 devices x 2 reports of (i % 7 + 1) requests each: Σrequests =
	 * 2 * Σ(i%7+1) over 0..4999 = 2 * (714 * 28 + (1+2)) = 2 * 19995 = 39990
	 * (714 full cycles of 1..7 = 4998 devices, then 1 and 2) */
	struct slo_arm *a = slo_arm_new();
	struct telemetry_report r;
	char id[32];
	int64_t sum = 0;
	struct slo_value v;

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 5000; i++) {
			snprintf(id, sizeof(id), "dev-%d", i);
			r = rep(id, i % 7 + 1, 0);
			CHECK_EQ_INT(slo_arm_add(a, &r), 0);
		}
	}
	CHECK_EQ_INT(slo_arm_device_count(a), 5000);
	v = slo_arm_value(a, METRIC_ERROR_RATE, 60, NULL);
	CHECK_EQ_INT(v.samples, 39990);
	CHECK_EQ_INT(v.devices, 5000);
	slo_arm_each_device(a, METRIC_ERROR_RATE, 60, count_fn, &sum);
	CHECK_EQ_INT(sum, 39990);
	slo_arm_free(a);
}

static void slo_counts_saturate_instead_of_overflowing(void)
{
	/* three reports of 2^62 requests would overflow int64; the sum sticks
	 * at INT64_MAX and the rate stays a number in [0, 1] */
	struct slo_arm *a = slo_arm_new();
	struct telemetry_report r = rep("d1", INT64_C(1) << 62, 0);
	struct slo_value v;

	for (int i = 0; i < 3; i++)
		slo_arm_add(a, &r);
	v = slo_arm_value(a, METRIC_ERROR_RATE, 60, NULL);
	CHECK_EQ_INT(v.samples, INT64_MAX);
	CHECK_NEAR(v.value, 0, 0);
	slo_arm_free(a);
}

static void slo_seed_report_flows_into_an_arm(void)
{
	/* the seed health report: one request (the default), latency 120 ms,
	 * no errors -> p50 = p99 = 120, error_rate 0 over 1 sample */
	json_t *j = json_loads("{\"device_id\": \"pi-warehouse-1\", "
			       "\"model\": \"invoice-ocr:2026.01.10-rc1\", "
			       "\"latency_ms\": 120, \"errors\": 0, "
			       "\"timestamp\": 1767000000}",
			       0, NULL);
	struct telemetry_report r;
	struct ramp_err e;
	struct slo_arm *a = slo_arm_new();
	struct slo_value v;

	CHECK_EQ_INT(telemetry_parse(j, 1767000100.0, &r, &e), 0);
	CHECK_EQ_INT(slo_arm_add(a, &r), 0);
	CHECK_NEAR(slo_arm_value(a, METRIC_LATENCY_P50, 60, NULL).value, 120, 0);
	CHECK_NEAR(slo_arm_value(a, METRIC_LATENCY_P99, 60, NULL).value, 120, 0);
	v = slo_arm_value(a, METRIC_ERROR_RATE, 60, NULL);
	CHECK_NEAR(v.value, 0, 0);
	CHECK_EQ_INT(v.samples, 1);
	CHECK_EQ_INT(v.devices, 1);
	CHECK(isnan(slo_arm_value(a, METRIC_CPU_PCT, 60, NULL).value));
	slo_arm_free(a);
	json_decref(j);
}

static const struct unit_case cases[] = {
	UNIT(slo_weighted_p95_of_small_set),
	UNIT(slo_weighted_p50_follows_uneven_weights),
	UNIT(slo_weighted_quantile_skips_unusable_points),
	UNIT(slo_hist_p95_interpolates_in_bucket),
	UNIT(slo_hist_first_bucket_starts_at_zero),
	UNIT(slo_hist_overflow_bucket_returns_last_bound),
	UNIT(slo_hist_empty_is_nan),
	UNIT(slo_arm_merges_two_histograms_for_p95),
	UNIT(slo_arm_latency_falls_back_to_points),
	UNIT(slo_arm_histograms_with_other_bounds_are_not_merged),
	UNIT(slo_kl_divergence_by_hand),
	UNIT(slo_kl_of_identical_histograms_is_zero),
	UNIT(slo_empty_arm_gives_nan_and_no_samples),
	UNIT(slo_error_rate_is_weighted_by_requests),
	UNIT(slo_install_failure_rate_counts_outcomes),
	UNIT(slo_requests_per_second_is_mean_per_device),
	UNIT(slo_each_device_computes_per_device_values),
	UNIT(slo_confidence_mean_weights_reports_and_uses_midpoints),
	UNIT(slo_confidence_shift_is_kl_from_baseline),
	UNIT(slo_gauges_are_plain_means_over_reports),
	UNIT(slo_arm_handles_thousands_of_devices),
	UNIT(slo_counts_saturate_instead_of_overflowing),
	UNIT(slo_seed_report_flows_into_an_arm),
	{0},
};
UNIT_MAIN(cases)
