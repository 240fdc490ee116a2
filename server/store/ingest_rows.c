/*
 * ingest_rows.c - the COPY text format of telemetry rows (the columns of
 * INGEST_COPY_COLUMNS, in that order), the growing buffer they are written
 * into, and the batch a handler adds its reports to. Pure: no I/O, no
 * locks; unit-tested in test_ingest_rows.
 */
#include "store/ingest.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put_char(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

/* A text value with COPY's text-format escapes (backslash, tab, newlines). */
static void put_text(struct buf *b, const char *s)
{
	for (;;) {
		size_t run = strcspn(s, "\\\t\n\r");
		char esc[2] = {'\\', 0};

		buf_append(b, s, run);
		if (s[run] == '\0')
			break;
		esc[1] = s[run] == '\t' ? 't' : s[run] == '\n' ? 'n' : s[run] == '\r' ? 'r' : '\\';
		buf_append(b, esc, 2);
		s += run + 1;
	}
	put_char(b, '\t');
}

/* Decimal digits of v, without printf: rows are mostly small integers. */
static void put_i64(struct buf *b, int64_t v)
{
	char tmp[24];
	int n = sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--n] = '-';
	buf_append(b, tmp + n, sizeof(tmp) - (size_t)n);
}

/* A finite double exactly: integral values as integers, others with
 * %.17g, which round-trips. */
static void put_num(struct buf *b, double v)
{
	if (v == trunc(v) && fabs(v) < 9007199254740992.0)
		put_i64(b, (int64_t)v);
	else
		buf_printf(b, "%.17g", v);
}

/* A double column: NaN (absent) is \N. */
static void put_double(struct buf *b, double v)
{
	if (isnan(v))
		buf_printf(b, "\\N");
	else
		put_num(b, v);
	put_char(b, '\t');
}

static void put_hist(struct buf *b, size_t nb, const double *bounds, const int64_t *counts)
{
	if (nb == 0) {
		buf_printf(b, "\\N\t\\N\t");
		return;
	}
	for (size_t i = 0; i < nb; i++) {
		put_char(b, i ? ',' : '{');
		put_num(b, bounds[i]);
	}
	put_char(b, '}');
	put_char(b, '\t');
	for (size_t i = 0; i <= nb; i++) {
		put_char(b, i ? ',' : '{');
		put_i64(b, counts[i]);
	}
	put_char(b, '}');
	put_char(b, '\t');
}

/* Unix seconds as a UTC timestamptz literal with microseconds. */
static void put_ts(struct buf *b, double ts)
{
	double whole = floor(ts);
	long micro = lround((ts - whole) * 1e6);
	time_t t;
	struct tm tm;

	if (micro >= 1000000) {
		whole += 1;
		micro -= 1000000;
	}
	t = (time_t)whole;
	gmtime_r(&t, &tm);
	buf_printf(b, "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00\t", tm.tm_year + 1900,
			  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micro);
}

void ingest_format_row(struct buf *b, const struct telemetry_report *r)
{
	put_ts(b, r->ts);
	put_text(b, r->device_id);
	put_text(b, r->model);
	put_text(b, r->version);
	put_i64(b, r->requests);
	put_char(b, '\t');
	put_i64(b, r->errors);
	put_char(b, '\t');
	put_double(b, r->has_latency ? r->latency_ms : NAN);
	put_hist(b, r->lat_nbounds, r->lat_bounds, r->lat_counts);
	put_hist(b, r->conf_nbounds, r->conf_bounds, r->conf_counts);
	put_double(b, r->cpu_pct);
	put_double(b, r->mem_pct);
	put_double(b, r->npu_pct);
	put_double(b, r->temperature_c);
	put_double(b, r->disk_free_mb);
	put_double(b, r->model_load_ms);
	put_double(b, r->confidence_mean);
	put_i64(b, r->exceptions);
	put_char(b, '\t');
	put_i64(b, r->oom_kills);
	put_char(b, '\t');
	put_i64(b, r->timeouts);
	put_char(b, '\n');
}

int ingest_batch_add(struct ingest_batch *b, const struct telemetry_report *r)
{
	ingest_format_row(&b->rows, r);
	if (buf_failed(&b->rows))
		return RAMP_ENOMEM;
	b->nrows++;
	return 0;
}

void ingest_batch_free(struct ingest_batch *b)
{
	if (b)
		buf_free(&b->rows);
}
