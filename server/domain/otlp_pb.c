/*
 * otlp_pb.c - the protobuf decoder of OTLP metrics: protobuf-c's code,
 * generated at build time from the vendored opentelemetry-proto files
 * (server/otlp/proto), unpacks the request; this walks it and hands each
 * data point to the mapping (otlp.c). Also packs the answer.
 */
#include "domain/otlp.h"
#include "domain/otlp_int.h"

#include <opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h>

#include <stdlib.h>
#include <string.h>

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistPoint;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest Request;

#define V(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x
#define D(x) OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_##x

/* Reads attrs: the three ramp reads into who (when string-valued), and
 * the hash of all into *h. */
static void read_attrs(KeyValue **attrs, size_t n, const char *who[3], uint64_t *h)
{
	static const char *const names[3] = {OTLP_ATTR_DEVICE, OTLP_ATTR_MODEL, OTLP_ATTR_VERSION};

	for (size_t i = 0; i < n; i++) {
		const KeyValue *kv = attrs[i];
		const AnyValue *v = kv->value;
		const char *key = kv->key ? kv->key : "";
		if (v == NULL) {
			*h = otlp_attr_hash(*h, key, 0, "", 0);
			continue;
		}
		switch (v->value_case) {
		case V(STRING_VALUE):
			*h = otlp_attr_hash(*h, key, 1, v->string_value, strlen(v->string_value));
			for (int k = 0; k < 3; k++)
				if (strcmp(key, names[k]) == 0)
					who[k] = v->string_value;
			break;
		case V(BOOL_VALUE): {
			unsigned char c = v->bool_value != 0;
			*h = otlp_attr_hash(*h, key, 2, &c, 1);
			break;
		}
		case V(INT_VALUE):
			*h = otlp_attr_hash(*h, key, 3, &v->int_value, sizeof(v->int_value));
			break;
		case V(DOUBLE_VALUE):
			*h = otlp_attr_hash(*h, key, 4, &v->double_value, sizeof(v->double_value));
			break;
		case V(BYTES_VALUE):
			*h = otlp_attr_hash(*h, key, 7, v->bytes_value.data, v->bytes_value.len);
			break;
		default:
			*h = otlp_attr_hash(*h, key, 5, "", 0);
			break;
		}
	}
}

/* dp's point part from attrs: who overrides the resource's, ident grows. */
static void point_attrs(struct otlp_dp *dp, const struct otlp_dp *base, KeyValue **attrs,
			size_t n)
{
	const char *who[3] = {NULL, NULL, NULL};
	uint64_t h = 0;

	read_attrs(attrs, n, who, &h);
	*dp = *base;
	dp->ident = base->ident ^ (h * 0x9e3779b97f4a7c15ULL + 1);
	if (who[0])
		dp->device_id = who[0];
	if (who[1])
		dp->model = who[1];
	if (who[2])
		dp->version = who[2];
}

static int number_points(struct otlp_batch *b, const struct otlp_dp *base, NumberPoint **pts,
			 size_t n)
{
	struct otlp_dp dp;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const NumberPoint *p = pts[i];
		point_attrs(&dp, base, p->attributes, p->n_attributes);
		dp.start_ns = p->start_time_unix_nano;
		dp.time_ns = p->time_unix_nano;
		dp.has_value = true;
		if (p->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT)
			dp.value = (double)p->as_int;
		else if (p->value_case ==
			 OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE)
			dp.value = p->as_double;
		else
			dp.has_value = false;
		if ((rc = otlp_map_point(b, &dp)) != 0)
			return rc;
	}
	return 0;
}

static int hist_points(struct otlp_batch *b, const struct otlp_dp *base, HistPoint **pts,
		       size_t n)
{
	struct otlp_dp dp;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const HistPoint *p = pts[i];
		point_attrs(&dp, base, p->attributes, p->n_attributes);
		dp.start_ns = p->start_time_unix_nano;
		dp.time_ns = p->time_unix_nano;
		dp.count = p->count;
		dp.nb = p->n_explicit_bounds;
		dp.bounds = p->explicit_bounds;
		dp.nc = p->n_bucket_counts;
		dp.counts = p->bucket_counts;
		if ((rc = otlp_map_point(b, &dp)) != 0)
			return rc;
	}
	return 0;
}

static int metric(struct otlp_batch *b, const struct otlp_dp *scope, const Metric *m)
{
	struct otlp_dp base = *scope;

	base.metric = m->name ? m->name : "";
	base.unit = m->unit ? m->unit : "";
	base.ident = scope->ident;
	switch (m->data_case) {
	case D(GAUGE):
		base.type = OTLP_T_GAUGE;
		return number_points(b, &base, m->gauge->data_points, m->gauge->n_data_points);
	case D(SUM):
		base.type = OTLP_T_SUM;
		base.temporality = (int)m->sum->aggregation_temporality;
		base.monotonic = m->sum->is_monotonic != 0;
		return number_points(b, &base, m->sum->data_points, m->sum->n_data_points);
	case D(HISTOGRAM):
		base.type = OTLP_T_HIST;
		base.temporality = (int)m->histogram->aggregation_temporality;
		return hist_points(b, &base, m->histogram->data_points,
				   m->histogram->n_data_points);
	default: {
		/* another kind: one refusal (a known name) or unknown point per point */
		struct otlp_dp dp = base;
		size_t n = m->data_case == D(EXPONENTIAL_HISTOGRAM) ? m->exponential_histogram->n_data_points
			   : m->data_case == D(SUMMARY)		   ? m->summary->n_data_points
								   : 1;
		dp.type = OTLP_T_OTHER;
		for (size_t i = 0; i < n; i++) {
			int rc = otlp_map_point(b, &dp);
			if (rc != 0)
				return rc;
		}
		return 0;
	}
	}
}

static int walk(struct otlp_batch *b, const Request *req)
{
	int rc;

	for (size_t i = 0; i < req->n_resource_metrics; i++) {
		const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[i];
		const char *who[3] = {NULL, NULL, NULL};
		struct otlp_dp res;
		memset(&res, 0, sizeof(res));
		if (rm->resource)
			read_attrs(rm->resource->attributes, rm->resource->n_attributes, who,
				   &res.ident);
		res.device_id = who[0];
		res.model = who[1];
		res.version = who[2];
		for (size_t j = 0; j < rm->n_scope_metrics; j++) {
			const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = rm->scope_metrics[j];
			struct otlp_dp scope = res;
			uint64_t h = 0;
			if (sm->scope) {
				const char *s = sm->scope->name ? sm->scope->name : "";
				const char *v = sm->scope->version ? sm->scope->version : "";
				h = otlp_attr_hash(h, "\x01scope", 1, s, strlen(s));
				h = otlp_attr_hash(h, "\x01version", 1, v, strlen(v));
			}
			scope.ident = res.ident * 31 + h;
			for (size_t k = 0; k < sm->n_metrics; k++)
				if ((rc = metric(b, &scope, sm->metrics[k])) != 0)
					return rc;
		}
	}
	return 0;
}

int otlp_decode_pb(const uint8_t *data, size_t len, struct otlp_batch *b, struct ramp_err *err)
{
	Request *req =
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
			NULL, len, data);
	int rc;

	if (req == NULL)
		return ramp_err_set(err, RAMP_EMALFORMED, "",
				    "body is not a protobuf ExportMetricsServiceRequest"
				    " (malformed or truncated)");
	rc = walk(b, req);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	if (rc == RAMP_ETOOBIG)
		return ramp_err_set(err, rc, "", "more than %d data points in one request",
				    OTLP_POINTS_MAX);
	if (rc == RAMP_ENOMEM)
		return ramp_err_set(err, rc, "", "out of memory");
	return rc;
}

uint8_t *otlp_response_pb(int64_t rejected, const char *msg, size_t *len)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse resp =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsPartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_PARTIAL_SUCCESS__INIT;
	uint8_t *out;

	if (rejected > 0 || (msg && *msg)) {
		ps.rejected_data_points = rejected;
		ps.error_message = (char *)(msg ? msg : "");
		resp.partial_success = &ps;
	}
	*len = opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__get_packed_size(
		&resp);
	if ((out = malloc(*len ? *len : 1)) == NULL)
		return NULL;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__pack(&resp, out);
	return out;
}
