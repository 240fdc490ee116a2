/* test_ingest_rows.c - the COPY text rows the telemetry writer streams:
 * column order, \N for absent values, escapes, exact numbers, timestamps,
 * and the batch a handler adds its reports to. */
#include "domain/telemetry.h"
#include "store/ingest.h"
#include "unit.h"

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
}

static char *row(const struct telemetry_report *r)
{
	static char out[4096];
	struct buf b = {0};

	ingest_format_row(&b, r);
	CHECK(!buf_failed(&b));
	snprintf(out, sizeof(out), "%.*s", (int)b.len, b.p);
	buf_free(&b);
	return out;
}

static void minimal_report_has_every_column_and_nulls(void)
{
	struct telemetry_report r;

	minimal(&r);
	CHECK_EQ_STR(row(&r), "2025-12-29 09:20:00.000000+00\tpi-warehouse-1\tinvoice-ocr\t"
			      "2026.01.10-rc1\t1\t0\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t"
			      "\\N\t\\N\t\\N\t0\t0\t0\n");
}

static void every_field_is_written_exactly(void)
{
	struct telemetry_report r;

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
	CHECK_EQ_STR(row(&r), "2025-12-29 09:20:00.250000+00\tpi-warehouse-1\tinvoice-ocr\t"
			      "2026.01.10-rc1\t50\t2\t120.5\t{5,12.5}\t{1,2,47}\t"
			      "{0.10000000000000001}\t{0,9007199254740992}\t41.299999999999997\t"
			      "63\t0\t-5.25\t1.0000000000000001e+300\t830\t0.8125\t3\t1\t4\n");
}

static void latency_without_has_latency_is_null(void)
{
	struct telemetry_report r;

	minimal(&r);
	r.latency_ms = 7; /* has_latency false wins */
	CHECK(strstr(row(&r), "\t1\t0\t\\N\t") != NULL);
}

static void microseconds_round_into_the_next_second(void)
{
	struct telemetry_report r;

	minimal(&r);
	r.ts = 1767000000.9999996;
	CHECK(strncmp(row(&r), "2025-12-29 09:20:01.000000+00\t", 30) == 0);
	r.ts = 1767000059.000001;
	CHECK(strncmp(row(&r), "2025-12-29 09:20:59.000001+00\t", 30) == 0);
}

static void text_columns_escape_copy_specials(void)
{
	struct telemetry_report r;

	minimal(&r);
	/* validation never lets these through; the writer must not trust that */
	snprintf(r.device_id, sizeof(r.device_id), "a\tb\\c\nd\re");
	CHECK(strstr(row(&r), "+00\ta\\tb\\\\c\\nd\\re\tinvoice-ocr\t") != NULL);
}

static void rows_append_one_line_each(void)
{
	struct telemetry_report r;
	struct buf b = {0};
	int lines = 0;

	minimal(&r);
	for (int i = 0; i < 1000; i++)
		ingest_format_row(&b, &r);
	CHECK(!buf_failed(&b));
	for (size_t i = 0; i < b.len; i++)
		lines += b.p[i] == '\n';
	CHECK_EQ_INT(lines, 1000);
	buf_free(&b);
	CHECK(b.p == NULL && b.len == 0);
	buf_free(&b); /* a freed buffer frees again as a no-op */
}

static void batch_holds_the_rows_of_the_reports_added(void)
{
	struct telemetry_report r;
	struct ingest_batch b = {0};
	char one[4096];

	minimal(&r);
	snprintf(one, sizeof(one), "%s", row(&r));
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(ingest_batch_add(&b, &r), 0);
	CHECK_EQ_INT(b.nrows, 3);
	CHECK_EQ_INT((int)b.rows.len, 3 * (int)strlen(one));
	CHECK(strncmp(b.rows.p + 2 * strlen(one), one, strlen(one)) == 0);
	ingest_batch_free(&b);
	CHECK(b.rows.p == NULL && b.rows.len == 0);
	ingest_batch_free(&b); /* twice, and NULL, are no-ops */
	ingest_batch_free(NULL);
}

static const struct unit_case cases[] = {
	UNIT(minimal_report_has_every_column_and_nulls),
	UNIT(every_field_is_written_exactly),
	UNIT(latency_without_has_latency_is_null),
	UNIT(microseconds_round_into_the_next_second),
	UNIT(text_columns_escape_copy_specials),
	UNIT(rows_append_one_line_each),
	UNIT(batch_holds_the_rows_of_the_reports_added),
	{0},
};

UNIT_MAIN(cases)
