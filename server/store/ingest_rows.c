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

static void buf_reserve(struct ingest_buf *b, size_t more)
{
	size_t cap;
	char *np;

	if (b->oom || b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	np = realloc(b->p, cap);
	if (np == NULL) {
		b->oom = 1;
		return;
	}
	b->p = np;
	b->cap = cap;
}

void ingest_buf_printf(struct ingest_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	buf_reserve(b, 64);
	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n);
		if (b->oom)
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void ingest_buf_free(struct ingest_buf *b)
{
	if (b == NULL)
		return;
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void put_char(struct ingest_buf *b, char c)
{
	buf_reserve(b, 1);
	if (!b->oom)
		b->p[b->len++] = c;
}

/* A text value with COPY's text-format escapes (backslash, tab, newlines). */
static void put_text(struct ingest_buf *b, const char *s)
{
	buf_reserve(b, 2 * strlen(s) + 1);
	for (; !b->oom && *s; s++) {
		char c = *s;
		if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
			b->p[b->len++] = '\\';
			c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
		}
		b->p[b->len++] = c;
	}
	put_char(b, '\t');
}

/* Decimal digits of v, without printf: rows are mostly small integers. */
static void put_i64(struct ingest_buf *b, int64_t v)
{
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	buf_reserve(b, sizeof(tmp));
	if (b->oom)
		return;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		b->p[b->len++] = '-';
	while (n)
		b->p[b->len++] = tmp[--n];
}

/* A finite double exactly: integral values as integers, others with
 * %.17g, which round-trips. */
static void put_num(struct ingest_buf *b, double v)
{
	if (v == trunc(v) && fabs(v) < 9007199254740992.0)
		put_i64(b, (int64_t)v);
	else
		ingest_buf_printf(b, "%.17g", v);
}

/* A double column: NaN (absent) is \N. */
static void put_double(struct ingest_buf *b, double v)
{
	if (isnan(v))
		ingest_buf_printf(b, "\\N");
	else
		put_num(b, v);
	put_char(b, '\t');
}

static void put_hist(struct ingest_buf *b, size_t nb, const double *bounds, const int64_t *counts)
{
	if (nb == 0) {
		ingest_buf_printf(b, "\\N\t\\N\t");
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
static void put_ts(struct ingest_buf *b, double ts)
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
	ingest_buf_printf(b, "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00\t", tm.tm_year + 1900,
			  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micro);
}

void ingest_format_row(struct ingest_buf *b, const struct telemetry_report *r)
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
	if (b->rows.oom)
		return RAMP_ENOMEM;
	b->nrows++;
	return 0;
}

void ingest_batch_free(struct ingest_batch *b)
{
	if (b)
		ingest_buf_free(&b->rows);
}
