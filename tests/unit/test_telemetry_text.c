/* test_telemetry_text.c - the direct telemetry reader (telemetry_read_fast)
 * against the general path (jansson with the handler's flags, then
 * telemetry_parse per report): the bodies devices and gateways send are
 * read directly with identical values; every other body, invalid ones
 * first, is left to the general path. */
#include "domain/telemetry.h"
#include "unit.h"

#define NOW 1767000100.0
#define MAX 16

struct got {
	struct telemetry_report r[MAX];
	size_t n;
};

static int collect(void *ctx, size_t i, const struct telemetry_report *t)
{
	struct got *g = ctx;

	CHECK(i == g->n && i < MAX);
	memcpy(&g->r[g->n++], t, sizeof(*t));
	return 0;
}

static int stop_at_second(void *ctx, size_t i, const struct telemetry_report *t)
{
	(void)ctx;
	(void)t;
	return i == 1;
}

/* How many reports the fast reader took from body (0: left to the general
 * path); when it took any, the general path must agree value for value. */
static size_t fast(const char *body)
{
	static struct got g;
	struct telemetry_report t, r;
	struct ramp_err err;
	json_error_t je;
	json_t *j, *list;
	size_t n;

	g.n = 0;
	n = telemetry_read_fast(body, strlen(body), NOW, MAX, &t, collect, &g);
	if (n == 0)
		return 0;
	CHECK_EQ_INT((int)n, (int)g.n);
	j = json_loadb(body, strlen(body), JSON_REJECT_DUPLICATES, &je);
	CHECK(j != NULL);
	list = json_is_object(j) ? json_object_get(j, "reports") : j;
	for (size_t i = 0; i < n; i++) {
		const json_t *item = list ? json_array_get(list, i) : j;
		CHECK_EQ_INT(telemetry_parse(item, NOW, &r, &err), 0);
		CHECK(memcmp(&r, &g.r[i], sizeof(r)) == 0);
	}
	json_decref(j);
	return n;
}

#define REPORT(extra) "{\"device_id\":\"d1\",\"model\":\"m:1\"" extra "}"

static void common_bodies_are_read_directly_with_identical_values(void)
{
	CHECK_EQ_INT((int)fast(REPORT("")), 1);
	CHECK_EQ_INT((int)fast("[" REPORT("") "," REPORT(",\"errors\":1") "]"), 2);
	CHECK_EQ_INT((int)fast(" {\"reports\" : [ " REPORT("") " ] }\n"), 1);
	CHECK_EQ_INT((int)fast(REPORT(",\"timestamp\":1767000000.25,\"requests\":50,\"errors\":2,"
				      "\"latency_ms\":120.5,\"latency_hist\":{\"bounds_ms\":[5,10,"
				      "25.5],\"counts\":[1,2,3,44]},\"confidence_hist\":{\"counts\":"
				      "[0,5,10,35],\"bounds\":[0.25,0.5,0.75]},\"cpu_pct\":41.3,"
				      "\"mem_pct\":63,\"npu_pct\":0,\"temperature_c\":-5.25,"
				      "\"disk_free_mb\":812,\"model_load_ms\":830,"
				      "\"confidence_mean\":0.8125,\"exceptions\":3,\"oom_kills\":1,"
				      "\"timeouts\":4")),
		     1);
	CHECK_EQ_INT((int)fast(REPORT(",\"timestamp\":\"2025-12-29T09:20:00.5+01:00\"")), 1);
	CHECK_EQ_INT((int)fast(REPORT(",\"cpu_pct\":null,\"latency_hist\":null")), 1);
	CHECK_EQ_INT((int)fast(REPORT(",\"requests\":3.0,\"errors\":1e0")), 1);
}

static void numbers_convert_exactly_as_strtod(void)
{
	static const char *const nums[] = {
	    "0.1", "41.3", "1e-7", "123456789.123456789", "9007199254740993.0",
	    "0.30000000000000004", "2.2250738585072014e-308", "1.7976931348623157e308",
	    "4.9e-324", "1e22", "1e23", "-0.0", "0.000000000000000000000000123",
	    "12345678901234567890.5", "3.14159265358979323846264338327950288", "99.99999999999999999",
	};
	char body[256];

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		snprintf(body, sizeof(body), REPORT(",\"disk_free_mb\":%s,\"latency_ms\":%s"),
			 nums[i][0] == '-' ? "0" : nums[i], nums[i][0] == '-' ? nums[i] : "1");
		/* taken or left, never read differently (fast() checks) */
		fast(body);
	}
	CHECK_EQ_INT((int)fast(REPORT(",\"disk_free_mb\":0.1")), 1);
	CHECK_EQ_INT((int)fast(REPORT(",\"disk_free_mb\":123456789.123456789")), 1);
}

static void invalid_reports_are_left_to_the_general_path(void)
{
	static const char *const bad[] = {
	    "{\"model\":\"m:1\"}", REPORT(",\"device_id\":\"d2\""),
	    "{\"device_id\":\"bad id!\",\"model\":\"m:1\"}",
	    "{\"device_id\":\"d1\",\"model\":\"no-version\"}", REPORT(",\"latency_ms\":-1"),
	    REPORT(",\"latency_ms\":\"fast\""), REPORT(",\"requests\":5,\"errors\":6"),
	    REPORT(",\"errors\":-1"), REPORT(",\"requests\":0"), REPORT(",\"requests\":2.5"),
	    REPORT(",\"requests\":true"), REPORT(",\"timestamp\":1767003600"),
	    REPORT(",\"timestamp\":\"yesterday\""), REPORT(",\"cpu_pct\":101"),
	    REPORT(",\"oom_kills\":-2"), REPORT(",\"requests\":9007199254740993"),
	    REPORT(",\"latency_hist\":{\"bounds_ms\":[5,10],\"counts\":[1,2]}"),
	    REPORT(",\"latency_hist\":{\"bounds_ms\":[10,5],\"counts\":[1,2,3]}"),
	    REPORT(",\"latency_hist\":{\"bounds_ms\":[0],\"counts\":[1,2]}"),
	    REPORT(",\"latency_hist\":{\"bounds_ms\":[],\"counts\":[1]}"),
	    REPORT(",\"latency_hist\":{\"bounds_ms\":[1]}"),
	    REPORT(",\"latency_hist\":{\"bounds_ms\":[1],\"counts\":null}"),
	    REPORT(",\"confidence_hist\":{\"bounds\":[0.5,1.5],\"counts\":[1,2,3]}"),
	    REPORT(",\"device_id\":null"), "{\"device_id\":\"d1\",\"model\":null}",
	    "\"not an object\"", "[]", "{}", "{\"reports\":[]}", "{\"reports\":{}}",
	    "[1]", "[" REPORT("") ",]", REPORT("") "x", REPORT(",\"cpu_pct\":01"),
	    REPORT(",\"cpu_pct\":1.") , REPORT(",\"cpu_pct\":.5"), REPORT(",\"cpu_pct\":1e"),
	    REPORT(",\"cpu_pct\":1e400"), REPORT(",\"disk_free_mb\":1e400"),
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (fast(bad[i]) != 0) {
			fprintf(stderr, "taken: %s\n", bad[i]);
			CHECK(0);
		}
}

static void what_only_jansson_reads_is_left_to_it(void)
{
	static const char *const other[] = {
	    REPORT(",\"firmware\":\"1.2\""),		/* unknown field */
	    REPORT(",\"cpu_pct\":1,\"cpu_pct\":2"),	/* duplicate (the general path: 400) */
	    "{\"device_id\":\"d\\u0031\",\"model\":\"m:1\"}", /* escape */
	    "{\"device_id\":\"d1\",\"model\":\"m\xc3\xa9:1\"}", /* non-ASCII */
	    "{\"reports\":[" REPORT("") "],\"more\":1}", "{\"x\":1,\"reports\":[]}",
	    REPORT(",\"requests\":1234567890123456789"),
	};

	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		CHECK_EQ_INT((int)fast(other[i]), 0);
}

static void a_stop_or_too_many_reports_gives_up(void)
{
	struct telemetry_report t;
	struct got g = {.n = 0};
	const char *two = "[" REPORT("") "," REPORT("") "]";

	CHECK_EQ_INT((int)telemetry_read_fast(two, strlen(two), NOW, MAX, &t, stop_at_second, NULL),
		     0);
	CHECK_EQ_INT((int)telemetry_read_fast(two, strlen(two), NOW, 1, &t, collect, &g), 0);
}

static const struct unit_case cases[] = {
	UNIT(common_bodies_are_read_directly_with_identical_values),
	UNIT(numbers_convert_exactly_as_strtod),
	UNIT(invalid_reports_are_left_to_the_general_path),
	UNIT(what_only_jansson_reads_is_left_to_it),
	UNIT(a_stop_or_too_many_reports_gives_up),
	{0},
};

UNIT_MAIN(cases)
