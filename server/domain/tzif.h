/*
 * tzif.h - time zones from the system tz database, pure: a parser of TZif
 * files (RFC 8536: version 1 data skipped, the 64-bit version 2+ data and
 * the footer's POSIX TZ string for instants past the table) and the two
 * questions maintenance windows ask of a zone: the UTC offset at an
 * instant, and the first instant whose wall clock reads at least a given
 * local time. No file is read here (store/tzdb.c caches zones by name);
 * nothing reads the process's TZ, so it is safe on any thread.
 */
#ifndef RAMP_TZIF_H
#define RAMP_TZIF_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

#define TZIF_MAX_TIMES 4096 /* transitions kept; real zones have < 400 */
#define TZIF_MAX_TYPES 256

/* A POSIX TZ rule date: Jn (julian, no Feb 29), n (zero-based day of
 * year) or Mm.w.d (day d of week w of month m; w 5: the last). */
struct tz_rule_date {
	char kind; /* 'J', 'D' or 'M' */
	int a, b, c; /* J: a = n; D: a = n; M: a = m, b = w, c = d */
	int32_t time; /* seconds after local midnight, may be < 0 or > 24 h */
};

struct tz_posix {
	int32_t std_off, dst_off; /* seconds east of UTC */
	int has_dst;
	struct tz_rule_date start, end; /* into and out of daylight time */
};

struct tz_zone {
	size_t ntimes, ntypes;
	int64_t *times;	       /* ascending transition instants (UTC) */
	unsigned char *idx;    /* type of the time from times[i] on */
	int32_t *offs;	       /* UTC offset of each type */
	int32_t first_off;     /* before the first transition */
	int has_footer;
	struct tz_posix footer; /* after the last transition */
};

/*
 * Parses a TZif file data[0..len) into a zone (*out, free with
 * tz_zone_free). Returns 0, RAMP_EMALFORMED with err saying what is wrong,
 * or RAMP_ENOMEM.
 */
int tz_parse(const unsigned char *data, size_t len, struct tz_zone **out,
	     struct ramp_err *err);

/* Parses a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"). 0 or RAMP_EINVAL. */
int tz_posix_parse(const char *s, struct tz_posix *out);

/* The zone UTC ("UTC", offset 0, no rules); never NULL. */
const struct tz_zone *tz_utc(void);

void tz_zone_free(struct tz_zone *z);

/* UTC offset (seconds east) at instant t; *next_change (may be NULL) the
 * next instant after t at which the offset may change (INT64_MAX: none). */
int32_t tz_offset_at(const struct tz_zone *z, int64_t t, int64_t *next_change);

/*
 * The first instant t >= from whose wall-clock time (t + offset, counted
 * as if UTC) is >= local. In a spring-forward gap that is the transition
 * itself; in an autumn overlap it is the first of the two occurrences.
 */
int64_t tz_first_local(const struct tz_zone *z, int64_t from, int64_t local);

/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
