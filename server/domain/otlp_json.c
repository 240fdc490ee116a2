/*
 * otlp_json.c - the OTLP/JSON decoder of metrics (the protobuf messages in
 * the proto3 JSON mapping: lowerCamelCase keys, 64-bit integers as decimal
 * strings or numbers, enums as numbers or their names). Walks the jansson
 * tree the way otlp_pb.c walks protobuf-c's, into the same mapping; a
 * member of the wrong JSON type makes the whole body malformed.
 */
#include "domain/otlp.h"
#include "domain/otlp_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct walk {
	struct otlp_batch *b;
	struct ramp_err *err;
	/* a point's numbers, each walk of a histogram point */
	double bounds[OTLP_BOUNDS_MAX * 4];
	uint64_t counts[OTLP_BOUNDS_MAX * 4 + 1];
};

static int bad(struct walk *w, const char *path, const char *what)
{
	return ramp_err_set(w->err, RAMP_EMALFORMED, path, "%s%s%s", path, *path ? ": " : "", what);
}

/* An array member (absent or null: empty); NULL and *rc set when not an array. */
static const json_t *array_of(struct walk *w, const json_t *obj, const char *key, int *rc)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_array(v))
		*rc = bad(w, key, "must be an array");
	return json_is_array(v) ? v : NULL;
}

/* A uint64 as a decimal string or a JSON integer; false otherwise. */
static bool u64_of(const json_t *v, uint64_t *out)
{
	const char *s;
	char *end;

	if (v == NULL || json_is_null(v)) {
		*out = 0;
		return true;
	}
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return false;
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d >= 0 && d < 1.8e19) || d != trunc(d))
			return false;
		*out = (uint64_t)d;
		return true;
	}
	if (!json_is_string(v) || (s = json_string_value(v))[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* An int64 (asInt, intValue) as a double. */
static bool i64_of(const json_t *v, double *out)
{
	const char *s;
	char *end;
	long long ll;

	if (json_is_integer(v)) {
		*out = (double)json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		*out = json_real_value(v);
		return *out == trunc(*out);
	}
	if (!json_is_string(v) || (s = json_string_value(v))[0] == '\0')
		return false;
	errno = 0;
	ll = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return false;
	*out = (double)ll;
	return true;
}

static bool double_of(const json_t *v, double *out)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return true;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strcmp(s, "NaN") == 0)
			*out = NAN;
		else if (strcmp(s, "Infinity") == 0)
			*out = INFINITY;
		else if (strcmp(s, "-Infinity") == 0)
			*out = -INFINITY;
		else
			return false;
		return true;
	}
	return false;
}

static int read_attrs(struct walk *w, const json_t *attrs, const char *who[3], uint64_t *h)
{
	static const char *const names[3] = {OTLP_ATTR_DEVICE, OTLP_ATTR_MODEL, OTLP_ATTR_VERSION};
	size_t i;
	const json_t *kv;

	if (attrs == NULL || json_is_null(attrs))
		return 0;
	if (!json_is_array(attrs))
		return bad(w, "attributes", "must be an array");
	json_array_foreach(attrs, i, kv) {
		const json_t *k = json_object_get(kv, "key"), *v = json_object_get(kv, "value"), *x;
		const char *key;
		if (!json_is_string(k))
			return bad(w, "attributes", "each attribute needs a string key");
		key = json_string_value(k);
		if ((x = json_object_get(v, "stringValue")) != NULL) {
			if (!json_is_string(x))
				return bad(w, "attributes", "stringValue must be a string");
			*h = otlp_attr_hash(*h, key, 1, json_string_value(x), json_string_length(x));
			for (int n = 0; n < 3; n++)
				if (strcmp(key, names[n]) == 0)
					who[n] = json_string_value(x);
		} else if ((x = json_object_get(v, "boolValue")) != NULL) {
			unsigned char c = json_is_true(x);
			*h = otlp_attr_hash(*h, key, 2, &c, 1);
		} else if ((x = json_object_get(v, "intValue")) != NULL) {
			double d;
			int64_t iv;
			if (!i64_of(x, &d))
				return bad(w, "attributes", "intValue must be an integer");
			iv = (int64_t)d;
			*h = otlp_attr_hash(*h, key, 3, &iv, sizeof(iv));
		} else if ((x = json_object_get(v, "doubleValue")) != NULL) {
			double d;
			if (!double_of(x, &d))
				return bad(w, "attributes", "doubleValue must be a number");
			*h = otlp_attr_hash(*h, key, 4, &d, sizeof(d));
		} else {
			*h = otlp_attr_hash(*h, key, 5, "", 0);
		}
	}
	return 0;
}

static int point_base(struct walk *w, const json_t *p, const struct otlp_dp *base,
		      struct otlp_dp *dp)
{
	const char *who[3] = {NULL, NULL, NULL};
	uint64_t h = 0;
	int rc;

	if (!json_is_object(p))
		return bad(w, "dataPoints", "each data point must be an object");
	if ((rc = read_attrs(w, json_object_get(p, "attributes"), who, &h)) != 0)
		return rc;
	*dp = *base;
	dp->ident = base->ident ^ (h * 0x9e3779b97f4a7c15ULL + 1);
	if (who[0])
		dp->device_id = who[0];
	if (who[1])
		dp->model = who[1];
	if (who[2])
		dp->version = who[2];
	if (!u64_of(json_object_get(p, "startTimeUnixNano"), &dp->start_ns) ||
	    !u64_of(json_object_get(p, "timeUnixNano"), &dp->time_ns))
		return bad(w, "dataPoints", "startTimeUnixNano and timeUnixNano must be integers");
	return 0;
}

static int number_point(struct walk *w, const json_t *p, struct otlp_dp *dp)
{
	const json_t *v;

	dp->has_value = true;
	if ((v = json_object_get(p, "asDouble")) != NULL) {
		if (!double_of(v, &dp->value))
			return bad(w, "dataPoints", "asDouble must be a number");
	} else if ((v = json_object_get(p, "asInt")) != NULL) {
		if (!i64_of(v, &dp->value))
			return bad(w, "dataPoints", "asInt must be an integer");
	} else {
		dp->has_value = false;
	}
	return 0;
}

static int hist_point(struct walk *w, const json_t *p, struct otlp_dp *dp)
{
	int rc = 0;
	const json_t *bounds = array_of(w, p, "explicitBounds", &rc);
	const json_t *counts = rc ? NULL : array_of(w, p, "bucketCounts", &rc);
	size_t nb = json_array_size(bounds), nc = json_array_size(counts);

	if (rc != 0)
		return rc;
	if (nb > OTLP_BOUNDS_MAX * 4 || nc > OTLP_BOUNDS_MAX * 4 + 1)
		return bad(w, "dataPoints", "too many explicitBounds");
	for (size_t i = 0; i < nb; i++)
		if (!double_of(json_array_get(bounds, i), &w->bounds[i]))
			return bad(w, "dataPoints", "explicitBounds must be numbers");
	for (size_t i = 0; i < nc; i++)
		if (!u64_of(json_array_get(counts, i), &w->counts[i]))
			return bad(w, "dataPoints", "bucketCounts must be unsigned integers");
	if (!u64_of(json_object_get(p, "count"), &dp->count))
		return bad(w, "dataPoints", "count must be an unsigned integer");
	dp->nb = nb;
	dp->nc = nc;
	dp->bounds = w->bounds;
	dp->counts = w->counts;
	return 0;
}

/* aggregationTemporality as a number or its enum name. */
static int temporality_of(const json_t *v)
{
	const char *s;

	if (json_is_integer(v))
		return (int)json_integer_value(v);
	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	return strcmp(s, "AGGREGATION_TEMPORALITY_DELTA") == 0	     ? OTLP_TEMP_DELTA
	       : strcmp(s, "AGGREGATION_TEMPORALITY_CUMULATIVE") == 0 ? OTLP_TEMP_CUMULATIVE
								      : 0;
}

static int points(struct walk *w, const json_t *data, struct otlp_dp *base)
{
	int rc = 0;
	const json_t *pts, *p;
	struct otlp_dp dp;
	size_t i;

	if (!json_is_object(data))
		return bad(w, base->metric, "gauge, sum or histogram must be an object");
	base->temporality = temporality_of(json_object_get(data, "aggregationTemporality"));
	base->monotonic = json_is_true(json_object_get(data, "isMonotonic"));
	if ((pts = array_of(w, data, "dataPoints", &rc)) == NULL)
		return rc;
	json_array_foreach(pts, i, p) {
		if ((rc = point_base(w, p, base, &dp)) != 0 ||
		    (rc = base->type == OTLP_T_HIST ? hist_point(w, p, &dp)
						    : base->type == OTLP_T_OTHER ? 0 : number_point(w, p, &dp)) != 0 ||
		    (rc = otlp_map_point(w->b, &dp)) != 0)
			return rc;
	}
	return 0;
}

static int metric(struct walk *w, const json_t *m, const struct otlp_dp *scope)
{
	static const struct {
		const char *key;
		enum otlp_type type;
	} kinds[] = {{"gauge", OTLP_T_GAUGE},
		     {"sum", OTLP_T_SUM},
		     {"histogram", OTLP_T_HIST},
		     {"exponentialHistogram", OTLP_T_OTHER},
		     {"summary", OTLP_T_OTHER}};
	struct otlp_dp base = *scope;
	const json_t *name = json_object_get(m, "name"), *unit = json_object_get(m, "unit");

	if (!json_is_object(m) || !json_is_string(name) || (unit && !json_is_string(unit)))
		return bad(w, "metrics", "each metric must be an object with a string name");
	base.metric = json_string_value(name);
	base.unit = unit ? json_string_value(unit) : "";
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const json_t *data = json_object_get(m, kinds[k].key);
		if (data == NULL)
			continue;
		base.type = kinds[k].type;
		return points(w, data, &base);
	}
	return 0; /* no data: nothing to count */
}

static int scope_metrics(struct walk *w, const json_t *sm, const struct otlp_dp *res)
{
	int rc = 0;
	const json_t *scope = json_object_get(sm, "scope"), *ms, *m;
	struct otlp_dp base = *res;
	uint64_t h = 0;
	size_t i;

	if (!json_is_object(sm))
		return bad(w, "scopeMetrics", "must be objects");
	if (json_is_object(scope)) {
		const char *s = json_string_value(json_object_get(scope, "name"));
		const char *v = json_string_value(json_object_get(scope, "version"));
		s = s ? s : "";
		v = v ? v : "";
		h = otlp_attr_hash(h, "\x01scope", 1, s, strlen(s));
		h = otlp_attr_hash(h, "\x01version", 1, v, strlen(v));
	}
	base.ident = res->ident * 31 + h;
	if ((ms = array_of(w, sm, "metrics", &rc)) == NULL)
		return rc;
	json_array_foreach(ms, i, m) {
		if ((rc = metric(w, m, &base)) != 0)
			return rc;
	}
	return 0;
}

static int resource_metrics(struct walk *w, const json_t *rm)
{
	const char *who[3] = {NULL, NULL, NULL};
	const json_t *res = json_object_get(rm, "resource"), *sms, *sm;
	struct otlp_dp base;
	int rc = 0;
	size_t i;

	if (!json_is_object(rm))
		return bad(w, "resourceMetrics", "must be objects");
	memset(&base, 0, sizeof(base));
	if (res != NULL && !json_is_null(res) &&
	    (rc = read_attrs(w, json_object_get(res, "attributes"), who, &base.ident)) != 0)
		return rc;
	base.device_id = who[0];
	base.model = who[1];
	base.version = who[2];
	if ((sms = array_of(w, rm, "scopeMetrics", &rc)) == NULL)
		return rc;
	json_array_foreach(sms, i, sm) {
		if ((rc = scope_metrics(w, sm, &base)) != 0)
			return rc;
	}
	return 0;
}

int otlp_decode_json(const json_t *root, struct otlp_batch *b, struct ramp_err *err)
{
	struct walk *w;
	const json_t *rms, *rm;
	int rc = 0;
	size_t i;

	if (!json_is_object(root))
		return ramp_err_set(err, RAMP_EMALFORMED, "",
				    "body must be an ExportMetricsServiceRequest object");
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	w->b = b;
	w->err = err;
	rms = array_of(w, root, "resourceMetrics", &rc);
	json_array_foreach(rms, i, rm) {
		if ((rc = resource_metrics(w, rm)) != 0)
			break;
	}
	free(w);
	if (rc == RAMP_ETOOBIG)
		return ramp_err_set(err, rc, "", "more than %d data points in one request",
				    OTLP_POINTS_MAX);
	if (rc == RAMP_ENOMEM)
		return ramp_err_set(err, rc, "", "out of memory");
	return rc;
}
