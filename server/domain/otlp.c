/*
 * otlp.c - the OTLP mapping: which instrument becomes which telemetry
 * field (the table below, documented in docs/telemetry.md), the units it is
 * converted from, and the fold of a request's points into one report per
 * device and model version. The decoders feed it (otlp_pb.c, otlp_json.c);
 * the cumulative streams are otlp_delta.c's.
 *
 * A point is refused on its own (counted in rejected, the first reason
 * kept): no or an invalid device.id, no model, a value out of range, a
 * histogram whose buckets do not match its bounds, a time too far from now.
 */
#include "domain/otlp.h"
#include "domain/device_id.h"
#include "domain/otlp_int.h"
#include "domain/telemetry_int.h"

#include "common/hash.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum unit_kind { U_NONE, U_TIME_MS, U_FRACTION_PCT, U_BYTES_MB };

struct instrument {
	const char *name;
	enum otlp_type type; /* OTLP_T_GAUGE also takes a non-monotonic sum */
	enum otlp_field field;
	enum unit_kind unit;
	size_t gauge_off;
};

#define GAUGE(n, f, u) {n, OTLP_T_GAUGE, OTLP_GAUGE, u, offsetof(struct telemetry_report, f)}
static const struct instrument instruments[] = {
	{"ramp.inference.duration", OTLP_T_HIST, OTLP_LATENCY, U_TIME_MS, 0},
	{"ramp.inference.requests", OTLP_T_SUM, OTLP_REQUESTS, U_NONE, 0},
	{"ramp.inference.errors", OTLP_T_SUM, OTLP_ERRORS, U_NONE, 0},
	{"ramp.inference.confidence", OTLP_T_HIST, OTLP_CONFIDENCE, U_NONE, 0},
	GAUGE("ramp.model.load_time", model_load_ms, U_TIME_MS),
	GAUGE("system.cpu.utilization", cpu_pct, U_FRACTION_PCT),
	GAUGE("system.memory.utilization", mem_pct, U_FRACTION_PCT),
	GAUGE("ramp.device.npu.utilization", npu_pct, U_FRACTION_PCT),
	GAUGE("ramp.device.temperature", temperature_c, U_NONE),
	GAUGE("system.filesystem.free", disk_free_mb, U_BYTES_MB),
};
#define NINSTRUMENTS (sizeof(instruments) / sizeof(instruments[0]))

void otlp_batch_init(struct otlp_batch *b, double now)
{
	memset(b, 0, sizeof(*b));
	b->now = now;
}

void otlp_batch_free(struct otlp_batch *b)
{
	free(b->pts);
	free(b->groups);
	b->pts = NULL;
	b->groups = NULL;
	b->n = b->cap = b->ngroups = b->gcap = 0;
}

uint64_t otlp_attr_hash(uint64_t h, const char *key, int tag, const void *val, size_t len)
{
	uint64_t one = hash_fnv1a_str(HASH_FNV1A_BASIS, key);

	one = hash_fnv1a(one, "\0", 1);
	one = hash_fnv1a(one, &tag, sizeof(tag));
	one = hash_fnv1a(one, val, len);
	/* a sum of mixed values: the attributes' order does not matter */
	one ^= one >> 29;
	one *= 0xbf58476d1ce4e5b9ULL;
	one ^= one >> 32;
	return h + one;
}

static int refuse(struct otlp_batch *b, const struct otlp_dp *dp, const char *fmt, ...)
{
	va_list ap;
	int n;

	b->rejected++;
	if (b->error[0] != '\0')
		return 0;
	n = snprintf(b->error, sizeof(b->error), "%s: ", dp->metric);
	if (n < 0 || (size_t)n >= sizeof(b->error))
		return 0;
	va_start(ap, fmt);
	vsnprintf(b->error + n, sizeof(b->error) - (size_t)n, fmt, ap);
	va_end(ap);
	return 0;
}

static const struct instrument *instrument_of(const char *name)
{
	for (size_t i = 0; i < NINSTRUMENTS; i++)
		if (strcmp(instruments[i].name, name) == 0)
			return &instruments[i];
	return NULL;
}

/* The index of dp's group in b, added when new; -1 when out of memory. */
static long group_of(struct otlp_batch *b, const char *device, const char *model,
		     const char *version)
{
	for (size_t k = b->ngroups; k-- > 0;) {
		const struct otlp_group *g = &b->groups[k];
		if (strcmp(g->device_id, device) == 0 && strcmp(g->model, model) == 0 &&
		    strcmp(g->version, version) == 0)
			return (long)k;
	}
	if (b->ngroups == b->gcap) {
		size_t cap = b->gcap ? b->gcap * 2 : 8;
		struct otlp_group *g = realloc(b->groups, cap * sizeof(*g));
		if (g == NULL)
			return -1;
		b->groups = g;
		b->gcap = cap;
	}
	snprintf(b->groups[b->ngroups].device_id, sizeof(b->groups[0].device_id), "%s", device);
	snprintf(b->groups[b->ngroups].model, sizeof(b->groups[0].model), "%s", model);
	snprintf(b->groups[b->ngroups].version, sizeof(b->groups[0].version), "%s", version);
	return (long)b->ngroups++;
}

/* Checks the device and the model into *r (device_id, model, version). */
static const char *check_who(const struct otlp_dp *dp, struct telemetry_report *r)
{
	char mv[256];
	int n;

	if (dp->device_id == NULL)
		return "no device.id resource attribute";
	if (strlen(dp->device_id) >= sizeof(r->device_id) ||
	    !device_id_valid(dp->device_id, strlen(dp->device_id)))
		return "device.id must match " DEVICE_ID_RULE;
	if (dp->model == NULL || dp->version == NULL)
		return "no ramp.model.name and ramp.model.version attributes";
	n = snprintf(mv, sizeof(mv), "%s:%s", dp->model, dp->version);
	if (n < 0 || (size_t)n >= sizeof(mv) || strchr(dp->model, ':') != NULL ||
	    telemetry_split_model(mv, (size_t)n, r, NULL) != 0)
		return "ramp.model.name or ramp.model.version is not a valid model name or version";
	snprintf(r->device_id, sizeof(r->device_id), "%s", dp->device_id);
	return NULL;
}

/* The factor from dp's unit to ramp's; 0 when the unit is not one ramp takes. */
static double unit_factor(enum unit_kind u, const char *unit)
{
	switch (u) {
	case U_TIME_MS:
		if (unit == NULL || unit[0] == '\0' || strcmp(unit, "ms") == 0)
			return 1;
		if (strcmp(unit, "s") == 0)
			return 1000;
		if (strcmp(unit, "us") == 0)
			return 0.001;
		return 0;
	case U_FRACTION_PCT:
		return 100;
	case U_BYTES_MB:
		return 1.0 / (1024.0 * 1024.0);
	case U_NONE:
		break;
	}
	return 1;
}

/* The histogram of dp into p, bounds scaled by f and kept to (lo, hi]
 * (the buckets of bounds dropped below lo join the next, above hi the
 * last); NULL, or why not. */
static const char *take_hist(const struct otlp_dp *dp, double f, double lo, double hi,
			     struct otlp_point *p)
{
	uint64_t carry = 0;

	if (dp->nc == 0 || dp->nc != dp->nb + 1)
		return "bucket_counts must have one more entry than explicit_bounds";
	p->nb = 0;
	p->count = 0;
	for (size_t i = 0; i < dp->nb; i++) {
		double v = dp->bounds[i] * f;
		if (!isfinite(v) || (i > 0 && !(dp->bounds[i] > dp->bounds[i - 1])))
			return "explicit_bounds must be finite and ascending";
		if (dp->counts[i] > (uint64_t)TELEMETRY_INT_MAX ||
		    carry + dp->counts[i] > (uint64_t)TELEMETRY_INT_MAX)
			return "bucket count too large";
		carry += dp->counts[i];
		if (v <= lo || v > hi)
			continue;
		if (p->nb == OTLP_BOUNDS_MAX)
			return "more than 64 explicit_bounds";
		p->bounds[p->nb] = v;
		p->counts[p->nb++] = carry;
		carry = 0;
	}
	if (dp->counts[dp->nb] > (uint64_t)TELEMETRY_INT_MAX)
		return "bucket count too large";
	p->counts[p->nb] = carry + dp->counts[dp->nb];
	for (uint32_t i = 0; i <= p->nb; i++)
		p->count += p->counts[i];
	if (p->count > (uint64_t)TELEMETRY_INT_MAX)
		return "bucket count too large";
	p->bounds_hash = hash_fnv1a(HASH_FNV1A_BASIS, p->bounds, p->nb * sizeof(double));
	return NULL;
}

/* The value of a sum or gauge into p, converted; NULL, or why not. */
static const char *take_value(const struct otlp_dp *dp, const struct instrument *in, double f,
			      struct otlp_point *p)
{
	if (!dp->has_value || !isfinite(dp->value))
		return "a data point without a finite value";
	p->value = dp->value * f;
	if (in->field == OTLP_REQUESTS || in->field == OTLP_ERRORS) {
		if (p->value < 0 || p->value > (double)TELEMETRY_INT_MAX)
			return "a count must be between 0 and 2^53";
		return NULL;
	}
	for (size_t i = 0; i < TELEMETRY_NGAUGES; i++) {
		const struct telemetry_gauge *g = &telemetry_gauges[i];
		if (g->off == in->gauge_off && (p->value < g->lo || p->value > g->hi))
			return "value out of range";
	}
	return NULL;
}

static const char *check_type(const struct otlp_dp *dp, const struct instrument *in)
{
	if (in->type == OTLP_T_GAUGE)
		return dp->type == OTLP_T_GAUGE || (dp->type == OTLP_T_SUM && !dp->monotonic)
			       ? NULL
			       : "must be a gauge";
	if (dp->type != in->type)
		return in->type == OTLP_T_HIST ? "must be an explicit-bucket histogram"
					       : "must be a monotonic sum";
	if (in->type == OTLP_T_SUM && !dp->monotonic)
		return "must be a monotonic sum";
	if (dp->temporality != OTLP_TEMP_DELTA && dp->temporality != OTLP_TEMP_CUMULATIVE)
		return "aggregation_temporality must be delta or cumulative";
	return NULL;
}

/* The stream's key: SHA-256 over who, what and the attributes' hash. */
static void stream_key(const struct otlp_dp *dp, const struct telemetry_report *r,
		       char out[OTLP_KEY_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char buf[600];
	int n = snprintf(buf, sizeof(buf), "%s%c%s%c%s%c%s%c%016llx", r->device_id, 0, r->model, 0,
			 r->version, 0, dp->metric, 0, (unsigned long long)dp->ident);

	if (n < 0 || (size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < OTLP_KEY_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int keep(struct otlp_batch *b, const struct otlp_point *p)
{
	if (b->n == OTLP_POINTS_MAX)
		return RAMP_ETOOBIG;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct otlp_point *np = realloc(b->pts, cap * sizeof(*np));
		if (np == NULL)
			return RAMP_ENOMEM;
		b->pts = np;
		b->cap = cap;
	}
	b->pts[b->n++] = *p;
	return 0;
}

int otlp_map_point(struct otlp_batch *b, const struct otlp_dp *dp)
{
	const struct instrument *in = instrument_of(dp->metric ? dp->metric : "");
	struct telemetry_report who;
	struct otlp_point p;
	const char *why;
	double f, ts;
	long g;

	if (in == NULL) {
		b->unknown++;
		return 0;
	}
	memset(&p, 0, sizeof(p));
	if ((why = check_type(dp, in)) != NULL || (why = check_who(dp, &who)) != NULL)
		return refuse(b, dp, "%s", why);
	if ((f = unit_factor(in->unit, dp->unit)) == 0)
		return refuse(b, dp, "unit \"%s\" is not one of ms, s, us", dp->unit);
	ts = dp->time_ns ? (double)dp->time_ns / 1e9 : b->now;
	if (ts > b->now + TELEMETRY_MAX_FUTURE_S || ts < b->now - (double)TELEMETRY_MAX_AGE_S)
		return refuse(b, dp, "time_unix_nano is too far from now");
	if (in->field == OTLP_LATENCY)
		why = take_hist(dp, f, 0, INFINITY, &p);
	else if (in->field == OTLP_CONFIDENCE)
		why = take_hist(dp, 1, -1e-300, 1, &p);
	else
		why = take_value(dp, in, f, &p);
	if (why != NULL)
		return refuse(b, dp, "%s", why);
	if ((g = group_of(b, who.device_id, who.model, who.version)) < 0)
		return RAMP_ENOMEM;
	p.group = (uint32_t)g;
	p.field = (uint8_t)in->field;
	p.gauge_off = (uint16_t)in->gauge_off;
	p.cumulative = in->type != OTLP_T_GAUGE && dp->temporality == OTLP_TEMP_CUMULATIVE;
	p.start_ns = dp->start_ns;
	p.time_ns = dp->time_ns ? dp->time_ns : (uint64_t)(b->now * 1e9);
	if (p.cumulative)
		stream_key(dp, &who, p.key);
	return keep(b, &p);
}

/* What one group's points add up to. */
struct acc {
	bool any, has_req, has_lat, has_conf;
	uint64_t time_ns;
	double requests, errors;
	struct otlp_point lat, conf;
	double gauge[TELEMETRY_NGAUGES];
	uint64_t gauge_time[TELEMETRY_NGAUGES];
};

static void add_hist(struct otlp_point *dst, bool *has, const struct otlp_point *p)
{
	if (!*has) {
		*dst = *p;
		*has = true;
		return;
	}
	if (dst->nb != p->nb || dst->bounds_hash != p->bounds_hash)
		return; /* other bounds than the first point's: not merged */
	for (uint32_t i = 0; i <= p->nb; i++)
		dst->counts[i] += p->counts[i];
	dst->count += p->count;
}

static void acc_add(struct acc *a, const struct otlp_point *p)
{
	a->any = true;
	if (p->time_ns > a->time_ns)
		a->time_ns = p->time_ns;
	switch ((enum otlp_field)p->field) {
	case OTLP_REQUESTS:
		a->requests += p->value;
		a->has_req = true;
		break;
	case OTLP_ERRORS:
		a->errors += p->value;
		break;
	case OTLP_LATENCY:
		add_hist(&a->lat, &a->has_lat, p);
		break;
	case OTLP_CONFIDENCE:
		add_hist(&a->conf, &a->has_conf, p);
		break;
	case OTLP_GAUGE:
		for (size_t i = 0; i < TELEMETRY_NGAUGES; i++)
			if (telemetry_gauges[i].off == p->gauge_off &&
			    p->time_ns >= a->gauge_time[i]) {
				a->gauge[i] = p->value;
				a->gauge_time[i] = p->time_ns;
			}
		break;
	}
}

static int64_t clamp_count(double v)
{
	if (!(v > 0))
		return 0;
	return v > (double)TELEMETRY_INT_MAX ? TELEMETRY_INT_MAX : (int64_t)llround(v);
}

static void fill_report(const struct otlp_batch *b, const struct otlp_group *g,
			const struct acc *a, struct telemetry_report *r)
{
	telemetry_report_init(r, (double)a->time_ns / 1e9);
	memcpy(r->device_id, g->device_id, sizeof(r->device_id));
	memcpy(r->model, g->model, sizeof(r->model));
	memcpy(r->version, g->version, sizeof(r->version));
	r->requests = a->has_req ? clamp_count(a->requests)
				 : (a->has_lat ? clamp_count((double)a->lat.count) : 0);
	r->errors = clamp_count(a->errors);
	if (r->errors > r->requests) /* ramp's invariant: never more errors than requests */
		r->errors = r->requests;
	if (a->has_lat) {
		r->lat_nbounds = a->lat.nb;
		memcpy(r->lat_bounds, a->lat.bounds, a->lat.nb * sizeof(double));
		for (uint32_t i = 0; i <= a->lat.nb; i++)
			r->lat_counts[i] = clamp_count((double)a->lat.counts[i]);
	}
	if (a->has_conf) {
		r->conf_nbounds = a->conf.nb;
		memcpy(r->conf_bounds, a->conf.bounds, a->conf.nb * sizeof(double));
		for (uint32_t i = 0; i <= a->conf.nb; i++)
			r->conf_counts[i] = clamp_count((double)a->conf.counts[i]);
	}
	for (size_t i = 0; i < TELEMETRY_NGAUGES; i++)
		if (a->gauge_time[i] != 0)
			*(double *)((char *)r + telemetry_gauges[i].off) = a->gauge[i];
	(void)b;
}

int otlp_reports(const struct otlp_batch *b, const struct otlp_point *pts, size_t n,
		 otlp_report_fn fn, void *ctx)
{
	struct acc *acc = calloc(b->ngroups ? b->ngroups : 1, sizeof(*acc));
	struct telemetry_report *r = malloc(sizeof(*r));
	int rc = 0;

	if (acc == NULL || r == NULL) {
		rc = RAMP_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (pts[i].group < b->ngroups)
			acc_add(&acc[pts[i].group], &pts[i]);
	for (size_t k = 0; k < b->ngroups && rc == 0; k++) {
		if (!acc[k].any)
			continue;
		fill_report(b, &b->groups[k], &acc[k], r);
		rc = fn(ctx, r);
	}
out:
	free(acc);
	free(r);
	return rc;
}
