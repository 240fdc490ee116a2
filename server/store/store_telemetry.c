/*
 * store_telemetry.c - reading telemetry for the analysis, telemetry
 * housekeeping, and the device-existence check of the ingest path. Rows are
 * written by the group-commit writer (store/ingest.c), not here.
 *
 * The scan reads one model's versions over a time window through a cursor,
 * FETCH_ROWS at a time: the (model, version, ts) index on every partition
 * and partition pruning on ts keep it to the window, and a million rows
 * never sit in memory at once.
 */
#include "store/store.h"

#include "domain/telemetry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_ROWS 1000
#define DAYS_AHEAD 7 /* daily partitions kept ready ahead of today */

#define SCAN_SQL                                                                                   \
	"DECLARE ramp_telemetry_scan NO SCROLL CURSOR FOR"                                         \
	" SELECT extract(epoch FROM ts)::float8, device_id, model, version, requests,"             \
	" errors, latency_ms, lat_bounds, lat_counts, conf_bounds, conf_counts, cpu_pct,"          \
	" mem_pct, npu_pct, temperature_c, disk_free_mb, model_load_ms, confidence_mean,"          \
	" exceptions, oom_kills, timeouts, shadow_version, shadow_requests, shadow_agree,"        \
	" shadow_dropped, shadow_mad, shadow_conf_shift, shadow_latency_p95_ms FROM telemetry"   \
	" WHERE model = $1 AND ($2::text[] IS NULL OR version = ANY ($2::text[]))"                 \
	" AND ts >= to_timestamp($3::float8) AND ts <= to_timestamp($4::float8)"

enum {
	C_TS,
	C_DEVICE,
	C_MODEL,
	C_VERSION,
	C_REQUESTS,
	C_ERRORS,
	C_LATENCY,
	C_LAT_BOUNDS,
	C_LAT_COUNTS,
	C_CONF_BOUNDS,
	C_CONF_COUNTS,
	C_CPU,
	C_MEM,
	C_NPU,
	C_TEMP,
	C_DISK,
	C_LOAD,
	C_CONF_MEAN,
	C_EXCEPTIONS,
	C_OOM,
	C_TIMEOUTS,
	C_SHADOW_VERSION,
	C_SHADOW_REQUESTS,
	C_SHADOW_AGREE,
	C_SHADOW_DROPPED,
	C_SHADOW_MAD,
	C_SHADOW_CONF_SHIFT,
	C_SHADOW_LATENCY,
};

/* A text[] literal {"a","b"} of the versions, or NULL for none (malloc'd). */
static char *versions_literal(const char *const *versions, int n, int *oom)
{
	size_t cap = 3;
	char *s, *p;

	*oom = 0;
	if (n <= 0)
		return NULL;
	for (int i = 0; i < n; i++)
		cap += 2 * strlen(versions[i]) + 3;
	p = s = malloc(cap);
	if (s == NULL) {
		*oom = 1;
		return NULL;
	}
	*p++ = '{';
	for (int i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		*p++ = '"';
		for (const char *v = versions[i]; *v; v++) {
			if (*v == '"' || *v == '\\')
				*p++ = '\\';
			*p++ = *v;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static double get_double(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NAN : strtod(PQgetvalue(r, row, col), NULL);
}

static int64_t get_int(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Parses "{1,2.5,3}" into at most max values; returns how many, or
 * RAMP_EMALFORMED when there are more (or the text is not an array). */
static int parse_array(const char *s, double *d, int64_t *i64, int max)
{
	int n = 0;
	char *end;

	if (*s++ != '{')
		return RAMP_EMALFORMED;
	if (*s == '}')
		return 0;
	for (;;) {
		if (n >= max)
			return RAMP_EMALFORMED;
		if (d)
			d[n] = strtod(s, &end);
		else
			i64[n] = strtoll(s, &end, 10);
		if (end == s)
			return RAMP_EMALFORMED;
		n++;
		if (*end == '}')
			return n;
		if (*end != ',')
			return RAMP_EMALFORMED;
		s = end + 1;
	}
}

/* One histogram from its two array columns; absent or malformed -> none. */
static size_t get_hist(PGresult *r, int row, int cb, int cc, double *bounds, int64_t *counts)
{
	int nb, nc;

	if (PQgetisnull(r, row, cb) || PQgetisnull(r, row, cc))
		return 0;
	nb = parse_array(PQgetvalue(r, row, cb), bounds, NULL, TELEMETRY_HIST_MAX - 1);
	nc = parse_array(PQgetvalue(r, row, cc), NULL, counts, TELEMETRY_HIST_MAX);
	return nb > 0 && nc == nb + 1 ? (size_t)nb : 0;
}

static void fill_report(PGresult *r, int row, struct telemetry_report *t)
{
	memset(t, 0, sizeof(*t));
	t->ts = get_double(r, row, C_TS);
	snprintf(t->device_id, sizeof(t->device_id), "%s", PQgetvalue(r, row, C_DEVICE));
	snprintf(t->model, sizeof(t->model), "%s", PQgetvalue(r, row, C_MODEL));
	snprintf(t->version, sizeof(t->version), "%s", PQgetvalue(r, row, C_VERSION));
	t->requests = get_int(r, row, C_REQUESTS);
	t->errors = get_int(r, row, C_ERRORS);
	t->latency_ms = get_double(r, row, C_LATENCY);
	t->has_latency = !isnan(t->latency_ms);
	t->lat_nbounds = get_hist(r, row, C_LAT_BOUNDS, C_LAT_COUNTS, t->lat_bounds, t->lat_counts);
	t->conf_nbounds =
	    get_hist(r, row, C_CONF_BOUNDS, C_CONF_COUNTS, t->conf_bounds, t->conf_counts);
	t->cpu_pct = get_double(r, row, C_CPU);
	t->mem_pct = get_double(r, row, C_MEM);
	t->npu_pct = get_double(r, row, C_NPU);
	t->temperature_c = get_double(r, row, C_TEMP);
	t->disk_free_mb = get_double(r, row, C_DISK);
	t->model_load_ms = get_double(r, row, C_LOAD);
	t->confidence_mean = get_double(r, row, C_CONF_MEAN);
	t->exceptions = get_int(r, row, C_EXCEPTIONS);
	t->oom_kills = get_int(r, row, C_OOM);
	t->timeouts = get_int(r, row, C_TIMEOUTS);
	/* a shadow run (schema/021_shadow.sql), NULLs when none */
	if (!PQgetisnull(r, row, C_SHADOW_VERSION))
		snprintf(t->shadow_version, sizeof(t->shadow_version), "%s",
			 PQgetvalue(r, row, C_SHADOW_VERSION));
	t->shadow_requests = get_int(r, row, C_SHADOW_REQUESTS);
	t->shadow_agree = PQgetisnull(r, row, C_SHADOW_AGREE) ? -1 : get_int(r, row, C_SHADOW_AGREE);
	t->shadow_dropped = get_int(r, row, C_SHADOW_DROPPED);
	t->shadow_mad = get_double(r, row, C_SHADOW_MAD);
	t->shadow_conf_shift = get_double(r, row, C_SHADOW_CONF_SHIFT);
	t->shadow_latency_p95_ms = get_double(r, row, C_SHADOW_LATENCY);
}

/* FETCHes the open cursor to its end, calling fn per row. */
static int scan_cursor(struct dbconn *c, struct telemetry_report *t, telemetry_row_fn fn, void *ctx)
{
	PGresult *r;
	int rc, n;
	char sql[64];

	snprintf(sql, sizeof(sql), "FETCH %d FROM ramp_telemetry_scan", FETCH_ROWS);
	do {
		if ((rc = db_query(c, &r, sql, 0, NULL)) != 0)
			return rc;
		n = PQntuples(r);
		for (int i = 0; i < n && rc == 0; i++) {
			fill_report(r, i, t);
			rc = fn(ctx, t);
		}
		PQclear(r);
	} while (rc == 0 && n == FETCH_ROWS);
	return rc;
}

int store_telemetry_scan(struct db *db, const char *model, const char *const *versions,
			 int nversions, double from_ts, double to_ts, telemetry_row_fn fn,
			 void *ctx)
{
	struct telemetry_report *t = malloc(sizeof(*t));
	char from[64], to[64], *vers;
	const char *p[4];
	struct dbconn *c;
	int rc, oom;

	vers = versions_literal(versions, nversions, &oom);
	if (t == NULL || oom) {
		free(t);
		return RAMP_ENOMEM;
	}
	snprintf(from, sizeof(from), "%.6f", from_ts);
	snprintf(to, sizeof(to), "%.6f", to_ts);
	p[0] = model;
	p[1] = vers;
	p[2] = from;
	p[3] = to;
	if ((rc = db_acquire(db, &c)) != 0)
		goto out;
	/* every row is read: plan for all of them, not a cursor's first tenth */
	if ((rc = db_begin(c)) == 0 &&
	    (rc = db_query(c, NULL, "SET LOCAL cursor_tuple_fraction = 1.0", 0, NULL)) == 0 &&
	    (rc = db_query(c, NULL, SCAN_SQL, 4, p)) == 0)
		rc = scan_cursor(c, t, fn, ctx);
	db_release(db, c); /* rolls the read-only transaction back */
out:
	free(vers);
	free(t);
	return rc;
}

int store_telemetry_maintain(struct db *db, int64_t retention_s, struct telemetry_maint *out)
{
	char ret[32], ahead[16];
	const char *p[2] = {ret, ahead};
	struct dbconn *c;
	PGresult *r;
	int rc;

	snprintf(ret, sizeof(ret), "%lld seconds", (long long)retention_s);
	snprintf(ahead, sizeof(ahead), "%d", DAYS_AHEAD);
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	/* dropping a partition locks the parent: never queue ingest behind it for long */
	rc = db_query(c, NULL, "SET LOCAL lock_timeout = '5s'", 0, NULL);
	if (rc == 0)
		rc = db_query(
		    c, &r,
		    "SELECT (m->>'created')::int, (m->>'dropped')::int, (m->>'deleted')::bigint"
		    " FROM telemetry_maintain($1::interval, $2::int) m",
		    2, p);
	if (rc == 0) {
		if (out) {
			out->created = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
			out->dropped = (int)strtol(PQgetvalue(r, 0, 1), NULL, 10);
			out->deleted = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
		}
		PQclear(r);
	}
	return db_tx_end(db, c, rc);
}

int store_devices_missing(struct db *db, const char *ids_nl, json_t **missing)
{
	const char *p[1] = {ids_nl};
	struct dbconn *c;
	PGresult *r;
	int rc;

	*missing = NULL;
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &r,
		      "SELECT x FROM unnest(string_to_array($1, E'\\n')) x"
		      " WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = x)",
		      1, p);
	db_release(db, c);
	if (rc)
		return rc;
	*missing = json_array();
	for (int i = 0; *missing && i < PQntuples(r); i++)
		json_array_append_new(*missing, json_string(PQgetvalue(r, i, 0)));
	PQclear(r);
	return *missing ? 0 : RAMP_ENOMEM;
}
