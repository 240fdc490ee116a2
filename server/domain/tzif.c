/*
 * tzif.c - TZif files and POSIX TZ strings (see tzif.h). Only the 64-bit
 * data of a version 2+ file is kept; a version 1 file (32-bit only) is
 * read as it is. Leap-second records are skipped: the tz database's
 * ordinary ("posix") files have none, and window times are civil times.
 */
#include "domain/tzif.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define HDR 44

static const struct tz_zone utc_zone = {0};

const struct tz_zone *tz_utc(void)
{
	return &utc_zone;
}

void tz_zone_free(struct tz_zone *z)
{
	if (z == NULL || z == &utc_zone)
		return;
	free(z->times);
	free(z->idx);
	free(z->offs);
	free(z);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* --- civil dates --- */

int64_t tz_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : n[m - 1];
}

/* --- POSIX TZ strings --- */

static const char *posix_name(const char *s)
{
	const char *p = s;

	if (*p == '<') {
		while (*p && *p != '>')
			p++;
		return *p == '>' && p - s >= 4 ? p + 1 : NULL;
	}
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
		p++;
	return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]], hours up to max_h; *v in seconds */
static const char *posix_hms(const char *p, int max_h, int32_t *v)
{
	int sign = 1, part[3] = {0, 0, 0};

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	for (int i = 0; i < 3; i++) {
		int n = 0, digits = 0;
		if (i > 0) {
			if (*p != ':')
				break;
			p++;
		}
		while (*p >= '0' && *p <= '9' && digits < 3) {
			n = n * 10 + (*p++ - '0');
			digits++;
		}
		if (digits == 0 || (i > 0 && n > 59) || (i == 0 && n > max_h))
			return NULL;
		part[i] = n;
	}
	*v = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
	return p;
}

static const char *posix_num(const char *p, int lo, int hi, int *v)
{
	int n = 0, digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 4) {
		n = n * 10 + (*p++ - '0');
		digits++;
	}
	if (digits == 0 || n < lo || n > hi)
		return NULL;
	*v = n;
	return p;
}

static const char *posix_date(const char *p, struct tz_rule_date *r)
{
	r->time = 7200;
	if (*p == 'J') {
		r->kind = 'J';
		p = posix_num(p + 1, 1, 365, &r->a);
	} else if (*p == 'M') {
		r->kind = 'M';
		p = posix_num(p + 1, 1, 12, &r->a);
		if (p && *p == '.')
			p = posix_num(p + 1, 1, 5, &r->b);
		else
			p = NULL;
		if (p && *p == '.')
			p = posix_num(p + 1, 0, 6, &r->c);
		else
			p = NULL;
	} else {
		r->kind = 'D';
		p = posix_num(p, 0, 365, &r->a);
	}
	if (p && *p == '/')
		p = posix_hms(p + 1, 167, &r->time);
	return p;
}

int tz_posix_parse(const char *s, struct tz_posix *out)
{
	const char *p = posix_name(s);
	int32_t off;

	memset(out, 0, sizeof(*out));
	if (p == NULL || (p = posix_hms(p, 24, &off)) == NULL)
		return RAMP_EINVAL;
	out->std_off = -off;
	if (*p == '\0')
		return 0;
	if ((p = posix_name(p)) == NULL)
		return RAMP_EINVAL;
	out->has_dst = 1;
	out->dst_off = out->std_off + 3600;
	if (*p && *p != ',') {
		if ((p = posix_hms(p, 24, &off)) == NULL)
			return RAMP_EINVAL;
		out->dst_off = -off;
	}
	if (*p == '\0') { /* no rule: the US rule, as glibc assumes */
		out->start = (struct tz_rule_date){'M', 3, 2, 0, 7200};
		out->end = (struct tz_rule_date){'M', 11, 1, 0, 7200};
		return 0;
	}
	if (*p != ',' || (p = posix_date(p + 1, &out->start)) == NULL || *p != ',' ||
	    (p = posix_date(p + 1, &out->end)) == NULL || *p != '\0')
		return RAMP_EINVAL;
	return 0;
}

/* Local seconds (as if UTC) at which rule date r falls in year y. */
static int64_t rule_local(const struct tz_rule_date *r, int64_t y)
{
	int64_t days;

	if (r->kind == 'J')
		days = tz_days_from_civil(y, 1, 1) + r->a - 1 + (leap(y) && r->a >= 60);
	else if (r->kind == 'D')
		days = tz_days_from_civil(y, 1, 1) + r->a;
	else {
		int64_t first = tz_days_from_civil(y, r->a, 1);
		int wd = (int)(((first + 4) % 7 + 7) % 7);
		int d = 1 + (r->c - wd + 7) % 7 + 7 * (r->b - 1);
		while (d > month_days(y, r->a))
			d -= 7;
		days = first + d - 1;
	}
	return days * 86400 + r->time;
}

/* The two transitions of year y, in UTC: into (*on) and out of (*off) DST. */
static void posix_year(const struct tz_posix *z, int64_t y, int64_t *on, int64_t *off)
{
	*on = rule_local(&z->start, y) - z->std_off;
	*off = rule_local(&z->end, y) - z->dst_off;
}

static int32_t posix_offset(const struct tz_posix *z, int64_t t, int64_t *next)
{
	int64_t y, best = INT64_MAX, on, off, tt[6];
	int m, d, dst = 0;
	size_t n = 0;

	if (!z->has_dst) {
		if (next)
			*next = INT64_MAX;
		return z->std_off;
	}
	tz_civil_from_days((t + z->std_off) / 86400 - ((t + z->std_off) % 86400 < 0), &y, &m, &d);
	/* the latest transition at or before t decides; scan three years */
	int64_t last = INT64_MIN;
	for (int64_t yy = y - 1; yy <= y + 1; yy++) {
		posix_year(z, yy, &on, &off);
		tt[n++] = on;
		tt[n++] = off;
		if (on <= t && on > last) {
			last = on;
			dst = 1;
		}
		if (off <= t && off > last) {
			last = off;
			dst = 0;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (tt[i] > t && tt[i] < best)
			best = tt[i];
	if (next)
		*next = best;
	return dst ? z->dst_off : z->std_off;
}

int32_t tz_offset_at(const struct tz_zone *z, int64_t t, int64_t *next)
{
	size_t lo = 0, hi = z->ntimes;

	if (z->ntimes == 0 || t < z->times[0]) {
		if (z->ntimes) {
			if (next)
				*next = z->times[0];
			return z->first_off;
		}
		if (z->has_footer)
			return posix_offset(&z->footer, t, next);
		if (next)
			*next = INT64_MAX;
		return z->first_off;
	}
	while (hi - lo > 1) { /* times[lo] <= t < times[hi] */
		size_t mid = lo + (hi - lo) / 2;
		if (z->times[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	if (hi < z->ntimes) {
		if (next)
			*next = z->times[hi];
		return z->offs[z->idx[lo]];
	}
	if (z->has_footer)
		return posix_offset(&z->footer, t, next);
	if (next)
		*next = INT64_MAX;
	return z->offs[z->idx[lo]];
}

int64_t tz_first_local(const struct tz_zone *z, int64_t from, int64_t local)
{
	int64_t t = from;

	for (int i = 0; i < 1000; i++) {
		int64_t next, c;
		int32_t off = tz_offset_at(z, t, &next);
		c = local - off > t ? local - off : t;
		if (c < next)
			return c;
		t = next;
	}
	return t; /* a zone changing offset every instant: give up where we are */
}

/* --- TZif --- */

struct hdr {
	uint32_t isut, isstd, leap, time, type, chars;
};

static int read_hdr(const unsigned char *p, size_t len, struct hdr *h)
{
	if (len < HDR || memcmp(p, "TZif", 4) != 0)
		return -1;
	h->isut = be32(p + 20);
	h->isstd = be32(p + 24);
	h->leap = be32(p + 28);
	h->time = be32(p + 32);
	h->type = be32(p + 36);
	h->chars = be32(p + 40);
	return 0;
}

/* Bytes of a data block after its header, or 0 when the counts are absurd. */
static size_t block_len(const struct hdr *h, int tsize)
{
	if (h->time > TZIF_MAX_TIMES || h->type == 0 || h->type > TZIF_MAX_TYPES ||
	    h->chars > 65536 || h->leap > 65536 || h->isut > h->type || h->isstd > h->type)
		return 0;
	return (size_t)h->time * (tsize + 1) + (size_t)h->type * 6 + h->chars +
	       (size_t)h->leap * (tsize + 4) + h->isstd + h->isut;
}

static int fill(struct tz_zone *z, const unsigned char *p, const struct hdr *h, int tsize)
{
	z->ntimes = h->time;
	z->ntypes = h->type;
	z->times = malloc((h->time ? h->time : 1) * sizeof(*z->times));
	z->idx = malloc(h->time ? h->time : 1);
	z->offs = malloc(h->type * sizeof(*z->offs));
	if (!z->times || !z->idx || !z->offs)
		return RAMP_ENOMEM;
	for (size_t i = 0; i < h->time; i++) {
		z->times[i] = tsize == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
		if (i > 0 && z->times[i] <= z->times[i - 1])
			return RAMP_EMALFORMED;
	}
	p += (size_t)h->time * tsize;
	for (size_t i = 0; i < h->time; i++) {
		z->idx[i] = p[i];
		if (p[i] >= h->type)
			return RAMP_EMALFORMED;
	}
	p += h->time;
	for (size_t i = 0; i < h->type; i++) {
		int32_t off = (int32_t)be32(p + i * 6);
		if (off < -25 * 3600 || off > 26 * 3600 || p[i * 6 + 4] > 1)
			return RAMP_EMALFORMED;
		z->offs[i] = off;
	}
	z->first_off = z->offs[0];
	return 0;
}

static int parse_footer(struct tz_zone *z, const unsigned char *p, size_t len)
{
	char buf[128];
	const unsigned char *nl;

	if (len == 0)
		return 0; /* version 1: none */
	if (p[0] != '\n' || (nl = memchr(p + 1, '\n', len - 1)) == NULL ||
	    (size_t)(nl - p - 1) >= sizeof(buf))
		return RAMP_EMALFORMED;
	if (nl == p + 1)
		return 0; /* empty: no rule past the table */
	memcpy(buf, p + 1, (size_t)(nl - p - 1));
	buf[nl - p - 1] = '\0';
	if (memchr(buf, '\0', (size_t)(nl - p - 1)) != NULL || tz_posix_parse(buf, &z->footer) != 0)
		return RAMP_EMALFORMED;
	z->has_footer = 1;
	return 0;
}

int tz_parse(const unsigned char *data, size_t len, struct tz_zone **out,
	     struct ramp_err *err)
{
	struct tz_zone *z;
	struct hdr h;
	size_t b1, b2;
	int rc;

	*out = NULL;
	if (read_hdr(data, len, &h) != 0)
		return ramp_err_set(err, RAMP_EMALFORMED, "tzif", "not a TZif file");
	if ((b1 = block_len(&h, 4)) == 0 || HDR + b1 > len)
		return ramp_err_set(err, RAMP_EMALFORMED, "tzif", "version 1 data is truncated or too large");
	if ((z = calloc(1, sizeof(*z))) == NULL)
		return ramp_err_set(err, RAMP_ENOMEM, "tzif", "out of memory");
	if (data[4] == '\0') {
		rc = fill(z, data + HDR, &h, 4);
	} else {
		const unsigned char *p2 = data + HDR + b1;
		if (read_hdr(p2, len - HDR - b1, &h) != 0 || (b2 = block_len(&h, 8)) == 0 ||
		    (size_t)(p2 - data) + HDR + b2 > len) {
			tz_zone_free(z);
			return ramp_err_set(err, RAMP_EMALFORMED, "tzif",
					    "version 2 data is missing, truncated or too large");
		}
		rc = fill(z, p2 + HDR, &h, 8);
		if (rc == 0)
			rc = parse_footer(z, p2 + HDR + b2, len - (size_t)(p2 - data) - HDR - b2);
	}
	if (rc) {
		tz_zone_free(z);
		return ramp_err_set(err, rc, "tzif",
				    rc == RAMP_ENOMEM ? "out of memory"
						      : "bad transition, type or footer");
	}
	*out = z;
	return 0;
}
