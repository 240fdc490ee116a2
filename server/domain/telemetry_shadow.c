/*
 * telemetry_shadow.c - the optional "shadow" object of a telemetry report
 * (API.md "Telemetry", docs/judge.md "Shadow runs"): what a device measured
 * running a candidate beside the model it serves.
 *
 *   "shadow": {"version": "2.0", "requests": 120, "agree": 117,
 *              "mad": 0.004, "confidence_shift": 0.01,
 *              "latency_p95_ms": 3.2, "dropped": 4}
 *
 * requests: live requests the candidate ran on; agree: of those, how many
 * had the served answer's top-1 class (classifiers); mad: mean absolute
 * difference of the outputs (regression); confidence_shift: mean absolute
 * difference of the top-1 confidence; latency_p95_ms: the candidate's p95;
 * dropped: shadow runs skipped because the queue was full. Unlike the rest
 * of a report, unknown keys inside it are refused: it is new and small.
 */
#include "domain/telemetry_int.h"

#include "domain/fields.h"

#include <math.h>
#include <string.h>

static const char *const shadow_keys[] = {"version",	      "requests",	"agree",
					  "mad",	      "confidence_shift", "latency_p95_ms",
					  "dropped",	      NULL};

static const json_t *get(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/* An optional number in [lo, hi] at shadow.key; *out untouched when absent. */
static int opt_num(const json_t *sh, const char *key, double lo, double hi, double *out,
		   struct ramp_err *err)
{
	const json_t *v = get(sh, key);
	char field[48];
	double d;

	if (v == NULL)
		return 0;
	snprintf(field, sizeof(field), "shadow.%s", key);
	if (telemetry_read_number(v, field, &d, err))
		return RAMP_EINVAL;
	if (d < lo || d > hi)
		return ramp_err_set(err, RAMP_EINVAL, field, "must be between %g and %g", lo, hi);
	*out = d;
	return 0;
}

static int read_version(const json_t *sh, struct telemetry_report *out, struct ramp_err *err)
{
	const json_t *v = get(sh, "version");
	size_t n;

	if (v == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "shadow.version", "is required");
	if (!json_is_string(v))
		return ramp_err_set(err, RAMP_EINVAL, "shadow.version", "must be a string");
	n = json_string_length(v);
	if (!telemetry_version_valid(json_string_value(v), n) ||
	    strlen(json_string_value(v)) != n)
		return ramp_err_set(err, RAMP_EINVAL, "shadow.version",
				    "must match [A-Za-z0-9][A-Za-z0-9._+-]{0,127}");
	memcpy(out->shadow_version, json_string_value(v), n + 1);
	return 0;
}

static int read_counts(const json_t *sh, struct telemetry_report *out, struct ramp_err *err)
{
	const json_t *r = get(sh, "requests"), *a = get(sh, "agree"), *d = get(sh, "dropped");

	if (r == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "shadow.requests", "is required");
	if (telemetry_read_int(r, "shadow.requests", 0, &out->shadow_requests, err) ||
	    (a && telemetry_read_int(a, "shadow.agree", 0, &out->shadow_agree, err)) ||
	    (d && telemetry_read_int(d, "shadow.dropped", 0, &out->shadow_dropped, err)))
		return RAMP_EINVAL;
	if (out->shadow_agree > out->shadow_requests)
		return ramp_err_set(err, RAMP_EINVAL, "shadow.agree",
				    "must be at most shadow.requests");
	return 0;
}

int telemetry_shadow_parse(const json_t *obj, struct telemetry_report *out,
			   struct ramp_err *err)
{
	const json_t *sh = get(obj, "shadow");
	int rc;

	if (sh == NULL)
		return 0;
	if (!json_is_object(sh))
		return ramp_err_set(err, RAMP_EINVAL, "shadow", "must be an object");
	if ((rc = fields_check(sh, shadow_keys, "shadow", err)) != 0 ||
	    (rc = read_version(sh, out, err)) != 0 || (rc = read_counts(sh, out, err)) != 0 ||
	    (rc = opt_num(sh, "mad", 0, INFINITY, &out->shadow_mad, err)) != 0 ||
	    (rc = opt_num(sh, "confidence_shift", 0, 1, &out->shadow_conf_shift, err)) != 0 ||
	    (rc = opt_num(sh, "latency_p95_ms", 0, 3600000, &out->shadow_latency_p95_ms, err)) != 0)
		out->shadow_version[0] = '\0';
	return rc;
}
