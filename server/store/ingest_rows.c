/*
 * ingest_rows.c - the binary COPY format of telemetry rows (the columns of
 * INGEST_COPY_COLUMNS, in that order), and the batch a handler adds its
 * reports to. Each row is built in a stack buffer with plain stores, no
 * printf, then appended once; the stream's header and trailer are the
 * writer's (ingest_copy_header(), ingest_copy_trailer()). Pure: no I/O, no
 * locks; unit-tested in test_ingest_rows.
 *
 * PostgreSQL's binary tuple: int16 field count, then per field an int32
 * length (-1 for NULL) and the value in network order: int8 and float8 as 8
 * bytes, text as its bytes, timestamptz as int8 microseconds since
 * 2000-01-01 UTC, arrays as ndim, has-null flag, element type oid, then per
 * dimension size and lower bound, then each element as a field.
 */
#include "store/ingest.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define NCOLUMNS 28
#define OID_INT8 20
#define OID_FLOAT8 701
#define PG_EPOCH_UNIX 946684800LL /* 2000-01-01 00:00:00 UTC */

/* The most a row takes: header, 28 lengths, four texts, 20 scalars, four
 * arrays of at most TELEMETRY_HIST_MAX elements. */
#define ROW_MAX                                                                                    \
	(2 + NCOLUMNS * 4 + sizeof(((struct telemetry_report *)0)->device_id) +                      \
	 sizeof(((struct telemetry_report *)0)->model) +                                             \
	 sizeof(((struct telemetry_report *)0)->version) +                                           \
	 sizeof(((struct telemetry_report *)0)->shadow_version) + 20 * 8 +                           \
	 4 * (20 + TELEMETRY_HIST_MAX * 12))

static const char copy_header[19] = "PGCOPY\n\377\r\n\0" /* flags, extension */ "\0\0\0\0\0\0\0";

static unsigned char *put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
	return p + 2;
}

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return p + 4;
}

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
	p = put_u32(p, (uint32_t)(v >> 32));
	return put_u32(p, (uint32_t)v);
}

static unsigned char *put_null(unsigned char *p)
{
	return put_u32(p, UINT32_MAX); /* length -1 */
}

static unsigned char *put_int8(unsigned char *p, int64_t v)
{
	p = put_u32(p, 8);
	return put_u64(p, (uint64_t)v);
}

/* The IEEE bits, big-endian; -0 is stored as 0, as the text format did. */
static unsigned char *put_float8_bits(unsigned char *p, double v)
{
	uint64_t bits;

	if (v == 0)
		v = 0;
	memcpy(&bits, &v, sizeof(bits));
	return put_u64(p, bits);
}

/* A double column: NaN (absent) is NULL. */
static unsigned char *put_float8(unsigned char *p, double v)
{
	if (isnan(v))
		return put_null(p);
	p = put_u32(p, 8);
	return put_float8_bits(p, v);
}

static unsigned char *put_text(unsigned char *p, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	p = put_u32(p, (uint32_t)n);
	memcpy(p, s, n);
	return p + n;
}

/* A one-dimensional array of n 8-byte elements of type oid. */
static unsigned char *array_head(unsigned char *p, size_t n, uint32_t oid)
{
	p = put_u32(p, (uint32_t)(20 + n * 12));
	p = put_u32(p, 1); /* ndim */
	p = put_u32(p, 0); /* no NULL elements */
	p = put_u32(p, oid);
	p = put_u32(p, (uint32_t)n);
	return put_u32(p, 1); /* lower bound */
}

static unsigned char *put_hist(unsigned char *p, size_t nb, const double *bounds,
			       const int64_t *counts)
{
	if (nb == 0) {
		p = put_null(p);
		return put_null(p);
	}
	p = array_head(p, nb, OID_FLOAT8);
	for (size_t i = 0; i < nb; i++) {
		p = put_u32(p, 8);
		p = put_float8_bits(p, bounds[i]);
	}
	p = array_head(p, nb + 1, OID_INT8);
	for (size_t i = 0; i <= nb; i++)
		p = put_int8(p, counts[i]);
	return p;
}

/* Unix seconds as microseconds since 2000-01-01, rounded to the nearest. */
static unsigned char *put_ts(unsigned char *p, double ts)
{
	double whole = floor(ts);
	int64_t micro = (int64_t)lround((ts - whole) * 1e6);

	p = put_u32(p, 8);
	return put_u64(p, (uint64_t)(((int64_t)whole - PG_EPOCH_UNIX) * 1000000 + micro));
}

/* The shadow run's seven columns, all NULL for a report without one. */
static unsigned char *put_shadow(unsigned char *p, const struct telemetry_report *r)
{
	if (r->shadow_version[0] == '\0') {
		for (int i = 0; i < 7; i++)
			p = put_null(p);
		return p;
	}
	p = put_text(p, r->shadow_version, sizeof(r->shadow_version) - 1);
	p = put_int8(p, r->shadow_requests);
	p = r->shadow_agree >= 0 ? put_int8(p, r->shadow_agree) : put_null(p);
	p = put_int8(p, r->shadow_dropped);
	p = put_float8(p, r->shadow_mad);
	p = put_float8(p, r->shadow_conf_shift);
	return put_float8(p, r->shadow_latency_p95_ms);
}

static size_t encode_row(unsigned char *row, const struct telemetry_report *r)
{
	unsigned char *p = put_u16(row, NCOLUMNS);
	size_t nl = r->lat_nbounds < TELEMETRY_HIST_MAX ? r->lat_nbounds : 0;
	size_t nc = r->conf_nbounds < TELEMETRY_HIST_MAX ? r->conf_nbounds : 0;

	p = put_ts(p, r->ts);
	p = put_text(p, r->device_id, sizeof(r->device_id) - 1);
	p = put_text(p, r->model, sizeof(r->model) - 1);
	p = put_text(p, r->version, sizeof(r->version) - 1);
	p = put_int8(p, r->requests);
	p = put_int8(p, r->errors);
	p = put_float8(p, r->has_latency ? r->latency_ms : NAN);
	p = put_hist(p, nl, r->lat_bounds, r->lat_counts);
	p = put_hist(p, nc, r->conf_bounds, r->conf_counts);
	p = put_float8(p, r->cpu_pct);
	p = put_float8(p, r->mem_pct);
	p = put_float8(p, r->npu_pct);
	p = put_float8(p, r->temperature_c);
	p = put_float8(p, r->disk_free_mb);
	p = put_float8(p, r->model_load_ms);
	p = put_float8(p, r->confidence_mean);
	p = put_int8(p, r->exceptions);
	p = put_int8(p, r->oom_kills);
	p = put_int8(p, r->timeouts);
	p = put_shadow(p, r);
	return (size_t)(p - row);
}

void ingest_format_row(struct buf *b, const struct telemetry_report *r)
{
	unsigned char row[ROW_MAX];

	buf_append(b, row, encode_row(row, r));
}

const char *ingest_copy_header(size_t *len)
{
	*len = sizeof(copy_header);
	return copy_header;
}

const char *ingest_copy_trailer(size_t *len)
{
	*len = 2;
	return "\377\377"; /* field count -1 */
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
