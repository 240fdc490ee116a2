/* test_ingest_rows.c - the binary COPY tuples the telemetry writer streams:
 * byte-exact against PostgreSQL's binary encodings (timestamptz, int8,
 * float8, text, one-dimensional int8[] and float8[], NULL), column order,
 * the stream's header and trailer, and the batch a handler adds its
 * reports to. A small decoder reads every column back for the round trip. */
#include "domain/telemetry.h"
#include "store/ingest.h"
#include "unit.h"

#include <stdint.h>

/* A report as telemetry_parse() leaves a minimal one. */
static void minimal(struct telemetry_report *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->device_id, sizeof(r->device_id), "pi-warehouse-1");
	snprintf(r->model, sizeof(r->model), "invoice-ocr");
	snprintf(r->version, sizeof(r->version), "2026.01.10-rc1");
	r->ts = 1767000000;
	r->requests = 1;
	r->latency_ms = NAN;
	r->cpu_pct = r->mem_pct = r->npu_pct = r->temperature_c = NAN;
	r->disk_free_mb = r->model_load_ms = r->confidence_mean = NAN;
	r->shadow_agree = -1;
	r->shadow_mad = r->shadow_conf_shift = r->shadow_latency_p95_ms = NAN;
}

static struct buf encoded(const struct telemetry_report *r)
{
	struct buf b = {0};

	ingest_format_row(&b, r);
	CHECK(!buf_failed(&b));
	return b;
}

/* --- a decoder of one tuple, independent of the encoder's code --- */

struct rd {
	const unsigned char *p, *end;
};

static uint64_t rd_u(struct rd *d, int n)
{
	uint64_t v = 0;

	CHECK(d->p + n <= d->end);
	for (int i = 0; i < n; i++)
		v = v << 8 | *d->p++;
	return v;
}

/* The next field's length (-1 for NULL). */
static int32_t rd_len(struct rd *d)
{
	return (int32_t)(uint32_t)rd_u(d, 4);
}

static int64_t rd_int8(struct rd *d)
{
	CHECK_EQ_INT(rd_len(d), 8);
	return (int64_t)rd_u(d, 8);
}

static double rd_float8(struct rd *d)
{
	int32_t n = rd_len(d);
	uint64_t bits;
	double v;

	if (n == -1)
		return NAN;
	CHECK_EQ_INT(n, 8);
	bits = rd_u(d, 8);
	memcpy(&v, &bits, sizeof(v));
	return v;
}

static void rd_text(struct rd *d, char *out, size_t cap)
{
	int32_t n = rd_len(d);

	CHECK(n >= 0 && (size_t)n < cap);
	memcpy(out, d->p, (size_t)n);
	out[n] = '\0';
	d->p += n;
}

/* An int8 field or NULL (then dflt). */
static int64_t rd_opt_int8(struct rd *d, int64_t dflt)
{
	int32_t n = rd_len(d);

	if (n == -1)
		return dflt;
	CHECK_EQ_INT(n, 8);
	return (int64_t)rd_u(d, 8);
}

/* A text field or NULL (then ""). */
static void rd_opt_text(struct rd *d, char *out, size_t cap)
{
	int32_t n = rd_len(d);

	out[0] = '\0';
	if (n == -1)
		return;
	CHECK(n >= 0 && (size_t)n < cap);
	memcpy(out, d->p, (size_t)n);
	out[n] = '\0';
	d->p += n;
}

/* A one-dimensional array of 8-byte elements; its count, or 0 for NULL. */
static size_t rd_array(struct rd *d, uint32_t oid, uint64_t *vals)
{
	int32_t len = rd_len(d);
	size_t n;

	if (len == -1)
		return 0;
	CHECK_EQ_INT((int)rd_u(d, 4), 1);	 /* ndim */
	CHECK_EQ_INT((int)rd_u(d, 4), 0);	 /* no NULLs */
	CHECK_EQ_INT((int)rd_u(d, 4), (int)oid); /* element type */
	n = (size_t)rd_u(d, 4);
	CHECK_EQ_INT((int)rd_u(d, 4), 1); /* lower bound */
	CHECK_EQ_INT(len, (int)(20 + 12 * n));
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ_INT(rd_len(d), 8);
		vals[i] = rd_u(d, 8);
	}
	return n;
}

static void rd_hist(struct rd *d, size_t *nb, double *bounds, int64_t *counts)
{
	uint64_t v[TELEMETRY_HIST_MAX];
	size_t n = rd_array(d, 701, v), m;

	for (size_t i = 0; i < n; i++)
		memcpy(&bounds[i], &v[i], sizeof(double));
	m = rd_array(d, 20, v);
	CHECK(n == 0 ? m == 0 : m == n + 1);
	for (size_t i = 0; i < m; i++)
		counts[i] = (int64_t)v[i];
	*nb = n;
}

/* Decodes the one tuple in b into *r, checking it ends exactly there. */
static void decode(const struct buf *b, struct telemetry_report *r)
{
	struct rd d = {(const unsigned char *)b->p, (const unsigned char *)b->p + b->len};
	int64_t us;

	memset(r, 0, sizeof(*r));
	CHECK_EQ_INT((int)rd_u(&d, 2), 28);
	us = rd_int8(&d);
	r->ts = 946684800.0 + (double)(us / 1000000) + (double)(us % 1000000) / 1e6;
	rd_text(&d, r->device_id, sizeof(r->device_id));
	rd_text(&d, r->model, sizeof(r->model));
	rd_text(&d, r->version, sizeof(r->version));
	r->requests = rd_int8(&d);
	r->errors = rd_int8(&d);
	r->latency_ms = rd_float8(&d);
	r->has_latency = !isnan(r->latency_ms);
	rd_hist(&d, &r->lat_nbounds, r->lat_bounds, r->lat_counts);
	rd_hist(&d, &r->conf_nbounds, r->conf_bounds, r->conf_counts);
	r->cpu_pct = rd_float8(&d);
	r->mem_pct = rd_float8(&d);
	r->npu_pct = rd_float8(&d);
	r->temperature_c = rd_float8(&d);
	r->disk_free_mb = rd_float8(&d);
	r->model_load_ms = rd_float8(&d);
	r->confidence_mean = rd_float8(&d);
	r->exceptions = rd_int8(&d);
	r->oom_kills = rd_int8(&d);
	r->timeouts = rd_int8(&d);
	rd_opt_text(&d, r->shadow_version, sizeof(r->shadow_version));
	r->shadow_requests = rd_opt_int8(&d, 0);
	r->shadow_agree = rd_opt_int8(&d, -1);
	r->shadow_dropped = rd_opt_int8(&d, 0);
	r->shadow_mad = rd_float8(&d);
	r->shadow_conf_shift = rd_float8(&d);
	r->shadow_latency_p95_ms = rd_float8(&d);
	CHECK(d.p == d.end);
}

/* --- byte-exact --- */

static void minimal_report_is_byte_exact(void)
{
	struct telemetry_report r;
	struct buf b;
	/* 2025-12-29 09:20:00 UTC: timestamptz_send() gives 0002ea1284199000 */
	static const unsigned char want[] = {
	    0, 28,						/* fields */
	    0, 0, 0, 8, 0x00, 0x02, 0xea, 0x12, 0x84, 0x19, 0x90, 0x00, /* ts */
	    0, 0, 0, 14, 'p', 'i', '-', 'w', 'a', 'r', 'e', 'h', 'o', 'u', 's', 'e', '-', '1',
	    0, 0, 0, 11, 'i', 'n', 'v', 'o', 'i', 'c', 'e', '-', 'o', 'c', 'r',
	    0, 0, 0, 14, '2', '0', '2', '6', '.', '0', '1', '.', '1', '0', '-', 'r', 'c', '1',
	    0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, /* requests */
	    0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, /* errors */
	    0xff, 0xff, 0xff, 0xff,		    /* latency_ms */
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* lat_bounds, lat_counts */
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* conf_bounds, conf_counts */
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, /* exceptions */
	    0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, /* oom_kills */
	    0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, /* timeouts */
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    /* no shadow run: its seven columns NULL */
	};

	minimal(&r);
	b = encoded(&r);
	CHECK_EQ_INT((int)b.len, (int)sizeof(want));
	CHECK(memcmp(b.p, want, sizeof(want)) == 0);
	buf_free(&b);
}

/* PostgreSQL's own binary output (SELECT ...::bytea of *send()) for the
 * values below, checked once with psql: float8send(120.5) = 405e2000...,
 * int8send(-2) = ffff...fe, timestamptz_send('2000-01-01 00:00:00.25+00')
 * = 250000, array_send('{5,12.5}'::float8[]) and '{1,2,47}'::int8[]. */
static void values_match_postgresql_encodings(void)
{
	struct telemetry_report r;
	struct buf b;
	static const unsigned char ts[] = {0, 0, 0, 8, 0, 0, 0, 0, 0, 0x03, 0xd0, 0x90};
	static const unsigned char lat[] = {0, 0, 0, 8, 0x40, 0x5e, 0x20, 0, 0, 0, 0, 0};
	static const unsigned char bounds[] = {
	    0, 0, 0, 44, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x02, 0xbd, 0, 0, 0, 2, 0, 0, 0, 1,
	    0, 0, 0, 8, 0x40, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0x40, 0x29, 0, 0, 0, 0, 0, 0};
	static const unsigned char counts[] = {
	    0, 0, 0, 56, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 3, 0, 0, 0, 1,
	    0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2,
	    0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 47};
	size_t off;

	minimal(&r);
	r.ts = 946684800.25;
	r.has_latency = true;
	r.latency_ms = 120.5;
	r.lat_nbounds = 2;
	r.lat_bounds[0] = 5;
	r.lat_bounds[1] = 12.5;
	r.lat_counts[0] = 1;
	r.lat_counts[1] = 2;
	r.lat_counts[2] = 47;
	b = encoded(&r);
	CHECK(memcmp(b.p + 2, ts, sizeof(ts)) == 0);
	off = 2 + sizeof(ts) + 4 + 14 + 4 + 11 + 4 + 14 + 24;
	CHECK(memcmp(b.p + off, lat, sizeof(lat)) == 0);
	off += sizeof(lat);
	CHECK(memcmp(b.p + off, bounds, sizeof(bounds)) == 0);
	off += sizeof(bounds);
	CHECK(memcmp(b.p + off, counts, sizeof(counts)) == 0);
	buf_free(&b);
}

static void stream_header_and_trailer_are_postgresqls(void)
{
	size_t n;
	const char *h = ingest_copy_header(&n);

	CHECK_EQ_INT((int)n, 19);
	CHECK(memcmp(h, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0", 19) == 0);
	h = ingest_copy_trailer(&n);
	CHECK_EQ_INT((int)n, 2);
	CHECK(memcmp(h, "\377\377", 2) == 0);
}

/* --- round trip --- */

static void every_field_round_trips(void)
{
	struct telemetry_report r, back;
	struct buf b;

	minimal(&r);
	r.ts = 1767000000.25;
	r.requests = 50;
	r.errors = 2;
	r.has_latency = true;
	r.latency_ms = 120.5;
	r.lat_nbounds = 2;
	r.lat_bounds[0] = 5;
	r.lat_bounds[1] = 12.5;
	r.lat_counts[0] = 1;
	r.lat_counts[1] = 2;
	r.lat_counts[2] = 47;
	r.conf_nbounds = 1;
	r.conf_bounds[0] = 0.1;
	r.conf_counts[0] = 0;
	r.conf_counts[1] = 9007199254740992LL;
	r.cpu_pct = 41.3;
	r.mem_pct = 63;
	r.npu_pct = 0;
	r.temperature_c = -5.25;
	r.disk_free_mb = 1e300;
	r.model_load_ms = 830;
	r.confidence_mean = 0.8125;
	r.exceptions = 3;
	r.oom_kills = 1;
	r.timeouts = 4;
	snprintf(r.shadow_version, sizeof(r.shadow_version), "2026.02.01");
	r.shadow_requests = 120;
	r.shadow_agree = 117;
	r.shadow_dropped = 4;
	r.shadow_mad = 0.004;
	r.shadow_conf_shift = 0.0625;
	r.shadow_latency_p95_ms = 3.5;
	b = encoded(&r);
	decode(&b, &back);
	CHECK(memcmp(&r, &back, sizeof(r)) == 0);
	buf_free(&b);
}

static void absent_values_are_null_and_latency_needs_has_latency(void)
{
	struct telemetry_report r, back;
	struct buf b;

	minimal(&r);
	r.latency_ms = 7; /* has_latency false wins */
	b = encoded(&r);
	decode(&b, &back);
	CHECK(isnan(back.latency_ms) && !back.has_latency);
	CHECK(isnan(back.cpu_pct) && isnan(back.confidence_mean));
	CHECK(back.lat_nbounds == 0 && back.conf_nbounds == 0);
	buf_free(&b);
}

static void microseconds_round_into_the_next_second(void)
{
	struct telemetry_report r, back;
	struct buf b;

	minimal(&r);
	r.ts = 1767000000.9999996;
	b = encoded(&r);
	decode(&b, &back);
	CHECK(back.ts == 1767000001.0);
	buf_free(&b);
	r.ts = 1767000059.000001;
	b = encoded(&r);
	decode(&b, &back);
	CHECK_NEAR(back.ts, 1767000059.000001, 1e-7);
	buf_free(&b);
}

static void text_is_raw_bytes_and_negative_zero_is_zero(void)
{
	struct telemetry_report r, back;
	struct buf b;

	minimal(&r);
	/* validation never lets these through; binary needs no escapes */
	snprintf(r.device_id, sizeof(r.device_id), "a\tb\\c\nd\re");
	r.cpu_pct = -0.0;
	b = encoded(&r);
	decode(&b, &back);
	CHECK_EQ_STR(back.device_id, "a\tb\\c\nd\re");
	CHECK(back.cpu_pct == 0 && !signbit(back.cpu_pct));
	buf_free(&b);
}

static void batch_holds_the_rows_of_the_reports_added(void)
{
	struct telemetry_report r;
	struct ingest_batch b = {0};
	struct buf one;

	minimal(&r);
	one = encoded(&r);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(ingest_batch_add(&b, &r), 0);
	CHECK_EQ_INT(b.nrows, 3);
	CHECK_EQ_INT((int)b.rows.len, 3 * (int)one.len);
	CHECK(memcmp(b.rows.p + 2 * one.len, one.p, one.len) == 0);
	buf_free(&one);
	ingest_batch_free(&b);
	CHECK(b.rows.p == NULL && b.rows.len == 0);
	ingest_batch_free(&b); /* twice, and NULL, are no-ops */
	ingest_batch_free(NULL);
}

static const struct unit_case cases[] = {
	UNIT(minimal_report_is_byte_exact),
	UNIT(values_match_postgresql_encodings),
	UNIT(stream_header_and_trailer_are_postgresqls),
	UNIT(every_field_round_trips),
	UNIT(absent_values_are_null_and_latency_needs_has_latency),
	UNIT(microseconds_round_into_the_next_second),
	UNIT(text_is_raw_bytes_and_negative_zero_is_zero),
	UNIT(batch_holds_the_rows_of_the_reports_added),
	{0},
};

UNIT_MAIN(cases)
