/* test_telemetry.c - telemetry report validation: what is accepted, what is
 * rejected, and which field each rejection names. JSON in these tests is
 * written with single quotes for readability; tj() turns them into double. */
#include "domain/telemetry.h"
#include "domain/device_id.h"
#include "common/err.h"
#include "unit.h"

/* 2025-12-29T09:20:00Z = 1767000000, the seed report's timestamp */
#define SEED_TS 1767000000.0
#define NOW (SEED_TS + 100)

static int parse_text(const char *text, double now, struct telemetry_report *r,
		      struct ramp_err *e)
{
	char buf[8192];
	json_error_t je;
	json_t *j;
	int rc;

	snprintf(buf, sizeof(buf), "%s", text);
	for (char *p = buf; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(buf, JSON_ALLOW_NUL, &je); /* as a lax handler might */
	if (j == NULL) {
		fprintf(stderr, "  test json does not parse: %s: %s\n", je.text,
			buf);
		return 999;
	}
	ramp_err_clear(e);
	rc = telemetry_parse(j, now, r, e);
	json_decref(j);
	return rc;
}

/* A minimal valid report with `extra` members appended. */
static int parse_with(const char *extra, struct telemetry_report *r,
		      struct ramp_err *e)
{
	char buf[8192];

	snprintf(buf, sizeof(buf), "{'device_id':'pi-1','model':'m:1'%s%s}",
		 extra[0] ? "," : "", extra);
	return parse_text(buf, NOW, r, e);
}

#define ACCEPTS(extra)                                                         \
	do {                                                                   \
		struct ramp_err e_;                                            \
		int rc_ = parse_with(extra, &r, &e_);                          \
		CHECK_EQ_INT(rc_, 0);                                          \
		if (rc_)                                                       \
			fprintf(stderr, "  %s: %s\n", e_.field, e_.msg);       \
	} while (0)

#define REJECTS(extra, fld)                                                    \
	do {                                                                   \
		struct telemetry_report r_;                                    \
		struct ramp_err e_;                                            \
		CHECK_EQ_INT(parse_with(extra, &r_, &e_), RAMP_EINVAL);        \
		CHECK_EQ_STR(e_.field, fld);                                   \
		CHECK_EQ_INT(e_.code, RAMP_EINVAL);                            \
		CHECK(e_.msg[0] != '\0');                                      \
	} while (0)

/* /work/shared/examples/health-report.json, byte for byte */
static const char seed[] = "{\n"
			   "  \"device_id\": \"pi-warehouse-1\",\n"
			   "  \"model\": \"invoice-ocr:2026.01.10-rc1\",\n"
			   "  \"latency_ms\": 120,\n"
			   "  \"errors\": 0,\n"
			   "  \"timestamp\": 1767000000\n"
			   "}\n";

static void telemetry_accepts_seed_report(void)
{
	struct telemetry_report r;
	struct ramp_err e;

	CHECK_EQ_INT(parse_text(seed, NOW, &r, &e), 0);
	CHECK_EQ_STR(r.device_id, "pi-warehouse-1");
	CHECK_EQ_STR(r.model, "invoice-ocr");
	CHECK_EQ_STR(r.version, "2026.01.10-rc1");
	CHECK(r.has_latency);
	CHECK_NEAR(r.latency_ms, 120, 0);
	CHECK_EQ_INT(r.errors, 0);
	CHECK_EQ_INT(r.requests, 1); /* the default */
	CHECK_NEAR(r.ts, SEED_TS, 0);
	CHECK_EQ_INT(r.lat_nbounds, 0);
	CHECK_EQ_INT(r.conf_nbounds, 0);
	CHECK(isnan(r.cpu_pct) && isnan(r.confidence_mean));
	CHECK_EQ_INT(r.exceptions, 0);
}

static void telemetry_reads_every_field_of_a_rich_report(void)
{
	struct telemetry_report r;

	ACCEPTS("'requests':50,'errors':2,'latency_ms':12.5,"
		"'latency_hist':{'bounds_ms':[5,10,25],'counts':[1,2,3,4]},"
		"'confidence_hist':{'bounds':[0,0.5,1],'counts':[0,5,6,7]},"
		"'cpu_pct':41.5,'mem_pct':63,'npu_pct':12,'temperature_c':-5,"
		"'disk_free_mb':812,'model_load_ms':830,'confidence_mean':0.75,"
		"'exceptions':3,'oom_kills':4,'timeouts':5,'timestamp':1767000050.5");
	CHECK_EQ_INT(r.requests, 50);
	CHECK_EQ_INT(r.errors, 2);
	CHECK_NEAR(r.latency_ms, 12.5, 0);
	CHECK_EQ_INT(r.lat_nbounds, 3);
	CHECK_NEAR(r.lat_bounds[2], 25, 0);
	CHECK_EQ_INT(r.lat_counts[3], 4);
	CHECK_EQ_INT(r.conf_nbounds, 3);
	CHECK_NEAR(r.conf_bounds[0], 0, 0);
	CHECK_EQ_INT(r.conf_counts[3], 7);
	CHECK_NEAR(r.cpu_pct, 41.5, 0);
	CHECK_NEAR(r.mem_pct, 63, 0);
	CHECK_NEAR(r.npu_pct, 12, 0);
	CHECK_NEAR(r.temperature_c, -5, 0);
	CHECK_NEAR(r.disk_free_mb, 812, 0);
	CHECK_NEAR(r.model_load_ms, 830, 0);
	CHECK_NEAR(r.confidence_mean, 0.75, 0);
	CHECK_EQ_INT(r.exceptions, 3);
	CHECK_EQ_INT(r.oom_kills, 4);
	CHECK_EQ_INT(r.timeouts, 5);
	CHECK_NEAR(r.ts, 1767000050.5, 0);
}

static void telemetry_ignores_unknown_fields_and_nulls(void)
{
	struct telemetry_report r;

	ACCEPTS("'firmware':{'a':[1,true]},'latency_ms':null,'cpu_pct':null");
	CHECK(!r.has_latency);
	CHECK(isnan(r.latency_ms) && isnan(r.cpu_pct));
}

static void telemetry_timestamp_defaults_to_now(void)
{
	struct telemetry_report r;

	ACCEPTS("");
	CHECK_NEAR(r.ts, NOW, 0);
}

static void telemetry_parses_rfc3339_timestamps(void)
{
	struct telemetry_report r;
	double t = 0;

	/* seed instant written in RFC 3339 */
	ACCEPTS("'timestamp':'2025-12-29T09:20:00Z'");
	CHECK_NEAR(r.ts, SEED_TS, 0);
	/* 11:20:00.25 at +02:00 is 09:20:00.25Z */
	ACCEPTS("'timestamp':'2025-12-29T11:20:00.25+02:00'");
	CHECK_NEAR(r.ts, SEED_TS + 0.25, 1e-6);
	/* 2026-01-10: 56 years since 1970 with 14 leap days = 20454 days,
	 * +9 days = 20463 days = 1768003200 s, +12 h = 1768046400 */
	CHECK_EQ_INT(telemetry_parse_rfc3339("2026-01-10T12:00:00Z", &t), 0);
	CHECK_NEAR(t, 1768046400, 0);
	CHECK_EQ_INT(telemetry_parse_rfc3339("2026-01-10t07:30:00-04:30", &t), 0);
	CHECK_NEAR(t, 1768046400, 0);
	CHECK_EQ_INT(telemetry_parse_rfc3339("1970-01-01T00:00:00z", &t), 0);
	CHECK_NEAR(t, 0, 0);
	/* 2024 is a leap year: 19782 days since 1970 = 1709164800 */
	CHECK_EQ_INT(telemetry_parse_rfc3339("2024-02-29T00:00:00Z", &t), 0);
	CHECK_NEAR(t, 1709164800, 0);
}

static void telemetry_rejects_bad_rfc3339_timestamps(void)
{
	static const char *const bad[] = {
		"2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
		"2026-01-10T24:00:00Z", "2026-01-10T12:60:00Z",
		"2026-01-10T12:00:00",  "2026-01-10T12:00:00+0200",
		"2026-01-10",		"2026-01-10T12:00:00.Z",
		"2026-01-10T12:00:00Zx", "2026-01-10X12:00:00Z",
		"2026-01-10T12:00:00+02:00:00", "",
		"yesterday",
	};
	double t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(telemetry_parse_rfc3339(bad[i], &t), RAMP_EINVAL);
		if (telemetry_parse_rfc3339(bad[i], &t) == 0)
			fprintf(stderr, "  accepted %s\n", bad[i]);
	}
	REJECTS("'timestamp':'2025-12-29 09:20'", "timestamp");
	REJECTS("'timestamp':'2025-12-29T09:20:00Z\\u0000'", "timestamp");
}

static void telemetry_rejects_timestamp_far_future_or_old(void)
{
	struct telemetry_report r;
	char buf[128];

	/* NOW + 299 s is clock skew; NOW + 301 s is the future */
	snprintf(buf, sizeof(buf), "'timestamp':%.0f", NOW + 299);
	ACCEPTS(buf);
	snprintf(buf, sizeof(buf), "'timestamp':%.0f", NOW + 301);
	REJECTS(buf, "timestamp");
	/* old reports are accepted (the seed report is from 2025) up to
	 * TELEMETRY_MAX_AGE_S, ten years */
	snprintf(buf, sizeof(buf), "'timestamp':%.0f", NOW - 400 * 86400.0);
	ACCEPTS(buf);
	snprintf(buf, sizeof(buf), "'timestamp':%.0f", NOW - (double)TELEMETRY_MAX_AGE_S - 1);
	REJECTS(buf, "timestamp");
	REJECTS("'timestamp':'2030-01-01T00:00:00Z'", "timestamp");
	REJECTS("'timestamp':-1", "timestamp");
}

static void telemetry_rejects_negative_counts(void)
{
	REJECTS("'errors':-1", "errors");
	REJECTS("'requests':0", "requests");
	REJECTS("'requests':-5", "requests");
	REJECTS("'exceptions':-1", "exceptions");
	REJECTS("'oom_kills':-1", "oom_kills");
	REJECTS("'timeouts':-2", "timeouts");
	REJECTS("'latency_ms':-0.5", "latency_ms");
	REJECTS("'disk_free_mb':-1", "disk_free_mb");
	REJECTS("'model_load_ms':-1", "model_load_ms");
}

static void telemetry_rejects_errors_above_requests(void)
{
	struct telemetry_report r;
	struct ramp_err e;

	CHECK_EQ_INT(parse_with("'requests':4,'errors':5", &r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "errors");
	CHECK_EQ_STR(e.msg, "must not exceed requests (4)");
	/* without requests the default of 1 applies */
	REJECTS("'errors':2", "errors");
	ACCEPTS("'requests':4,'errors':4");
}

static void telemetry_integers_accept_whole_reals_only(void)
{
	struct telemetry_report r;
	struct ramp_err e;

	ACCEPTS("'requests':3.0,'errors':1e0");
	CHECK_EQ_INT(r.requests, 3);
	CHECK_EQ_INT(r.errors, 1);
	CHECK_EQ_INT(parse_with("'requests':3.5", &r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "requests");
	CHECK_EQ_STR(e.msg, "must be an integer");
	REJECTS("'timeouts':0.1", "timeouts");
	/* 2^53 is the largest; 2^53 + 1 and 1e300 are out of range */
	ACCEPTS("'requests':9007199254740992");
	REJECTS("'requests':9007199254740993", "requests");
	REJECTS("'requests':1e300", "requests");
	REJECTS("'errors':-1e300", "errors");
}

static void telemetry_rejects_booleans_as_numbers(void)
{
	struct telemetry_report r;
	struct ramp_err e;

	CHECK_EQ_INT(parse_with("'latency_ms':true", &r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "latency_ms");
	CHECK_EQ_STR(e.msg, "must be a number, not a boolean");
	REJECTS("'requests':true", "requests");
	REJECTS("'errors':false", "errors");
	REJECTS("'cpu_pct':true", "cpu_pct");
	REJECTS("'timestamp':true", "timestamp");
	REJECTS("'latency_hist':{'bounds_ms':[true],'counts':[1,1]}",
		"latency_hist.bounds_ms[0]");
	REJECTS("'latency_hist':{'bounds_ms':[1],'counts':[1,false]}",
		"latency_hist.counts[1]");
}

static void telemetry_rejects_wrong_types(void)
{
	REJECTS("'latency_ms':'120'", "latency_ms");
	REJECTS("'requests':[1]", "requests");
	REJECTS("'temperature_c':{}", "temperature_c");
	REJECTS("'timestamp':[1767000000]", "timestamp");
	REJECTS("'latency_hist':[1,2]", "latency_hist");
	REJECTS("'latency_hist':{'bounds_ms':5,'counts':[1,2]}",
		"latency_hist.bounds_ms");
	REJECTS("'latency_hist':{'bounds_ms':[5],'counts':'1,2'}",
		"latency_hist.counts");
	REJECTS("'confidence_hist':{'bounds':['0.5'],'counts':[1,2]}",
		"confidence_hist.bounds[0]");
	REJECTS("'latency_hist':{'counts':[1]}", "latency_hist.bounds_ms");
	REJECTS("'latency_hist':{'bounds_ms':[1]}", "latency_hist.counts");
}

static void telemetry_rejects_bad_top_level_shapes(void)
{
	struct telemetry_report r;
	struct ramp_err e;

	CHECK_EQ_INT(parse_text("[{'device_id':'a','model':'m:1'}]", NOW, &r, &e),
		     RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "");
	CHECK_EQ_INT(parse_text("{'model':'m:1'}", NOW, &r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "device_id");
	CHECK_EQ_STR(e.msg, "is required");
	CHECK_EQ_INT(parse_text("{'device_id':'a'}", NOW, &r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "model");
	CHECK_EQ_INT(parse_text("{'device_id':7,'model':'m:1'}", NOW, &r, &e),
		     RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "device_id");
	CHECK_EQ_STR(e.msg, "must be a string");
}

static void telemetry_rejects_histogram_counts_of_wrong_length(void)
{
	struct telemetry_report r;
	struct ramp_err e;

	/* three bounds need four counts */
	CHECK_EQ_INT(parse_with("'latency_hist':{'bounds_ms':[5,10,25],'counts':[1,2,3]}",
				&r, &e),
		     RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "latency_hist.counts");
	CHECK_EQ_STR(e.msg, "must be an array of 4 integers, one more than bounds_ms");
	REJECTS("'latency_hist':{'bounds_ms':[5,10,25],'counts':[1,2,3,4,5]}",
		"latency_hist.counts");
	REJECTS("'confidence_hist':{'bounds':[0.5],'counts':[1]}",
		"confidence_hist.counts");
	REJECTS("'latency_hist':{'bounds_ms':[5],'counts':[1,-1]}",
		"latency_hist.counts[1]");
	REJECTS("'latency_hist':{'bounds_ms':[5],'counts':[1,1.5]}",
		"latency_hist.counts[1]");
}

static void telemetry_rejects_bounds_not_increasing(void)
{
	struct telemetry_report r;
	struct ramp_err e;

	CHECK_EQ_INT(parse_with("'latency_hist':{'bounds_ms':[5,10,10],'counts':[1,1,1,1]}",
				&r, &e),
		     RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "latency_hist.bounds_ms[2]");
	CHECK_EQ_STR(e.msg, "must be greater than latency_hist.bounds_ms[1]");
	REJECTS("'latency_hist':{'bounds_ms':[5,3],'counts':[1,1,1]}",
		"latency_hist.bounds_ms[1]");
	REJECTS("'latency_hist':{'bounds_ms':[0,3],'counts':[1,1,1]}",
		"latency_hist.bounds_ms[0]");
	REJECTS("'latency_hist':{'bounds_ms':[],'counts':[1]}",
		"latency_hist.bounds_ms");
	REJECTS("'confidence_hist':{'bounds':[0.5,0.4],'counts':[1,1,1]}",
		"confidence_hist.bounds[1]");
	REJECTS("'confidence_hist':{'bounds':[0.5,1.5],'counts':[1,1,1]}",
		"confidence_hist.bounds[1]");
	REJECTS("'confidence_hist':{'bounds':[-0.1],'counts':[1,1]}",
		"confidence_hist.bounds[0]");
}

/* {'bounds_ms':[1,2,...,n],'counts':[0 x n+1]} */
static void hist_of(char *buf, size_t len, int n)
{
	size_t o = (size_t)snprintf(buf, len, "'latency_hist':{'bounds_ms':[");

	for (int i = 1; i <= n; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%d", i > 1 ? "," : "", i);
	o += (size_t)snprintf(buf + o, len - o, "],'counts':[");
	for (int i = 0; i <= n; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s0", i ? "," : "");
	snprintf(buf + o, len - o, "]}");
}

static void telemetry_limits_histograms_to_64_bounds(void)
{
	struct telemetry_report r;
	char buf[2048];

	hist_of(buf, sizeof(buf), 64);
	ACCEPTS(buf);
	CHECK_EQ_INT(r.lat_nbounds, 64);
	CHECK_NEAR(r.lat_bounds[63], 64, 0);
	hist_of(buf, sizeof(buf), 65);
	REJECTS(buf, "latency_hist.bounds_ms");
}

static void telemetry_rejects_gauges_out_of_range(void)
{
	struct telemetry_report r;

	REJECTS("'cpu_pct':100.5", "cpu_pct");
	REJECTS("'mem_pct':-1", "mem_pct");
	REJECTS("'npu_pct':101", "npu_pct");
	REJECTS("'temperature_c':-100.1", "temperature_c");
	REJECTS("'temperature_c':201", "temperature_c");
	REJECTS("'confidence_mean':1.01", "confidence_mean");
	ACCEPTS("'cpu_pct':100,'mem_pct':0,'temperature_c':200,'confidence_mean':1");
	CHECK_NEAR(r.temperature_c, 200, 0);
}

static void telemetry_rejects_bad_model_strings(void)
{
	struct telemetry_report r;
	char buf[512];

	REJECTS("'model':'invoice-ocr'", "model");
	REJECTS("'model':'Invoice-ocr:1'", "model");
	REJECTS("'model':':1'", "model");
	REJECTS("'model':'m:'", "model");
	REJECTS("'model':'-m:1'", "model");
	REJECTS("'model':'m:.1'", "model");
	REJECTS("'model':'m:1 2'", "model");
	REJECTS("'model':'m:1:2'", "model"); /* split at the first ':' */
	REJECTS("'model':'m\\u0000:1'", "model");
	REJECTS("'model':5", "model");
	/* 63-character name fits; 64 does not */
	snprintf(buf, sizeof(buf), "'model':'%s:1.0+build_7'",
		 "a23456789012345678901234567890123456789012345678901234567890123");
	ACCEPTS(buf);
	CHECK_EQ_INT(strlen(r.model), 63);
	CHECK_EQ_STR(r.version, "1.0+build_7");
	snprintf(buf, sizeof(buf), "'model':'%s:1'",
		 "a234567890123456789012345678901234567890123456789012345678901234");
	REJECTS(buf, "model");
}

static void telemetry_rejects_bad_device_ids(void)
{
	struct telemetry_report r;
	struct ramp_err e;
	char buf[512], id[140];

	CHECK_EQ_INT(parse_text("{'device_id':'','model':'m:1'}", NOW, &r, &e),
		     RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "device_id");
	CHECK_EQ_INT(parse_text("{'device_id':'pi wh','model':'m:1'}", NOW, &r, &e),
		     RAMP_EINVAL);
	CHECK_EQ_INT(parse_text("{'device_id':'pi\\u0000x','model':'m:1'}", NOW,
				&r, &e),
		     RAMP_EINVAL);
	CHECK_EQ_INT(parse_text("{'device_id':'pi/1','model':'m:1'}", NOW, &r, &e),
		     RAMP_EINVAL);
	CHECK_EQ_INT(parse_text("{'device_id':'Pi:wh-1.x_y','model':'m:1'}", NOW,
				&r, &e),
		     0);
	CHECK_EQ_STR(r.device_id, "Pi:wh-1.x_y");
	/* 128 characters fit; 129 do not */
	memset(id, 'x', 129);
	id[128] = '\0';
	snprintf(buf, sizeof(buf), "{'device_id':'%s','model':'m:1'}", id);
	CHECK_EQ_INT(parse_text(buf, NOW, &r, &e), 0);
	CHECK_EQ_INT(strlen(r.device_id), 128);
	id[128] = 'x';
	id[129] = '\0';
	snprintf(buf, sizeof(buf), "{'device_id':'%s','model':'m:1'}", id);
	CHECK_EQ_INT(parse_text(buf, NOW, &r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "device_id");
}

static void telemetry_rejects_dot_and_dot_dot_device_ids(void)
{
	struct telemetry_report r;
	struct ramp_err e;

	CHECK_EQ_INT(parse_text("{'device_id':'.','model':'m:1'}", NOW, &r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "device_id");
	CHECK_EQ_INT(parse_text("{'device_id':'..','model':'m:1'}", NOW, &r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "device_id");
	CHECK_EQ_INT(parse_text("{'device_id':'...','model':'m:1'}", NOW, &r, &e), 0);
	CHECK_EQ_INT(parse_text("{'device_id':'.a','model':'m:1'}", NOW, &r, &e), 0);
	CHECK(device_id_valid("a..b", 4));
	CHECK(!device_id_valid("..", 2));
	CHECK(!device_id_valid(".", 1));
	CHECK(!device_id_valid("a\0b", 3));
}

static const struct unit_case cases[] = {
	UNIT(telemetry_accepts_seed_report),
	UNIT(telemetry_reads_every_field_of_a_rich_report),
	UNIT(telemetry_ignores_unknown_fields_and_nulls),
	UNIT(telemetry_timestamp_defaults_to_now),
	UNIT(telemetry_parses_rfc3339_timestamps),
	UNIT(telemetry_rejects_bad_rfc3339_timestamps),
	UNIT(telemetry_rejects_timestamp_far_future_or_old),
	UNIT(telemetry_rejects_negative_counts),
	UNIT(telemetry_rejects_errors_above_requests),
	UNIT(telemetry_integers_accept_whole_reals_only),
	UNIT(telemetry_rejects_booleans_as_numbers),
	UNIT(telemetry_rejects_wrong_types),
	UNIT(telemetry_rejects_bad_top_level_shapes),
	UNIT(telemetry_rejects_histogram_counts_of_wrong_length),
	UNIT(telemetry_rejects_bounds_not_increasing),
	UNIT(telemetry_limits_histograms_to_64_bounds),
	UNIT(telemetry_rejects_gauges_out_of_range),
	UNIT(telemetry_rejects_bad_model_strings),
	UNIT(telemetry_rejects_bad_device_ids),
	UNIT(telemetry_rejects_dot_and_dot_dot_device_ids),
	{0},
};
UNIT_MAIN(cases)
