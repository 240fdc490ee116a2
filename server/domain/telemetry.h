/*
 * telemetry.h - validation of one device telemetry report (API.md "Telemetry").
 *
 * The API handler parses the request body with jansson and hands each report
 * object here; what comes back is a flat, fully checked struct the store
 * writes and the SLO math (domain/slo.h) consumes. Pure: the clock is passed
 * in as `now`. Unknown fields are ignored for forward compatibility; a JSON
 * null is treated as an absent field.
 */
#ifndef RAMP_TELEMETRY_H
#define RAMP_TELEMETRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define TELEMETRY_HIST_MAX 65            /* counts per histogram (bounds + 1) */
#define TELEMETRY_MAX_FUTURE_S 300.0     /* clock skew tolerated ahead of now */
#define TELEMETRY_MAX_AGE_S (10LL * 365 * 86400) /* old reports are kept but never in a window */
#define TELEMETRY_INT_MAX 9007199254740992LL /* 2^53: largest integer field */

struct telemetry_report {
	char device_id[129];
	char model[64];
	char version[129];
	double ts; /* unix seconds */
	bool has_latency;
	double latency_ms;
	int64_t requests, errors;
	/* lat_nbounds == 0: no histogram; else lat_counts has lat_nbounds + 1 */
	size_t lat_nbounds;
	double lat_bounds[TELEMETRY_HIST_MAX];
	int64_t lat_counts[TELEMETRY_HIST_MAX];
	size_t conf_nbounds;
	double conf_bounds[TELEMETRY_HIST_MAX];
	int64_t conf_counts[TELEMETRY_HIST_MAX];
	/* optional gauges: NaN when absent */
	double cpu_pct, mem_pct, npu_pct, temperature_c, disk_free_mb,
		model_load_ms, confidence_mean;
	int64_t exceptions, oom_kills, timeouts;
	/* a shadow run (telemetry_shadow.c, docs/judge.md "Shadow runs"): the
	 * candidate shadow_version run beside the served model on
	 * shadow_requests live requests; shadow_version "" when absent,
	 * shadow_agree -1 and the doubles NaN when not reported */
	char shadow_version[129];
	int64_t shadow_requests, shadow_agree, shadow_dropped;
	double shadow_mad, shadow_conf_shift, shadow_latency_p95_ms;
};

/*
 * Validates obj into *out (always fully initialised). Returns 0 on success;
 * RAMP_EINVAL with err->field (e.g. "latency_hist.counts") and a message
 * otherwise. `now` is unix seconds; timestamps more than
 * TELEMETRY_MAX_FUTURE_S ahead of it or TELEMETRY_MAX_AGE_S behind it are
 * rejected, and a missing timestamp means `now`.
 */
int telemetry_parse(const json_t *obj, double now, struct telemetry_report *out,
		    struct ramp_err *err);

/*
 * Parses an RFC 3339 date-time ("2026-01-10T12:00:00.25+02:00") into unix
 * seconds in *out. Returns 0, or RAMP_EINVAL when s is not one.
 */
int telemetry_parse_rfc3339(const char *s, double *out);

/* Called by telemetry_read_fast() for each report, i counting from 0; t is
 * valid until it returns. Non-zero stops the read. */
typedef int (*telemetry_each_fn)(void *ctx, size_t i, const struct telemetry_report *t);

/*
 * The fast path for the bodies devices and gateways send: a report object,
 * an array of them, or {"reports": [...]}, in plain JSON (known fields
 * only, strings without escapes or non-ASCII bytes, at most max reports),
 * read straight from the text without building a jansson tree. Each report
 * goes through the same checks as telemetry_parse() into *t, then to fn.
 * Returns how many reports were handed to fn (>= 1) when the whole body
 * was read and every report was valid; 0 otherwise: the body is not of
 * that form, or something in it is invalid, or fn stopped. Then the caller
 * discards what fn did and takes the general path (jansson, then
 * telemetry_parse() per report), which gives every answer, errors included:
 * whatever this reader accepts, that path accepts with the same values.
 */
size_t telemetry_read_fast(const char *body, size_t len, double now, size_t max,
			   struct telemetry_report *t, telemetry_each_fn fn, void *ctx);

#endif
