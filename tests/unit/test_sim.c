/*
 * test_sim.c - ramp-sim's pure parts: the fleet description parsers
 * (platforms, labels, faults), the platform mix, the report generator's
 * histograms and the event heap.
 */
#include "unit.h"

#include "../../sim/gen.h"
#include "../../sim/sched.h"
#include "../../sim/spec.h"

#include <jansson.h>

static void platforms_are_parsed_and_weights_normalised(void)
{
	struct spec s = {0};
	char err[256];

	CHECK_EQ_INT(spec_parse_platforms(&s, "rpi-arm64:0.7,cloud-x86-onnx:0.3", err, sizeof(err)),
		     0);
	CHECK_EQ_INT(s.nplatforms, 2);
	CHECK_EQ_STR(s.platforms[1].name, "cloud-x86-onnx");
	CHECK_NEAR(s.platforms[0].weight, 0.7, 1e-12);
	CHECK_EQ_INT(spec_parse_platforms(&s, "a,b:3", err, sizeof(err)), 0);
	CHECK_NEAR(s.platforms[0].weight, 0.25, 1e-12);
	CHECK_EQ_INT(spec_parse_platforms(&s, "a:0", err, sizeof(err)), -1);
	CHECK(strstr(err, "weight") != NULL);
	CHECK_EQ_INT(spec_parse_platforms(&s, "a:x", err, sizeof(err)), -1);
	CHECK_EQ_INT(spec_parse_platforms(&s, "", err, sizeof(err)), -1);
}

static void platform_shares_are_exact_to_a_device_or_two(void)
{
	struct spec s = {0};
	char err[256];
	size_t counts[3] = {0}, n = 1000;

	spec_parse_platforms(&s, "a:0.7,b:0.2,c:0.1", err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		counts[spec_platform_of(&s, i, n)]++;
	CHECK(counts[0] >= 698 && counts[0] <= 702);
	CHECK(counts[1] >= 198 && counts[1] <= 202);
	CHECK(counts[2] >= 98 && counts[2] <= 102);
	/* neighbours differ: not one block per platform */
	CHECK(spec_platform_of(&s, 0, n) != spec_platform_of(&s, 1, n) ||
	      spec_platform_of(&s, 1, n) != spec_platform_of(&s, 2, n));
}

static void labels_expand_ranges_and_lists(void)
{
	struct spec s = {0};
	char err[256];

	CHECK_EQ_INT(spec_parse_labels(&s, "site=wh-{1..20},tier={gold,silver},zone=eu", err,
				       sizeof(err)),
		     0);
	CHECK_EQ_INT(s.nlabels, 3);
	CHECK_EQ_STR(s.labels[0].key, "site");
	CHECK_EQ_INT(s.labels[0].nvalues, 20);
	CHECK_EQ_STR(s.labels[0].values[0], "wh-1");
	CHECK_EQ_STR(s.labels[0].values[19], "wh-20");
	CHECK_EQ_INT(s.labels[1].nvalues, 2);
	CHECK_EQ_STR(s.labels[1].values[1], "silver");
	CHECK_EQ_INT(s.labels[2].nvalues, 1);
	CHECK_EQ_STR(s.labels[2].values[0], "eu");
	spec_free(&s);
	CHECK_EQ_INT(spec_parse_labels(&s, "site", err, sizeof(err)), -1);
	spec_free(&s);
	CHECK_EQ_INT(spec_parse_labels(&s, "a=x{3..1}", err, sizeof(err)), -1);
	CHECK(strstr(err, "range") != NULL);
	spec_free(&s);
	CHECK_EQ_INT(spec_parse_labels(&s, "a={1,2}-{3,4}", err, sizeof(err)), -1);
	spec_free(&s);
}

static void faults_match_version_and_platform(void)
{
	struct spec s = {0};
	char err[256];
	const struct spec_fault *f;

	CHECK_EQ_INT(spec_parse_fault(&s, "2026.02.01@rpi-arm64:errors=0.03,latency_x=2.5,"
					  "confidence_shift=0.3,install_fail=0.1",
				      err, sizeof(err)),
		     0);
	CHECK_EQ_INT(spec_parse_fault(&s, "2026.02.01:latency_x=4", err, sizeof(err)), 0);
	f = spec_fault_for(&s, "2026.02.01", "rpi-arm64");
	CHECK(f != NULL && f->errors == 0.03 && f->latency_x == 2.5 && f->install_fail == 0.1);
	CHECK_NEAR(f->confidence_shift, 0.3, 1e-12);
	f = spec_fault_for(&s, "2026.02.01", "cloud-x86-onnx");
	CHECK(f != NULL && f->latency_x == 4 && f->errors < 0 && f->install_fail == 0);
	CHECK(spec_fault_for(&s, "2026.01.10", "rpi-arm64") == NULL);
	CHECK_EQ_INT(spec_parse_fault(&s, "v1:errors=2", err, sizeof(err)), -1);
	CHECK_EQ_INT(spec_parse_fault(&s, "v1:bogus=1", err, sizeof(err)), -1);
	CHECK(strstr(err, "bogus") != NULL);
	CHECK_EQ_INT(spec_parse_fault(&s, "v1", err, sizeof(err)), -1);
	CHECK_EQ_INT(spec_parse_fault(&s, "@rpi:errors=0.1", err, sizeof(err)), -1);
	CHECK_EQ_INT(s.nfaults, 2);
}

static void split_sums_exactly_to_the_total(void)
{
	double w[] = {0.1, 0.2, 0.3, 0.4};
	int64_t out[4];

	gen_split(w, 4, 7, out);
	CHECK_EQ_INT(out[0] + out[1] + out[2] + out[3], 7);
	CHECK_EQ_INT(out[3], 3);
	gen_split(w, 4, 1000, out);
	CHECK_EQ_INT(out[0], 100);
	CHECK_EQ_INT(out[3], 400);
}

static json_t *one_report(const struct spec_fault *f, int64_t requests)
{
	struct gen_params p;
	struct spec_rng r;
	struct buf b = {0};
	json_t *j;

	gen_defaults(&p);
	spec_rng_seed(&r, 7);
	CHECK_EQ_INT(gen_report(&b, &p, "pi-1", "ocr", "v2", 1767000000.5, requests, 1.0, f, &r), 0);
	j = json_loads(b.p, 0, NULL);
	CHECK(j != NULL);
	buf_free(&b);
	return j;
}

static int64_t hist_sum(json_t *h)
{
	json_t *c;
	size_t i;
	int64_t sum = 0;

	json_array_foreach(json_object_get(h, "counts"), i, c) sum += json_integer_value(c);
	return sum;
}

static void reports_carry_histograms_that_sum_to_requests(void)
{
	json_t *j = one_report(NULL, 500), *lat, *conf;

	CHECK_EQ_STR(json_string_value(json_object_get(j, "model")), "ocr:v2");
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "requests")), 500);
	lat = json_object_get(j, "latency_hist");
	conf = json_object_get(j, "confidence_hist");
	CHECK_EQ_INT(hist_sum(lat), 500);
	CHECK_EQ_INT(hist_sum(conf), 500);
	CHECK_EQ_INT(json_array_size(json_object_get(lat, "counts")),
		     json_array_size(json_object_get(lat, "bounds_ms")) + 1);
	CHECK_EQ_INT(json_array_size(json_object_get(conf, "bounds")), 9);
	/* healthy: about 0.2% errors, a 40 ms median, so a mean near 42 ms */
	CHECK(json_integer_value(json_object_get(j, "errors")) <= 2);
	CHECK_NEAR(json_real_value(json_object_get(j, "latency_ms")), 42.5, 0.5);
	json_decref(j);
}

static void faults_change_the_report(void)
{
	struct spec_fault f = {.errors = 0.1, .latency_x = 3, .confidence_shift = 0.4};
	json_t *j = one_report(&f, 1000);
	json_t *conf = json_object_get(json_object_get(j, "confidence_hist"), "counts");
	int64_t low = 0;

	CHECK_EQ_INT(json_integer_value(json_object_get(j, "errors")), 100);
	CHECK_NEAR(json_real_value(json_object_get(j, "latency_ms")), 3 * 42.5, 1.5);
	/* confidence moved from about 0.82 to 0.42: most mass below 0.6 */
	for (size_t i = 0; i < 6; i++)
		low += json_integer_value(json_array_get(conf, i));
	CHECK(low > 900);
	json_decref(j);
}

static void heap_pops_in_time_order_and_only_when_due(void)
{
	struct sched s = {0};
	struct sched_ev ev;
	uint64_t last = 0;

	for (uint32_t i = 0; i < 5000; i++)
		CHECK_EQ_INT(sched_push(&s, (i * 7919u) % 1000u + 10, i, i % 3), 0);
	CHECK_EQ_INT(sched_next(&s), 10);
	CHECK_EQ_INT(sched_pop_due(&s, 9, &ev), 0);
	for (int n = 0; n < 5000; n++) {
		CHECK_EQ_INT(sched_pop_due(&s, 2000, &ev), 1);
		CHECK(ev.at_ms >= last);
		last = ev.at_ms;
	}
	CHECK_EQ_INT(sched_pop_due(&s, 2000, &ev), 0);
	CHECK(sched_next(&s) == UINT64_MAX);
	sched_free(&s);
}

static const struct unit_case cases[] = {
	UNIT(platforms_are_parsed_and_weights_normalised),
	UNIT(platform_shares_are_exact_to_a_device_or_two),
	UNIT(labels_expand_ranges_and_lists),
	UNIT(faults_match_version_and_platform),
	UNIT(split_sums_exactly_to_the_total),
	UNIT(reports_carry_histograms_that_sum_to_requests),
	UNIT(faults_change_the_report),
	UNIT(heap_pops_in_time_order_and_only_when_due),
	{0}};

UNIT_MAIN(cases)
