/*
 * window.c - maintenance window specs and their evaluation (window.h).
 * Grammar: [DAYS] HH:MM[:SS]-HH:MM[:SS] [ZONE], DAYS a comma list of days or day
 * ranges (Mon, Mon-Fri, Fri-Mon wraps), none meaning every day; 24:00 only
 * as an end; ZONE a tz database name.
 */
#include "domain/window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int day_of(const char *s, size_t n)
{
	if (n != 3)
		return -1;
	for (int i = 0; i < 7; i++)
		if (strncasecmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

static int parse_days(const char *s, unsigned char *days, struct ramp_err *err)
{
	*days = 0;
	while (*s) {
		const char *comma = strchr(s, ','), *end = comma ? comma : s + strlen(s);
		const char *dash = memchr(s, '-', (size_t)(end - s));
		int a = day_of(s, (size_t)((dash ? dash : end) - s));
		int b = dash ? day_of(dash + 1, (size_t)(end - dash - 1)) : a;

		if (a < 0 || b < 0)
			return ramp_err_set(err, RAMP_EINVAL, "",
					    "unknown day \"%.*s\" (expected Mon..Sun, or a range like Mon-Fri)",
					    (int)(end - s), s);
		for (int d = a;; d = (d + 1) % 7) {
			*days |= (unsigned char)(1u << d);
			if (d == b)
				break;
		}
		s = comma ? comma + 1 : end;
		if (comma && *s == '\0')
			return ramp_err_set(err, RAMP_EINVAL, "", "a day list ends with a comma");
	}
	return 0;
}

/* "HH:MM" or "HH:MM:SS" at s[0..n); seconds after midnight, or -1 */
static int hhmm(const char *s, size_t n)
{
	int v[3] = {0, 0, 0};

	if ((n != 5 && n != 8) || s[2] != ':' || (n == 8 && s[5] != ':'))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (i % 3 != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	for (size_t k = 0; k * 3 < n; k++)
		v[k] = (s[k * 3] - '0') * 10 + s[k * 3 + 1] - '0';
	if (v[1] > 59 || v[2] > 59 || v[0] > 24 || (v[0] == 24 && (v[1] || v[2])))
		return -1;
	return v[0] * 3600 + v[1] * 60 + v[2];
}

static int parse_times(const char *s, struct window *w, struct ramp_err *err)
{
	const char *dash = strchr(s, '-');

	if (dash == NULL || (w->start_s = hhmm(s, (size_t)(dash - s))) < 0 ||
	    (w->end_s = hhmm(dash + 1, strlen(dash + 1))) < 0)
		return ramp_err_set(err, RAMP_EINVAL, "",
				    "bad time range \"%s\" (expected HH:MM-HH:MM, 00:00 to 24:00, seconds optional)", s);
	if (w->start_s == 86400)
		return ramp_err_set(err, RAMP_EINVAL, "", "a window cannot start at 24:00");
	if (w->start_s == w->end_s || (w->start_s == 0 && w->end_s == 0))
		return ramp_err_set(err, RAMP_EINVAL, "", "window \"%s\" is empty", s);
	if (w->end_s == 0)
		w->end_s = 86400;
	return 0;
}

static bool zone_name_ok(const char *z)
{
	if (!((*z >= 'A' && *z <= 'Z') || (*z >= 'a' && *z <= 'z')) || strstr(z, "..") ||
	    strstr(z, "//") || z[strlen(z) - 1] == '/')
		return false;
	for (const char *p = z; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || strchr("/_+-", *p)))
			return false;
	return true;
}

int window_parse(const char *spec, struct window *out, struct ramp_err *err)
{
	char buf[96], *tok[4], *save = NULL, *t;
	size_t n = 0, at = 0;

	memset(out, 0, sizeof(*out));
	if (strlen(spec) >= sizeof(buf))
		return ramp_err_set(err, RAMP_EINVAL, "", "window spec is longer than %zu bytes",
				    sizeof(buf) - 1);
	snprintf(out->text, sizeof(out->text), "%s", spec);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == 3)
			return ramp_err_set(err, RAMP_EINVAL, "",
					    "window \"%s\" has more than days, times and a zone", spec);
		tok[n++] = t;
	}
	if (n == 0)
		return ramp_err_set(err, RAMP_EINVAL, "", "window spec is empty");
	out->days = 0x7f;
	if (strchr(tok[0], ':') == NULL) {
		if (parse_days(tok[0], &out->days, err) != 0)
			return RAMP_EINVAL;
		at = 1;
	}
	if (at >= n)
		return ramp_err_set(err, RAMP_EINVAL, "", "window \"%s\" has no HH:MM-HH:MM", spec);
	if (parse_times(tok[at++], out, err) != 0)
		return RAMP_EINVAL;
	if (at < n) {
		if (strlen(tok[at]) >= sizeof(out->zone) || !zone_name_ok(tok[at]))
			return ramp_err_set(err, RAMP_EINVAL, "",
					    "bad time zone name \"%s\" (expected e.g. Europe/Berlin)",
					    tok[at]);
		snprintf(out->zone, sizeof(out->zone), "%s", tok[at++]);
	}
	if (at < n)
		return ramp_err_set(err, RAMP_EINVAL, "", "window \"%s\" has extra text", spec);
	return 0;
}

int window_list_from_json(const json_t *arr, const char *path, struct window_list *out,
			  struct ramp_err *err)
{
	size_t i;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return ramp_err_set(err, RAMP_EINVAL, path, "must be a list of window specs");
	if (json_array_size(arr) > WINDOW_MAX)
		return ramp_err_set(err, RAMP_EINVAL, path, "at most %d windows", WINDOW_MAX);
	json_array_foreach(arr, i, v) {
		struct ramp_err e;
		if (!json_is_string(v))
			return ramp_err_set(err, RAMP_EINVAL, path,
					    "windows[%zu] must be a string like \"Mon-Fri 02:00-04:00 Europe/Berlin\"", i);
		if (window_parse(json_string_value(v), &out->w[i], &e) != 0) {
			ramp_err_set(err, RAMP_EINVAL, path, "%s", e.msg);
			snprintf(err->field, sizeof(err->field), "%.100s[%zu]", path, i);
			return RAMP_EINVAL;
		}
	}
	out->n = json_array_size(arr);
	return 0;
}

json_t *window_list_to_json(const struct window_list *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		if (json_array_append_new(a, json_string(l->w[i].text)) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

bool window_list_equal(const struct window_list *a, const struct window_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->w[i].text, b->w[i].text) != 0)
			return false;
	return true;
}

/* --- evaluation --- */

struct ival {
	int64_t open, close;
};

static int cmp_ival(const void *a, const void *b)
{
	const struct ival *x = a, *y = b;
	return x->open < y->open ? -1 : x->open > y->open;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The intervals of w on local days around t that close after t. */
static size_t intervals(const struct window *w, const struct tz_zone *z, int64_t t,
			struct ival *out)
{
	int64_t day0 = floor_div(t + tz_offset_at(z, t, NULL), 86400);
	size_t n = 0;

	for (int64_t d = day0 - 2; d <= day0 + 8; d++) {
		int wd = (int)(((d + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
		int64_t s, e, open, close;
		if (!(w->days & (1u << wd)))
			continue;
		s = d * 86400 + w->start_s;
		e = d * 86400 + w->end_s + (w->end_s <= w->start_s ? 86400 : 0);
		open = tz_first_local(z, s - 27 * 3600, s);
		close = tz_first_local(z, open, e);
		if (close > open && close > t)
			out[n++] = (struct ival){open, close};
	}
	return n;
}

int window_next(const struct window_list *l, window_zone_fn zone, void *ctx, int64_t t,
		int64_t *open, int64_t *close)
{
	struct ival iv[WINDOW_MAX * 11];
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct window *w = &l->w[i];
		const struct tz_zone *z = w->zone[0] == '\0' || strcmp(w->zone, "UTC") == 0
						  ? tz_utc()
						  : zone(ctx, w->zone);
		if (z == NULL)
			return RAMP_EINVAL;
		n += intervals(w, z, t, iv + n);
	}
	if (n == 0)
		return RAMP_ENOTFOUND;
	qsort(iv, n, sizeof(*iv), cmp_ival);
	*open = iv[0].open;
	*close = iv[0].close;
	for (size_t i = 1; i < n && iv[i].open <= *close; i++)
		if (iv[i].close > *close)
			*close = iv[i].close;
	return 0;
}

void window_rfc3339(int64_t t, char *buf, size_t len)
{
	int64_t y, days = floor_div(t, 86400), sec = t - days * 86400;
	int m, d;

	tz_civil_from_days(days, &y, &m, &d);
	snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d,
		 (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
}
