/*
 * telemetry_text.c - reads the common telemetry body straight from its
 * text: no jansson tree, no allocation. It only ever accepts; anything it
 * is not sure of (escapes, non-ASCII, unknown or duplicate keys, numbers
 * beyond its exact conversions, any invalid value) makes it give up, and
 * the caller runs the general path, jansson then telemetry_parse(), which
 * words every error. So the rules here may be narrower than that path's,
 * never wider; fuzz_telemetry_fast checks that both agree on every body
 * this reader accepts. The field tables are telemetry.c's (telemetry_int.h).
 */
#include "domain/telemetry.h"
#include "domain/device_id.h"
#include "domain/telemetry_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lex {
	const char *p, *end;
};

/* A JSON number as jansson would hold it: integer (no '.', 'e' or 'E'),
 * else real. */
struct num {
	bool is_int;
	int64_t i;
	double d;
};

enum key {
	K_DEVICE_ID, K_MODEL, K_TIMESTAMP, K_REQUESTS, K_ERRORS, K_LATENCY_MS, K_LAT_HIST,
	K_CONF_HIST, K_GAUGE0, K_COUNTER0 = K_GAUGE0 + TELEMETRY_NGAUGES,
	K_COUNT = K_COUNTER0 + TELEMETRY_NCOUNTERS
};

static const char *const fixed_keys[K_GAUGE0] = {
	"device_id", "model", "timestamp", "requests", "errors", "latency_ms",
	"latency_hist", "confidence_hist"};

static void ws(struct lex *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\n' || *l->p == '\r' || *l->p == '\t'))
		l->p++;
}

/* Skips white space, then c if it comes next. */
static bool eat(struct lex *l, char c)
{
	ws(l);
	if (l->p < l->end && *l->p == c) {
		l->p++;
		return true;
	}
	return false;
}

/* A string of printable ASCII without escapes; s points into the body. */
static bool str(struct lex *l, const char **s, size_t *n)
{
	const char *p;

	if (!eat(l, '"'))
		return false;
	for (p = l->p; p < l->end && *p != '"'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || *p == '\\')
			return false;
	if (p == l->end)
		return false;
	*s = l->p;
	*n = (size_t)(p - l->p);
	l->p = p + 1;
	return true;
}

static bool is_null(struct lex *l)
{
	ws(l);
	if (l->end - l->p >= 4 && memcmp(l->p, "null", 4) == 0) {
		l->p += 4;
		return true;
	}
	return false;
}

static bool digit(const struct lex *l, const char *p)
{
	return p < l->end && *p >= '0' && *p <= '9';
}

/* The real at s[0..n) by strtod, as jansson reads it; false past range. */
static bool real_by_strtod(const char *s, size_t n, double *out)
{
	char tmp[64];

	if (n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	*out = strtod(tmp, NULL);
	return errno == 0 && isfinite(*out);
}

/* Digits into m while it holds fewer than 19 significant ones; *e10 moves
 * by one per digit dropped (int part) or kept (fraction); *lost when a
 * significant digit was dropped. */
static const char *digits(const struct lex *l, const char *p, bool frac, uint64_t *m, int *nd,
			  int *e10, bool *lost)
{
	for (; digit(l, p); p++) {
		if (*nd < 19) {
			*m = *m * 10 + (uint64_t)(*p - '0');
			*nd += *m != 0;
			*e10 -= frac;
		} else {
			*e10 += !frac;
			*lost |= true;
		}
	}
	return p;
}

/* A JSON number. Integers of up to 18 digits; reals exactly rounded: with
 * a mantissa under 2^53 and a power of ten up to 22, one multiplication or
 * division is exact (Clinger), else strtod as jansson does. */
static bool number(struct lex *l, struct num *out)
{
	static const double pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
					 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
					 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	const char *s, *p;
	uint64_t m = 0;
	int nd = 0, e10 = 0, ex = 0;
	bool neg, lost = false;

	ws(l);
	s = p = l->p;
	neg = p < l->end && *p == '-';
	p += neg;
	if (!digit(l, p))
		return false;
	p = *p == '0' ? p + 1 : digits(l, p, false, &m, &nd, &e10, &lost);
	out->is_int = !(p < l->end && (*p == '.' || *p == 'e' || *p == 'E'));
	if (out->is_int) {
		if (nd > 18 || lost)
			return false; /* beyond what is converted exactly here */
		out->i = neg ? -(int64_t)m : (int64_t)m;
		out->d = (double)out->i;
		l->p = p;
		return true;
	}
	if (*p == '.') {
		if (!digit(l, ++p))
			return false;
		p = digits(l, p, true, &m, &nd, &e10, &lost);
	}
	if (p < l->end && (*p == 'e' || *p == 'E')) {
		bool eneg = ++p < l->end && *p == '-';
		p += p < l->end && (*p == '-' || *p == '+');
		if (!digit(l, p))
			return false;
		for (; digit(l, p); p++)
			ex = ex < 100000 ? ex * 10 + (*p - '0') : ex;
		e10 += eneg ? -ex : ex;
	}
	if (!lost && m < (1ULL << 53) && e10 >= -22 && e10 <= 22) {
		out->d = e10 < 0 ? (double)m / pow10[-e10] : (double)m * pow10[e10];
		out->d = neg ? -out->d : out->d;
	} else if (!real_by_strtod(s, (size_t)(p - s), &out->d)) {
		return false;
	}
	l->p = p;
	return true;
}

/* telemetry.c's read_int(): an integer, or an integral real, in
 * [min, TELEMETRY_INT_MAX]. */
static bool int_value(struct lex *l, int64_t min, int64_t *out)
{
	struct num v;

	if (!number(l, &v))
		return false;
	if (!v.is_int) {
		if (v.d != trunc(v.d) || fabs(v.d) > (double)TELEMETRY_INT_MAX)
			return false;
		v.i = (int64_t)v.d;
	}
	*out = v.i;
	return v.i >= min && v.i <= TELEMETRY_INT_MAX;
}

/* telemetry.c's opt_range() on a present value. */
static bool range_value(struct lex *l, double lo, double hi, double *out)
{
	struct num v;

	if (!number(l, &v) || !isfinite(v.d) || v.d < lo || v.d > hi)
		return false;
	*out = v.d;
	return true;
}

static bool timestamp(struct lex *l, double now, double *ts)
{
	const char *s;
	char tmp[64];
	size_t n;
	struct num v;

	ws(l);
	if (l->p < l->end && *l->p == '"') {
		if (!str(l, &s, &n) || n >= sizeof(tmp))
			return false;
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		if (telemetry_parse_rfc3339(tmp, ts) != 0)
			return false;
	} else if (number(l, &v) && isfinite(v.d)) {
		*ts = v.d;
	} else {
		return false;
	}
	return *ts <= now + TELEMETRY_MAX_FUTURE_S && *ts >= now - TELEMETRY_MAX_AGE_S;
}

/* {bounds, counts}: telemetry.c's parse_hist() on a present object. */
static bool hist(struct lex *l, const struct telemetry_hist_spec *sp, size_t *nb, double *bounds,
		 int64_t *counts)
{
	const char *k;
	size_t kn, n = 0, nc = 0;
	bool have_b = false, have_c = false;

	if (!eat(l, '{'))
		return false;
	do {
		bool is_b;
		if (!str(l, &k, &kn) || !eat(l, ':'))
			return false;
		is_b = kn == strlen(sp->bounds_key) && memcmp(k, sp->bounds_key, kn) == 0;
		if ((!is_b && !(kn == 6 && memcmp(k, "counts", 6) == 0)) ||
		    (is_b ? have_b : have_c) || !eat(l, '['))
			return false;
		if (is_b) {
			have_b = true;
			do {
				if (n == TELEMETRY_HIST_MAX - 1 ||
				    !range_value(l, 0, sp->hi, &bounds[n]) ||
				    (sp->positive && !(bounds[n] > 0)) ||
				    (n > 0 && !(bounds[n] > bounds[n - 1])))
					return false;
				n++;
			} while (eat(l, ','));
		} else {
			have_c = true;
			do {
				if (nc == TELEMETRY_HIST_MAX || !int_value(l, 0, &counts[nc]))
					return false;
				nc++;
			} while (eat(l, ','));
		}
		if (!eat(l, ']'))
			return false;
	} while (eat(l, ','));
	if (!eat(l, '}') || !have_b || !have_c || nc != n + 1)
		return false;
	*nb = n;
	return true;
}

static int key_of(const char *k, size_t n)
{
	for (int i = 0; i < K_COUNT; i++) {
		const char *name = i < K_GAUGE0	  ? fixed_keys[i]
				   : i < K_COUNTER0 ? telemetry_gauges[i - K_GAUGE0].key
						    : telemetry_counters[i - K_COUNTER0].key;
		if (name[0] == k[0] && strncmp(name, k, n) == 0 && name[n] == '\0')
			return i;
	}
	return -1;
}

/* One present member's value into t. */
static bool member(struct lex *l, int key, double now, struct telemetry_report *t)
{
	const char *s;
	size_t n;

	switch (key) {
	case K_DEVICE_ID:
		if (!str(l, &s, &n) || n > sizeof(t->device_id) - 1 || !device_id_valid(s, n))
			return false;
		memcpy(t->device_id, s, n);
		t->device_id[n] = '\0';
		return true;
	case K_MODEL:
		return str(l, &s, &n) && telemetry_split_model(s, n, t, NULL) == 0;
	case K_TIMESTAMP:
		return timestamp(l, now, &t->ts);
	case K_REQUESTS:
		return int_value(l, 1, &t->requests);
	case K_ERRORS:
		return int_value(l, 0, &t->errors);
	case K_LATENCY_MS:
		t->has_latency = true;
		return range_value(l, 0, INFINITY, &t->latency_ms);
	case K_LAT_HIST:
		return hist(l, telemetry_hists[0], &t->lat_nbounds, t->lat_bounds, t->lat_counts);
	case K_CONF_HIST:
		return hist(l, telemetry_hists[1], &t->conf_nbounds, t->conf_bounds,
			    t->conf_counts);
	}
	if (key < K_COUNTER0) {
		const struct telemetry_gauge *g = &telemetry_gauges[key - K_GAUGE0];
		return range_value(l, g->lo, g->hi, (double *)((char *)t + g->off));
	}
	return int_value(l, 0, (int64_t *)((char *)t + telemetry_counters[key - K_COUNTER0].off));
}

/* One report object; the opening brace is eaten, and so is the first key
 * when first is not NULL. */
static bool report(struct lex *l, const char *first, size_t first_n, double now,
		   struct telemetry_report *t)
{
	unsigned seen = 0, have = 0;
	const char *k = first;
	size_t kn = first_n;

	telemetry_report_init(t, now);
	do {
		int key;
		if (k == NULL && (!str(l, &k, &kn) || !eat(l, ':')))
			return false;
		key = key_of(k, kn);
		if (key < 0 || (seen & 1u << key))
			return false; /* unknown or duplicate: the general path judges */
		seen |= 1u << key;
		if (!is_null(l)) {
			if (!member(l, key, now, t))
				return false;
			have |= 1u << key;
		}
		k = NULL;
	} while (eat(l, ','));
	return eat(l, '}') && (have & 1u << K_DEVICE_ID) && (have & 1u << K_MODEL) &&
	       t->errors <= t->requests;
}

static size_t list(struct lex *l, double now, size_t max, struct telemetry_report *t,
		   telemetry_each_fn fn, void *ctx)
{
	size_t i = 0;

	if (!eat(l, '['))
		return 0;
	do {
		if (i == max || !eat(l, '{') || !report(l, NULL, 0, now, t) || fn(ctx, i, t) != 0)
			return 0;
		i++;
	} while (eat(l, ','));
	return eat(l, ']') ? i : 0;
}

size_t telemetry_read_fast(const char *body, size_t len, double now, size_t max,
			   struct telemetry_report *t, telemetry_each_fn fn, void *ctx)
{
	struct lex l = {body, body + len};
	const char *k;
	size_t n = 0, kn;

	if (eat(&l, '[')) {
		l.p--;
		n = list(&l, now, max, t, fn, ctx);
	} else if (eat(&l, '{')) {
		if (!str(&l, &k, &kn) || !eat(&l, ':'))
			return 0;
		if (kn == 7 && memcmp(k, "reports", 7) == 0) {
			n = list(&l, now, max, t, fn, ctx);
			n = eat(&l, '}') ? n : 0;
		}
		else if (max >= 1 && report(&l, k, kn, now, t) && fn(ctx, 0, t) == 0)
			n = 1;
	}
	ws(&l);
	return l.p == l.end ? n : 0;
}
