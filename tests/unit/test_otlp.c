/*
 * test_otlp.c - the OTLP metrics mapping (both decoders), the cumulative
 * to delta logic (resets, gaps, duplicates, out of order, one state shared
 * by two replicas) and the state text the store keeps.
 */
#include "unit.h"

#include "domain/otlp.h"

#include <opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h>

#define NOW 1790000000.0
#define NS(s) ((uint64_t)((s) * 1e9))

static struct telemetry_report reps[16];
static size_t nreps;

static int collect(void *ctx, const struct telemetry_report *r)
{
	(void)ctx;
	if (nreps < 16)
		reps[nreps++] = *r;
	return 0;
}

static size_t fold(const struct otlp_batch *b)
{
	nreps = 0;
	CHECK_EQ_INT(otlp_reports(b, b->pts, b->n, collect, NULL), 0);
	return nreps;
}

static int decode_json(const char *text, struct otlp_batch *b)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	struct ramp_err err;
	int rc;

	CHECK(j != NULL);
	otlp_batch_init(b, NOW);
	rc = otlp_decode_json(j, b, &err);
	json_decref(j);
	return rc;
}

#define RES                                                                                        \
	"{\"resource\":{\"attributes\":["                                                          \
	"{\"key\":\"device.id\",\"value\":{\"stringValue\":\"cam-1\"}},"                           \
	"{\"key\":\"ramp.model.name\",\"value\":{\"stringValue\":\"det\"}},"                       \
	"{\"key\":\"ramp.model.version\",\"value\":{\"stringValue\":\"v2\"}}]},"                   \
	"\"scopeMetrics\":[{\"scope\":{\"name\":\"app\"},\"metrics\":["
#define END "]}]}"
#define T "\"startTimeUnixNano\":\"1789999990000000000\",\"timeUnixNano\":\"1790000000000000000\""

static void otlp_json_maps_every_instrument(void)
{
	struct otlp_batch b;
	const char *body =
		"{\"resourceMetrics\":[" RES
		"{\"name\":\"ramp.inference.duration\",\"unit\":\"s\",\"histogram\":{"
		"\"aggregationTemporality\":1,\"dataPoints\":[{" T ",\"count\":\"6\","
		"\"explicitBounds\":[0,0.05,0.2],\"bucketCounts\":[\"1\",\"2\",\"2\",\"1\"]}]}},"
		"{\"name\":\"ramp.inference.requests\",\"sum\":{\"aggregationTemporality\":1,"
		"\"isMonotonic\":true,\"dataPoints\":[{" T ",\"asInt\":\"10\"}]}},"
		"{\"name\":\"ramp.inference.errors\",\"sum\":{\"aggregationTemporality\":1,"
		"\"isMonotonic\":true,\"dataPoints\":[{" T ",\"asInt\":2}]}},"
		"{\"name\":\"ramp.inference.confidence\",\"histogram\":{\"aggregationTemporality\":1,"
		"\"dataPoints\":[{" T ",\"explicitBounds\":[0.5,0.9,5],"
		"\"bucketCounts\":[\"1\",\"3\",\"4\",\"2\"]}]}},"
		"{\"name\":\"ramp.model.load_time\",\"unit\":\"s\",\"gauge\":{\"dataPoints\":[{" T
		",\"asDouble\":1.5}]}},"
		"{\"name\":\"system.cpu.utilization\",\"gauge\":{\"dataPoints\":[{" T
		",\"asDouble\":0.25}]}},"
		"{\"name\":\"system.memory.utilization\",\"gauge\":{\"dataPoints\":[{" T
		",\"asDouble\":0.5}]}},"
		"{\"name\":\"ramp.device.npu.utilization\",\"gauge\":{\"dataPoints\":[{" T
		",\"asDouble\":0.75}]}},"
		"{\"name\":\"ramp.device.temperature\",\"gauge\":{\"dataPoints\":[{" T
		",\"asDouble\":61.5}]}},"
		"{\"name\":\"system.filesystem.free\",\"unit\":\"By\",\"sum\":{\"isMonotonic\":false,"
		"\"aggregationTemporality\":2,\"dataPoints\":[{" T ",\"asInt\":\"2097152\"}]}},"
		"{\"name\":\"http.server.duration\",\"gauge\":{\"dataPoints\":[{" T
		",\"asDouble\":3}]}}" END "]}";

	CHECK_EQ_INT(decode_json(body, &b), 0);
	CHECK_EQ_INT(b.unknown, 1);
	CHECK_EQ_INT(b.rejected, 0);
	CHECK_EQ_INT(b.n, 10);
	CHECK_EQ_INT(fold(&b), 1);
	CHECK_EQ_STR(reps[0].device_id, "cam-1");
	CHECK_EQ_STR(reps[0].model, "det");
	CHECK_EQ_STR(reps[0].version, "v2");
	CHECK_NEAR(reps[0].ts, NOW, 1e-3);
	CHECK_EQ_INT(reps[0].requests, 10);
	CHECK_EQ_INT(reps[0].errors, 2);
	/* seconds to ms; the bound 0 is dropped, its bucket joins the next */
	CHECK_EQ_INT(reps[0].lat_nbounds, 2);
	CHECK_NEAR(reps[0].lat_bounds[0], 50, 1e-9);
	CHECK_NEAR(reps[0].lat_bounds[1], 200, 1e-9);
	CHECK_EQ_INT(reps[0].lat_counts[0], 3);
	CHECK_EQ_INT(reps[0].lat_counts[2], 1);
	/* bounds above 1 dropped, their buckets join the last */
	CHECK_EQ_INT(reps[0].conf_nbounds, 2);
	CHECK_EQ_INT(reps[0].conf_counts[2], 6);
	CHECK_NEAR(reps[0].model_load_ms, 1500, 1e-9);
	CHECK_NEAR(reps[0].cpu_pct, 25, 1e-9);
	CHECK_NEAR(reps[0].mem_pct, 50, 1e-9);
	CHECK_NEAR(reps[0].npu_pct, 75, 1e-9);
	CHECK_NEAR(reps[0].temperature_c, 61.5, 1e-9);
	CHECK_NEAR(reps[0].disk_free_mb, 2, 1e-9);
	CHECK(!b.pts[0].cumulative);
	otlp_batch_free(&b);
}

static void otlp_requests_default_to_the_latency_count(void)
{
	struct otlp_batch b;
	const char *body =
		"{\"resourceMetrics\":[" RES
		"{\"name\":\"ramp.inference.duration\",\"unit\":\"ms\",\"histogram\":{"
		"\"aggregationTemporality\":\"AGGREGATION_TEMPORALITY_DELTA\",\"dataPoints\":[{" T
		",\"explicitBounds\":[10,100],\"bucketCounts\":[\"4\",\"5\",\"1\"]}]}}" END "]}";

	CHECK_EQ_INT(decode_json(body, &b), 0);
	CHECK_EQ_INT(fold(&b), 1);
	CHECK_EQ_INT(reps[0].requests, 10);
	CHECK_EQ_INT(reps[0].errors, 0);
	otlp_batch_free(&b);
}

static void otlp_refuses_points_one_by_one(void)
{
	struct otlp_batch b;
	const char *body =
		"{\"resourceMetrics\":[{\"resource\":{\"attributes\":[]},\"scopeMetrics\":[{"
		"\"metrics\":[{\"name\":\"system.cpu.utilization\",\"gauge\":{\"dataPoints\":[{" T
		",\"asDouble\":0.5}]}}]}]}," RES
		"{\"name\":\"system.cpu.utilization\",\"gauge\":{\"dataPoints\":[{" T
		",\"asDouble\":1.5}]}},"
		"{\"name\":\"ramp.inference.duration\",\"unit\":\"min\",\"histogram\":{"
		"\"aggregationTemporality\":1,\"dataPoints\":[{" T
		",\"explicitBounds\":[1],\"bucketCounts\":[\"1\",\"1\"]}]}},"
		"{\"name\":\"ramp.inference.requests\",\"sum\":{\"aggregationTemporality\":1,"
		"\"isMonotonic\":false,\"dataPoints\":[{" T ",\"asInt\":\"1\"}]}},"
		"{\"name\":\"ramp.inference.duration\",\"histogram\":{\"aggregationTemporality\":1,"
		"\"dataPoints\":[{" T ",\"explicitBounds\":[1,2],\"bucketCounts\":[\"1\"]}]}},"
		"{\"name\":\"system.memory.utilization\",\"gauge\":{\"dataPoints\":["
		"{\"timeUnixNano\":\"2790000000000000000\",\"asDouble\":0.5}]}},"
		"{\"name\":\"system.memory.utilization\",\"gauge\":{\"dataPoints\":[{" T
		",\"asDouble\":0.5}]}}" END "]}";

	CHECK_EQ_INT(decode_json(body, &b), 0);
	CHECK_EQ_INT(b.rejected, 6);
	CHECK_EQ_INT(b.n, 1);
	CHECK(strstr(b.error, "no device.id") != NULL);
	otlp_batch_free(&b);
}

static void otlp_json_refuses_wrong_types_whole(void)
{
	struct otlp_batch b;

	CHECK_EQ_INT(decode_json("[]", &b), RAMP_EMALFORMED);
	CHECK_EQ_INT(decode_json("{\"resourceMetrics\":{}}", &b), RAMP_EMALFORMED);
	CHECK_EQ_INT(decode_json("{\"resourceMetrics\":[" RES
				 "{\"name\":\"ramp.inference.requests\",\"sum\":{\"dataPoints\":[{"
				 "\"asInt\":\"12x\"}]}}" END "]}",
				 &b),
		     RAMP_EMALFORMED);
	otlp_batch_free(&b);
}

/* --- protobuf, packed by protobuf-c's generated code --- */

typedef Opentelemetry__Proto__Common__V1__KeyValue KV;
typedef Opentelemetry__Proto__Common__V1__AnyValue AV;

static void kv_init(KV *kv, AV *av, const char *k, const char *v)
{
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(av);
	av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	av->string_value = (char *)v;
	kv->key = (char *)k;
	kv->value = av;
}

/* A request with one cumulative ramp.inference.requests point of value v. */
static uint8_t *pack_requests(double v, size_t *len)
{
	static KV kvs[3];
	static AV avs[3];
	static KV *kvp[3] = {&kvs[0], &kvs[1], &kvs[2]};
	Opentelemetry__Proto__Resource__V1__Resource res;
	Opentelemetry__Proto__Metrics__V1__NumberDataPoint dp, *dpp = &dp;
	Opentelemetry__Proto__Metrics__V1__Sum sum;
	Opentelemetry__Proto__Metrics__V1__Metric m, *mp = &m;
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm, *smp = &sm;
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm, *rmp = &rm;
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req;
	uint8_t *out;

	kv_init(&kvs[0], &avs[0], "device.id", "cam-1");
	kv_init(&kvs[1], &avs[1], "ramp.model.name", "det");
	kv_init(&kvs[2], &avs[2], "ramp.model.version", "v2");
	opentelemetry__proto__resource__v1__resource__init(&res);
	res.n_attributes = 3;
	res.attributes = kvp;
	opentelemetry__proto__metrics__v1__number_data_point__init(&dp);
	dp.start_time_unix_nano = NS(NOW - 10);
	dp.time_unix_nano = NS(NOW);
	dp.value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
	dp.as_double = v;
	opentelemetry__proto__metrics__v1__sum__init(&sum);
	sum.n_data_points = 1;
	sum.data_points = &dpp;
	sum.is_monotonic = 1;
	sum.aggregation_temporality =
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
	opentelemetry__proto__metrics__v1__metric__init(&m);
	m.name = "ramp.inference.requests";
	m.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
	m.sum = &sum;
	opentelemetry__proto__metrics__v1__scope_metrics__init(&sm);
	sm.n_metrics = 1;
	sm.metrics = &mp;
	opentelemetry__proto__metrics__v1__resource_metrics__init(&rm);
	rm.resource = &res;
	rm.n_scope_metrics = 1;
	rm.scope_metrics = &smp;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&req);
	req.n_resource_metrics = 1;
	req.resource_metrics = &rmp;
	*len = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(&req);
	out = malloc(*len);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req, out);
	return out;
}

static void otlp_pb_decodes_a_cumulative_sum(void)
{
	size_t len;
	uint8_t *data = pack_requests(42, &len);
	struct otlp_batch b;
	struct ramp_err err;

	otlp_batch_init(&b, NOW);
	CHECK_EQ_INT(otlp_decode_pb(data, len, &b, &err), 0);
	CHECK_EQ_INT(b.n, 1);
	CHECK(b.pts[0].cumulative);
	CHECK_NEAR(b.pts[0].value, 42, 1e-9);
	CHECK_EQ_INT(strlen(b.pts[0].key), OTLP_KEY_LEN);
	CHECK_EQ_INT(b.pts[0].start_ns, NS(NOW - 10));
	CHECK_EQ_STR(b.groups[0].device_id, "cam-1");
	otlp_batch_free(&b);
	free(data);
}

static void otlp_pb_same_stream_same_key(void)
{
	size_t l1, l2;
	uint8_t *d1 = pack_requests(1, &l1), *d2 = pack_requests(2, &l2);
	struct otlp_batch a, b;
	struct ramp_err err;

	otlp_batch_init(&a, NOW);
	otlp_batch_init(&b, NOW);
	CHECK_EQ_INT(otlp_decode_pb(d1, l1, &a, &err), 0);
	CHECK_EQ_INT(otlp_decode_pb(d2, l2, &b, &err), 0);
	CHECK_EQ_STR(a.pts[0].key, b.pts[0].key);
	otlp_batch_free(&a);
	otlp_batch_free(&b);
	free(d1);
	free(d2);
}

static void otlp_pb_refuses_truncated_and_garbage(void)
{
	size_t len;
	uint8_t *data = pack_requests(42, &len);
	struct otlp_batch b;
	struct ramp_err err;

	for (size_t cut = 1; cut < len; cut++) {
		otlp_batch_init(&b, NOW);
		int rc = otlp_decode_pb(data, cut, &b, &err);
		/* a cut at a field boundary is a valid, shorter message */
		CHECK(rc == 0 || rc == RAMP_EMALFORMED);
		if (rc == RAMP_EMALFORMED)
			CHECK(b.n == 0 && strstr(err.msg, "truncated") != NULL);
		otlp_batch_free(&b);
	}
	otlp_batch_init(&b, NOW);
	CHECK_EQ_INT(otlp_decode_pb(data, len - 1, &b, &err), RAMP_EMALFORMED);
	CHECK_EQ_INT(otlp_decode_pb((const uint8_t *)"\xff\xff\xff", 3, &b, &err), RAMP_EMALFORMED);
	CHECK_EQ_INT(b.n, 0);
	otlp_batch_free(&b);
	free(data);
}

static void otlp_pb_answer_carries_partial_success(void)
{
	size_t len;
	uint8_t *out = otlp_response_pb(3, "cpu: value out of range", &len);
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse *r =
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(
			NULL, len, out);

	CHECK(r != NULL && r->partial_success != NULL);
	if (r && r->partial_success) {
		CHECK_EQ_INT(r->partial_success->rejected_data_points, 3);
		CHECK_EQ_STR(r->partial_success->error_message, "cpu: value out of range");
	}
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(r, NULL);
	free(out);
	out = otlp_response_pb(0, "", &len);
	CHECK_EQ_INT(len, 0);
	free(out);
}

/* --- cumulative to delta --- */

static struct otlp_point sum_point(double start, double t, double v)
{
	struct otlp_point p;

	memset(&p, 0, sizeof(p));
	p.field = OTLP_REQUESTS;
	p.cumulative = true;
	p.start_ns = NS(start);
	p.time_ns = NS(t);
	p.value = v;
	return p;
}

/* Feeds v[] (at t = 1, 2, ...) through one state; returns the total counted. */
static double run(struct otlp_state *st, bool *have, struct otlp_point *pts, size_t n)
{
	double total = 0;

	for (size_t i = 0; i < n; i++) {
		struct otlp_point d;
		struct otlp_state next;
		enum otlp_verdict v = otlp_delta(*have ? st : NULL, &pts[i], 3600, &d, &next);
		if (otlp_verdict_counts(v))
			total += d.value;
		*st = next;
		*have = true;
	}
	return total;
}

static void otlp_delta_counts_increases_and_the_first_point(void)
{
	struct otlp_state st;
	bool have = false;
	struct otlp_point p[] = {sum_point(NOW, NOW + 10, 5), sum_point(NOW, NOW + 20, 12),
				 sum_point(NOW, NOW + 30, 12)};

	CHECK_NEAR(run(&st, &have, p, 3), 12, 1e-9);
}

static void otlp_delta_first_point_of_an_old_stream_is_a_baseline(void)
{
	struct otlp_state st;
	bool have = false;
	struct otlp_point p[] = {sum_point(NOW - 86400, NOW, 500), sum_point(NOW - 86400, NOW + 10, 510)};
	struct otlp_point d;
	struct otlp_state next;

	CHECK_EQ_INT(otlp_delta(NULL, &p[0], 3600, &d, &next), OTLP_BASELINE);
	CHECK_NEAR(run(&st, &have, p, 2), 10, 1e-9);
}

static void otlp_delta_new_start_time_is_a_reset(void)
{
	struct otlp_state st;
	bool have = false;
	struct otlp_point p[] = {sum_point(NOW, NOW + 10, 50), sum_point(NOW + 15, NOW + 20, 3),
				 sum_point(NOW + 15, NOW + 30, 7)};

	CHECK_NEAR(run(&st, &have, p, 3), 57, 1e-9);
}

static void otlp_delta_value_going_down_is_a_reset_not_negative(void)
{
	struct otlp_state st;
	bool have = false;
	struct otlp_point p[] = {sum_point(NOW, NOW + 10, 50), sum_point(NOW, NOW + 20, 4)};
	struct otlp_point d;
	struct otlp_state next;

	CHECK_NEAR(run(&st, &have, p, 2), 54, 1e-9);
	otlp_delta(NULL, &p[0], 3600, &d, &next);
	CHECK_EQ_INT(otlp_delta(&next, &p[1], 3600, &d, &next), OTLP_RESET);
	CHECK(d.value >= 0);
}

static void otlp_delta_duplicates_and_out_of_order_count_once(void)
{
	struct otlp_state st;
	bool have = false;
	struct otlp_point p[] = {sum_point(NOW, NOW + 10, 5), sum_point(NOW, NOW + 10, 5),
				 sum_point(NOW, NOW + 30, 9), sum_point(NOW, NOW + 20, 7),
				 sum_point(NOW, NOW + 30, 9), sum_point(NOW - 5, NOW + 40, 1)};

	CHECK_NEAR(run(&st, &have, p, 6), 9, 1e-9);
	CHECK_EQ_INT(st.time_ns, NS(NOW + 30));
}

static void otlp_delta_gap_spans_the_missing_points(void)
{
	struct otlp_state st;
	bool have = false;
	/* the points at +20 and +30 never arrived */
	struct otlp_point p[] = {sum_point(NOW, NOW + 10, 10), sum_point(NOW, NOW + 40, 40)};

	CHECK_NEAR(run(&st, &have, p, 2), 40, 1e-9);
}

static void otlp_delta_same_stream_on_two_replicas_counts_once(void)
{
	/* the store's one row per stream, which each replica locks in turn:
	 * the second replica to take a point sees the first one's state */
	struct otlp_state shared;
	bool have = false;
	struct otlp_point p1 = sum_point(NOW, NOW + 10, 5), p2 = sum_point(NOW, NOW + 20, 8);
	struct otlp_point replica_a[] = {p1, p2}, replica_b[] = {p1, p2};
	double total = 0;

	total += run(&shared, &have, &replica_a[0], 1); /* A takes p1 */
	total += run(&shared, &have, &replica_b[0], 1); /* B takes the same p1: stale */
	total += run(&shared, &have, &replica_b[1], 1); /* B takes p2 */
	total += run(&shared, &have, &replica_a[1], 1); /* A's copy of p2: stale */
	CHECK_NEAR(total, 8, 1e-9);
	{
		/* and through the text the store keeps between them */
		char text[OTLP_STATE_TEXT_MAX];
		struct otlp_state back;
		otlp_state_format(&shared, text);
		CHECK_EQ_INT(otlp_state_parse(text, &back), 0);
		CHECK_NEAR(run(&back, &have, &replica_a[1], 1), 0, 1e-9);
	}
}

static void otlp_delta_histograms_subtract_buckets(void)
{
	struct otlp_point a, b, d;
	struct otlp_state s1, s2;

	memset(&a, 0, sizeof(a));
	a.field = OTLP_LATENCY;
	a.cumulative = true;
	a.start_ns = NS(NOW);
	a.time_ns = NS(NOW + 10);
	a.nb = 2;
	a.bounds[0] = 10;
	a.bounds[1] = 100;
	a.counts[0] = 1, a.counts[1] = 2, a.counts[2] = 3, a.count = 6;
	a.bounds_hash = 77;
	b = a;
	b.time_ns = NS(NOW + 20);
	b.counts[0] = 4, b.counts[1] = 2, b.counts[2] = 5, b.count = 11;
	CHECK_EQ_INT(otlp_delta(NULL, &a, 3600, &d, &s1), OTLP_FIRST);
	CHECK_EQ_INT(otlp_delta(&s1, &b, 3600, &d, &s2), OTLP_DELTA);
	CHECK_EQ_INT(d.counts[0], 3);
	CHECK_EQ_INT(d.counts[1], 0);
	CHECK_EQ_INT(d.counts[2], 2);
	CHECK_EQ_INT(d.count, 5);
	/* other bounds: a reset, the whole histogram counts */
	b.bounds_hash = 78;
	b.time_ns = NS(NOW + 30);
	CHECK_EQ_INT(otlp_delta(&s2, &b, 3600, &d, &s1), OTLP_RESET);
	CHECK_EQ_INT(d.count, 11);
}

static void otlp_state_text_round_trips_and_refuses_junk(void)
{
	struct otlp_state s, back;
	char text[OTLP_STATE_TEXT_MAX];

	memset(&s, 0, sizeof(s));
	s.start_ns = 1;
	s.time_ns = UINT64_MAX;
	s.value = 0.1;
	s.count = 9;
	s.bounds_hash = 123456789012345ULL;
	s.nb = OTLP_BOUNDS_MAX;
	for (int i = 0; i <= OTLP_BOUNDS_MAX; i++)
		s.counts[i] = (uint64_t)i * 1000000007ULL;
	otlp_state_format(&s, text);
	CHECK_EQ_INT(otlp_state_parse(text, &back), 0);
	CHECK(memcmp(&s, &back, sizeof(s)) == 0);
	CHECK_EQ_INT(otlp_state_parse("", &back), RAMP_EINVAL);
	CHECK_EQ_INT(otlp_state_parse("1 2 3 x 4 5 0 0", &back), RAMP_EINVAL);
	CHECK_EQ_INT(otlp_state_parse("1 2 3 4 5 6 65 0", &back), RAMP_EINVAL);
	CHECK_EQ_INT(otlp_state_parse("1 2 3 4 5 6 0 0 junk", &back), RAMP_EINVAL);
	CHECK_EQ_INT(otlp_state_parse("1 2 3 4 5 6 0 0", &back), 0);
}

static const struct unit_case cases[] = {
	UNIT(otlp_json_maps_every_instrument),
	UNIT(otlp_requests_default_to_the_latency_count),
	UNIT(otlp_refuses_points_one_by_one),
	UNIT(otlp_json_refuses_wrong_types_whole),
	UNIT(otlp_pb_decodes_a_cumulative_sum),
	UNIT(otlp_pb_same_stream_same_key),
	UNIT(otlp_pb_refuses_truncated_and_garbage),
	UNIT(otlp_pb_answer_carries_partial_success),
	UNIT(otlp_delta_counts_increases_and_the_first_point),
	UNIT(otlp_delta_first_point_of_an_old_stream_is_a_baseline),
	UNIT(otlp_delta_new_start_time_is_a_reset),
	UNIT(otlp_delta_value_going_down_is_a_reset_not_negative),
	UNIT(otlp_delta_duplicates_and_out_of_order_count_once),
	UNIT(otlp_delta_gap_spans_the_missing_points),
	UNIT(otlp_delta_same_stream_on_two_replicas_counts_once),
	UNIT(otlp_delta_histograms_subtract_buckets),
	UNIT(otlp_state_text_round_trips_and_refuses_junk),
	{0},
};
UNIT_MAIN(cases)
