/*
 * threshold.h - a policy metric's pass condition (API.md "Policies"):
 * "< 150ms", "<= 0.5%", "< 2x baseline", "> baseline - 5". The unit is read
 * by the metric's kind (domain/metric.h) and the value kept in base units,
 * so evaluation is plain arithmetic on numbers the SLO math produces.
 */
#ifndef RAMP_THRESHOLD_H
#define RAMP_THRESHOLD_H

#include "common/err.h"
#include "domain/metric.h"

#include <stdbool.h>

enum threshold_op { THRESHOLD_LT, THRESHOLD_GT, THRESHOLD_LE, THRESHOLD_GE };

enum threshold_kind {
	THRESHOLD_ABSOLUTE,	     /* value is the limit */
	THRESHOLD_RATIO_OF_BASELINE, /* value is a factor: limit = value * baseline */
	THRESHOLD_BASELINE_PLUS	     /* value is a signed offset: baseline + value */
};

struct threshold {
	enum threshold_op op;
	enum threshold_kind kind;
	double value; /* absolute value, factor, or signed offset, in base units */
};

/*
 * Parses text as a threshold for metric into *out. Returns 0, or RAMP_EINVAL
 * with err naming field (the caller's path for the text) and the reason.
 */
int threshold_parse(const char *text, enum metric_id metric, const char *field,
		    struct threshold *out, struct ramp_err *err);

/* The same for a metric known by its kind alone (a Prometheus query's,
 * METRIC_KIND_PROM); label names it in messages. */
int threshold_parse_kind(const char *text, enum metric_kind kind, const char *label,
			 const char *field, struct threshold *out, struct ramp_err *err);

/*
 * Evaluates value against t: 1 pass, 0 fail, -1 inconclusive (value is NaN,
 * or t is relative and there is no finite baseline).
 */
int threshold_eval(const struct threshold *t, double value, double baseline,
		   bool have_baseline);

/* Returns "<", ">", "<=" or ">=". */
const char *threshold_op_name(enum threshold_op op);

#endif
