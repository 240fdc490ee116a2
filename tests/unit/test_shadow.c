/* test_shadow.c - shadow runs (docs/judge.md "Shadow runs"): a stage's
 * shadow block and the rules that tie the shadow_* gates to shadow stages,
 * its canonical round trip, the "shadow" object of a telemetry report with
 * its errors, and the shadow gates' arithmetic over reports. */
#include "common/err.h"
#include "domain/policy.h"
#include "domain/shadow.h"
#include "domain/telemetry_int.h"
#include "unit.h"

#include <math.h>

static struct policy pol, pol2;

static const char good[] =
	"stages:\n"
	"  - name: shadow\n"
	"    size: 0.1\n"
	"    validation_window: 30m\n"
	"    shadow: true\n"
	"    shadow_fraction: 0.25\n"
	"    min_devices: 2\n"
	"    metrics:\n"
	"      - name: shadow_agreement\n"
	"        threshold: \">= 98%\"\n"
	"      - name: shadow_latency_p95\n"
	"        threshold: < 20ms\n"
	"      - name: shadow_confidence_shift\n"
	"        threshold: < 0.05\n"
	"      - name: shadow_mad\n"
	"        threshold: < 0.1\n"
	"  - name: canary\n"
	"    size: 0.2\n"
	"    validation_window: 30m\n"
	"    metrics:\n"
	"      - name: error_rate\n"
	"        threshold: < 1%\n"
	"  - name: full\n"
	"    size: 1.0\n"
	"    validation_window: 1h\n";

static int parse_yaml(const char *text, struct ramp_err *e)
{
	return policy_parse(text, strlen(text), POLICY_YAML, &pol, e);
}

static void shadow_stage_parses_with_its_gates(void)
{
	struct ramp_err err;

	CHECK_EQ_INT(parse_yaml(good, &err), 0);
	CHECK(pol.stages[0].shadow);
	CHECK_NEAR(pol.stages[0].shadow_fraction, 0.25, 1e-12);
	CHECK(!pol.stages[1].shadow);
	CHECK_EQ_INT(pol.stages[1].shadow_fraction == 0, 1);
	CHECK_EQ_INT(pol.stages[0].metrics[0].metric, METRIC_SHADOW_AGREEMENT);
	CHECK_NEAR(pol.stages[0].metrics[0].threshold.value, 0.98, 1e-12);
	CHECK_NEAR(pol.stages[0].metrics[1].threshold.value, 20, 1e-12);
	CHECK_EQ_INT(pol.stages[2].nmetrics, 1); /* inherits the canary's, not the shadow's */
}

static void fraction_defaults_to_a_tenth(void)
{
	static const char doc[] =
		"{\"stages\": [{\"name\": \"s\", \"size\": 0.1, \"validation_window\": 60,"
		" \"shadow\": true},"
		" {\"name\": \"all\", \"size\": 1.0, \"validation_window\": 60}]}";
	struct ramp_err err;

	CHECK_EQ_INT(policy_parse(doc, strlen(doc), POLICY_JSON, &pol, &err), 0);
	CHECK_NEAR(pol.stages[0].shadow_fraction, 0.1, 1e-12);
}

static void canonical_json_round_trips(void)
{
	struct ramp_err err;
	json_t *j, *st;
	char *text;

	CHECK_EQ_INT(parse_yaml(good, &err), 0);
	j = policy_to_json(&pol);
	CHECK(j != NULL);
	st = json_array_get(json_object_get(j, "stages"), 0);
	CHECK(json_is_true(json_object_get(st, "shadow")));
	CHECK_NEAR(json_number_value(json_object_get(st, "shadow_fraction")), 0.25, 1e-12);
	/* a stage without a shadow run prints as it always did */
	CHECK(json_object_get(json_array_get(json_object_get(j, "stages"), 1), "shadow") == NULL);
	text = json_dumps(j, JSON_COMPACT);
	CHECK_EQ_INT(policy_parse(text, strlen(text), POLICY_JSON, &pol2, &err), 0);
	CHECK(policy_equal(&pol, &pol2));
	pol2.stages[0].shadow_fraction = 0.5;
	CHECK(!policy_equal(&pol, &pol2));
	free(text);
	json_decref(j);
}

struct bad {
	const char *doc, *field;
};

#define ST(extra, metrics)                                                                     \
	"{\"stages\": [{\"name\": \"s\", \"size\": 0.1, \"validation_window\": 60" extra        \
	metrics "}, {\"name\": \"all\", \"size\": 1.0, \"validation_window\": 60}]}"
#define M(name, thr) ", \"metrics\": [{\"name\": \"" name "\", \"threshold\": \"" thr "\"}]"

static void bad_shadow_policies_name_their_field(void)
{
	static const struct bad cases[] = {
		{ST(", \"shadow\": \"yes\"", ""), "stages[0].shadow"},
		{ST(", \"shadow\": true, \"shadow_fraction\": 0", ""), "stages[0].shadow_fraction"},
		{ST(", \"shadow\": true, \"shadow_fraction\": 1.5", ""), "stages[0].shadow_fraction"},
		{ST(", \"shadow\": true, \"shadow_fraction\": \"10%\"", ""),
		 "stages[0].shadow_fraction"},
		{ST(", \"shadow_fraction\": 0.5", ""), "stages[0].shadow_fraction"},
		{ST("", M("shadow_agreement", ">= 0.9")), "stages[0].metrics[0].name"},
		{ST(", \"shadow\": true", M("error_rate", "< 1%")), "stages[0].metrics[0].name"},
		{ST(", \"shadow\": true", M("shadow_latency_p95", "< 2x baseline")),
		 "stages[0].metrics[0].threshold"},
		{ST(", \"shadow\": true", M("shadow_agreement", ">= 90 apples")),
		 "stages[0].metrics[0].threshold"},
		{"{\"stages\": [{\"name\": \"s\", \"size\": 0.1, \"validation_window\": 60,"
		 " \"shadow\": true" M("shadow_agreement", ">= 0.9") "},"
		 " {\"name\": \"all\", \"size\": 1.0, \"validation_window\": 60}]}",
		 "stages[1].metrics"},
		{"{\"stages\": [{\"name\": \"c\", \"size\": 0.1, \"validation_window\": 60"
		 M("error_rate", "< 1%") "}, {\"name\": \"s\", \"size\": 0.2,"
		 " \"validation_window\": 60, \"shadow\": true},"
		 " {\"name\": \"all\", \"size\": 1.0, \"validation_window\": 60}]}",
		 "stages[1].metrics"},
		{"{\"stages\": [{\"name\": \"all\", \"size\": 1.0, \"validation_window\": 60,"
		 " \"shadow\": true}]}",
		 "stages[0].shadow"},
	};
	struct ramp_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = policy_parse(cases[i].doc, strlen(cases[i].doc), POLICY_JSON, &pol, &err);
		CHECK_EQ_INT(rc, RAMP_EINVAL);
		CHECK_EQ_STR(err.field, cases[i].field);
	}
}

static int report(const char *text, struct telemetry_report *r, struct ramp_err *err)
{
	json_t *j = json_loads(text, 0, NULL);
	int rc;

	CHECK(j != NULL);
	rc = telemetry_parse(j, 1767000000, r, err);
	json_decref(j);
	return rc;
}

#define R(shadow) "{\"device_id\": \"d1\", \"model\": \"m:1.0\", \"requests\": 10" shadow "}"

static void telemetry_shadow_fields_parse(void)
{
	struct telemetry_report r;
	struct ramp_err err;

	CHECK_EQ_INT(report(R(", \"shadow\": {\"version\": \"2.0\", \"requests\": 8, \"agree\": 7,"
			      " \"mad\": 0.5, \"confidence_shift\": 0.03, \"latency_p95_ms\": 4.5,"
			      " \"dropped\": 2}"),
			    &r, &err),
		     0);
	CHECK_EQ_STR(r.shadow_version, "2.0");
	CHECK_EQ_INT(r.shadow_requests, 8);
	CHECK_EQ_INT(r.shadow_agree, 7);
	CHECK_EQ_INT(r.shadow_dropped, 2);
	CHECK_NEAR(r.shadow_mad, 0.5, 1e-12);
	CHECK_NEAR(r.shadow_conf_shift, 0.03, 1e-12);
	CHECK_NEAR(r.shadow_latency_p95_ms, 4.5, 1e-12);
	/* absent: no shadow run, and agree absent is -1, not 0 */
	CHECK_EQ_INT(report(R(""), &r, &err), 0);
	CHECK_EQ_STR(r.shadow_version, "");
	CHECK_EQ_INT(report(R(", \"shadow\": {\"version\": \"2.0\", \"requests\": 3}"), &r, &err), 0);
	CHECK_EQ_INT(r.shadow_agree, -1);
	CHECK(isnan(r.shadow_mad) && isnan(r.shadow_latency_p95_ms));
}

static void bad_telemetry_shadow_names_its_field(void)
{
	static const struct bad cases[] = {
		{R(", \"shadow\": 3"), "shadow"},
		{R(", \"shadow\": {\"requests\": 1}"), "shadow.version"},
		{R(", \"shadow\": {\"version\": \"\", \"requests\": 1}"), "shadow.version"},
		{R(", \"shadow\": {\"version\": \"a b\", \"requests\": 1}"), "shadow.version"},
		{R(", \"shadow\": {\"version\": 2, \"requests\": 1}"), "shadow.version"},
		{R(", \"shadow\": {\"version\": \"2\"}"), "shadow.requests"},
		{R(", \"shadow\": {\"version\": \"2\", \"requests\": -1}"), "shadow.requests"},
		{R(", \"shadow\": {\"version\": \"2\", \"requests\": 1.5}"), "shadow.requests"},
		{R(", \"shadow\": {\"version\": \"2\", \"requests\": \"5\"}"), "shadow.requests"},
		{R(", \"shadow\": {\"version\": \"2\", \"requests\": 1e300}"), "shadow.requests"},
		{R(", \"shadow\": {\"version\": \"2\", \"requests\": 5, \"agree\": 6}"), "shadow.agree"},
		{R(", \"shadow\": {\"version\": \"2\", \"requests\": 5, \"mad\": -1}"), "shadow.mad"},
		{R(", \"shadow\": {\"version\": \"2\", \"requests\": 5, \"confidence_shift\": 2}"),
		 "shadow.confidence_shift"},
		{R(", \"shadow\": {\"version\": \"2\", \"requests\": 5, \"latency_p95_ms\": true}"),
		 "shadow.latency_p95_ms"},
		{R(", \"shadow\": {\"version\": \"2\", \"requests\": 5, \"dropped\": -3}"),
		 "shadow.dropped"},
		{R(", \"shadow\": {\"version\": \"2\", \"requests\": 5, \"agreement\": 1}"),
		 "shadow.agreement"},
	};
	struct telemetry_report r;
	struct ramp_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ_INT(report(cases[i].doc, &r, &err), RAMP_EINVAL);
		CHECK_EQ_STR(err.field, cases[i].field);
		CHECK_EQ_STR(r.shadow_version, "");
	}
}

static void add(struct shadow_arm *a, const char *dev, int64_t n, int64_t agree, double mad,
		double shift, double p95)
{
	struct telemetry_report r;

	telemetry_report_init(&r, 0);
	snprintf(r.device_id, sizeof(r.device_id), "%s", dev);
	snprintf(r.shadow_version, sizeof(r.shadow_version), "2.0");
	r.shadow_requests = n;
	r.shadow_agree = agree;
	r.shadow_mad = mad;
	r.shadow_conf_shift = shift;
	r.shadow_latency_p95_ms = p95;
	CHECK_EQ_INT(shadow_arm_add(a, &r), 0);
}

static void shadow_gates_weigh_by_requests(void)
{
	struct shadow_arm *a = shadow_arm_new();
	struct slo_value v;

	CHECK(a != NULL);
	v = shadow_arm_value(a, METRIC_SHADOW_AGREEMENT);
	CHECK(isnan(v.value) && v.samples == 0 && v.devices == 0);
	add(a, "d1", 100, 99, NAN, 0.01, 10);
	add(a, "d2", 300, 270, NAN, 0.05, 20);
	add(a, "d3", 50, -1, 0.2, NAN, NAN); /* a regression model: no top-1 */
	add(a, "d1", 0, 0, 9, 9, 9);	     /* ran on nothing: ignored */
	v = shadow_arm_value(a, METRIC_SHADOW_AGREEMENT);
	CHECK_NEAR(v.value, 369.0 / 400.0, 1e-12);
	CHECK_EQ_INT(v.samples, 400);
	CHECK_EQ_INT(v.devices, 2);
	v = shadow_arm_value(a, METRIC_SHADOW_CONFIDENCE_SHIFT);
	CHECK_NEAR(v.value, (100 * 0.01 + 300 * 0.05) / 400.0, 1e-12);
	v = shadow_arm_value(a, METRIC_SHADOW_LATENCY_P95);
	CHECK_NEAR(v.value, (100 * 10.0 + 300 * 20.0) / 400.0, 1e-12);
	v = shadow_arm_value(a, METRIC_SHADOW_MAD);
	CHECK_NEAR(v.value, 0.2, 1e-12);
	CHECK_EQ_INT(v.samples, 50);
	CHECK_EQ_INT(v.devices, 1);
	v = shadow_arm_value(a, METRIC_ERROR_RATE);
	CHECK(isnan(v.value) && v.samples == 0);
	shadow_arm_free(a);
	shadow_arm_free(NULL);
}

static const struct unit_case cases[] = {
	UNIT(shadow_stage_parses_with_its_gates),
	UNIT(fraction_defaults_to_a_tenth),
	UNIT(canonical_json_round_trips),
	UNIT(bad_shadow_policies_name_their_field),
	UNIT(telemetry_shadow_fields_parse),
	UNIT(bad_telemetry_shadow_names_its_field),
	UNIT(shadow_gates_weigh_by_requests),
	{0},
};

UNIT_MAIN(cases)
