/*
 * telemetry.c - checks one telemetry report object field by field.
 *
 * Each check names the field it failed on, in the API's error voice, and the
 * first failure wins. Numbers go through read_number(), which refuses
 * booleans and strings and guards against non-finite values even though JSON
 * cannot carry them; integer fields take 3.0 but not 3.5, and are capped at
 * 2^53 so that sums over many reports stay exact and cannot overflow quickly.
 */
#include "domain/telemetry.h"
#include "domain/device_id.h"
#include "domain/telemetry_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct telemetry_hist_spec lat_spec = {"latency_hist", "bounds_ms", true, INFINITY};
static const struct telemetry_hist_spec conf_spec = {"confidence_hist", "bounds", false, 1.0};
const struct telemetry_hist_spec *const telemetry_hists[2] = {&lat_spec, &conf_spec};

const struct telemetry_gauge telemetry_gauges[TELEMETRY_NGAUGES] = {
	{"cpu_pct", offsetof(struct telemetry_report, cpu_pct), 0, 100},
	{"mem_pct", offsetof(struct telemetry_report, mem_pct), 0, 100},
	{"npu_pct", offsetof(struct telemetry_report, npu_pct), 0, 100},
	{"temperature_c", offsetof(struct telemetry_report, temperature_c), -100, 200},
	{"disk_free_mb", offsetof(struct telemetry_report, disk_free_mb), 0, INFINITY},
	{"model_load_ms", offsetof(struct telemetry_report, model_load_ms), 0, INFINITY},
	{"confidence_mean", offsetof(struct telemetry_report, confidence_mean), 0, 1},
};
#define gauges telemetry_gauges

const struct telemetry_counter telemetry_counters[TELEMETRY_NCOUNTERS] = {
	{"exceptions", offsetof(struct telemetry_report, exceptions)},
	{"oom_kills", offsetof(struct telemetry_report, oom_kills)},
	{"timeouts", offsetof(struct telemetry_report, timeouts)},
};
#define counters telemetry_counters

/* The member of obj named key; NULL when absent or JSON null. */
static const json_t *field_get(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

static int read_number(const json_t *v, const char *field, double *out,
		       struct ramp_err *err)
{
	if (json_is_boolean(v))
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "must be a number, not a boolean");
	if (!json_is_number(v))
		return ramp_err_set(err, RAMP_EINVAL, field, "must be a number");
	*out = json_number_value(v);
	if (!isfinite(*out))
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "must be a finite number");
	return 0;
}

/* An integer in [min, TELEMETRY_INT_MAX]; 3.0 counts as an integer. */
static int read_int(const json_t *v, const char *field, int64_t min,
		    int64_t *out, struct ramp_err *err)
{
	double d;

	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
	} else {
		if (read_number(v, field, &d, err))
			return RAMP_EINVAL;
		if (d != trunc(d))
			return ramp_err_set(err, RAMP_EINVAL, field,
					    "must be an integer");
		/* clamp before converting: a huge double would be UB */
		*out = fabs(d) > (double)TELEMETRY_INT_MAX
			       ? (d < 0 ? -TELEMETRY_INT_MAX - 1
					: TELEMETRY_INT_MAX + 1)
			       : (int64_t)d;
	}
	if (*out < min)
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "must be greater than or equal to %lld",
				    (long long)min);
	if (*out > TELEMETRY_INT_MAX)
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "must be at most %lld", TELEMETRY_INT_MAX);
	return 0;
}

static int opt_int(const json_t *obj, const char *key, int64_t min,
		   int64_t *out, struct ramp_err *err)
{
	const json_t *v = field_get(obj, key);

	return v == NULL ? 0 : read_int(v, key, min, out, err);
}

/* Optional number in [lo, hi]; *out is left alone when the key is absent. */
static int opt_range(const json_t *obj, const char *key, double lo, double hi,
		     double *out, struct ramp_err *err)
{
	const json_t *v = field_get(obj, key);
	double d;

	if (v == NULL)
		return 0;
	if (read_number(v, key, &d, err))
		return RAMP_EINVAL;
	if (d < lo && isinf(hi))
		return ramp_err_set(err, RAMP_EINVAL, key,
				    "must be greater than or equal to %g", lo);
	if (d < lo || d > hi)
		return ramp_err_set(err, RAMP_EINVAL, key,
				    "must be between %g and %g", lo, hi);
	*out = d;
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower_or_digit(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c);
}

static bool is_alnum(char c)
{
	return is_lower_or_digit(c) || (c >= 'A' && c <= 'Z');
}

static bool is_name_char(char c)
{
	return is_lower_or_digit(c) || c == '.' || c == '_' || c == '-';
}

static bool is_version_char(char c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '+' || c == '-';
}

/* s[0..n) is first(s[0]) followed by rest() characters, 1..max long. */
static bool matches(const char *s, size_t n, size_t max, bool (*first)(char),
		    bool (*rest)(char))
{
	if (n < 1 || n > max || !first(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!rest(s[i]))
			return false;
	return true;
}

static int required_string(const json_t *obj, const char *key,
			   const char **s, size_t *n, struct ramp_err *err)
{
	const json_t *v = field_get(obj, key);

	if (v == NULL)
		return ramp_err_set(err, RAMP_EINVAL, key, "is required");
	if (!json_is_string(v))
		return ramp_err_set(err, RAMP_EINVAL, key, "must be a string");
	*s = json_string_value(v);
	*n = json_string_length(v);
	return 0;
}

static int parse_device_id(const json_t *obj, struct telemetry_report *out,
			   struct ramp_err *err)
{
	const char *s;
	size_t n;

	if (required_string(obj, "device_id", &s, &n, err))
		return RAMP_EINVAL;
	if (n > sizeof(out->device_id) - 1 || !device_id_valid(s, n))
		return ramp_err_set(err, RAMP_EINVAL, "device_id", "must match " DEVICE_ID_RULE);
	memcpy(out->device_id, s, n);
	out->device_id[n] = '\0';
	return 0;
}

int telemetry_split_model(const char *s, size_t n, struct telemetry_report *out,
			  struct ramp_err *err)
{
	const char *colon = memchr(s, ':', n);
	size_t nl, vl;

	if (colon == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "model",
				    "must be \"name:version\"");
	nl = (size_t)(colon - s);
	vl = n - nl - 1;
	if (!matches(s, nl, sizeof(out->model) - 1, is_lower_or_digit,
		     is_name_char))
		return ramp_err_set(err, RAMP_EINVAL, "model",
				    "model name must match [a-z0-9][a-z0-9._-]{0,62}");
	if (!matches(colon + 1, vl, sizeof(out->version) - 1, is_alnum,
		     is_version_char))
		return ramp_err_set(err, RAMP_EINVAL, "model",
				    "version must match [A-Za-z0-9][A-Za-z0-9._+-]{0,127}");
	memcpy(out->model, s, nl);
	out->model[nl] = '\0';
	memcpy(out->version, colon + 1, vl);
	out->version[vl] = '\0';
	return 0;
}

/* "name:version", split at the first ':'. */
static int parse_model(const json_t *obj, struct telemetry_report *out,
		       struct ramp_err *err)
{
	const char *s;
	size_t n;

	if (required_string(obj, "model", &s, &n, err))
		return RAMP_EINVAL;
	return telemetry_split_model(s, n, out, err);
}

/* n decimal digits at s into *out; false on anything else (NUL included). */
static bool digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

/* "YYYY-MM-DDTHH:MM:SS" (19 chars, s known to be at least that long). */
static bool parse_date_time(const char *s, double *secs)
{
	int y, mo, d, h, mi, sec;

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 60)
		return false;
	*secs = (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600.0 +
		mi * 60.0 + sec;
	return true;
}

/* Optional ".fraction" then "Z" or "+HH:MM"/"-HH:MM", then the end. */
static bool parse_frac_zone(const char *p, double *frac, double *offset)
{
	double scale = 0.1;
	int oh, om;

	*frac = 0;
	*offset = 0;
	if (*p == '.') {
		if (!is_digit(*++p))
			return false;
		for (; is_digit(*p); p++, scale /= 10)
			*frac += (*p - '0') * scale;
	}
	if (*p == 'Z' || *p == 'z')
		return p[1] == '\0';
	if ((*p != '+' && *p != '-') || strlen(p) != 6 || !digits(p + 1, 2, &oh) ||
	    p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
		return false;
	*offset = (*p == '-' ? -1 : 1) * (oh * 3600.0 + om * 60.0);
	return true;
}

int telemetry_parse_rfc3339(const char *s, double *out)
{
	double secs, frac, offset;

	if (s == NULL || strlen(s) < 20 || !parse_date_time(s, &secs) ||
	    !parse_frac_zone(s + 19, &frac, &offset))
		return RAMP_EINVAL;
	*out = secs + frac - offset;
	return 0;
}

static int parse_timestamp(const json_t *obj, double now, double *ts,
			   struct ramp_err *err)
{
	const json_t *v = field_get(obj, "timestamp");
	const char *s;

	if (v == NULL) {
		*ts = now;
		return 0;
	}
	if (json_is_string(v)) {
		s = json_string_value(v);
		if (strlen(s) != json_string_length(v) ||
		    telemetry_parse_rfc3339(s, ts))
			return ramp_err_set(err, RAMP_EINVAL, "timestamp",
					    "must be an RFC 3339 date-time such as 2026-01-10T12:00:00Z");
	} else if (json_is_boolean(v) || !json_is_number(v)) {
		return ramp_err_set(err, RAMP_EINVAL, "timestamp",
				    "must be unix seconds or an RFC 3339 string");
	} else if (read_number(v, "timestamp", ts, err)) {
		return RAMP_EINVAL;
	}
	if (!(*ts <= now + TELEMETRY_MAX_FUTURE_S))
		return ramp_err_set(err, RAMP_EINVAL, "timestamp",
				    "is more than %.0f s in the future",
				    TELEMETRY_MAX_FUTURE_S);
	if (!(*ts >= now - TELEMETRY_MAX_AGE_S))
		return ramp_err_set(err, RAMP_EINVAL, "timestamp",
				    "is more than %.0f days in the past",
				    TELEMETRY_MAX_AGE_S / 86400.0);
	return 0;
}

static int parse_counts(const json_t *obj, struct telemetry_report *out,
			struct ramp_err *err)
{
	if (opt_int(obj, "requests", 1, &out->requests, err) ||
	    opt_int(obj, "errors", 0, &out->errors, err))
		return RAMP_EINVAL;
	if (out->errors > out->requests)
		return ramp_err_set(err, RAMP_EINVAL, "errors",
				    "must not exceed requests (%lld)",
				    (long long)out->requests);
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		if (opt_int(obj, counters[i].key, 0,
			    (int64_t *)((char *)out + counters[i].off), err))
			return RAMP_EINVAL;
	return 0;
}

static int parse_gauges(const json_t *obj, struct telemetry_report *out,
			struct ramp_err *err)
{
	if (opt_range(obj, "latency_ms", 0, INFINITY, &out->latency_ms, err))
		return RAMP_EINVAL;
	out->has_latency = !isnan(out->latency_ms);
	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
		if (opt_range(obj, gauges[i].key, gauges[i].lo, gauges[i].hi,
			      (double *)((char *)out + gauges[i].off), err))
			return RAMP_EINVAL;
	return 0;
}

static int parse_bounds(const json_t *arr, const struct telemetry_hist_spec *sp,
			double *bounds, struct ramp_err *err)
{
	size_t i;

	/* the field path is written only for the element that fails: this
	 * loop runs for every bucket of every report ingested */
	for (i = 0; i < json_array_size(arr); i++) {
		if (read_number(json_array_get(arr, i), "", &bounds[i], err))
			goto bad;
		if (sp->positive && !(bounds[i] > 0)) {
			ramp_err_set(err, RAMP_EINVAL, "", "must be greater than 0");
			goto bad;
		}
		if (bounds[i] < 0 || bounds[i] > sp->hi) {
			ramp_err_set(err, RAMP_EINVAL, "", "must be between 0 and %g", sp->hi);
			goto bad;
		}
		if (i > 0 && !(bounds[i] > bounds[i - 1])) {
			ramp_err_set(err, RAMP_EINVAL, "", "must be greater than %s.%s[%zu]",
				     sp->key, sp->bounds_key, i - 1);
			goto bad;
		}
	}
	return 0;
bad:
	if (err)
		snprintf(err->field, sizeof(err->field), "%s.%s[%zu]", sp->key, sp->bounds_key, i);
	return RAMP_EINVAL;
}

static int parse_hist_counts(const json_t *arr, const struct telemetry_hist_spec *sp,
			     size_t nb, int64_t *counts, struct ramp_err *err)
{
	char f[64];

	snprintf(f, sizeof(f), "%s.counts", sp->key);
	if (arr == NULL)
		return ramp_err_set(err, RAMP_EINVAL, f, "is required");
	if (!json_is_array(arr) || json_array_size(arr) != nb + 1)
		return ramp_err_set(err, RAMP_EINVAL, f,
				    "must be an array of %zu integers, one more than %s",
				    nb + 1, sp->bounds_key);
	for (size_t i = 0; i <= nb; i++) {
		if (read_int(json_array_get(arr, i), "", 0, &counts[i], err)) {
			if (err)
				snprintf(err->field, sizeof(err->field), "%s.counts[%zu]", sp->key, i);
			return RAMP_EINVAL;
		}
	}
	return 0;
}

/* An optional {bounds, counts} histogram; *nb stays 0 when absent. */
static int parse_hist(const json_t *obj, const struct telemetry_hist_spec *sp,
		      size_t *nb, double *bounds, int64_t *counts,
		      struct ramp_err *err)
{
	const json_t *h = field_get(obj, sp->key), *b;
	char f[64];
	size_t n;

	if (h == NULL)
		return 0;
	if (!json_is_object(h))
		return ramp_err_set(err, RAMP_EINVAL, sp->key, "must be an object");
	snprintf(f, sizeof(f), "%s.%s", sp->key, sp->bounds_key);
	b = field_get(h, sp->bounds_key);
	if (b == NULL)
		return ramp_err_set(err, RAMP_EINVAL, f, "is required");
	n = json_array_size(b);
	if (!json_is_array(b) || n < 1 || n > TELEMETRY_HIST_MAX - 1)
		return ramp_err_set(err, RAMP_EINVAL, f,
				    "must be an array of 1 to %d numbers",
				    TELEMETRY_HIST_MAX - 1);
	if (parse_bounds(b, sp, bounds, err) ||
	    parse_hist_counts(field_get(h, "counts"), sp, n, counts, err))
		return RAMP_EINVAL;
	*nb = n;
	return 0;
}

void telemetry_report_init(struct telemetry_report *out, double now)
{
	memset(out, 0, sizeof(*out));
	out->ts = now;
	out->latency_ms = NAN;
	out->requests = 1;
	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
		*(double *)((char *)out + gauges[i].off) = NAN;
	out->shadow_agree = -1;
	out->shadow_mad = out->shadow_conf_shift = out->shadow_latency_p95_ms = NAN;
}

int telemetry_read_number(const json_t *v, const char *field, double *out, struct ramp_err *err)
{
	return read_number(v, field, out, err);
}

int telemetry_read_int(const json_t *v, const char *field, int64_t min, int64_t *out,
		       struct ramp_err *err)
{
	return read_int(v, field, min, out, err);
}

bool telemetry_version_valid(const char *s, size_t n)
{
	return matches(s, n, 128, is_alnum, is_version_char);
}

int telemetry_parse(const json_t *obj, double now, struct telemetry_report *out,
		    struct ramp_err *err)
{
	telemetry_report_init(out, now);
	if (!json_is_object(obj))
		return ramp_err_set(err, RAMP_EINVAL, "",
				    "report must be a JSON object");
	if (parse_device_id(obj, out, err) || parse_model(obj, out, err) ||
	    parse_timestamp(obj, now, &out->ts, err) ||
	    parse_counts(obj, out, err) || parse_gauges(obj, out, err) ||
	    parse_hist(obj, &lat_spec, &out->lat_nbounds, out->lat_bounds,
		       out->lat_counts, err) ||
	    parse_hist(obj, &conf_spec, &out->conf_nbounds, out->conf_bounds,
		       out->conf_counts, err) ||
	    telemetry_shadow_parse(obj, out, err)) {
		out->shadow_version[0] = '\0';
		out->lat_nbounds = 0;
		out->conf_nbounds = 0;
		return RAMP_EINVAL;
	}
	ramp_err_clear(err);
	return 0;
}
