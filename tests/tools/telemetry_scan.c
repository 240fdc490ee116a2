/*
 * telemetry_scan.c - runs store_telemetry_scan() against a database and
 * prints what the analysis would receive, one JSON object per report, then
 * "rows N" (with --count, only "rows N in T ms", T the time the scan took,
 * connecting excluded). Integration tests use it to check the reader; the
 * ingest benchmark uses --count to time a stage window.
 *
 *   telemetry-scan [--count] <conninfo> <model> <from_ts> <to_ts> [version...]
 */
#include "domain/telemetry.h"
#include "store/store.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct scan {
	int quiet;
	long rows;
};

static json_t *num_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *hist(size_t nb, const double *bounds, const int64_t *counts)
{
	json_t *b = json_array(), *c = json_array();

	if (nb == 0) {
		json_decref(b);
		json_decref(c);
		return json_null();
	}
	for (size_t i = 0; i < nb; i++)
		json_array_append_new(b, json_real(bounds[i]));
	for (size_t i = 0; i <= nb; i++)
		json_array_append_new(c, json_integer(counts[i]));
	return json_pack("{s:o, s:o}", "bounds", b, "counts", c);
}

static int on_row(void *ctx, const struct telemetry_report *r)
{
	struct scan *s = ctx;
	json_t *j;
	char *text;

	s->rows++;
	if (s->quiet)
		return 0;
	j = json_pack("{s:f, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
		      " s:o, s:o, s:I, s:I, s:I}",
		      "ts", r->ts, "device_id", r->device_id, "model", r->model, "version",
		      r->version, "requests", (json_int_t)r->requests, "errors",
		      (json_int_t)r->errors, "latency_ms",
		      r->has_latency ? json_real(r->latency_ms) : json_null(), "latency_hist",
		      hist(r->lat_nbounds, r->lat_bounds, r->lat_counts), "confidence_hist",
		      hist(r->conf_nbounds, r->conf_bounds, r->conf_counts), "cpu_pct",
		      num_or_null(r->cpu_pct), "mem_pct", num_or_null(r->mem_pct), "npu_pct",
		      num_or_null(r->npu_pct), "temperature_c", num_or_null(r->temperature_c),
		      "disk_free_mb", num_or_null(r->disk_free_mb), "model_load_ms",
		      num_or_null(r->model_load_ms), "exceptions", (json_int_t)r->exceptions,
		      "oom_kills", (json_int_t)r->oom_kills, "timeouts", (json_int_t)r->timeouts);
	json_object_set_new(j, "confidence_mean", num_or_null(r->confidence_mean));
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	puts(text);
	free(text);
	json_decref(j);
	return 0;
}

int main(int argc, char **argv)
{
	struct scan s = {0, 0};
	struct db *db;
	struct timespec t0, t1;
	int rc, a = 1;

	if (argc > 1 && strcmp(argv[1], "--count") == 0) {
		s.quiet = 1;
		a++;
	}
	if (argc - a < 4) {
		fprintf(stderr, "usage: telemetry-scan [--count] conninfo model from_ts to_ts"
				" [version...]\n");
		return 2;
	}
	db = db_open(argv[a], 1);
	if (db == NULL)
		return 1;
	/* connect first, so that the figure is the scan's alone */
	{
		struct dbconn *c;
		if ((rc = db_acquire(db, &c)) == 0)
			db_release(db, c);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = rc ? rc
		: store_telemetry_scan(db, argv[a + 1], (const char *const *)argv + a + 4,
				       argc - a - 4, strtod(argv[a + 2], NULL),
				       strtod(argv[a + 3], NULL), on_row, &s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	db_close(db);
	if (rc) {
		fprintf(stderr, "telemetry-scan: %s\n", ramp_strerror(rc));
		return 1;
	}
	if (s.quiet)
		printf("rows %ld in %.3f ms\n", s.rows,
		       (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			   (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	else
		printf("rows %ld\n", s.rows);
	return 0;
}
