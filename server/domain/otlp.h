/*
 * otlp.h - OTLP metrics (an ExportMetricsServiceRequest) turned into ramp
 * telemetry reports (docs/telemetry.md, "OpenTelemetry"). Pure: bytes or a
 * jansson tree in, points out; the clock is passed in.
 *
 * Three steps. Decoding (otlp_decode_pb() over protobuf-c's code generated
 * from the vendored opentelemetry-proto files, otlp_decode_json() over the
 * OTLP JSON mapping) walks every data point and hands it to the mapping,
 * which keeps the known instruments as struct otlp_point, converted to
 * ramp's units, and counts the rest. Cumulative points then go through
 * otlp_delta() against their stream's last point (kept by the store, in
 * the same transaction as the rows), and otlp_reports() folds the points
 * of one device and model version into one report.
 */
#ifndef RAMP_OTLP_H
#define RAMP_OTLP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "domain/telemetry.h"

#define OTLP_POINTS_MAX 20000	  /* data points per request */
#define OTLP_BOUNDS_MAX (TELEMETRY_HIST_MAX - 1)
#define OTLP_KEY_LEN 32		  /* hex characters of a stream key */
#define OTLP_STATE_TEXT_MAX 1600  /* otlp_state_format()'s longest text */

enum otlp_field {
	OTLP_REQUESTS,
	OTLP_ERRORS,
	OTLP_LATENCY,	 /* histogram, bounds in ms */
	OTLP_CONFIDENCE, /* histogram, bounds in [0, 1] */
	OTLP_GAUGE,	 /* a double of struct telemetry_report, at gauge_off */
};

/* The device and model version a point belongs to. */
struct otlp_group {
	char device_id[129];
	char model[64];
	char version[129];
};

/* One known data point, in ramp's units. */
struct otlp_point {
	uint32_t group; /* index into the batch's groups */
	uint8_t field;	/* enum otlp_field */
	bool cumulative;
	uint16_t gauge_off;
	char key[OTLP_KEY_LEN + 1]; /* the stream: resource, scope, metric, attributes */
	uint64_t start_ns, time_ns;
	double value;	/* sums and gauges */
	uint64_t count; /* histograms: sum of counts */
	uint32_t nb;	/* histograms: bounds; counts has nb + 1 */
	uint64_t bounds_hash;
	double bounds[OTLP_BOUNDS_MAX];
	uint64_t counts[OTLP_BOUNDS_MAX + 1];
};

/* What one request carried: its known points, and what was left out. */
struct otlp_batch {
	struct otlp_point *pts; /* malloc'd, n of cap */
	size_t n, cap;
	struct otlp_group *groups;
	size_t ngroups, gcap;
	double now;	      /* unix seconds, the clock points are judged by */
	int64_t rejected;     /* points refused (partial_success) */
	int64_t unknown;      /* points of metrics ramp does not know (ignored) */
	char error[256];      /* the first refusal's reason, "" when none */
};

/* Starts an empty batch judged by now. */
void otlp_batch_init(struct otlp_batch *b, double now);
/* Frees what b holds (not b); safe twice. */
void otlp_batch_free(struct otlp_batch *b);

/*
 * Decodes an ExportMetricsServiceRequest in protobuf (data[0..len)) into b.
 * 0; RAMP_EMALFORMED with err's message when the bytes are not one (then b
 * holds nothing); RAMP_ETOOBIG past OTLP_POINTS_MAX points; RAMP_ENOMEM.
 * Points refused one by one are counted in b->rejected, not errors.
 */
int otlp_decode_pb(const uint8_t *data, size_t len, struct otlp_batch *b, struct ramp_err *err);
/* The same for the OTLP JSON encoding, already parsed. */
int otlp_decode_json(const json_t *root, struct otlp_batch *b, struct ramp_err *err);

/* The answer to a protobuf request: an ExportMetricsServiceResponse with
 * partial_success when rejected > 0 or msg is not empty (malloc'd, *len
 * set; NULL when out of memory). */
uint8_t *otlp_response_pb(int64_t rejected, const char *msg, size_t *len);

/* A cumulative stream's last point, as the store keeps it. */
struct otlp_state {
	uint64_t start_ns, time_ns;
	double value;
	uint64_t count, bounds_hash;
	uint32_t nb;
	uint64_t counts[OTLP_BOUNDS_MAX + 1];
};

enum otlp_verdict {
	OTLP_DELTA,	/* *d holds the increase since prev */
	OTLP_RESET,	/* the stream restarted: *d holds the whole new value */
	OTLP_FIRST,	/* first point of a stream that began within ttl: whole value */
	OTLP_BASELINE,	/* first point of an older stream: nothing counted yet */
	OTLP_STALE,	/* a duplicate or out-of-order point: nothing counted */
};

/*
 * One cumulative point p of a stream whose last point is prev (NULL when
 * the stream is new). Writes what to count into *d (a copy of p with the
 * increase) and the stream's state after it into *next (prev's again for
 * OTLP_STALE). A new start_time or any value going down is a reset, never
 * a negative increase; a point not after prev is stale. A new stream's
 * first point counts whole only when it began at most ttl_s before it (an
 * older one may have been seen before its state was evicted).
 */
enum otlp_verdict otlp_delta(const struct otlp_state *prev, const struct otlp_point *p,
			     double ttl_s, struct otlp_point *d, struct otlp_state *next);
/* True when a verdict counts something. */
bool otlp_verdict_counts(enum otlp_verdict v);

/* The state text the store keeps; returns its length (< OTLP_STATE_TEXT_MAX). */
size_t otlp_state_format(const struct otlp_state *s, char *out);
/* Reads it back; RAMP_EINVAL when s is not one. */
int otlp_state_parse(const char *s, struct otlp_state *out);

/* Called by otlp_reports() for each report; non-zero stops. */
typedef int (*otlp_report_fn)(void *ctx, const struct telemetry_report *r);

/*
 * Folds the points (deltas and gauges; the increases of cumulative ones)
 * of each group into one report: requests from ramp.inference.requests,
 * else the latency histogram's count; histograms and gauges as they are
 * (a gauge's latest point wins). Groups without points make no report.
 * Returns the first non-zero fn result, RAMP_ENOMEM, or 0.
 */
int otlp_reports(const struct otlp_batch *b, const struct otlp_point *pts, size_t n,
		 otlp_report_fn fn, void *ctx);

#endif
