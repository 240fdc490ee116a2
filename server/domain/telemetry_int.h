/*
 * telemetry_int.h - what the two telemetry readers share: the jansson one
 * (telemetry.c) and the direct one for the common body (telemetry_text.c).
 * Internal to domain/; the one definition of each field's key, place and
 * range, so both readers judge alike.
 */
#ifndef RAMP_TELEMETRY_INT_H
#define RAMP_TELEMETRY_INT_H

#include "domain/telemetry.h"

struct telemetry_hist_spec {
	const char *key;	/* "latency_hist" */
	const char *bounds_key; /* "bounds_ms" */
	bool positive;		/* bounds > 0 (else >= 0) */
	double hi;		/* largest allowed bound */
};

struct telemetry_gauge {
	const char *key;
	size_t off; /* of its double in struct telemetry_report */
	double lo, hi;
};

struct telemetry_counter {
	const char *key;
	size_t off; /* of its int64_t in struct telemetry_report */
};

#define TELEMETRY_NGAUGES 7
#define TELEMETRY_NCOUNTERS 3

/* latency_hist, then confidence_hist */
extern const struct telemetry_hist_spec *const telemetry_hists[2];
extern const struct telemetry_gauge telemetry_gauges[TELEMETRY_NGAUGES];
extern const struct telemetry_counter telemetry_counters[TELEMETRY_NCOUNTERS];

/* A report with every field at its default (absent) and ts = now. */
void telemetry_report_init(struct telemetry_report *out, double now);
/* Checks "name:version" (s[0..n), no NUL needed) into out->model and
 * out->version; 0, or RAMP_EINVAL with err filled (err may be NULL). */
int telemetry_split_model(const char *s, size_t n, struct telemetry_report *out,
			  struct ramp_err *err);

/* The checks telemetry.c applies to every number, for the shadow block
 * (telemetry_shadow.c): a finite number; an integer in [min, 2^53]. */
int telemetry_read_number(const json_t *v, const char *field, double *out, struct ramp_err *err);
int telemetry_read_int(const json_t *v, const char *field, int64_t min, int64_t *out,
		       struct ramp_err *err);
/* True when s[0..n) is a valid version: [A-Za-z0-9][A-Za-z0-9._+-]{0,127}. */
bool telemetry_version_valid(const char *s, size_t n);
/* The optional "shadow" object of obj into out; 0 or RAMP_EINVAL. */
int telemetry_shadow_parse(const json_t *obj, struct telemetry_report *out,
			   struct ramp_err *err);

#endif
