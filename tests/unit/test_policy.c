/* test_policy.c - the policy parser: seed and API examples, JSON, defaults,
 * inheritance, every validation error with its field path, malformed input,
 * canonical JSON round trip. */
#include "common/err.h"
#include "domain/policy.h"
#include "unit.h"

/* /work/shared/examples/rollout-policy.yaml, byte for byte. */
static const char seed_yaml[] =
	"# pseudo-policy for rollout controller\n"
	"stages:\n"
	"  - name: canary\n"
	"    size: 0.01\n"
	"    validation_window: 30m\n"
	"    metrics:\n"
	"      - name: inference_latency_p50\n"
	"        threshold: < 150ms\n"
	"      - name: error_rate\n"
	"        threshold: < 0.5%\n"
	"  - name: ramp\n"
	"    size: 0.25\n"
	"    validation_window: 1h\n"
	"  - name: full\n"
	"    size: 1.0\n"
	"    validation_window: 24h\n";

/* API.md "Policies", byte for byte. */
static const char api_yaml[] =
	"stages:\n"
	"  - name: canary\n"
	"    size: 0.01\n"
	"    cohort: low-traffic        # optional: stage drawn from this cohort only\n"
	"    validation_window: 30m\n"
	"    min_devices: 3             # optional, default 1\n"
	"    min_samples: 100           # optional: requests counted, default 1\n"
	"    approval: false            # optional: wait for POST .../approve\n"
	"    metrics:\n"
	"      - name: inference_latency_p50\n"
	"        threshold: < 150ms\n"
	"      - name: error_rate\n"
	"        threshold: < 0.5%\n"
	"      - name: inference_latency_p95\n"
	"        threshold: < 2x baseline\n"
	"        scope: any_device      # optional: cohort (default) or any_device\n"
	"  - name: ramp\n"
	"    size: 0.25\n"
	"    validation_window: 1h\n"
	"  - name: full\n"
	"    size: 1.0\n"
	"    validation_window: 24h\n"
	"rollback:\n"
	"  automatic: true              # default true; false means pause on breach\n"
	"  on_inconclusive: pause       # pause | rollback | extend\n"
	"  failure_limit: 1             # consecutive failing evaluations before acting\n";

/* The API example as JSON, with the percentage size form. */
static const char api_json[] =
	"{\"stages\": [\n"
	" {\"name\": \"canary\", \"size\": \"1%\", \"cohort\": \"low-traffic\",\n"
	"  \"validation_window\": \"30m\", \"min_devices\": 3, \"min_samples\": 100,\n"
	"  \"approval\": false, \"metrics\": [\n"
	"   {\"name\": \"inference_latency_p50\", \"threshold\": \"< 150ms\"},\n"
	"   {\"name\": \"error_rate\", \"threshold\": \"< 0.5%\"},\n"
	"   {\"name\": \"inference_latency_p95\", \"threshold\": \"< 2x baseline\",\n"
	"    \"scope\": \"any_device\"}]},\n"
	" {\"name\": \"ramp\", \"size\": 0.25, \"validation_window\": 3600},\n"
	" {\"name\": \"full\", \"size\": 1, \"validation_window\": \"1d\"}],\n"
	" \"rollback\": {\"automatic\": true, \"on_inconclusive\": \"pause\",\n"
	"  \"failure_limit\": 1}}";

static struct policy pol, pol2;

static int parse(const char *text, enum policy_format fmt, struct policy *p,
		 struct ramp_err *err)
{
	return policy_parse(text, strlen(text), fmt, p, err);
}

static void parse_ok(const char *text, enum policy_format fmt, struct policy *p)
{
	struct ramp_err err;
	int rc = parse(text, fmt, p, &err);

	if (rc != 0)
		fprintf(stderr, "  parse failed: %s: %s\n", err.field, err.msg);
	CHECK_EQ_INT(rc, 0);
}

static void check_metric(const struct policy_metric *m, enum metric_id id,
			 enum threshold_op op, enum threshold_kind kind,
			 double value, enum metric_scope scope, const char *text)
{
	CHECK_EQ_INT(m->metric, id);
	CHECK_EQ_INT(m->threshold.op, op);
	CHECK_EQ_INT(m->threshold.kind, kind);
	CHECK(m->threshold.value == value);
	CHECK_EQ_INT(m->scope, scope);
	CHECK_EQ_STR(m->text, text);
}

static void check_stage(const struct policy_stage *st, const char *name,
			double size, int64_t window, size_t nmetrics)
{
	CHECK_EQ_STR(st->name, name);
	CHECK(st->size == size);
	CHECK_EQ_INT(st->window_s, window);
	CHECK_EQ_INT(st->nmetrics, nmetrics);
}

static void seed_policy_parses_verbatim(void)
{
	parse_ok(seed_yaml, POLICY_YAML, &pol);
	CHECK_EQ_INT(pol.nstages, 3);
	check_stage(&pol.stages[0], "canary", 0.01, 1800, 2);
	check_stage(&pol.stages[1], "ramp", 0.25, 3600, 2);
	check_stage(&pol.stages[2], "full", 1.0, 86400, 2);
	for (int i = 0; i < 3; i++) {
		const struct policy_stage *st = &pol.stages[i];

		check_metric(&st->metrics[0], METRIC_LATENCY_P50, THRESHOLD_LT,
			     THRESHOLD_ABSOLUTE, 150, SCOPE_COHORT, "< 150ms");
		check_metric(&st->metrics[1], METRIC_ERROR_RATE, THRESHOLD_LT,
			     THRESHOLD_ABSOLUTE, 0.005, SCOPE_COHORT, "< 0.5%");
		CHECK_EQ_STR(st->cohort, "");
		CHECK_EQ_INT(st->min_devices, 1);
		CHECK_EQ_INT(st->min_samples, 1);
		CHECK_EQ_INT(st->approval, false);
	}
	CHECK_EQ_INT(pol.automatic, true);
	CHECK_EQ_INT(pol.on_inconclusive, INCONCLUSIVE_PAUSE);
	CHECK_EQ_INT(pol.failure_limit, 1);
}

static void api_example_parses_verbatim(void)
{
	const struct policy_stage *c = &pol.stages[0];

	parse_ok(api_yaml, POLICY_YAML, &pol);
	CHECK_EQ_INT(pol.nstages, 3);
	check_stage(c, "canary", 0.01, 1800, 3);
	CHECK_EQ_STR(c->cohort, "low-traffic");
	CHECK_EQ_INT(c->min_devices, 3);
	CHECK_EQ_INT(c->min_samples, 100);
	CHECK_EQ_INT(c->approval, false);
	check_metric(&c->metrics[0], METRIC_LATENCY_P50, THRESHOLD_LT,
		     THRESHOLD_ABSOLUTE, 150, SCOPE_COHORT, "< 150ms");
	check_metric(&c->metrics[1], METRIC_ERROR_RATE, THRESHOLD_LT,
		     THRESHOLD_ABSOLUTE, 0.005, SCOPE_COHORT, "< 0.5%");
	check_metric(&c->metrics[2], METRIC_LATENCY_P95, THRESHOLD_LT,
		     THRESHOLD_RATIO_OF_BASELINE, 2, SCOPE_ANY_DEVICE,
		     "< 2x baseline");
	check_stage(&pol.stages[1], "ramp", 0.25, 3600, 3);
	check_stage(&pol.stages[2], "full", 1.0, 86400, 3);
	/* cohort and the stage knobs are not inherited, only metrics */
	CHECK_EQ_STR(pol.stages[1].cohort, "");
	CHECK_EQ_INT(pol.stages[1].min_devices, 1);
	CHECK_EQ_INT(pol.stages[2].min_samples, 1);
	check_metric(&pol.stages[2].metrics[2], METRIC_LATENCY_P95, THRESHOLD_LT,
		     THRESHOLD_RATIO_OF_BASELINE, 2, SCOPE_ANY_DEVICE,
		     "< 2x baseline");
	CHECK_EQ_INT(pol.automatic, true);
	CHECK_EQ_INT(pol.on_inconclusive, INCONCLUSIVE_PAUSE);
	CHECK_EQ_INT(pol.failure_limit, 1);
}

static void json_form_equals_yaml_form(void)
{
	parse_ok(api_yaml, POLICY_YAML, &pol);
	parse_ok(api_json, POLICY_JSON, &pol2);
	CHECK(policy_equal(&pol, &pol2));
	pol2.stages[1].window_s++;
	CHECK(!policy_equal(&pol, &pol2));
}

static void yaml_plain_scalars_are_numbers_and_booleans(void)
{
	parse_ok("stages:\n"
		 "  - {name: a, size: 1%, validation_window: 600,\n"
		 "     min_devices: 3, min_samples: 250, approval: true}\n"
		 "  - {name: b, size: 1, validation_window: \"90\"}\n"
		 "rollback: {automatic: false, on_inconclusive: extend,"
		 " failure_limit: 2}\n",
		 POLICY_YAML, &pol);
	CHECK(pol.stages[0].size == 0.01);
	CHECK_EQ_INT(pol.stages[0].window_s, 600);
	CHECK_EQ_INT(pol.stages[0].min_devices, 3);
	CHECK_EQ_INT(pol.stages[0].min_samples, 250);
	CHECK_EQ_INT(pol.stages[0].approval, true);
	CHECK(pol.stages[1].size == 1.0);
	CHECK_EQ_INT(pol.stages[1].window_s, 90);
	CHECK_EQ_INT(pol.automatic, false);
	CHECK_EQ_INT(pol.on_inconclusive, INCONCLUSIVE_EXTEND);
	CHECK_EQ_INT(pol.failure_limit, 2);
}

static void null_values_take_the_default(void)
{
	parse_ok("stages:\n"
		 "  - name: only\n"
		 "    size: 1\n"
		 "    validation_window: 5m\n"
		 "    cohort: ~\n"
		 "    min_devices:\n"
		 "    approval: null\n"
		 "rollback:\n",
		 POLICY_YAML, &pol);
	CHECK_EQ_STR(pol.stages[0].cohort, "");
	CHECK_EQ_INT(pol.stages[0].min_devices, 1);
	CHECK_EQ_INT(pol.stages[0].approval, false);
	CHECK_EQ_INT(pol.automatic, true);
	CHECK_EQ_INT(pol.failure_limit, 1);
}

static void metrics_are_inherited_until_a_stage_sets_its_own(void)
{
	parse_ok("stages:\n"
		 "  - {name: s0, size: 0.1, validation_window: 1m}\n"
		 "  - name: s1\n"
		 "    size: 0.2\n"
		 "    validation_window: 1m\n"
		 "    metrics: [{name: cpu_pct, threshold: < 90}]\n"
		 "  - {name: s2, size: 0.3, validation_window: 1m}\n"
		 "  - name: s3\n"
		 "    size: 0.4\n"
		 "    validation_window: 1m\n"
		 "    metrics:\n"
		 "      - {name: error_rate, threshold: < 1%}\n"
		 "      - {name: mem_pct, threshold: < 80%}\n"
		 "  - {name: s4, size: 0.5, validation_window: 1m, metrics: []}\n"
		 "  - {name: s5, size: 1.0, validation_window: 1m}\n",
		 POLICY_YAML, &pol);
	CHECK_EQ_INT(pol.nstages, 6);
	CHECK_EQ_INT(pol.stages[0].nmetrics, 0); /* first stage: no gates */
	CHECK_EQ_INT(pol.stages[1].nmetrics, 1);
	CHECK_EQ_INT(pol.stages[2].nmetrics, 1);
	CHECK_EQ_INT(pol.stages[2].metrics[0].metric, METRIC_CPU_PCT);
	CHECK(pol.stages[2].metrics[0].threshold.value == 90);
	CHECK_EQ_INT(pol.stages[3].nmetrics, 2);
	CHECK(pol.stages[3].metrics[0].threshold.value == 0.01);
	CHECK(pol.stages[3].metrics[1].threshold.value == 80);
	CHECK_EQ_INT(pol.stages[4].nmetrics, 0); /* explicit empty list */
	CHECK_EQ_INT(pol.stages[5].nmetrics, 0); /* inherits the empty list */
}

static void yaml_aliases_share_a_metric_list(void)
{
	parse_ok("stages:\n"
		 "  - name: a\n"
		 "    size: 0.5\n"
		 "    validation_window: 1h\n"
		 "    metrics: &gates\n"
		 "      - {name: error_rate, threshold: < 1%}\n"
		 "  - {name: b, size: 1, validation_window: 1h, cohort: x}\n"
		 "  \n",
		 POLICY_YAML, &pol);
	CHECK_EQ_INT(pol.stages[1].nmetrics, 1);
	parse_ok("stages:\n"
		 "  - {name: a, size: 0.5, validation_window: &w 45m,"
		 " metrics: &m [{name: cpu_pct, threshold: < 90}]}\n"
		 "  - {name: b, size: 0.75, validation_window: *w, metrics: []}\n"
		 "  - {name: c, size: 1, validation_window: *w, metrics: *m}\n",
		 POLICY_YAML, &pol);
	CHECK_EQ_INT(pol.stages[2].window_s, 2700);
	CHECK_EQ_INT(pol.stages[1].nmetrics, 0);
	CHECK_EQ_INT(pol.stages[2].nmetrics, 1);
	CHECK_EQ_INT(pol.stages[2].metrics[0].metric, METRIC_CPU_PCT);
}

static void canonical_json_lists_every_field(void)
{
	json_t *j;
	char *s;

	parse_ok("stages:\n"
		 "  - name: canary\n"
		 "    size: 1%\n"
		 "    cohort: low-traffic\n"
		 "    validation_window: 30m\n"
		 "    metrics: [{name: error_rate, threshold: \"< 0.5%\"}]\n"
		 "  - {name: full, size: 1, validation_window: 1h, approval: true}\n",
		 POLICY_YAML, &pol);
	j = policy_to_json(&pol);
	CHECK(j != NULL);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_EQ_STR(s,
		"{\"rollback\":{\"automatic\":true,\"failure_limit\":1,"
		"\"on_inconclusive\":\"pause\"},\"stages\":["
		"{\"approval\":false,\"cohort\":\"low-traffic\",\"metrics\":"
		"[{\"name\":\"error_rate\",\"scope\":\"cohort\",\"threshold\":"
		"\"< 0.5%\"}],\"min_devices\":1,\"min_samples\":1,\"name\":"
		"\"canary\",\"size\":0.01,\"validation_window\":1800},"
		"{\"approval\":true,\"metrics\":[{\"name\":\"error_rate\","
		"\"scope\":\"cohort\",\"threshold\":\"< 0.5%\"}],\"min_devices\":1,"
		"\"min_samples\":1,\"name\":\"full\",\"size\":1.0,"
		"\"validation_window\":3600}]}");
	free(s);
	json_decref(j);
}

static void round_trip(const char *text, enum policy_format fmt)
{
	json_t *j;
	char *s;

	parse_ok(text, fmt, &pol);
	j = policy_to_json(&pol);
	CHECK(j != NULL);
	s = json_dumps(j, 0);
	parse_ok(s, POLICY_JSON, &pol2);
	CHECK(policy_equal(&pol, &pol2));
	free(s);
	json_decref(j);
}

static void canonical_json_parses_back_to_an_equal_policy(void)
{
	round_trip(seed_yaml, POLICY_YAML);
	round_trip(api_yaml, POLICY_YAML);
	round_trip(api_json, POLICY_JSON);
	round_trip("stages: [{name: a, size: 7%, validation_window: 1h30m,"
		   " metrics: [{name: confidence_shift, threshold: "
		   "'> baseline - 0.25'}]},"
		   " {name: b, size: 1, validation_window: 3d, metrics: []}]\n"
		   "rollback: {on_inconclusive: rollback, failure_limit: 3}\n",
		   POLICY_YAML);
}

struct bad_case {
	const char *text;
	const char *field;
	const char *msg;
};

static void expect(const char *text, enum policy_format fmt, int code,
		   const char *field, const char *msg)
{
	struct ramp_err err;
	int rc = parse(text, fmt, &pol, &err);

	if (rc != code || strcmp(err.field, field) || strcmp(err.msg, msg))
		fprintf(stderr, "  for: %s\n", text);
	CHECK_EQ_INT(rc, code);
	CHECK_EQ_INT(err.code, code);
	CHECK_EQ_STR(err.field, field);
	CHECK_EQ_STR(err.msg, msg);
	CHECK_EQ_INT(pol.nstages, 0); /* nothing half-filled */
}

#define ST(rest) "stages:\n  - {name: a, size: 1, validation_window: 1h" rest "}\n"

static const struct bad_case stage_errors[] = {
	{"rollback: {automatic: true}\n", "stages", "is required"},
	{"stages: 5\n", "stages", "must be a list"},
	{"stages: []\n", "stages", "must have at least one stage"},
	{"stages: [canary]\n", "stages[0]", "must be an object"},
	{"name: x\n" ST(""), "name", "unknown field"},
	{ST(", sise: 2"), "stages[0].sise", "unknown field"},
	{"stages: [{size: 1, validation_window: 1h}]\n", "stages[0].name",
	 "is required"},
	{"stages: [{name: 5, size: 1, validation_window: 1h}]\n",
	 "stages[0].name", "must be a string"}, /* a YAML integer */
	{"stages: [{name: \"5\", size: 1, validation_window: 1h},"
	 " {name: b, size: 1, validation_window: 1h}]\n",
	 "stages[1].size", "must be greater than stages[0].size"},
	{"stages: [{name: Canary, size: 1, validation_window: 1h}]\n",
	 "stages[0].name",
	 "invalid name \"Canary\": must match [a-z0-9][a-z0-9._-]{0,62}"},
	{"stages: [{name: -a, size: 1, validation_window: 1h}]\n",
	 "stages[0].name",
	 "invalid name \"-a\": must match [a-z0-9][a-z0-9._-]{0,62}"},
	{"stages: [{name: a, size: 0.5, validation_window: 1h},"
	 " {name: a, size: 1, validation_window: 1h}]\n",
	 "stages[1].name", "duplicates stages[0].name"},
	{"stages: [{name: a, validation_window: 1h}]\n", "stages[0].size",
	 "is required"},
	{"stages: [{name: a, size: 0, validation_window: 1h}]\n",
	 "stages[0].size", "must be greater than 0 and at most 1"},
	{"stages: [{name: a, size: 1.5, validation_window: 1h}]\n",
	 "stages[0].size", "must be greater than 0 and at most 1"},
	{"stages: [{name: a, size: 150%, validation_window: 1h}]\n",
	 "stages[0].size", "must be greater than 0 and at most 1"},
	{"stages: [{name: a, size: -0.5, validation_window: 1h}]\n",
	 "stages[0].size", "must be greater than 0 and at most 1"},
	{"stages: [{name: a, size: -1%, validation_window: 1h}]\n",
	 "stages[0].size",
	 "invalid size \"-1%\": must be a fraction like 0.25 or a percentage like \"1%\""},
	{"stages: [{name: a, size: true, validation_window: 1h}]\n",
	 "stages[0].size",
	 "must be a fraction like 0.25 or a percentage like \"1%\""},
	{"stages: [{name: a, size: 0.25, validation_window: 1h},"
	 " {name: b, size: 25%, validation_window: 1h}]\n",
	 "stages[1].size", "must be greater than stages[0].size"},
	{"stages: [{name: a, size: 0.1, validation_window: 1h},"
	 " {name: b, size: 0.5, validation_window: 1h},"
	 " {name: c, size: 0.3, validation_window: 1h},"
	 " {name: d, size: 1, validation_window: 1h}]\n",
	 "stages[2].size", "must be greater than stages[1].size"},
	{"stages: [{name: a, size: 0.1, validation_window: 1h},"
	 " {name: b, size: 0.5, validation_window: 1h}]\n",
	 "stages[1].size", "must be 1.0 in the last stage"},
	{"stages: [{name: a, size: 1}]\n", "stages[0].validation_window",
	 "is required"},
	{"stages: [{name: a, size: 1, validation_window: 30x}]\n",
	 "stages[0].validation_window",
	 "invalid duration \"30x\": must be a duration like 90s, 30m, 1h, 1d or integer seconds"},
	{"stages: [{name: a, size: 1, validation_window: -5m}]\n",
	 "stages[0].validation_window",
	 "invalid duration \"-5m\": must be a duration like 90s, 30m, 1h, 1d or integer seconds"},
	{"stages: [{name: a, size: 1, validation_window: 1.5}]\n",
	 "stages[0].validation_window",
	 "must be a duration like 90s, 30m, 1h, 1d or integer seconds"},
	{"stages: [{name: a, size: 1, validation_window: 0}]\n",
	 "stages[0].validation_window", "must be positive"},
	{"stages: [{name: a, size: 1, validation_window: -60}]\n",
	 "stages[0].validation_window", "must be positive"},
	{"stages: [{name: a, size: 1, validation_window: 366d}]\n",
	 "stages[0].validation_window", "must be at most 365d"},
	{ST(", min_devices: 0"), "stages[0].min_devices", "must be at least 1"},
	{ST(", min_devices: \"3\""), "stages[0].min_devices",
	 "must be an integer"},
	{ST(", min_samples: 2.5"), "stages[0].min_samples",
	 "must be an integer"},
	{ST(", min_samples: 1000000001"), "stages[0].min_samples",
	 "must be at most 1000000000"},
	{ST(", approval: yes"), "stages[0].approval", "must be true or false"},
	{ST(", cohort: Low Traffic"), "stages[0].cohort",
	 "invalid name \"Low Traffic\": must match [a-z0-9][a-z0-9._-]{0,62}"},
	{ST(", cohort: [a]"), "stages[0].cohort", "must be a string"},
	{NULL, NULL, NULL},
};

static const struct bad_case metric_errors[] = {
	{ST(", metrics: error_rate"), "stages[0].metrics", "must be a list"},
	{ST(", metrics: [error_rate]"), "stages[0].metrics[0]",
	 "must be an object"},
	{ST(", metrics: [{name: error_rate, threshold: < 1%, treshold: x}]"),
	 "stages[0].metrics[0].treshold", "unknown field"},
	{ST(", metrics: [{threshold: < 1%}]"), "stages[0].metrics[0].name",
	 "is required"},
	{ST(", metrics: [{name: cpu_pct, threshold: < 1},"
	    " {name: latency, threshold: < 1%}]"),
	 "stages[0].metrics[1].name", "unknown metric \"latency\""},
	{ST(", metrics: [{name: error_rate}]"),
	 "stages[0].metrics[0].threshold", "is required"},
	{ST(", metrics: [{name: error_rate, threshold: 150}]"),
	 "stages[0].metrics[0].threshold", "must be a string"},
	{ST(", metrics: [{name: cpu_pct, threshold: < 1}, "
	    "{name: mem_pct, threshold: < 1},"
	    " {name: inference_latency_p95, threshold: < 2y baseline}]"),
	 "stages[0].metrics[2].threshold",
	 "invalid threshold \"< 2y baseline\": unknown unit \"y\""},
	{ST(", metrics: [{name: error_rate, threshold: < 5ms}]"),
	 "stages[0].metrics[0].threshold",
	 "invalid threshold \"< 5ms\": unit \"ms\" does not apply to error_rate"},
	{ST(", metrics: [{name: cpu_pct, threshold: "
	    "'< 10000000000000000000000000000000000000000000000000000000000000'}]"),
	 "stages[0].metrics[0].threshold", "is too long (at most 63 bytes)"},
	{ST(", metrics: [{name: cpu_pct, threshold: < 1, scope: device}]"),
	 "stages[0].metrics[0].scope", "must be cohort or any_device"},
	{"stages:\n"
	 "  - {name: a, size: 0.5, validation_window: 1h}\n"
	 "  - name: b\n"
	 "    size: 1\n"
	 "    validation_window: 1h\n"
	 "    metrics:\n"
	 "      - {name: error_rate, threshold: < 1%}\n"
	 "      - {name: error_rate, threshold: < 2x baseline}\n"
	 "      - {name: error_rate, threshold: <= baseline ~ 1%}\n",
	 "stages[1].metrics[2].threshold",
	 "invalid threshold \"<= baseline ~ 1%\": expected + or - after baseline"},
	{NULL, NULL, NULL},
};

static const struct bad_case rollback_errors[] = {
	{ST("") "rollback: true\n", "rollback", "must be an object"},
	{ST("") "rollback: {automatc: true}\n", "rollback.automatc",
	 "unknown field"},
	{ST("") "rollback: {automatic: off}\n", "rollback.automatic",
	 "must be true or false"},
	{ST("") "rollback: {on_inconclusive: retry}\n",
	 "rollback.on_inconclusive", "must be pause, rollback or extend"},
	{ST("") "rollback: {on_inconclusive: 3}\n",
	 "rollback.on_inconclusive", "must be pause, rollback or extend"},
	{ST("") "rollback: {failure_limit: 0}\n", "rollback.failure_limit",
	 "must be at least 1"},
	{ST("") "rollback: {failure_limit: one}\n", "rollback.failure_limit",
	 "must be an integer"},
	{NULL, NULL, NULL},
};

static void run_table(const struct bad_case *t)
{
	for (; t->text != NULL; t++)
		expect(t->text, POLICY_YAML, RAMP_EINVAL, t->field, t->msg);
}

static void stage_errors_name_their_field(void)
{
	run_table(stage_errors);
}

static void metric_errors_name_their_field(void)
{
	run_table(metric_errors);
}

static void rollback_errors_name_their_field(void)
{
	run_table(rollback_errors);
}

static void json_errors_name_the_same_fields(void)
{
	expect("{\"stages\": [{\"name\": \"a\", \"size\": 0.5, "
	       "\"validation_window\": 60}, {\"name\": \"b\", \"size\": 0.5, "
	       "\"validation_window\": 60}]}",
	       POLICY_JSON, RAMP_EINVAL, "stages[1].size",
	       "must be greater than stages[0].size");
	expect("{\"stages\": [{\"name\": 5, \"size\": 1, \"validation_window\": 60}]}",
	       POLICY_JSON, RAMP_EINVAL, "stages[0].name", "must be a string");
	expect("{\"stages\": [{\"name\": \"a\", \"size\": 1, "
	       "\"validation_window\": 60, \"min_devices\": \"3\"}]}",
	       POLICY_JSON, RAMP_EINVAL, "stages[0].min_devices",
	       "must be an integer");
	expect("{\"stages\": [{\"name\": \"a\", \"size\": 1, \"validation_window\": 60,"
	       " \"metrics\": [{\"name\": \"error_rate\", \"threshold\": \"< 1%\","
	       " \"extra\": 1}]}]}",
	       POLICY_JSON, RAMP_EINVAL, "stages[0].metrics[0].extra",
	       "unknown field");
	expect("[]", POLICY_JSON, RAMP_EINVAL, "", "policy must be an object");
	expect("5", POLICY_JSON, RAMP_EINVAL, "", "policy must be an object");
	expect("- a\n", POLICY_YAML, RAMP_EINVAL, "", "policy must be an object");
}

static void too_many_stages_or_metrics_are_rejected(void)
{
	char buf[8192];
	size_t n = 0;

	n += snprintf(buf + n, sizeof(buf) - n, "stages:\n");
	for (int i = 1; i <= 32; i++)
		n += snprintf(buf + n, sizeof(buf) - n,
			      "  - {name: s%d, size: %d%%, validation_window: 60}\n",
			      i, i * 3 + (i == 32 ? 4 : 0));
	parse_ok(buf, POLICY_YAML, &pol); /* 32 stages, last 100% */
	CHECK_EQ_INT(pol.nstages, 32);
	CHECK(pol.stages[31].size == 1.0);
	n += snprintf(buf + n, sizeof(buf) - n,
		      "  - {name: s33, size: 1, validation_window: 60}\n");
	expect(buf, POLICY_YAML, RAMP_EINVAL, "stages",
	       "must have at most 32 stages");

	n = snprintf(buf, sizeof(buf),
		     "stages: [{name: a, size: 1, validation_window: 60, metrics: [");
	for (int i = 0; i < 33; i++)
		n += snprintf(buf + n, sizeof(buf) - n,
			      "%s{name: cpu_pct, threshold: < %d}", i ? "," : "", i);
	snprintf(buf + n, sizeof(buf) - n, "]}]\n");
	expect(buf, POLICY_YAML, RAMP_EINVAL, "stages[0].metrics",
	       "must have at most 32 metrics");
}

static void names_allow_63_characters(void)
{
	char buf[256];
	const char *n63 = "a23456789012345678901234567890123456789012345678901234567890123";

	snprintf(buf, sizeof(buf),
		 "stages: [{name: %s, size: 1, validation_window: 60}]\n", n63);
	parse_ok(buf, POLICY_YAML, &pol);
	CHECK_EQ_STR(pol.stages[0].name, n63);
	snprintf(buf, sizeof(buf),
		 "stages: [{name: %s4, size: 1, validation_window: 60}]\n", n63);
	expect(buf, POLICY_YAML, RAMP_EINVAL, "stages[0].name",
	       "is too long (at most 63 bytes)");
	CHECK(policy_name_valid("0.a_b-c"));
	CHECK(!policy_name_valid(""));
	CHECK(!policy_name_valid("_a"));
	CHECK(!policy_name_valid("a/b"));
}

static void expect_malformed(const char *text, enum policy_format fmt,
			     const char *msg_prefix)
{
	struct ramp_err err;
	int rc = parse(text, fmt, &pol, &err);

	if (rc != RAMP_EMALFORMED)
		fprintf(stderr, "  for: %s\n", text);
	CHECK_EQ_INT(rc, RAMP_EMALFORMED);
	CHECK_EQ_INT(err.code, RAMP_EMALFORMED);
	if (strncmp(err.msg, msg_prefix, strlen(msg_prefix)) != 0)
		fprintf(stderr, "  message: %s\n", err.msg);
	CHECK(strncmp(err.msg, msg_prefix, strlen(msg_prefix)) == 0);
}

static void malformed_yaml_is_emalformed(void)
{
	expect_malformed("stages: [\n", POLICY_YAML, "could not parse yaml: ");
	expect_malformed("stages:\n\t- name: a\n", POLICY_YAML,
			 "could not parse yaml: ");
	expect_malformed("a: b: c\n", POLICY_YAML, "could not parse yaml: ");
	expect_malformed("", POLICY_YAML, "could not parse yaml: empty document");
	expect_malformed("# only a comment\n", POLICY_YAML,
			 "could not parse yaml: empty document");
	expect_malformed("stages: []\nstages: []\n", POLICY_YAML,
			 "could not parse yaml: duplicate mapping key at line 2, column 1");
	expect_malformed("a: 1\n---\nb: 2\n", POLICY_YAML,
			 "could not parse yaml: expected a single document at line 2");
	expect_malformed("stages: *nothing\n", POLICY_YAML,
			 "could not parse yaml: unknown alias");
	expect_malformed("? [a]\n: b\n", POLICY_YAML,
			 "could not parse yaml: mapping keys must be scalars");
	expect_malformed("a: \xff\n", POLICY_YAML, "could not parse yaml: ");
	expect_malformed("a: \"\\0\"\n\x01", POLICY_YAML,
			 "could not parse yaml: ");
}

static void deep_yaml_nesting_is_refused(void)
{
	char buf[256];

	memset(buf, '[', 100);
	memset(buf + 100, ']', 100);
	buf[200] = '\0';
	expect_malformed(buf, POLICY_YAML,
			 "could not parse yaml: nesting is too deep");
}

static void yaml_alias_bombs_cost_nothing(void)
{
	static const char bomb[] =
		"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		"h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
		"stages: *h\n";
	struct ramp_err err;

	/* 10^8 leaves if expanded; shared, it fails at once on "a" */
	CHECK_EQ_INT(parse(bomb, POLICY_YAML, &pol, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "a");
	CHECK_EQ_STR(err.msg, "unknown field");
}

static void malformed_json_is_emalformed(void)
{
	expect_malformed("{", POLICY_JSON, "could not parse json: ");
	expect_malformed("", POLICY_JSON, "could not parse json: ");
	expect_malformed("{\"stages\": [],}", POLICY_JSON, "could not parse json: ");
	expect_malformed("{\"stages\": [], \"stages\": []}", POLICY_JSON,
			 "could not parse json: duplicate object key");
	expect_malformed("{\"stages\": [{\"name\": \"a\\u0000b\"}]}", POLICY_JSON,
			 "could not parse json: ");
	expect_malformed("{} {}", POLICY_JSON, "could not parse json: ");
	/* the seed YAML is not JSON */
	expect_malformed(seed_yaml, POLICY_JSON, "could not parse json: ");
}

static void json_text_is_also_yaml(void)
{
	parse_ok(api_json, POLICY_YAML, &pol);
	parse_ok(api_json, POLICY_JSON, &pol2);
	CHECK(policy_equal(&pol, &pol2));
}

static void parse_needs_no_nul_terminator(void)
{
	char buf[sizeof(seed_yaml) + 8];
	struct ramp_err err;

	memcpy(buf, seed_yaml, sizeof(seed_yaml) - 1);
	memcpy(buf + sizeof(seed_yaml) - 1, "garbage!", 8);
	CHECK_EQ_INT(policy_parse(buf, sizeof(seed_yaml) - 1, POLICY_YAML, &pol,
				  &err),
		     0);
	CHECK_EQ_INT(pol.nstages, 3);
}

static const struct unit_case cases[] = {
	UNIT(seed_policy_parses_verbatim),
	UNIT(api_example_parses_verbatim),
	UNIT(json_form_equals_yaml_form),
	UNIT(yaml_plain_scalars_are_numbers_and_booleans),
	UNIT(null_values_take_the_default),
	UNIT(metrics_are_inherited_until_a_stage_sets_its_own),
	UNIT(yaml_aliases_share_a_metric_list),
	UNIT(canonical_json_lists_every_field),
	UNIT(canonical_json_parses_back_to_an_equal_policy),
	UNIT(stage_errors_name_their_field),
	UNIT(metric_errors_name_their_field),
	UNIT(rollback_errors_name_their_field),
	UNIT(json_errors_name_the_same_fields),
	UNIT(too_many_stages_or_metrics_are_rejected),
	UNIT(names_allow_63_characters),
	UNIT(malformed_yaml_is_emalformed),
	UNIT(deep_yaml_nesting_is_refused),
	UNIT(yaml_alias_bombs_cost_nothing),
	UNIT(malformed_json_is_emalformed),
	UNIT(json_text_is_also_yaml),
	UNIT(parse_needs_no_nul_terminator),
	{0},
};
UNIT_MAIN(cases)
